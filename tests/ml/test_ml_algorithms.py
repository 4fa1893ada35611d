"""Algorithm specs: whitelisted families, checked hyper-parameters, canonical bytes."""

from __future__ import annotations

import json
from typing import Any

import pytest

from mercato.errors import InputError
from mercato.ml import FAMILIES, AlgorithmSpec, build_estimator
from mercato.ontology import Category, load_ontology


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_every_family_is_a_classification_algorithm(family: str) -> None:
    onto = load_ontology()
    cls = FAMILIES[family].ontology_class

    assert onto.category_of(cls) is Category.ALGORITHM
    assert onto.is_subclass(cls, "mc:ClassificationAlgorithm")


def test_spec_takes_the_family_class_and_defaults() -> None:
    spec = AlgorithmSpec("logistic_regression", hyperparameters={"C": 0.5})

    assert spec.ontology_class == "mc:LogisticRegression"
    assert dict(spec.hyperparameters) == {"C": 0.5, "max_iter": 1000}


def test_canonical_bytes_round_trip() -> None:
    spec = AlgorithmSpec("mlp", hyperparameters={"hidden_layer_sizes": [32, 16], "alpha": 0.001})

    raw = spec.to_json_bytes()

    assert raw == (
        b'{"family":"mlp","hyperparameters":{"alpha":0.001,"hidden_layer_sizes":[32,16],'
        b'"max_iter":500},"ontology_class":"mc:MultilayerPerceptron","version":1}'
    )
    assert AlgorithmSpec.from_json_bytes(raw) == spec
    assert AlgorithmSpec.from_json_bytes(raw).digest() == spec.digest()


def test_build_estimator_seeds_the_estimator() -> None:
    spec = AlgorithmSpec("random_forest", hyperparameters={"n_estimators": 7})

    estimator = build_estimator(spec, seed=42)

    assert estimator.get_params()["random_state"] == 42
    assert estimator.get_params()["n_estimators"] == 7


def test_scaled_families_get_a_standard_scaler() -> None:
    estimator = build_estimator(AlgorithmSpec("svm"), seed=0)

    assert [name for name, _ in estimator.steps] == ["standardscaler", "svc"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"family": "svn"}, r"^unknown algorithm family 'svn'\. Did you mean 'svm'\?$"),
        ({"family": "xgboost"}, r"^unknown algorithm family 'xgboost'\. Known: "),
        (
            {"family": "svm", "hyperparameters": {"n_jobs": 4}},
            r"^algorithm 'svm': hyper-parameter 'n_jobs' is not allowed; allowed: C, ",
        ),
        (
            {"family": "svm", "hyperparameters": {"random_state": 1}},
            r"^algorithm 'svm': hyper-parameter 'random_state' is not allowed",
        ),
        (
            {"family": "svm", "hyperparameters": {"C": -1}},
            r"^algorithm 'svm': bad hyper-parameter: The 'C' parameter of SVC must be",
        ),
        (
            {"family": "random_forest", "hyperparameters": {"criterion": "magic"}},
            r"^algorithm 'random_forest': bad hyper-parameter: The 'criterion' parameter",
        ),
        (
            {"family": "random_forest", "hyperparameters": {"n_estimators": 10**6}},
            r"^algorithm 'random_forest': n_estimators 1000000 is above the limit 2000$",
        ),
        (
            {"family": "mlp", "hyperparameters": {"hidden_layer_sizes": [10**6]}},
            r"^algorithm 'mlp': hidden_layer_sizes allows at most 16 layers",
        ),
        (
            {"family": "mlp", "hyperparameters": {"alpha": {"x": 1}}},
            r"^algorithm 'mlp': hyper-parameter 'alpha' must be a string, number",
        ),
        (
            {"family": "svm", "ontology_class": "mc:KernelMethod"},
            r"^algorithm 'svm': class 'mc:KernelMethod' is not a kind of 'mc:SVM'$",
        ),
        (
            {"family": "svm", "ontology_class": "mc:Svm"},
            r"^unknown ontology class 'mc:Svm'\. Did you mean 'mc:SVM'\?$",
        ),
    ],
)
def test_bad_spec_is_refused(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(InputError, match=message):
        AlgorithmSpec(**kwargs)


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (
            {"family": "svm", "hyperparameters": {}, "ontology_class": ""},
            r"missing field 'version'",
        ),
        (
            {
                "family": "svm",
                "hyperparameters": {},
                "ontology_class": "",
                "version": 1,
                "code": "x",
            },
            r"unknown field 'code'",
        ),
        (
            {"family": "svm", "hyperparameters": {}, "ontology_class": "", "version": 9},
            r"unsupported version 9",
        ),
    ],
)
def test_bad_spec_document_is_refused(document: dict[str, Any], message: str) -> None:
    with pytest.raises(InputError, match=rf"^algorithm spec: {message}"):
        AlgorithmSpec.from_json_bytes(json.dumps(document))
