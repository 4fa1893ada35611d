"""A model measured on a data set: a model that names its classes is scored on the rows
matched to them by name, whatever order the rows' file gives its classes; a class it lacks,
or rows that name none, are refused in one line; a model of plain integer classes takes the
rows' labels as they are, and says whose order that was."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from mercato.errors import InputError
from mercato.ml.columns import Inputs
from mercato.ml.data_files import read_data
from mercato.ml.datasets import Dataset
from mercato.ml.evaluate import evaluate, evaluate_data, model_classes
from mercato.ml.model_files import WeightsModel
from mercato.ml.schema import DataSchema, Feature
from mercato.ml.trainers import NumpyLogReg

X_VALUES = (-2.0, -1.0, -3.0, 1.0, 2.0, 3.0, 1.5, 4.0)
NOISE = (-5.0, -6.0, -5.5, -7.0, -5.0, -6.5, -8.0, -5.25)
RISKS = ("low", "low", "low", "low", "high", "high", "high", "high")
"""Rows a model predicting ``high`` exactly when ``x > 0`` gets right but one (accuracy
0.875); their file lists ``noise`` before ``x``."""
DECLARED = DataSchema(
    label="risk", classes=("low", "high"), features=(Feature("noise"), Feature("x"))
)
"""The schema the model was trained with: ``low`` is label 0. Inferred, ``high`` is."""


def write_rows(folder: Path, risks: tuple[str, ...] = RISKS) -> Path:
    path = folder / "rows.csv"
    lines = [f"{n},{x},{r}\n" for n, x, r in zip(NOISE, X_VALUES, risks, strict=True)]
    path.write_text("noise,x,risk\n" + "".join(lines))
    return path


def named_model(classes: tuple[str, str] = ("low", "high")) -> WeightsModel:
    """A Mercato model over (x, noise) predicting its class 1 exactly when ``x > 0``."""
    weights = np.array([0.0, 1.0, 0.0, 0.0, 0.0, 0.0])  # W = [[0, 1], [0, 0]], b = 0
    inputs = Inputs(("x", "noise"), classes, (0.0, 0.0), (1.0, 1.0))
    return WeightsModel(NumpyLogReg(2, 2), weights, inputs)


def test_a_model_naming_its_classes_scores_rows_of_either_class_order(tmp_path: Path) -> None:
    # prepare
    path = write_rows(tmp_path)
    inferred, declared = read_data(path, label="risk"), read_data(path, schema=DECLARED)
    model = named_model()

    # act
    on_inferred = evaluate_data(model, inferred)
    on_declared = evaluate_data(model, declared)

    # assert
    assert inferred.labels == ("high", "low")  # sorted: label 0 is the model's class 1
    assert evaluate(model, inferred.X[:, [1, 0]], inferred.y)["accuracy"] == 0.125  # the bug
    assert on_inferred.metrics["accuracy"] == 0.875
    assert on_inferred.metrics == on_declared.metrics
    assert on_inferred.classes == on_declared.classes == ("low", "high")
    assert on_inferred.by_name and on_declared.by_name


@pytest.mark.parametrize("scaled", [False, True])
def test_a_scikit_learn_model_of_text_classes_scores_by_name(tmp_path: Path, scaled: bool) -> None:
    # prepare
    declared = read_data(write_rows(tmp_path), schema=DECLARED)
    inferred = read_data(tmp_path / "rows.csv", label="risk")
    estimator = LogisticRegression(max_iter=1000)
    model = make_pipeline(StandardScaler(), estimator) if scaled else estimator
    model.fit(declared.X, np.array(RISKS))
    truth = accuracy_score(np.array(RISKS), model.predict(declared.X))

    # act
    evaluation = evaluate_data(model, inferred)

    # assert
    assert model_classes(model) == ("high", "low")
    assert truth > 0.5  # scored in the wrong order, it would be 1 - truth
    assert evaluation.metrics["accuracy"] == pytest.approx(truth)
    assert evaluation.classes == ("high", "low")
    assert evaluation.by_name


def test_a_class_the_model_lacks_is_refused_in_one_line_naming_both_lists(
    tmp_path: Path,
) -> None:
    # prepare
    rows = read_data(write_rows(tmp_path, (*RISKS[:-1], "medium")), label="risk")

    # act
    with pytest.raises(InputError) as refused:
        evaluate_data(named_model(), rows, "model.safetensors")

    # assert
    message = str(refused.value)
    assert message == (
        "model.safetensors predicts the classes low, high; 'rows' holds the classes high, "
        "low, medium, and 'medium' is none of the model's"
    )


def test_rows_naming_no_classes_match_only_a_model_of_numbered_classes() -> None:
    # prepare
    X = np.column_stack([np.array(X_VALUES), np.array(NOISE)])
    y = np.array([0 if r == "low" else 1 for r in RISKS])
    unnamed = Dataset("unnamed", "mc:TabularData", X, y)

    # act
    numbered = evaluate_data(named_model(("0", "1")), unnamed)
    with pytest.raises(InputError) as refused:
        evaluate_data(named_model(), unnamed, "m")

    # assert
    assert numbered.metrics["accuracy"] == 0.875
    assert numbered.classes == ("0", "1")
    assert str(refused.value).startswith(
        "m predicts the classes low, high; 'unnamed' names no classes (its labels are 0, 1)"
    )
    assert "\n" not in str(refused.value)


def test_a_model_of_integer_classes_takes_the_rows_labels_and_says_their_order(
    tmp_path: Path,
) -> None:
    # prepare
    inferred = read_data(write_rows(tmp_path), label="risk")
    model = LogisticRegression(max_iter=1000).fit(inferred.X, inferred.y)
    plain = WeightsModel(NumpyLogReg(2, 2), named_model().weights)

    # act
    evaluation = evaluate_data(model, inferred)
    unnamed = evaluate_data(plain, inferred)

    # assert
    assert model_classes(model) is None and model_classes(plain) is None
    assert evaluation.metrics == evaluate(model, inferred.X, inferred.y)
    assert evaluation.classes == ("high", "low")
    assert not evaluation.by_name
    assert unnamed.metrics == evaluate(plain, inferred.X, inferred.y)
    assert not unnamed.by_name
