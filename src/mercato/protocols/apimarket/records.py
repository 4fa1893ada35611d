"""The step records of one API and epoch, and the batch the orchestrator commits for them.

A step is one component run for one call. The batch has one Merkle leaf per step (crypto.merkle,
sorted pairs) with leaf data ``abi_encode(index, api, epoch, consumer, seq, component, slot,
hash_in, hash_out)``, leaves ordered by slot, then consumer address (as uint), then seq, so slot
``v``'s leaves are ``[start_v, start_v + steps[v])``. The contract takes the counts as three
arrays (``consumers``, ``calls``, ``steps``) and stores their hash. The records file, canonical
JSON lines, lets anyone rebuild the tree from the blob the orchestrator stores.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass

from eth_abi.abi import encode

from mercato.crypto.attestation import canonical_json
from mercato.crypto.commit import keccak
from mercato.crypto.merkle import MerkleTree
from mercato.errors import InputError
from mercato.protocols.apimarket.messages import AbiRecord, check_word

MAX_SLOTS = 16
"""Slots an API may have (the contract's MAX_SLOTS)."""
LEAF_TYPES = [
    "uint256",  # index
    "uint256",  # api
    "uint256",  # epoch
    "address",  # consumer
    "uint256",  # seq
    "uint256",  # component
    "uint256",  # slot
    "bytes32",  # hash_in
    "bytes32",  # hash_out
]


@dataclass(frozen=True)
class StepRecord(AbiRecord):
    """One step of a call: ``slot``'s vendor ran ``component`` from ``hash_in`` to ``hash_out``."""

    api: int
    epoch: int
    consumer: str
    seq: int
    component: int
    slot: int
    hash_in: bytes
    hash_out: bytes

    @classmethod
    def kind(cls) -> str:
        """The record's name in messages."""
        return "step record"


def leaf_data(index: int, record: StepRecord) -> bytes:
    """Return the leaf data of ``record`` at position ``index``: nine 32-byte ABI words."""
    index = check_word("leaf index", "uint256", index)
    return encode(LEAF_TYPES, [index, *record.values()])


def counts_hash(consumers: list[str], calls: list[int], steps: list[int]) -> bytes:
    """Return ``keccak256(abi_encode(consumers, calls, steps))``, what the contract stores."""
    return keccak(encode(["address[]", "uint256[]", "uint256[]"], [consumers, calls, steps]))


class Batch:
    """The batch of one API and epoch: records in leaf order, the counts and the Merkle tree.

    Every consumer's calls are seq 1..n with at least one step each; a slot runs one
    component and a step of a call runs once. The counts are lists ready for
    ``commit_batch(api, epoch, root, records_hash, consumers, calls, steps)``.
    """

    def __init__(self, records: Iterable[StepRecord], slots: int) -> None:
        slots = check_word("slots", "uint256", slots)
        if not 1 <= slots <= MAX_SLOTS:
            raise InputError(f"a batch has 1 to {MAX_SLOTS} slots, got {slots}")
        ordered = sorted(records, key=_leaf_order)
        if not ordered:
            raise InputError("a batch needs at least one step record")
        self._slots = slots
        self._records = tuple(ordered)
        self._api, self._epoch = ordered[0].api, ordered[0].epoch
        self._index = _check_records(self._records, slots)
        self._consumers, self._calls = _call_counts(self._records)
        self._steps = [0] * slots
        for record in self._records:
            self._steps[record.slot] += 1
        self._tree = MerkleTree([leaf_data(i, record) for i, record in enumerate(self._records)])

    @classmethod
    def build(cls, records: Iterable[StepRecord], slots: int) -> Batch:
        """Order ``records`` into a batch for an API with ``slots`` slots."""
        return cls(records, slots)

    @classmethod
    def from_bytes(cls, data: bytes, slots: int) -> Batch:
        """Rebuild a batch from its records file; raise InputError if it is not canonical."""
        if not isinstance(data, bytes | bytearray):
            raise InputError(f"a records file is bytes, got {type(data).__name__}")
        if not data.endswith(b"\n"):
            raise InputError("a records file is JSON lines, each ending with a newline")
        records = []
        for number, line in enumerate(bytes(data).split(b"\n")[:-1], start=1):
            try:
                parsed = json.loads(line)
            except ValueError:
                raise InputError(f"records file line {number} is not JSON") from None
            try:
                records.append(StepRecord.from_json(parsed))
            except InputError as exc:
                raise InputError(f"records file line {number}: {exc}") from None
        batch = cls(records, slots)
        if batch.to_bytes() != data:
            raise InputError(
                "records file is not canonical: one record a line in leaf order, sorted keys, "
                "no spaces, lowercase hex"
            )
        return batch

    def to_bytes(self) -> bytes:
        """Return the records file: one canonical JSON record a line, in leaf order."""
        return b"".join(canonical_json(record.to_json()) + b"\n" for record in self._records)

    @property
    def api(self) -> int:
        """The API every record belongs to."""
        return self._api

    @property
    def epoch(self) -> int:
        """The epoch every record belongs to."""
        return self._epoch

    @property
    def slots(self) -> int:
        """The API's number of slots (the length of :attr:`steps`)."""
        return self._slots

    @property
    def records(self) -> list[StepRecord]:
        """The records in leaf order: record ``i`` is leaf ``i``."""
        return list(self._records)

    @property
    def consumers(self) -> list[str]:
        """The consumers who called, by increasing address (as uint)."""
        return list(self._consumers)

    @property
    def calls(self) -> list[int]:
        """How many calls each consumer made (its seqs are 1..calls[i])."""
        return list(self._calls)

    @property
    def steps(self) -> list[int]:
        """How many steps each slot ran."""
        return list(self._steps)

    @property
    def counts_hash(self) -> bytes:
        """``keccak256(abi_encode(consumers, calls, steps))``."""
        return counts_hash(self.consumers, self.calls, self.steps)

    @property
    def root(self) -> bytes:
        """The Merkle root over the leaves."""
        return self._tree.root

    @property
    def records_hash(self) -> bytes:
        """The blob hash of the records file: ``keccak256(to_bytes())``."""
        return keccak(self.to_bytes())

    def __len__(self) -> int:
        return len(self._records)

    def leaf(self, index: int) -> bytes:
        """Return the leaf data at ``index``."""
        self._check_index(index)
        return leaf_data(index, self._records[index])

    def proof(self, index: int) -> list[bytes]:
        """Return the Merkle proof of leaf ``index``."""
        self._check_index(index)
        return self._tree.proof(index)

    def index_of(self, consumer: str, seq: int, component: int) -> int:
        """Return the leaf index of a call's step; raise InputError if the batch lacks it."""
        key = (check_word("consumer", "address", consumer), seq, component)
        if key not in self._index:
            raise InputError(
                f"the batch has no step of component {component} for call {seq} of {key[0]}"
            )
        return self._index[key]

    def slot_range(self, slot: int) -> range:
        """Return the leaf indices of ``slot``: ``[start_v, start_v + steps[v])``."""
        if isinstance(slot, bool) or not isinstance(slot, int) or not 0 <= slot < self._slots:
            raise InputError(f"slot {slot!r} is out of range for {self._slots} slots")
        start = sum(self._steps[:slot])
        return range(start, start + self._steps[slot])

    def _check_index(self, index: int) -> None:
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(self):
            raise InputError(f"leaf index {index!r} is out of range for {len(self)} leaves")


def _leaf_order(record: StepRecord) -> tuple[int, int, int]:
    if not isinstance(record, StepRecord):
        raise InputError(f"a batch is built from StepRecords, got {type(record).__name__}")
    return (record.slot, int(record.consumer, 16), record.seq)


def _check_records(records: tuple[StepRecord, ...], slots: int) -> dict[tuple[str, int, int], int]:
    """Check the records fit one batch; return the leaf index of each (consumer, seq, component)."""
    first = records[0]
    index: dict[tuple[str, int, int], int] = {}
    slot_component: dict[int, int] = {}
    for position, record in enumerate(records):
        if (record.api, record.epoch) != (first.api, first.epoch):
            raise InputError(
                f"a batch is for one API and epoch: api {first.api} epoch {first.epoch}, "
                f"but a record has api {record.api} epoch {record.epoch}"
            )
        if record.slot >= slots:
            raise InputError(f"a record names slot {record.slot} but the API has {slots} slots")
        if record.seq < 1:
            raise InputError(f"call numbers (seq) start at 1, got 0 for {record.consumer}")
        component = slot_component.setdefault(record.slot, record.component)
        if component != record.component:
            raise InputError(
                f"slot {record.slot} holds one component but records name "
                f"{component} and {record.component}"
            )
        key = (record.consumer, record.seq, record.component)
        if key in index:
            raise InputError(
                f"call {record.seq} of {record.consumer} has two steps of component "
                f"{record.component}"
            )
        index[key] = position
    return index


def _call_counts(records: tuple[StepRecord, ...]) -> tuple[list[str], list[int]]:
    """Return the consumers by increasing address and each one's number of calls."""
    seqs: dict[str, set[int]] = {}
    for record in records:
        seqs.setdefault(record.consumer, set()).add(record.seq)
    consumers = sorted(seqs, key=lambda address: int(address, 16))
    for consumer in consumers:
        highest = max(seqs[consumer])
        if highest != len(seqs[consumer]):
            missing = _first_missing(seqs[consumer], highest, 5)
            raise InputError(
                f"calls of {consumer} must be seq 1..{highest}, but no step has seq "
                f"{', '.join(map(str, missing))}"
            )
    return consumers, [len(seqs[consumer]) for consumer in consumers]


def _first_missing(seqs: set[int], highest: int, count: int) -> list[int]:
    """Return up to ``count`` numbers in 1..highest that ``seqs`` lacks (highest can be huge)."""
    missing: list[int] = []
    seq = 1
    while len(missing) < count and seq <= highest:
        if seq not in seqs:
            missing.append(seq)
        seq += 1
    return missing
