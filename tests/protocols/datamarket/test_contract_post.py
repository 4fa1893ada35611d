"""DataMarket.vy, posting a task: deployment, every input rule, the event, the view, the lock."""

from __future__ import annotations

import pytest

from mercato.chain.contract import Contract
from mercato.ml.aggregate.krum import DEFAULT_MULTIPLE, MAX_MULTIPLE, MIN_MULTIPLE
from mercato.protocols.datamarket.market import (
    MAX_DATA_OWNERS,
    MAX_PERIOD,
    MAX_ROUNDS,
    Mode,
    Phase,
    TaskStatus,
)

from ..world import EMPTY, reverts
from .world import (
    AGGREGATE_PERIOD,
    JOIN_PERIOD,
    MAX_REWARD,
    MODEL_HASH,
    PER_UPDATE,
    PHASE_PERIOD,
    SPEC_HASH,
    World,
)

ZERO_ADDRESS = "0x" + "00" * 20
UNKNOWN_ID = 999


# deployment ---------------------------------------------------------------------------------


def test_deploy_without_a_registry_reverts(world: World) -> None:
    # act / assert
    with reverts("datamarket: registry is the zero address"):
        Contract.deploy(world.chain, "DataMarket", ZERO_ADDRESS, sender=world.mo)


def test_a_fresh_market_has_no_tasks(world: World) -> None:
    # act / assert
    assert world.market.next_task_id() == 1
    assert world.contract.call("REGISTRY") == world.registry.address
    with reverts("datamarket: unknown task"):
        world.state(1)
    assert world.balance() == 0


# post_task: success -------------------------------------------------------------------------


@pytest.mark.parametrize(("mode", "bound"), [(Mode.SECURE, 3), (Mode.ROBUST, 1)])
def test_post_task_locks_the_reward_and_logs_the_terms(
    world: World, mode: Mode, bound: int
) -> None:
    # prepare
    reward = PER_UPDATE * 5 * 3
    mo_before = world.balance(world.mo)

    # act
    task_id, result = world.post(5, 3, mode, bound=bound, reward=reward)

    # assert
    join_deadline = world.chain.timestamp() + JOIN_PERIOD
    assert task_id == 1
    assert result.event("TaskPosted").args == {
        "task_id": 1,
        "mo": world.mo.address,
        "model_hash": MODEL_HASH,
        "spec_hash": SPEC_HASH,
        "data_owners": 5,
        "rounds": 3,
        "mode": int(mode),
        "bound": bound,
        "outlier_multiple": 0 if mode is Mode.SECURE else DEFAULT_MULTIPLE,
        "reward": reward,
        "join_deadline": join_deadline,
        "phase_period": PHASE_PERIOD,
        "aggregate_period": AGGREGATE_PERIOD,
    }
    task = world.state(task_id)
    assert (task.mo, task.data_owners, task.rounds, task.mode, task.bound) == (
        world.mo.address,
        5,
        3,
        mode,
        bound,
    )
    assert (task.phase_period, task.aggregate_period) == (PHASE_PERIOD, AGGREGATE_PERIOD)
    assert (task.status, task.round, task.phase, task.joined) == (
        TaskStatus.JOINING,
        0,
        Phase.NONE,
        0,
    )
    assert (task.deadline, task.active, task.done) == (join_deadline, 0, 0)
    assert (task.per_update, task.locked, task.reward) == (PER_UPDATE, reward, reward)
    assert task.outlier_multiple == (0 if mode is Mode.SECURE else DEFAULT_MULTIPLE)
    assert world.balance() == reward
    assert world.balance(world.mo) == mo_before - reward
    assert world.market.next_task_id() == 2
    assert world.market.members(task_id) == ()


def test_task_ids_count_up_and_rewards_add_up(world: World) -> None:
    # act
    first = world.posted(3)
    second = world.posted(4, 2, Mode.SECURE)

    # assert
    assert (first, second) == (1, 2)
    assert world.state(second).per_update == PER_UPDATE
    assert world.balance() == PER_UPDATE * (3 + 4 * 2)


def test_post_task_at_every_upper_limit(world: World) -> None:
    # prepare: 2**128 - 1 = 3 * 5 * 17 * 257 * 641 * 65537 * 6700417, so 3 * 5 updates divide it
    world.chain.set_balance(world.mo.address, 2 * MAX_REWARD)

    # act
    small = world.posted(
        3,
        5,
        Mode.SECURE,
        bound=3,
        reward=MAX_REWARD,
        join_period=MAX_PERIOD,
        phase_period=MAX_PERIOD,
        aggregate_period=MAX_PERIOD,
    )
    posted_at = world.chain.timestamp()
    large = world.posted(MAX_DATA_OWNERS, MAX_ROUNDS, Mode.ROBUST, bound=14)

    # assert: nothing spilled over into a neighbouring field of a packed word
    task = world.state(small)
    assert (task.mo, task.data_owners, task.rounds, task.mode, task.bound) == (
        world.mo.address,
        3,
        5,
        Mode.SECURE,
        3,
    )
    assert (task.phase_period, task.aggregate_period) == (MAX_PERIOD, MAX_PERIOD)
    assert (task.status, task.deadline) == (TaskStatus.JOINING, posted_at + MAX_PERIOD)
    assert (task.per_update, task.locked) == (MAX_REWARD // 15, MAX_REWARD)
    task = world.state(large)
    assert (task.data_owners, task.rounds, task.mode, task.bound) == (
        MAX_DATA_OWNERS,
        MAX_ROUNDS,
        Mode.ROBUST,
        14,
    )
    assert task.locked == PER_UPDATE * MAX_DATA_OWNERS * MAX_ROUNDS
    assert world.balance() == MAX_REWARD + task.locked


def test_post_task_accepts_every_bound_the_rules_allow(world: World) -> None:
    # prepare
    allowed = [(3, Mode.SECURE, 2), (3, Mode.SECURE, 3), (4, Mode.SECURE, 3)]
    allowed += [(8, Mode.SECURE, 5), (8, Mode.SECURE, 8), (3, Mode.ROBUST, 0)]
    allowed += [(5, Mode.ROBUST, 1), (8, Mode.ROBUST, 2), (9, Mode.ROBUST, 3)]

    for data_owners, mode, bound in allowed:
        # act
        task_id = world.posted(data_owners, 1, mode, bound=bound)

        # assert
        task = world.state(task_id)
        assert (task.data_owners, task.mode, task.bound) == (data_owners, mode, bound)


# post_task: reverts -------------------------------------------------------------------------


def test_post_task_by_a_non_model_owner_reverts(world: World) -> None:
    for sender in [world.dos[0], world.stranger]:
        # act / assert
        with reverts("datamarket: caller is not a registered model owner"):
            world.post(sender=sender)
    assert world.balance() == 0


def test_post_task_with_an_empty_hash_reverts(world: World) -> None:
    # act / assert
    with reverts("datamarket: empty model hash"):
        world.post(model_hash=EMPTY)
    with reverts("datamarket: empty spec hash"):
        world.post(spec_hash=EMPTY)


def test_post_task_with_data_owners_or_rounds_out_of_range_reverts(world: World) -> None:
    for data_owners in [0, 2, MAX_DATA_OWNERS + 1, 255]:
        # act / assert
        with reverts("datamarket: data owners out of range"):
            world.post(data_owners, bound=0, reward=PER_UPDATE * 3)
    for rounds in [0, MAX_ROUNDS + 1]:
        # act / assert
        with reverts("datamarket: rounds out of range"):
            world.post(3, rounds, reward=PER_UPDATE * 3)


def test_post_task_with_an_unknown_mode_reverts(world: World) -> None:
    for mode in [0, 3, 2**255]:
        # act / assert
        with reverts("datamarket: unknown aggregation mode"):
            world.post(3, 1, mode, bound=0)  # type: ignore[arg-type]


def test_post_task_with_a_threshold_not_above_half_or_above_n_reverts(world: World) -> None:
    # prepare: secure mode needs n / 2 < t <= n
    refused = [(3, 0), (3, 1), (4, 2), (8, 4), (3, 4), (8, 9), (8, 2**255)]

    for data_owners, bound in refused:
        # act / assert
        with reverts("datamarket: threshold must exceed half the data owners"):
            world.post(data_owners, 1, Mode.SECURE, bound=bound)


def test_post_task_with_too_many_exclusions_reverts(world: World) -> None:
    # prepare: robust mode needs 2f + 3 <= n
    refused = [(3, 1), (4, 1), (8, 3), (9, 4), (8, 2**255)]

    for data_owners, bound in refused:
        # act / assert
        with reverts("datamarket: too many exclusions for the data owners"):
            world.post(data_owners, 1, Mode.ROBUST, bound=bound)


def test_post_task_with_an_outlier_multiple_out_of_range_reverts(world: World) -> None:
    # prepare: robust mode needs 1x to 655.35x (hundredths), secure mode none
    refused = [(Mode.ROBUST, 0), (Mode.ROBUST, MIN_MULTIPLE - 1), (Mode.ROBUST, MAX_MULTIPLE + 1)]

    for mode, multiple in refused:
        # act / assert
        with reverts("datamarket: outlier multiple out of range"):
            world.post(5, 1, mode, outlier_multiple=multiple)
    with reverts("datamarket: secure aggregation has no outlier multiple"):
        world.post(5, 1, Mode.SECURE, outlier_multiple=DEFAULT_MULTIPLE)
    for multiple in [MIN_MULTIPLE, MAX_MULTIPLE]:
        task_id = world.posted(5, 1, Mode.ROBUST, outlier_multiple=multiple)
        assert world.state(task_id).outlier_multiple == multiple


def test_post_task_with_a_period_out_of_range_reverts(world: World) -> None:
    for name in ["join", "phase", "aggregate"]:
        for value in [0, MAX_PERIOD + 1]:
            # act / assert
            with reverts(f"datamarket: {name} period out of range"):
                world.post(**{f"{name}_period": value})  # type: ignore[arg-type]


def test_post_task_with_no_reward_or_one_above_128_bits_reverts(world: World) -> None:
    # prepare: 2**128 divides into 4 equal shares, so only the range rule can refuse it
    world.chain.set_balance(world.mo.address, 2 * 2**128)

    for data_owners, reward in [(3, 0), (4, 2**128)]:
        # act / assert
        with reverts("datamarket: reward out of range"):
            world.post(data_owners, reward=reward)
    assert world.balance() == 0


def test_post_task_with_a_reward_not_divisible_into_updates_reverts(world: World) -> None:
    for reward in [1, 2, 7, PER_UPDATE * 6 + 1, PER_UPDATE * 6 - 1]:
        # act / assert: 3 data owners, 2 rounds: 6 updates
        with reverts("datamarket: reward must divide into data_owners * rounds equal shares"):
            world.post(3, 2, reward=reward)
    assert world.balance() == 0


def test_calls_on_an_unknown_task_revert(world: World) -> None:
    # prepare
    world.running(3)
    do = world.dos[0]
    calls = [
        lambda: world.market.task(UNKNOWN_ID),
        lambda: world.market.join(do, UNKNOWN_ID),
        lambda: world.market.submit(do, UNKNOWN_ID, world.blob()),
        lambda: world.market.post_keys(do, UNKNOWN_ID, world.blob(), world.blob()),
        lambda: world.market.post_shares(do, UNKNOWN_ID, world.blob()),
        lambda: world.market.reveal(do, UNKNOWN_ID, world.blob()),
        lambda: world.market.advance(do, UNKNOWN_ID),
        lambda: world.finalise(UNKNOWN_ID),
        lambda: world.market.claim(do, UNKNOWN_ID),
    ]

    for call in calls:
        # act / assert
        with reverts("datamarket: unknown task"):
            call()
    assert world.market.member(UNKNOWN_ID, 0) == ZERO_ADDRESS
    assert world.market.index_of(UNKNOWN_ID, do.address) is None
