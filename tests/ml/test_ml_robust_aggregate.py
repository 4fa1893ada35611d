"""Robust aggregation: Multi-Krum, coordinate median and trimmed mean against poisoned updates."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from mercato.errors import InputError
from mercato.ml.aggregate import (
    Aggregator,
    CoordinateMedian,
    FedAvg,
    MultiKrum,
    TrimmedMean,
    Update,
    trim_count,
)

HONEST = 8
POISONED = (3, 7)  # positions of the f = 2 poisoners among n = 10 updates
ATTACKS: dict[str, Callable[[np.ndarray, np.random.Generator], np.ndarray]] = {
    "scaled": lambda w, rng: 10.0 * w,
    "noise": lambda w, rng: w + 10.0 * rng.normal(size=w.shape),
    "sign_flip": lambda w, rng: -w,
}


def updates_of(*rows: list[float], dtype: type = np.float64) -> list[Update]:
    return [Update(np.array(row, dtype=dtype), 10) for row in rows]


def poisoned_round(attack: str, seed: int = 7) -> tuple[list[Update], np.ndarray]:
    """Ten updates: eight honest ones near a centre, two poisoned at POISONED; the honest mean."""
    rng = np.random.default_rng(seed)
    centre = rng.normal(size=50)
    honest = [centre + 0.1 * rng.normal(size=50) for _ in range(HONEST)]
    vectors = list(honest)
    for position in POISONED:
        vectors.insert(position, ATTACKS[attack](centre + 0.1 * rng.normal(size=50), rng))
    return [Update(v, 100) for v in vectors], np.mean(honest, axis=0)


# Multi-Krum


def test_multikrum_scores_and_selection_by_hand() -> None:
    updates = updates_of([0.0, 0.0], [1.0, 0.0], [2.0, 0.0], [3.0, 0.0], [100.0, 0.0])

    result = MultiKrum(f=1).select(updates)  # n - f - 2 = 2 neighbours, m = n - f = 4

    # 0: 1 + 4; 1: 1 + 1; 2: 1 + 1; 3: 1 + 4; 100: 97^2 + 98^2
    assert result.scores == (5.0, 2.0, 2.0, 5.0, 19013.0)
    assert result.selected == (0, 1, 2, 3) and result.excluded == (4,)
    np.testing.assert_array_equal(result.weights, [1.5, 0.0])
    np.testing.assert_array_equal(MultiKrum(f=1).aggregate(updates), result.weights)


def test_krum_breaks_equal_scores_by_index() -> None:
    updates = updates_of([0.0], [1.0], [2.0], [3.0], [100.0])

    krum = MultiKrum(f=1, m=1).select(updates)  # updates 1 and 2 both score 2

    assert krum.selected == (1,) and krum.excluded == (0, 2, 3, 4)
    np.testing.assert_array_equal(krum.weights, [1.0])


def test_multikrum_averages_plainly_ignoring_claimed_example_counts() -> None:
    updates = [
        Update(np.array([0.0]), 1),
        Update(np.array([1.0]), 1),
        Update(np.array([2.0]), 10**9),
        Update(np.array([50.0]), 1),
    ]

    result = MultiKrum(f=0, m=3).select(updates)

    assert result.excluded == (3,)
    np.testing.assert_array_equal(result.weights, [1.0])  # (0 + 1 + 2) / 3, counts unused


def test_multikrum_keeping_everything_is_the_plain_mean() -> None:
    rng = np.random.default_rng(1)
    updates = [Update(rng.normal(size=20), 5) for _ in range(6)]

    merged = MultiKrum(f=0).aggregate(updates)  # m = n - 0

    np.testing.assert_allclose(merged, np.mean([u.weights for u in updates], axis=0))


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_multikrum_excludes_exactly_the_poisoners(attack: str) -> None:
    updates, honest_mean = poisoned_round(attack)

    result = MultiKrum(f=2).select(updates)

    assert result.excluded == POISONED
    assert min(result.scores[i] for i in POISONED) > max(
        s for i, s in enumerate(result.scores) if i not in POISONED
    )
    assert np.linalg.norm(result.weights - honest_mean) < 1e-12


def test_multikrum_is_deterministic() -> None:
    updates, _ = poisoned_round("noise")

    first, second = MultiKrum(f=2, m=3).select(updates), MultiKrum(f=2, m=3).select(updates)

    assert first.weights.tobytes() == second.weights.tobytes()
    assert (first.scores, first.selected) == (second.scores, second.selected)


# Median and trimmed mean


def test_coordinate_median_by_hand() -> None:
    odd = updates_of([1.0, 9.0], [5.0, -3.0], [2.0, 100.0])
    even = updates_of([1.0, 10.0], [2.0, 20.0], [3.0, 30.0], [100.0, -5.0])

    np.testing.assert_array_equal(CoordinateMedian().aggregate(odd), [2.0, 9.0])
    # sorted columns: 1 2 3 100 -> (2 + 3) / 2; -5 10 20 30 -> (10 + 20) / 2
    np.testing.assert_array_equal(CoordinateMedian().aggregate(even), [2.5, 15.0])


@pytest.mark.parametrize("beta", [1, 0.2, 0.25, 0.39])
def test_trimmed_mean_by_hand(beta: float | int) -> None:
    updates = updates_of([1.0, 5.0], [2.0, 6.0], [3.0, 7.0], [4.0, 8.0], [100.0, -100.0])

    merged = TrimmedMean(beta).aggregate(updates)  # k = 1 for each beta

    # columns without their lowest and highest: 2 3 4 -> 3; 5 6 7 -> 6
    np.testing.assert_array_equal(merged, [3.0, 6.0])


def test_trim_count_from_beta() -> None:
    assert trim_count(2, 10) == 2
    assert trim_count(0.1, 5) == 0
    assert trim_count(0.29, 100) == 29  # 0.29 * 100 is 28.999999999999996 in floating point
    assert trim_count(0.0, 7) == 0


def test_trimmed_mean_without_trimming_is_the_plain_mean() -> None:
    updates = updates_of([0.0, 4.0], [3.0, 1.0], [9.0, 1.0])

    np.testing.assert_array_equal(TrimmedMean(0).aggregate(updates), [4.0, 2.0])


@pytest.mark.parametrize("attack", sorted(ATTACKS))
@pytest.mark.parametrize("rule", [CoordinateMedian(), TrimmedMean(2)], ids=lambda r: r.name)
def test_median_and_trimmed_mean_stay_near_the_honest_mean(attack: str, rule: Aggregator) -> None:
    updates, honest_mean = poisoned_round(attack)

    robust = np.linalg.norm(rule.aggregate(updates) - honest_mean)
    undefended = np.linalg.norm(FedAvg().aggregate(updates) - honest_mean)

    assert robust < 0.5
    assert undefended > 2.0 and undefended > 5 * robust


@settings(max_examples=50, deadline=None)
@given(
    vectors=st.lists(arrays(np.float64, 3, elements=st.floats(-1e6, 1e6)), min_size=3, max_size=8),
)
def test_median_and_trimmed_mean_lie_between_the_extremes(vectors: list[np.ndarray]) -> None:
    updates = [Update(v, 1) for v in vectors]
    stacked = np.stack(vectors)

    for merged in (CoordinateMedian().aggregate(updates), TrimmedMean(1).aggregate(updates)):
        assert (merged >= stacked.min(axis=0)).all() and (merged <= stacked.max(axis=0)).all()


# Shared behaviour and refusals

RULES = [MultiKrum(f=1), CoordinateMedian(), TrimmedMean(1)]


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.name)
def test_rules_satisfy_the_protocol_and_keep_the_dtype(rule: Aggregator) -> None:
    rows = [[0.0, 1.0], [0.5, 1.5], [1.0, 2.0], [1.5, 2.5], [9.0, -9.0]]
    updates = updates_of(*rows, dtype=np.float32)

    merged = rule.aggregate(updates)

    assert isinstance(rule, Aggregator)
    assert merged.dtype == np.float32 and merged.shape == (2,)


def test_rule_names() -> None:
    assert [r.name for r in RULES] == ["multikrum", "median", "trimmed_mean"]


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.name)
@pytest.mark.parametrize(
    ("updates", "message"),
    [
        ([], "at least one update"),
        (updates_of([0.0, 0.0], [1.0], [2.0, 0.0], [3.0, 0.0], [4.0, 0.0]), "update 1: weights"),
        (updates_of([0.0], [1.0], [np.nan], [3.0], [4.0]), "update 2: .*NaN"),
        (
            [Update(np.zeros(1), 1), Update(np.zeros(1, dtype=np.float32), 1)] * 3,
            "update 1: weights are float32",
        ),
    ],
)
def test_rules_reject_bad_updates(rule: Aggregator, updates: list[Update], message: str) -> None:
    with pytest.raises(InputError, match=message):
        rule.aggregate(updates)


def test_multikrum_refuses_too_few_updates_for_f() -> None:
    updates = updates_of([0.0], [1.0], [2.0], [3.0], [4.0], [5.0])

    with pytest.raises(InputError, match=r"multikrum: f=2 needs at least 7 updates .* got 6"):
        MultiKrum(f=2).aggregate(updates)


def test_multikrum_refuses_keeping_more_than_n_minus_f() -> None:
    updates = updates_of([0.0], [1.0], [2.0], [3.0], [4.0])

    with pytest.raises(InputError, match=r"multikrum: m=5 exceeds n - f = 4"):
        MultiKrum(f=1, m=5).aggregate(updates)


@pytest.mark.parametrize(
    ("f", "m", "message"),
    [
        (-1, None, "f must be a non-negative integer"),
        (1.0, None, "f must be a non-negative integer"),
        (True, None, "f must be a non-negative integer"),
        (1, 0, "m must be a positive integer or None"),
    ],
)
def test_multikrum_refuses_bad_parameters(f: int, m: int | None, message: str) -> None:
    with pytest.raises(InputError, match=f"multikrum: {message}"):
        MultiKrum(f, m)


@pytest.mark.parametrize(
    ("beta", "message"),
    [
        (0.5, "need 0 <= beta < 0.5"),
        (-0.1, "need 0 <= beta < 0.5"),
        (float("nan"), "need 0 <= beta < 0.5"),
        (-1, "need >= 0"),
        (True, "must be an int or a float"),
        ("0.1", "must be an int or a float"),
    ],
)
def test_trimmed_mean_refuses_bad_beta(beta: float, message: str) -> None:
    with pytest.raises(InputError, match=f"trimmed_mean: .*{message}"):
        TrimmedMean(beta)


def test_trimmed_mean_refuses_trimming_everything() -> None:
    updates = updates_of([0.0], [1.0], [2.0], [3.0])

    with pytest.raises(InputError, match=r"trimmed_mean: trimming k=2 from each end of 4"):
        TrimmedMean(2).aggregate(updates)
