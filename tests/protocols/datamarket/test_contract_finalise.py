"""DataMarket.vy, the model owner's aggregation: who may finalise and when, the exclusion
and score rules of each mode (robust mode excludes exactly the outliers of the recorded
scores, :func:`~mercato.ml.aggregate.krum.krum_outliers`), what every DO is paid, and the
refund at the end."""

from __future__ import annotations

import random

import pytest

from mercato.ml.aggregate.krum import DEFAULT_MULTIPLE, UNOPENED_SCORE, krum_outliers
from mercato.protocols.datamarket.market import SCORE_SCALE, Mode, Phase, TaskStatus, mask_of

from ..world import EMPTY, reverts
from .world import MODEL_HASH, PER_UPDATE, World

OUTLIER = 10**12
"""A score far above any multiple of the others' in these tests."""


def outlying(count: int, outliers: list[int], base: int = 5) -> list[int]:
    """``count`` scores, ``base`` but OUTLIER at the positions ``outliers``."""
    return [OUTLIER if i in outliers else base for i in range(count)]


def owed(world: World, count: int) -> list[int]:
    """What the first ``count`` DOs are owed."""
    return [world.owed(do) for do in world.dos[:count]]


# who and when -------------------------------------------------------------------------------


def test_finalise_by_anyone_but_the_model_owner_reverts(world: World) -> None:
    # prepare
    task_id = world.running(3)
    world.to_aggregate(task_id)

    for sender in [world.dos[0], world.stranger]:
        # act / assert
        with reverts("datamarket: only the model owner finalises"):
            world.finalise(task_id, sender=sender)
    assert world.state(task_id).phase is Phase.AGGREGATE


def test_finalise_outside_the_aggregate_phase_reverts(world: World) -> None:
    # prepare: a task still joining, one in SUBMIT, one finished
    joining = world.posted(3)
    submitting = world.running(3)
    finished = world.running(3)
    world.to_aggregate(finished)
    world.finalise(finished)

    for task_id in [joining, submitting, finished]:
        # act / assert
        with reverts("datamarket: no round to finalise"):
            world.finalise(task_id)
    assert world.owed(world.dos[0]) == PER_UPDATE  # from the finished task alone


def test_finalise_after_the_aggregation_deadline_reverts(world: World) -> None:
    # prepare
    task_id = world.running(3)
    world.to_aggregate(task_id)
    world.pass_deadline(task_id)

    # act / assert
    with reverts("datamarket: aggregation deadline passed; data owners claim"):
        world.finalise(task_id)
    assert owed(world, 3) == [0, 0, 0]


def test_finalise_with_an_empty_model_or_aggregate_hash_reverts(world: World) -> None:
    # prepare
    task_id = world.running(3)
    world.to_aggregate(task_id)

    # act / assert
    with reverts("datamarket: empty model hash"):
        world.finalise(task_id, model_hash=EMPTY)
    with reverts("datamarket: empty aggregate hash"):
        world.finalise(task_id, aggregate_hash=EMPTY)


# the rules of each mode ---------------------------------------------------------------------


def test_secure_finalise_with_exclusions_or_scores_reverts(world: World) -> None:
    # prepare
    task_id = world.running(3, 1, Mode.SECURE)
    world.to_aggregate(task_id)

    # act / assert
    with reverts("datamarket: secure aggregation cannot exclude anyone"):
        world.finalise(task_id, excluded=mask_of([0]))
    with reverts("datamarket: secure aggregation has no scores"):
        world.finalise(task_id, scores=[1, 2, 3])
    world.finalise(task_id)
    assert owed(world, 3) == [PER_UPDATE] * 3


def test_robust_finalise_excluding_a_non_submitter_or_too_many_reverts(world: World) -> None:
    # prepare: eight DOs, at most two excluded; DO 7 did not submit
    task_id = world.running(8, 1, Mode.ROBUST, bound=2)
    world.to_aggregate(task_id, skip=[7])

    for excluded in [mask_of([7]), mask_of([0, 7]), mask_of([8]), 1 << 255]:
        # act / assert
        with reverts("datamarket: excluded a data owner that did not submit"):
            world.finalise(task_id, excluded)
    # act / assert
    with reverts("datamarket: excluded more data owners than the task allows"):
        world.finalise(task_id, mask_of([0, 1, 2]))
    assert world.state(task_id).phase is Phase.AGGREGATE


def test_robust_finalise_needs_one_score_per_submitter_or_none(world: World) -> None:
    # prepare: seven submitters
    task_id = world.running(8, 1, Mode.ROBUST, bound=2)
    world.to_aggregate(task_id, skip=[7])

    for scores in [[1], [1] * 6, [1] * 8]:
        # act / assert
        with reverts("datamarket: one score per submitter"):
            world.finalise(task_id, mask_of([1]), scores)
    # act
    result = world.finalise(task_id, mask_of([1]), outlying(7, [1]))

    # assert
    assert result.event("RoundFinalised")["scores"] == outlying(7, [1])


def test_robust_finalise_cannot_exclude_the_only_update(world: World) -> None:
    # prepare: one submitter of five, which the MO may exclude (bound 1) but not drop,
    # even claiming it could not open it
    task_id = world.running(5, 1, Mode.ROBUST, bound=1)
    world.to_aggregate(task_id, skip=[0, 1, 2, 3])

    for scores in [[], [UNOPENED_SCORE]]:
        # act / assert
        with reverts("datamarket: excluded a data owner whose score is no outlier"):
            world.finalise(task_id, mask_of([4]), scores)
    world.finalise(task_id)
    assert world.owed(world.dos[4]) == PER_UPDATE


# which exclusions the scores justify ---------------------------------------------------------


def test_robust_finalise_with_no_outlier_excludes_nobody(world: World) -> None:
    # prepare: eight honest DOs of close scores (the highest 14x the median of the others,
    # under the default 15x); the MO may exclude two
    task_id = world.running(8, 1, Mode.ROBUST, bound=2)
    world.to_aggregate(task_id)
    scores = [100, 120, 90, 110, 1_540, 105, 95, 115]

    for excluded in [mask_of([4]), mask_of([4, 1]), mask_of([0])]:
        # act / assert
        with reverts("datamarket: excluded a data owner whose score is no outlier"):
            world.finalise(task_id, excluded, scores)
    # act
    result = world.finalise(task_id, 0, scores)

    # assert
    assert result.event("RoundFinalised")["used"] == mask_of(range(8))
    assert owed(world, 8) == [PER_UPDATE] * 8


def test_robust_finalise_must_exclude_every_outlier(world: World) -> None:
    # prepare: DOs 2 and 6 score far above the others (DO 6 15.6x their median)
    task_id = world.running(8, 1, Mode.ROBUST, bound=2)
    world.to_aggregate(task_id)
    scores = [100, 120, 9_000, 110, 90, 105, 1_680, 115]

    for excluded in [0, mask_of([2]), mask_of([6])]:
        # act / assert
        with reverts("datamarket: kept a data owner whose score is an outlier"):
            world.finalise(task_id, excluded, scores)
    with reverts("datamarket: excluded a data owner whose score is no outlier"):
        world.finalise(task_id, mask_of([2, 7]), scores)
    # act
    result = world.finalise(task_id, mask_of([2, 6]), scores)

    # assert
    assert result.event("RoundFinalised")["excluded"] == mask_of([2, 6])


def test_robust_finalise_excludes_no_more_outliers_than_the_bound(world: World) -> None:
    # prepare: three far scores, but the task excludes at most two: the two highest go
    task_id = world.running(8, 1, Mode.ROBUST, bound=2)
    world.to_aggregate(task_id)
    scores = outlying(8, [1, 3, 5])
    scores[1] += 1  # of equal scores the higher index goes first; here DO 1 is higher

    # act / assert
    with reverts("datamarket: excluded a data owner whose score is no outlier"):
        world.finalise(task_id, mask_of([3, 5]), scores)
    with reverts("datamarket: kept a data owner whose score is an outlier"):
        world.finalise(task_id, mask_of([5]), scores)
    result = world.finalise(task_id, mask_of([1, 5]), scores)
    assert result.event("RoundFinalised")["excluded"] == mask_of([1, 5])


def test_robust_finalise_follows_the_task_multiple(world: World) -> None:
    # prepare: the same round under a 2x and a 20x multiple; DO 0 is 3x the median
    scores = [300, 100, 100, 100, 100]
    strict = world.running(5, 1, Mode.ROBUST, bound=1, outlier_multiple=200)
    lenient = world.running(5, 1, Mode.ROBUST, bound=1, outlier_multiple=2_000)
    world.to_aggregate(strict)
    world.to_aggregate(lenient)

    # act / assert
    with reverts("datamarket: kept a data owner whose score is an outlier"):
        world.finalise(strict, 0, scores)
    world.finalise(strict, mask_of([0]), scores)
    with reverts("datamarket: excluded a data owner whose score is no outlier"):
        world.finalise(lenient, mask_of([0]), scores)
    world.finalise(lenient, 0, scores)


def test_robust_finalise_with_an_unopened_update_or_a_score_out_of_range(world: World) -> None:
    # prepare: DO 3's update did not open: it scores UNOPENED_SCORE and must go first
    task_id = world.running(5, 1, Mode.ROBUST, bound=1)
    world.to_aggregate(task_id)
    scores = [5, 6, OUTLIER, UNOPENED_SCORE, 7]

    # act / assert
    with reverts("datamarket: score out of range"):
        world.finalise(task_id, mask_of([3]), [5, 6, 2**128, UNOPENED_SCORE, 7])
    with reverts("datamarket: excluded a data owner whose score is no outlier"):
        world.finalise(task_id, mask_of([2]), scores)
    with reverts("datamarket: kept a data owner whose score is an outlier"):
        world.finalise(task_id, 0, scores)
    result = world.finalise(task_id, mask_of([3]), scores)
    assert result.event("RoundFinalised")["excluded"] == mask_of([3])


@pytest.mark.parametrize("seed", range(4))
def test_the_contract_excludes_what_krum_outliers_excludes(world: World, seed: int) -> None:
    # prepare: random scores with ties and far ones, random bound and multiple
    rng = random.Random(seed)
    n = rng.randint(5, 8)
    bound = rng.randint(1, (n - 3) // 2)
    multiple = rng.choice([100, 150, DEFAULT_MULTIPLE, 5_000])
    task_id = world.running(n, 1, Mode.ROBUST, bound=bound, outlier_multiple=multiple)
    world.to_aggregate(task_id)
    scores = [rng.choice([10, 10, 20, 30, 500, 10**6, 10**9]) for _ in range(n)]
    expected = krum_outliers(scores, multiple, bound)

    # act
    result = world.finalise(task_id, mask_of(expected), scores)

    # assert
    assert result.event("RoundFinalised")["excluded"] == mask_of(expected)


# payments -----------------------------------------------------------------------------------


def test_robust_finalise_gives_the_shares_of_the_excluded_to_the_kept(world: World) -> None:
    # prepare: a share that six kept DOs cannot split evenly
    per_update = PER_UPDATE + 1
    task_id = world.running(8, 1, Mode.ROBUST, bound=2, reward=per_update * 8)
    world.to_aggregate(task_id)
    excluded = mask_of([2, 5])
    scores = [round(s * SCORE_SCALE) for s in [1.5, 1.25, 90.0, 2.0, 1.0, 75.5, 1.75, 3.0]]
    model_hash, aggregate_hash = world.blob(), world.blob()
    paid_each = per_update + 2 * per_update // 6

    # act
    result = world.finalise(
        task_id, excluded, scores, model_hash=model_hash, aggregate_hash=aggregate_hash
    )

    # assert
    assert result.event("RoundFinalised").args == {
        "task_id": task_id,
        "round": 1,
        "model_hash": model_hash,
        "aggregate_hash": aggregate_hash,
        "used": mask_of([0, 1, 3, 4, 6, 7]),
        "excluded": excluded,
        "scores": scores,
        "paid_each": paid_each,
    }
    assert owed(world, 8) == [paid_each] * 2 + [0] + [paid_each] * 2 + [0] + [paid_each] * 2
    dust = per_update * 8 - paid_each * 6
    assert 0 < dust < 6
    assert result.event("TaskFinished")["refund"] == dust
    assert world.owed(world.mo) == dust
    task = world.state(task_id)
    assert (task.status, task.locked) == (TaskStatus.FINISHED, 0)
    assert world.balance() == per_update * 8


def test_excluding_gains_the_model_owner_nothing(world: World) -> None:
    # prepare: two equal tasks with shares the kept DOs split evenly; one MO excludes two
    per_update = 6 * 10**14
    honest = world.running(8, 1, Mode.ROBUST, bound=2, reward=per_update * 8)
    world.to_aggregate(honest)
    world.finalise(honest)
    paid_honestly = sum(owed(world, 8))
    excluding = world.running(8, 1, Mode.ROBUST, bound=2, reward=per_update * 8)
    world.to_aggregate(excluding)

    # act
    world.finalise(excluding, mask_of([0, 7]), outlying(8, [0, 7]))

    # assert
    assert sum(owed(world, 8)) - paid_honestly == paid_honestly == per_update * 8
    assert world.owed(world.mo) == 0


def test_the_shares_of_data_owners_who_dropped_out_go_back_at_the_end(world: World) -> None:
    # prepare: DO 3 lets round 1 pass
    task_id = world.running(4, 2, Mode.ROBUST)
    world.to_aggregate(task_id, skip=[3])
    first = world.finalise(task_id)
    world.to_aggregate(task_id)

    # act
    last = world.finalise(task_id)

    # assert
    assert (first.event("RoundFinalised")["used"], first.event("RoundFinalised")["paid_each"]) == (
        mask_of([0, 1, 2]),
        PER_UPDATE,
    )
    assert "TaskFinished" not in [e.name for e in first.events]
    assert last.event("TaskFinished").args == {
        "task_id": task_id,
        "mo": world.mo.address,
        "rounds": 2,
        "refund": PER_UPDATE,
    }
    assert owed(world, 4) == [2 * PER_UPDATE] * 3 + [PER_UPDATE]
    assert world.owed(world.mo) == PER_UPDATE
    task = world.state(task_id)
    assert (task.status, task.round, task.phase, task.active, task.done, task.locked) == (
        TaskStatus.FINISHED,
        2,
        Phase.NONE,
        0,
        0,
        0,
    )


def test_secure_finalise_pays_every_submitter_revealed_or_not(world: World) -> None:
    # prepare: five DOs, threshold three; DO 4 drops before sharing, DO 3 submits but does
    # not reveal, so its update is in the sum
    task_id = world.running(5, 1, Mode.SECURE, bound=3)
    world.run_phase(task_id, skip=[4])
    world.run_phase(task_id)
    world.run_phase(task_id, skip=[3])

    # act
    result = world.finalise(task_id, model_hash=MODEL_HASH)

    # assert
    event = result.event("RoundFinalised")
    assert (event["used"], event["excluded"], event["scores"], event["paid_each"]) == (
        mask_of([0, 1, 2, 3]),
        0,
        [],
        PER_UPDATE,
    )
    assert owed(world, 5) == [PER_UPDATE] * 4 + [0]
    assert result.event("TaskFinished")["refund"] == PER_UPDATE
