"""ModelMarket.vy, posting a request: deployment, every input rule, the event, the view."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest

from mercato.chain.contract import Contract
from mercato.protocols.modelmarket.limits import (
    MAX_AMOUNT,
    MAX_EXECUTORS,
    MAX_GROUPS,
    MAX_PERIOD,
    MAX_POINTS,
    MAX_SAMPLE,
    MAX_WINNERS,
    MIN_GROUPS,
    SCORE_SCALE,
)
from mercato.protocols.modelmarket.views import RequestStatus
from mercato.protocols.roles import Role

from ..world import EMPTY, ZERO_ADDRESS, reverts
from .world import (
    BOND,
    ESCROWED,
    EXECUTOR_FEE,
    EXECUTOR_STAKE,
    EXECUTORS,
    GROUPS,
    PERIODS,
    SAMPLE,
    SCHEDULE,
    SELLER_STAKE,
    TASK_HASH,
    TOP_PRICE,
    K,
    World,
    new_model,
)

UNKNOWN_ID = 999
PERIOD_NAMES = ("sample", "submit", "commit", "reveal", "key", "complaint")


def post_raw(world: World, scores: list[int], prices: list[int], value: int = 0) -> None:
    """post_request with the schedule's scores and prices as separate lists."""
    world.contract.transact(
        "post_request",
        TASK_HASH,
        world.fresh(b"root"),
        GROUPS,
        SAMPLE,
        scores,
        prices,
        K,
        EXECUTORS,
        SELLER_STAKE,
        EXECUTOR_STAKE,
        EXECUTOR_FEE,
        BOND,
        PERIODS.as_tuple(),
        sender=world.buyer,
        value=value,
    )


# deployment ---------------------------------------------------------------------------------


def test_deploy_without_a_registry_reverts(world: World) -> None:
    # act / assert
    with reverts("modelmarket: registry is the zero address"):
        Contract.deploy(world.chain, "ModelMarket", ZERO_ADDRESS, sender=world.buyer)


def test_a_fresh_market_has_no_requests(world: World) -> None:
    # act / assert
    assert world.market.next_request_id() == 1
    assert world.contract.call("REGISTRY") == world.registry.address
    with reverts("modelmarket: unknown request"):
        world.state(1)
    assert world.balance() == 0


# post_request: success ----------------------------------------------------------------------


def test_post_request_locks_the_budget_fees_and_bond_and_logs_the_terms(world: World) -> None:
    # prepare
    buyer_before = world.balance(world.buyer)
    test_set_root = world.fresh(b"root")

    # act
    request_id, result = world.market.post_request(
        world.buyer,
        task_hash=TASK_HASH,
        test_root=test_set_root,
        groups=GROUPS,
        sample=SAMPLE,
        schedule=SCHEDULE,
        k=K,
        executors=EXECUTORS,
        seller_stake=SELLER_STAKE,
        executor_stake=EXECUTOR_STAKE,
        executor_fee=EXECUTOR_FEE,
        bond=BOND,
        periods=PERIODS,
    )

    # assert
    posted_at, block = world.chain.timestamp(), world.chain.block_number()
    assert request_id == 1
    assert ESCROWED == 2 * 3 * 10**16 + 3 * 10**14 + 4 * 10**15
    assert result.event("RequestPosted").args == {
        "request_id": 1,
        "buyer": world.buyer.address,
        "task_hash": TASK_HASH,
        "test_root": test_set_root,
        "groups": GROUPS,
        "sample": SAMPLE,
        "k": K,
        "executors": EXECUTORS,
        "schedule_scores": [500_000, 800_000, 900_000],
        "schedule_prices": [10**16, 2 * 10**16, 3 * 10**16],
        "seller_stake": SELLER_STAKE,
        "executor_stake": EXECUTOR_STAKE,
        "executor_fee": EXECUTOR_FEE,
        "bond": BOND,
        "escrowed": ESCROWED,
        "sample_deadline": posted_at + PERIODS.sample,
        "target_block": block,
    }
    request = world.state(request_id)
    assert (request.buyer, request.test_root, request.k, request.executors) == (
        world.buyer.address,
        test_set_root,
        K,
        EXECUTORS,
    )
    assert (request.groups, request.sample, request.top_price, request.min_score) == (
        GROUPS,
        SAMPLE,
        TOP_PRICE,
        500_000,
    )
    assert (request.seller_stake, request.executor_stake) == (SELLER_STAKE, EXECUTOR_STAKE)
    assert (request.executor_fee, request.bond) == (EXECUTOR_FEE, BOND)
    assert (
        request.sample_period,
        request.submit_period,
        request.commit_period,
        request.reveal_period,
        request.key_period,
        request.complaint_period,
    ) == PERIODS.as_tuple()
    assert (request.status, request.deadline, request.target_block) == (
        RequestStatus.SAMPLING,
        posted_at + PERIODS.sample,
        block,
    )
    assert (request.sellers, request.volunteers, request.drawn) == (0, 0, 0)
    assert (request.committed, request.revealed, request.unsettled) == (0, 0, 0)
    assert (request.locked, request.escrowed, request.sample_seed) == (ESCROWED, ESCROWED, EMPTY)
    assert world.balance() == ESCROWED
    assert world.balance(world.buyer) == buyer_before - ESCROWED
    assert world.market.next_request_id() == 2


def test_request_ids_count_up_and_escrows_add_up(world: World) -> None:
    # act
    first = world.posted()
    second = world.posted(k=1, executors=1, bond=0, executor_fee=0)

    # assert
    assert (first, second) == (1, 2)
    assert world.state(second).locked == TOP_PRICE
    assert world.balance() == ESCROWED + TOP_PRICE
    assert world.market.count() == 2


def test_post_request_at_every_upper_limit(world: World) -> None:
    # prepare: eight points, the last at a score of 1,000,000 and a price of 2**128 - 1
    world.chain.set_balance(world.buyer.address, 20 * MAX_AMOUNT)
    scores = [SCORE_SCALE - MAX_POINTS + 1 + i for i in range(MAX_POINTS)]
    prices = [MAX_AMOUNT - MAX_POINTS + 1 + i for i in range(MAX_POINTS)]
    periods = replace(PERIODS, **dict.fromkeys(PERIOD_NAMES, MAX_PERIOD))

    # act
    request_id = world.posted(
        groups=MAX_GROUPS,
        sample=MAX_SAMPLE,
        schedule=list(zip(scores, prices, strict=True)),
        k=MAX_WINNERS,
        executors=MAX_EXECUTORS,
        seller_stake=MAX_AMOUNT,
        executor_stake=MAX_AMOUNT,
        executor_fee=MAX_AMOUNT,
        bond=MAX_AMOUNT,
        periods=periods,
    )

    # assert: nothing spilled over from a price into its packed score
    request = world.state(request_id)
    escrowed = MAX_WINNERS * MAX_AMOUNT + MAX_EXECUTORS * MAX_AMOUNT + MAX_AMOUNT
    assert (request.groups, request.sample, request.k, request.executors) == (
        MAX_GROUPS,
        MAX_SAMPLE,
        MAX_WINNERS,
        MAX_EXECUTORS,
    )
    assert (request.top_price, request.min_score, request.locked) == (
        MAX_AMOUNT,
        scores[0],
        escrowed,
    )
    assert (request.seller_stake, request.executor_stake, request.executor_fee, request.bond) == (
        MAX_AMOUNT,
        MAX_AMOUNT,
        MAX_AMOUNT,
        MAX_AMOUNT,
    )
    assert request.deadline == world.chain.timestamp() + MAX_PERIOD
    assert request.complaint_period == MAX_PERIOD
    for score, price in zip(scores, prices, strict=True):
        assert world.market.price_for(request_id, score) == price
    assert world.market.price_for(request_id, scores[0] - 1) == 0


def test_post_request_at_every_lower_limit(world: World) -> None:
    # act: 32 groups, a sample of a quarter of them, one point at score 0, nothing staked
    # (the largest sample fits the smallest test set: "sample * 4 <= groups" always holds
    # once "groups >= 32" and "sample <= 8" do, so no input is refused by it alone)
    request_id = world.posted(
        groups=MIN_GROUPS,
        sample=MIN_GROUPS // 4,
        schedule=[(0, 1)],
        k=1,
        executors=1,
        seller_stake=0,
        executor_stake=0,
        executor_fee=0,
        bond=0,
        periods=replace(PERIODS, **dict.fromkeys(PERIOD_NAMES, 1)),
    )

    # assert
    request = world.state(request_id)
    assert (request.groups, request.sample, request.min_score, request.locked) == (32, 8, 0, 1)
    assert world.market.price_for(request_id, 0) == 1


def test_post_request_accepts_equal_prices(world: World) -> None:
    # act
    request_id = world.posted(schedule=[(500_000, 7), (600_000, 7)])

    # assert
    assert world.state(request_id).top_price == 7
    assert world.market.price_for(request_id, 599_999) == 7


# post_request: reverts ----------------------------------------------------------------------


def test_post_request_by_a_non_client_reverts(world: World) -> None:
    for sender in [world.sellers[0], world.executors[0], world.stranger]:
        # act / assert
        with reverts("modelmarket: caller is not a registered client"):
            world.post(sender=sender)
    assert world.balance() == 0


def test_post_request_by_a_client_that_also_sells_is_accepted(world: World) -> None:
    # prepare
    (client,) = world.crowd(1, Role.CLIENT | Role.MODEL_OWNER)

    # act
    request_id = world.posted(sender=client)

    # assert
    assert world.state(request_id).buyer == client.address


def test_post_request_with_an_empty_hash_reverts(world: World) -> None:
    empty: list[dict[str, Any]] = [{"task_hash": EMPTY}, {"test_root": EMPTY}]
    for options in empty:
        # act / assert
        with reverts("modelmarket: empty hash"):
            world.post(**options)


@pytest.mark.parametrize("groups", [0, 1, MIN_GROUPS - 1, MAX_GROUPS + 1, 2**255])
def test_post_request_with_groups_out_of_range_reverts(world: World, groups: int) -> None:
    # act / assert
    with reverts("modelmarket: groups out of range"):
        world.post(groups=groups, sample=1)


@pytest.mark.parametrize(("groups", "sample"), [(GROUPS, 0), (GROUPS, MAX_SAMPLE + 1), (1000, 9)])
def test_post_request_with_sample_out_of_range_reverts(
    world: World, groups: int, sample: int
) -> None:
    # act / assert
    with reverts("modelmarket: sample out of range"):
        world.post(groups=groups, sample=sample)


@pytest.mark.parametrize("k", [0, MAX_WINNERS + 1])
def test_post_request_with_k_out_of_range_reverts(world: World, k: int) -> None:
    # act / assert
    with reverts("modelmarket: k out of range"):
        world.post(k=k)


@pytest.mark.parametrize("executors", [0, MAX_EXECUTORS + 1])
def test_post_request_with_executors_out_of_range_reverts(world: World, executors: int) -> None:
    # act / assert
    with reverts("modelmarket: executors out of range"):
        world.post(executors=executors)


def test_post_request_with_no_schedule_or_a_price_missing_reverts(world: World) -> None:
    for scores, prices in [([], []), ([500_000], []), ([], [1]), ([1, 2], [5]), ([1], [5, 6])]:
        # act / assert
        with reverts("modelmarket: one price per schedule score"):
            post_raw(world, scores, prices)
    assert world.balance() == 0


def test_post_request_with_a_score_above_one_million_reverts(world: World) -> None:
    for schedule in [[(SCORE_SCALE + 1, 1)], [(500_000, 1), (SCORE_SCALE + 1, 2)]]:
        # act / assert
        with reverts("modelmarket: a score exceeds 1,000,000"):
            world.post(schedule=schedule)
    # assert: a score of exactly 1,000,000 is a valid point
    assert world.state(world.posted(schedule=[(SCORE_SCALE, 1)])).min_score == SCORE_SCALE


def test_post_request_with_scores_not_increasing_reverts(world: World) -> None:
    for schedule in [
        [(500_000, 1), (500_000, 2)],
        [(600_000, 1), (500_000, 2)],
        [(1, 1), (2, 2), (2, 3)],
    ]:
        # act / assert
        with reverts("modelmarket: schedule scores must increase"):
            world.post(schedule=schedule)


def test_post_request_with_decreasing_prices_reverts(world: World) -> None:
    for schedule in [[(500_000, 2), (600_000, 1)], [(1, 1), (2, 3), (3, 2)]]:
        # act / assert
        with reverts("modelmarket: schedule prices must not decrease"):
            world.post(schedule=schedule)


def test_post_request_with_a_price_of_zero_or_above_128_bits_reverts(world: World) -> None:
    for schedule in [[(500_000, 0)], [(1, 1), (2, 0)], [(500_000, MAX_AMOUNT + 1)]]:
        # act / assert
        with reverts("modelmarket: a price is out of range"):
            world.post(schedule=schedule, value=0)


def test_post_request_with_a_stake_above_128_bits_reverts(world: World) -> None:
    for name in ["seller_stake", "executor_stake"]:
        # act / assert
        with reverts("modelmarket: stake out of range"):
            world.post(**{name: MAX_AMOUNT + 1})  # type: ignore[arg-type]


def test_post_request_with_a_fee_or_bond_above_128_bits_reverts(world: World) -> None:
    for name in ["executor_fee", "bond"]:
        # act / assert
        with reverts("modelmarket: fee or bond out of range"):
            world.post(**{name: MAX_AMOUNT + 1}, value=0)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", PERIOD_NAMES)
def test_post_request_with_a_period_out_of_range_reverts(world: World, name: str) -> None:
    for value in [0, MAX_PERIOD + 1]:
        # act / assert
        with reverts("modelmarket: a period is out of range"):
            world.post(periods=replace(PERIODS, **{name: value}))


def test_post_request_with_the_wrong_value_reverts(world: World) -> None:
    for value in [0, 1, ESCROWED - 1, ESCROWED + 1, K * TOP_PRICE, 2 * ESCROWED]:
        # act / assert
        with reverts("modelmarket: send k x top price + executors x fee + bond"):
            world.post(value=value)
    assert world.balance() == 0
    assert world.market.next_request_id() == 1


# unknown requests ---------------------------------------------------------------------------


def test_calls_on_an_unknown_request_revert(world: World) -> None:
    # prepare: request 1 exists and is open for submissions
    world.submitting()
    model = new_model()
    seller, executor = world.sellers[0], world.executors[0]
    calls: list[Callable[[], object]] = [
        lambda: world.market.request(UNKNOWN_ID),
        lambda: world.market.advance(world.stranger, UNKNOWN_ID),
        lambda: world.market.reveal_sample(world.buyer, UNKNOWN_ID, [], [], world.fresh(b"b")),
        lambda: world.market.reject_delivery(world.buyer, UNKNOWN_ID, 0, world.fresh(b"r")),
        lambda: world.market.submit(seller, UNKNOWN_ID, model.commitments, EMPTY, SELLER_STAKE),
        lambda: world.market.volunteer(executor, UNKNOWN_ID, EXECUTOR_STAKE),
        lambda: world.market.seal(world.buyer, UNKNOWN_ID, world.fresh(b"seal")),
        lambda: world.market.commit_scores(executor, UNKNOWN_ID, world.fresh(b"c")),
        lambda: world.market.reveal_scores(executor, UNKNOWN_ID, [], 0, EMPTY, EMPTY),
        lambda: world.market.tally(world.stranger, UNKNOWN_ID, [], 0),
        lambda: world.market.reveal_key(seller, UNKNOWN_ID, model.key),
        lambda: world.market.finish(world.stranger, UNKNOWN_ID, 0),
    ]

    for call in calls:
        # act / assert
        with reverts("modelmarket: unknown request"):
            call()
    assert world.market.price_for(UNKNOWN_ID, SCORE_SCALE) == 0
    assert world.market.volunteer_at(UNKNOWN_ID, 0) == ZERO_ADDRESS
    assert world.market.submission(UNKNOWN_ID, 0).seller == ZERO_ADDRESS
