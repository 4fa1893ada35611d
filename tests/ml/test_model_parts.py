"""P3's parted model: public body + training head, private head; deterministic NumPy training."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from mercato.errors import InputError
from mercato.ml.datasets import Dataset
from mercato.ml.federated_sim import MarketData, market_data
from mercato.ml.model_parts import PartedMLP, apply_update

MODEL = PartedMLP(64, 10)


@pytest.fixture(scope="module")
def data() -> MarketData:
    return market_data("digits", data_owners=10, seed=0)


@pytest.fixture(scope="module")
def pretrained(data: MarketData) -> tuple[np.ndarray, np.ndarray]:
    public, private = MODEL.init(seed=0)
    return MODEL.train_full(public, private, data.mo, epochs=30, seed=0)


def frozen(array: np.ndarray) -> np.ndarray:
    """A read-only copy, so a function that writes into its input fails loudly."""
    copy = np.array(array)
    copy.setflags(write=False)
    return copy


# shapes, spec


def test_sizes_and_init() -> None:
    public, private = MODEL.init(seed=3)

    # (64 + 1) * 64 + (64 + 1) * 32 + (32 + 1) * 10 values, the last 330 the head
    assert MODEL.n_public == 6570 and MODEL.n_private == 330
    assert public.dtype == np.float32 and public.shape == (6570,)
    assert private.dtype == np.float32 and private.shape == (330,)
    np.testing.assert_array_equal(private, public[-330:])
    assert np.abs(public[: 64 * 64]).max() <= 1 / np.sqrt(64)
    assert MODEL.init(seed=3)[0].tobytes() == public.tobytes()
    assert MODEL.init(seed=4)[0].tobytes() != public.tobytes()


def test_spec_round_trips_through_json() -> None:
    model = PartedMLP(30, 2, hidden=(16, 8, 4), learning_rate=0.1, batch_size=8)

    spec = json.loads(json.dumps(model.spec()))

    assert spec["kind"] == "parted-mlp" and spec["hidden"] == [16, 8, 4]
    assert PartedMLP.from_spec(spec) == model


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"kind": "torch-mlp"}, "kind"),
        ({"hidden": 64}, "hidden"),
        ({"hidden": []}, "hidden"),
        ({"hidden": [64, 0]}, "hidden"),
        ({"n_features": "64"}, "n_features"),
        ({"n_classes": 1}, "n_classes"),
        ({"learning_rate": -0.1}, "learning_rate"),
        ({"batch_size": None}, "batch_size"),
        ({"max_grad_norm": 0}, "max_grad_norm"),
        ({"extra": 1}, "unknown keys \\['extra'\\]"),
    ],
)
def test_from_spec_rejects_bad_specs(change: dict[str, Any], message: str) -> None:
    spec = {**MODEL.spec(), **change}

    with pytest.raises(InputError, match=message):
        PartedMLP.from_spec(spec)


def test_from_spec_names_missing_keys() -> None:
    spec = MODEL.spec()
    del spec["hidden"]

    with pytest.raises(InputError, match="missing keys \\['hidden'\\]"):
        PartedMLP.from_spec(spec)
    with pytest.raises(InputError, match="mapping"):
        PartedMLP.from_spec([("kind", "parted-mlp")])  # type: ignore[arg-type]


# training


def test_train_full_learns_and_copies_the_head(data: MarketData) -> None:
    public, private = MODEL.init(seed=0)
    untrained = MODEL.accuracy(public, private, data.mo)

    trained_public, trained_private = MODEL.train_full(
        frozen(public), frozen(private), data.mo, epochs=30, seed=0
    )

    assert untrained < 0.3
    assert MODEL.accuracy(trained_public, trained_private, data.mo) == 1.0
    assert 0.6 < MODEL.accuracy(trained_public, trained_private, data.test) < 0.9
    np.testing.assert_array_equal(trained_public[-MODEL.n_private :], trained_private)
    assert trained_public.dtype == trained_private.dtype == np.float32


def test_local_update_is_a_float32_delta_that_learns_the_owners_data(
    data: MarketData, pretrained: tuple[np.ndarray, np.ndarray]
) -> None:
    public, _ = pretrained
    owner = data.parts[2]
    head = public[-MODEL.n_private :]

    delta = MODEL.local_update(frozen(public), owner, epochs=5, seed=5)
    updated = apply_update(public, delta)

    assert delta.dtype == np.float32 and delta.shape == (MODEL.n_public,)
    assert np.abs(delta).max() < 10  # far inside secure aggregation's fixed-point range
    before = MODEL.accuracy(public, head, owner)
    assert MODEL.accuracy(updated, updated[-MODEL.n_private :], owner) > max(before, 0.95)


def test_fine_tune_head_fits_a_fresh_private_head_to_the_frozen_body(
    data: MarketData, pretrained: tuple[np.ndarray, np.ndarray]
) -> None:
    public, _ = pretrained
    _, fresh_head = MODEL.init(seed=99)
    untrained = MODEL.accuracy(public, fresh_head, data.test)

    tuned = MODEL.fine_tune_head(frozen(public), frozen(fresh_head), data.mo, 30, seed=2)

    assert tuned.dtype == np.float32 and tuned.shape == (MODEL.n_private,)
    assert untrained < 0.3
    assert MODEL.accuracy(public, tuned, data.mo) == 1.0
    assert MODEL.accuracy(public, tuned, data.test) > 0.7


def test_accuracy_takes_the_body_from_public_and_the_head_from_private(
    data: MarketData, pretrained: tuple[np.ndarray, np.ndarray]
) -> None:
    public, private = pretrained
    scrambled_public_head = public.copy()
    scrambled_public_head[-MODEL.n_private :] = 0.0
    scrambled_body = public.copy()
    scrambled_body[: -MODEL.n_private] = 0.0

    assert MODEL.accuracy(scrambled_public_head, private, data.test) == MODEL.accuracy(
        public, private, data.test
    )
    assert MODEL.accuracy(scrambled_body, private, data.test) < 0.2


def test_same_inputs_and_seed_give_byte_identical_outputs(
    data: MarketData, pretrained: tuple[np.ndarray, np.ndarray]
) -> None:
    public, private = pretrained
    owner = data.parts[4]

    runs = [
        (
            MODEL.train_full(*MODEL.init(7), data.mo, 5, seed=7),
            MODEL.local_update(public, owner, 2, seed=9),
            MODEL.fine_tune_head(public, private, data.mo, 5, seed=9),
        )
        for _ in range(2)
    ]
    other_seed = MODEL.local_update(public, owner, 2, seed=10)

    (full_a, delta_a, head_a), (full_b, delta_b, head_b) = runs
    assert full_a[0].tobytes() == full_b[0].tobytes()
    assert full_a[1].tobytes() == full_b[1].tobytes()
    assert delta_a.tobytes() == delta_b.tobytes()
    assert head_a.tobytes() == head_b.tobytes()
    assert other_seed.tobytes() != delta_a.tobytes()


def test_one_full_batch_step_is_minus_learning_rate_times_the_gradient(
    data: MarketData,
) -> None:
    torch = pytest.importorskip("torch")
    model = PartedMLP(64, 10, hidden=(16, 8), learning_rate=0.5, batch_size=1000)
    public, _ = model.init(seed=1)
    owner = data.parts[1]

    delta = model.local_update(public, owner, epochs=1, seed=0)

    tensors, offset = [], 0
    for fan_in, fan_out in ((64, 16), (16, 8), (8, 10)):
        for shape in ((fan_out, fan_in), (fan_out,)):
            size = int(np.prod(shape))
            chunk = torch.tensor(public[offset : offset + size]).reshape(shape)
            tensors.append(chunk.requires_grad_(True))
            offset += size
    hidden = torch.tensor(np.array(owner.X))
    for index in (0, 2):
        hidden = torch.relu(torch.nn.functional.linear(hidden, tensors[index], tensors[index + 1]))
    logits = torch.nn.functional.linear(hidden, tensors[4], tensors[5])
    loss = torch.nn.functional.cross_entropy(logits, torch.tensor(np.array(owner.y)))
    gradient = torch.cat([g.reshape(-1) for g in torch.autograd.grad(loss, tensors)]).numpy()
    assert np.linalg.norm(gradient) < model.max_grad_norm  # no clipping in this step
    np.testing.assert_allclose(delta, -0.5 * gradient, atol=1e-6)


def test_gradients_are_clipped_to_max_grad_norm(data: MarketData) -> None:
    model = PartedMLP(64, 10, learning_rate=1.0, batch_size=1000, max_grad_norm=1e-3)
    public, _ = model.init(seed=1)

    delta = model.local_update(public, data.parts[1], epochs=1, seed=0)

    assert np.linalg.norm(delta.astype(np.float64)) == pytest.approx(1e-3, rel=1e-3)


# input checks


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"hidden": ()}, "hidden"),
        ({"hidden": (32, -1)}, "hidden"),
        ({"hidden": (True,)}, "hidden"),
        ({"learning_rate": 0.0}, "learning_rate"),
        ({"batch_size": 0}, "batch_size"),
        ({"max_grad_norm": float("inf")}, "max_grad_norm"),
        ({"n_features": 0}, "n_features"),
    ],
)
def test_bad_hyper_parameters_are_refused(kwargs: dict[str, Any], message: str) -> None:
    arguments = {"n_features": 64, "n_classes": 10, **kwargs}

    with pytest.raises(InputError, match=message):
        PartedMLP(**arguments)


def test_bad_weights_and_data_are_refused(data: MarketData) -> None:
    public, private = MODEL.init(seed=0)
    nan = public.copy()
    nan[5] = np.nan
    wide = Dataset("wide", data.mo.ontology_class, np.zeros((3, 65)), np.zeros(3))
    labels = Dataset("labels", data.mo.ontology_class, np.zeros((3, 64)), np.full(3, 10))

    for bad in (public[:-1], nan, public.astype(np.int64), public.reshape(2, -1)):
        with pytest.raises(InputError, match="weights"):
            MODEL.local_update(bad, data.mo, 1, seed=0)
    with pytest.raises(InputError, match="weights"):
        MODEL.fine_tune_head(public, public, data.mo, 1, seed=0)
    with pytest.raises(InputError, match="features"):
        MODEL.train_full(public, private, wide, 1, seed=0)
    with pytest.raises(InputError, match="labels"):
        MODEL.accuracy(public, private, labels)
    with pytest.raises(InputError, match="epochs"):
        MODEL.local_update(public, data.mo, -1, seed=0)
    with pytest.raises(InputError, match="seed"):
        MODEL.local_update(public, data.mo, 1, seed=-1)
    with pytest.raises(InputError, match="seed"):
        MODEL.init(seed=2**32)


def test_apply_update_adds_in_float32_and_checks_its_inputs() -> None:
    public = np.array([1.0, 2.0, 3.0], dtype=np.float32)

    updated = apply_update(public, np.array([0.5, -1.0, 0.0]))

    assert updated.dtype == np.float32
    np.testing.assert_array_equal(updated, [1.5, 1.0, 3.0])
    with pytest.raises(InputError, match="values"):
        apply_update(public, np.zeros(2, dtype=np.float32))
    with pytest.raises(InputError, match="NaN"):
        apply_update(public, np.array([0.0, np.inf, 0.0]))
    with pytest.raises(InputError, match="1-D float"):
        apply_update(public, np.zeros(3, dtype=np.int64))
