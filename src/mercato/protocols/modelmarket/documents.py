"""The blobs P4's hashes point to: the task, the hidden test groups, deliveries and reports.

- :class:`TaskDocument`: what the buyer asks for (the ontology terms of the data and the
  task, the input and output schema, the metric, how the test set is grouped); its blob
  hash goes on chain as the request's ``task_hash``.
- :class:`HiddenTestSet`: the buyer's labelled rows cut into salted groups. Group ``i``'s
  blob is ``salt || safetensors({X, y})`` and its leaf ``uint64(i) || keccak(blob)``
  (:func:`mercato.crypto.fairswap.plain_leaf`); the Merkle root goes on chain. The salt
  keeps anyone from testing a guess of a group against its hash.
- :func:`groups_bytes` / :func:`read_groups`: a set of groups by index, as the public sample
  blob and as the plaintext the buyer seals to the executors.
- :func:`delivery_bytes` / :func:`read_delivery`: a seller's encrypted chunks and chunk
  hashes (:class:`mercato.crypto.fairswap.Delivery`), sealed to the buyer.

Associated data binds each sealed blob to its request and purpose, so a blob sealed for one
request cannot be replayed in another. Light: numpy and safetensors only.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from mercato.crypto.commit import keccak
from mercato.crypto.fairswap import CHUNK_SIZE, Delivery, plain_leaf
from mercato.crypto.merkle import MerkleTree
from mercato.errors import InputError
from mercato.protocols.modelmarket.limits import MAX_GROUPS, MAX_SAMPLE, MIN_GROUPS

SALT_SIZE = 32
TASK_SCHEMA = "mercato/modelmarket-task/v1"
METRIC = "accuracy"
"""The metric every request of this version scores: the fraction of hidden examples right."""


def purpose(request_id: int, what: str) -> bytes:
    """Associated data of a blob sealed for ``what`` (``test``, ``model 2``, ``delivery``)."""
    return f"mercato/modelmarket/{request_id}/{what}".encode()


@dataclass(frozen=True)
class TaskDocument:
    """What a buyer asks for: the data and the task, the schema, the metric, the grouping."""

    data_class: str
    """Ontology term of the data (``ex:HandwrittenDigits``)."""
    task: str
    """Ontology term of the task (``ex:ImageClassification``)."""
    features: int
    classes: tuple[str, ...]
    """Class names in label order: label ``i`` is ``classes[i]``."""
    groups: int
    group_size: int
    sample: int
    metric: str = METRIC
    feature_names: tuple[str, ...] = ()
    description: str = ""
    schema: str = field(default=TASK_SCHEMA)

    def __post_init__(self) -> None:
        for name in ("features", "groups", "group_size", "sample"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise InputError(f"a task's {name} must be a whole number, got {value!r}")
        texts = (self.data_class, self.task, self.description, *self.classes, *self.feature_names)
        if not all(isinstance(text, str) for text in texts):
            raise InputError("a task's terms, classes and feature names must be text")
        if self.metric != METRIC:
            raise InputError(f"the metric must be {METRIC}, got {self.metric!r}")
        if not MIN_GROUPS <= self.groups <= MAX_GROUPS:
            raise InputError(f"a test set has {MIN_GROUPS} or more groups, got {self.groups}")
        if not 0 < self.sample <= MAX_SAMPLE or self.sample * 4 > self.groups:
            raise InputError(
                f"the sample must be 1 to {MAX_SAMPLE} groups and at most a quarter of them"
            )
        if self.group_size < 1 or self.features < 1 or len(self.classes) < 2:
            raise InputError("a task needs groups of one or more rows, features and 2+ classes")

    def to_bytes(self) -> bytes:
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":")).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> TaskDocument:
        try:
            payload = json.loads(data)
            if payload.get("schema") != TASK_SCHEMA:
                raise InputError(f"not a {TASK_SCHEMA} document")
            payload.setdefault("feature_names", [])
            for name in ("classes", "feature_names"):
                if not isinstance(payload[name], list):
                    raise InputError(f"its {name} are not a list")
                payload[name] = tuple(payload[name])
            return cls(**payload)
        except InputError as exc:
            if str(exc).startswith("not a "):
                raise
            raise InputError(f"not a model-market task document: {exc}") from None
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise InputError(f"not a model-market task document: {exc}") from None


def group_blob(salt: bytes, X: NDArray[Any], y: NDArray[Any]) -> bytes:
    """One group's blob: ``salt || safetensors({X: float32, y: int64})``."""
    from safetensors.numpy import save

    tensors: dict[str, NDArray[Any]] = {
        "X": np.ascontiguousarray(X, dtype=np.float32),
        "y": np.ascontiguousarray(y, dtype=np.int64),
    }
    return salt + save(tensors)


def read_group(blob: bytes) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
    """The rows and labels of a group blob; InputError if it is not one."""
    from safetensors.numpy import load

    if len(blob) <= SALT_SIZE:
        raise InputError("a test group blob is too short")
    try:
        tensors = load(blob[SALT_SIZE:])
        X, y = tensors["X"], tensors["y"]
    except Exception as exc:  # safetensors raises its own errors on malformed bytes
        raise InputError(f"a test group blob does not read: {exc}") from None
    if X.ndim != 2 or y.ndim != 1 or len(X) != len(y) or X.dtype != np.float32:
        raise InputError("a test group blob does not hold rows and labels of one length")
    return X, y.astype(np.int64)


def group_leaf(index: int, blob: bytes) -> bytes:
    """The leaf data of group ``index``: ``uint64(index) || keccak(blob)``."""
    return plain_leaf(index, keccak(blob))


@dataclass(frozen=True)
class HiddenTestSet:
    """The buyer's groups (blobs by index) and their Merkle tree."""

    blobs: tuple[bytes, ...]

    @classmethod
    def cut(
        cls, X: NDArray[Any], y: NDArray[Any], groups: int, seed: int | None = None
    ) -> HiddenTestSet:
        """Shuffle the rows (with ``seed``, if given) and cut them into ``groups`` equal
        groups (the remainder is left out), each with a fresh random salt."""
        rows = len(y)
        size = rows // groups
        if size < 1:
            raise InputError(f"{rows} rows cannot make {groups} groups")
        order = np.random.default_rng(seed).permutation(rows)
        blobs = tuple(
            group_blob(
                secrets.token_bytes(SALT_SIZE),
                X[order[i * size : (i + 1) * size]],
                y[order[i * size : (i + 1) * size]],
            )
            for i in range(groups)
        )
        return cls(blobs)

    @property
    def tree(self) -> MerkleTree:
        return MerkleTree([group_leaf(i, blob) for i, blob in enumerate(self.blobs)])

    @property
    def root(self) -> bytes:
        return self.tree.root

    def group_hash(self, index: int) -> bytes:
        return keccak(self.blobs[index])

    def subset(self, indices: Sequence[int]) -> dict[int, bytes]:
        """The blobs of ``indices``, by index."""
        return {i: self.blobs[i] for i in indices}

    def hidden(self, sample: Sequence[int]) -> dict[int, bytes]:
        """Every group but the revealed ``sample``: what the scores count."""
        return {i: blob for i, blob in enumerate(self.blobs) if i not in set(sample)}

    def to_bytes(self) -> bytes:
        """Every blob, for the buyer's own state (it must keep the salts)."""
        return groups_bytes(dict(enumerate(self.blobs)))

    @classmethod
    def from_bytes(cls, data: bytes) -> HiddenTestSet:
        groups = read_groups(data)
        if sorted(groups) != list(range(len(groups))):
            raise InputError("a hidden test set holds every group from 0")
        return cls(tuple(groups[i] for i in range(len(groups))))


def groups_bytes(groups: Mapping[int, bytes]) -> bytes:
    """Groups by index as one blob (JSON: index -> hex)."""
    payload = {str(i): blob.hex() for i, blob in sorted(groups.items())}
    return json.dumps(payload, separators=(",", ":")).encode()


def read_groups(data: bytes) -> dict[int, bytes]:
    """The groups of a blob written by :func:`groups_bytes`; InputError if it is not one."""
    try:
        payload = json.loads(data)
        return {int(i): bytes.fromhex(blob) for i, blob in payload.items()}
    except (ValueError, TypeError, AttributeError) as exc:
        raise InputError(f"not a blob of test groups: {exc}") from None


def test_set_problem(root: bytes, groups: int, blobs: Mapping[int, bytes]) -> str | None:
    """Unless ``blobs`` holds every group 0 .. groups-1 and their tree has ``root``: what an
    executor checks once it holds the public sample and the hidden groups sealed to it."""
    missing = [i for i in range(groups) if i not in blobs]
    if missing:
        return f"the test set lacks {len(missing)} of its {groups} groups"
    if len(blobs) != groups:
        return f"the test set has {len(blobs)} groups, not {groups}"
    if HiddenTestSet(tuple(blobs[i] for i in range(groups))).root != root:
        return "the test groups do not give the request's test root"
    return None


def delivery_bytes(delivery: Delivery) -> bytes:
    """A delivery as bytes: the chunk count, the encrypted chunks, then the chunk hashes."""
    count = len(delivery.encrypted)
    return count.to_bytes(8, "big") + b"".join(delivery.encrypted) + b"".join(delivery.chunk_hashes)


def read_delivery(data: bytes) -> Delivery:
    """The delivery in ``data`` (:func:`delivery_bytes`); InputError if it is not one."""
    if len(data) < 8:
        raise InputError("a delivery is too short")
    count = int.from_bytes(data[:8], "big")
    if len(data) != 8 + count * (CHUNK_SIZE + 32):
        raise InputError("a delivery's length does not match its chunk count")
    chunks_end = 8 + count * CHUNK_SIZE
    encrypted = tuple(data[8 + i * CHUNK_SIZE : 8 + (i + 1) * CHUNK_SIZE] for i in range(count))
    hashes = tuple(data[chunks_end + i * 32 : chunks_end + (i + 1) * 32] for i in range(count))
    return Delivery(encrypted, hashes)
