"""Audit checks of P1's bidding: was each bid valid, and did the lowest bids win?

Checks 1 and 2 of :mod:`mercato.audit.auction`. The bids are replayed in chain order through
the rules the contract enforces (:mod:`mercato.protocols.auction.rules`); a bid the rules
refuse, or an outcome other than :func:`~mercato.protocols.auction.rules.lowest_bid`, is
evidence against the contract (or a node serving a forged history): nobody else decides.
"""

from __future__ import annotations

from dataclasses import replace

from mercato.audit.auction_ledger import AuctionLedger
from mercato.audit.report import CheckBuilder
from mercato.chain.contract import Event
from mercato.ontology.category import Category
from mercato.protocols.auction.rules import (
    CATEGORY_ROLES,
    adjudicate_problem,
    amount_problem,
    citations_problem,
    price_problem,
    reference_problem,
    references_needed_problem,
)
from mercato.protocols.auction.views import Auction, Status
from mercato.timefmt import format_time, same_address
from mercato.units import format_ether


def _position(event: Event) -> tuple[int, int]:
    return event.block_number, event.log_index


def describe_bid(bid: Event) -> str:
    """``bid of 0x… on data at 0.3 ETH``."""
    category = Category(int(bid["category"])).label
    return f"bid of {bid['bidder']} on {category} at {format_ether(int(bid['amount']))}"


def _with_bid(auction: Auction, category: Category, bidder: str, amount: int) -> Auction:
    bidders, bids = list(auction.bidders), list(auction.bids)
    bidders[category], bids[category] = bidder, amount
    return replace(
        auction,
        bidders=(bidders[0], bidders[1], bidders[2]),
        bids=(bids[0], bids[1], bids[2]),
    )


def _reference_problems(ledger: AuctionLedger, ref: int, category: Category, bid: Event) -> str:
    """Why the bid may not cite auction ``ref`` ("" if it may)."""
    house = ledger.market.auction_house
    if not 1 <= ref <= house.auction_count() or ref == ledger.auction_id:
        return f"reference {ref} is no earlier auction"
    problem = reference_problem(house.auction(ref), category, str(bid["bidder"]))
    if problem is not None:
        return problem.replace("you did not", "the bidder did not")
    settled = [
        e
        for e in ledger.all_events
        if e.name == "Settled"
        and e["auction_id"] == ref
        and Status(int(e["status"])) in (Status.CONFIRMED, Status.ARBITRATED)
    ]
    if not settled or _position(settled[0]) > _position(bid):
        return f"auction {ref} was not yet a confirmed SLA when the bid cited it"
    return ""


def bid_problems(ledger: AuctionLedger, bid: Event, before: Auction) -> list[str]:
    """Why the rules refuse ``bid`` on the auction as it stood ``before`` it ([] if valid)."""
    if not 0 <= int(bid["category"]) < len(Category):
        return [f"category {bid['category']} does not exist"]
    category = Category(int(bid["category"]))
    amount, refs = int(bid["amount"]), [int(r) for r in bid["references"]]
    problems = [
        p
        for p in (
            amount_problem(amount),
            price_problem(before, category, amount),
            references_needed_problem(before, len(refs)),
            citations_problem(refs),
        )
        if p is not None
    ]
    if refs != sorted(refs):
        problems.append("its references are not in increasing order")
    problems += [p for p in (_reference_problems(ledger, r, category, bid) for r in refs) if p]
    if not ledger.roles_at(str(bid["bidder"]), bid) & CATEGORY_ROLES[category]:
        problems.append(f"the bidder was not registered for {category.label} when it bid")
    closed = ledger.adjudicated or (ledger.settled[0] if ledger.settled else None)
    if closed is not None and _position(bid) > _position(closed):
        problems.append("it came after bidding closed")
    return problems


def check_bids_valid(ledger: AuctionLedger, check: CheckBuilder) -> None:
    """1. Was each bid valid?"""
    state = ledger.at_bidding()
    for bid in ledger.bids:
        for problem in bid_problems(ledger, bid, state):
            check.fail(
                ledger.against_contract(f"the contract accepted the {describe_bid(bid)}: {problem}")
            )
        if 0 <= int(bid["category"]) < len(Category):
            category = Category(int(bid["category"]))
            leader, best = state.best(category)
            if leader is None or int(bid["amount"]) < best:
                state = _with_bid(state, category, str(bid["bidder"]), int(bid["amount"]))
    refs = ledger.auction.min_refs
    check.ran(
        f"{len(ledger.bids)} bid(s), each above 0, at or under its category's maximum, "
        "strictly under the best bid before it, by an account registered for the category, "
        f"citing at least {refs} earlier confirmed SLA(s) it won in that category, before "
        "bidding closed"
    )
    check.note(
        "P1 asks bidders no stake; the semantic match (the asset's class under the required "
        "one) is each provider's check off chain: no asset class goes on chain"
    )


def check_winners(ledger: AuctionLedger, check: CheckBuilder) -> None:
    """2. Were the winners and their prices the ones the auction rule gives?"""
    auction, rule = ledger.auction, ledger.rule_bids
    for category in Category:
        leader, best = rule[category]
        chain_leader, chain_best = auction.best(category)
        if not _same(chain_leader, leader) or chain_best != best:
            check.fail(
                ledger.against_contract(
                    f"the chain's best {category.label} bid is "
                    f"{_bid_text(chain_leader, chain_best)}; the lowest bid placed is "
                    f"{_bid_text(leader, best)}"
                )
            )
    adjudicated = ledger.adjudicated
    if adjudicated is not None:
        for category, winner, price in zip(
            Category, adjudicated["winners"], adjudicated["prices"], strict=True
        ):
            if not _same(str(winner), rule[category][0]) or int(price) != rule[category][1]:
                check.fail(
                    ledger.against_contract(
                        f"the SLA gives {category.label} to {_bid_text(str(winner), int(price))}"
                        f"; the lowest bid is {_bid_text(*rule[category])}"
                    )
                )
        when = int(adjudicated["delivery_deadline"]) - ledger.period("DELIVERY_PERIOD")
        closing = replace(
            ledger.at_bidding(),
            bidders=(rule[Category(0)][0], rule[Category(1)][0], rule[Category(2)][0]),
        )
        problem = adjudicate_problem(closing, str(adjudicated["caller"]), when)
        if problem is not None:
            check.fail(
                ledger.against_contract(
                    f"the contract let {adjudicated['caller']} adjudicate: {problem}"
                )
            )
        winners = ", ".join(f"{c.label} {_bid_text(*rule[c])}" for c in Category)
        check.ran(
            f"the SLA's winners are the lowest bids ({winners}); each is paid its own bid "
            "(a first-price reverse auction: no second price)"
        )
    elif ledger.settled:
        unbid = [c.label for c in Category if rule[c][0] is None]
        if not unbid:
            check.fail(
                ledger.against_contract(
                    "bidding closed without an SLA, yet every category had a bid"
                )
            )
        check.ran(f"bidding closed with no {' or '.join(unbid) or '?'} bid: no SLA was formed")
    else:
        check.ran("each category's best bid so far is its lowest")
        check.undecided(
            f"bidding is open until {format_time(auction.deadline)}: the winners are not known yet"
        )


def _same(a: str | None, b: str | None) -> bool:
    return (a is None and b is None) or (a is not None and b is not None and same_address(a, b))


def _bid_text(bidder: str | None, amount: int) -> str:
    return "nobody" if bidder is None else f"{bidder} at {format_ether(amount)}"
