"""P5's step records and batches: leaf order, counts, proofs and the records file."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
from eth_abi.abi import encode
from hypothesis import given, settings
from hypothesis import strategies as st

from mercato.crypto.commit import keccak
from mercato.crypto.merkle import leaf_hash, verify_proof
from mercato.errors import InputError
from mercato.protocols.apimarket.records import Batch, StepRecord, counts_hash, leaf_data

LOW = "0x00000000000000000000000000000000000000A1"
HIGH = "0xfF00000000000000000000000000000000000000"
MID = "0x1234567890AbcdEF1234567890aBcdef12345678"
SLOT_COMPONENTS = [0, 1, 0, 2]  # slots 0 and 2 are replicas of component 0
SLOTS = len(SLOT_COMPONENTS)

LEAF_CHECKER = """
# pragma version ~=0.4.3

@external
@pure
def leaf(
    index: uint256, api: uint256, epoch: uint256, consumer: address, seq: uint256,
    component: uint256, slot: uint256, hash_in: bytes32, hash_out: bytes32
) -> bytes32:
    return keccak256(
        abi_encode(index, api, epoch, consumer, seq, component, slot, hash_in, hash_out)
    )

@external
@pure
def counts(consumers: DynArray[address, 64], calls: DynArray[uint256, 64],
           steps: DynArray[uint256, 16]) -> bytes32:
    return keccak256(abi_encode(consumers, calls, steps))

@external
@pure
def verify(root: bytes32, leaf: bytes32, proof: DynArray[bytes32, 32]) -> bool:
    node: bytes32 = leaf
    for sibling: bytes32 in proof:
        if convert(node, uint256) < convert(sibling, uint256):
            node = keccak256(concat(node, sibling))
        else:
            node = keccak256(concat(sibling, node))
    return node == root
"""


def _step(consumer: str, seq: int, slot: int, api: int = 7, epoch: int = 4) -> StepRecord:
    component = SLOT_COMPONENTS[slot]
    hash_in = keccak(f"{consumer} {seq} in {component}".encode())
    hash_out = keccak(f"{consumer} {seq} out {component}".encode())
    return StepRecord(api, epoch, consumer, seq, component, slot, hash_in, hash_out)


def _calls(consumer: str, count: int, replica: int = 0) -> list[StepRecord]:
    """Steps of ``count`` calls through components 0, 1, 2 (component 0 on slot ``replica``)."""
    return [_step(consumer, seq, slot) for seq in range(1, count + 1) for slot in (replica, 1, 3)]


RECORDS = _calls(HIGH, 2) + _calls(LOW, 3, replica=2) + _calls(MID, 1)


def test_leaf_data_is_nine_abi_words() -> None:
    # prepare
    record = RECORDS[0]

    # act
    data = leaf_data(5, record)

    # assert
    assert len(data) == 9 * 32
    types = ["uint256", "uint256", "uint256", "address", "uint256", "uint256", "uint256"]
    assert data == encode(
        [*types, "bytes32", "bytes32"],
        [5, 7, 4, HIGH, record.seq, record.component, record.slot, record.hash_in, record.hash_out],
    )


def test_leaves_are_ordered_by_slot_then_consumer_then_seq() -> None:
    # act
    batch = Batch.build(reversed(RECORDS), SLOTS)

    # assert
    keys = [(r.slot, int(r.consumer, 16), r.seq) for r in batch.records]
    assert keys == sorted(keys)
    assert [(r.slot, r.consumer, r.seq) for r in batch.records[:3]] == [
        (0, MID, 1),
        (0, HIGH, 1),
        (0, HIGH, 2),
    ]


def test_counts_are_what_the_contract_takes() -> None:
    # act
    batch = Batch.build(RECORDS, SLOTS)

    # assert
    assert batch.consumers == [LOW, MID, HIGH]
    assert batch.calls == [3, 1, 2]
    assert batch.steps == [3, 6, 3, 6]
    assert (batch.api, batch.epoch, batch.slots, len(batch)) == (7, 4, SLOTS, 18)
    assert batch.counts_hash == keccak(
        encode(["address[]", "uint256[]", "uint256[]"], [[LOW, MID, HIGH], [3, 1, 2], [3, 6, 3, 6]])
    )
    assert batch.counts_hash == counts_hash(batch.consumers, batch.calls, batch.steps)


def test_slot_ranges_tile_the_leaves() -> None:
    # prepare
    batch = Batch.build(RECORDS, SLOTS + 1)  # the last slot ran nothing

    # act
    ranges = [batch.slot_range(slot) for slot in range(SLOTS + 1)]

    # assert
    assert ranges == [range(0, 3), range(3, 9), range(9, 12), range(12, 18), range(18, 18)]
    for slot, indices in enumerate(ranges):
        assert all(batch.records[index].slot == slot for index in indices)
    with pytest.raises(InputError, match="slot 5 is out of range"):
        batch.slot_range(SLOTS + 1)


def test_index_of_finds_each_step() -> None:
    # prepare
    batch = Batch.build(RECORDS, SLOTS)

    # act
    indices = [batch.index_of(r.consumer.lower(), r.seq, r.component) for r in RECORDS]

    # assert
    assert sorted(indices) == list(range(len(RECORDS)))
    for record, index in zip(RECORDS, indices, strict=True):
        assert batch.records[index] == record
        assert index in batch.slot_range(record.slot)
    with pytest.raises(InputError, match="no step of component 1 for call 2 of"):
        batch.index_of(MID, 2, 1)


def test_every_leaf_has_a_proof_to_the_root() -> None:
    # prepare
    batch = Batch.build(RECORDS, SLOTS)

    # act / assert
    for index, record in enumerate(batch.records):
        leaf = leaf_hash(leaf_data(index, record))
        assert batch.leaf(index) == leaf_data(index, record)
        assert verify_proof(batch.root, leaf, batch.proof(index))
        assert not verify_proof(
            batch.root, leaf_hash(leaf_data(index + 1, record)), batch.proof(index)
        )


def test_the_root_depends_on_every_record_but_not_on_input_order() -> None:
    # prepare
    root = Batch.build(RECORDS, SLOTS).root
    altered = [*RECORDS[:-1], dataclasses.replace(RECORDS[-1], hash_out=keccak(b"other"))]

    # act / assert
    assert Batch.build(list(reversed(RECORDS)), SLOTS).root == root
    assert Batch.build(altered, SLOTS).root != root
    assert Batch.build(RECORDS, SLOTS + 1).root == root  # an idle slot adds no leaf
    assert Batch.build(RECORDS, SLOTS + 1).counts_hash != Batch.build(RECORDS, SLOTS).counts_hash


def test_a_records_file_rebuilds_the_same_batch() -> None:
    # prepare
    batch = Batch.build(RECORDS, SLOTS)

    # act
    data = batch.to_bytes()
    rebuilt = Batch.from_bytes(data, SLOTS)

    # assert
    assert rebuilt.root == batch.root
    assert rebuilt.records == batch.records
    assert rebuilt.counts_hash == batch.counts_hash
    assert batch.records_hash == keccak(data)
    lines = data.decode().splitlines()
    assert len(lines) == len(RECORDS)
    first = json.loads(lines[0])
    assert list(first) == sorted(first)
    assert first["hash_in"] == "0x" + batch.records[0].hash_in.hex()
    assert first["consumer"] == MID


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (lambda data: data.replace(b"\n", b"\r\n", 1), "line 1 is not JSON|not canonical"),
        (lambda data: data.replace(b'"api":7', b'"api": 7', 1), "not canonical"),
        (lambda data: data[:-1], "each ending with a newline"),
        (lambda data: data + b"\n", "line 19 is not JSON"),
        (lambda data: b"".join(reversed(data.splitlines(keepends=True))), "not canonical"),
        (lambda data: data.replace(b'"seq":1', b'"seq":"1"', 1), "line 1: step record seq"),
        (lambda data: data.replace(b'"slot":0', b'"slot":0,"x":1', 1), "line 1: .*unknown x"),
        (lambda data: b"[1]\n", "line 1: a step record must be a JSON object"),
        (lambda data: b"", "each ending with a newline"),
    ],
    ids=[
        "crlf",
        "spaces",
        "no-newline",
        "blank-line",
        "reordered",
        "seq-text",
        "extra-field",
        "not-object",
        "empty",
    ],
)
def test_a_bad_records_file_raises_input_error(edit: Any, match: str) -> None:
    # prepare
    data = edit(Batch.build(RECORDS, SLOTS).to_bytes())

    # act / assert
    with pytest.raises(InputError, match=match):
        Batch.from_bytes(data, SLOTS)


def test_a_records_file_with_mixed_case_hashes_is_not_canonical() -> None:
    # prepare
    data = Batch.build(RECORDS, SLOTS).to_bytes()
    first_hash = json.loads(data.splitlines()[0])["hash_in"]

    # act / assert
    with pytest.raises(InputError, match="not canonical"):
        Batch.from_bytes(
            data.replace(first_hash.encode(), f"0x{first_hash[2:].upper()}".encode()), SLOTS
        )


@pytest.mark.parametrize(
    ("records", "slots", "match"),
    [
        ([], SLOTS, "at least one step record"),
        (RECORDS, 0, "1 to 16 slots"),
        (RECORDS, 17, "1 to 16 slots"),
        (RECORDS, 3, "names slot 3 but the API has 3 slots"),
        ([*RECORDS, _step(LOW, 1, 1, api=8)], SLOTS, "one API and epoch"),
        ([*RECORDS, _step(LOW, 1, 1, epoch=5)], SLOTS, "one API and epoch"),
        ([*RECORDS, _step(LOW, 1, 0)], SLOTS, "two steps of component 0"),
        ([*RECORDS, _step(LOW, 5, 1)], SLOTS, r"seq 1\.\.5, but no step has seq 4$"),
        ([_step(LOW, 0, 1)], SLOTS, "start at 1"),
        ([_step(LOW, 2**200, 1)], SLOTS, "no step has seq 1, 2, 3, 4, 5$"),
        (
            [*RECORDS, dataclasses.replace(_step(MID, 2, 0), component=1)],
            SLOTS,
            "slot 0 holds one component",
        ),
        ([*RECORDS, "not a record"], SLOTS, "built from StepRecords"),
    ],
    ids=[
        "empty",
        "no-slots",
        "many-slots",
        "unknown-slot",
        "other-api",
        "other-epoch",
        "duplicate-step",
        "seq-gap",
        "seq-zero",
        "seq-huge",
        "slot-two-components",
        "not-a-record",
    ],
)
def test_records_that_do_not_make_a_batch_raise_input_error(
    records: list[Any], slots: int, match: str
) -> None:
    # act / assert
    with pytest.raises(InputError, match=match):
        Batch.build(records, slots)


def test_bad_indices_raise_input_error() -> None:
    # prepare
    batch = Batch.build(RECORDS, SLOTS)

    # act / assert
    with pytest.raises(InputError, match="leaf index 18 is out of range"):
        batch.proof(18)
    with pytest.raises(InputError, match="leaf index -1 is out of range"):
        batch.leaf(-1)
    with pytest.raises(InputError, match="leaf index must be an integer"):
        leaf_data(-1, RECORDS[0])


def test_a_bad_record_field_raises_input_error_naming_it() -> None:
    # act / assert
    with pytest.raises(InputError, match=r"^step record hash_out must be a 32-byte hash"):
        dataclasses.replace(RECORDS[0], hash_out=b"short")


def test_the_lists_a_batch_returns_are_copies() -> None:
    # prepare
    batch = Batch.build(RECORDS, SLOTS)

    # act
    batch.steps.append(99)
    batch.consumers.clear()

    # assert
    assert batch.steps == [3, 6, 3, 6]
    assert batch.consumers == [LOW, MID, HIGH]


@settings(deadline=None, max_examples=50)
@given(
    calls=st.dictionaries(
        st.integers(min_value=1, max_value=2**160 - 1),
        st.integers(min_value=1, max_value=4),
        min_size=1,
        max_size=5,
    ),
    replicas=st.lists(st.sampled_from([0, 2]), min_size=20, max_size=20),
)
def test_any_valid_epoch_round_trips_and_proves_every_step(
    calls: dict[int, int], replicas: list[int]
) -> None:
    # prepare
    records = [
        _step("0x" + f"{address:040x}", seq, slot)
        for address, count in calls.items()
        for seq in range(1, count + 1)
        for slot in (replicas[seq * 3 % 20], 1, 3)
    ]

    # act
    batch = Batch.from_bytes(Batch.build(records, SLOTS).to_bytes(), SLOTS)

    # assert
    assert batch.calls == [calls[int(consumer, 16)] for consumer in batch.consumers]
    assert sum(batch.steps) == len(records) == 3 * sum(calls.values())
    for index in range(len(batch)):
        assert verify_proof(batch.root, leaf_hash(batch.leaf(index)), batch.proof(index))


@pytest.fixture(scope="module")
def leaf_checker() -> Any:
    """The contract's leaf hash, counts hash and proof check, on titanoboa's in-process EVM."""
    boa = pytest.importorskip("boa")
    return boa.loads(LEAF_CHECKER)


def test_the_contract_agrees_on_leaves_counts_and_proofs(leaf_checker: Any) -> None:
    # prepare
    batch = Batch.build(RECORDS, SLOTS)

    # act
    leaves = [leaf_checker.leaf(i, *record.values()) for i, record in enumerate(batch.records)]
    counts = leaf_checker.counts(batch.consumers, batch.calls, batch.steps)

    # assert
    assert leaves == [leaf_hash(batch.leaf(i)) for i in range(len(batch))]
    assert counts == batch.counts_hash
    assert all(
        leaf_checker.verify(batch.root, leaf, batch.proof(i)) for i, leaf in enumerate(leaves)
    )
