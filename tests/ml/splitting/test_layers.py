"""A neural network split into blocks of layers predicts exactly as the whole network."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

from mercato.errors import InputError
from mercato.ml.splitting import split
from mercato.ml.splitting.layers import split_state_dict


@pytest.mark.parametrize("parts", [1, 2, 3, 4])
def test_the_blocks_predict_as_the_mlp(
    digits: tuple[NDArray[Any], NDArray[Any]], mlp: Any, parts: int
) -> None:
    # prepare
    inputs, _ = digits

    # act
    model = split(mlp, parts)

    # assert
    assert len(model.components) == parts
    assert np.array_equal(model.predict(inputs), mlp.predict(inputs))


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_a_binary_mlp_splits(digits: tuple[NDArray[Any], NDArray[Any]]) -> None:
    # prepare
    from sklearn.neural_network import MLPClassifier

    inputs, labels = digits
    odd = labels % 2
    binary = MLPClassifier(hidden_layer_sizes=(8,), activation="tanh", max_iter=50, random_state=0)
    binary.fit(inputs[:600], odd[:600])

    # act
    model = split(binary, 2)

    # assert
    assert np.array_equal(model.predict(inputs), binary.predict(inputs))


def test_a_middle_block_returns_its_hidden_activations(
    digits: tuple[NDArray[Any], NDArray[Any]], mlp: Any
) -> None:
    # prepare
    inputs, _ = digits
    model = split(mlp, 4)

    # act
    hidden = model.components[0].run(inputs)

    # assert
    assert np.array_equal(hidden, np.maximum(inputs @ mlp.coefs_[0] + mlp.intercepts_[0], 0))


@pytest.mark.parametrize("parts", [1, 2, 3])
def test_a_torch_state_dict_splits(
    digits: tuple[NDArray[Any], NDArray[Any]], tmp_path: Path, parts: int
) -> None:
    # prepare
    torch = pytest.importorskip("torch")
    from safetensors.torch import save_file

    from mercato.ml.model_files import read_model

    inputs, _ = digits
    torch.manual_seed(0)
    network = torch.nn.Sequential(
        torch.nn.Linear(64, 32),
        torch.nn.ReLU(),
        torch.nn.Linear(32, 16),
        torch.nn.ReLU(),
        torch.nn.Linear(16, 10),
    )
    save_file(network.state_dict(), tmp_path / "model.safetensors")
    tensors = read_model(tmp_path / "model.safetensors")

    # act
    model = split(tensors, parts)

    # assert
    whole = split(tensors, 1)
    with torch.no_grad():
        expected = network(torch.from_numpy(inputs.astype(np.float32))).argmax(dim=1).numpy()
    assert np.array_equal(model.predict(inputs), whole.predict(inputs))
    assert np.array_equal(model.predict(inputs), expected)
    assert np.array_equal(split(network, parts).predict(inputs), expected)


def test_the_last_block_can_return_logits(digits: tuple[NDArray[Any], NDArray[Any]]) -> None:
    # prepare
    inputs, _ = digits
    tensors = _state_dict([64, 12, 10])

    # act
    logits = split_state_dict(tensors, 2, output="logits").predict(inputs)

    # assert
    hidden = np.maximum(inputs @ tensors["0.weight"].T + tensors["0.bias"], 0)
    assert np.allclose(logits, hidden @ tensors["2.weight"].T + tensors["2.bias"])
    assert np.array_equal(split(tensors, 2).predict(inputs), np.argmax(logits, axis=1))


def test_more_parts_than_layers_is_refused() -> None:
    with pytest.raises(InputError, match="cannot split 2 layers into 3 parts"):
        split(_state_dict([64, 12, 10]), 3)


def test_tensors_that_are_not_linear_layers_are_refused() -> None:
    tensors = {**_state_dict([64, 12, 10]), "1.running_mean": np.zeros(12)}

    with pytest.raises(InputError, match="not Linear layers"):
        split(tensors, 1)


def _state_dict(sizes: list[int]) -> dict[str, NDArray[Any]]:
    """A ``Sequential(Linear, ReLU, Linear, ...)`` state dict of random float32 weights."""
    generator = np.random.default_rng(7)
    tensors = {}
    for layer, (inputs, outputs) in enumerate(pairwise(sizes)):
        tensors[f"{2 * layer}.weight"] = generator.normal(size=(outputs, inputs)).astype(np.float32)
        tensors[f"{2 * layer}.bias"] = generator.normal(size=outputs).astype(np.float32)
    return tensors
