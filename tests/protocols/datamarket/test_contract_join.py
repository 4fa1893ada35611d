"""DataMarket.vy, joining a task: who may join, keys in secure mode, the start of round 1,
and the cancellation of a task that is not full by its join deadline."""

from __future__ import annotations

import pytest

from mercato.protocols.datamarket.market import Mode, Phase, TaskStatus, mask_of
from mercato.protocols.roles import Role

from ..world import EMPTY, reverts
from .world import JOIN_PERIOD, PER_UPDATE, PHASE_PERIOD, World, encryption_key

# join ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", [Mode.SECURE, Mode.ROBUST])
def test_join_records_the_member_and_its_keys(world: World, mode: Mode) -> None:
    # prepare
    task_id = world.posted(4, 1, mode)
    world.join(task_id, world.dos[0])
    do = world.dos[1]
    public_key, seed_commitment = world.keys_of(do, 1)

    # act
    result = world.join(task_id, do, public_key, seed_commitment)

    # assert
    assert result.event("Joined").args == {
        "task_id": task_id,
        "data_owner": do.address,
        "index": 1,
        "public_key": public_key,
        "seed_commitment": seed_commitment,
    }
    assert world.market.member(task_id, 1) == do.address
    assert world.market.index_of(task_id, do.address) == 1
    assert world.market.index_of(task_id, world.dos[2].address) is None
    assert world.market.members(task_id) == (world.dos[0].address, do.address)
    task = world.state(task_id)
    assert (task.status, task.joined, task.round, task.phase) == (
        TaskStatus.JOINING,
        2,
        0,
        Phase.NONE,
    )
    assert [e.name for e in result.events] == ["Joined"]


def test_join_in_robust_mode_takes_zero_keys(world: World) -> None:
    # prepare
    task_id = world.posted(3, 1, Mode.ROBUST)

    # act
    result = world.market.join(world.dos[0], task_id, EMPTY, EMPTY)

    # assert
    event = result.event("Joined")
    assert (event["index"], event["public_key"], event["seed_commitment"]) == (0, EMPTY, EMPTY)
    assert world.state(task_id).joined == 1


def test_join_in_secure_mode_without_a_key_or_commitment_reverts(world: World) -> None:
    # prepare
    task_id = world.posted(3, 1, Mode.SECURE)
    do = world.dos[0]

    # act / assert
    with reverts("datamarket: empty public key"):
        world.join(task_id, do, public_key=EMPTY)
    with reverts("datamarket: empty seed commitment"):
        world.join(task_id, do, seed_commitment=EMPTY)
    assert world.state(task_id).joined == 0


def test_join_by_someone_without_the_data_owner_role_reverts(world: World) -> None:
    # prepare: a model owner only
    task_id = world.posted(3)
    world.registry.transact(
        "register", int(Role.MODEL_OWNER), encryption_key(world.dos[0]), sender=world.dos[0]
    )

    for sender in [world.stranger, world.dos[0]]:
        # act / assert
        with reverts("datamarket: caller is not a registered data owner"):
            world.join(task_id, sender)


def test_the_model_owner_cannot_join_its_own_task_but_may_join_others(world: World) -> None:
    # prepare: the MO is a registered data owner too; dos[7] becomes a second MO
    own = world.posted(3)
    other_mo = world.dos[7]
    world.registry.transact(
        "register", int(Role.MODEL_OWNER), encryption_key(other_mo), sender=other_mo
    )
    other = world.posted(3, sender=other_mo)

    # act / assert
    with reverts("datamarket: the model owner cannot join its own task"):
        world.join(own, world.mo)
    with reverts("datamarket: the model owner cannot join its own task"):
        world.join(other, other_mo)
    world.join(other, world.mo)
    assert world.market.index_of(other, world.mo.address) == 0


def test_join_twice_reverts(world: World) -> None:
    # prepare
    task_id = world.posted(3)
    world.join(task_id, world.dos[0])

    # act / assert
    with reverts("datamarket: already joined"):
        world.join(task_id, world.dos[0])
    assert world.state(task_id).joined == 1


def test_join_a_full_task_reverts(world: World) -> None:
    # prepare
    task_id = world.running(3)

    # act / assert
    with reverts("datamarket: task is not open for joining"):
        world.join(task_id, world.dos[3])
    assert world.market.index_of(task_id, world.dos[3].address) is None


def test_join_after_the_join_deadline_reverts(world: World) -> None:
    # prepare
    task_id = world.posted(3)
    world.fill(task_id, 2)
    world.pass_deadline(task_id)

    # act / assert
    with reverts("datamarket: join deadline passed"):
        world.join(task_id, world.dos[2])
    assert world.state(task_id).status is TaskStatus.JOINING


@pytest.mark.parametrize(
    ("mode", "first"), [(Mode.SECURE, Phase.SHARES), (Mode.ROBUST, Phase.SUBMIT)]
)
def test_the_last_join_starts_round_one(world: World, mode: Mode, first: Phase) -> None:
    # prepare: secure round 1 takes its keys from the joins, so it starts with SHARES
    task_id = world.posted(5, 2, mode)
    world.fill(task_id, 4)

    # act
    result = world.join(task_id, world.dos[4])

    # assert
    everyone = mask_of(range(5))
    deadline = world.chain.timestamp() + PHASE_PERIOD
    assert result.event("PhaseStarted").args == {
        "task_id": task_id,
        "round": 1,
        "phase": int(first),
        "active": everyone,
        "deadline": deadline,
    }
    task = world.state(task_id)
    assert (task.status, task.round, task.phase, task.joined) == (TaskStatus.RUNNING, 1, first, 5)
    assert (task.active, task.done, task.deadline) == (everyone, 0, deadline)
    assert task.waiting_for == (0, 1, 2, 3, 4)
    assert world.market.members(task_id) == tuple(do.address for do in world.dos[:5])


def test_eight_data_owners_fill_a_task(world: World) -> None:
    # act
    task_id = world.running(8, 1, Mode.SECURE, bound=5)

    # assert
    task = world.state(task_id)
    assert (task.status, task.joined, task.active) == (TaskStatus.RUNNING, 8, 0xFF)
    assert world.market.index_of(task_id, world.dos[7].address) == 7


# cancellation -------------------------------------------------------------------------------


def test_advance_before_the_join_deadline_reverts(world: World) -> None:
    # prepare
    task_id = world.posted(3)
    world.fill(task_id, 2)

    # act / assert
    with reverts("datamarket: deadline not reached"):
        world.market.advance(world.stranger, task_id)
    assert world.state(task_id).status is TaskStatus.JOINING


@pytest.mark.parametrize("joiners", [0, 2])
def test_advance_after_the_join_deadline_cancels_and_refunds(world: World, joiners: int) -> None:
    # prepare
    reward = PER_UPDATE * 3 * 2
    task_id = world.posted(3, 2, reward=reward)
    world.fill(task_id, joiners)
    world.pass_deadline(task_id)

    # act
    result = world.market.advance(world.dos[0], task_id)

    # assert
    assert result.event("TaskCancelled").args == {
        "task_id": task_id,
        "caller": world.dos[0].address,
        "joined": joiners,
        "refund": reward,
    }
    task = world.state(task_id)
    assert (task.status, task.locked, task.joined) == (TaskStatus.CANCELLED, 0, joiners)
    assert world.owed(world.mo) == reward
    assert all(world.owed(do) == 0 for do in world.dos)
    assert world.balance() == reward


def test_a_cancelled_task_takes_no_joins_and_no_second_cancel(world: World) -> None:
    # prepare
    task_id = world.posted(3, join_period=JOIN_PERIOD)
    world.fill(task_id, 1)
    world.pass_deadline(task_id)
    world.market.advance(world.stranger, task_id)

    # act / assert
    with reverts("datamarket: task is not open for joining"):
        world.join(task_id, world.dos[1])
    with reverts("datamarket: task is over"):
        world.market.advance(world.stranger, task_id)
    with reverts("datamarket: task is not running"):
        world.market.submit(world.dos[0], task_id, world.blob())
    assert world.owed(world.mo) == PER_UPDATE * 3
