"""Deterministic training and evaluation of the secure-learning phase."""

from __future__ import annotations

import pytest

from mercato.errors import InputError
from mercato.ml import (
    METRICS,
    AlgorithmSpec,
    TrainedModel,
    accuracy,
    holdout_split,
    load_dataset,
    load_model,
    train,
)
from mercato.ontology.requirements import METRIC_RANGES

# Small settings keep each family's fit well under a second.
FAST_SPECS = {
    "logistic_regression": {},
    "random_forest": {"n_estimators": 10},
    "gradient_boosting": {"n_estimators": 10},
    "mlp": {"hidden_layer_sizes": [16], "solver": "lbfgs", "max_iter": 300},
    "svm": {},
}
ACCURACY_BAR = 0.9
SANITY_BAR = 0.8  # tiny settings: only checks that each family learns something


@pytest.fixture(scope="module")
def digits_logistic() -> TrainedModel:
    return train(load_dataset("digits"), AlgorithmSpec("logistic_regression"), seed=11)


def test_logistic_regression_learns_digits(digits_logistic: TrainedModel) -> None:
    assert digits_logistic.metrics["accuracy"] > ACCURACY_BAR


def test_reported_accuracy_is_that_of_the_loaded_model(digits_logistic: TrainedModel) -> None:
    split = holdout_split(load_dataset("digits"), seed=11)

    model = load_model(digits_logistic.model_bytes, digits_logistic.model_hash)

    assert accuracy(model, split.X_test, split.y_test) == digits_logistic.metrics["accuracy"]


def test_same_inputs_and_seed_give_identical_bytes(digits_logistic: TrainedModel) -> None:
    again = train(load_dataset("digits"), AlgorithmSpec("logistic_regression"), seed=11)

    assert again.model_bytes == digits_logistic.model_bytes
    assert again.model_hash == digits_logistic.model_hash


def test_another_seed_gives_another_model(digits_logistic: TrainedModel) -> None:
    other = train(load_dataset("digits"), AlgorithmSpec("logistic_regression"), seed=12)

    assert other.model_hash != digits_logistic.model_hash


def test_result_commits_to_its_inputs(digits_logistic: TrainedModel) -> None:
    assert digits_logistic.dataset_hash == load_dataset("digits").digest()
    assert digits_logistic.algorithm_hash == AlgorithmSpec("logistic_regression").digest()
    assert (digits_logistic.seed, digits_logistic.n_train, digits_logistic.n_test) == (
        11,
        1347,
        450,
    )


@pytest.mark.parametrize("family", sorted(FAST_SPECS))
def test_every_family_trains_deterministically_and_loads(family: str) -> None:
    dataset = load_dataset("wine")
    spec = AlgorithmSpec(family, hyperparameters=FAST_SPECS[family])

    first, second = train(dataset, spec, seed=3), train(dataset, spec, seed=3)
    model = load_model(first.model_bytes, first.model_hash)

    assert first.model_bytes == second.model_bytes
    assert first.metrics["accuracy"] > SANITY_BAR
    assert model.predict(dataset.X[:5]).shape == (5,)


def test_binary_task_models_load_too() -> None:
    result = train(
        load_dataset("breast_cancer"),
        AlgorithmSpec("gradient_boosting", hyperparameters={"n_estimators": 5}),
        seed=0,
    )

    assert load_model(result.model_bytes, result.model_hash) is not None


def test_every_metric_a_client_may_require_is_measured(digits_logistic: TrainedModel) -> None:
    assert set(METRIC_RANGES) == set(METRICS) == set(digits_logistic.metrics)
    assert all(0.0 <= value <= 1.0 for value in digits_logistic.metrics.values())


def test_bad_seed_is_refused_before_training() -> None:
    with pytest.raises(InputError, match=r"^seed must be an integer"):
        train(load_dataset("iris"), AlgorithmSpec("svm"), seed=-5)


def test_algorithm_that_cannot_fit_the_data_is_an_input_error() -> None:
    spec = AlgorithmSpec("svm", hyperparameters={"kernel": "precomputed"})

    with pytest.raises(InputError, match=r"^cannot train 'svm' on dataset 'iris': "):
        train(load_dataset("iris"), spec, seed=0)
