"""Canonical JSON for documents whose keccak-256 hash is committed on chain.

One byte form per document: UTF-8, sorted keys, no whitespace, no NaN or infinity. Reading
is strict, so two different byte strings never decode to the same document: duplicate keys,
NaN and unknown fields are refused.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from eth_utils.crypto import keccak

from mercato.errors import InputError


class Committed:
    """Base of a document whose keccak-256 digest is committed on chain.

    A subclass gives its canonical bytes, ``to_json_bytes``; ``digest`` hashes them.
    """

    def to_json_bytes(self) -> bytes:
        """Canonical encoding: UTF-8 JSON, sorted keys, no whitespace."""
        raise NotImplementedError

    def digest(self) -> bytes:
        """keccak-256 of the canonical encoding: the commitment published on chain."""
        return bytes(keccak(self.to_json_bytes()))


def canonical_json(document: Mapping[str, Any]) -> bytes:
    """The canonical bytes of a JSON object."""
    return json.dumps(
        document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def load_json_object(raw: bytes | str, what: str, max_bytes: int) -> dict[str, Any]:
    """Decode a JSON object strictly; ``what`` prefixes every error message."""
    if isinstance(raw, str):
        raw = raw.encode("utf-8")
    if not isinstance(raw, bytes):
        raise InputError(f"{what}: expected bytes or str, not {type(raw).__name__}")
    if len(raw) > max_bytes:
        raise InputError(f"{what}: document is larger than {max_bytes} bytes")
    try:
        document = json.loads(
            raw.decode("utf-8"),
            object_pairs_hook=lambda pairs: _unique_keys(pairs, what),
            parse_constant=lambda name: _reject_constant(name, what),
        )
    except UnicodeDecodeError as exc:
        raise InputError(f"{what}: not UTF-8 text (byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise InputError(
            f"{what}: malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from None
    except RecursionError:
        raise InputError(f"{what}: JSON is nested too deeply") from None
    return as_object(document, what, "document")


def load_document(
    raw: bytes | str, what: str, max_bytes: int, fields: tuple[str, ...]
) -> dict[str, Any]:
    """A JSON object with exactly ``fields``, decoded strictly (see :func:`load_json_object`)."""
    document = load_json_object(raw, what, max_bytes)
    check_fields(document, fields, what)
    return document


def as_object(value: object, what: str, field: str) -> dict[str, Any]:
    """``value`` if it is a JSON object, else InputError naming ``field``."""
    if not isinstance(value, dict):
        raise InputError(f"{what}: {field} must be a JSON object")
    return value


def check_fields(
    document: Mapping[str, Any], expected: tuple[str, ...], what: str, where: str = ""
) -> None:
    """Refuse unknown and missing fields; ``where`` is the dotted path of ``document``."""
    for name in sorted(document):
        if name not in expected:
            raise InputError(f"{what}: unknown field {where + name!r}")
    for name in expected:
        if name not in document:
            raise InputError(f"{what}: missing field {where + name!r}")


def _unique_keys(pairs: list[tuple[str, Any]], what: str) -> dict[str, Any]:
    # A repeated key would let two different byte strings mean the same document.
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise InputError(f"{what}: duplicate key {key!r}")
        result[key] = value
    return result


def _reject_constant(name: str, what: str) -> None:
    raise InputError(f"{what}: {name} is not a valid JSON number")
