"""A linear model split by groups of features labels every row as the whole model."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

from mercato.errors import InputError
from mercato.ml.splitting import load_component, split


@pytest.fixture(scope="module")
def logistic(digits: tuple[NDArray[Any], NDArray[Any]]) -> Any:
    from sklearn.linear_model import LogisticRegression

    inputs, labels = digits
    return LogisticRegression(max_iter=2_000, random_state=0).fit(inputs[:900], labels[:900])


def _state_dict_predict(state: dict[str, NDArray[Any]], inputs: NDArray[Any]) -> NDArray[Any]:
    """The P2/P4 way: float32 rows times the transposed weight plus the bias, then argmax."""
    weight = np.asarray(state["weight"], dtype=np.float32)
    bias = np.asarray(state["bias"], dtype=np.float32)
    scores = np.asarray(inputs, dtype=np.float32) @ weight.T + bias
    labels: NDArray[Any] = np.argmax(scores, axis=1).astype(np.int64)
    return labels


def _trained_linear(digits: tuple[NDArray[Any], NDArray[Any]]) -> dict[str, NDArray[Any]]:
    import torch

    inputs, labels = digits
    torch.manual_seed(0)
    layer = torch.nn.Linear(inputs.shape[1], 10)
    optimiser = torch.optim.Adam(layer.parameters(), lr=0.01)
    rows = torch.from_numpy(inputs[:900].astype(np.float32) / 16)
    wanted = torch.from_numpy(labels[:900].astype(np.int64))
    for _ in range(50):
        optimiser.zero_grad()
        torch.nn.functional.cross_entropy(layer(rows), wanted).backward()  # type: ignore[no-untyped-call]
        optimiser.step()
    return {name: value.detach().numpy() for name, value in layer.state_dict().items()}


@pytest.mark.parametrize("parts", [2, 3, 7, 64])
def test_the_groups_label_as_the_logistic_regression(
    digits: tuple[NDArray[Any], NDArray[Any]], logistic: Any, parts: int
) -> None:
    # prepare
    inputs, _ = digits

    # act
    model = split(logistic, parts)

    # assert
    assert (model.technique, model.flow) == ("features", "combine")
    assert len(model.components) == parts + 1
    assert np.array_equal(model.predict(inputs), logistic.predict(inputs))


@pytest.mark.parametrize("parts", [2, 5, 64])
def test_many_noisy_rows_label_as_the_logistic_regression(
    digits: tuple[NDArray[Any], NDArray[Any]], logistic: Any, parts: int
) -> None:
    # prepare: 17,970 rows, where a label could flip only at a near-tie of two scores
    inputs, _ = digits
    generator = np.random.default_rng(0)
    noisy = np.concatenate([inputs + generator.normal(scale=2, size=inputs.shape)] * 10)
    noisy += generator.normal(scale=0.5, size=noisy.shape)

    # act
    model = split(logistic, parts)

    # assert
    assert np.array_equal(model.predict(noisy), logistic.predict(noisy))


def test_a_binary_logistic_regression_splits(digits: tuple[NDArray[Any], NDArray[Any]]) -> None:
    # prepare
    from sklearn.linear_model import LogisticRegression

    inputs, labels = digits
    odd = labels % 2
    binary = LogisticRegression(max_iter=2_000).fit(inputs[:900], odd[:900])

    # act
    model = split(binary, 4)

    # assert
    assert np.array_equal(model.predict(inputs), binary.predict(inputs))


@pytest.mark.parametrize("prefix", ["", "0."])
def test_a_random_linear_state_dict_labels_as_the_p2_evaluation(
    digits: tuple[NDArray[Any], NDArray[Any]], prefix: str
) -> None:
    # prepare
    inputs, _ = digits
    generator = np.random.default_rng(1)
    state = {
        "weight": generator.normal(size=(10, 64)).astype(np.float32),
        "bias": generator.normal(size=10).astype(np.float32),
    }

    # act
    model = split({prefix + name: value for name, value in state.items()}, 5)

    # assert
    assert model.technique == "features"
    assert np.array_equal(model.predict(inputs), _state_dict_predict(state, inputs))


def test_a_trained_torch_linear_splits_as_module_and_state_dict(
    digits: tuple[NDArray[Any], NDArray[Any]],
) -> None:
    # prepare
    import torch

    inputs, _ = digits
    state = _trained_linear(digits)
    layer = torch.nn.Linear(64, 10)
    layer.load_state_dict({name: torch.from_numpy(value) for name, value in state.items()})

    # act
    from_state = split(state, 3)
    from_module = split(layer, 3)

    # assert
    expected = _state_dict_predict(state, inputs)
    assert np.mean(expected == digits[1]) > 0.8  # trained, not a constant answer
    assert np.array_equal(from_state.predict(inputs), expected)
    assert np.array_equal(from_module.predict(inputs), expected)


def test_each_group_holds_its_features_and_returns_its_partial_scores(
    digits: tuple[NDArray[Any], NDArray[Any]], logistic: Any
) -> None:
    # prepare
    inputs, _ = digits
    model = split(logistic, 3)

    # act
    partial = [component.run(inputs) for component in model.components[:-1]]

    # assert
    held = [component.arrays["features"] for component in model.components[:-1]]
    assert [list(features) for features in held] == [
        list(range(0, 21)),
        list(range(21, 42)),
        list(range(42, 64)),
    ]
    assert all(features.dtype == np.int64 for features in held)
    assert ["bias" in component.arrays for component in model.components[:-1]] == [
        True,
        False,
        False,
    ]
    assert all(scores.shape == (1, len(inputs), 10) for scores in partial)
    total = np.concatenate(partial).sum(axis=0)
    assert np.allclose(total, logistic.decision_function(inputs))
    assert model.components[-1].kind == "vote"


def test_components_survive_their_bytes(
    digits: tuple[NDArray[Any], NDArray[Any]], logistic: Any
) -> None:
    # prepare
    inputs, _ = digits
    model = split(logistic, 4)

    # act
    loaded = [load_component(component.to_bytes()) for component in model.components]

    # assert
    assert [component.hash for component in loaded] == [c.hash for c in model.components]
    assert np.array_equal(
        type(model)(model.technique, model.flow, tuple(loaded)).predict(inputs),
        logistic.predict(inputs),
    )


def test_a_missing_group_changes_the_labels(
    digits: tuple[NDArray[Any], NDArray[Any]], logistic: Any
) -> None:
    # prepare: why subsets are not allowed for this technique
    inputs, _ = digits
    model = split(logistic, 3)

    # act
    partial = model.predict(inputs, groups=[1, 2])

    # assert
    assert not np.array_equal(partial, logistic.predict(inputs))


@pytest.mark.parametrize("parts", [1, 0, 65, True, 2.0])
def test_bad_part_counts_are_refused(logistic: Any, parts: Any) -> None:
    with pytest.raises(InputError) as caught:
        split(logistic, parts)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    "state",
    [
        {"weight": np.ones((3, 4)), "bias": np.ones(2)},
        {"weight": np.ones(4), "bias": np.ones(4)},
        {"0.weight": np.ones((3, 4)), "0.bias": np.ones((3, 1))},
        {"weight": np.full((3, 4), np.nan), "bias": np.ones(3)},
    ],
)
def test_malformed_linear_state_dicts_are_refused(state: dict[str, Any]) -> None:
    with pytest.raises(InputError) as caught:
        split(state, 2)
    assert "\n" not in str(caught.value)


def test_rows_of_the_wrong_width_are_refused(
    digits: tuple[NDArray[Any], NDArray[Any]], logistic: Any
) -> None:
    # prepare
    inputs, _ = digits
    model = split(logistic, 2)

    # act, assert
    with pytest.raises(InputError, match="64 features") as caught:
        model.predict(inputs[:, :10])
    assert "\n" not in str(caught.value)


def test_a_two_layer_state_dict_still_splits_by_layers() -> None:
    # prepare
    state = {
        "0.weight": np.ones((5, 4), dtype=np.float32),
        "0.bias": np.zeros(5, dtype=np.float32),
        "2.weight": np.ones((3, 5), dtype=np.float32),
        "2.bias": np.zeros(3, dtype=np.float32),
    }

    # act
    model = split(state, 2)

    # assert
    assert model.technique == "layers"


def test_importing_the_technique_loads_neither_torch_nor_sklearn() -> None:
    code = (
        "import sys, mercato.ml.splitting, mercato.ml.splitting.linear;"
        "print('torch' in sys.modules, 'sklearn' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.split() == ["False", "False"]


def test_leakage_measures_each_holder_of_feature_groups(
    digits: tuple[NDArray[Any], NDArray[Any]], logistic: Any
) -> None:
    # prepare
    from mercato.ml.splitting.leakage import best_guess, protection

    inputs, labels = digits
    data = (inputs[:900], labels[:900], inputs[900:], labels[900:])
    model = split(logistic, 3)

    # act
    result = protection(model, *data)
    all_groups = best_guess(model, {0, 1, 2}, *data)

    # assert
    assert result.accuracy_whole == float(np.mean(logistic.predict(inputs[900:]) == labels[900:]))
    assert len(result.accuracy_vendor) == 4
    assert all(accuracy >= result.accuracy_known_only for accuracy in result.accuracy_vendor)
    assert (result.coalition_missing, result.accuracy_coalition) == (3, result.accuracy_whole)
    assert "partial scores of groups 0, 1, 2" in result.strategy_coalition
    assert result.strategy_vendor[3].startswith("holds only the class labels")
    assert all_groups[0] >= result.accuracy_whole  # every group's scores add up to the model's


@pytest.mark.parametrize("load", ["load_breast_cancer", "load_iris", "load_digits"])
def test_a_scaled_logistic_pipeline_splits_into_its_own_predictions(load: str) -> None:
    # prepare: a fitted StandardScaler + LogisticRegression, as P1 delivers one
    import sklearn.datasets
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    from mercato.ml.splitting.linear import as_linear_state_dict

    rows, labels = getattr(sklearn.datasets, load)(return_X_y=True)
    pipeline = Pipeline([("scale", StandardScaler()), ("logreg", LogisticRegression(max_iter=500))])
    pipeline.fit(rows, labels)

    # act
    model = split(as_linear_state_dict(pipeline), 3)

    # assert
    assert model.predict(rows).tolist() == pipeline.predict(rows).tolist()


def test_a_pipeline_of_other_steps_is_refused_in_one_line(
    digits: tuple[NDArray[Any], NDArray[Any]],
) -> None:
    # prepare: a scaler then a tree, not a logistic regression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.tree import DecisionTreeClassifier

    from mercato.ml.splitting.linear import as_linear_state_dict

    pipeline = Pipeline([("scale", StandardScaler()), ("tree", DecisionTreeClassifier())])
    pipeline.fit(*digits)

    # act / assert
    with pytest.raises(InputError, match="StandardScaler then a LogisticRegression") as refused:
        as_linear_state_dict(pipeline)
    assert "\n" not in str(refused.value)


def test_a_p2_logistic_model_with_its_scaling_splits_into_its_own_predictions() -> None:
    # prepare: a numpy-logreg model as a P2 training exports it, trained on scaled iris rows
    # and carrying that scaling, so it predicts from rows as the file holds them
    from sklearn.datasets import load_iris

    from mercato.ml.columns import Inputs
    from mercato.ml.datasets import Dataset
    from mercato.ml.model_files import WeightsModel
    from mercato.ml.splitting.linear import as_linear_state_dict
    from mercato.ml.trainers import NumpyLogReg

    rows, labels = load_iris(return_X_y=True)
    mean, scale = rows.mean(axis=0), rows.std(axis=0)
    trainer = NumpyLogReg(4, 3)
    scaled = Dataset("iris", "mc:TabularData", ((rows - mean) / scale).astype(np.float32), labels)
    weights = trainer.train(None, scaled, epochs=30, seed=0)
    inputs = Inputs(("a", "b", "c", "d"), ("setosa", "versicolor", "virginica"),
                    tuple(mean), tuple(scale))  # fmt: skip
    model = WeightsModel(trainer, weights, inputs)

    # act
    parts = split(as_linear_state_dict(model), 2)

    # assert: the raw rows, split by features, label as the whole model labels them
    assert parts.predict(rows).tolist() == model.predict(rows.astype(np.float32)).tolist()
    assert len(set(model.predict(rows.astype(np.float32)).tolist())) == 3  # not a constant


def test_a_p2_model_of_another_family_is_refused_in_one_line() -> None:
    # prepare: a Mercato MLP (not linear: it does not split by features)
    from mercato.ml.model_files import WeightsModel
    from mercato.ml.splitting.linear import as_linear_state_dict
    from mercato.ml.trainers import TorchMLP

    trainer = TorchMLP(4, 3)
    model = WeightsModel(trainer, trainer.init_weights(0))

    # act / assert
    with pytest.raises(InputError, match="numpy-logreg") as refused:
        as_linear_state_dict(model)
    assert "\n" not in str(refused.value)
