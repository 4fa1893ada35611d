"""Aggregation rules for federated rounds: one Protocol, one module per rule."""

from mercato.ml.aggregate.base import Aggregator, Update
from mercato.ml.aggregate.fedavg import FedAvg, weighted_average
from mercato.ml.aggregate.krum import KrumResult, MultiKrum, krum_scores, krum_select
from mercato.ml.aggregate.median import CoordinateMedian, coordinate_median
from mercato.ml.aggregate.simulate import federated_training, round_seed, schedule
from mercato.ml.aggregate.trimmed_mean import TrimmedMean, trim_count, trimmed_mean

__all__ = [
    "Aggregator",
    "CoordinateMedian",
    "FedAvg",
    "KrumResult",
    "MultiKrum",
    "TrimmedMean",
    "Update",
    "coordinate_median",
    "federated_training",
    "krum_scores",
    "krum_select",
    "round_seed",
    "schedule",
    "trim_count",
    "trimmed_mean",
    "weighted_average",
]
