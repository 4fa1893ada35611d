"""Aggregation rules for federated rounds: one Protocol, one module per rule."""

from mercato.ml.aggregate.base import Aggregator, Update
from mercato.ml.aggregate.fedavg import FedAvg, weighted_average
from mercato.ml.aggregate.simulate import federated_training, round_seed, schedule

__all__ = [
    "Aggregator",
    "FedAvg",
    "Update",
    "federated_training",
    "round_seed",
    "schedule",
    "weighted_average",
]
