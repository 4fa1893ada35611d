"""``mercato api ...``: the split-execution API market (Arya et al., P5) from the shell.

A provider registers an API over a model split into components held by vendors
(``register``: the model file split with ``--parts``, each component sealed to its slots'
vendors); vendors ``join`` with a stake and their endpoint sealed to the orchestrator, which
``accept``s; consumers ``deposit`` and ``call`` through the orchestrator (every receipt
checked, the evidence kept in the state folder), and may ``challenge`` a call a batch charges
them for or ``dispute`` a step's output from the kept receipt; a vendor ``claim``s a step a
batch left out from its service's journal. Anyone moves an API on (``advance``,
``finalize``, ``settle-claim``, ``settle-challenge``, ``resolve``, ``release``), reads its
``batches`` and checks a component file against the on-chain model root
(``verify-component``).

The commands parse, call and render: what makes a step acceptable is judged by
:mod:`~mercato.protocols.apimarket.rules` before anything is sent (a bad command changes
nothing), the protocol's steps are in :mod:`mercato.protocols.apimarket`; anyone's commands,
the files and the kept evidence are in :mod:`~mercato.cli.api_view`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from mercato.cli import api_view, common, waiting
from mercato.cli.api_view import ApiArgument
from mercato.cli.common import (
    MarketCall,
    compact_ether,
    console,
    emit_json,
    format_time,
    parse_amount,
    refuse,
    same_address,
)
from mercato.errors import InputError, IntegrityError, MercatoError
from mercato.protocols.apimarket import rules, views
from mercato.protocols.apimarket.unit import UNIT
from mercato.protocols.registry import require_role
from mercato.protocols.roles import Role

app = typer.Typer(
    help="API market: a model split over vendors, served and paid per call (P5).",
    no_args_is_help=True,
)


# the provider -------------------------------------------------------------------------
DEFAULT_PARTS = 2
DEFAULT_VENDOR_STAKE = "0.01"
DEFAULT_ORCHESTRATOR_STAKE = "0.02"
DEFAULT_CHALLENGE_BOND = "0.001"
DEFAULT_DISPUTE_BOND = "0.002"
DEFAULT_PERIOD = 3600
"""Seconds of each period (join, epoch, window, response) unless given; the term is one epoch."""
DEFAULT_DEPOSIT = "0.01"


@common.market_command(app, "register")
def register(
    call: MarketCall,
    model_file: Path = typer.Option(
        ...,
        "--model",
        help="A torch state dict (.safetensors) or a scikit-learn MLP, random "
        "forest or decision tree (.skops).",
    ),
    parts: int = typer.Option(
        DEFAULT_PARTS,
        "--parts",
        help="Parts of the model: N blocks of a network's layers (components 0..N-1); N groups "
        "of a forest's trees and their combiner (component N); a tree's top (component 0) and "
        "N subtrees.",
    ),
    slot: list[str] = typer.Option(
        ..., "--slot", help="VENDOR:COMPONENT, once per slot (replicas: several per component)."
    ),
    orchestrator: str = typer.Option(..., "--orchestrator", help="The orchestrator's address."),
    orchestrator_url: str = typer.Option(
        "", "--orchestrator-url", help="Where consumers call (written in the API document)."
    ),
    price: str = typer.Option(..., "--price", help="Price of a call (ETH, or 20gwei, 1000wei)."),
    share: list[str] = typer.Option(
        ..., "--share", help="What the vendor of each component earns per call, in order."
    ),
    vendor_stake: str = typer.Option(DEFAULT_VENDOR_STAKE, "--vendor-stake"),
    orchestrator_stake: str = typer.Option(DEFAULT_ORCHESTRATOR_STAKE, "--orchestrator-stake"),
    challenge_bond: str = typer.Option(DEFAULT_CHALLENGE_BOND, "--challenge-bond"),
    dispute_bond: str = typer.Option(DEFAULT_DISPUTE_BOND, "--dispute-bond"),
    join_period: int = typer.Option(DEFAULT_PERIOD, "--join-period", help="Seconds to join."),
    epoch: int = typer.Option(DEFAULT_PERIOD, "--epoch", help="Seconds of an epoch."),
    window: int = typer.Option(DEFAULT_PERIOD, "--window", help="Seconds of a claim window."),
    response: int = typer.Option(DEFAULT_PERIOD, "--response", help="Seconds to answer."),
    term: int = typer.Option(0, "--term", help="Seconds the API takes calls (default: an epoch)."),
    purchase: str = typer.Option(
        None, "--purchase", help="MARKET:REQUEST:INDEX: the P4 sale the model comes from."
    ),
    classes: str = typer.Option(None, "--classes", help="Class names in label order, a,b,c."),
    description: str = typer.Option("", "--description", help="What the API does."),
) -> None:
    """Split a model, seal each component to its slots' vendors and register the API."""
    from mercato.protocols.apimarket import provider
    from mercato.protocols.apimarket.documents import Purchase
    from mercato.protocols.apimarket.endpoints import check_url

    refuse(rules.parts_problem(parts))
    periods = views.Periods(join_period, epoch, window, response, term or epoch)
    refuse(rules.periods_problem(periods))
    slots = [rules.slot_of(text) for text in slot]
    boss = common.checksum_address(orchestrator, "--orchestrator")
    amounts = {option: parse_amount(text) for option, text in (
        ("--vendor-stake", vendor_stake), ("--orchestrator-stake", orchestrator_stake),
        ("--challenge-bond", challenge_bond), ("--dispute-bond", dispute_bond))}  # fmt: skip
    refuse(*(rules.amount_problem(wei, option) for option, wei in amounts.items()))
    wei_shares = [parse_amount(text) for text in share]
    wei_price = parse_amount(price)
    pointer = None if purchase is None else rules.purchase_of(purchase)
    if orchestrator_url:
        check_url(orchestrator_url)
    model, features = api_view.read_split_model(model_file, parts)
    components = len(model.components)
    me = call.identity()
    refuse(
        rules.slots_problem(slots, components, me.address, boss),
        rules.shares_problem(wei_shares, components, wei_price),
    )
    market = call.market()
    refuse(rules.provider_problem(market.registry.roles_of(me.address), me.address))
    if pointer is not None:
        from eth_abi.exceptions import DecodingError

        from mercato.protocols.modelmarket.market import ModelMarket

        assert purchase is not None
        try:
            buyer, _, _, _, paid = ModelMarket(market.chain, pointer[0]).purchase(*pointer[1:])
        except DecodingError:  # no contract there: the call returns nothing
            raise InputError(f"--purchase {purchase}: no such sale (no model market at "
                             f"{pointer[0]})") from None  # fmt: skip
        except MercatoError as exc:
            raise InputError(f"--purchase {purchase}: no such sale ({exc})") from None
        refuse(rules.purchase_problem(buyer, paid, me.address, purchase))
    for vendor, _ in slots:
        if not market.registry.encryption_key(vendor):
            raise InputError(f"vendor {vendor} registered no encryption key to seal to")
    names = tuple(c.strip() for c in classes.split(",")) if classes else ()
    document = provider.prepare(
        model, features, classes=names, orchestrator_url=orchestrator_url,
        purchase=None if pointer is None else Purchase(*pointer), description=description,
    )  # fmt: skip
    offer = provider.ApiOffer(
        price=wei_price, shares=tuple(wei_shares), vendor_stake=amounts["--vendor-stake"],
        orchestrator_stake=amounts["--orchestrator-stake"],
        challenge_bond=amounts["--challenge-bond"], dispute_bond=amounts["--dispute-bond"],
        periods=periods,
    )  # fmt: skip
    api_id, sealed, result = provider.register_api(market, me, model, document, slots, boss, offer)
    api = market.api_market.api(api_id)
    text = (
        f"API {api_id} registered: {model.technique} split into {components} components over "
        f"{len(slots)} slots, {compact_ether(wei_price)} ETH a call; vendors join and the "
        f"orchestrator accepts until {format_time(api.join_deadline)}"
    )
    api_view.report(call, market, api_id, result, text, document=sealed.hash)


# vendors and the orchestrator ---------------------------------------------------------
@common.market_command(app, "join")
def join(
    call: MarketCall,
    api_id: int = ApiArgument,
    url: str = typer.Option(
        ...,
        "--url",
        help="Your vendor service's URL, sealed to the orchestrator and to you (never on chain).",
    ),
    out: Path = typer.Option(
        None, "--out", help="Where to write your component, opened and checked (to serve)."
    ),
) -> None:
    """Join your slot of an API with the vendor stake: open your sealed component, seal your
    service's URL to the orchestrator and to yourself (so that ``vendor serve`` finds it)."""
    from mercato.protocols.apimarket.documents import open_component
    from mercato.protocols.apimarket.endpoints import check_url
    from mercato.protocols.apimarket.serving import document_for, seal_joined_endpoint
    from mercato.storage.base import hash_bytes

    check_url(url)
    me, market, api = api_view.acting(call, api_id)
    am = market.api_market
    slots = am.slots(api_id)
    refuse(rules.join_problem(api, slots, me.address, market.chain.timestamp()))
    require_role(market, me.address, Role.COMPUTE_PROVIDER, "joining an API")
    refuse(rules.funds_problem(me.address, market.chain.balance(me.address), api.vendor_stake,
                               "API", "vendor stake"))  # fmt: skip
    slot = rules.slot_index(slots, me.address)
    assert slot is not None
    component = slots[slot].component
    data = open_component(document_for(market, api_id), slot, component, market.store,
                          me.encryption_private)  # fmt: skip
    key = market.registry.encryption_key(api.orchestrator)
    endpoint = market.store.put(seal_joined_endpoint(url, key, me.encryption_public))
    path = out or api_view.state_folder(call, None) / f"api-{api_id}-slot-{slot}.component"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    result = am.join(me.account, api_id, slot, hash_bytes(endpoint))
    text = (f"joined slot {slot} (component {component}) of API {api_id} with "
            f"{compact_ether(api.vendor_stake)} ETH; component kept in {path}")  # fmt: skip
    api_view.report(call, market, api_id, result, text, slot=slot, component_file=path)


@common.market_command(app, "accept")
def accept(call: MarketCall, api_id: int = ApiArgument) -> None:
    """Accept to orchestrate an API, with the orchestrator stake."""
    me, market, api = api_view.acting(call, api_id)
    refuse(rules.accept_problem(api, me.address, market.chain.timestamp()))
    require_role(market, me.address, Role.COMPUTE_PROVIDER, "orchestrating an API")
    refuse(rules.funds_problem(me.address, market.chain.balance(me.address),
                               api.orchestrator_stake, "API", "orchestrator stake"))  # fmt: skip
    result = market.api_market.accept(me.account, api_id)
    after = market.api_market.api(api_id)
    stake = compact_ether(api.orchestrator_stake)
    text = f"accepted API {api_id} with {stake} ETH; it is {after.status.label}"
    api_view.report(call, market, api_id, result, text)


# consumers ----------------------------------------------------------------------------
@common.market_command(app, "deposit")
def deposit(
    call: MarketCall,
    api_id: int = ApiArgument,
    amount: str = typer.Option(DEFAULT_DEPOSIT, "--amount", help="What to deposit (ETH)."),
) -> None:
    """Deposit into an API to pay its calls."""
    wei = parse_amount(amount)
    me, market, api = api_view.acting(call, api_id)
    am = market.api_market
    refuse(rules.deposit_problem(api, am.deposit_of(api_id, me.address), wei,
                                 market.chain.timestamp()))  # fmt: skip
    require_role(market, me.address, Role.CLIENT, "depositing into an API")
    refuse(rules.funds_problem(me.address, market.chain.balance(me.address), wei, "API",
                               "deposit"))  # fmt: skip
    result = am.deposit(me.account, api_id, wei)
    held = am.deposit_of(api_id, me.address).amount
    text = f"deposited {compact_ether(wei)} ETH into API {api_id} ({compact_ether(held)} ETH held)"
    api_view.report(call, market, api_id, result, text, deposit=held)


@common.market_command(app, "request-withdrawal")
def request_withdrawal(call: MarketCall, api_id: int = ApiArgument) -> None:
    """Give notice that you will take your deposit back (the orchestrator stops serving you)."""
    me, market, api = api_view.acting(call, api_id)
    am = market.api_market
    refuse(rules.request_withdrawal_problem(api, am.deposit_of(api_id, me.address)))
    result = am.request_withdrawal(me.account, api_id)
    after = am.deposit_of(api_id, me.address)
    when = format_time(after.withdraw_after)
    text = f"notice given on API {api_id}: withdraw your deposit from {when}"
    api_view.report(call, market, api_id, result, text, withdraw_after=after.withdraw_after)


@common.market_command(app, "withdraw-deposit")
def withdraw_deposit(call: MarketCall, api_id: int = ApiArgument) -> None:
    """Have your deposit credited back (then `mercato api withdraw`)."""
    me, market, api = api_view.acting(call, api_id)
    am = market.api_market
    held = am.deposit_of(api_id, me.address)
    refuse(rules.withdraw_deposit_problem(api, held, market.chain.timestamp()))
    result = am.withdraw_deposit(me.account, api_id)
    text = (f"{compact_ether(held.amount)} ETH of API {api_id} credited back: "
            "mercato api withdraw moves it to your account")  # fmt: skip
    api_view.report(call, market, api_id, result, text, credited=held.amount)


@common.market_command(app, "call")
def call_api(
    call: MarketCall,
    api_id: int = ApiArgument,
    rows: Path = typer.Option(None, "--rows", help="The input rows: FILE.csv or FILE.npy."),
    schema: Path = typer.Option(
        None,
        "--schema",
        help="The rows' schema (JSON): read --rows FILE.csv as a data file that follows it "
        "(text and boolean columns encoded as for the model market; the label column, if "
        "there, left out) and print the predicted class names.",
    ),
    url: str = typer.Option(
        None, "--url", help="The orchestrator's URL (default: the API document's)."
    ),
    retry: bool = typer.Option(
        False,
        "--retry",
        help="Send the call the orchestrator did not answer again (the very "
        "same signed request: it is charged once).",
    ),
    state_dir: Path = api_view.StateDirOption,
) -> None:
    """Call an API once through its orchestrator: sign the request, check every receipt,
    acknowledge the output and keep the evidence (for `dispute` and `challenge`)."""
    import numpy as np

    from mercato.protocols.apimarket.consumer import ApiClient
    from mercato.protocols.apimarket.endpoints import check_url
    from mercato.protocols.apimarket.serving import document_for, terms_for

    if (rows is None) == (not retry):
        raise InputError("pass --rows FILE.csv|.npy for a new call, or --retry (no rows)")
    if schema is not None and rows is None:
        raise InputError("--schema describes the --rows file: pass both")
    me, market, api = api_view.acting(call, api_id)
    am = market.api_market
    document = document_for(market, api_id)
    target = url or document.orchestrator_url
    if not target:
        raise InputError(f"API {api_id}'s document names no orchestrator URL: pass --url")
    check_url(target)
    state = api_view.state_folder(call, state_dir)
    now = market.chain.timestamp()
    epoch = api.epoch_at(now)
    pending = api_view.pending_call(state, api_id, me.address)
    if pending is not None and pending[0] != epoch:
        api_view.drop_pending(state, api_id, me.address)  # its epoch is over: no retry
        pending = None
    kept = api_view.kept_calls(state, api_id, me.address)
    if retry:
        if pending is None:
            raise InputError(f"no unanswered call of API {api_id} in epoch {epoch} to retry")
        _, seq, data = pending
    else:
        assert rows is not None
        if pending is not None:
            raise InputError(
                f"call {pending[1]} of epoch {epoch} of API {api_id} got no answer: send it "
                f"again first (mercato api call {api_id} --retry)"
            )
        data = (
            api_view.read_rows(rows, document.features)
            if schema is None
            else api_view.read_schema_rows(rows, schema, document.features)
        )
        seq = max((s for e, s in kept if e == epoch), default=0) + 1
        batched = {e for e, _ in kept if am.batch(api_id, e).committed}
        spent = api.price * sum(1 for e, _ in kept if e not in batched)
        refuse(rules.call_problem(api, am.deposit_of(api_id, me.address), spent, now))
    terms = terms_for(market, api_id, document)
    client = ApiClient(target, bytes(me.account.key), terms, now=market.chain.timestamp)
    client.skip_to(epoch, seq - 1)
    api_view.keep_pending(state, api_id, me.address, epoch, seq, data)
    try:
        result = client.call(data)
    except InputError:
        api_view.drop_pending(state, api_id, me.address)  # refused before it was taken
        raise
    except IntegrityError as exc:
        api_view.drop_pending(state, api_id, me.address)  # taken, but its answer is bad
        if not client.rejected:
            raise
        kept_at = api_view.keep_call(state, client.rejected[-1])
        raise IntegrityError(
            f"{exc}; evidence in {kept_at}: dispute a step with mercato api dispute {api_id} "
            f"{epoch} {seq} --component N, or challenge the call once a batch charges it "
            f"(mercato api challenge {api_id} {epoch} {seq})"
        ) from None
    api_view.drop_pending(state, api_id, me.address)
    path = api_view.keep_call(state, result)
    output = np.asarray(result.output)
    vendors = [terms.slots[step.receipt.slot].vendor for step in result.steps]
    if call.json_output:
        emit_json({
            "api": api_id, "epoch": result.request.epoch, "seq": result.request.seq,
            "output": output.tolist(), "receipts_checked": len(result.steps),
            "slots": [step.receipt.slot for step in result.steps], "vendors": vendors,
            "evidence": path,
        })  # fmt: skip
        return
    shown = output.tolist()
    if schema is not None and document.classes and output.ndim == 1:
        shown = [api_view.class_name(document.classes, label) for label in shown]
    console.print(f"call {result.request.seq} of epoch {result.request.epoch} of API {api_id}: "
                  f"{shown}", soft_wrap=True, highlight=False)  # fmt: skip
    console.print(f"receipts checked: {len(result.steps)} steps, each signed by its slot's "
                  f"vendor, chained from your input to this output; evidence kept in {path}",
                  soft_wrap=True, highlight=False)  # fmt: skip


@common.market_command(app, "challenge")
def challenge(
    call: MarketCall,
    api_id: int = ApiArgument,
    epoch: int = api_view.EpochArgument,
    seq: int = api_view.SeqArgument,
) -> None:
    """Challenge a call the epoch's batch charges you for: the orchestrator must show your
    signed request, or refund price and bond from its stake."""
    from mercato.protocols.apimarket import history

    me, market, api = api_view.acting(call, api_id)
    am = market.api_market
    event = history.batch_event(am, api_id, epoch)
    counts = history.counts_of(event)
    counted = next((calls for consumer, calls in zip(counts[0], counts[1], strict=True)
                    if same_address(consumer, me.address)), 0)  # fmt: skip
    challenged = any(
        int(e["epoch"]) == epoch and int(e["seq"]) == seq
        for e in am.events("Challenged", api=api_id, consumer=me.address)
    )
    now = market.chain.timestamp()
    refuse(rules.challenge_problem(api, epoch, seq, am.batch(api_id, epoch), counted,
                                   challenged, now))  # fmt: skip
    refuse(rules.funds_problem(me.address, market.chain.balance(me.address), api.challenge_bond,
                               "challenge", "bond"))  # fmt: skip
    challenge_id, result = am.challenge(me.account, api_id, epoch, seq, counts)
    deadline = am.challenge_of(challenge_id).deadline
    text = (f"challenge {challenge_id}: call {seq} of epoch {epoch}; the orchestrator must "
            f"answer by {format_time(deadline)}")  # fmt: skip
    api_view.report(call, market, api_id, result, text, challenge_id=challenge_id)


@common.market_command(app, "dispute")
def dispute(
    call: MarketCall,
    api_id: int = ApiArgument,
    epoch: int = api_view.EpochArgument,
    seq: int = api_view.SeqArgument,
    component: int = typer.Option(..., "--component", min=0, help="The step's component."),
    state_dir: Path = api_view.StateDirOption,
) -> None:
    """Dispute the output of one step of a call you kept, with its vendor's signed receipt:
    the other replicas re-run it and the majority decides."""
    from mercato.protocols.apimarket.messages import Receipt, signature_from_json
    from mercato.protocols.apimarket.serving import document_for

    me, market, api = api_view.acting(call, api_id)
    state = api_view.state_folder(call, state_dir)
    record = api_view.kept_call(state, api_id, me.address, epoch, seq)
    steps = [s for s in record["steps"] if int(s["receipt"]["component"]) == component]
    if not steps:
        raise InputError(f"call {seq} of epoch {epoch} ran no component {component}")
    receipt = Receipt.from_json(steps[0]["receipt"])
    signature = signature_from_json(steps[0]["receipt_sig"])
    am = market.api_market
    now = market.chain.timestamp()
    refuse(rules.dispute_problem(api, am.slots(api_id), epoch, receipt.slot, component, now))
    disputed = any(
        (int(e["epoch"]), int(e["seq"]), int(e["component"])) == (epoch, seq, component)
        for e in am.events("Disputed", api=api_id, consumer=me.address)
    )
    if disputed:
        raise InputError(
            f"component {component} of call {seq} of epoch {epoch} is disputed already"
        )
    refuse(rules.funds_problem(me.address, market.chain.balance(me.address), api.dispute_bond,
                               "dispute", "bond"))  # fmt: skip
    proof = document_for(market, api_id).component_proof(component)
    dispute_id, result = am.dispute(me.account, receipt, signature, proof)
    state_now = am.dispute_of(dispute_id).state
    step = f"slot {receipt.slot}'s step of component {component}"
    text = f"dispute {dispute_id}: {step} ({state_now.label})"
    api_view.report(call, market, api_id, result, text, dispute_id=dispute_id,
                    state=state_now.label)  # fmt: skip


@common.market_command(app, "claim")
def claim(
    call: MarketCall,
    api_id: int = ApiArgument,
    epoch: int = api_view.EpochArgument,
    consumer: str = typer.Argument(..., help="The consumer whose call you ran a step of."),
    seq: int = api_view.SeqArgument,
    journal: Path = typer.Option(..., "--journal", help="Your vendor service's journal file."),
) -> None:
    """Claim a step you ran that the epoch's batch left out (or whose batch never came), with
    the consumer's signed request and the orchestrator's signed assignment from your journal."""
    from mercato.protocols.apimarket import history
    from mercato.protocols.apimarket.messages import Assignment, Request, signature_from_json

    who = common.checksum_address(consumer, "CONSUMER")
    me, market, api = api_view.acting(call, api_id)
    am = market.api_market
    entry = _journaled_step(journal, epoch, who, seq)
    now = market.chain.timestamp()
    refuse(rules.claim_problem(api, am.slots(api_id), me.address, epoch,
                               am.batch(api_id, epoch), now))  # fmt: skip
    request, assignment = (
        Request.from_json(entry["request"]),
        Assignment.from_json(entry["assignment"]),
    )
    if request.api != api_id:
        raise InputError(f"{journal} journals that call for API {request.api}, not {api_id}")
    counts = history.counts_of(history.batch_event(am, api_id, epoch))
    claim_id, result = am.claim(
        me.account, request, assignment, signature_from_json(entry["request_sig"]),
        signature_from_json(entry["assignment_sig"]), counts,
    )  # fmt: skip
    view = am.claim_of(claim_id)
    step = f"step of component {assignment.component} of call {seq}"
    text = f"claim {claim_id}: {step} ({view.state.label})"
    api_view.report(call, market, api_id, result, text, claim_id=claim_id, state=view.state.label)


def _journaled_step(journal: Path, epoch: int, consumer: str, seq: int) -> dict[str, Any]:
    from mercato.protocols.apimarket.journal import read_entries

    if not journal.is_file():
        raise InputError(f"--journal {journal}: no such file")
    for entry in read_entries(journal):
        request = entry.get("request", {}) if entry.get("kind") == "step" else {}
        if (int(request.get("epoch", -1)), int(request.get("seq", -1))) == (epoch, seq) and (
            same_address(str(request.get("consumer", "")), consumer)
        ):
            return entry
    raise InputError(f"{journal} journals no step of call {seq} of epoch {epoch} by {consumer}")


api_view.add_anyone_commands(app)
waiting.add_wait_command(app, UNIT)
common.add_withdraw_command(app, UNIT)
