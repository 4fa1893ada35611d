"""Datasets, algorithm specs, deterministic training and evaluation for secure learning."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mercato._lazy import lazy_package

if TYPE_CHECKING:
    from mercato.ml.algorithms import AlgorithmSpec, build_estimator
    from mercato.ml.datasets import DATASET_NAMES, Dataset, Split, holdout_split, load_dataset
    from mercato.ml.evaluate import METRICS, Classifier, accuracy, evaluate
    from mercato.ml.families import FAMILIES, LIMITS, Family
    from mercato.ml.model_io import ALLOWED_GLOBALS, dump_model, load_model, model_digest
    from mercato.ml.seed import MAX_SEED, check_seed
    from mercato.ml.train import TrainedModel, train

__all__ = [
    "ALLOWED_GLOBALS",
    "DATASET_NAMES",
    "FAMILIES",
    "LIMITS",
    "MAX_SEED",
    "METRICS",
    "AlgorithmSpec",
    "Classifier",
    "Dataset",
    "Family",
    "Split",
    "TrainedModel",
    "accuracy",
    "build_estimator",
    "check_seed",
    "dump_model",
    "evaluate",
    "holdout_split",
    "load_dataset",
    "load_model",
    "model_digest",
    "train",
]

lazy_package(
    __name__,
    {
        "ALLOWED_GLOBALS": "model_io",
        "DATASET_NAMES": "datasets",
        "FAMILIES": "families",
        "LIMITS": "families",
        "MAX_SEED": "seed",
        "METRICS": "evaluate",
        "AlgorithmSpec": "algorithms",
        "Classifier": "evaluate",
        "Dataset": "datasets",
        "Family": "families",
        "Split": "datasets",
        "TrainedModel": "train",
        "accuracy": "evaluate",
        "build_estimator": "algorithms",
        "check_seed": "seed",
        "dump_model": "model_io",
        "evaluate": "evaluate",
        "holdout_split": "datasets",
        "load_dataset": "datasets",
        "load_model": "model_io",
        "model_digest": "model_io",
        "train": "train",
    },
)
