"""The limits DataMarket.vy puts on a task's terms, and the periods a model owner posts with
by default; apart from the wrapper so that the command line can show them without loading the
chain stack or the models."""

MIN_DATA_OWNERS = 3
MAX_DATA_OWNERS = 32
MAX_ROUNDS = 255
MAX_PERIOD = 365 * 86400

DEFAULT_JOIN_PERIOD = 86400
DEFAULT_PHASE_PERIOD = 3600
DEFAULT_AGGREGATE_PERIOD = 3600
