"""AuctionHouse.vy: every rule, revert and deadline of the procurement auction (P1).

Each test deploys a fresh marketplace (see ``marketplace.py``): a client, an arbiter, a
stranger registered for nothing, and two providers per category.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from eth_account.signers.local import LocalAccount

from mercato.chain.base import Chain
from mercato.chain.contract import Contract
from mercato.errors import ContractRevert
from mercato.protocols.roles import Role

from ..world import EMPTY, KEY, ZERO_ADDRESS, assert_balance_change, register, reverts
from .world import (
    ALGORITHM,
    ALL_CATEGORIES,
    BIDDING,
    BIDS,
    CATEGORIES,
    CATEGORY_ROLES,
    DATA,
    INFRASTRUCTURE,
    MAX_DURATION,
    MAX_PRICE,
    MAX_PRICES,
    MAX_REFERENCES,
    MODEL_HASH,
    PERIODS,
    REASON_HASH,
    REPORT_HASH,
    REQUIREMENTS_HASH,
    SEALED_HASH,
    Status,
    World,
)

DeployTestContract = Callable[..., Contract]
"""The ``deploy_test_contract`` fixture of tests/conftest.py."""
UNKNOWN_ID = 999


# deployment ---------------------------------------------------------------------------------


def test_constructor_sets_registry_and_periods(market: World) -> None:
    # act
    registry = market.house.call("REGISTRY")
    periods = [market.house.call(name) for name in ("DELIVERY_PERIOD", "REVIEW_PERIOD")]

    # assert
    assert registry == market.registry.address
    assert periods == [PERIODS.delivery, PERIODS.review]
    assert market.house.call("ARBITRATION_PERIOD") == PERIODS.arbitration
    assert market.house.call("next_auction_id") == 1


def test_constructor_rejects_the_zero_registry(chain: Chain, accounts: list[LocalAccount]) -> None:
    # act / assert
    with reverts("auction: registry is the zero address"):
        Contract.deploy(chain, "AuctionHouse", ZERO_ADDRESS, 1, 1, 1, sender=accounts[0])


def test_constructor_rejects_a_zero_period(market: World) -> None:
    for periods in [(0, 1, 1), (1, 0, 1), (1, 1, 0)]:
        # act / assert
        with reverts("auction: zero period"):
            Contract.deploy(
                market.chain,
                "AuctionHouse",
                market.registry.address,
                *periods,
                sender=market.deployer,
            )


# create_auction -----------------------------------------------------------------------------


def test_create_locks_the_reserve_and_opens_the_auction(market: World) -> None:
    # prepare
    before = market.chain.balance(market.client.address)

    # act
    result = market.create(min_refs=2)

    # assert
    event = result.event("AuctionCreated")
    auction_id = event["auction_id"]
    deadline = market.chain.timestamp() + BIDDING
    assert auction_id == 1
    assert event.args == {
        "auction_id": 1,
        "client": market.client.address,
        "arbiter": market.arbiter.address,
        "requirements_hash": REQUIREMENTS_HASH,
        "max_prices": list(MAX_PRICES),
        "deadline": deadline,
        "min_refs": 2,
    }
    assert market.balance() == sum(MAX_PRICES)
    assert_balance_change(
        market.chain,
        before,
        market.chain.balance(market.client.address),
        -sum(MAX_PRICES),
        result.gas_used,
    )
    state = market.state(auction_id)
    assert state.client == market.client.address
    assert state.arbiter == market.arbiter.address
    assert state.deadline == deadline
    assert state.min_refs == 2
    assert state.status == Status.OPEN
    assert state.paid_mask == 0
    assert state.requirements_hash == REQUIREMENTS_HASH
    assert state.max_prices == list(MAX_PRICES)
    assert state.bidders == [ZERO_ADDRESS] * 3
    assert state.bids == [0, 0, 0]
    assert (state.model_hash, state.report_hash) == (EMPTY, EMPTY)
    assert market.house.call("next_auction_id") == 2


def test_create_numbers_auctions_from_one(market: World) -> None:
    # act
    ids = [market.open() for _ in range(3)]

    # assert
    assert ids == [1, 2, 3]
    assert market.balance() == 3 * sum(MAX_PRICES)


def test_create_by_a_stranger_reverts(market: World) -> None:
    # act / assert
    with reverts("auction: caller is not a registered client"):
        market.create(sender=market.stranger)


def test_create_by_a_provider_that_is_not_a_client_reverts(market: World) -> None:
    # act / assert
    with reverts("auction: caller is not a registered client"):
        market.create(sender=market.provider(DATA))


def test_create_with_an_unregistered_arbiter_reverts(market: World) -> None:
    # act / assert
    with reverts("auction: arbiter is not a registered arbiter"):
        market.create(arbiter=market.stranger.address)


def test_create_with_a_provider_as_arbiter_reverts(market: World) -> None:
    # act / assert
    with reverts("auction: arbiter is not a registered arbiter"):
        market.create(arbiter=market.provider(INFRASTRUCTURE).address)


def test_create_with_the_zero_address_as_arbiter_reverts(market: World) -> None:
    # act / assert
    with reverts("auction: arbiter is not a registered arbiter"):
        market.create(arbiter=ZERO_ADDRESS)


def test_client_cannot_be_its_own_arbiter(market: World) -> None:
    # prepare: the client is a registered arbiter too, so only the self-check can refuse
    register(market.registry, market.client, Role.CLIENT | Role.ARBITER)

    # act / assert
    with reverts("auction: the client cannot be its own arbiter"):
        market.create(arbiter=market.client.address)


def test_create_with_a_duration_out_of_range_reverts(market: World) -> None:
    for duration in [0, MAX_DURATION + 1]:
        # act / assert
        with reverts("auction: duration out of range"):
            market.create(duration=duration)


def test_create_accepts_the_longest_duration(market: World) -> None:
    # act
    auction_id = market.open(duration=MAX_DURATION)

    # assert
    assert market.state(auction_id).deadline == market.chain.timestamp() + MAX_DURATION


def test_create_requiring_too_many_references_reverts(market: World) -> None:
    # act / assert
    with reverts("auction: too many references required"):
        market.create(min_refs=MAX_REFERENCES + 1)


def test_create_with_an_empty_requirements_hash_reverts(market: World) -> None:
    # act / assert
    with reverts("auction: empty requirements hash"):
        market.create(requirements_hash=EMPTY)


def test_create_with_a_price_out_of_range_reverts(market: World) -> None:
    for category in CATEGORIES:
        for price in [0, MAX_PRICE + 1]:
            # prepare
            prices = list(MAX_PRICES)
            prices[category] = price

            # act / assert
            with reverts("auction: maximum price out of range"):
                market.create(prices, value=0)


def test_create_accepts_the_largest_prices_and_refunds_them_whole(market: World) -> None:
    # prepare: three maximal prices fill the packed storage word
    prices = [MAX_PRICE] * 3
    market.chain.set_balance(market.client.address, 4 * MAX_PRICE)
    auction_id = market.open(prices)
    market.pass_deadline(auction_id)

    # act: nobody bid, the whole reserve goes back
    result = market.house.transact("adjudicate", auction_id, sender=market.stranger)

    # assert
    assert market.state(auction_id).max_prices == prices
    assert result.event("Settled")["refunded"] == 3 * MAX_PRICE
    assert market.owed(market.client) == 3 * MAX_PRICE


def test_create_with_the_wrong_value_reverts(market: World) -> None:
    for value in [sum(MAX_PRICES) - 1, sum(MAX_PRICES) + 1, 0, MAX_PRICES[0]]:
        # act / assert
        with reverts("auction: value must equal the sum of maximum prices"):
            market.create(value=value)
    assert market.balance() == 0


# bid ----------------------------------------------------------------------------------------


def test_first_bid_at_the_maximum_is_accepted(market: World) -> None:
    # prepare
    auction_id = market.open()
    bidder = market.provider(ALGORITHM)

    # act
    result = market.bid(auction_id, ALGORITHM, MAX_PRICES[ALGORITHM], bidder)

    # assert
    assert result.event("BidPlaced").args == {
        "auction_id": auction_id,
        "bidder": bidder.address,
        "category": ALGORITHM,
        "amount": MAX_PRICES[ALGORITHM],
        "references": [],
    }
    state = market.state(auction_id)
    assert state.bidders == [ZERO_ADDRESS, bidder.address, ZERO_ADDRESS]
    assert state.bids == [0, MAX_PRICES[ALGORITHM], 0]


def test_bid_above_the_maximum_reverts(market: World) -> None:
    # prepare
    auction_id = market.open()

    for category in CATEGORIES:
        # act / assert
        with reverts("auction: bid above maximum"):
            market.bid(auction_id, category, MAX_PRICES[category] + 1)
    assert market.state(auction_id).bids == [0, 0, 0]


def test_zero_bid_reverts(market: World) -> None:
    # prepare
    auction_id = market.open()

    # act / assert
    with reverts("auction: bid must be positive"):
        market.bid(auction_id, DATA, 0)


def test_lower_bid_by_a_rival_becomes_the_best(market: World) -> None:
    # prepare
    auction_id = market.open()
    market.bid(auction_id, DATA, BIDS[DATA])
    rival = market.provider(DATA, 1)

    # act
    market.bid(auction_id, DATA, BIDS[DATA] - 1, rival)

    # assert
    state = market.state(auction_id)
    assert (state.bidders[DATA], state.bids[DATA]) == (rival.address, BIDS[DATA] - 1)


def test_bidder_may_lower_its_own_bid(market: World) -> None:
    # prepare
    auction_id = market.open()
    market.bid(auction_id, DATA, BIDS[DATA])

    # act
    market.bid(auction_id, DATA, BIDS[DATA] // 2)

    # assert
    assert market.state(auction_id).bids[DATA] == BIDS[DATA] // 2


def test_rival_bid_equal_to_the_best_reverts(market: World) -> None:
    # prepare
    auction_id = market.open()
    market.bid(auction_id, DATA, BIDS[DATA])

    # act / assert
    with reverts("auction: bid not below the best bid"):
        market.bid(auction_id, DATA, BIDS[DATA], market.provider(DATA, 1))


def test_rebid_equal_to_own_best_reverts(market: World) -> None:
    # prepare
    auction_id = market.open()
    market.bid(auction_id, DATA, BIDS[DATA])

    # act / assert
    with reverts("auction: bid not below the best bid"):
        market.bid(auction_id, DATA, BIDS[DATA])


def test_best_bidder_cannot_raise_its_bid(market: World) -> None:
    # prepare
    auction_id = market.open()
    market.bid(auction_id, DATA, BIDS[DATA])

    # act / assert
    with reverts("auction: bid not below the best bid"):
        market.bid(auction_id, DATA, BIDS[DATA] + 1)
    assert market.state(auction_id).bids[DATA] == BIDS[DATA]


def test_outbid_bidder_cannot_come_back_above_the_best(market: World) -> None:
    # prepare: SAIaaS let a losing bidder raise its price; here it can only undercut
    auction_id = market.open()
    first, rival = market.provider(DATA), market.provider(DATA, 1)
    market.bid(auction_id, DATA, 100, first)
    market.bid(auction_id, DATA, 80, rival)

    # act / assert
    with reverts("auction: bid not below the best bid"):
        market.bid(auction_id, DATA, 90, first)
    state = market.state(auction_id)
    assert (state.bidders[DATA], state.bids[DATA]) == (rival.address, 80)


def test_bid_by_a_non_provider_reverts(market: World) -> None:
    # prepare
    auction_id = market.open()

    for bidder in [market.stranger, market.client, market.arbiter]:
        for category in CATEGORIES:
            # act / assert
            with reverts("auction: bidder is not registered for this category"):
                market.bid(auction_id, category, BIDS[category], bidder)


def test_bid_in_the_wrong_category_reverts(market: World) -> None:
    # prepare
    auction_id = market.open()
    wrong = [(c, other) for c in CATEGORIES for other in CATEGORIES if other != c]

    for registered_for, category in wrong:
        # act / assert
        with reverts("auction: bidder is not registered for this category"):
            market.bid(auction_id, category, BIDS[category], market.provider(registered_for))


def test_provider_with_several_roles_bids_in_each(market: World) -> None:
    # prepare
    auction_id = market.open()
    register(market.registry, market.stranger, Role.DATA_OWNER | Role.COMPUTE_PROVIDER)

    # act
    market.bid(auction_id, DATA, BIDS[DATA], market.stranger)
    market.bid(auction_id, INFRASTRUCTURE, BIDS[INFRASTRUCTURE], market.stranger)

    # assert
    assert market.state(auction_id).bidders[0::2] == [market.stranger.address] * 2


def test_bid_by_a_provider_that_left_the_registry_reverts(market: World) -> None:
    # prepare
    auction_id = market.open()
    market.registry.transact("request_exit", sender=market.provider(DATA))

    # act / assert
    with reverts("auction: bidder is not registered for this category"):
        market.bid(auction_id, DATA, BIDS[DATA])


def test_bid_in_an_unknown_category_reverts(market: World) -> None:
    # prepare
    auction_id = market.open()

    # act / assert
    with reverts("auction: unknown category"):
        market.bid(auction_id, 3, 1, market.provider(DATA))


def test_bid_after_the_deadline_reverts(market: World) -> None:
    # prepare
    auction_id = market.open()
    market.pass_deadline(auction_id)

    # act / assert
    with reverts("auction: bidding closed"):
        market.bid(auction_id, DATA, BIDS[DATA])


def test_bid_after_adjudication_reverts(market: World) -> None:
    # prepare
    auction_id = market.adjudicated()

    # act / assert
    with reverts("auction: not open"):
        market.bid(auction_id, DATA, 1, market.provider(DATA, 1))


# references ---------------------------------------------------------------------------------


def test_too_few_references_reverts(market: World) -> None:
    # prepare
    auction_id = market.open(min_refs=1)

    # act / assert
    with reverts("auction: too few references"):
        market.bid(auction_id, DATA, BIDS[DATA])


def test_valid_reference_is_accepted(market: World) -> None:
    # prepare
    reference = market.confirmed()
    auction_id = market.open(min_refs=1)

    # act
    result = market.bid(auction_id, DATA, BIDS[DATA], references=[reference])

    # assert
    assert result.event("BidPlaced")["references"] == [reference]
    assert market.state(auction_id).bidders[DATA] == market.provider(DATA).address


def test_references_are_checked_even_when_none_are_required(market: World) -> None:
    # prepare
    auction_id = market.open(min_refs=0)

    # act / assert
    with reverts("auction: reference is not a confirmed SLA"):
        market.bid(auction_id, DATA, BIDS[DATA], references=[UNKNOWN_ID])


def test_two_increasing_references_are_accepted(market: World) -> None:
    # prepare
    first, second = market.confirmed(), market.confirmed()
    auction_id = market.open(min_refs=2)

    # act
    market.bid(auction_id, INFRASTRUCTURE, 1, references=[first, second])

    # assert
    assert market.state(auction_id).bids[INFRASTRUCTURE] == 1


def test_reference_to_an_unconfirmed_auction_reverts(market: World) -> None:
    # prepare: the data provider is the best bidder or winner of each of these
    open_id = market.open()
    market.bid_all(open_id)
    references = [open_id, market.adjudicated(), market.delivered(), market.disputed()]
    auction_id = market.open(min_refs=1)

    for reference in references:
        # act / assert
        with reverts("auction: reference is not a confirmed SLA"):
            market.bid(auction_id, DATA, BIDS[DATA], references=[reference])


def test_reference_to_a_refunded_auction_reverts(market: World) -> None:
    # prepare: delivered nothing in time, so the client got its money back
    reference = market.adjudicated()
    market.pass_deadline(reference)
    market.house.transact("claim", reference, sender=market.stranger)
    auction_id = market.open(min_refs=1)

    # act / assert
    with reverts("auction: reference is not a confirmed SLA"):
        market.bid(auction_id, DATA, BIDS[DATA], references=[reference])


def test_reference_to_a_claimed_auction_reverts(market: World) -> None:
    # prepare: paid because the client stayed silent, which is not a confirmation
    reference = market.delivered()
    market.pass_deadline(reference)
    market.house.transact("claim", reference, sender=market.stranger)
    auction_id = market.open(min_refs=1)

    # act / assert
    with reverts("auction: reference is not a confirmed SLA"):
        market.bid(auction_id, DATA, BIDS[DATA], references=[reference])


def test_reference_won_by_someone_else_reverts(market: World) -> None:
    # prepare
    reference = market.confirmed()
    auction_id = market.open(min_refs=1)

    # act / assert
    with reverts("auction: reference was not won by the bidder in this category"):
        market.bid(auction_id, DATA, BIDS[DATA], market.provider(DATA, 1), [reference])


def test_reference_won_in_another_category_reverts(market: World) -> None:
    # prepare: the stranger is both a data and a model owner and won only the data category
    register(market.registry, market.stranger, Role.DATA_OWNER | Role.MODEL_OWNER)
    bidders = market.winners()
    bidders[DATA] = market.stranger
    reference = market.confirmed(bidders)
    auction_id = market.open(min_refs=1)

    # act / assert
    with reverts("auction: reference was not won by the bidder in this category"):
        market.bid(auction_id, ALGORITHM, BIDS[ALGORITHM], market.stranger, [reference])


def test_reference_to_an_unknown_auction_reverts(market: World) -> None:
    # prepare
    auction_id = market.open(min_refs=1)

    # act / assert
    with reverts("auction: reference is not a confirmed SLA"):
        market.bid(auction_id, DATA, BIDS[DATA], references=[UNKNOWN_ID])


def test_reference_to_the_auction_itself_reverts(market: World) -> None:
    # prepare
    auction_id = market.open(min_refs=1)

    # act / assert
    with reverts("auction: reference is not a confirmed SLA"):
        market.bid(auction_id, DATA, BIDS[DATA], references=[auction_id])


def test_reference_zero_reverts(market: World) -> None:
    # prepare
    auction_id = market.open(min_refs=1)

    # act / assert
    with reverts("auction: references must be strictly increasing"):
        market.bid(auction_id, DATA, BIDS[DATA], references=[0])


def test_references_not_strictly_increasing_revert(market: World) -> None:
    # prepare: both are valid references on their own
    first, second = market.confirmed(), market.confirmed()
    auction_id = market.open(min_refs=2)

    for references in [[first, first], [second, first], [first, second, second]]:
        # act / assert: a duplicate cannot fill the minimum either
        with reverts("auction: references must be strictly increasing"):
            market.bid(auction_id, DATA, BIDS[DATA], references=references)


def test_more_references_than_the_maximum_revert(market: World) -> None:
    # prepare: the ABI decoder refuses a list longer than MAX_REFERENCES
    auction_id = market.open()

    # act / assert
    with pytest.raises(ContractRevert):
        market.bid(auction_id, DATA, 1, references=range(1, MAX_REFERENCES + 2))


def test_arbitrated_category_counts_as_a_reference(market: World) -> None:
    # prepare: the arbiter paid the data winner only
    reference = market.arbitrated(paid_mask=1 << DATA)
    auction_id = market.open(min_refs=1)

    # act
    market.bid(auction_id, DATA, BIDS[DATA], references=[reference])

    # assert
    assert market.state(auction_id).bids[DATA] == BIDS[DATA]


def test_unpaid_arbitrated_category_is_not_a_reference(market: World) -> None:
    # prepare
    reference = market.arbitrated(paid_mask=1 << DATA)
    auction_id = market.open(min_refs=1)

    # act / assert
    with reverts("auction: reference is not a confirmed SLA"):
        market.bid(auction_id, ALGORITHM, BIDS[ALGORITHM], references=[reference])


# adjudicate ---------------------------------------------------------------------------------


def test_client_adjudicates_early_once_every_category_has_a_bid(market: World) -> None:
    # prepare
    auction_id = market.open()
    market.bid_all(auction_id)

    # act
    result = market.house.transact("adjudicate", auction_id, sender=market.client)

    # assert
    refund = sum(MAX_PRICES) - sum(BIDS)
    delivery_deadline = market.chain.timestamp() + PERIODS.delivery
    assert result.event("Adjudicated").args == {
        "auction_id": auction_id,
        "caller": market.client.address,
        "winners": [w.address for w in market.winners()],
        "prices": list(BIDS),
        "refund": refund,
        "delivery_deadline": delivery_deadline,
    }
    state = market.state(auction_id)
    assert (state.status, state.deadline) == (Status.ADJUDICATED, delivery_deadline)
    assert market.owed(market.client) == refund
    assert market.balance() == sum(MAX_PRICES)


def test_adjudication_with_bids_at_the_maximum_refunds_nothing(market: World) -> None:
    # act
    auction_id = market.adjudicated(MAX_PRICES)

    # assert
    assert market.state(auction_id).status == Status.ADJUDICATED
    assert market.owed(market.client) == 0


def incomplete_auctions(market: World) -> list[int]:
    """One auction per category, each with a bid in every category but that one."""
    auction_ids = []
    for missing in CATEGORIES:
        auction_id = market.open()
        for category in CATEGORIES:
            if category != missing:
                market.bid(auction_id, category, BIDS[category])
        auction_ids.append(auction_id)
    return auction_ids


def test_client_cannot_adjudicate_early_with_a_category_missing(market: World) -> None:
    # prepare
    auction_ids = incomplete_auctions(market)

    for auction_id in auction_ids:
        # act / assert
        with reverts("auction: a category has no bid yet"):
            market.house.transact("adjudicate", auction_id, sender=market.client)


def test_only_the_client_adjudicates_before_the_deadline(market: World) -> None:
    # prepare
    auction_id = market.open()
    market.bid_all(auction_id)

    for caller in [market.stranger, market.arbiter, market.provider(DATA)]:
        # act / assert
        with reverts("auction: only the client may adjudicate before the deadline"):
            market.house.transact("adjudicate", auction_id, sender=caller)
    assert market.state(auction_id).status == Status.OPEN


def test_anyone_adjudicates_after_the_deadline(market: World) -> None:
    # prepare
    auction_id = market.open()
    market.bid_all(auction_id)
    market.pass_deadline(auction_id)

    # act
    result = market.house.transact("adjudicate", auction_id, sender=market.stranger)

    # assert
    assert result.event("Adjudicated")["caller"] == market.stranger.address
    assert market.state(auction_id).status == Status.ADJUDICATED
    assert market.owed(market.client) == sum(MAX_PRICES) - sum(BIDS)


def test_adjudication_after_the_deadline_with_a_category_missing_refunds_the_reserve(
    market: World,
) -> None:
    # prepare
    auction_ids = incomplete_auctions(market)
    market.pass_deadline(auction_ids[-1])

    for count, auction_id in enumerate(auction_ids, start=1):
        # act
        result = market.house.transact("adjudicate", auction_id, sender=market.stranger)

        # assert
        assert result.event("Settled").args == {
            "auction_id": auction_id,
            "caller": market.stranger.address,
            "status": Status.REFUNDED,
            "paid": 0,
            "refunded": sum(MAX_PRICES),
        }
        assert market.state(auction_id).status == Status.REFUNDED
        assert market.owed(market.client) == count * sum(MAX_PRICES)
    assert all(market.owed(w) == 0 for w in market.winners())
    assert market.balance() == market.owed(market.client)


def test_adjudication_after_the_deadline_without_bids_refunds_the_client(market: World) -> None:
    # prepare
    auction_id = market.open()
    market.pass_deadline(auction_id)

    # act
    market.house.transact("adjudicate", auction_id, sender=market.client)

    # assert
    assert market.state(auction_id).status == Status.REFUNDED
    assert market.owed(market.client) == sum(MAX_PRICES)


def test_adjudicating_twice_reverts(market: World) -> None:
    # prepare
    auction_id = market.adjudicated()

    # act / assert
    with reverts("auction: not open"):
        market.house.transact("adjudicate", auction_id, sender=market.client)


# hand_over ----------------------------------------------------------------------------------


def test_winners_hand_their_assets_to_the_executor(market: World) -> None:
    # prepare
    auction_id = market.adjudicated()
    asset, sealed = MODEL_HASH, REPORT_HASH

    for category in [DATA, ALGORITHM]:
        # act
        result = market.house.transact(
            "hand_over", auction_id, category, asset, sealed, sender=market.provider(category)
        )

        # assert
        assert result.event("AssetHandedOver").args == {
            "auction_id": auction_id,
            "provider": market.provider(category).address,
            "executor": market.provider(INFRASTRUCTURE).address,
            "category": category,
            "asset_hash": asset,
            "sealed_hash": sealed,
        }
    assert market.state(auction_id).status == Status.ADJUDICATED


def test_hand_over_of_infrastructure_reverts(market: World) -> None:
    # prepare
    auction_id = market.adjudicated()

    # act / assert
    with reverts("auction: only data and algorithm are handed over"):
        market.house.transact(
            "hand_over",
            auction_id,
            INFRASTRUCTURE,
            MODEL_HASH,
            REPORT_HASH,
            sender=market.provider(INFRASTRUCTURE),
        )


def test_hand_over_by_someone_else_than_the_winner_reverts(market: World) -> None:
    # prepare
    auction_id = market.adjudicated()
    others = [market.provider(DATA, 1), market.provider(ALGORITHM), market.stranger]

    for sender in others:
        # act / assert
        with reverts("auction: only the category's winner hands over"):
            market.house.transact(
                "hand_over", auction_id, DATA, MODEL_HASH, REPORT_HASH, sender=sender
            )


def test_hand_over_with_an_empty_hash_reverts(market: World) -> None:
    # prepare
    auction_id = market.adjudicated()

    for asset, sealed in [(EMPTY, REPORT_HASH), (MODEL_HASH, EMPTY)]:
        # act / assert
        with reverts("auction: empty hash"):
            market.house.transact(
                "hand_over", auction_id, DATA, asset, sealed, sender=market.provider(DATA)
            )


def test_hand_over_outside_delivery_reverts(market: World) -> None:
    # prepare
    auction_id = market.delivered()

    # act / assert
    with reverts("auction: not waiting for delivery"):
        market.house.transact(
            "hand_over", auction_id, DATA, MODEL_HASH, REPORT_HASH, sender=market.provider(DATA)
        )


# deliver ------------------------------------------------------------------------------------


def test_infrastructure_winner_delivers(market: World) -> None:
    # prepare
    auction_id = market.adjudicated()

    # act
    result = market.deliver(auction_id)

    # assert
    review_deadline = market.chain.timestamp() + PERIODS.review
    assert result.event("Delivered").args == {
        "auction_id": auction_id,
        "executor": market.provider(INFRASTRUCTURE).address,
        "model_hash": MODEL_HASH,
        "report_hash": REPORT_HASH,
        "sealed_hash": SEALED_HASH,
        "review_deadline": review_deadline,
    }
    state = market.state(auction_id)
    assert (state.status, state.deadline) == (Status.DELIVERED, review_deadline)
    assert (state.model_hash, state.report_hash) == (MODEL_HASH, REPORT_HASH)


def test_deliver_by_anyone_but_the_infrastructure_winner_reverts(market: World) -> None:
    # prepare: the losing infrastructure provider bid first
    auction_id = market.open()
    loser = market.provider(INFRASTRUCTURE, 1)
    market.bid(auction_id, INFRASTRUCTURE, MAX_PRICES[INFRASTRUCTURE], loser)
    market.bid_all(auction_id)
    market.house.transact("adjudicate", auction_id, sender=market.client)
    others = [market.provider(DATA), market.provider(ALGORITHM), loser, market.client]

    for sender in others:
        # act / assert
        with reverts("auction: only the infrastructure winner delivers"):
            market.deliver(auction_id, sender)
    assert market.state(auction_id).status == Status.ADJUDICATED


def test_deliver_after_the_delivery_deadline_reverts(market: World) -> None:
    # prepare
    auction_id = market.adjudicated()
    market.pass_deadline(auction_id)

    # act / assert
    with reverts("auction: delivery deadline passed"):
        market.deliver(auction_id)


def test_deliver_before_adjudication_reverts(market: World) -> None:
    # prepare
    auction_id = market.open()
    market.bid_all(auction_id)

    # act / assert
    with reverts("auction: not waiting for delivery"):
        market.deliver(auction_id)


def test_delivering_twice_reverts(market: World) -> None:
    # prepare
    auction_id = market.delivered()

    # act / assert
    with reverts("auction: not waiting for delivery"):
        market.deliver(auction_id)


def test_deliver_with_an_empty_hash_reverts(market: World) -> None:
    # prepare
    auction_id = market.adjudicated()

    for model, report, sealed in [
        (EMPTY, REPORT_HASH, SEALED_HASH),
        (MODEL_HASH, EMPTY, SEALED_HASH),
        (MODEL_HASH, REPORT_HASH, EMPTY),
    ]:
        # act / assert
        with reverts("auction: empty hash"):
            market.house.transact(
                "deliver",
                auction_id,
                model,
                report,
                sealed,
                sender=market.provider(INFRASTRUCTURE),
            )


# confirm / reject ---------------------------------------------------------------------------


def test_client_confirms_and_every_winner_is_owed_its_bid(market: World) -> None:
    # prepare
    auction_id = market.delivered()
    refund = sum(MAX_PRICES) - sum(BIDS)

    # act
    result = market.house.transact("confirm", auction_id, sender=market.client)

    # assert
    assert result.event("Confirmed").args == {
        "auction_id": auction_id,
        "client": market.client.address,
    }
    assert result.event("Settled").args == {
        "auction_id": auction_id,
        "caller": market.client.address,
        "status": Status.CONFIRMED,
        "paid": sum(BIDS),
        "refunded": 0,
    }
    state = market.state(auction_id)
    assert (state.status, state.paid_mask) == (Status.CONFIRMED, ALL_CATEGORIES)
    assert [market.owed(w) for w in market.winners()] == list(BIDS)
    assert market.owed(market.client) == refund
    assert market.balance() == sum(MAX_PRICES)


def test_confirming_twice_reverts(market: World) -> None:
    # prepare
    auction_id = market.confirmed()

    # act / assert
    with reverts("auction: nothing delivered to confirm"):
        market.house.transact("confirm", auction_id, sender=market.client)
    assert [market.owed(w) for w in market.winners()] == list(BIDS)


def test_confirm_before_delivery_reverts(market: World) -> None:
    # prepare
    auction_id = market.adjudicated()

    # act / assert
    with reverts("auction: nothing delivered to confirm"):
        market.house.transact("confirm", auction_id, sender=market.client)


def test_confirm_by_a_non_client_reverts(market: World) -> None:
    # prepare
    auction_id = market.delivered()

    for sender in [market.stranger, market.arbiter, market.provider(INFRASTRUCTURE)]:
        # act / assert
        with reverts("auction: only the client confirms"):
            market.house.transact("confirm", auction_id, sender=sender)
    assert market.state(auction_id).status == Status.DELIVERED


def test_client_rejects_and_the_arbiter_is_called(market: World) -> None:
    # prepare
    auction_id = market.delivered()

    # act
    result = market.house.transact("reject", auction_id, REASON_HASH, sender=market.client)

    # assert
    arbitration_deadline = market.chain.timestamp() + PERIODS.arbitration
    assert result.event("Rejected").args == {
        "auction_id": auction_id,
        "client": market.client.address,
        "arbiter": market.arbiter.address,
        "reason_hash": REASON_HASH,
        "arbitration_deadline": arbitration_deadline,
    }
    state = market.state(auction_id)
    assert (state.status, state.deadline) == (Status.DISPUTED, arbitration_deadline)
    assert all(market.owed(w) == 0 for w in market.winners())


def test_reject_by_a_non_client_reverts(market: World) -> None:
    # prepare
    auction_id = market.delivered()

    for sender in [market.stranger, market.arbiter, market.provider(INFRASTRUCTURE)]:
        # act / assert
        with reverts("auction: only the client rejects"):
            market.house.transact("reject", auction_id, REASON_HASH, sender=sender)
    assert market.state(auction_id).status == Status.DELIVERED


def test_reject_after_the_review_deadline_reverts(market: World) -> None:
    # prepare
    auction_id = market.delivered()
    market.pass_deadline(auction_id)

    # act / assert
    with reverts("auction: review deadline passed"):
        market.house.transact("reject", auction_id, REASON_HASH, sender=market.client)


def test_reject_without_a_pending_delivery_reverts(market: World) -> None:
    # prepare
    auction_ids = [market.adjudicated(), market.confirmed(), market.disputed()]

    for auction_id in auction_ids:
        # act / assert
        with reverts("auction: nothing delivered to reject"):
            market.house.transact("reject", auction_id, REASON_HASH, sender=market.client)


def test_confirm_after_rejecting_reverts(market: World) -> None:
    # prepare
    auction_id = market.disputed()

    # act / assert
    with reverts("auction: nothing delivered to confirm"):
        market.house.transact("confirm", auction_id, sender=market.client)


# arbitrate ----------------------------------------------------------------------------------


def test_arbiter_pays_the_categories_in_the_mask_and_refunds_the_rest(market: World) -> None:
    for paid_mask in range(ALL_CATEGORIES + 1):
        # prepare
        auction_id = market.disputed()
        payees = [*market.winners(), market.client]
        owed_before = [market.owed(p) for p in payees]

        # act
        result = market.house.transact("arbitrate", auction_id, paid_mask, sender=market.arbiter)

        # assert
        paid = [BIDS[c] if paid_mask & (1 << c) else 0 for c in CATEGORIES]
        refunded = sum(BIDS) - sum(paid)
        assert result.event("Arbitrated").args == {
            "auction_id": auction_id,
            "arbiter": market.arbiter.address,
            "paid_mask": paid_mask,
        }
        settled = result.event("Settled")
        assert (settled["status"], settled["paid"]) == (Status.ARBITRATED, sum(paid))
        assert settled["refunded"] == refunded
        state = market.state(auction_id)
        assert (state.status, state.paid_mask) == (Status.ARBITRATED, paid_mask)
        owed_now = [market.owed(p) for p in payees]
        gained = [now - before for now, before in zip(owed_now, owed_before, strict=True)]
        assert gained == [*paid, refunded]


def test_arbitrate_by_anyone_but_the_named_arbiter_reverts(market: World) -> None:
    # prepare: the stranger becomes an arbiter too, just not this auction's
    auction_id = market.disputed()
    register(market.registry, market.stranger, Role.ARBITER)
    others = [
        market.client,
        market.stranger,
        market.provider(DATA, 1),
        market.provider(INFRASTRUCTURE),
    ]

    for sender in others:
        # act / assert
        with reverts("auction: only the named arbiter decides"):
            market.house.transact("arbitrate", auction_id, ALL_CATEGORIES, sender=sender)
    assert market.state(auction_id).status == Status.DISPUTED


def test_arbitrate_with_a_bad_mask_reverts(market: World) -> None:
    # prepare
    auction_id = market.disputed()

    # act / assert
    with reverts("auction: bad category mask"):
        market.house.transact("arbitrate", auction_id, ALL_CATEGORIES + 1, sender=market.arbiter)


def test_arbitrate_without_a_dispute_reverts(market: World) -> None:
    # prepare
    auction_ids = [market.adjudicated(), market.delivered(), market.confirmed()]

    for auction_id in auction_ids:
        # act / assert
        with reverts("auction: no dispute to decide"):
            market.house.transact("arbitrate", auction_id, ALL_CATEGORIES, sender=market.arbiter)


def test_arbitrating_twice_reverts(market: World) -> None:
    # prepare
    auction_id = market.arbitrated(paid_mask=0)

    # act / assert
    with reverts("auction: no dispute to decide"):
        market.house.transact("arbitrate", auction_id, ALL_CATEGORIES, sender=market.arbiter)


def test_arbitrate_after_the_arbitration_deadline_reverts(market: World) -> None:
    # prepare
    auction_id = market.disputed()
    market.pass_deadline(auction_id)

    # act / assert
    with reverts("auction: arbitration deadline passed"):
        market.house.transact("arbitrate", auction_id, ALL_CATEGORIES, sender=market.arbiter)


# claim --------------------------------------------------------------------------------------


def test_claim_before_each_deadline_reverts(market: World) -> None:
    # prepare: waiting for delivery, for review and for the arbiter
    auction_ids = [market.adjudicated(), market.delivered(), market.disputed()]

    for auction_id in auction_ids:
        # act / assert
        with reverts("auction: deadline not reached"):
            market.house.transact("claim", auction_id, sender=market.stranger)


def test_claim_after_the_review_deadline_pays_the_winners(market: World) -> None:
    # prepare: the client stays silent
    auction_id = market.delivered()
    market.pass_deadline(auction_id)

    # act
    result = market.house.transact("claim", auction_id, sender=market.provider(DATA))

    # assert
    assert result.event("Settled").args == {
        "auction_id": auction_id,
        "caller": market.provider(DATA).address,
        "status": Status.CLAIMED,
        "paid": sum(BIDS),
        "refunded": 0,
    }
    assert market.state(auction_id).status == Status.CLAIMED
    assert [market.owed(w) for w in market.winners()] == list(BIDS)
    assert market.owed(market.client) == sum(MAX_PRICES) - sum(BIDS)


def test_claim_after_the_delivery_deadline_without_delivery_refunds_the_client(
    market: World,
) -> None:
    # prepare
    auction_id = market.adjudicated()
    market.pass_deadline(auction_id)

    # act
    result = market.house.transact("claim", auction_id, sender=market.stranger)

    # assert
    settled = result.event("Settled")
    assert (settled["status"], settled["paid"], settled["refunded"]) == (
        Status.REFUNDED,
        0,
        sum(BIDS),
    )
    assert market.state(auction_id).status == Status.REFUNDED
    assert market.owed(market.client) == sum(MAX_PRICES)
    assert all(market.owed(w) == 0 for w in market.winners())


def test_silent_arbiter_lets_the_client_claim_a_refund(market: World) -> None:
    # prepare
    auction_id = market.disputed()
    market.pass_deadline(auction_id)

    # act
    result = market.house.transact("claim", auction_id, sender=market.client)

    # assert
    settled = result.event("Settled")
    assert (settled["status"], settled["refunded"]) == (Status.REFUNDED, sum(BIDS))
    assert market.state(auction_id).status == Status.REFUNDED
    assert market.owed(market.client) == sum(MAX_PRICES)
    assert all(market.owed(w) == 0 for w in market.winners())


def test_claim_with_nothing_pending_reverts(market: World) -> None:
    # prepare: one auction per status that has nothing left to claim, all deadlines passed
    open_id = market.open()
    confirmed = market.confirmed()
    arbitrated = market.arbitrated(paid_mask=ALL_CATEGORIES)
    claimed, refunded = market.delivered(), market.adjudicated()
    market.pass_deadline(refunded)  # the later of the two deadlines
    market.house.transact("claim", claimed, sender=market.stranger)
    market.house.transact("claim", refunded, sender=market.stranger)
    market.chain.time_travel(PERIODS.arbitration)

    for auction_id in [open_id, confirmed, arbitrated, claimed, refunded]:
        # act / assert
        with reverts("auction: nothing to claim"):
            market.house.transact("claim", auction_id, sender=market.stranger)


def test_confirm_after_a_claim_reverts(market: World) -> None:
    # prepare
    auction_id = market.delivered()
    market.pass_deadline(auction_id)
    market.house.transact("claim", auction_id, sender=market.stranger)

    # act / assert
    with reverts("auction: nothing delivered to confirm"):
        market.house.transact("confirm", auction_id, sender=market.client)


# unknown auctions ---------------------------------------------------------------------------


UNKNOWN_AUCTION_CALLS: list[tuple[str, tuple[object, ...]]] = [
    ("bid", (DATA, 1, [])),
    ("adjudicate", ()),
    ("hand_over", (DATA, MODEL_HASH, REPORT_HASH)),
    ("deliver", (MODEL_HASH, REPORT_HASH, SEALED_HASH)),
    ("confirm", ()),
    ("reject", (REASON_HASH,)),
    ("arbitrate", (ALL_CATEGORIES,)),
    ("claim", ()),
]


@pytest.mark.parametrize("auction_id", [0, 2, UNKNOWN_ID])
def test_unknown_auction_reverts(market: World, auction_id: int) -> None:
    # prepare: auction 1 exists, not this one
    market.open()

    # act / assert
    with reverts("auction: unknown auction"):
        market.house.call("auction", auction_id)
    for fn, args in UNKNOWN_AUCTION_CALLS:
        with reverts("auction: unknown auction"):
            market.house.transact(fn, auction_id, *args, sender=market.provider(DATA))


# withdraw -----------------------------------------------------------------------------------


def test_withdraw_pays_each_winner_and_the_client_what_it_is_owed(market: World) -> None:
    # prepare
    market.confirmed()
    payees = [*market.winners(), market.client]
    amounts = [*BIDS, sum(MAX_PRICES) - sum(BIDS)]

    for payee, amount in zip(payees, amounts, strict=True):
        house_before = market.balance()
        before = market.chain.balance(payee.address)

        # act
        result = market.house.transact("withdraw", sender=payee)

        # assert
        assert result.event("Withdrawn").args == {"account": payee.address, "amount": amount}
        assert market.owed(payee) == 0
        assert market.balance() == house_before - amount
        after = market.chain.balance(payee.address)
        assert_balance_change(market.chain, before, after, amount, result.gas_used)
    assert market.balance() == 0


def test_withdrawing_twice_reverts(market: World) -> None:
    # prepare
    market.confirmed()
    market.house.transact("withdraw", sender=market.provider(DATA))

    # act / assert
    with reverts("escrow: nothing to withdraw"):
        market.house.transact("withdraw", sender=market.provider(DATA))


def test_withdraw_with_nothing_owed_reverts(market: World) -> None:
    # prepare: money is locked, but none of it is owed to the stranger
    market.delivered()

    # act / assert
    with reverts("escrow: nothing to withdraw"):
        market.house.transact("withdraw", sender=market.stranger)


def test_withdraw_sums_what_is_owed_from_several_auctions(market: World) -> None:
    # prepare
    market.confirmed()
    market.confirmed()
    winner = market.provider(INFRASTRUCTURE)

    # act
    result = market.house.transact("withdraw", sender=winner)

    # assert
    assert result.event("Withdrawn")["amount"] == 2 * BIDS[INFRASTRUCTURE]
    assert market.owed(winner) == 0


# reentrancy ---------------------------------------------------------------------------------


def deploy_attacker(
    market: World, deploy_test_contract: DeployTestContract, propagate: bool
) -> Contract:
    """Deploy the generic Reentrant.vy, registered as a data owner and armed to re-enter
    ``withdraw`` when paid (``propagate``: its failure reverts the payment)."""
    attacker = deploy_test_contract("Reentrant", sender=market.deployer)
    register_call = market.registry.abi.encode_call("register", [int(Role.DATA_OWNER), KEY])
    attacker.transact("execute", market.registry.address, register_call, sender=market.deployer)
    withdraw_call = market.house.abi.encode_call("withdraw", [])
    attacker.transact("arm", market.house.address, withdraw_call, propagate, sender=market.deployer)
    return attacker


def attacker_acts(market: World, attacker: Contract, fn: str, *args: object) -> None:
    """The attacker calls the auction house's ``fn``."""
    data = market.house.abi.encode_call(fn, args)
    attacker.transact("execute", market.house.address, data, sender=market.deployer)


def attacker_wins(market: World, attacker: Contract) -> int:
    """A confirmed auction whose data category the attacker won; returns its payment."""
    auction_id = market.open()
    attacker_acts(market, attacker, "bid", auction_id, DATA, BIDS[DATA], [])
    market.bid(auction_id, ALGORITHM, BIDS[ALGORITHM])
    market.bid(auction_id, INFRASTRUCTURE, BIDS[INFRASTRUCTURE])
    market.house.transact("adjudicate", auction_id, sender=market.client)
    market.deliver(auction_id)
    market.house.transact("confirm", auction_id, sender=market.client)
    return BIDS[DATA]


def test_reentrant_withdraw_reverts_the_whole_withdrawal(
    market: World, deploy_test_contract: DeployTestContract
) -> None:
    # prepare: the attacker lets the failure of its re-entry propagate
    attacker = deploy_attacker(market, deploy_test_contract, propagate=True)
    amount = attacker_wins(market, attacker)
    house_before = market.balance()

    # act / assert: the re-entry hits the reentrancy lock, which reverts without a reason
    # (past the lock, it would find nothing owed: "escrow: nothing to withdraw")
    with reverts(""):
        attacker_acts(market, attacker, "withdraw")
    assert market.owed(attacker.address) == amount
    assert market.balance() == house_before
    assert market.chain.balance(attacker.address) == 0
    assert attacker.call("payments") == 0


def test_reentrant_withdraw_pays_the_attacker_only_once(
    market: World, deploy_test_contract: DeployTestContract
) -> None:
    # prepare: the attacker swallows the failure of its re-entry and keeps the first payment
    attacker = deploy_attacker(market, deploy_test_contract, propagate=False)
    amount = attacker_wins(market, attacker)
    house_before = market.balance()

    # act
    attacker_acts(market, attacker, "withdraw")

    # assert
    assert attacker.call("reentered") is True
    assert attacker.call("reentry_succeeded") is False
    assert attacker.call("payments") == 1
    assert market.chain.balance(attacker.address) == amount
    assert market.balance() == house_before - amount
    assert market.owed(attacker.address) == 0
    with reverts("escrow: nothing to withdraw"):
        attacker_acts(market, attacker, "withdraw")


def test_attacker_contract_bids_like_any_provider(
    market: World, deploy_test_contract: DeployTestContract
) -> None:
    # prepare
    attacker = deploy_attacker(market, deploy_test_contract, propagate=False)
    auction_id = market.open()

    # act
    attacker_acts(market, attacker, "bid", auction_id, DATA, BIDS[DATA], [])

    # assert
    assert market.registry.call("has_role", attacker.address, int(CATEGORY_ROLES[DATA]))
    assert market.state(auction_id).bidders[DATA] == attacker.address
