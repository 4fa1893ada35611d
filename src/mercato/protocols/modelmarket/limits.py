"""The limits ModelMarket.vy puts on a request's terms, and the terms a buyer posts with by
default; apart from the wrapper so that the command line can show them without loading the
chain stack or the models."""

MAX_SELLERS = 16
MAX_EXECUTORS = 7
MAX_VOLUNTEERS = 32
MAX_SAMPLE = 8
MIN_GROUPS = 32
MAX_GROUPS = 2**32
MAX_POINTS = 8
MAX_WINNERS = 8
SCORE_SCALE = 10**6
"""Scores go on chain in parts per million: ``floor(correct * SCORE_SCALE / examples)``."""
MAX_PERIOD = 365 * 86400
MAX_AMOUNT = 2**128 - 1
MAX_SIZE = 2**42
MAX_DEPTH = 32
"""The longest Merkle proof the contract takes."""

DEFAULT_PERIOD = 3600
"""Seconds of each phase unless the buyer says otherwise."""
