"""The whitelist of algorithm families an algorithm spec may name.

Each family maps to one scikit-learn estimator class, the hyper-parameters a spec may set on
it (only those that change the learned model: no ``n_jobs``, ``verbose``, ``warm_start`` or
``random_state``, the seed comes from the training call), Mercato's defaults, and whether
features are standardised first.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier
from sklearn.svm import SVC

# Upper bounds on the hyper-parameters that set how long training runs.
LIMITS: Mapping[str, int] = MappingProxyType(
    {"n_estimators": 2_000, "max_iter": 100_000, "layer_width": 4_096, "layers": 16}
)

Scalar = str | int | float | bool | None
HyperValue = Scalar | tuple[Scalar, ...]

# Hyper-parameters some families share: how the trees of an ensemble grow, and when an
# iterative learner stops early on a held-out fraction.
_TREE_GROWTH = frozenset(
    {
        "ccp_alpha",
        "criterion",
        "max_depth",
        "max_features",
        "max_leaf_nodes",
        "min_samples_leaf",
        "min_samples_split",
        "n_estimators",
    }
)
_EARLY_STOPPING = frozenset({"n_iter_no_change", "tol", "validation_fraction"})


@dataclass(frozen=True)
class Family:
    """One whitelisted algorithm family and how to build its estimator."""

    ontology_class: str
    estimator: Callable[..., Any]
    allowed: frozenset[str]
    defaults: Mapping[str, HyperValue]
    # Distance- and gradient-based learners need standardised features; trees do not.
    scale_features: bool


FAMILIES: Mapping[str, Family] = MappingProxyType(
    {
        "logistic_regression": Family(
            ontology_class="mc:LogisticRegression",
            estimator=LogisticRegression,
            allowed=frozenset(
                {"C", "class_weight", "fit_intercept", "l1_ratio", "max_iter", "solver", "tol"}
            ),
            defaults=MappingProxyType({"max_iter": 1000}),
            scale_features=True,
        ),
        "random_forest": Family(
            ontology_class="mc:RandomForest",
            estimator=RandomForestClassifier,
            allowed=_TREE_GROWTH | {"bootstrap", "class_weight", "max_samples"},
            defaults=MappingProxyType({"n_estimators": 100}),
            scale_features=False,
        ),
        "gradient_boosting": Family(
            ontology_class="mc:GradientBoosting",
            estimator=GradientBoostingClassifier,
            allowed=_TREE_GROWTH | _EARLY_STOPPING | {"learning_rate", "subsample"},
            defaults=MappingProxyType({"n_estimators": 100}),
            scale_features=False,
        ),
        "mlp": Family(
            ontology_class="mc:MultilayerPerceptron",
            estimator=MLPClassifier,
            allowed=_EARLY_STOPPING.union(
                {
                    "activation",
                    "alpha",
                    "batch_size",
                    "early_stopping",
                    "hidden_layer_sizes",
                    "learning_rate",
                    "learning_rate_init",
                    "max_iter",
                    "momentum",
                    "solver",
                }
            ),
            defaults=MappingProxyType({"hidden_layer_sizes": (64,), "max_iter": 500}),
            scale_features=True,
        ),
        "svm": Family(
            ontology_class="mc:SVM",
            estimator=SVC,
            allowed=frozenset(
                {
                    "C",
                    "class_weight",
                    "coef0",
                    "degree",
                    "gamma",
                    "kernel",
                    "max_iter",
                    "shrinking",
                    "tol",
                }
            ),
            defaults=MappingProxyType({}),
            scale_features=True,
        ),
    }
)
