"""P3's market without the chain: non-IID data, robust aggregation of deltas, poisoners."""

from __future__ import annotations

from functools import cache

import numpy as np
import pytest

from mercato.errors import InputError
from mercato.ml.federated_sim import (
    DEFAULT_LOCAL_EPOCHS,
    DEFAULT_ROUNDS,
    MarketData,
    MarketRun,
    aggregate_deltas,
    market_data,
    run_federation,
)
from mercato.ml.model_parts import PartedMLP
from mercato.ml.poison import Poisoner

MODEL = PartedMLP(64, 10)
F = 2
POISONED = (3, 7)
SEEDS = (0, 1)


@cache
def data_of(seed: int) -> MarketData:
    return market_data("digits", data_owners=10, seed=seed)


@cache
def run(seed: int, kind: str, rule: str) -> MarketRun:
    """One market on digits; ``kind`` "honest" or a poison that DOs 3 and 7 apply."""
    poisoners = {} if kind == "honest" else {i: Poisoner(kind) for i in POISONED}
    return run_federation(
        MODEL,
        data_of(seed),
        rounds=DEFAULT_ROUNDS,
        local_epochs=DEFAULT_LOCAL_EPOCHS,
        rule=rule,
        f=F,
        poisoners=poisoners,
        seed=seed,
    )


# market_data


def test_market_data_cuts_digits_into_test_mo_and_non_iid_owners() -> None:
    data = data_of(0)

    sizes = [len(part.y) for part in data.parts]
    assert len(data.parts) == 10
    assert len(data.test.y) == 450 and 30 <= len(data.mo.y) <= 40
    assert set(data.mo.y.tolist()) == set(range(10))  # a small but stratified slice
    assert all(len(part.classes) <= 4 for part in data.parts)
    assert len(data.test.y) + len(data.mo.y) + sum(sizes) == 1797
    rows = [x.tobytes() for d in (data.test, data.mo, *data.parts) for x in d.X]
    assert len(set(rows)) >= 1797 - 10  # disjoint, up to digits' few duplicate images
    pool = np.concatenate([data.mo.X, *(p.X for p in data.parts)])
    assert np.abs(pool.mean(axis=0)).max() < 1e-4  # standardised on the non-test part
    assert data_of(0).mo.digest() == market_data(seed=0).mo.digest()
    assert market_data(seed=1).mo.digest() != data.mo.digest()


def test_market_data_serves_other_owner_counts_and_datasets() -> None:
    three = market_data("digits", data_owners=3, seed=0)
    wine = market_data("wine", data_owners=4, mo_fraction=0.1, seed=0)

    assert [len(part.classes) for part in three.parts] == [4, 4, 4]
    assert len(wine.parts) == 4 and wine.mo.X.shape[1] == 13
    assert all(len(part.classes) == 3 for part in wine.parts)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"dataset": "mnist"}, "no dataset named 'mnist'"),
        ({"data_owners": 0}, "data_owners"),
        ({"data_owners": 2.0}, "data_owners"),
        ({"mo_fraction": 0.0}, "mo_fraction"),
        ({"mo_fraction": 0.75}, "mo_fraction"),
        ({"seed": -1}, "seed"),
    ],
)
def test_market_data_refuses_bad_arguments(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(InputError, match=message):
        market_data(**kwargs)  # type: ignore[arg-type]


# aggregate_deltas


def deltas_with_outliers() -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    deltas = [rng.normal(0.0, 0.1, size=20).astype(np.float32) for _ in range(8)]
    deltas.insert(2, np.full(20, 5.0, dtype=np.float32))
    deltas.insert(6, np.full(20, -5.0, dtype=np.float32))
    return deltas


def test_mean_is_the_plain_mean_secure_aggregation_computes() -> None:
    deltas = deltas_with_outliers()

    merged, excluded, scores = aggregate_deltas("mean", deltas, F)

    assert merged.dtype == np.float32 and excluded == () and scores == ()
    np.testing.assert_allclose(merged, np.mean(np.stack(deltas), axis=0), atol=1e-7)


def test_multikrum_excludes_the_outliers_and_reports_scores() -> None:
    deltas = deltas_with_outliers()
    honest = [d for i, d in enumerate(deltas) if i not in (2, 6)]

    merged, excluded, scores = aggregate_deltas("multikrum", deltas, F)

    assert excluded == (2, 6)
    assert len(scores) == 10 and min(scores[2], scores[6]) > max(np.delete(scores, [2, 6]))
    np.testing.assert_allclose(merged, np.mean(np.stack(honest), axis=0), atol=1e-6)
    assert merged.dtype == np.float32


@pytest.mark.parametrize("rule", ["median", "trimmed_mean"])
def test_coordinate_rules_ignore_the_outliers_and_exclude_no_one(rule: str) -> None:
    deltas = deltas_with_outliers()

    merged, excluded, scores = aggregate_deltas(rule, deltas, F)

    assert excluded == () and scores == () and merged.dtype == np.float32
    assert np.abs(merged).max() < 0.2


def test_aggregate_deltas_takes_float64_and_returns_float32() -> None:
    deltas = [np.array([1.0, 2.0]), np.array([3.0, 4.0]), np.array([5.0, 6.0])]

    for rule in ("mean", "median", "trimmed_mean"):
        merged, _, _ = aggregate_deltas(rule, deltas, 1 if rule == "trimmed_mean" else 0)
        assert merged.dtype == np.float32
        np.testing.assert_array_equal(merged, [3.0, 4.0])


@pytest.mark.parametrize(
    ("rule", "deltas", "f", "message"),
    [
        ("fedavg", [np.zeros(3)] * 5, 0, "no aggregation rule named 'fedavg'"),
        ("mean", [np.zeros(3)] * 5, -1, "f must be"),
        ("mean", [], 0, "at least one delta"),
        ("mean", [np.zeros(3), np.zeros(4)], 0, "delta 1 has 4 values"),
        ("mean", [np.zeros(3), np.array([0.0, np.nan, 0.0])], 0, "delta 1 holds NaN"),
        ("mean", [np.zeros(3), np.array([0.0, 1e39, 0.0])], 0, "delta 1 holds NaN"),
        ("mean", [np.zeros((3, 1))], 0, "1-D float"),
        ("mean", [np.zeros(3, dtype=np.int64)], 0, "1-D float"),
        ("trimmed_mean", [np.zeros(3)] * 4, 2, "2f < n"),
        ("multikrum", [np.zeros(3)] * 6, 2, "n >= 2f \\+ 3"),
    ],
)
def test_aggregate_deltas_refuses_bad_input(
    rule: str, deltas: list[np.ndarray], f: int, message: str
) -> None:
    with pytest.raises(InputError, match=message):
        aggregate_deltas(rule, deltas, f)


# the market


@pytest.mark.parametrize("seed", SEEDS)
def test_federated_rounds_lift_the_model_owner_well_above_its_own_slice(seed: int) -> None:
    honest = run(seed, "honest", "mean")

    assert 0.6 < honest.accuracy_before < 0.85
    assert honest.accuracy_after > 0.91
    assert honest.accuracy_after - honest.accuracy_before > 0.1
    assert honest.excluded == ((),) * DEFAULT_ROUNDS


@pytest.mark.parametrize("seed", SEEDS)
def test_multikrum_with_no_poisoner_excludes_nobody(seed: int) -> None:
    honest = run(seed, "honest", "mean")

    robust = run(seed, "honest", "multikrum")

    assert robust.excluded == ((),) * DEFAULT_ROUNDS
    assert all(len(scores) == 10 for scores in robust.scores)
    assert robust.accuracy_after > honest.accuracy_after - 0.01


def test_textbook_multikrum_drops_f_honest_owners_every_round() -> None:
    textbook = run_federation(
        MODEL, data_of(0), rounds=2, local_epochs=1, rule="multikrum", f=F, seed=0, multiple=None
    )

    assert [len(r) for r in textbook.excluded] == [F, F]


@pytest.mark.parametrize("kind", ["scale", "noise"])
@pytest.mark.parametrize("seed", SEEDS)
def test_multikrum_excludes_the_poisoners_and_keeps_the_honest_accuracy(
    seed: int, kind: str
) -> None:
    honest = run(seed, "honest", "mean")

    defended = run(seed, kind, "multikrum")

    assert defended.excluded == (POISONED,) * DEFAULT_ROUNDS
    assert all(len(scores) == 10 for scores in defended.scores)
    assert defended.accuracy_before == honest.accuracy_before
    assert defended.accuracy_after > honest.accuracy_after - 0.025


@pytest.mark.parametrize("seed", SEEDS)
def test_label_flips_within_the_honest_spread_are_kept_and_cost_little(seed: int) -> None:
    honest = run(seed, "honest", "mean")

    flipped = run(seed, "label_flip", "multikrum")

    assert all(set(r) <= set(POISONED) for r in flipped.excluded)  # never an honest DO
    assert flipped.accuracy_after > honest.accuracy_after - 0.025


@pytest.mark.parametrize(("kind", "ceiling"), [("scale", 0.3), ("noise", 0.7)])
@pytest.mark.parametrize("seed", SEEDS)
def test_the_undefended_mean_is_wrecked_by_scaled_and_noisy_deltas(
    seed: int, kind: str, ceiling: float
) -> None:
    defended = run(seed, kind, "multikrum")

    undefended = run(seed, kind, "mean")

    assert undefended.accuracy_after < ceiling
    assert undefended.accuracy_after < defended.accuracy_after - 0.2
    assert undefended.excluded == ((),) * DEFAULT_ROUNDS


@pytest.mark.parametrize("rule", ["median", "trimmed_mean"])
@pytest.mark.parametrize("kind", ["scale", "noise"])
def test_coordinate_rules_resist_scaled_and_noisy_deltas(kind: str, rule: str) -> None:
    undefended = run(0, kind, "mean")

    robust = run(0, kind, rule)

    assert robust.accuracy_after > 0.85
    assert robust.accuracy_after > undefended.accuracy_after + 0.3


def test_run_market_is_deterministic() -> None:
    data = data_of(1)
    arguments = {"rounds": 2, "local_epochs": 1, "rule": "multikrum", "f": F, "seed": 5}
    poisoners = {0: Poisoner("noise"), 9: Poisoner("label_flip")}

    first = run_federation(MODEL, data, poisoners=poisoners, **arguments)  # type: ignore[arg-type]
    second = run_federation(MODEL, data, poisoners=poisoners, **arguments)  # type: ignore[arg-type]

    assert first == second


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"rule": "krum"}, "no aggregation rule named 'krum'"),
        ({"rounds": -1}, "rounds"),
        ({"local_epochs": 1.5}, "local_epochs"),
        ({"head_epochs": -2}, "head_epochs"),
        ({"poisoners": {10: Poisoner("scale")}}, "poisoner index 10"),
        ({"poisoners": {1: "scale"}}, "must be a Poisoner"),
        ({"f": 4}, "n >= 2f \\+ 3"),
        ({"seed": 2**32}, "seed"),
    ],
)
def test_run_market_refuses_bad_arguments(kwargs: dict[str, object], message: str) -> None:
    arguments: dict[str, object] = {
        "rounds": 1,
        "local_epochs": 1,
        "rule": "multikrum",
        "f": F,
        **kwargs,
    }

    with pytest.raises(InputError, match=message):
        run_federation(MODEL, data_of(0), **arguments)  # type: ignore[arg-type]
