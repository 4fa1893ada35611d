"""Guarded model loading: committed hash first, then an allow-listed unpickler."""

from __future__ import annotations

import pickle
import re
from typing import Any

import pytest
from sklearn.linear_model import LogisticRegression

from mercato.errors import InputError, IntegrityError
from mercato.ml import dump_model, load_model, model_digest

CALLS: list[str] = []


def record_call(tag: str) -> str:
    """Stand-in for a dangerous callable: proves whether unpickling ran it."""
    CALLS.append(tag)
    return tag


class _Payload:
    def __init__(self, func: Any, arg: str) -> None:
        self.func, self.arg = func, arg

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return self.func, (self.arg,)


def _fitted_model() -> LogisticRegression:
    return LogisticRegression().fit([[0.0], [1.0], [2.0], [3.0]], [0, 0, 1, 1])


def test_matching_hash_loads_the_model() -> None:
    raw = dump_model(_fitted_model())

    model = load_model(raw, model_digest(raw))

    assert model.predict([[3.0]]).tolist() == [1]


def test_hash_mismatch_raises_before_unpickling() -> None:
    CALLS.clear()
    raw = pickle.dumps(_Payload(record_call, "ran"))

    with pytest.raises(
        IntegrityError, match=r"^model hash 0x[0-9a-f]{64} does not match the committed 0x00"
    ):
        load_model(raw, bytes(32))

    assert CALLS == []


def test_tampered_bytes_do_not_match_the_committed_hash() -> None:
    raw = dump_model(_fitted_model())
    committed = model_digest(raw)
    tampered = raw[:-2] + bytes([raw[-2] ^ 1]) + raw[-1:]

    with pytest.raises(IntegrityError, match="does not match the committed"):
        load_model(tampered, committed)


@pytest.mark.parametrize("func", [record_call, eval])
def test_committed_but_malicious_pickle_is_refused(func: Any) -> None:
    # A malicious executor commits the hash of its own bytes, so the hash check passes.
    CALLS.clear()
    raw = pickle.dumps(_Payload(func, "CALLS.append('ran')"))
    name = re.escape(f"{func.__module__}.{func.__qualname__}")

    with pytest.raises(IntegrityError, match=rf"^model bytes name {name}, which is not allowed$"):
        load_model(raw, model_digest(raw))

    assert CALLS == []


def test_truncated_pickle_is_an_integrity_error() -> None:
    raw = dump_model(_fitted_model())[:50]

    with pytest.raises(IntegrityError, match=r"^model bytes do not unpickle: "):
        load_model(raw, model_digest(raw))


def test_expected_hash_must_be_32_bytes() -> None:
    with pytest.raises(InputError, match=r"^expected hash must be 32 bytes$"):
        load_model(b"x", b"short")
