"""Poisoning data owners: label flip, scaled and noisy deltas, inside secure aggregation."""

from __future__ import annotations

import numpy as np
import pytest

from mercato.crypto.secagg import max_abs, quantise
from mercato.errors import InputError
from mercato.ml.datasets import Dataset
from mercato.ml.federated_sim import MarketData, market_data
from mercato.ml.model_parts import PartedMLP
from mercato.ml.poison import MAX_POISON_ABS, POISONS, Poisoner, flip_labels

MODEL = PartedMLP(64, 10)
EPOCHS = 2


@pytest.fixture(scope="module")
def data() -> MarketData:
    return market_data("digits", data_owners=10, seed=1)


@pytest.fixture(scope="module")
def public(data: MarketData) -> np.ndarray:
    public, private = MODEL.init(seed=1)
    return MODEL.train_full(public, private, data.mo, epochs=30, seed=1)[0]


def test_flip_labels_maps_y_to_n_minus_one_minus_y(data: MarketData) -> None:
    owner = data.parts[0]

    flipped = flip_labels(owner, 10)

    np.testing.assert_array_equal(flipped.y, 9 - owner.y)
    np.testing.assert_array_equal(flipped.X, owner.X)
    assert flipped.ontology_class == owner.ontology_class
    np.testing.assert_array_equal(flip_labels(flipped, 10).y, owner.y)


def test_flip_labels_checks_its_inputs(data: MarketData) -> None:
    with pytest.raises(InputError, match="n_classes"):
        flip_labels(data.mo, 1)
    with pytest.raises(InputError, match="labels outside"):
        flip_labels(data.mo, 5)


def test_label_flip_is_honest_training_on_flipped_labels(
    data: MarketData, public: np.ndarray
) -> None:
    owner = data.parts[3]

    poisoned = Poisoner("label_flip").update(MODEL, public, owner, EPOCHS, seed=4)

    expected = MODEL.local_update(public, flip_labels(owner, 10), EPOCHS, seed=4)
    assert poisoned.dtype == np.float32
    assert poisoned.tobytes() == expected.tobytes()
    assert poisoned.tobytes() != MODEL.local_update(public, owner, EPOCHS, seed=4).tobytes()


def test_scale_multiplies_the_honest_delta(data: MarketData, public: np.ndarray) -> None:
    owner = data.parts[3]
    honest = MODEL.local_update(public, owner, EPOCHS, seed=4)

    poisoned = Poisoner("scale").update(MODEL, public, owner, EPOCHS, seed=4)

    assert Poisoner("scale").factor == -10.0
    assert poisoned.dtype == np.float32
    np.testing.assert_array_equal(poisoned, (honest.astype(np.float64) * -10.0).astype(np.float32))


def test_noise_is_seeded_gaussian_scaled_to_the_honest_delta(
    data: MarketData, public: np.ndarray
) -> None:
    owner = data.parts[3]
    honest = MODEL.local_update(public, owner, EPOCHS, seed=4).astype(np.float64)
    poisoner = Poisoner("noise", factor=20.0)

    first = poisoner.update(MODEL, public, owner, EPOCHS, seed=4)
    again = poisoner.update(MODEL, public, owner, EPOCHS, seed=4)
    other = poisoner.update(MODEL, public, owner, EPOCHS, seed=5)

    noise = first.astype(np.float64) - honest
    assert first.dtype == np.float32
    assert first.tobytes() == again.tobytes() and first.tobytes() != other.tobytes()
    assert np.std(noise) == pytest.approx(20.0 * np.std(honest), rel=0.05)
    assert abs(np.mean(noise)) < 0.1 * np.std(noise)
    assert Poisoner("noise").factor == 50.0


@pytest.mark.parametrize("kind", POISONS)
def test_poisoned_deltas_fit_secure_aggregation(
    kind: str, data: MarketData, public: np.ndarray
) -> None:
    poisoned = Poisoner(kind).update(MODEL, public, data.parts[5], EPOCHS, seed=6)

    quantise(poisoned, n_parties=10)  # raises InputError outside the fixed-point range
    assert np.abs(poisoned).max() <= MAX_POISON_ABS <= max_abs(32)


def test_extreme_factors_are_clipped_into_range(data: MarketData, public: np.ndarray) -> None:
    owner = data.parts[5]
    honest = MODEL.local_update(public, owner, EPOCHS, seed=6).astype(np.float64)

    poisoned = Poisoner("scale", factor=-1e9).update(MODEL, public, owner, EPOCHS, seed=6)

    expected = np.clip(-1e9 * honest, -MAX_POISON_ABS, MAX_POISON_ABS).astype(np.float32)
    np.testing.assert_array_equal(poisoned, expected)
    assert np.abs(poisoned).max() == MAX_POISON_ABS


@pytest.mark.parametrize(
    ("kind", "factor", "message"),
    [
        ("sign_flip", None, "no poison named 'sign_flip'"),
        ("noise", 0.0, "need > 0"),
        ("noise", -3.0, "need > 0"),
        ("scale", float("nan"), "finite"),
        ("scale", float("inf"), "finite"),
        ("scale", True, "number"),
        ("scale", "10", "number"),
    ],
)
def test_bad_poisoners_are_refused(kind: str, factor: object, message: str) -> None:
    with pytest.raises(InputError, match=message):
        Poisoner(kind, factor)  # type: ignore[arg-type]


def test_poisoner_checks_the_data_like_an_honest_update(public: np.ndarray) -> None:
    wide = Dataset("wide", "mc:HandwrittenDigitImages", np.zeros((4, 65)), np.zeros(4))

    for kind in POISONS:
        with pytest.raises(InputError, match="features"):
            Poisoner(kind).update(MODEL, public, wide, EPOCHS, seed=0)
