"""DataMarket.vy, money out: ``claim`` when the model owner misses an aggregation deadline,
``withdraw``, and a whole secure task of eight DOs paid out to the last wei.

anvil runs gas-free, so on both backends balances move by exactly the values paid.
"""

from __future__ import annotations

from mercato.protocols.datamarket.market import Mode, Phase, TaskStatus, mask_of

from ..world import reverts
from .world import PER_UPDATE, World


def owed(world: World, count: int) -> list[int]:
    """What the first ``count`` DOs are owed."""
    return [world.owed(do) for do in world.dos[:count]]


# claim --------------------------------------------------------------------------------------


def test_claim_before_the_aggregation_deadline_reverts(world: World) -> None:
    # prepare
    task_id = world.running(3)
    world.to_aggregate(task_id)

    # act / assert
    with reverts("datamarket: the model owner may still finalise"):
        world.market.claim(world.dos[0], task_id)
    world.finalise(task_id)


def test_claim_without_a_round_waiting_for_aggregation_reverts(world: World) -> None:
    # prepare: a task still joining, one in SUBMIT past its deadline, one finished
    joining = world.posted(3)
    submitting = world.running(3)
    finished = world.running(3)
    world.to_aggregate(finished)
    world.finalise(finished)
    world.pass_deadline(submitting)

    for task_id in [joining, submitting, finished]:
        # act / assert
        with reverts("datamarket: no round waiting for aggregation"):
            world.market.claim(world.stranger, task_id)


def test_claim_after_the_model_owner_missed_aggregation_pays_the_round(world: World) -> None:
    # prepare: three rounds of four DOs; round 1 aggregated, in round 2 DO 3 is silent and
    # the MO misses the aggregation deadline
    task_id = world.running(4, 3, Mode.ROBUST)
    world.to_aggregate(task_id)
    world.finalise(task_id)
    world.to_aggregate(task_id, skip=[3])
    world.pass_deadline(task_id)
    market_before = world.balance()

    # act: anyone may claim
    result = world.market.claim(world.stranger, task_id)

    # assert: round 2's three DOs are paid, round 2's fourth share and round 3 go back
    refund = PER_UPDATE * (1 + 4)
    assert result.event("TaskExpired").args == {
        "task_id": task_id,
        "caller": world.stranger.address,
        "round": 2,
        "paid": 3,
        "paid_each": PER_UPDATE,
        "refund": refund,
    }
    assert owed(world, 4) == [2 * PER_UPDATE] * 3 + [PER_UPDATE]
    assert (world.owed(world.mo), world.owed(world.stranger)) == (refund, 0)
    task = world.state(task_id)
    assert (task.status, task.round, task.locked) == (TaskStatus.EXPIRED, 2, 0)
    assert world.balance() == market_before


def test_an_expired_task_is_over_for_everyone(world: World) -> None:
    # prepare
    task_id = world.running(3, 2)
    world.to_aggregate(task_id)
    world.pass_deadline(task_id)
    world.market.claim(world.dos[0], task_id)
    owed_after_claim = [*owed(world, 3), world.owed(world.mo)]

    # act / assert
    with reverts("datamarket: no round waiting for aggregation"):
        world.market.claim(world.dos[1], task_id)
    with reverts("datamarket: no round to finalise"):
        world.finalise(task_id)
    with reverts("datamarket: task is over"):
        world.market.advance(world.stranger, task_id)
    with reverts("datamarket: task is not running"):
        world.market.submit(world.dos[0], task_id, world.blob())
    assert [*owed(world, 3), world.owed(world.mo)] == owed_after_claim
    assert world.state(task_id).status is TaskStatus.EXPIRED


def test_claim_in_secure_mode_pays_every_submitter(world: World) -> None:
    # prepare: DO 3 submits but does not reveal; the MO then stays silent
    task_id = world.running(4, 1, Mode.SECURE, bound=3)
    world.run_phase(task_id)
    world.run_phase(task_id)
    world.run_phase(task_id, skip=[3])
    assert world.state(task_id).phase is Phase.AGGREGATE
    world.pass_deadline(task_id)

    # act
    result = world.market.claim(world.dos[0], task_id)

    # assert
    assert (result.event("TaskExpired")["paid"], result.event("TaskExpired")["refund"]) == (4, 0)
    assert owed(world, 4) == [PER_UPDATE] * 4


# withdraw -----------------------------------------------------------------------------------


def test_withdraw_pays_exactly_what_is_owed(world: World) -> None:
    # prepare: one round of four, DO 3 silent: three DOs owed a share, the MO a refund
    task_id = world.running(4, 1, Mode.ROBUST)
    world.to_aggregate(task_id, skip=[3])
    world.finalise(task_id)
    payees = [world.dos[0], world.dos[1], world.dos[2], world.mo]
    before = [world.balance(account) for account in payees]

    # act
    results = [world.market.withdraw(account) for account in payees]

    # assert
    assert [world.balance(a) - b for a, b in zip(payees, before, strict=True)] == [PER_UPDATE] * 4
    assert [r.event("Withdrawn")["amount"] for r in results] == [PER_UPDATE] * 4
    assert [r.event("Withdrawn")["account"] for r in results] == [a.address for a in payees]
    assert [world.owed(account) for account in payees] == [0] * 4
    assert world.balance() == 0


def test_withdraw_with_nothing_owed_reverts(world: World) -> None:
    # prepare: DO 0 is paid and withdraws; DO 3 dropped out; the stranger never took part
    task_id = world.running(4, 1, Mode.ROBUST)
    world.to_aggregate(task_id, skip=[3])
    world.finalise(task_id)
    world.market.withdraw(world.dos[0])

    for account in [world.dos[0], world.dos[3], world.stranger]:
        # act / assert
        with reverts("escrow: nothing to withdraw"):
            world.market.withdraw(account)
    assert world.balance() == 3 * PER_UPDATE


# a whole task -------------------------------------------------------------------------------


def test_a_secure_task_of_eight_pays_out_to_the_last_wei(world: World) -> None:
    # prepare: eight DOs, threshold five, two rounds; in round 1 DO 7 drops out before
    # sharing and DO 6 submits without revealing; in round 2 DO 5 posts no keys
    task_id = world.running(8, 2, Mode.SECURE, bound=5)
    everyone = [world.mo, *world.dos]
    before = [world.balance(account) for account in everyone]
    world.run_phase(task_id, skip=[7])  # SHARES
    world.run_phase(task_id)  # SUBMIT
    world.run_phase(task_id, skip=[6])  # REVEAL
    first = world.finalise(task_id)
    world.run_phase(task_id, skip=[5])  # KEYS
    world.to_aggregate(task_id)
    last = world.finalise(task_id)

    # act
    for account in everyone:
        if world.owed(account):
            world.market.withdraw(account)

    # assert
    assert first.event("RoundFinalised")["used"] == mask_of(range(7))
    assert last.event("RoundFinalised")["used"] == mask_of([0, 1, 2, 3, 4, 6, 7])
    gained = [world.balance(a) - b for a, b in zip(everyone, before, strict=True)]
    # the MO gets back DO 7's share of round 1 and DO 5's of round 2
    assert gained == [2 * PER_UPDATE] + [2 * PER_UPDATE] * 5 + [
        PER_UPDATE,
        2 * PER_UPDATE,
        PER_UPDATE,
    ]
    assert world.state(task_id).status is TaskStatus.FINISHED
    assert world.balance() == 0
