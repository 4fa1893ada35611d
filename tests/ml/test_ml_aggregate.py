"""Federated averaging: the maths, its determinism and what it refuses."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from mercato.errors import InputError
from mercato.ml.aggregate.base import Aggregator, Update
from mercato.ml.aggregate.fedavg import FedAvg, weighted_average
from mercato.ml.aggregate.simulate import round_seed, schedule


def test_fedavg_weights_each_update_by_its_example_count() -> None:
    updates = [
        Update(np.array([1.0, 0.0]), 1),
        Update(np.array([4.0, 3.0]), 2),
    ]

    merged = FedAvg().aggregate(updates)

    np.testing.assert_array_equal(merged, [3.0, 2.0])  # (1*[1,0] + 2*[4,3]) / 3
    assert isinstance(FedAvg(), Aggregator) and FedAvg().name == "fedavg"


def test_fedavg_keeps_the_dtype_of_the_updates() -> None:
    updates = [Update(np.ones(3, dtype=np.float32), 5), Update(np.zeros(3, dtype=np.float32), 5)]

    merged = FedAvg().aggregate(updates)

    assert merged.dtype == np.float32
    np.testing.assert_array_equal(merged, np.full(3, 0.5, dtype=np.float32))


@settings(max_examples=50, deadline=None)
@given(
    vectors=st.lists(arrays(np.float64, 4, elements=st.floats(-1e6, 1e6)), min_size=1, max_size=6),
    data=st.data(),
)
def test_weighted_average_lies_between_the_extremes_and_is_reproducible(
    vectors: list[np.ndarray], data: st.DataObject
) -> None:
    counts = data.draw(st.lists(st.integers(1, 1000), min_size=len(vectors), max_size=len(vectors)))

    merged = weighted_average(vectors, counts)

    stacked = np.stack(vectors)
    slack = 1e-9 * (1 + np.abs(stacked).max())
    assert (merged >= stacked.min(axis=0) - slack).all()
    assert (merged <= stacked.max(axis=0) + slack).all()
    assert merged.tobytes() == weighted_average(vectors, counts).tobytes()


def test_equal_updates_average_to_themselves() -> None:
    weights = np.random.default_rng(0).normal(size=50)

    merged = FedAvg().aggregate([Update(weights, 7), Update(weights.copy(), 300)])

    np.testing.assert_allclose(merged, weights, rtol=1e-15)


@pytest.mark.parametrize(
    ("updates", "message"),
    [
        ([], "at least one update"),
        ([Update(np.zeros(2), 1), Update(np.zeros(3), 1)], "update 1: weights are float64"),
        (
            [Update(np.zeros(2), 1), Update(np.zeros(2, dtype=np.float32), 1)],
            "update 1: weights are float32",
        ),
        ([Update(np.zeros(2), 0)], "n_examples must be a positive integer"),
        ([Update(np.array([np.inf, 0.0]), 1)], "NaN or infinite"),
        ([Update(np.zeros((2, 2)), 1)], "1-D float vector"),
    ],
)
def test_fedavg_rejects_bad_updates(updates: list[Update], message: str) -> None:
    with pytest.raises(InputError, match=message):
        FedAvg().aggregate(updates)


def test_schedule_uses_every_subset_in_turn() -> None:
    plan = schedule(subsets=4, per_round=2, rounds=6, seed=3)

    assert all(len(chosen) == 2 and len(set(chosen)) == 2 for chosen in plan)
    assert {s for chosen in plan[:2] for s in chosen} == {0, 1, 2, 3}
    assert plan == schedule(subsets=4, per_round=2, rounds=6, seed=3)


def test_round_seeds_differ_by_round_and_repeat_by_seed() -> None:
    assert round_seed(1, 0) != round_seed(1, 1)
    assert round_seed(1, 5) == round_seed(1, 5)
