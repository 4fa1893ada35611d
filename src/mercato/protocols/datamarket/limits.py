"""The limits DataMarket.vy puts on a task's terms, the aggregation rules a task may name, and
the terms a model owner posts with by default; apart from the wrapper so that the command
line can show them without loading the chain stack or the models."""

from mercato.ml.aggregate.krum import DEFAULT_MULTIPLE as DEFAULT_MULTIPLE
from mercato.ml.aggregate.krum import MAX_MULTIPLE as MAX_MULTIPLE
from mercato.ml.aggregate.krum import MIN_MULTIPLE as MIN_MULTIPLE
from mercato.ml.aggregate.krum import MULTIPLE_SCALE as MULTIPLE_SCALE

MIN_DATA_OWNERS = 3
MAX_DATA_OWNERS = 32
MAX_ROUNDS = 255
MAX_PERIOD = 365 * 86400
MAX_REWARD = 2**128 - 1
"""DataMarket.vy keeps a task's reward in 128 bits."""

DEFAULT_JOIN_PERIOD = 86400
DEFAULT_PHASE_PERIOD = 3600
DEFAULT_AGGREGATE_PERIOD = 3600
DEFAULT_LOCAL_EPOCHS = 1

RULE_MEAN = "mean"
"""Secure mode's only rule: secure aggregation gives the model owner the sum alone."""
ROBUST_RULES = ("multikrum", "median", "trimmed_mean")
RULES = (RULE_MEAN, *ROBUST_RULES)
DEFAULT_ROBUST_RULE = "multikrum"
