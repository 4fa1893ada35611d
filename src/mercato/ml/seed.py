"""Seeds for deterministic training: NumPy's legacy generators accept 0 .. 2**32 - 1."""

from __future__ import annotations

from mercato.errors import InputError

MAX_SEED = 2**32 - 1


def check_seed(seed: object) -> int:
    """``seed`` if it is an int NumPy and scikit-learn accept, else InputError."""
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise InputError(f"seed must be an integer from 0 to {MAX_SEED}, got {seed!r}")
    return seed
