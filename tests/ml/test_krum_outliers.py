"""Multi-Krum's outlier rule (krum_outliers): the exclusions DataMarket.vy enforces, by hand."""

from __future__ import annotations

import numpy as np
import pytest

from mercato.errors import InputError
from mercato.ml.aggregate import MultiKrum, Update
from mercato.ml.aggregate.krum import (
    DEFAULT_MULTIPLE,
    MAX_SCORE,
    SCORE_SCALE,
    UNOPENED_SCORE,
    chain_scores,
    krum_outliers,
)


def test_close_scores_exclude_nobody() -> None:
    # the highest, 1,540, is 14.7x the median of the others (105), under 15x
    scores = [100, 120, 90, 110, 1_540, 105, 95, 115]

    assert krum_outliers(scores, DEFAULT_MULTIPLE, 2) == ()


def test_far_scores_are_excluded_from_the_highest_down() -> None:
    # 9,000 is 82x the median below it (110); then 1,680 is 15.6x the next median (107.5)
    scores = [100, 120, 9_000, 110, 90, 105, 1_680, 115]

    assert krum_outliers(scores, DEFAULT_MULTIPLE, 2) == (2, 6)
    assert krum_outliers(scores, DEFAULT_MULTIPLE, 1) == (2,)
    assert krum_outliers(scores, 1_600, 2) == (2,)  # 1,680 is not above 16 x 107.5
    assert krum_outliers(scores, DEFAULT_MULTIPLE, 0) == ()


def test_the_walk_stops_at_the_first_score_that_is_no_outlier() -> None:
    # after 1,000, 100 is exactly 20x the median below it (5): not above, so the walk stops
    scores = [1_000, 5, 5, 5, 5, 100, 5, 5]

    assert krum_outliers(scores, 2_000, 3) == (0,)
    assert krum_outliers(scores, 1_000, 3) == (0, 5)


def test_an_even_number_below_takes_the_mean_of_the_two_middle_scores() -> None:
    # below 31: 10, 10, 2, 2 -> median 6; 31 > 5 x 6 but 30 is not
    assert krum_outliers([31, 10, 10, 2, 2], 500, 1) == (0,)
    assert krum_outliers([30, 10, 10, 2, 2], 500, 1) == ()


def test_of_equal_scores_the_later_goes_first_and_unopened_before_all() -> None:
    assert krum_outliers([10**9, 1, 1, 10**9, 1, 1, 1], DEFAULT_MULTIPLE, 1) == (3,)
    assert krum_outliers([UNOPENED_SCORE, 1, 10**9, 1, 1], DEFAULT_MULTIPLE, 1) == (0,)
    assert krum_outliers([UNOPENED_SCORE, 1, 10**9, 1, 1, 1, 1], DEFAULT_MULTIPLE, 2) == (0, 2)


def test_one_score_alone_is_never_an_outlier() -> None:
    assert krum_outliers([UNOPENED_SCORE], DEFAULT_MULTIPLE, 1) == ()
    assert krum_outliers([], DEFAULT_MULTIPLE, 1) == ()


@pytest.mark.parametrize("multiple", [99, 0, -5, 1.5, True])
def test_a_multiple_below_one_or_not_an_integer_is_refused(multiple: object) -> None:
    with pytest.raises(InputError, match="outlier multiple"):
        krum_outliers([1, 2, 3], multiple, 1)  # type: ignore[arg-type]


def test_chain_scores_are_millionths_capped_at_the_chain_maximum() -> None:
    assert chain_scores([1.5, 0.0000014, 1e300]) == (1_500_000, 1, MAX_SCORE)
    assert SCORE_SCALE == 10**6


def test_multikrum_with_a_multiple_keeps_every_update_of_an_honest_cluster() -> None:
    rng = np.random.default_rng(0)
    updates = [Update(rng.normal(0.0, 0.1, size=20), 1) for _ in range(7)]
    poisoned = [*updates[:3], Update(np.full(20, 5.0), 1), *updates[3:]]

    honest = MultiKrum(f=2, multiple=DEFAULT_MULTIPLE).select(updates)
    defended = MultiKrum(f=2, multiple=DEFAULT_MULTIPLE).select(poisoned)

    assert honest.excluded == () and honest.selected == tuple(range(7))
    assert defended.excluded == (3,)
    assert MultiKrum(f=2).select(updates).excluded != ()  # textbook: always f
    with pytest.raises(InputError, match="not both"):
        MultiKrum(f=2, m=3, multiple=DEFAULT_MULTIPLE)
