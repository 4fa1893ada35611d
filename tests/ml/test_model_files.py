"""Model files: scikit-learn as .skops and weights as .safetensors round trip; a .skops file
naming an untrusted type and every pickle are refused without running anything."""

from __future__ import annotations

import io
import json
import os
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest
import skops.io
from safetensors.numpy import save_file
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier

from mercato.errors import InputError
from mercato.ml.columns import Inputs
from mercato.ml.model_files import WeightsModel, read_model, starting_weights, write_model
from mercato.ml.trainers import NumpyLogReg, TorchMLP

X, Y = load_iris(return_X_y=True)


class Payload:
    """Unpickling this runs ``os.system`` with a command that creates a marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return os.system, (f"touch {self.marker}",)


def test_a_scikit_learn_model_round_trips_as_skops(tmp_path: Path) -> None:
    # prepare
    model = LogisticRegression(max_iter=1000).fit(X, Y)

    # act
    loaded = read_model(write_model(tmp_path / "m.skops", model))

    # assert
    assert isinstance(loaded, LogisticRegression)
    assert loaded.predict(X).tolist() == model.predict(X).tolist()


def test_weights_round_trip_as_safetensors_with_their_inputs(tmp_path: Path) -> None:
    # prepare
    trainer = NumpyLogReg(4, 3)
    weights = trainer.init_weights(3)
    inputs = Inputs(("a", "b", "c", "d"), ("x", "y", "z"), tuple(X.mean(0)), tuple(X.std(0)))
    model = WeightsModel(trainer, weights, inputs)

    # act
    loaded = read_model(write_model(tmp_path / "m.safetensors", model))

    # assert
    assert isinstance(loaded, WeightsModel)
    assert dict(loaded.trainer.spec()) == dict(trainer.spec())
    assert np.array_equal(loaded.weights, weights) and loaded.inputs == inputs
    assert loaded.predict(X).tolist() == model.predict(X).tolist()


def test_a_file_of_the_wrong_suffix_for_its_model_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"name it \*\.skops"):
        write_model(tmp_path / "m.safetensors", LogisticRegression(max_iter=1000).fit(X, Y))
    with pytest.raises(InputError, match=r"\*\.safetensors"):
        write_model(tmp_path / "m.skops", WeightsModel(NumpyLogReg(4, 3), np.zeros(15)))


@pytest.mark.parametrize(("module", "name"), [("os", "system"), ("builtins", "eval")])
def test_a_skops_file_naming_an_untrusted_type_is_refused(
    tmp_path: Path, module: str, name: str
) -> None:
    # prepare: a valid .skops file whose top object is re-labelled as the untrusted callable
    original = skops.io.dumps(LogisticRegression(max_iter=1000).fit(X, Y))
    members = zipfile.ZipFile(io.BytesIO(original))
    schema = json.loads(members.read("schema.json"))
    schema["__module__"], schema["__class__"] = module, name
    path = tmp_path / "evil.skops"
    with zipfile.ZipFile(path, "w") as out:
        for member in members.namelist():
            data = members.read(member)
            out.writestr(member, json.dumps(schema) if member == "schema.json" else data)

    # act
    with pytest.raises(InputError) as refused:
        read_model(path)

    # assert
    assert f"{module}.{name}" in str(refused.value)
    assert "\n" not in str(refused.value)


@pytest.mark.parametrize("suffix", [".pkl", ".pickle", ".joblib", ".pt", ".pth"])
def test_a_pickle_is_refused_without_being_opened(tmp_path: Path, suffix: str) -> None:
    # prepare
    marker = tmp_path / "ran"
    path = tmp_path / f"model{suffix}"
    path.write_bytes(pickle.dumps(Payload(marker)))

    # act
    with pytest.raises(InputError, match="pickles") as refused:
        read_model(path)

    # assert
    assert not marker.exists()  # the payload never ran
    assert "\n" not in str(refused.value)


def test_an_unreadable_safetensors_and_an_unknown_suffix_are_refused(tmp_path: Path) -> None:
    # prepare
    broken = tmp_path / "m.safetensors"
    broken.write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{notjson")
    other = tmp_path / "m.onnx"
    other.write_bytes(b"\x00")

    # act / assert
    with pytest.raises(InputError, match="not a readable safetensors"):
        read_model(broken)
    with pytest.raises(InputError, match="unknown model file type"):
        read_model(other)


def test_starting_weights_of_a_logistic_regression_predict_as_it_did(tmp_path: Path) -> None:
    # prepare
    model = LogisticRegression(max_iter=1000).fit(X, Y)
    trainer = NumpyLogReg(4, 3)

    # act
    weights = starting_weights(write_model(tmp_path / "m.skops", model), trainer)

    # assert
    assert len(weights) == trainer.n_params
    assert trainer.predict(weights, X.astype(np.float32)).tolist() == model.predict(X).tolist()


def test_starting_weights_take_an_mlp_or_a_torch_state_dict_for_torch_mlp(tmp_path: Path) -> None:
    # prepare
    mlp = MLPClassifier(hidden_layer_sizes=(8,), max_iter=300, random_state=0).fit(X, Y)
    trainer = TorchMLP(4, 3, hidden=8)
    rng = np.random.default_rng(0)
    state = {
        "0.weight": rng.normal(size=(8, 4)).astype(np.float32),
        "0.bias": rng.normal(size=8).astype(np.float32),
        "2.weight": rng.normal(size=(3, 8)).astype(np.float32),
        "2.bias": rng.normal(size=3).astype(np.float32),
    }
    save_file(state, str(tmp_path / "state.safetensors"))

    # act
    from_mlp = starting_weights(write_model(tmp_path / "mlp.skops", mlp), trainer)
    from_state = starting_weights(tmp_path / "state.safetensors", trainer)

    # assert
    assert trainer.predict(from_mlp, X.astype(np.float32)).tolist() == mlp.predict(X).tolist()
    assert np.allclose(from_state[:32], state["0.weight"].ravel())


@pytest.mark.parametrize(
    ("model", "trainer", "message"),
    [
        (LogisticRegression(max_iter=1000), NumpyLogReg(5, 3), "over 4 features and 3 classes"),
        (LogisticRegression(max_iter=1000), TorchMLP(4, 3, hidden=8), "cannot start a torch-mlp"),
    ],
)
def test_a_model_that_does_not_fit_the_training_is_refused(
    tmp_path: Path, model: LogisticRegression, trainer: NumpyLogReg, message: str
) -> None:
    # prepare
    path = write_model(tmp_path / "m.skops", model.fit(X, Y))

    # act
    with pytest.raises(InputError, match=message) as refused:
        starting_weights(path, trainer)

    # assert
    assert "\n" not in str(refused.value)
