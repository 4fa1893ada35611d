"""P3's off-chain documents: what the data market's hashes point to in the blob store.

- ``spec_hash`` of a task: its :class:`TaskSpec` (public): the ontology classes the data must
  belong to, the public model's architecture, the local training method, the rule;
- ``model_hash`` of a task and of each finalised round: the public part of the model (MCWT
  weights, :mod:`mercato.ml.trainers.weights`), public to every DO;
- ``shares_hash`` (secure mode): a :class:`SharesBlob`, one envelope per peer holding the
  Shamir share bundle of this DO's round secrets, sealed to that peer's registered key;
- ``update_hash``: secure mode, the masked update (:func:`pack_masked`, public, uniform to
  anyone without the secrets); robust mode, the update (MCWT) sealed to the MO and the DO;
- ``reveal_hash`` (secure mode): a :class:`RevealBlob` of the revealed shares;
- ``aggregate_hash``: the round's mean update (MCWT float32), public.

Every envelope is bound to its place (``associated_data``: market, task, round, owner,
holder), so an envelope copied to another task, round or peer does not open.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from mercato.errors import InputError
from mercato.ml.columns import Inputs
from mercato.ml.model_parts import PartedMLP
from mercato.ml.seed import check_seed
from mercato.ontology.canonical import (
    canonical_json,
    check_fields,
    load_document,
    load_json_object,
)
from mercato.ontology.match import load_ontology
from mercato.protocols.datamarket.limits import RULE_MEAN, RULES

DOCUMENT_VERSION = 1
MAX_DOCUMENT_BYTES = 1 << 20
MASKED_MAGIC = b"MCMU"
_COUNT = struct.Struct("<Q")


def _check_int(value: object, what: str, low: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise InputError(f"{what} must be an integer of at least {low}, got {value!r}")
    return value


@dataclass(frozen=True)
class TaskSpec:
    """What a task wants and how every DO trains. Public.

    ``data_classes``: ontology classes a DO's data must belong to (each one, by subsumption).
    ``model``: a :meth:`PartedMLP.spec`; DOs train the public part ``local_epochs`` epochs per
    round, seeded by :meth:`seed_of`. ``rule``: ``"mean"`` in secure mode (all the sum gives);
    in robust mode one of :data:`~.limits.ROBUST_RULES`, tolerating the task's ``max_excluded``.
    ``inputs``: set when the MO posted from its own file (:mod:`.inputs`); a spec without it
    has the bytes it always had.
    """

    data_classes: tuple[str, ...]
    model: dict[str, Any]
    local_epochs: int
    seed: int
    rule: str
    inputs: Inputs | None = None

    def __post_init__(self) -> None:
        if not self.data_classes:
            raise InputError("task spec: name at least one ontology data class")
        ontology = load_ontology()
        object.__setattr__(
            self, "data_classes", tuple(ontology.curie(c) for c in self.data_classes)
        )
        if not isinstance(self.model, dict):
            raise InputError("task spec: model must be a JSON object")
        self.build_model()  # refuses a bad architecture now
        _check_int(self.local_epochs, "task spec: local_epochs", 1)
        check_seed(self.seed)
        if self.rule not in RULES:
            raise InputError(f"task spec: rule must be one of {RULES}, got {self.rule!r}")
        if self.inputs is not None:
            if not isinstance(self.inputs, Inputs):
                raise InputError("task spec: inputs must be Inputs")
            model = self.build_model()
            if (len(self.inputs.features), len(self.inputs.classes)) != (
                model.n_features, model.n_classes
            ):  # fmt: skip
                raise InputError(
                    f"task spec: inputs name {len(self.inputs.features)} features and "
                    f"{len(self.inputs.classes)} classes; the model takes {model.n_features} "
                    f"and {model.n_classes}"
                )

    @property
    def robust(self) -> bool:
        return self.rule != RULE_MEAN

    def build_model(self) -> PartedMLP:
        return PartedMLP.from_spec(self.model)

    @property
    def class_names(self) -> tuple[str, ...]:
        """The classes the model predicts, in label order: published, else ``0`` to ``n-1``."""
        if self.inputs is not None:
            return self.inputs.classes
        return tuple(str(i) for i in range(int(self.model["n_classes"])))

    def wants(self, ontology_class: str) -> bool:
        """Whether data of ``ontology_class`` belongs to every class the task names."""
        ontology = load_ontology()
        return all(ontology.is_subclass(ontology_class, c) for c in self.data_classes)

    def seed_of(self, round_number: int) -> int:
        """The local training seed of a round (every DO uses the same)."""
        return (self.seed * 1_000_003 + round_number) % (2**31 - 1)

    def to_bytes(self) -> bytes:
        document = {"version": DOCUMENT_VERSION, **asdict(self)}
        if self.inputs is None:
            del document["inputs"]
        else:
            document["inputs"] = self.inputs.to_document()
        return canonical_json(document)

    @classmethod
    def from_bytes(cls, data: bytes) -> TaskSpec:
        doc = load_json_object(data, "task spec", MAX_DOCUMENT_BYTES)
        fields = [*cls.__dataclass_fields__, "version"]
        if "inputs" not in doc:
            fields.remove("inputs")
        check_fields(doc, tuple(sorted(fields)), "task spec")
        if doc.pop("version") != DOCUMENT_VERSION:
            raise InputError("task spec: unknown version")
        if not isinstance(doc["data_classes"], list):
            raise InputError("task spec: data_classes must be a list")
        doc["data_classes"] = tuple(doc["data_classes"])
        if "inputs" in doc:
            doc["inputs"] = Inputs.from_document(doc["inputs"], "task spec")
        return cls(**doc)


@dataclass(frozen=True)
class SharesBlob:
    """One DO's share bundles of one round, each sealed to its holder: holder index -> envelope."""

    owner: int
    envelopes: dict[int, bytes]

    def to_bytes(self) -> bytes:
        return canonical_json(
            {
                "version": DOCUMENT_VERSION,
                "owner": self.owner,
                "envelopes": {str(k): v.hex() for k, v in sorted(self.envelopes.items())},
            }
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> SharesBlob:
        doc = _load_blob(data, "shares", ("envelopes", "owner", "version"), "envelopes", dict)
        with _malformed("shares: malformed envelope"):
            envelopes = {int(k): bytes.fromhex(v) for k, v in doc["envelopes"].items()}
        return cls(owner=_check_int(doc["owner"], "shares: owner"), envelopes=envelopes)


@dataclass(frozen=True)
class RevealBlob:
    """The shares one DO reveals in a round: for each dealer, exactly one half of its bundle."""

    holder: int
    shares: tuple[bytes, ...]

    def to_bytes(self) -> bytes:
        return canonical_json(
            {
                "version": DOCUMENT_VERSION,
                "holder": self.holder,
                "shares": [s.hex() for s in self.shares],
            }
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> RevealBlob:
        doc = _load_blob(data, "reveal", ("holder", "shares", "version"), "shares", list)
        with _malformed("reveal: malformed share"):
            shares = tuple(bytes.fromhex(s) for s in doc["shares"])
        return cls(holder=_check_int(doc["holder"], "reveal: holder"), shares=shares)


def _load_blob(
    data: bytes, what: str, fields: tuple[str, ...], items: str, kind: type
) -> dict[str, Any]:
    """A blob's document: exactly ``fields``, this version, and its ``items`` a ``kind``."""
    doc = load_document(data, what, MAX_DOCUMENT_BYTES, fields)
    if doc["version"] != DOCUMENT_VERSION or not isinstance(doc[items], kind):
        raise InputError(f"{what}: unknown version or malformed {items}")
    return doc


@contextmanager
def _malformed(what: str) -> Iterator[None]:
    """InputError naming ``what`` for a TypeError or ValueError while decoding it."""
    try:
        yield
    except (TypeError, ValueError) as exc:
        raise InputError(f"{what}: {exc}") from None


def pack_masked(masked: NDArray[np.uint32]) -> bytes:
    """A masked update's blob: magic, count, little-endian uint32 values."""
    array = np.asarray(masked)
    if array.ndim != 1 or array.dtype != np.uint32:
        raise InputError("a masked update must be a flat uint32 vector")
    return MASKED_MAGIC + _COUNT.pack(array.size) + array.astype("<u4").tobytes()


def unpack_masked(data: bytes) -> NDArray[np.uint32]:
    """The masked vector of a :func:`pack_masked` blob; InputError if malformed."""
    header = len(MASKED_MAGIC) + _COUNT.size
    if data[: len(MASKED_MAGIC)] != MASKED_MAGIC or len(data) < header:
        raise InputError("not a masked update blob")
    (count,) = _COUNT.unpack_from(data, len(MASKED_MAGIC))
    if len(data) != header + 4 * count:
        raise InputError(f"masked update blob holds {len(data) - header} bytes, not {4 * count}")
    return np.frombuffer(data, dtype="<u4", offset=header).astype(np.uint32)


def secagg_context(market: str, task_id: int, round_number: int) -> bytes:
    """The context a round's masks are bound to: never reused across markets, tasks, rounds."""
    return f"mercato/p3/secagg/{market.lower()}/{task_id}/{round_number}".encode()


def shares_context(market: str, task_id: int, round_number: int, owner: int, holder: int) -> bytes:
    """Associated data of the envelope of ``owner``'s shares for ``holder``."""
    return f"mercato/p3/shares/{market.lower()}/{task_id}/{round_number}/{owner}/{holder}".encode()


def update_context(market: str, task_id: int, round_number: int, index: int) -> bytes:
    """Associated data of a robust-mode update sealed to the MO."""
    return f"mercato/p3/update/{market.lower()}/{task_id}/{round_number}/{index}".encode()
