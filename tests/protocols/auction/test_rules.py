"""P1's rules and views, without a chain: each ``*_problem`` judges a view and plain values."""

from __future__ import annotations

from dataclasses import replace

import pytest

from mercato.ontology.category import Category
from mercato.protocols.auction import rules
from mercato.protocols.auction.provider import Offer, next_bid
from mercato.protocols.auction.views import Auction, Status

CLIENT = "0x" + "c1" * 20
ARBITER = "0x" + "a1" * 20
PROVIDER = "0x" + "d1" * 20
RIVAL = "0x" + "e1" * 20
DEADLINE = 1_000_000
ETHER = 10**18

OPEN = Auction(
    auction_id=1,
    client=CLIENT,
    arbiter=ARBITER,
    deadline=DEADLINE,
    min_refs=0,
    status=Status.OPEN,
    paid_mask=0,
    requirements_hash=b"\x01" * 32,
    max_prices=(ETHER, ETHER, ETHER),
    bidders=(RIVAL, None, None),
    bids=(ETHER // 2, 0, 0),
    model_hash=b"\x00" * 32,
    report_hash=b"\x00" * 32,
)


def test_a_bid_must_undercut_the_best_and_respect_the_maximum() -> None:
    assert rules.price_problem(OPEN, Category.DATA, ETHER // 4) is None
    assert "not below the best data bid" in str(
        rules.price_problem(OPEN, Category.DATA, ETHER // 2)
    )
    assert "above the algorithm maximum" in str(
        rules.price_problem(OPEN, Category.ALGORITHM, 2 * ETHER)
    )


def test_bidding_closes_at_the_deadline_and_with_the_status() -> None:
    assert rules.bidding_problem(OPEN, DEADLINE - 1) is None
    assert "closed at" in str(rules.bidding_problem(OPEN, DEADLINE))
    adjudicated = replace(OPEN, status=Status.ADJUDICATED)
    assert rules.bidding_problem(adjudicated, 0) == (
        "cannot bid on auction 1: it is adjudicated, not open"
    )


def test_only_the_client_adjudicates_early_and_only_once_every_category_has_a_bid() -> None:
    assert "only its client" in str(rules.adjudicate_problem(OPEN, RIVAL, 0))
    assert "has no algorithm or infrastructure bid yet" in str(
        rules.adjudicate_problem(OPEN, CLIENT, 0)
    )
    assert rules.adjudicate_problem(OPEN, RIVAL, DEADLINE) is None


@pytest.mark.parametrize(
    ("status", "paid_mask", "bidder", "problem"),
    [
        (Status.CONFIRMED, 0, PROVIDER, None),
        (Status.ARBITRATED, 1 << Category.DATA, PROVIDER, None),
        (Status.ARBITRATED, 1 << Category.ALGORITHM, PROVIDER, "no confirmed data SLA"),
        (Status.CONFIRMED, 0, RIVAL, "you did not win data"),
        (Status.DISPUTED, 0, PROVIDER, "no confirmed data SLA"),
    ],
)
def test_a_reference_is_a_confirmed_sla_the_bidder_won(
    status: Status, paid_mask: int, bidder: str, problem: str | None
) -> None:
    earlier = replace(OPEN, status=status, paid_mask=paid_mask, bidders=(PROVIDER, None, None))

    found = rules.reference_problem(earlier, Category.DATA, bidder)

    assert found is None if problem is None else problem in str(found)


def test_claims_wait_for_the_deadline_of_the_status() -> None:
    delivered = replace(OPEN, status=Status.DELIVERED)

    assert "the review deadline of auction 1" in str(rules.claim_problem(delivered, 0))
    assert rules.claim_problem(delivered, DEADLINE) is None
    assert "cannot claim auction 1: it is open" in str(rules.claim_problem(OPEN, DEADLINE))


def test_the_provider_bids_only_what_the_rules_accept() -> None:
    offer = Offer(Category.DATA, "TabularData", floor=ETHER // 4)

    undercut = next_bid(OPEN, offer, PROVIDER)
    at_the_floor = next_bid(replace(OPEN, bids=(ETHER // 4, 0, 0)), offer, PROVIDER)
    closed = next_bid(OPEN, offer, PROVIDER, now=DEADLINE)

    assert undercut is not None and ETHER // 4 <= undercut < ETHER // 2
    assert at_the_floor is None  # not below the best: refused by price_problem
    assert closed is None
