"""``mercato modelmarket ...``: the model market (Golden Grain, P4) from the shell.

An MLaaS provider (the buyer) posts a request (``post``): its own labelled rows (``--data``)
or a sample set's held-out part (``--sample-data``) cut into salted groups whose Merkle root
goes on chain, kept hidden in its state folder, and a price schedule from score to price.
It reveals the drawn sample (``reveal-sample``), checks the deliveries sealed to it
(``check``), seals the hidden groups to the drawn executors (``seal``) and opens each model
it bought with the revealed key (``take``), complaining on chain about a bad chunk. Model
developers (sellers) submit a committed model (``submit``), seal it to the executors
(``seal``) and reveal their key if they won (``reveal-key``). Compute providers volunteer
(``volunteer``), benchmark and commit (``benchmark``), then reveal (``reveal``). Anyone
moves a request on, tallies, settles sales and reads the requests: those commands and the
text views are in :mod:`~mercato.cli.modelmarket_view`. Agents do the same unattended:
``mercato agent run --role buyer|seller|executor``.

The commands parse, call and render: what makes a step acceptable is judged by
:mod:`~mercato.protocols.modelmarket.rules` before anything is sent (so a bad command
changes nothing; a revert that still happens is reported by ``main`` as one line); what
each party keeps between commands is in :mod:`~mercato.protocols.modelmarket.state_files`,
the buyer's posting and measuring around its own files in
:mod:`~mercato.protocols.modelmarket.purchases`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from mercato.cli import common, modelmarket_view, waiting
from mercato.cli.common import (
    DataFileOption,
    LabelOption,
    MarketCall,
    SchemaOption,
    add_withdraw_command,
    compact_ether,
    console,
    format_time,
    market_command,
    parse_amount,
    refuse,
)
from mercato.cli.modelmarket_view import (
    IndexArgument,
    RequestArgument,
    acting,
    kept_offer,
    kept_test_set,
    own_submission,
    report,
    state_folder,
    volunteer_index,
)
from mercato.errors import InputError, IntegrityError
from mercato.protocols.modelmarket import rules
from mercato.protocols.modelmarket.limits import (
    DEFAULT_PERIOD,
    MAX_EXECUTORS,
    MAX_PERIOD,
    MAX_WINNERS,
)
from mercato.protocols.modelmarket.unit import UNIT
from mercato.protocols.modelmarket.views import score_fraction
from mercato.protocols.registry import require_role
from mercato.protocols.roles import Role

# The protocol's steps, the chain and the models are imported by the commands that use them,
# so that `mercato --help` loads none of them.
if TYPE_CHECKING:
    from mercato.ml.datasets import Dataset
    from mercato.protocols.marketplace import Marketplace
    from mercato.protocols.modelmarket.documents import HiddenTestSet

app = typer.Typer(
    help="Model market: MLaaS providers buy models priced by a hidden benchmark (P4).",
    no_args_is_help=True,
)

DEFAULT_GROUPS = 32
DEFAULT_SAMPLE = 4
DEFAULT_K = 1
DEFAULT_EXECUTORS = 3
DEFAULT_SELLER_STAKE = "0.001"
DEFAULT_EXECUTOR_STAKE = "0.001"
DEFAULT_EXECUTOR_FEE = "0.0001"
DEFAULT_BOND = "0.001"

StateDirOption = typer.Option(
    None,
    "--state-dir",
    help="Folder of the agents' state, where the buyer's hidden test sets, the sellers' keys "
    "and the executors' committed scores are kept (default: settings).",
)


# the buyer ----------------------------------------------------------------------------
@market_command(app, "post")
def post(
    call: MarketCall,
    data_file: Path = DataFileOption,
    label: str = LabelOption,
    schema: Path = SchemaOption,
    sample_data: str = typer.Option(
        None,
        "--sample-data",
        help="Instead of --data: the held-out part of a sample set (digits) as your test rows; "
        "sellers of the same set train on the other part.",
    ),
    schedule: str = typer.Option(
        ...,
        "--schedule",
        help="Price by score, SCORE:PRICE points with scores rising, e.g. 0.7:0.01,0.9:0.03 "
        "(ETH, or a unit: 20gwei); the first score is the least you buy.",
    ),
    groups: int = typer.Option(
        DEFAULT_GROUPS, "--groups", help="Salted groups your test rows are cut into (32 or more)."
    ),
    sample: int = typer.Option(
        DEFAULT_SAMPLE,
        "--sample",
        help="Groups revealed to sellers as a sample, never scored (1 to 8, a quarter at most).",
    ),
    k: int = typer.Option(DEFAULT_K, "--k", help=f"Models you buy, the best (1 to {MAX_WINNERS})."),
    executors: int = typer.Option(
        DEFAULT_EXECUTORS, "--executors", help=f"Executors drawn (1 to {MAX_EXECUTORS})."
    ),
    seller_stake: str = typer.Option(
        DEFAULT_SELLER_STAKE, "--seller-stake", help="Each seller's stake (ETH)."
    ),
    executor_stake: str = typer.Option(
        DEFAULT_EXECUTOR_STAKE, "--executor-stake", help="Each executor's stake (ETH)."
    ),
    executor_fee: str = typer.Option(
        DEFAULT_EXECUTOR_FEE, "--executor-fee", help="What each agreeing executor earns (ETH)."
    ),
    bond: str = typer.Option(
        DEFAULT_BOND, "--bond", help="Your bond, the sellers' if your test set proves false (ETH)."
    ),
    period: int = typer.Option(
        DEFAULT_PERIOD, "--period", help="Seconds every phase lasts at most."
    ),
    state_dir: Path = StateDirOption,
) -> None:
    """Cut your labelled rows into salted test groups, keep them hidden in your state folder
    and post a request with their Merkle root; lock k x the top price + fees + bond."""
    from mercato.protocols.modelmarket import buyer, purchases
    from mercato.protocols.modelmarket.state_files import make_folder
    from mercato.protocols.modelmarket.views import Periods

    refuse(
        rules.source_problem(sample_data, data_file, label, schema),
        rules.schedule_problem(schedule),
        rules.groups_problem(groups),
        rules.sample_problem(sample, groups),
        rules.range_problem(k, 1, MAX_WINNERS, "--k"),
        rules.range_problem(executors, 1, MAX_EXECUTORS, "--executors"),
        rules.range_problem(period, 1, MAX_PERIOD, "--period"),
    )
    amounts = {option: parse_amount(text) for option, text in (
        ("--seller-stake", seller_stake), ("--executor-stake", executor_stake),
        ("--executor-fee", executor_fee), ("--bond", bond))}  # fmt: skip
    refuse(*(rules.amount_problem(wei, option) for option, wei in amounts.items()))
    data = _test_rows(data_file, label, schema, sample_data)
    refuse(rules.rows_problem(len(data.y), len(purchases.classes_of(data)), groups, data.name))
    terms = buyer.RequestTerms(
        schedule=rules.schedule_of(schedule),
        k=k,
        executors=executors,
        seller_stake=amounts["--seller-stake"],
        executor_stake=amounts["--executor-stake"],
        executor_fee=amounts["--executor-fee"],
        bond=amounts["--bond"],
        periods=Periods(*([period] * 6)),
    )
    me = call.identity()
    market = call.market()
    require_role(market, me.address, Role.CLIENT, "posting a request")
    refuse(rules.post_funds_problem(me.address, market.chain.balance(me.address), terms.escrowed))
    document = purchases.task_of(data, groups, sample)
    folder = make_folder(state_folder(call, state_dir))
    request_id, path = purchases.post_kept(market, me, data, document, terms, folder)
    request = market.model_market.request(request_id)
    text = (
        f"request {request_id} posted: the best {k} model(s) scoring "
        f"{score_fraction(request.min_score):.3f} or more, {executors} executor(s); "
        f"{compact_ether(request.locked)} ETH locked; {len(data.y)} rows of {data.name} in "
        f"{groups} groups of {document.group_size}, kept hidden in {path}; draw the sample "
        f"(mercato modelmarket advance {request_id}), then reveal it until "
        f"{format_time(request.deadline)}"
    )
    report(call, market, request_id, None, text, test_file=path,
           task={"features": document.features, "classes": list(document.classes)})  # fmt: skip


@market_command(app, "reveal-sample")
def reveal_sample(
    call: MarketCall, request_id: int = RequestArgument, state_dir: Path = StateDirOption
) -> None:
    """Reveal the drawn sample: its groups' hashes with their Merkle proofs and the blob of
    the groups; submissions open."""
    from mercato.protocols.modelmarket import buyer, history

    me, market, request = acting(call, request_id)
    refuse(rules.reveal_sample_problem(request, me.address, market.chain.timestamp()))
    test_set = kept_test_set(call, state_dir, request)
    buyer.reveal_sample(market, me, request_id, test_set)
    indices = history.sample_indices(market.model_market, request_id)
    after = market.model_market.request(request_id)
    text = (
        f"sample of request {request_id} revealed: groups {indices}; sellers submit and compute "
        f"providers volunteer until {format_time(after.deadline)}"
    )
    report(call, market, request_id, None, text, sample=indices)


@market_command(app, "check")
def check(
    call: MarketCall,
    request_id: int = RequestArgument,
    reject: bool = typer.Option(
        False, "--reject", help="Reject every delivery that does not open or match its roots."
    ),
) -> None:
    """Open every delivery sealed to you and check it against its commitments; with
    --reject, send the bad ones back (their sellers get their stakes back)."""
    from mercato.protocols.modelmarket import buyer
    from mercato.protocols.modelmarket.views import SubmissionState

    me, market, request = acting(call, request_id)
    refuse(rules.buyer_problem(request, me.address, "check the deliveries of"))
    live = [
        s
        for s in market.model_market.submissions(request_id)
        if s.state is SubmissionState.SUBMITTED
    ]
    with console.status(f"opening {len(live)} deliveries of request {request_id}..."):
        problems = {s.index: buyer.delivery_check(market, me, request_id, s.index) for s in live}
    bad = [s for s in live if problems[s.index] is not None]
    if reject:
        refuse(*(rules.reject_problem(request, me.address, s) for s in bad))
        for s in bad:
            buyer.reject(market, me, request_id, s.index, str(problems[s.index]))
    checked = [
        {"index": s.index, "seller": s.seller, "problem": problems[s.index],
         "rejected": reject and problems[s.index] is not None}
        for s in live
    ]  # fmt: skip
    lines = [
        f"  {c['index']} {c['seller']}: "
        + ("matches its commitments" if c["problem"] is None else str(c["problem"]))
        + (" (rejected)" if c["rejected"] else "")
        for c in checked
    ]
    if not live:
        text = f"request {request_id} has no delivery in to check"
    else:
        text = "\n".join([f"request {request_id}: {len(live) - len(bad)} of {len(live)} "
                          "deliveries match their commitments", *lines])  # fmt: skip
        if bad and not reject:
            text += "\nreject the bad ones with --reject (before the executors are drawn)"
    report(call, market, request_id, None, text, checked=checked)


@market_command(app, "seal")
def seal(
    call: MarketCall, request_id: int = RequestArgument, state_dir: Path = StateDirOption
) -> None:
    """Seal your blob to the drawn executors: the buyer its hidden groups, a seller its
    model (from the state folder)."""
    from mercato.protocols.modelmarket import buyer, history, seller

    me, market, request = acting(call, request_id)
    mm = market.model_market
    mine = own_submission(market, request_id, me.address)
    sealed = history.sealed_by(mm, request_id, me.address) is not None
    refuse(rules.seal_problem(request, me.address, mine, sealed))
    executors = len(history.executors(mm, request_id))
    if common.same_address(request.buyer, me.address):
        buyer.seal_test(market, me, request_id, kept_test_set(call, state_dir, request))
        what = f"the {request.groups - request.sample} hidden groups"
    else:
        assert mine is not None  # seal_problem: the buyer or a seller
        offer = kept_offer(call, state_dir, market, request, me)
        seller.seal_model(market, me, offer)
        what = f"your model ({len(offer.model)} bytes)"
    blob = history.sealed_by(mm, request_id, me.address)
    text = f"{what} sealed to the {executors} executor(s) of request {request_id}"
    report(call, market, request_id, None, text, blob=blob)


@market_command(app, "take")
def take(
    call: MarketCall,
    request_id: int = RequestArgument,
    index: int = IndexArgument,
    out: Path = typer.Option(
        ...,
        "--out",
        help="The model file to write (*.skops or *.safetensors, as the seller's model is); its "
        "metrics on your hidden groups go beside it as NAME.metrics.json.",
    ),
    state_dir: Path = StateDirOption,
) -> None:
    """Open a model you bought with its revealed key: every chunk checked against what was
    benchmarked (a bad one is proved on chain: price and stake back), then measured on your
    hidden groups and written with its metrics."""
    from mercato.protocols.modelmarket import buyer

    if out.suffix.lower() not in (".skops", ".safetensors"):
        raise InputError(f"--out {out}: name the model file *.skops or *.safetensors")
    me, market, request = acting(call, request_id)
    mm = market.model_market
    refuse(rules.submission_problem(request, index))
    submission = mm.submission(request_id, index)
    now = market.chain.timestamp()
    refuse(rules.take_problem(request, me.address, submission, now))
    with console.status(f"opening seller {index}'s model of request {request_id}..."):
        try:
            model, complaint, key = buyer.take_model(market, me, request_id, index)
        except InputError:
            raise
        except Exception as exc:  # the envelope's own errors: it does not open for us
            raise IntegrityError(f"seller {index}'s delivery does not open: {exc}") from None
    if complaint is not None:
        problem = rules.complain_problem(request, submission, now)
        if problem is not None:
            raise IntegrityError(problem)
        result = mm.complain(me.account, request_id, index, key, complaint)
        refund = int(result.event("Complained")["refund"])
        text = (
            f"chunk {complaint.index} of seller {index}'s model is not what was benchmarked: "
            f"complaint proved on chain, {compact_ether(refund)} ETH (price and stake) "
            "refundable to you; no model written"
        )
        report(call, market, request_id, result, text, complaint={"chunk": complaint.index,
               "refund": refund}, files=[])  # fmt: skip
        return
    assert model is not None
    test_set = kept_test_set(call, state_dir, request)  # a complaint needs none
    _export(call, market, index, model, test_set, out, request_id)


def _export(
    call: MarketCall, market: Marketplace, index: int, model: bytes, test_set: HiddenTestSet,
    out: Path, request_id: int,
) -> None:  # fmt: skip
    """Measure a bought model on the hidden groups; write it and its metrics."""
    from mercato.protocols.modelmarket import purchases
    from mercato.protocols.modelmarket.evaluation import model_suffix

    suffix = model_suffix(model)
    if out.suffix.lower() != suffix:
        raise InputError(f"--out {out}: seller {index}'s model is a {suffix} file: name it so")
    result, ours = purchases.measured(market, request_id, index, model, test_set)
    common.show_result(call, result, purchases.export_bought(result, model, out))
    if not call.json_output:
        agreed = market.model_market.submission(request_id, index).score
        console.print(
            f"score on your hidden groups {score_fraction(ours):.6f}, "
            f"{'the same as' if ours == agreed else 'unlike'} the executors' agreed "
            f"{score_fraction(agreed):.6f}",
            highlight=False,
        )


# the sellers --------------------------------------------------------------------------
@market_command(app, "submit")
def submit(
    call: MarketCall,
    request_id: int = RequestArgument,
    model_file: Path = typer.Option(
        ..., "--model", help="Your model: a scikit-learn .skops or a .safetensors model."
    ),
    state_dir: Path = StateDirOption,
) -> None:
    """Commit to your model and submit it with the seller stake, sealed to the buyer; the
    key and the model are kept in your state folder until the sale."""
    from mercato.protocols.modelmarket import history, seller
    from mercato.protocols.modelmarket.models import read_seller_model
    from mercato.protocols.modelmarket.state_files import keep_offer, make_folder

    offered = read_seller_model(model_file)
    me, market, request = acting(call, request_id)
    submitted = own_submission(market, request_id, me.address) is not None
    volunteered = volunteer_index(market, request_id, me.address) is not None
    now = market.chain.timestamp()
    refuse(rules.submit_problem(request, me.address, submitted, volunteered, now))
    require_role(market, me.address, Role.MODEL_OWNER, "submitting a model")
    balance = market.chain.balance(me.address)
    refuse(rules.stake_problem(me.address, balance, request.seller_stake, request, "seller stake"))
    document = history.task_document(market, request_id)
    refuse(rules.features_problem(request, document.features, offered.features, offered.path))
    _, problem = seller.sample_check(market, request_id, offered.features or document.features)
    refuse(problem)
    folder = make_folder(state_folder(call, state_dir))
    offer = seller.submit(market, me, request_id, offered.data)
    path = keep_offer(folder, me.address, offer)
    text = (
        f"submitted {offered.path} ({offered.kind}, {len(offered.data)} bytes) to request "
        f"{request_id} as seller {offer.index}, staking "
        f"{compact_ether(request.seller_stake)} ETH; key kept in {path}"
    )
    report(call, market, request_id, None, text, index=offer.index, offer_file=path)


@market_command(app, "reveal-key")
def reveal_key(
    call: MarketCall, request_id: int = RequestArgument, state_dir: Path = StateDirOption
) -> None:
    """Reveal the key of your winning model (from your state folder); after the complaint
    window `finish` pays you."""
    me, market, request = acting(call, request_id)
    offer = kept_offer(call, state_dir, market, request, me)
    submission = market.model_market.submission(request_id, offer.index)
    refuse(rules.reveal_key_problem(request, submission, market.chain.timestamp()))
    result = market.model_market.reveal_key(me.account, request_id, offer.key)
    window = int(result.event("KeyRevealed")["complaint_deadline"])
    text = (
        f"key of your model revealed to request {request_id}; "
        f"{compact_ether(submission.price + request.seller_stake)} ETH (price and stake) is "
        f"yours after the complaint window, {format_time(window)} (mercato modelmarket finish "
        f"{request_id} {offer.index})"
    )
    report(call, market, request_id, result, text, complaint_deadline=window)


# the executors ------------------------------------------------------------------------
@market_command(app, "volunteer")
def volunteer(call: MarketCall, request_id: int = RequestArgument) -> None:
    """Offer to benchmark the request's models, with the executor stake."""
    me, market, request = acting(call, request_id)
    volunteered = volunteer_index(market, request_id, me.address) is not None
    submitted = own_submission(market, request_id, me.address) is not None
    now = market.chain.timestamp()
    refuse(rules.volunteer_problem(request, me.address, volunteered, submitted, now))
    require_role(market, me.address, Role.COMPUTE_PROVIDER, "volunteering to execute")
    balance = market.chain.balance(me.address)
    stake = request.executor_stake
    refuse(rules.stake_problem(me.address, balance, stake, request, "executor stake"))
    result = market.model_market.volunteer(me.account, request_id, stake)
    index = int(result.event("Volunteered")["index"])
    text = (
        f"volunteered for request {request_id} as volunteer {index}, staking "
        f"{compact_ether(stake)} ETH; {request.executors} executor(s) are drawn after the "
        "submissions close"
    )
    report(call, market, request_id, result, text, index=index)


@market_command(app, "benchmark")
def benchmark(
    call: MarketCall,
    request_id: int = RequestArgument,
    anyway: bool = typer.Option(
        False,
        "--anyway",
        help="Benchmark even if a party has not sealed its blob yet: its model (or the whole "
        "test set) is flagged.",
    ),
    state_dir: Path = StateDirOption,
) -> None:
    """Check the test groups and every model against their roots, score each model on the
    hidden groups, sign the report and commit to the scores (kept in your state folder)."""
    from mercato.protocols.modelmarket import executor, history
    from mercato.protocols.modelmarket.evaluation import Benchmark
    from mercato.protocols.modelmarket.state_files import keep_vote, make_folder
    from mercato.protocols.modelmarket.views import SubmissionState

    me, market, request = acting(call, request_id)
    mm = market.model_market
    index = volunteer_index(market, request_id, me.address)
    refuse(rules.commit_problem(request, index, market.chain.timestamp()))
    missing = [] if history.sealed_by(mm, request_id, request.buyer) else ["the buyer's groups"]
    missing += [
        f"seller {s.index}'s model"
        for s in mm.submissions(request_id)
        if s.state is SubmissionState.SUBMITTED
        and history.sealed_by(mm, request_id, s.seller) is None
    ]
    if not anyway:
        refuse(rules.unsealed_problem(request, missing))
    folder = make_folder(state_folder(call, state_dir))
    kept: list[Path] = []

    def keep(vote: executor.Vote, found: Benchmark) -> None:  # before the commitment is sent
        kept.append(keep_vote(folder, request_id, me.address, vote))

    with console.status(f"benchmarking the models of request {request_id}..."):
        vote, found, result = executor.commit(market, me, request_id, keep)
    path = kept[0]
    scores = ", ".join(f"{i}: {score_fraction(s):.3f}" for i, s in enumerate(vote.scores))
    flagged = f"; flags {vote.flags:#x}: {'; '.join(found.problems)}" if vote.flags else ""
    text = (
        f"benchmarked request {request_id}: scores {scores or 'none'}{flagged}; committed, "
        f"scores and salt kept in {path} for the reveal"
    )
    report(call, market, request_id, result, text, scores=list(vote.scores), flags=vote.flags,
           problems=list(found.problems), vote_file=path)  # fmt: skip


@market_command(app, "reveal")
def reveal(
    call: MarketCall, request_id: int = RequestArgument, state_dir: Path = StateDirOption
) -> None:
    """Reveal the scores you committed to (from your state folder)."""
    from mercato.protocols.modelmarket.market import score_commitment
    from mercato.protocols.modelmarket.state_files import read_vote, vote_path

    me, market, request = acting(call, request_id)
    mm = market.model_market
    index = volunteer_index(market, request_id, me.address)
    refuse(rules.reveal_problem(request, index, market.chain.timestamp()))
    folder = state_folder(call, state_dir)
    vote = read_vote(folder, request_id, me.address)
    committed = [
        bytes(e["commitment"])
        for e in mm.events("ScoresCommitted", request_id=request_id, executor=me.address)
    ]
    matches = vote is not None and committed == [
        score_commitment(request_id, me.address, vote.scores, vote.flags, vote.report_hash,
                         vote.salt)
    ]  # fmt: skip
    path = vote_path(folder, request_id, me.address)
    refuse(rules.vote_problem(request, vote is not None, matches, str(path)))
    assert vote is not None
    result = mm.reveal_scores(
        me.account, request_id, vote.scores, vote.flags, vote.report_hash, vote.salt
    )
    after = mm.request(request_id)
    scores = ", ".join(f"{i}: {score_fraction(s):.3f}" for i, s in enumerate(vote.scores))
    text = f"scores of request {request_id} revealed: {scores or 'none'}; " + (
        f"every executor revealed: tally now (mercato modelmarket tally {request_id})"
        if after.revealed == after.committed
        else f"tally once all have, or after {format_time(after.deadline)}"
    )
    report(call, market, request_id, result, text, scores=list(vote.scores), flags=vote.flags)


def _test_rows(
    data_file: Path | None, label: str | None, schema: Path | None, sample: str | None
) -> Dataset:
    """The buyer's labelled test rows: its own file, or a sample set's held-out part."""
    from mercato.user_files import DataFile

    if data_file is not None:
        return DataFile.read(data_file, label, schema)[1]
    from mercato.ml.datasets import seller_and_buyer_parts

    assert sample is not None
    return seller_and_buyer_parts(sample)[1]


modelmarket_view.add_request_commands(app)
add_withdraw_command(app, UNIT)
waiting.add_wait_command(app, UNIT)
