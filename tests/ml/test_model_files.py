"""Model files: scikit-learn as .skops and weights as .safetensors round trip; a .skops file
naming an untrusted type and every pickle are refused without running anything."""

from __future__ import annotations

import io
import json
import pickle
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import skops.io
from numpy.typing import NDArray
from safetensors.numpy import save_file
from sklearn.datasets import load_iris
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from mercato.errors import InputError
from mercato.ml.columns import Inputs
from mercato.ml.model_files import WeightsModel, read_model, starting_weights, write_model
from mercato.ml.trainers import NumpyLogReg, TorchMLP, Trainer

X, Y = load_iris(return_X_y=True)


class Payload:
    """Unpickling this calls ``Path.touch`` on a marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[Path]]:
        return Path.touch, (self.marker,)


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


def plant(model_file: bytes, attribute: str, node: dict[str, object]) -> bytes:
    """``model_file`` (a .skops archive) with one attribute of its estimator replaced by
    ``node``, as an attacker would edit its ``schema.json``."""
    original = zipfile.ZipFile(io.BytesIO(model_file))
    schema = json.loads(original.read("schema.json"))
    schema["content"]["content"][attribute] = node
    edited = io.BytesIO()
    with zipfile.ZipFile(edited, "w") as out:
        for member in original.namelist():
            data = original.read(member)
            out.writestr(member, json.dumps(schema) if member == "schema.json" else data)
    return edited.getvalue()


def call_node(module: str, name: str, argument: str) -> dict[str, object]:
    """A skops node that loading turns into the call ``module.name(argument)``."""
    text = {"__module__": "builtins", "__class__": "str", "__loader__": "JsonNode"}
    return {
        "__module__": module,
        "__class__": name,
        "__loader__": "ConstructorFromReduceNode",
        "content": {
            "__module__": "builtins",
            "__class__": "tuple",
            "__loader__": "TupleNode",
            "content": [{**text, "content": json.dumps(argument), "is_json": True}],
        },
    }


class Trojan:
    """Not a type Mercato trusts: rebuilding one from a file creates its marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __setstate__(self, state: dict[str, str]) -> None:
        Path(state["marker"]).touch()
        self.__dict__.update(state)

    def predict(self, rows: object) -> list[int]:
        return []


@pytest.mark.parametrize(
    ("module", "name", "command"),
    [
        ("os", "system", "touch {marker}"),
        ("builtins", "exec", "open({marker!r}, 'w').close()"),
    ],
)
def test_a_skops_file_that_would_call_a_refused_function_is_refused_unrun(
    tmp_path: Path, module: str, name: str, command: str
) -> None:
    # prepare: a valid model whose C, once loaded, would be module.name(command)
    marker = tmp_path / "ran"
    valid = skops.io.dumps(LogisticRegression(max_iter=1000).fit(X, Y))
    node = call_node(module, name, command.format(marker=str(marker)))
    path = tmp_path / "evil.skops"
    path.write_bytes(plant(valid, "C", node))

    # act
    with pytest.raises(InputError) as refused:
        read_model(path)

    # assert
    assert str(refused.value) == f"{path}: names types Mercato does not load: {module}.{name}"
    assert not marker.exists()
    # the file is a live payload: skops told to trust it runs the call
    skops.io.loads(path.read_bytes(), trusted=[f"{module}.{name}"])
    assert marker.exists()


def test_a_skops_dump_of_an_untrusted_type_is_refused_unrun(tmp_path: Path) -> None:
    # prepare
    marker = tmp_path / "ran"
    path = tmp_path / "trojan.skops"
    path.write_bytes(skops.io.dumps(Trojan(marker)))
    type_name = f"{Trojan.__module__}.{Trojan.__qualname__}"

    # act
    with pytest.raises(InputError, match="names types Mercato does not load") as refused:
        read_model(path)

    # assert
    assert type_name in str(refused.value) and "\n" not in str(refused.value)
    assert not marker.exists()
    skops.io.loads(path.read_bytes(), trusted=[type_name])
    assert marker.exists()


def test_a_skops_file_that_does_not_predict_or_is_damaged_is_refused(tmp_path: Path) -> None:
    # prepare
    scaler = tmp_path / "scaler.skops"
    scaler.write_bytes(skops.io.dumps(StandardScaler().fit(X)))
    damaged = tmp_path / "damaged.skops"
    damaged.write_bytes(skops.io.dumps(LogisticRegression(max_iter=1000).fit(X, Y))[:200])

    # act / assert
    with pytest.raises(InputError, match="holds a StandardScaler, which does not predict"):
        read_model(scaler)
    with pytest.raises(InputError, match="not a readable skops file") as refused:
        read_model(damaged)
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
    pickle.loads(path.read_bytes())  # while unpickling it would have run it
    assert marker.exists()


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
    mlp = fitted_mlp((8,))
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


def test_starting_weights_of_a_scaler_pipeline_predict_as_it_did_on_raw_rows(
    tmp_path: Path,
) -> None:
    # prepare
    pipeline = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(X, Y)
    trainer = NumpyLogReg(4, 3)

    # act
    weights = starting_weights(write_model(tmp_path / "p.skops", pipeline), trainer)

    # assert
    assert weights.shape == (trainer.n_params,)
    assert trainer.predict(weights, X.astype(np.float32)).tolist() == pipeline.predict(X).tolist()


def fitted_mlp(hidden: tuple[int, ...], labels: NDArray[np.int64] = Y) -> MLPClassifier:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return MLPClassifier(hidden_layer_sizes=hidden, max_iter=20, random_state=0).fit(X, labels)


@pytest.mark.parametrize(
    ("model", "trainer", "message"),
    [
        (
            lambda: fitted_mlp((8,)),
            TorchMLP(4, 3, hidden=16),
            r"layer shapes \[\(8, 4\), \(3, 8\)\]; this training's model needs "
            r"\[\(16, 4\), \(3, 16\)\]",
        ),
        (lambda: fitted_mlp((8, 8)), TorchMLP(4, 3, hidden=8), "only a one-hidden-layer"),
        (lambda: fitted_mlp((8,), (Y > 0).astype(np.int64)), TorchMLP(4, 2, hidden=8), "3 or more"),
        (lambda: fitted_mlp((8,)), NumpyLogReg(4, 3), "MLPClassifier cannot start a numpy-logreg"),
        (
            lambda: make_pipeline(StandardScaler(), StandardScaler(), LogisticRegression()).fit(
                X, Y
            ),
            NumpyLogReg(4, 3),
            "StandardScaler -> StandardScaler -> LogisticRegression",
        ),
        (
            lambda: WeightsModel(NumpyLogReg(4, 3), np.zeros(15)),
            TorchMLP(4, 3, hidden=8),
            "not of this training's",
        ),
    ],
    ids=["hidden width", "two hidden layers", "two classes", "wrong family", "pipeline", "spec"],
)
def test_a_model_that_does_not_fit_the_trainer_is_refused_in_one_line(
    tmp_path: Path, model: Callable[[], Any], trainer: Trainer, message: str
) -> None:
    # prepare
    built = model()
    suffix = ".safetensors" if isinstance(built, WeightsModel) else ".skops"
    path = write_model(tmp_path / f"m{suffix}", built)

    # act
    with pytest.raises(InputError, match=message) as refused:
        starting_weights(path, trainer)

    # assert
    assert str(refused.value).startswith(f"{path}: ") and "\n" not in str(refused.value)
