"""``mercato auction ...``: the procurement auction (P1) from the command line.

Every command acts on a deployed market over a node. Input is checked against the chain
before anything is sent (unknown auction, wrong role, price above the maximum, deadline,
status), so a bad command changes nothing; a revert that still happens is reported by
``main`` as one line.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich import box
from rich.table import Table

from mercato.cli import waiting
from mercato.cli.common import (
    AccountOption,
    JsonOption,
    KeystoreOption,
    RpcUrlOption,
    add_withdraw_command,
    checksum_address,
    compact_ether,
    console,
    context,
    emit_json,
    format_ether,
    format_time,
    identity,
    parse_amount,
    relative_time,
    same_address,
    short_address,
    tx_note,
)
from mercato.errors import InputError, MercatoError
from mercato.ontology.category import Category, parse_category
from mercato.protocols.auction.unit import UNIT
from mercato.protocols.registry import require_role
from mercato.protocols.roles import Role

# The chain, the protocol and the ontology are imported by the commands that use them, so
# that `mercato --help` loads none of them.
if TYPE_CHECKING:
    from mercato.chain.contract import Event
    from mercato.ontology.requirements import Requirements
    from mercato.protocols.auction.house import Auction, Status
    from mercato.protocols.identity import Identity
    from mercato.protocols.marketplace import Marketplace

app = typer.Typer(help="Procurement auctions (SAIaaS, P1).", no_args_is_help=True)

DEFAULT_DURATION = 3600
"""Seconds of bidding when ``create`` is given no ``--duration``."""
MAX_REASON_BYTES = 16 * 1024

CATEGORY_ROLES: dict[Category, Role] = {
    Category.DATA: Role.DATA_OWNER,
    Category.ALGORITHM: Role.MODEL_OWNER,
    Category.INFRASTRUCTURE: Role.COMPUTE_PROVIDER,
}


@cache
def deadline_kinds() -> dict[Status, str]:
    """Which deadline the header's single deadline field means in each live status."""
    from mercato.protocols.auction.house import Status

    return {
        Status.OPEN: "bidding",
        Status.ADJUDICATED: "delivery",
        Status.DELIVERED: "review",
        Status.DISPUTED: "arbitration",
    }


IdArgument = typer.Argument(..., min=1, help="Auction id (see `mercato auction list`).")
RequirementsOption = typer.Option(
    ...,
    "--requirements",
    help="Requirements document (JSON); `mercato template requirements --out req.json` "
    "writes an example to edit.",
)
ReferenceOption = typer.Option(
    None,
    "--reference",
    help="Id of an earlier auction whose confirmed SLA you won in this category (repeat).",
)


# parsing and checks, shared with `mercato agent` ------------------------------------------


def load_auction(market: Marketplace, auction_id: int) -> Auction:
    """The auction ``auction_id``; InputError if there is no such auction."""
    count = market.auction_house.auction_count()
    if auction_id <= 0 or auction_id > count:
        raise InputError(f"no auction {auction_id} (there are {count})")
    return market.auction_house.auction(auction_id)


def _parse_max_prices(text: str) -> tuple[int, int, int]:
    from mercato.protocols.auction.house import MAX_PRICE

    parts = [p.strip() for p in text.split(",")]
    if len(parts) != len(Category):
        raise InputError(
            f"--max-prices takes {len(Category)} comma-separated amounts "
            f"(data,algorithm,infrastructure), got '{text}'"
        )
    prices = [parse_amount(p) for p in parts]
    for category, price in zip(Category, prices, strict=True):
        if not 0 < price <= MAX_PRICE:
            raise InputError(
                f"the {category.label} maximum price must be above 0 and at most "
                f"{compact_ether(MAX_PRICE)} ETH, got {compact_ether(price)} ETH"
            )
    return prices[0], prices[1], prices[2]


def _read_requirements(path: Path) -> Requirements:
    from mercato.ontology.requirements import Requirements

    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(
            f"cannot read requirements file {path}: {exc.strerror or exc} "
            f"(`mercato template requirements --out {path}` writes an example)"
        ) from None
    try:
        return Requirements.parse(raw)
    except InputError as exc:
        raise InputError(
            f"{path}: {exc} (`mercato template requirements` prints a valid example)"
        ) from None


def _require_client(auction: Auction, me: Identity, action: str) -> None:
    if not same_address(auction.client, me.address):
        raise InputError(
            f"only the client of auction {auction.auction_id} ({auction.client}) may {action} "
            f"it; you are {me.address}"
        )


def _require_status(auction: Auction, wanted: Sequence[Status], action: str) -> None:
    if auction.status not in wanted:
        names = " or ".join(s.label for s in wanted)
        raise InputError(
            f"cannot {action} auction {auction.auction_id}: it is {auction.status.label}, "
            f"not {names}"
        )


# formatting ---------------------------------------------------------------------------
def _mask_labels(mask: int) -> list[str]:
    return [c.label for c in Category if mask & (1 << c)]


def auction_record(auction: Auction) -> dict[str, Any]:
    """The auction view as JSON-ready data (amounts in wei, hashes as 0x-hex)."""
    return {
        "id": auction.auction_id,
        "status": auction.status.label,
        "client": auction.client,
        "arbiter": auction.arbiter,
        "deadline": auction.deadline,
        "deadline_kind": deadline_kinds().get(auction.status),
        "min_refs": auction.min_refs,
        "requirements_hash": auction.requirements_hash,
        "max_prices": {c.label: auction.max_prices[c] for c in Category},
        "best_bids": {
            c.label: {"bidder": auction.bidders[c], "amount": auction.bids[c]} for c in Category
        },
        "reserve": auction.reserve,
        "locked": auction.locked,
        "paid": _mask_labels(auction.paid_mask),
        "model_hash": auction.model_hash if any(auction.model_hash) else None,
        "report_hash": auction.report_hash if any(auction.report_hash) else None,
    }


def _best(auction: Auction, category: Category) -> str:
    bidder, amount = auction.best(category)
    return "-" if bidder is None else compact_ether(amount)


def _deadline_text(auction: Auction, now: int) -> str:
    kind = deadline_kinds().get(auction.status)
    if kind is None:
        return "-"
    return f"{kind} {relative_time(auction.deadline, now)}"


def _describe(event: Event) -> str:
    """One line saying what an auction event means."""
    from mercato.protocols.auction.house import Status

    name = event.name
    if name == "AuctionCreated":
        reserve = sum(event["max_prices"])
        return (
            f"created by {event['client']}, arbiter {event['arbiter']}, reserve "
            f"{format_ether(reserve)}, bidding until {format_time(event['deadline'])}"
        )
    if name == "BidPlaced":
        refs = f", citing {list(event['references'])}" if event["references"] else ""
        category = Category(event["category"]).label
        return f"{event['bidder']} bids {format_ether(event['amount'])} on {category}{refs}"
    if name == "Adjudicated":
        winners = ", ".join(
            f"{c.label} {short_address(w)} at {format_ether(p)}"
            for c, w, p in zip(Category, event["winners"], event["prices"], strict=True)
        )
        return f"adjudicated: {winners}; refund {format_ether(event['refund'])}"
    if name == "AssetHandedOver":
        category = Category(event["category"]).label
        return f"{event['provider']} hands the {category} over to {event['executor']}"
    if name == "Delivered":
        return f"{event['executor']} delivers model 0x{event['model_hash'].hex()[:16]}…"
    if name == "Confirmed":
        return "the client confirms: winners paid"
    if name == "Rejected":
        return f"the client rejects (reason 0x{event['reason_hash'].hex()[:16]}…) to the arbiter"
    if name == "Arbitrated":
        paid = ", ".join(_mask_labels(event["paid_mask"])) or "nobody"
        return f"the arbiter decides: paid {paid}"
    if name == "Settled":
        status = Status(event["status"]).label
        return (
            f"settled ({status}): paid {format_ether(event['paid'])}, "
            f"refunded {format_ether(event['refunded'])}"
        )
    return name


def _auction_events(market: Marketplace, auction_id: int) -> list[Event]:
    return [
        e
        for e in market.auction_house.events(from_block=market.deployment.block)
        if e.get("auction_id") == auction_id
    ]


# commands -----------------------------------------------------------------------------
@app.command("create")
def create(
    ctx: typer.Context,
    requirements: Path = RequirementsOption,
    max_prices: str = typer.Option(
        ..., "--max-prices", help="Maximum prices data,algorithm,infrastructure, e.g. 1,1,0.5."
    ),
    arbiter: str = typer.Option(..., "--arbiter", help="Address of a registered arbiter."),
    duration: int = typer.Option(DEFAULT_DURATION, "--duration", help="Seconds of bidding."),
    min_refs: int = typer.Option(
        0, "--min-references", help="Confirmed SLAs each bid must cite (--reference)."
    ),
    rpc_url: str = RpcUrlOption,
    account: int = AccountOption,
    keystore: Path = KeystoreOption,
    json_output: bool = JsonOption,
) -> None:
    """Publish requirements and open an auction, locking the reserve (sum of maximum prices)."""
    from mercato.protocols.auction.client import open_auction
    from mercato.protocols.auction.house import MAX_DURATION, MAX_REFERENCES

    document = _read_requirements(requirements)
    prices = _parse_max_prices(max_prices)
    if not 0 < duration <= MAX_DURATION:
        raise InputError(f"--duration must be 1 to {MAX_DURATION} seconds, got {duration}")
    if not 0 <= min_refs <= MAX_REFERENCES:
        raise InputError(f"--min-references must be 0 to {MAX_REFERENCES}, got {min_refs}")
    arbiter_address = checksum_address(arbiter, "--arbiter")
    me = identity(account, keystore)
    if same_address(arbiter_address, me.address):
        raise InputError("the client cannot be its own arbiter: pass another --arbiter")
    market = context(ctx).market(rpc_url)
    require_role(market, me.address, Role.CLIENT, "opening an auction")
    if not market.registry.has_role(arbiter_address, Role.ARBITER):
        raise InputError(
            f"--arbiter {arbiter_address} is not a registered arbiter "
            "(it registers with: mercato register --roles arbiter)"
        )
    reserve = sum(prices)
    balance = market.chain.balance(me.address)
    if balance < reserve:
        raise InputError(
            f"{me.address} holds {format_ether(balance)}, less than the reserve "
            f"{format_ether(reserve)} the auction locks"
        )
    start = market.chain.block_number()
    auction_id = open_auction(
        market,
        me,
        document,
        max_prices=prices,
        duration=duration,
        arbiter=arbiter_address,
        min_refs=min_refs,
    )
    if json_output:
        emit_json(auction_record(market.auction_house.auction(auction_id)))
        return
    created = market.auction_house.first("AuctionCreated", from_block=start, auction_id=auction_id)
    cite = f", each bid citing {min_refs} confirmed SLA(s)" if min_refs else ""
    console.print(
        f"auction {auction_id} opened: {len(Category)} categories, reserve "
        f"{compact_ether(reserve)} ETH locked, arbiter {short_address(arbiter_address)}, "
        f"bidding until {format_time(created['deadline'])}{cite} {tx_note(created.tx_hash)}",
        soft_wrap=True,
    )


@app.command("bid")
def bid(
    ctx: typer.Context,
    auction_id: int = IdArgument,
    category: str = typer.Option(..., "--category", help="data, algorithm or infrastructure."),
    amount: str = typer.Option(..., "--amount", help="Price asked, e.g. 0.5 or 0.5eth."),
    refs: list[int] = ReferenceOption,
    rpc_url: str = RpcUrlOption,
    account: int = AccountOption,
    keystore: Path = KeystoreOption,
    json_output: bool = JsonOption,
) -> None:
    """Offer an asset at a price: at or under the maximum and strictly under the best bid."""
    from mercato.protocols.auction.house import MAX_REFERENCES, Status

    kind = parse_category(category)
    price = parse_amount(amount)
    if price == 0:
        raise InputError("--amount must be above 0")
    references = sorted(set(refs or []))
    if len(references) != len(refs or []):
        raise InputError("--reference: each reference may be cited once")
    if len(references) > MAX_REFERENCES:
        raise InputError(f"a bid cites at most {MAX_REFERENCES} references")
    me = identity(account, keystore)
    market = context(ctx).market(rpc_url)
    auction = load_auction(market, auction_id)
    _require_status(auction, [Status.OPEN], "bid on")
    if market.chain.timestamp() >= auction.deadline:
        raise InputError(
            f"bidding on auction {auction_id} closed at {format_time(auction.deadline)}"
        )
    require_role(market, me.address, CATEGORY_ROLES[kind], f"bidding on {kind.label}")
    maximum = auction.max_prices[kind]
    if price > maximum:
        raise InputError(
            f"the bid {format_ether(price)} is above the {kind.label} maximum "
            f"{format_ether(maximum)} of auction {auction_id}"
        )
    leader, best = auction.best(kind)
    if leader is not None and price >= best:
        raise InputError(
            f"the bid {format_ether(price)} is not below the best {kind.label} bid "
            f"{format_ether(best)} of auction {auction_id}"
        )
    if len(references) < auction.min_refs:
        raise InputError(
            f"auction {auction_id} requires {auction.min_refs} references (--reference), "
            f"you cite {len(references)}"
        )
    for ref in references:
        _check_reference(market, ref, kind, me.address)
    result = market.auction_house.bid(me.account, auction_id, kind, price, references)
    if json_output:
        emit_json(
            {
                "auction_id": auction_id,
                "category": kind.label,
                "amount": price,
                "bidder": me.address,
                "references": references,
            }
        )
    else:
        cited = f", citing {references}" if references else ""
        console.print(
            f"auction {auction_id}: your {kind.label} bid of {compact_ether(price)} ETH leads "
            f"(maximum {compact_ether(maximum)} ETH{cited}), bidding until "
            f"{format_time(auction.deadline)} {tx_note(result.receipt.tx_hash)}",
            soft_wrap=True,
        )


def _check_reference(market: Marketplace, ref: int, category: Category, bidder: str) -> None:
    from mercato.protocols.auction.house import Status

    count = market.auction_house.auction_count()
    if ref <= 0 or ref > count:
        raise InputError(f"--reference {ref}: no auction {ref} (there are {count})")
    earlier = market.auction_house.auction(ref)
    confirmed = earlier.status is Status.CONFIRMED or (
        earlier.status is Status.ARBITRATED and earlier.paid_mask & (1 << category)
    )
    if not confirmed:
        raise InputError(f"--reference {ref}: auction {ref} is no confirmed {category.label} SLA")
    if not same_address(earlier.bidders[category], bidder):
        raise InputError(f"--reference {ref}: you did not win {category.label} in auction {ref}")


@app.command("list")
def list_auctions(
    ctx: typer.Context,
    rpc_url: str = RpcUrlOption,
    json_output: bool = JsonOption,
) -> None:
    """Every auction with its status, best bids and current deadline."""
    market = context(ctx).market(rpc_url)
    house = market.auction_house
    auctions = [house.auction(i) for i in range(1, house.auction_count() + 1)]
    if json_output:
        emit_json([auction_record(a) for a in auctions])
        return
    if not auctions:
        console.print("no auctions yet (open one with `mercato auction create`)")
        return
    now = market.chain.timestamp()
    table = Table(
        title=f"{len(auctions)} auction(s); best bids in ETH", box=box.SIMPLE_HEAD, pad_edge=False
    )
    for column in ("id", "status", "client", *(c.label for c in Category), "deadline"):
        table.add_column(column, overflow="fold")
    for a in auctions:
        table.add_row(
            str(a.auction_id),
            a.status.label,
            short_address(a.client),
            *(_best(a, c) for c in Category),
            _deadline_text(a, now),
        )
    console.print(table)


@app.command("show")
def show(
    ctx: typer.Context,
    auction_id: int = IdArgument,
    rpc_url: str = RpcUrlOption,
    json_output: bool = JsonOption,
) -> None:
    """One auction: its state, its requirements document and what happened to it."""
    from mercato.protocols.auction.documents import load_requirements

    market = context(ctx).market(rpc_url)
    auction = load_auction(market, auction_id)
    document: Requirements | None = None
    problem = ""
    try:
        document = load_requirements(market, auction_id)
    except MercatoError as exc:  # shown, not fatal: the chain state is still worth seeing
        problem = str(exc)
    events = _auction_events(market, auction_id)
    if json_output:
        emit_json(
            {
                "auction": auction_record(auction),
                "requirements": None
                if document is None
                else {
                    "classes": {c.label: document.required_class(c) for c in Category},
                    "task": document.task,
                    "metric": document.metric,
                    "minimum": document.minimum,
                    "constraints": dict(document.constraints),
                    "ontology": document.ontology,
                },
                "requirements_error": problem or None,
                "events": [
                    {
                        "name": e.name,
                        "block": e.block_number,
                        "tx": e.tx_hash,
                        "summary": _describe(e),
                        "args": e.args,
                    }
                    for e in events
                ],
            }
        )
        return
    now = market.chain.timestamp()
    console.rule(f"[bold]auction {auction_id}[/bold]: {auction.status.label}")
    console.print(f"client    {auction.client}")
    console.print(f"arbiter   {auction.arbiter}")
    kind = deadline_kinds().get(auction.status)
    if kind is not None:
        when = relative_time(auction.deadline, now)
        console.print(f"deadline  {kind} {format_time(auction.deadline)} ({when})")
    console.print(f"min refs  {auction.min_refs}; locked {format_ether(auction.locked)}")
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    for column in ("category", "required class", "maximum ETH", "best bid ETH", "bidder"):
        table.add_column(column, overflow="fold")
    for c in Category:
        bidder, amount = auction.best(c)
        table.add_row(
            c.label,
            "?" if document is None else document.required_class(c),
            compact_ether(auction.max_prices[c]),
            "-" if bidder is None else compact_ether(amount),
            short_address(bidder),
        )
    console.print(table)
    if document is not None:
        console.print(f"task      {document.task}")
        console.print(f"quality   {document.metric} ≥ {document.minimum}")
    else:
        console.print(f"[yellow]requirements unavailable:[/yellow] {problem}")
    if auction.paid_mask:
        console.print(f"paid      {', '.join(_mask_labels(auction.paid_mask))}")
    console.print(f"[bold]{len(events)} event(s)[/bold]")
    for e in events:
        console.print(f"  block {e.block_number:>6}  {e.name:<16} {_describe(e)}", soft_wrap=True)


@app.command("adjudicate")
def adjudicate(
    ctx: typer.Context,
    auction_id: int = IdArgument,
    rpc_url: str = RpcUrlOption,
    account: int = AccountOption,
    keystore: Path = KeystoreOption,
    json_output: bool = JsonOption,
) -> None:
    """Close bidding: the client once every category has a bid, anyone after the deadline."""
    from mercato.protocols.auction.house import Status

    me = identity(account, keystore)
    market = context(ctx).market(rpc_url)
    auction = load_auction(market, auction_id)
    _require_status(auction, [Status.OPEN], "adjudicate")
    if market.chain.timestamp() < auction.deadline:
        if not same_address(auction.client, me.address):
            raise InputError(
                f"bidding on auction {auction_id} runs until {format_time(auction.deadline)}; "
                "before that only its client may adjudicate"
            )
        missing = [c.label for c in Category if auction.bidders[c] is None]
        if missing:
            raise InputError(
                f"auction {auction_id} has no {' or '.join(missing)} bid yet; adjudicate "
                f"once every category has one, or after {format_time(auction.deadline)}"
            )
    result = market.auction_house.adjudicate(me.account, auction_id)
    after = market.auction_house.auction(auction_id)
    refund = auction.reserve - (after.spent if after.status is Status.ADJUDICATED else 0)
    tx = tx_note(result.receipt.tx_hash)
    if json_output:
        emit_json({**auction_record(after), "refund": refund})
    elif after.status is Status.REFUNDED:
        unbid = " or ".join(c.label for c in Category if auction.bidders[c] is None)
        console.print(
            f"auction {auction_id} failed (no {unbid} bid): {compact_ether(refund)} ETH "
            f"refundable to the client {tx}",
            soft_wrap=True,
        )
    else:
        winners = ", ".join(
            f"{c.label} {short_address(after.bidders[c])} at {compact_ether(after.bids[c])} ETH"
            for c in Category
        )
        console.print(
            f"auction {auction_id} adjudicated: {winners}; {compact_ether(refund)} ETH "
            f"refundable to the client; delivery due by {format_time(after.deadline)} {tx}",
            soft_wrap=True,
        )


@app.command("confirm")
def confirm(
    ctx: typer.Context,
    auction_id: int = IdArgument,
    rpc_url: str = RpcUrlOption,
    account: int = AccountOption,
    keystore: Path = KeystoreOption,
    json_output: bool = JsonOption,
) -> None:
    """Accept the delivered model: the winners are paid."""
    from mercato.protocols.auction.house import Status

    me = identity(account, keystore)
    market = context(ctx).market(rpc_url)
    auction = load_auction(market, auction_id)
    _require_client(auction, me, "confirm")
    _require_status(auction, [Status.DELIVERED], "confirm")
    result = market.auction_house.confirm(me.account, auction_id)
    after = market.auction_house.auction(auction_id)
    if json_output:
        emit_json(auction_record(after))
    else:
        console.print(
            f"auction {auction_id} confirmed: the {len(Category)} winners are owed "
            f"{compact_ether(auction.spent)} ETH, to withdraw with `mercato auction withdraw` "
            f"{tx_note(result.receipt.tx_hash)}",
            soft_wrap=True,
        )


@app.command("reject")
def reject(
    ctx: typer.Context,
    auction_id: int = IdArgument,
    reason: str = typer.Option(..., "--reason", help="Why (stored as evidence; hash on chain)."),
    rpc_url: str = RpcUrlOption,
    account: int = AccountOption,
    keystore: Path = KeystoreOption,
    json_output: bool = JsonOption,
) -> None:
    """Reject the delivered model; the auction's arbiter decides who is paid."""
    from eth_utils.crypto import keccak

    from mercato.protocols.auction.house import Status

    text = reason.strip()
    if not text:
        raise InputError("--reason must say why the delivery is rejected")
    complaint = text.encode()
    if len(complaint) > MAX_REASON_BYTES:
        raise InputError(f"--reason is longer than {MAX_REASON_BYTES} bytes")
    me = identity(account, keystore)
    market = context(ctx).market(rpc_url)
    auction = load_auction(market, auction_id)
    _require_client(auction, me, "reject")
    _require_status(auction, [Status.DELIVERED], "reject")
    if market.chain.timestamp() >= auction.deadline:
        raise InputError(
            f"the review period of auction {auction_id} ended at {format_time(auction.deadline)}"
        )
    reason_hash = bytes(keccak(complaint))
    market.store.put(complaint)  # the evidence, before its hash goes on chain
    result = market.auction_house.reject(me.account, auction_id, reason_hash)
    after = market.auction_house.auction(auction_id)
    if json_output:
        emit_json({**auction_record(after), "reason_hash": reason_hash})
    else:
        console.print(
            f"auction {auction_id} rejected: {compact_ether(after.locked)} ETH held until its "
            f"arbiter {short_address(after.arbiter)} decides, by {format_time(after.deadline)}; "
            f"reason 0x{reason_hash.hex()} in the blob store {tx_note(result.receipt.tx_hash)}",
            soft_wrap=True,
        )


@app.command("arbitrate")
def arbitrate(
    ctx: typer.Context,
    auction_id: int = IdArgument,
    pay: str = typer.Option(
        ...,
        "--pay",
        help="Categories whose winners are paid, comma-separated (e.g. data,algorithm); "
        "'none' refunds the client everything.",
    ),
    rpc_url: str = RpcUrlOption,
    account: int = AccountOption,
    keystore: Path = KeystoreOption,
    json_output: bool = JsonOption,
) -> None:
    """Decide a rejected delivery (the auction's arbiter): pay some winners, refund the rest."""
    from mercato.protocols.auction.house import Status

    labels = [] if pay.strip().lower() == "none" else [p for p in pay.split(",") if p.strip()]
    if not labels and pay.strip().lower() != "none":
        raise InputError("--pay needs categories (data, algorithm, infrastructure) or 'none'")
    mask = sum(1 << parse_category(label) for label in set(labels))
    me = identity(account, keystore)
    market = context(ctx).market(rpc_url)
    auction = load_auction(market, auction_id)
    if not same_address(auction.arbiter, me.address):
        raise InputError(
            f"only the auction's arbiter {auction.arbiter} decides auction {auction_id}"
        )
    _require_status(auction, [Status.DISPUTED], "arbitrate")
    if market.chain.timestamp() >= auction.deadline:
        raise InputError(
            f"the arbitration deadline of auction {auction_id} has passed: "
            "anyone may now `mercato auction claim` the client's refund"
        )
    result = market.auction_house.arbitrate(me.account, auction_id, mask)
    after = market.auction_house.auction(auction_id)
    if json_output:
        emit_json(auction_record(after))
    else:
        paid = ", ".join(_mask_labels(mask)) or "nobody"
        settled = result.event("Settled")
        console.print(
            f"auction {auction_id} arbitrated: {compact_ether(settled['paid'])} ETH owed to "
            f"{paid}, {compact_ether(settled['refunded'])} ETH refundable to the client "
            f"{tx_note(result.receipt.tx_hash)}",
            soft_wrap=True,
        )


@app.command("claim")
def claim(
    ctx: typer.Context,
    auction_id: int = IdArgument,
    rpc_url: str = RpcUrlOption,
    account: int = AccountOption,
    keystore: Path = KeystoreOption,
    json_output: bool = JsonOption,
) -> None:
    """After a deadline: pay the winners (client silent) or refund the client (no delivery)."""
    from mercato.protocols.auction.house import Status

    me = identity(account, keystore)
    market = context(ctx).market(rpc_url)
    auction = load_auction(market, auction_id)
    _require_status(auction, (Status.ADJUDICATED, Status.DELIVERED, Status.DISPUTED), "claim")
    if market.chain.timestamp() < auction.deadline:
        kind = deadline_kinds()[auction.status]
        raise InputError(
            f"the {kind} deadline of auction {auction_id} is {format_time(auction.deadline)}; "
            "claim after it"
        )
    result = market.auction_house.claim(me.account, auction_id)
    after = market.auction_house.auction(auction_id)
    tx = tx_note(result.receipt.tx_hash)
    if json_output:
        emit_json(auction_record(after))
    elif after.status is Status.CLAIMED:
        console.print(
            f"auction {auction_id} claimed after the client's silence: "
            f"{compact_ether(auction.spent)} ETH owed to the winners {tx}",
            soft_wrap=True,
        )
    else:
        why = (
            "its arbiter did not decide in time"
            if auction.status is Status.DISPUTED
            else "nothing was delivered in time"
        )
        console.print(
            f"auction {auction_id} refunded ({why}): {compact_ether(auction.spent)} ETH "
            f"refundable to the client {tx}",
            soft_wrap=True,
        )


add_withdraw_command(app, UNIT)
waiting.add_wait_command(app, UNIT)
