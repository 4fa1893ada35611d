"""Digits (bundled with scikit-learn) and small fitted models, shared by the splitting tests."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray


@pytest.fixture(scope="session")
def digits() -> tuple[NDArray[Any], NDArray[Any]]:
    from sklearn.datasets import load_digits

    inputs, labels = load_digits(return_X_y=True)
    return np.asarray(inputs), np.asarray(labels)


@pytest.fixture(scope="session")
def forest(digits: tuple[NDArray[Any], NDArray[Any]]) -> Any:
    from sklearn.ensemble import RandomForestClassifier

    inputs, labels = digits
    return RandomForestClassifier(n_estimators=24, max_depth=6, random_state=0).fit(
        inputs[:900], labels[:900]
    )


@pytest.fixture(scope="session")
def tree(digits: tuple[NDArray[Any], NDArray[Any]]) -> Any:
    from sklearn.tree import DecisionTreeClassifier

    inputs, labels = digits
    return DecisionTreeClassifier(random_state=0).fit(inputs[:900], labels[:900])


@pytest.fixture(scope="session")
def mlp(digits: tuple[NDArray[Any], NDArray[Any]]) -> Any:
    from sklearn.neural_network import MLPClassifier

    inputs, labels = digits
    return MLPClassifier(hidden_layer_sizes=(32, 16, 16), max_iter=200, random_state=0).fit(
        inputs[:900], labels[:900]
    )
