"""What anyone may do with a request of ``mercato modelmarket``, and the text views.

Anyone moves a request on when its time has come (``advance``: the sample's and the
executors' draws, the submission and commit deadlines), settles its benchmark with the
majority's scores (``tally``) and each sale after its complaint window or key deadline
(``finish``), and reads the requests (``list``, ``show``).

The reading helpers here serve every command: the request as it stands, the caller's place
in it, and what the state folder keeps for the caller (the buyer's test set, a seller's
key), checked against the chain. A request and its submissions are frozen views of
:mod:`~mercato.protocols.modelmarket.views`; ``--json`` prints their records (amounts in
wei, scores in parts per million, hashes 0x-hex), the text views here render the same
records.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from mercato.cli import common
from mercato.cli.common import MarketCall, compact_ether, console, emit_json, refuse, tx_note
from mercato.protocols.modelmarket import rules, views
from mercato.protocols.modelmarket.views import Request, RequestStatus, score_fraction
from mercato.timefmt import format_deadline, same_address
from mercato.units import format_ether

# The protocol's documents and the chain are imported where they are used, so that
# `mercato --help` loads none of them.
if TYPE_CHECKING:
    from mercato.chain.contract import TxResult
    from mercato.protocols.identity import Identity
    from mercato.protocols.marketplace import Marketplace
    from mercato.protocols.modelmarket.documents import HiddenTestSet
    from mercato.protocols.modelmarket.seller import Offer
    from mercato.protocols.modelmarket.views import Submission

RequestArgument = typer.Argument(..., min=1, help="Request id (see `mercato modelmarket list`).")
IndexArgument = typer.Argument(
    ..., min=0, help="A submission of the request: its index, 0 first (see `show`)."
)


# reading ----------------------------------------------------------------------------------
def load_request(market: Marketplace, request_id: int) -> Request:
    """Request ``request_id``; InputError if there is no such request."""
    market.model_market.check(request_id)
    return market.model_market.request(request_id)


def acting(call: MarketCall, request_id: int) -> tuple[Identity, Marketplace, Request]:
    """Who acts, on which market, and the request as it stands (InputError if none)."""
    me = call.identity()
    market = call.market()
    return me, market, load_request(market, request_id)


def state_folder(call: MarketCall, state_dir: Path | None) -> Path:
    """The agent state folder: ``--state-dir``, else the settings'."""
    return state_dir or common.context(call.ctx).settings.agent_dir


def next_block(market: Marketplace) -> int:
    """The block a transaction sent now lands in."""
    return market.chain.block_number() + 1


def own_submission(market: Marketplace, request_id: int, address: str) -> Submission | None:
    """``address``'s submission to the request, or None."""
    for submission in market.model_market.submissions(request_id):
        if same_address(submission.seller, address):
            return submission
    return None


def volunteer_index(market: Marketplace, request_id: int, address: str) -> int | None:
    """``address``'s place among the request's volunteers, or None."""
    for index, volunteer in enumerate(market.model_market.volunteers(request_id)):
        if same_address(volunteer, address):
            return index
    return None


def kept_test_set(call: MarketCall, state_dir: Path | None, request: Request) -> HiddenTestSet:
    """The buyer's hidden test set of ``request``, checked against its test root."""
    from mercato.protocols.modelmarket.state_files import read_test_set, test_path

    folder = state_folder(call, state_dir)
    test_set = read_test_set(folder, request.request_id)
    root = None if test_set is None else test_set.root
    refuse(rules.test_file_problem(request, root, str(test_path(folder, request.request_id))))
    assert test_set is not None
    return test_set


def kept_offer(
    call: MarketCall, state_dir: Path | None, market: Marketplace, request: Request, me: Identity
) -> Offer:
    """The caller's offer to ``request``, checked against its submission's key hash."""
    from mercato.crypto.commit import keccak
    from mercato.protocols.modelmarket.state_files import offer_path, read_offer

    folder = state_folder(call, state_dir)
    offer = read_offer(folder, request.request_id, me.address)
    mine = own_submission(market, request.request_id, me.address)
    key_hash = None if offer is None else keccak(offer.key)
    path = str(offer_path(folder, request.request_id, me.address))
    refuse(rules.offer_problem(request, me.address, mine, key_hash, path))
    assert offer is not None
    return offer


def request_after(market: Marketplace, request_id: int) -> dict[str, Any]:
    """The request's record as the chain holds it now (after a step), its submissions too."""
    mm = market.model_market
    return views.request_record(mm.request(request_id), mm.submissions(request_id))


def report(
    call: MarketCall, market: Marketplace, request_id: int, result: TxResult | None, text: str,
    **extra: Any,
) -> None:  # fmt: skip
    """A step's outcome: the request's record and ``extra`` as JSON, or ``text`` and its
    transaction."""
    if call.json_output:
        emit_json({"request": request_after(market, request_id), **extra})
        return
    note = "" if result is None else f" {tx_note(result.receipt.tx_hash)}"
    console.print(f"{text}{note}", soft_wrap=True, highlight=False)


# anyone's commands ------------------------------------------------------------------------
def advance(call: MarketCall, request_id: int = RequestArgument) -> None:
    """Draw the sample or the executors once their block has come, or end a phase whose
    deadline passed (cancelling a request nobody can go on with)."""
    me, market, request = acting(call, request_id)
    now = market.chain.timestamp()
    refuse(rules.advance_problem(request, now, next_block(market)))
    result = market.model_market.advance(me.account, request_id)
    after = market.model_market.request(request_id)
    report(call, market, request_id, result, advanced_text(request, after, result, now))


def advanced_text(before: Request, after: Request, result: TxResult, now: int) -> str:
    """What ``advance`` did, in words."""
    entry, number = f"request {before.request_id}", before.request_id
    names = {event.name: event for event in result.events}
    if "RequestEnded" in names:
        refund = int(names["RequestEnded"]["refund"])
        return (
            f"{entry} cancelled ({before.status.label} ended without what it needed): every "
            f"stake back, {compact_ether(refund)} ETH refundable to the buyer"
        )
    if "Retargeted" in names:
        return (
            f"the draw of {entry} waited too long; it now waits for block {after.target_block + 1}"
        )
    if "SampleDrawn" in names:
        indices = [int(i) for i in names["SampleDrawn"]["indices"]]
        return (
            f"sample of {entry} drawn: groups {indices}; the buyer reveals them until "
            f"{format_deadline(after.deadline, now)} (mercato modelmarket reveal-sample {number})"
        )
    if "SubmissionsClosed" in names:
        return (
            f"submissions to {entry} closed: {after.sellers} model(s), {after.volunteers} "
            f"volunteer(s); advance again to draw {after.executors} executor(s)"
        )
    if "ExecutorsDrawn" in names:
        drawn = ", ".join(str(a) for a in names["ExecutorsDrawn"]["executors"])
        return (
            f"executors of {entry} drawn: {drawn}; the buyer and the sellers seal (mercato "
            f"modelmarket seal {number}), they benchmark until "
            f"{format_deadline(after.deadline, now)}"
        )
    if "RevealStarted" in names:
        return (
            f"commitments to {entry} closed ({len(views.indices_of(after.committed))} of "
            f"{after.executors}); executors reveal until {format_deadline(after.deadline, now)}"
        )
    return f"{entry}: {before.status.label} -> {after.status.label}"


def tally(call: MarketCall, request_id: int = RequestArgument) -> None:
    """Settle the benchmark with the scores a majority of the executors revealed: winners,
    prices, executors paid or slashed; without a majority the request fails, refunded."""
    from mercato.protocols.modelmarket import history

    me, market, request = acting(call, request_id)
    mm = market.model_market
    refuse(rules.tally_problem(request, market.chain.timestamp()))
    vote = history.majority(mm, request_id, request.executors)
    scores, flags = vote if vote is not None else ((), 0)
    result = mm.tally(me.account, request_id, scores, flags)
    names = {event.name: event for event in result.events}
    after = mm.request(request_id)
    if "Tallied" not in names:
        text = (
            f"request {request_id} failed: no majority among its executors; sellers get their "
            "stakes back, the buyer its budget, silent executors lose theirs"
        )
        report(call, market, request_id, result, text, tallied=None)
        return
    tallied = names["Tallied"]
    record: dict[str, Any] = {
        "scores": [int(s) for s in tallied["scores"]],
        "flags": int(tallied["flags"]),
        "winners": list(views.indices_of(int(tallied["winners"]))),
        "prices": [int(p) for p in tallied["prices"]],
        "agreed": list(views.indices_of(int(tallied["agreed"]))),
        "executor_pay": int(tallied["executor_pay"]),
        "slashed": int(tallied["slashed"]),
        "refund": int(tallied["refund"]),
    }
    if after.status is RequestStatus.TEST_REJECTED:
        text = (
            f"request {request_id}: the executors found the test set false; the sellers share "
            "the bond, the buyer gets its budget back"
        )
    else:
        scored = ", ".join(f"{i}: {score_fraction(s):.3f}" for i, s in enumerate(record["scores"]))
        bought = ", ".join(
            f"{i} for {compact_ether(record['prices'][i])} ETH" for i in record["winners"]
        )
        text = (
            f"request {request_id} tallied: scores {scored or 'none'}; bought {bought or 'none'}"
            f"; {len(record['agreed'])} executor(s) paid {compact_ether(record['executor_pay'])} "
            f"ETH each, {compact_ether(record['refund'])} ETH refundable to the buyer"
        )
        if record["winners"]:
            text += f"; winners reveal their keys until {common.format_time(after.deadline)}"
    report(call, market, request_id, result, text, tallied=record)


def finish(call: MarketCall, request_id: int = RequestArgument, index: int = IndexArgument) -> None:
    """Settle a sale: pay the seller after its complaint window, or refund the buyer when
    the seller did not reveal its key in time."""
    me, market, request = acting(call, request_id)
    mm = market.model_market
    refuse(rules.submission_problem(request, index))
    submission = mm.submission(request_id, index)
    refuse(rules.finish_problem(request, submission, market.chain.timestamp()))
    result = mm.finish(me.account, request_id, index)
    settled = result.event("SwapSettled")
    paid = int(settled["paid"])
    state = views.SubmissionState(int(settled["state"]))
    who = "the seller" if state is views.SubmissionState.PAID else "the buyer (no key in time)"
    text = f"sale {index} of request {request_id} {state.label}: {compact_ether(paid)} ETH to {who}"
    report(call, market, request_id, result, text, paid=paid, state=state.label)


def list_requests(call: MarketCall) -> None:
    """Every request with its status, buyer, models, executors, deadline and budget."""
    market = call.market()
    mm = market.model_market
    records = [views.request_record(mm.request(i)) for i in range(1, mm.count() + 1)]
    if call.json_output:
        emit_json(records)
        return
    print_requests(records, market.chain.timestamp())


def show(call: MarketCall, request_id: int = RequestArgument) -> None:
    """One request: terms, price schedule, sample, submissions (state, score, price) and
    executors (drawn, committed, revealed, agreed)."""
    market = call.market()
    load_request(market, request_id)
    document = views.detail_record(market, request_id)
    if call.json_output:
        emit_json(document)
        return
    print_request(document, market.chain.timestamp())


def add_request_commands(app: typer.Typer) -> None:
    """Give the ``modelmarket`` group what anyone may do with a request: ``advance``,
    ``tally``, ``finish``, ``list`` and ``show``."""
    common.market_command(app, "advance")(advance)
    common.market_command(app, "tally")(tally)
    common.market_command(app, "finish")(finish)
    common.market_command(app, "list", acts=False)(list_requests)
    common.market_command(app, "show", acts=False)(show)


# text views -------------------------------------------------------------------------------
def _deadline(record: dict[str, Any], now: int) -> str:
    status = record["status"]
    if status in ("drawing", "revealing") or RequestStatus[status.upper().replace(" ", "_")].final:
        return "-"
    return common.relative_time(record["deadline"], now)


def print_requests(records: list[dict[str, Any]], now: int) -> None:
    if not records:
        console.print("no requests yet (post one with `mercato modelmarket post`)")
        return
    title = f"{len(records)} request(s); amounts in ETH"
    table = common.simple_table("id", "status", "buyer", "models", "volunteers", "executors",
                                "k", "min score", "top price", "deadline", "budget",
                                title=title)  # fmt: skip
    for r in records:
        table.add_row(
            str(r["request_id"]),
            r["status"],
            common.short_address(r["buyer"]),
            str(r["sellers"]),
            str(r["volunteers"]),
            str(r["executors"]),
            str(r["k"]),
            f"{score_fraction(r['min_score']):.3f}",
            compact_ether(r["top_price"]),
            _deadline(r, now),
            compact_ether(r["escrowed"]),
        )
    console.print(table)


def print_request(document: dict[str, Any], now: int) -> None:
    """The text view of :func:`~mercato.protocols.modelmarket.views.detail_record`."""
    r = document
    console.rule(f"[bold]request {r['request_id']}[/bold]: {r['status']}")
    console.print(f"buyer        {r['buyer']}")
    console.print(
        f"terms        best {r['k']} model(s) bought, {r['executors']} executor(s); stakes: "
        f"seller {format_ether(r['seller_stake'])}, executor {format_ether(r['executor_stake'])}"
        f"; executor fee {format_ether(r['executor_fee'])}, bond {format_ether(r['bond'])}; "
        f"locked {format_ether(r['locked'])}",
        soft_wrap=True,
    )
    schedule = ", ".join(
        f"{score_fraction(p['score']):.3f} -> {compact_ether(p['price'])}" for p in r["schedule"]
    )
    console.print(f"schedule     {schedule} ETH", highlight=False)
    task = r["task"]
    if task is not None:
        console.print(
            f"task         {task['task']} on {task['data_class']}: {task['features']} features, "
            f"classes {', '.join(task['classes'])}; {task['metric']} on {task['groups']} groups "
            f"of {task['group_size']}",
            soft_wrap=True,
        )
    else:
        console.print(f"[yellow]task unavailable:[/yellow] {r['task_error']}")
    sample = r["sample_indices"]
    said = "not drawn yet" if sample is None else f"groups {sample}"
    if sample is not None:
        said += ", revealed" if r["sample_revealed"] else ", waiting for the buyer"
    console.print(f"sample       {said}")
    if not RequestStatus[r["status"].upper().replace(" ", "_")].final:
        console.print(f"deadline     {format_deadline(r['deadline'], now)}")
    submissions = common.simple_table("index", "seller", "state", "score", "price ETH",
                                      "size", title="submissions")  # fmt: skip
    for s in r["submissions"]:
        scored = s["state"] not in ("submitted", "rejected", "returned")
        submissions.add_row(
            str(s["index"]),
            s["seller"],
            s["state"],
            f"{score_fraction(s['score']):.3f}" if scored else "-",
            compact_ether(s["price"]) if s["price"] else "-",
            str(s["size"]),
        )
    console.print(submissions)
    executors = common.simple_table("index", "volunteer", "drawn", "committed", "revealed",
                                    "agreed", title="executors")  # fmt: skip
    for e in r["executors_detail"]:
        executors.add_row(
            str(e["index"]),
            e["address"],
            *("yes" if e[key] else "-" for key in ("drawn", "committed", "revealed")),
            "-" if e["agreed"] is None else ("yes" if e["agreed"] else "no"),
        )
    console.print(executors)
    for c in r["complaints"]:
        console.print(
            f"complaint    seller {c['index']}'s chunk {c['chunk']} proved bad: "
            f"{format_ether(c['refund'])} back to the buyer"
        )
