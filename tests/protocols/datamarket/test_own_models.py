"""A model owner's own model as a task's start (``post --model``), the final model as a
scikit-learn model, and a spec's published inputs: no chain needed."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from safetensors.numpy import save_file
from sklearn.datasets import load_breast_cancer, load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from mercato.errors import InputError
from mercato.ml.columns import Inputs
from mercato.ml.model_files import read_model, write_model
from mercato.ml.model_parts import PartedMLP
from mercato.protocols.datamarket import model_owner, posting
from mercato.protocols.datamarket.documents import TaskSpec
from mercato.protocols.datamarket.final_model import as_model
from mercato.protocols.datamarket.inputs import scaled_rows
from mercato.protocols.datamarket.starting import starting_model
from mercato.user_files import DataFile

from .own_files import LABEL, write_csv


def _fit(model: Any, X: np.ndarray, y: np.ndarray) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, y)
    return model


def _save_state_dict(mlp: Any, path: Path) -> Path:
    """The MLP's layers as torch's Sequential(Linear, ReLU, Linear, ...) saves them."""
    tensors = {}
    for i, (weight, bias) in enumerate(zip(mlp.coefs_, mlp.intercepts_, strict=True)):
        tensors[f"{2 * i}.weight"] = np.ascontiguousarray(weight.T)
        tensors[f"{2 * i}.bias"] = np.asarray(bias)
    save_file(tensors, str(path))
    return path


def _parted(start_hidden: tuple[int, ...], n_features: int, n_classes: int) -> PartedMLP:
    return PartedMLP(n_features, n_classes, hidden=start_hidden)


def test_a_scaled_mlp_brought_as_skops_starts_the_task_as_it_predicts(tmp_path: Path) -> None:
    # prepare: the MO's raw digits rows, and a Pipeline it trained on the same rows
    digits = load_digits()
    X, y = digits.data[:600], digits.target[:600]
    csv = write_csv(tmp_path / "mine.csv", X, y)
    mlp = MLPClassifier((16, 8), max_iter=60, random_state=0)
    brought = _fit(Pipeline([("s", StandardScaler()), ("m", mlp)]), X, y)
    model_file = write_model(tmp_path / "mine.skops", brought)

    # act
    prepared = posting.prepare(
        dataset=None, own=DataFile.read(csv, label=LABEL), model_file=model_file,
        data_owners=3, local_epochs=1, seed=0, rule="multikrum",
    )  # fmt: skip
    start = posting.starting_point(prepared)

    # assert: its layers are the task's, its scaler the task's scaling, its predictions ours
    spec, test = prepared.spec, prepared.data.test
    assert spec.model["hidden"] == [16, 8]
    assert spec.inputs is not None
    assert np.allclose(spec.inputs.mean, brought[0].mean_)
    ours = spec.build_model().predict(start.public, start.private, scaled_rows(spec, test.X))
    theirs = brought.predict(test.X)
    assert np.mean(ours == theirs) >= 0.99  # float32 here, float64 in scikit-learn
    assert model_owner.accuracy(spec, start, test) == pytest.approx(
        float(np.mean(theirs == test.y)), abs=2 / len(test.y)
    )


def test_a_binary_mlp_and_a_torch_state_dict_map_onto_the_same_layers(tmp_path: Path) -> None:
    # prepare: a binary MLP (one logistic output) and its layers as a torch state dict
    cancer = load_breast_cancer()
    X = StandardScaler().fit_transform(cancer.data).astype(np.float32)
    mlp = _fit(MLPClassifier((12, 6), max_iter=80, random_state=0), X, cancer.target)
    skops_file = write_model(tmp_path / "binary.skops", mlp)
    torch_file = _save_state_dict(mlp, tmp_path / "binary.safetensors")

    # act
    from_skops = starting_model(skops_file, 30, ("0", "1"))
    from_torch = starting_model(torch_file, 30, ("0", "1"))

    # assert: two outputs (0, z) predict what the logistic output z did
    assert from_skops.hidden == from_torch.hidden == (12, 6)
    assert np.array_equal(from_skops.public, from_torch.public)
    model = _parted(from_skops.hidden, 30, 2)
    head = from_skops.public[-model.n_private :]
    ours = model.predict(from_skops.public, head, X)
    assert np.mean(ours == mlp.predict(X)) >= 0.99


@pytest.mark.parametrize(
    ("brought", "message"),
    [
        (LogisticRegression(max_iter=50), "a LogisticRegression has no hidden layers"),
        (MLPClassifier((4,), activation="tanh", max_iter=5), "an MLPClassifier with tanh"),
    ],
)
def test_a_model_that_does_not_map_is_refused_in_one_line(
    tmp_path: Path, brought: object, message: str
) -> None:
    iris_X, iris_y = load_digits(n_class=3, return_X_y=True)
    path = write_model(tmp_path / "m.skops", _fit(brought, iris_X, iris_y))

    with pytest.raises(InputError) as caught:
        starting_model(path, 64, ("0", "1", "2"))

    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_a_model_of_other_classes_is_refused(tmp_path: Path) -> None:
    X, y = load_digits(n_class=3, return_X_y=True)
    mlp = _fit(MLPClassifier((4,), max_iter=5), X, y)
    skops_file = write_model(tmp_path / "m.skops", mlp)
    torch_file = _save_state_dict(mlp, tmp_path / "m.safetensors")
    ten = tuple(str(i) for i in range(10))

    with pytest.raises(InputError, match="it predicts the classes 0, 1, 2; your data's are 0"):
        starting_model(skops_file, 64, ten)
    with pytest.raises(InputError, match=r"a model of 3 classes; your data has 10 \(0, 1, "):
        starting_model(torch_file, 64, ten)


@pytest.mark.parametrize("n_classes", [2, 4])
def test_the_final_model_loads_back_and_predicts_as_the_parted_model(
    tmp_path: Path, n_classes: int
) -> None:
    # prepare: a task over named features with a scaling, and trained-looking weights
    rng = np.random.default_rng(n_classes)
    features = tuple(f"f{i}" for i in range(5))
    inputs = Inputs(features, tuple(f"c{i}" for i in range(n_classes)),
                        tuple(rng.normal(size=5)), tuple(rng.uniform(0.5, 2, size=5)))  # fmt: skip
    model = PartedMLP(5, n_classes, hidden=(7, 3))
    spec = TaskSpec(("mc:TabularData",), model.spec(), 1, 0, "multikrum", inputs)
    public, private = model.init(1)
    private = rng.normal(size=model.n_private).astype(np.float32)
    X = rng.normal(3, 2, size=(200, 5)).astype(np.float32)

    # act
    path = write_model(tmp_path / "final.skops", as_model(spec, public, private))

    # assert
    expected = model.predict(public, private, scaled_rows(spec, X))
    assert np.array_equal(read_model(path).predict(X), expected)


def test_a_spec_publishes_its_inputs_and_keeps_its_bytes_without_them() -> None:
    model = PartedMLP(2, 3, hidden=(4,))
    plain = TaskSpec(("mc:TabularData",), model.spec(), 1, 0, "mean")
    inputs = Inputs(("a", "b"), ("x", "y", "z"), (0.5, -1.0), (2.0, 1.0))
    published = TaskSpec(("mc:TabularData",), model.spec(), 1, 0, "mean", inputs)

    assert "inputs" not in json.loads(plain.to_bytes())
    assert TaskSpec.from_bytes(published.to_bytes()) == published
    assert published.class_names == ("x", "y", "z") and plain.class_names == ("0", "1", "2")
    document = json.loads(published.to_bytes())
    document["inputs"]["scale"] = [0, 1]
    with pytest.raises(InputError, match=r"inputs\.scale must be above 0"):
        TaskSpec.from_bytes(json.dumps(document).encode())
    with pytest.raises(InputError, match="inputs name 2 features and 3 classes; the model"):
        TaskSpec(("mc:TabularData",), PartedMLP(3, 3).spec(), 1, 0, "mean", inputs)
