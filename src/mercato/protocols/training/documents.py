"""P2's off-chain documents: what the training market's hashes point to in the blob store.

Every hash the contract records names a blob (keccak-256 of its bytes, :mod:`mercato.storage`):

- ``meta_hash`` of a dataset: its :class:`Manifest` (public): shape, classes, the number of
  subsets and replicas, and per subset a commitment ``keccak(subset || salt)`` and size;
- ``envelope_hash`` of an instance: the replica, sealed to the instance's CO and the DO:
  ``REPLICA_MAGIC || salt || subset bytes``; the CO checks it against the manifest;
- ``method_hash`` of a model: its :class:`Method` (public): mode, trainer, epochs, seed;
- ``model_hash`` of a round (RoundRequested): the :class:`RoundModel` the COs train, sealed
  to every CO of the dataset and the MO in plaintext mode, stored as is in CKKS mode (the
  weights are a CKKS ciphertext that only the MO can decrypt);
- ``location_hash`` of a job: the CO's trained model, sealed to the MO and the CO; the job's
  ``model_hash`` is ``keccak(model || nonce)`` of the unsealed bytes;
- ``evidence_hash`` of a fraud report: its :class:`Evidence` (public, no model bytes).

Sealing binds each envelope to its place (``associated_data``: market, ids, round), so an
envelope moved to another instance, training or round does not open.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from mercato.errors import InputError
from mercato.ml.aggregate.simulate import round_seed
from mercato.ml.columns import Inputs
from mercato.ml.seed import check_seed
from mercato.ml.trainers import Trainer, trainer_from_spec
from mercato.ontology.canonical import canonical_json, check_fields, load_json_object
from mercato.storage.base import hash_bytes as hash_bytes  # re-exported for P2's modules
from mercato.storage.base import hash_hex as hash_hex
from mercato.storage.base import validate_blob_hash

if TYPE_CHECKING:
    from mercato.ml.datasets import Dataset

DOCUMENT_VERSION = 1
MAX_DOCUMENT_BYTES = 1 << 20
SALT_BYTES = 32
REPLICA_MAGIC = b"MCRP"
ROUND_MAGIC = b"MCRM"
_LENGTH = struct.Struct(">I")

MODE_PLAINTEXT = "plaintext"
MODE_CKKS = "ckks"
MODES = (MODE_PLAINTEXT, MODE_CKKS)
CKKS_KIND = "ckks-logreg"
"""The CKKS trainer: one full-batch logistic-regression step per round on encrypted weights."""

REASON_MISSING = "missing-model"
REASON_UNREADABLE = "unreadable-model"
REASON_HASH_MISMATCH = "hash-mismatch"
REASON_COPIED_HASH = "copied-hash"
REASON_OUTVOTED = "outvoted"
REASONS = (
    REASON_MISSING,
    REASON_UNREADABLE,
    REASON_HASH_MISMATCH,
    REASON_COPIED_HASH,
    REASON_OUTVOTED,
)


def _check_int(value: object, what: str, low: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise InputError(f"{what} must be an integer of at least {low}, got {value!r}")
    return value


def _load(
    data: bytes, what: str, fields: Iterable[str], optional: Iterable[str] = ()
) -> dict[str, Any]:
    """The fields of a versioned JSON document ``what``: exactly ``fields`` and ``version``,
    which must be this one, and any of ``optional`` (InputError otherwise)."""
    doc = load_json_object(data, what, MAX_DOCUMENT_BYTES)
    present = [name for name in optional if name in doc]
    required = [name for name in fields if name not in optional]
    check_fields(doc, tuple(sorted([*required, *present, "version"])), what)
    if doc.pop("version") != DOCUMENT_VERSION:
        raise InputError(f"{what}: unknown version")
    return doc


@dataclass(frozen=True)
class Method:
    """How a model trains. Every CO of a round runs exactly this, so honest replicas agree.

    Plaintext mode: ``trainer`` is a :meth:`Trainer.spec`, each CO runs ``local_epochs``
    epochs seeded with :meth:`seed_of` the round. CKKS mode: ``trainer`` is
    ``{"kind": "ckks-logreg", "n_features": d, "learning_rate": lr}``, one encrypted
    full-batch step per round, and ``context_hash`` names the public CKKS context blob.
    """

    mode: str
    trainer: dict[str, Any]
    local_epochs: int
    seed: int
    context_hash: str | None = None
    inputs: Inputs | None = None
    """Plaintext mode, a model shaped on a file: its columns, classes and the scaling every
    CO applies to its rows before training (and the MO before measuring); written only when
    set, so a method without it is what it always was."""

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise InputError(f"method: mode must be one of {MODES}, got {self.mode!r}")
        _check_int(self.local_epochs, "method: local_epochs", 1)
        check_seed(self.seed)
        if not isinstance(self.trainer, dict):
            raise InputError("method: trainer must be a JSON object")
        if self.mode == MODE_CKKS:
            check_fields(self.trainer, ("kind", "learning_rate", "n_features"), "method trainer")
            if self.trainer["kind"] != CKKS_KIND:
                raise InputError(f"method: CKKS mode trains {CKKS_KIND!r} only")
            if self.local_epochs != 1:
                raise InputError("method: CKKS mode runs one encrypted step per round")
            if self.context_hash is None:
                raise InputError("method: CKKS mode needs the public context's blob hash")
            validate_blob_hash(self.context_hash)
        else:
            if self.context_hash is not None:
                raise InputError("method: only CKKS mode has a context")
            self.build_trainer()  # refuses an unknown kind or bad hyper-parameters now
        if self.inputs is not None:
            if not isinstance(self.inputs, Inputs) or self.ckks:
                raise InputError("method: inputs are a plaintext method's Inputs")
            shape = (len(self.inputs.features), len(self.inputs.classes))
            if shape != self.shape:
                raise InputError(
                    f"method: inputs name {shape[0]} features and {shape[1]} classes; the "
                    f"trainer takes {self.shape[0]} and {self.shape[1]}"
                )

    @property
    def ckks(self) -> bool:
        return self.mode == MODE_CKKS

    @property
    def model_type(self) -> bytes:
        """The 32 bytes the model record carries: the trainer's kind, zero-padded."""
        return str(self.trainer["kind"]).encode().ljust(32, b"\0")[:32]

    @property
    def shape(self) -> tuple[int, int]:
        """(features, classes) of the data the model trains on: CKKS trains binary models."""
        if self.ckks:
            return int(self.trainer["n_features"]), 2
        spec = self.build_trainer().spec()
        return int(spec["n_features"]), int(spec["n_classes"])

    def build_trainer(self) -> Trainer:
        if self.ckks:
            raise InputError("method: a CKKS method has no plaintext trainer")
        return trainer_from_spec(self.trainer)

    def seed_of(self, round_number: int) -> int:
        """The training seed of a round, the same for every replica."""
        return round_seed(self.seed, round_number)

    def rows(self, data: Dataset) -> Dataset:
        """``data`` as the model trains on it and predicts from it: scaled by the inputs."""
        if self.inputs is None or not self.inputs.scales:
            return data
        return data.renamed(data.name, self.inputs.scaled(data.X), data.y)

    def to_bytes(self) -> bytes:
        fields = {k: v for k, v in asdict(self).items() if k != "inputs"}
        if self.inputs is not None:
            fields["inputs"] = self.inputs.to_document()
        return canonical_json({"version": DOCUMENT_VERSION, **fields})

    @classmethod
    def from_bytes(cls, data: bytes) -> Method:
        doc = _load(data, "method", cls.__dataclass_fields__, optional=("inputs",))
        if "inputs" in doc:
            doc["inputs"] = Inputs.from_document(doc["inputs"], "method")
        return cls(**doc)


_NAMED = ("features", "labels")
"""The manifest's optional fields: written only when the data names its columns or classes,
so a manifest of a sample set is what it always was."""


@dataclass(frozen=True)
class Manifest:
    """A dataset's public description: what the DO commits to before handing out replicas."""

    name: str
    ontology_class: str
    n_features: int
    classes: tuple[int, ...]
    subsets: int
    replicas: int
    commitments: tuple[str, ...]
    """Per subset, ``"0x"`` + hex of keccak(subset bytes || salt)."""
    sizes: tuple[int, ...]
    features: tuple[str, ...] = ()
    """The feature columns in order, when the data came from a file that names them."""
    labels: tuple[str, ...] = ()
    """The class names in label order (label ``i`` is ``labels[i]``), when the file names them."""

    def __post_init__(self) -> None:
        _check_int(self.subsets, "manifest: subsets", 1)
        _check_int(self.replicas, "manifest: replicas", 1)
        if len(self.commitments) != self.subsets or len(self.sizes) != self.subsets:
            raise InputError("manifest: need one commitment and one size per subset")
        for commitment in self.commitments:
            validate_blob_hash(commitment)
        for name in _NAMED:
            names = getattr(self, name)
            if not isinstance(names, tuple) or not all(isinstance(n, str) and n for n in names):
                raise InputError(f"manifest: {name} must be a list of non-empty texts")
        if self.features and len(self.features) != self.n_features:
            raise InputError(f"manifest: {len(self.features)} features named for {self.n_features}")
        if self.labels and max(self.classes) >= len(self.labels):
            raise InputError("manifest: a class lies outside the class names")

    @property
    def class_names(self) -> tuple[str, ...]:
        """The classes a model of this data predicts, in label order: named, else numbers."""
        return self.labels or tuple(str(i) for i in range(max(self.classes) + 1))

    def commitment(self, subset: int) -> bytes:
        return bytes.fromhex(self.commitments[subset][2:])

    def to_bytes(self) -> bytes:
        fields = {k: v for k, v in asdict(self).items() if k not in _NAMED or v}
        return canonical_json({"version": DOCUMENT_VERSION, **fields})

    @classmethod
    def from_bytes(cls, data: bytes) -> Manifest:
        doc = _load(data, "manifest", cls.__dataclass_fields__, optional=_NAMED)
        for name in ("classes", "commitments", "sizes", *(n for n in _NAMED if n in doc)):
            if not isinstance(doc[name], list):
                raise InputError(f"manifest: {name} must be a list")
            doc[name] = tuple(doc[name])
        return cls(**doc)


@dataclass(frozen=True)
class RoundModel:
    """The model a round trains: plaintext weights (MCWT) or a CKKS ciphertext."""

    training_id: int
    round: int
    method_hash: str
    payload: bytes

    def to_bytes(self) -> bytes:
        header = canonical_json(
            {"method_hash": self.method_hash, "round": self.round, "training_id": self.training_id}
        )
        return ROUND_MAGIC + _LENGTH.pack(len(header)) + header + self.payload

    @classmethod
    def from_bytes(cls, data: bytes) -> RoundModel:
        if data[:4] != ROUND_MAGIC or len(data) < 8:
            raise InputError("round model: not a round model")
        (length,) = _LENGTH.unpack(data[4:8])
        header = load_json_object(data[8 : 8 + length], "round model", MAX_DOCUMENT_BYTES)
        check_fields(header, ("method_hash", "round", "training_id"), "round model")
        return cls(
            training_id=_check_int(header["training_id"], "round model: training_id", 1),
            round=_check_int(header["round"], "round model: round", 1),
            method_hash=validate_blob_hash(header["method_hash"]),
            payload=data[8 + length :],
        )


@dataclass(frozen=True)
class Evidence:
    """Why the MO reported a job: public, checkable against the chain and (with the MO's
    key) the sealed models. ``majority`` lists the instances whose models agreed."""

    training_id: int
    round: int
    instance_id: int
    co: str
    reason: str
    detail: str
    majority: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if self.reason not in REASONS:
            raise InputError(f"evidence: reason must be one of {REASONS}, got {self.reason!r}")

    def to_bytes(self) -> bytes:
        return canonical_json({"version": DOCUMENT_VERSION, **asdict(self)})

    @classmethod
    def from_bytes(cls, data: bytes) -> Evidence:
        doc = _load(data, "evidence", cls.__dataclass_fields__)
        doc["majority"] = tuple(doc["majority"])
        return cls(**doc)


def pack_replica(salt: bytes, data: bytes) -> bytes:
    """The plaintext of a replica envelope."""
    if len(salt) != SALT_BYTES:
        raise InputError(f"replica: salt must be {SALT_BYTES} bytes")
    return REPLICA_MAGIC + salt + data


def unpack_replica(content: bytes) -> tuple[bytes, bytes]:
    """(salt, subset bytes) of a replica envelope's plaintext."""
    if content[:4] != REPLICA_MAGIC or len(content) < 4 + SALT_BYTES:
        raise InputError("replica: not a replica envelope")
    return content[4 : 4 + SALT_BYTES], content[4 + SALT_BYTES :]


def replica_context(market: str, dataset_id: int, subset: int) -> bytes:
    """Associated data of a replica envelope."""
    return f"mercato/p2/replica/{market.lower()}/{dataset_id}/{subset}".encode()


def round_context(market: str, training_id: int, round_number: int) -> bytes:
    """Associated data of a sealed round model."""
    return f"mercato/p2/round/{market.lower()}/{training_id}/{round_number}".encode()


def job_context(market: str, training_id: int, instance_id: int, round_number: int) -> bytes:
    """Associated data of a job's sealed model."""
    return f"mercato/p2/job/{market.lower()}/{training_id}/{instance_id}/{round_number}".encode()
