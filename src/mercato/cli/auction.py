"""``mercato auction ...``: the procurement auction (P1) from the command line.

Every command acts on a deployed market over a node. Input is checked against the chain
before anything is sent, by P1's rules (:mod:`mercato.protocols.auction.rules`: unknown
auction, wrong role, price above the maximum, deadline, status), so a bad command changes
nothing; a revert that still happens is reported by ``main`` as one line.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from mercato.cli import common, waiting
from mercato.cli.common import MarketCall, compact_ether, console, refuse, short_address, tx_note
from mercato.errors import InputError
from mercato.ontology.category import Category, parse_category
from mercato.protocols.auction import rules
from mercato.protocols.auction.unit import UNIT
from mercato.protocols.auction.views import Status, categories_in, read_auction
from mercato.protocols.registry import require_role
from mercato.protocols.roles import Role

# The chain, the wrapper and the documents are imported by the commands that use them, so
# that `mercato --help` loads none of them.
if TYPE_CHECKING:
    from mercato.chain.contract import TxResult
    from mercato.ontology.requirements import Requirements
    from mercato.protocols.auction.views import Auction
    from mercato.protocols.identity import Identity
    from mercato.protocols.marketplace import Marketplace

app = typer.Typer(help="Procurement auctions (SAIaaS, P1).", no_args_is_help=True)

DEFAULT_DURATION = 3600
"""Seconds of bidding when ``create`` is given no ``--duration``."""

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


# parsing and reading ----------------------------------------------------------------------
def _parse_max_prices(text: str) -> tuple[int, int, int]:
    parts = [p.strip() for p in text.split(",")]
    if len(parts) != len(Category):
        raise InputError(
            f"--max-prices takes {len(Category)} comma-separated amounts "
            f"(data,algorithm,infrastructure), got '{text}'"
        )
    prices = [common.parse_amount(p) for p in parts]
    refuse(*(rules.max_price_problem(c, p) for c, p in zip(Category, prices, strict=True)))
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


def _acting(call: MarketCall, auction_id: int) -> tuple[Identity, Marketplace, Auction]:
    """Who acts, on which market, and the auction as it stands (InputError if none)."""
    me = call.identity()
    market = call.market()
    return me, market, read_auction(market.auction_house, auction_id)


def _report(
    call: MarketCall, after: Auction, result: TxResult, summary: str, **extra: object
) -> None:
    """The auction after a step: its record as JSON (with ``extra``), or the summary line."""
    if call.json_output:
        common.emit_json({**after.record(), **extra})
    else:
        console.print(f"{summary} {tx_note(result.receipt.tx_hash)}", soft_wrap=True)


# commands ---------------------------------------------------------------------------------
@common.market_command(app, "create")
def create(
    call: MarketCall,
    requirements: Path = RequirementsOption,
    max_prices: str = typer.Option(
        ..., "--max-prices", help="Maximum prices data,algorithm,infrastructure, e.g. 1,1,0.5."
    ),
    arbiter: str = typer.Option(..., "--arbiter", help="Address of a registered arbiter."),
    duration: int = typer.Option(DEFAULT_DURATION, "--duration", help="Seconds of bidding."),
    min_refs: int = typer.Option(
        0, "--min-references", help="Confirmed SLAs each bid must cite (--reference)."
    ),
) -> None:
    """Publish requirements and open an auction, locking the reserve (sum of maximum prices)."""
    from mercato.protocols.auction.client import open_auction

    document = _read_requirements(requirements)
    prices = _parse_max_prices(max_prices)
    refuse(
        rules.duration_problem(duration, "--duration"),
        rules.min_refs_problem(min_refs, "--min-references"),
    )
    arbiter_address = common.checksum_address(arbiter, "--arbiter")
    me = call.identity()
    refuse(rules.arbiter_problem(me.address, arbiter_address, name="--arbiter"))
    market = call.market()
    require_role(market, me.address, Role.CLIENT, "opening an auction")
    registered = market.registry.has_role(arbiter_address, Role.ARBITER)
    refuse(rules.arbiter_problem(me.address, arbiter_address, registered, "--arbiter"))
    reserve = sum(prices)
    refuse(rules.reserve_problem(me.address, market.chain.balance(me.address), reserve))
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
    if call.json_output:
        common.emit_json(market.auction_house.auction(auction_id).record())
        return
    created = market.auction_house.first("AuctionCreated", from_block=start, auction_id=auction_id)
    cite = f", each bid citing {min_refs} confirmed SLA(s)" if min_refs else ""
    console.print(
        f"auction {auction_id} opened: {len(Category)} categories, reserve "
        f"{compact_ether(reserve)} ETH locked, arbiter {short_address(arbiter_address)}, "
        f"bidding until {common.format_time(created['deadline'])}{cite} {tx_note(created.tx_hash)}",
        soft_wrap=True,
    )


@common.market_command(app, "bid")
def bid(
    call: MarketCall,
    auction_id: int = IdArgument,
    category: str = typer.Option(..., "--category", help="data, algorithm or infrastructure."),
    amount: str = typer.Option(..., "--amount", help="Price asked, e.g. 0.5 or 0.5eth."),
    refs: list[int] = ReferenceOption,
) -> None:
    """Offer an asset at a price: at or under the maximum and strictly under the best bid."""
    kind = parse_category(category)
    price = common.parse_amount(amount)
    cited = list(refs or [])
    refuse(rules.amount_problem(price, "--amount"), rules.citations_problem(cited, "--reference"))
    references = sorted(set(cited))
    me, market, auction = _acting(call, auction_id)
    refuse(rules.bidding_problem(auction, market.chain.timestamp()))
    require_role(market, me.address, rules.CATEGORY_ROLES[kind], f"bidding on {kind.label}")
    refuse(
        rules.price_problem(auction, kind, price),
        rules.references_needed_problem(auction, len(references), "--reference"),
    )
    for ref in references:
        _check_reference(market, ref, kind, me.address)
    result = market.auction_house.bid(me.account, auction_id, kind, price, references)
    if call.json_output:
        common.emit_json(
            {
                "auction_id": auction_id,
                "category": kind.label,
                "amount": price,
                "bidder": me.address,
                "references": references,
            }
        )
    else:
        cited_text = f", citing {references}" if references else ""
        console.print(
            f"auction {auction_id}: your {kind.label} bid of {compact_ether(price)} ETH leads "
            f"(maximum {compact_ether(auction.max_prices[kind])} ETH{cited_text}), bidding "
            f"until {common.format_time(auction.deadline)} {tx_note(result.receipt.tx_hash)}",
            soft_wrap=True,
        )


def _check_reference(market: Marketplace, ref: int, category: Category, bidder: str) -> None:
    try:
        earlier = read_auction(market.auction_house, ref)
    except InputError as exc:
        raise InputError(f"--reference {ref}: {exc}") from None
    problem = rules.reference_problem(earlier, category, bidder)
    refuse(problem and f"--reference {ref}: {problem}")


@common.market_command(app, "list", acts=False)
def list_auctions(call: MarketCall) -> None:
    """Every auction with its status, best bids and current deadline."""
    from mercato.cli.auction_view import print_auctions
    from mercato.protocols.auction.views import read_auctions

    market = call.market()
    auctions = read_auctions(market.auction_house)
    if call.json_output:
        common.emit_json([a.record() for a in auctions])
    else:
        print_auctions(auctions, market.chain.timestamp() if auctions else 0)


@common.market_command(app, "show", acts=False)
def show(call: MarketCall, auction_id: int = IdArgument) -> None:
    """One auction: its state, its requirements document and what happened to it."""
    from mercato.cli.auction_view import detail_record, print_detail
    from mercato.protocols.auction.views import read_detail

    market = call.market()
    detail = read_detail(market, auction_id)
    if call.json_output:
        common.emit_json(detail_record(detail))
    else:
        print_detail(detail, market.chain.timestamp())


@common.market_command(app, "adjudicate")
def adjudicate(call: MarketCall, auction_id: int = IdArgument) -> None:
    """Close bidding: the client once every category has a bid, anyone after the deadline."""
    me, market, auction = _acting(call, auction_id)
    refuse(rules.adjudicate_problem(auction, me.address, market.chain.timestamp()))
    result = market.auction_house.adjudicate(me.account, auction_id)
    after = market.auction_house.auction(auction_id)
    refund = auction.reserve - (after.spent if after.status is Status.ADJUDICATED else 0)
    if after.status is Status.REFUNDED:
        unbid = " or ".join(c.label for c in auction.unbid)
        summary = (
            f"auction {auction_id} failed (no {unbid} bid): {compact_ether(refund)} ETH "
            "refundable to the client"
        )
    else:
        winners = ", ".join(
            f"{c.label} {short_address(after.bidders[c])} at {compact_ether(after.bids[c])} ETH"
            for c in Category
        )
        summary = (
            f"auction {auction_id} adjudicated: {winners}; {compact_ether(refund)} ETH "
            f"refundable to the client; delivery due by {common.format_time(after.deadline)}"
        )
    _report(call, after, result, summary, refund=refund)


@common.market_command(app, "confirm")
def confirm(call: MarketCall, auction_id: int = IdArgument) -> None:
    """Accept the delivered model: the winners are paid."""
    me, market, auction = _acting(call, auction_id)
    refuse(rules.confirm_problem(auction, me.address))
    result = market.auction_house.confirm(me.account, auction_id)
    owed = f"the {len(Category)} winners are owed {compact_ether(auction.spent)} ETH"
    summary = f"auction {auction_id} confirmed: {owed}, to withdraw with `mercato auction withdraw`"
    _report(call, market.auction_house.auction(auction_id), result, summary)


@common.market_command(app, "reject")
def reject(
    call: MarketCall,
    auction_id: int = IdArgument,
    reason: str = typer.Option(..., "--reason", help="Why (stored as evidence; hash on chain)."),
) -> None:
    """Reject the delivered model; the auction's arbiter decides who is paid."""
    from eth_utils.crypto import keccak

    refuse(rules.reason_problem(reason, "--reason"))
    complaint = reason.strip().encode()
    me, market, auction = _acting(call, auction_id)
    refuse(rules.reject_problem(auction, me.address, market.chain.timestamp()))
    reason_hash = bytes(keccak(complaint))
    market.store.put(complaint)  # the evidence, before its hash goes on chain
    result = market.auction_house.reject(me.account, auction_id, reason_hash)
    after = market.auction_house.auction(auction_id)
    summary = (
        f"auction {auction_id} rejected: {compact_ether(after.locked)} ETH held until its "
        f"arbiter {short_address(after.arbiter)} decides, by {common.format_time(after.deadline)}; "
        f"reason 0x{reason_hash.hex()} in the blob store"
    )
    _report(call, after, result, summary, reason_hash=reason_hash)


@common.market_command(app, "arbitrate")
def arbitrate(
    call: MarketCall,
    auction_id: int = IdArgument,
    pay: str = typer.Option(
        ...,
        "--pay",
        help="Categories whose winners are paid, comma-separated (e.g. data,algorithm); "
        "'none' refunds the client everything.",
    ),
) -> None:
    """Decide a rejected delivery (the auction's arbiter): pay some winners, refund the rest."""
    nobody = pay.strip().lower() == "none"
    labels = [] if nobody else [p for p in pay.split(",") if p.strip()]
    if not labels and not nobody:
        raise InputError("--pay needs categories (data, algorithm, infrastructure) or 'none'")
    mask = sum(1 << parse_category(label) for label in set(labels))
    me, market, auction = _acting(call, auction_id)
    refuse(rules.arbitrate_problem(auction, me.address, market.chain.timestamp()))
    result = market.auction_house.arbitrate(me.account, auction_id, mask)
    paid = ", ".join(c.label for c in categories_in(mask)) or "nobody"
    settled = result.event("Settled")
    paid_eth, refunded = compact_ether(settled["paid"]), compact_ether(settled["refunded"])
    summary = f"auction {auction_id} arbitrated: {paid_eth} ETH owed to {paid}, {refunded} ETH"
    after = market.auction_house.auction(auction_id)
    _report(call, after, result, f"{summary} refundable to the client")


@common.market_command(app, "claim")
def claim(call: MarketCall, auction_id: int = IdArgument) -> None:
    """After a deadline: pay the winners (client silent) or refund the client (no delivery)."""
    me, market, auction = _acting(call, auction_id)
    refuse(rules.claim_problem(auction, market.chain.timestamp()))
    result = market.auction_house.claim(me.account, auction_id)
    after = market.auction_house.auction(auction_id)
    if after.status is Status.CLAIMED:
        summary = (
            f"auction {auction_id} claimed after the client's silence: "
            f"{compact_ether(auction.spent)} ETH owed to the winners"
        )
    else:
        why = (
            "its arbiter did not decide in time"
            if auction.status is Status.DISPUTED
            else "nothing was delivered in time"
        )
        summary = (
            f"auction {auction_id} refunded ({why}): {compact_ether(auction.spent)} ETH "
            "refundable to the client"
        )
    _report(call, after, result, summary)


common.add_withdraw_command(app, UNIT)
waiting.add_wait_command(app, UNIT)


@common.market_command(app, "model")
def model(
    call: MarketCall,
    auction_id: int = IdArgument,
    out: Path = common.ModelOutOption,
    data_file: Path = common.DataFileOption,
    label: str = common.LabelOption,
    schema: Path = common.SchemaOption,
    dataset: str = common.HeldOutDatasetOption,
) -> None:
    """The client takes its model: opened with its key, checked against the hash on chain,
    written as .skops with its metrics (measured on --data or --dataset's held-out part)."""
    from mercato.protocols.auction.client import take_model
    from mercato.protocols.results import export_result

    if out.suffix.lower() != ".skops":
        raise InputError(
            f"--out {out}: an auction's model is a scikit-learn model: name it *.skops"
        )
    evaluation = common.held_out_data(data_file, label, schema, dataset)
    me, market, auction = _acting(call, auction_id)
    refuse(rules.take_problem(auction, me.address))
    result = take_model(market, me, auction_id, evaluation)
    common.show_result(call, result, export_result(result, out))
