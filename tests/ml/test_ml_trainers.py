"""Trainers: one interface, two implementations, byte-identical results for identical inputs."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from mercato.errors import InputError
from mercato.ml import Dataset, holdout_split, load_dataset
from mercato.ml.trainers import (
    NumpyLogReg,
    TorchMLP,
    Trainer,
    weights_from_bytes,
    weights_to_bytes,
)
from mercato.ml.trainers.weights import HEADER

EPOCHS = 5


@pytest.fixture(scope="module")
def digits_parts() -> tuple[Dataset, Dataset]:
    """Digits cut into a training and a test dataset."""
    digits = load_dataset("digits")
    split = holdout_split(digits, seed=0)
    train = Dataset("digits-train", digits.ontology_class, split.X_train, split.y_train)
    test = Dataset("digits-test", digits.ontology_class, split.X_test, split.y_test)
    return train, test


def trainers() -> list[Trainer]:
    """Both implementations, with mini-batches so that the seed matters."""
    return [
        NumpyLogReg(64, 10, learning_rate=0.001, batch_size=32),
        TorchMLP(64, 10, hidden=32, learning_rate=0.005, batch_size=16),
    ]


@pytest.mark.parametrize("trainer", trainers(), ids=lambda t: t.kind)
def test_trainer_learns_digits_and_is_a_trainer(
    trainer: Trainer, digits_parts: tuple[Dataset, Dataset]
) -> None:
    train, test = digits_parts

    weights = trainer.train(None, train, EPOCHS, seed=1)

    assert isinstance(trainer, Trainer)
    assert weights.shape == (trainer.n_params,)
    assert trainer.accuracy(weights, test) > 0.9
    assert trainer.spec()["kind"] == trainer.kind


@pytest.mark.parametrize("trainer", trainers(), ids=lambda t: t.kind)
def test_same_inputs_give_byte_identical_weights(
    trainer: Trainer, digits_parts: tuple[Dataset, Dataset]
) -> None:
    train, _ = digits_parts
    start = trainer.init_weights(seed=4)

    first = trainer.train(start, train, EPOCHS, seed=9)
    second = trainer.train(start.copy(), train, EPOCHS, seed=9)
    other_seed = trainer.train(start, train, EPOCHS, seed=10)

    assert weights_to_bytes(first) == weights_to_bytes(second)
    assert weights_to_bytes(first) != weights_to_bytes(other_seed)


@pytest.mark.parametrize("trainer", trainers(), ids=lambda t: t.kind)
def test_training_leaves_its_inputs_alone(
    trainer: Trainer, digits_parts: tuple[Dataset, Dataset]
) -> None:
    train, _ = digits_parts
    start = trainer.init_weights(seed=2)
    kept = start.copy()

    trainer.train(start, train, 1, seed=0)

    assert np.array_equal(start, kept)


def test_numpy_logreg_layout_is_w_row_by_row_then_biases() -> None:
    model = NumpyLogReg(n_features=2, n_classes=3)
    W = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 2.0]])
    b = np.array([0.0, 0.5, 0.0])
    X = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]], dtype=np.float32)

    predicted = model.predict(np.concatenate([W.ravel(), b]), X)

    assert predicted.tolist() == [0, 2, 1]


def test_torch_mlp_layout_is_torch_parameter_order() -> None:
    model = TorchMLP(n_features=3, n_classes=2, hidden=4)
    weights = model.init_weights(seed=5)
    X = np.random.default_rng(0).normal(size=(20, 3)).astype(np.float32)
    W1, rest = weights[:12].reshape(4, 3), weights[12:]
    b1, rest = rest[:4], rest[4:]
    W2, b2 = rest[:8].reshape(2, 4), rest[8:]

    by_hand = np.argmax(np.maximum(X @ W1.T + b1, 0.0) @ W2.T + b2, axis=1)

    assert np.array_equal(model.predict(weights, X), by_hand)


def test_torch_training_restores_the_callers_torch_settings(
    digits_parts: tuple[Dataset, Dataset],
) -> None:
    import torch

    train, _ = digits_parts
    threads = torch.get_num_threads()
    deterministic = torch.are_deterministic_algorithms_enabled()
    state = torch.random.get_rng_state()

    TorchMLP(64, 10, hidden=8).train(None, train, 1, seed=3)

    assert torch.get_num_threads() == threads
    assert torch.are_deterministic_algorithms_enabled() == deterministic
    assert torch.equal(torch.random.get_rng_state(), state)


def test_full_batch_logreg_federated_average_is_one_centralised_step(
    digits_parts: tuple[Dataset, Dataset],
) -> None:
    train, _ = digits_parts
    model = NumpyLogReg(64, 10, learning_rate=0.01)
    halves = [
        Dataset(f"half-{i}", train.ontology_class, train.X[part], train.y[part])
        for i, part in enumerate(np.array_split(np.arange(len(train.y)), 2))
    ]
    start = model.init_weights(0)

    local = [model.train(start, half, 1, seed=0) for half in halves]
    averaged = sum(len(h.y) * w for h, w in zip(halves, local, strict=True)) / len(train.y)

    np.testing.assert_allclose(averaged, model.train(start, train, 1, seed=0), atol=1e-12)


@pytest.mark.parametrize("trainer", trainers(), ids=lambda t: t.kind)
def test_training_rejects_data_that_does_not_fit_the_model(
    trainer: Trainer, digits_parts: tuple[Dataset, Dataset]
) -> None:
    iris = load_dataset("iris")  # 4 features, not 64

    with pytest.raises(InputError, match="has 4 features, the model 64"):
        trainer.train(None, iris, 1, seed=0)
    with pytest.raises(InputError, match="epochs must be an integer"):
        trainer.train(None, digits_parts[0], -1, seed=0)
    with pytest.raises(InputError, match="weights must be a float vector of"):
        trainer.predict(np.zeros(3), iris.X)


def test_labels_beyond_the_models_classes_are_rejected() -> None:
    iris = load_dataset("iris")

    with pytest.raises(InputError, match=r"labels outside 0\.\.1"):
        NumpyLogReg(4, 2).train(None, iris, 1, seed=0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_features": 0, "n_classes": 3}, "n_features must be an integer of at least 1"),
        ({"n_features": 4, "n_classes": 1}, "n_classes must be an integer of at least 2"),
        (
            {"n_features": 4, "n_classes": 3, "learning_rate": 0},
            "learning_rate must be a positive number",
        ),
        ({"n_features": 4, "n_classes": 3, "batch_size": 0}, "batch_size must be None or"),
    ],
)
def test_bad_hyper_parameters_are_rejected(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(InputError, match=message):
        NumpyLogReg(**kwargs)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_weights_round_trip_through_bytes(dtype: type[np.floating[np.typing.NBitBase]]) -> None:
    weights = np.random.default_rng(1).normal(size=17).astype(dtype)

    data = weights_to_bytes(weights)
    restored = weights_from_bytes(data)

    assert data[:4] == b"MCWT" and len(data) == HEADER.size + 17 * np.dtype(dtype).itemsize
    assert restored.dtype == dtype and np.array_equal(restored, weights)
    assert weights_to_bytes(restored) == data


@pytest.mark.parametrize(
    ("mangle", "message"),
    [
        (lambda d: b"XXXX" + d[4:], "not a MCWT v1 vector"),
        (lambda d: d[:-1], "header promises 3 values of 8 bytes"),
        (lambda d: d[:5] + b"\x02" + d[6:], "2 bytes per value is neither 4 nor 8"),
        (lambda d: d[:8], "need at least a 16-byte header"),
        (lambda d: d[:-8] + np.array([np.nan]).tobytes(), "NaN or infinite"),
    ],
)
def test_malformed_weight_bytes_are_rejected(mangle: object, message: str) -> None:
    data = weights_to_bytes(np.array([1.0, 2.0, 3.0]))

    with pytest.raises(InputError, match=message):
        weights_from_bytes(mangle(data))  # type: ignore[operator]


def test_only_flat_float_vectors_serialise() -> None:
    with pytest.raises(InputError, match="1-D float32 or float64"):
        weights_to_bytes(np.zeros((2, 2)))
    with pytest.raises(InputError, match="1-D float32 or float64"):
        weights_to_bytes(np.zeros(3, dtype=np.int64))
