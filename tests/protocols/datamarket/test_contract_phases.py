"""DataMarket.vy, the phases of a round: who may post, when, how a phase ends (the last
poster or ``advance`` after the deadline), and secure rounds that fall below the threshold.

Most tests run in every phase a DO posts in: KEYS (secure, rounds after the first),
SHARES, SUBMIT and REVEAL (secure), and SUBMIT (robust). Tasks have three DOs; secure ones
a threshold of two, so one DO may drop out and the round goes on, two may not.
"""

from __future__ import annotations

import pytest

from mercato.protocols.datamarket.market import Mode, Phase, TaskStatus, mask_of

from ..world import EMPTY, reverts
from .world import AGGREGATE_PERIOD, PER_UPDATE, PHASE_PERIOD, World

DATA_OWNERS = 3
THRESHOLD = 2
EVERYONE = mask_of(range(DATA_OWNERS))
POSTING = [
    (Mode.SECURE, Phase.KEYS, "secure-keys"),
    (Mode.SECURE, Phase.SHARES, "secure-shares"),
    (Mode.SECURE, Phase.SUBMIT, "secure-submit"),
    (Mode.SECURE, Phase.REVEAL, "secure-reveal"),
    (Mode.ROBUST, Phase.SUBMIT, "robust-submit"),
]
AFTER_A_PHASE = POSTING[1:4]
"""The phases that follow another phase of the same round."""


def on_chains(cases: list[tuple[Mode, Phase, str]], on_anvil: str) -> pytest.MarkDecorator:
    """Parametrize ``chain``, ``mode`` and ``phase``: every case on the embedded chain, and
    the case called ``on_anvil`` on anvil too (the rules are the same bytecode on both, so
    the whole matrix on anvil would only double the time)."""
    params = [pytest.param("embedded", m, p, id=f"embedded-{name}") for m, p, name in cases]
    params += [
        pytest.param("rpc", m, p, id=f"rpc-{name}", marks=pytest.mark.rpc)
        for m, p, name in cases
        if name == on_anvil
    ]
    assert len(params) == len(cases) + 1, f"no case called {on_anvil}"
    return pytest.mark.parametrize(("chain", "mode", "phase"), params, indirect=["chain"])


POSTED_EVENT = {
    Phase.KEYS: "KeysPosted",
    Phase.SHARES: "SharesPosted",
    Phase.SUBMIT: "UpdateSubmitted",
    Phase.REVEAL: "SharesRevealed",
}


def in_phase(world: World, mode: Mode, phase: Phase, rounds: int = 2) -> int:
    """A running task of three DOs (secure: threshold two), honestly run into ``phase``."""
    bound = THRESHOLD if mode is Mode.SECURE else 0
    task_id = world.running(DATA_OWNERS, rounds, mode, bound=bound)
    world.reach(task_id, phase)
    return task_id


def next_phase(mode: Mode, phase: Phase) -> Phase:
    if mode is Mode.ROBUST or phase is Phase.REVEAL:
        return Phase.AGGREGATE
    return Phase(phase + 1)


# who may post -------------------------------------------------------------------------------


@on_chains(POSTING, on_anvil="secure-keys")
def test_a_phase_refuses_outsiders_other_phases_second_posts_and_late_posts(
    world: World, mode: Mode, phase: Phase
) -> None:
    # prepare: dos[7] is a registered data owner, but not of this task
    task_id = in_phase(world, mode, phase)
    round_number = world.state(task_id).round

    for outsider in [world.stranger, world.dos[7], world.mo]:
        # act / assert
        with reverts("datamarket: caller did not join this task"):
            world.act(task_id, outsider, phase, round_number)
    for other in [Phase.KEYS, Phase.SHARES, Phase.SUBMIT, Phase.REVEAL]:
        if other is not phase:
            # act / assert
            with reverts("datamarket: not this phase of the round"):
                world.act(task_id, world.dos[0], other, round_number)
    # act / assert
    world.act(task_id, world.dos[1], phase, round_number)
    with reverts("datamarket: already posted in this phase"):
        world.act(task_id, world.dos[1], phase, round_number)
    # act / assert: a late post is refused, even before anyone calls advance
    world.pass_deadline(task_id)
    with reverts("datamarket: phase deadline passed"):
        world.act(task_id, world.dos[2], phase, round_number)
    task = world.state(task_id)
    assert (task.round, task.phase, task.done) == (round_number, phase, mask_of([1]))


@on_chains(AFTER_A_PHASE, on_anvil="secure-reveal")
def test_a_data_owner_that_dropped_out_earlier_in_the_round_cannot_post(
    world: World, mode: Mode, phase: Phase
) -> None:
    # prepare: DO 2 lets the previous phase pass
    task_id = in_phase(world, mode, Phase(phase - 1))
    world.run_phase(task_id, skip=[2])
    assert world.state(task_id).phase is phase

    # act / assert
    with reverts("datamarket: caller dropped out of this round"):
        world.act(task_id, world.dos[2])
    assert world.state(task_id).active == mask_of([0, 1])


def test_posting_while_the_task_is_not_running_reverts(world: World) -> None:
    # prepare: one task still joining, one finished
    joining = world.posted(3)
    world.join(joining, world.dos[0])
    finished = world.running(3)
    world.reach(finished, Phase.AGGREGATE)
    world.finalise(finished)

    for task_id in [joining, finished]:
        # act / assert
        with reverts("datamarket: task is not running"):
            world.market.submit(world.dos[0], task_id, world.blob())


def test_posting_in_the_aggregate_phase_reverts(world: World) -> None:
    # prepare
    task_id = in_phase(world, Mode.SECURE, Phase.AGGREGATE)

    for phase in [Phase.KEYS, Phase.SHARES, Phase.SUBMIT, Phase.REVEAL]:
        # act / assert
        with reverts("datamarket: not this phase of the round"):
            world.act(task_id, world.dos[0], phase)


def test_posting_an_empty_hash_or_key_reverts(world: World) -> None:
    # prepare: the hash rules come before the phase rules
    task_id = world.running(3, 1, Mode.SECURE)
    do = world.dos[0]
    market = world.market
    calls = [
        (
            "datamarket: empty public key",
            lambda: market.post_keys(do, task_id, EMPTY, world.blob()),
        ),
        (
            "datamarket: empty seed commitment",
            lambda: market.post_keys(do, task_id, world.blob(), EMPTY),
        ),
        ("datamarket: empty shares hash", lambda: market.post_shares(do, task_id, EMPTY)),
        ("datamarket: empty update hash", lambda: market.submit(do, task_id, EMPTY)),
        ("datamarket: empty reveal hash", lambda: market.reveal(do, task_id, EMPTY)),
    ]

    for reason, call in calls:
        # act / assert
        with reverts(reason):
            call()
    assert world.state(task_id).done == 0


# how a phase ends ---------------------------------------------------------------------------


@on_chains(POSTING, on_anvil="secure-reveal")
def test_each_post_is_logged_and_the_last_one_starts_the_next_phase(
    world: World, mode: Mode, phase: Phase
) -> None:
    # prepare
    task_id = in_phase(world, mode, phase)
    round_number = world.state(task_id).round
    first = [world.act(task_id, world.dos[i]) for i in range(DATA_OWNERS - 1)]
    waiting = world.state(task_id)

    # act
    last = world.act(task_id, world.dos[DATA_OWNERS - 1])

    # assert: those before the last only mark themselves done
    assert (waiting.phase, waiting.done, waiting.waiting_for) == (phase, 0b011, (2,))
    assert all("PhaseStarted" not in [e.name for e in r.events] for r in first)
    posted = last.event(POSTED_EVENT[phase])
    assert (posted["task_id"], posted["data_owner"], posted["round"], posted["index"]) == (
        task_id,
        world.dos[2].address,
        round_number,
        2,
    )
    if phase is Phase.KEYS:
        keys = world.keys_of(world.dos[2], round_number)
        assert (posted["public_key"], posted["seed_commitment"]) == keys
    names = [e.name for e in last.events]
    assert names.index(POSTED_EVENT[phase]) < names.index("PhaseStarted")  # logs read in order
    following = next_phase(mode, phase)
    period = AGGREGATE_PERIOD if following is Phase.AGGREGATE else PHASE_PERIOD
    deadline = world.chain.timestamp() + period
    assert last.event("PhaseStarted").args == {
        "task_id": task_id,
        "round": round_number,
        "phase": int(following),
        "active": EVERYONE,
        "deadline": deadline,
    }
    task = world.state(task_id)
    assert (task.round, task.phase, task.active, task.done, task.deadline) == (
        round_number,
        following,
        EVERYONE,
        0,
        deadline,
    )


@on_chains(POSTING, on_anvil="robust-submit")
def test_advance_waits_for_the_deadline_then_goes_on_with_those_who_posted(
    world: World, mode: Mode, phase: Phase
) -> None:
    # prepare: DO 1 stays silent; two of three is still the threshold
    task_id = in_phase(world, mode, phase)
    for i in [0, 2]:
        world.act(task_id, world.dos[i])
    with reverts("datamarket: deadline not reached"):
        world.market.advance(world.stranger, task_id)
    world.pass_deadline(task_id)

    # act
    result = world.market.advance(world.stranger, task_id)

    # assert: after REVEAL, the round's DOs stay the submitters (their updates are in the
    # sum); revealing only counts towards the threshold
    following = next_phase(mode, phase)
    going_on = EVERYONE if phase is Phase.REVEAL else mask_of([0, 2])
    event = result.event("PhaseStarted")
    assert (event["phase"], event["active"]) == (following, going_on)
    task = world.state(task_id)
    assert (task.status, task.phase, task.active, task.done) == (
        TaskStatus.RUNNING,
        following,
        going_on,
        0,
    )
    assert task.deadline == event["deadline"] > world.chain.timestamp()


def test_advance_while_the_round_waits_for_the_model_owner_reverts(world: World) -> None:
    # prepare
    task_id = in_phase(world, Mode.ROBUST, Phase.AGGREGATE)
    reason = "datamarket: the round waits for the model owner; after its deadline, claim"

    # act / assert: before and after the aggregation deadline
    with reverts(reason):
        world.market.advance(world.stranger, task_id)
    world.pass_deadline(task_id)
    with reverts(reason):
        world.market.advance(world.stranger, task_id)


def test_a_data_owner_that_dropped_out_of_a_round_is_back_in_the_next(world: World) -> None:
    # prepare: DO 2 stays silent through round 1
    task_id = world.running(DATA_OWNERS, 2, Mode.SECURE, bound=THRESHOLD)
    world.to_aggregate(task_id, skip=[2])
    assert world.state(task_id).active == mask_of([0, 1])

    # act
    result = world.finalise(task_id)

    # assert: secure rounds after the first start with fresh keys from everyone
    event = result.event("PhaseStarted")
    assert (event["round"], event["phase"], event["active"]) == (2, Phase.KEYS, EVERYONE)
    world.act(task_id, world.dos[2])
    assert world.state(task_id).done == mask_of([2])


def test_robust_rounds_after_the_first_start_with_submit(world: World) -> None:
    # prepare
    task_id = in_phase(world, Mode.ROBUST, Phase.AGGREGATE)

    # act
    result = world.finalise(task_id)

    # assert
    event = result.event("PhaseStarted")
    assert (event["round"], event["phase"], event["active"]) == (2, Phase.SUBMIT, EVERYONE)


# rounds that fail ---------------------------------------------------------------------------


@on_chains(
    [
        (Mode.SECURE, Phase.SHARES, "shares"),
        (Mode.SECURE, Phase.SUBMIT, "submit"),
        (Mode.SECURE, Phase.REVEAL, "reveal"),
        (Mode.SECURE, Phase.KEYS, "keys-of-the-last-round"),
    ],
    on_anvil="keys-of-the-last-round",
)
def test_a_secure_round_below_the_threshold_fails_unpaid(
    world: World, mode: Mode, phase: Phase
) -> None:
    # prepare: DOs 1 and 2 stay silent, leaving one, below the threshold of two
    rounds = 2
    task_id = in_phase(world, mode, phase, rounds)
    failing = world.state(task_id).round
    owed_before = [world.owed(do) for do in world.dos[:DATA_OWNERS]]
    world.act(task_id, world.dos[0])
    world.pass_deadline(task_id)

    # act
    result = world.market.advance(world.stranger, task_id)

    # assert
    assert result.event("RoundFailed").args == {
        "task_id": task_id,
        "round": failing,
        "phase": int(phase),
        "remaining": 1,
    }
    assert [world.owed(do) for do in world.dos[:DATA_OWNERS]] == owed_before
    task = world.state(task_id)
    if failing < rounds:
        assert (task.status, task.round, task.phase, task.active) == (
            TaskStatus.RUNNING,
            failing + 1,
            Phase.KEYS,
            EVERYONE,
        )
        assert task.locked == PER_UPDATE * DATA_OWNERS * rounds
    else:
        # round 1 paid everyone; the failed round's money goes back to the MO
        refund = PER_UPDATE * DATA_OWNERS
        assert result.event("TaskFinished").args == {
            "task_id": task_id,
            "mo": world.mo.address,
            "rounds": rounds,
            "refund": refund,
        }
        assert (task.status, task.phase, task.active, task.locked) == (
            TaskStatus.FINISHED,
            Phase.NONE,
            0,
            0,
        )
        assert world.owed(world.mo) == refund


def test_a_robust_round_nobody_submits_to_fails_and_the_last_one_refunds_all(
    world: World,
) -> None:
    # prepare
    reward = PER_UPDATE * 3 * 2
    task_id = world.running(3, 2, Mode.ROBUST)

    # act: round 1 and round 2 both pass in silence
    world.pass_deadline(task_id)
    first = world.market.advance(world.stranger, task_id)
    world.pass_deadline(task_id)
    second = world.market.advance(world.stranger, task_id)

    # assert
    assert first.event("RoundFailed").args == {
        "task_id": task_id,
        "round": 1,
        "phase": int(Phase.SUBMIT),
        "remaining": 0,
    }
    assert first.event("PhaseStarted")["round"] == 2
    assert second.event("RoundFailed")["round"] == 2
    assert second.event("TaskFinished")["refund"] == reward
    assert world.state(task_id).status is TaskStatus.FINISHED
    assert world.owed(world.mo) == reward
    assert all(world.owed(do) == 0 for do in world.dos)
    with reverts("datamarket: task is over"):
        world.market.advance(world.stranger, task_id)


def test_one_robust_submission_is_enough_to_aggregate(world: World) -> None:
    # prepare
    task_id = world.running(5, 1, Mode.ROBUST, bound=1)
    world.act(task_id, world.dos[4])
    world.pass_deadline(task_id)

    # act
    result = world.market.advance(world.stranger, task_id)

    # assert
    assert "RoundFailed" not in [e.name for e in result.events]
    task = world.state(task_id)
    assert (task.phase, task.active) == (Phase.AGGREGATE, mask_of([4]))
