"""P3's rules and views, without a chain: each ``*_problem`` judges a view and plain values."""

from __future__ import annotations

from dataclasses import replace

from mercato.chain.contract import Event
from mercato.protocols.datamarket import rules
from mercato.protocols.datamarket.views import (
    Mode,
    Phase,
    Task,
    TaskStatus,
    describe,
    mask_of,
    read_outcome,
    read_rounds,
)

MO = "0x" + "a1" * 20
DO = "0x" + "d1" * 20
DEADLINE = 1_000_000
MILLI = 10**15

JOINING = Task(
    task_id=1,
    mo=MO,
    data_owners=4,
    rounds=2,
    mode=Mode.SECURE,
    bound=3,
    phase_period=60,
    aggregate_period=60,
    status=TaskStatus.JOINING,
    round=0,
    phase=Phase.NONE,
    joined=3,
    deadline=DEADLINE,
    active=0,
    done=0,
    per_update=MILLI,
    locked=8 * MILLI,
    outlier_multiple=0,
)
SUBMITTING = replace(
    JOINING, status=TaskStatus.RUNNING, round=1, phase=Phase.SUBMIT, joined=4,
    active=mask_of(range(4)), done=mask_of([0]),
)  # fmt: skip


def event(name: str, **args: object) -> Event:
    return Event(name, {"task_id": 1, **args}, MO, 1, "0x" + "00" * 32, 0)


def test_the_bound_defaults_to_a_majority_or_the_most_exclusions() -> None:
    assert rules.task_bound(Mode.SECURE, 5) == 3
    assert rules.task_bound(Mode.ROBUST, 10) == 3
    assert rules.task_bound(Mode.ROBUST, 10, excluded=2) == 2
    assert rules.bound_problem(Mode.ROBUST, 10, None, 3) is None
    assert rules.bound_problem(Mode.ROBUST, 10, None, 4) == (
        "--max-excluded must be 0 to 3 for 10 data owners (2 x excluded + 3 <= data owners), got 4"
    )
    assert rules.bound_problem(Mode.SECURE, 5, 2, None) == "--threshold must be 3 to 5, got 2"
    assert "secure mode takes --threshold" in str(rules.bound_problem(Mode.SECURE, 5, None, 1))


def test_the_reward_splits_into_equal_shares_or_a_split_is_suggested() -> None:
    assert rules.reward_problem(6 * MILLI, 3, 2, "6000000000000000wei") is None
    assert rules.reward_problem(7, 3, 2, "7wei") == (
        "--reward 7wei (0.000000000000000007 ETH) does not split into 6 equal shares "
        "(3 data owners x 2 rounds); try 0.000000000000000006 or 0.000000000000000012 ETH"
    )
    assert "must be above 0" in str(rules.reward_problem(0, 3, 2, "0"))


def test_a_mode_takes_only_its_rules() -> None:
    assert rules.mode_of(" Robust ") is Mode.ROBUST
    assert rules.mode_problem("fast") == "--mode must be secure or robust, got 'fast'"
    assert rules.rule_for(Mode.SECURE, None) == "mean"
    assert rules.rule_for(Mode.ROBUST, None) == "multikrum"
    assert "does not fit secure mode" in str(rules.rule_problem(Mode.SECURE, "median"))
    assert rules.rule_problem(Mode.ROBUST, "median") is None


def test_a_data_owner_joins_an_open_task_once_in_time_and_not_its_own() -> None:
    assert rules.join_problem(JOINING, DO, None, DEADLINE - 1) is None
    assert "join period of task 1 ended" in str(rules.join_problem(JOINING, DO, None, DEADLINE))
    assert "you cannot join it" in str(rules.join_problem(JOINING, MO.upper(), None, 0))
    assert rules.join_problem(JOINING, DO, 2, 0) == "you already joined task 1 as data owner 2"
    assert rules.join_problem(SUBMITTING, DO, None, 0) == (
        "task 1 is not open for joining: it is running"
    )


def test_a_member_acts_when_the_phase_waits_for_it() -> None:
    assert rules.act_problem(SUBMITTING, DO, 1, DEADLINE - 1) is None
    assert rules.act_problem(SUBMITTING, DO, None, 0) == f"you ({DO}) did not join task 1"
    assert "you already posted in the submit phase of round 1" in str(
        rules.act_problem(SUBMITTING, DO, 0, 0)
    )
    assert "anyone may close it" in str(rules.act_problem(SUBMITTING, DO, 1, DEADLINE))


def test_anyone_moves_a_task_on_only_after_its_deadline() -> None:
    assert rules.advance_problem(JOINING, DEADLINE) is None
    assert "the join period of task 1 ends at" in str(rules.advance_problem(JOINING, 0))
    aggregating = replace(SUBMITTING, phase=Phase.AGGREGATE)
    assert "waits for the model owner until" in str(rules.advance_problem(aggregating, 0))
    assert rules.claim_problem(aggregating, DEADLINE) is None
    assert "may still finalise round 1" in str(rules.claim_problem(aggregating, DEADLINE - 1))
    assert "no round of task 1 waits for aggregation" in str(rules.claim_problem(JOINING, 0))


def test_only_the_model_owner_aggregates_and_finishes() -> None:
    aggregating = replace(SUBMITTING, phase=Phase.AGGREGATE)
    assert rules.aggregate_problem(aggregating, MO, DEADLINE - 1) is None
    assert "only the model owner of task 1" in str(rules.aggregate_problem(aggregating, DO))
    assert "passed at" in str(rules.aggregate_problem(aggregating, MO, DEADLINE))
    assert "finish it once it is over" in str(rules.finish_problem(aggregating, MO))
    assert rules.finish_problem(replace(JOINING, status=TaskStatus.FINISHED), MO) is None


def test_the_last_join_starts_round_one_without_reading_the_task_again() -> None:
    events = [
        event("Joined", data_owner=DO, index=3),
        event("PhaseStarted", round=1, phase=Phase.SHARES, active=15, deadline=DEADLINE + 60),
    ]

    after = JOINING.after(events)

    assert (after.status, after.round, after.phase) == (TaskStatus.RUNNING, 1, Phase.SHARES)
    assert (after.joined, after.active_members, after.deadline) == (4, (0, 1, 2, 3), DEADLINE + 60)
    assert after.waiting == "round 1 is in its shares phase, waiting for data owner(s) [0, 1, 2, 3]"


def test_rounds_scores_and_pay_are_read_from_the_events() -> None:
    finalised = event(
        "RoundFinalised", round=1, model_hash=b"\x01" * 32, aggregate_hash=b"\x02" * 32,
        used=mask_of([0, 2]), excluded=mask_of([1]), scores=[500_000, 9_000_000, 250_000],
        paid_each=2 * MILLI,
    )  # fmt: skip
    events = [event("UpdateSubmitted", round=1, index=i) for i in (0, 1, 2)] + [finalised]
    events.append(event("TaskFinished", mo=MO, rounds=1, refund=MILLI))

    (round_one,) = read_rounds(events, Mode.ROBUST)
    outcome = read_outcome(events)

    assert round_one.posts == {"update": [0, 1, 2]}
    assert round_one.finalised is not None
    assert round_one.finalised.scores == {0: 0.5, 1: 9.0, 2: 0.25}
    assert outcome is not None and (outcome.status, outcome.paid) == ("finished", 4 * MILLI)
    assert describe(finalised) == "round 1 finalised: used [0, 2], excluded [1], 0.002000 ETH each"
