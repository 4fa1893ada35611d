"""P4's blobs: the task document, the hidden test set and its groups, the sealed delivery."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import numpy as np
import pytest
from safetensors.numpy import save

from mercato.crypto.commit import keccak
from mercato.crypto.fairswap import CHUNK_SIZE, commit_model, new_key, plain_leaf
from mercato.crypto.merkle import MerkleTree, leaf_hash, verify_proof
from mercato.errors import InputError, IntegrityError
from mercato.protocols.modelmarket.documents import (
    SALT_SIZE,
    TASK_SCHEMA,
    HiddenTestSet,
    TaskDocument,
    delivery_bytes,
    group_blob,
    group_leaf,
    groups_bytes,
    purpose,
    read_delivery,
    read_group,
    read_groups,
)
from mercato.protocols.modelmarket.documents import (
    test_set_problem as check_test_set,  # not a test of its own
)
from mercato.protocols.modelmarket.limits import MAX_GROUPS, MAX_SAMPLE, MIN_GROUPS
from mercato.storage.envelope import generate_keypair, open_envelope, seal

ROWS = 70
GROUPS = 32


def document(**changes: Any) -> TaskDocument:
    base = TaskDocument(
        data_class="ex:HandwrittenDigits",
        task="ex:ImageClassification",
        features=4,
        classes=("zero", "one", "two"),
        groups=GROUPS,
        group_size=2,
        sample=4,
        feature_names=("a", "b", "c", "d"),
        description="tiny rows",
    )
    return replace(base, **changes)


def rows(count: int = ROWS) -> tuple[np.ndarray, np.ndarray]:
    """``count`` rows of 4 features whose first feature is the row's number."""
    X = np.zeros((count, 4), dtype=np.float32)
    X[:, 0] = np.arange(count)
    X[:, 1:] = np.random.default_rng(1).normal(size=(count, 3))
    return X, np.arange(count, dtype=np.int64) % 3


# the task document ----------------------------------------------------------------------------
def test_a_task_document_reads_back_as_itself() -> None:
    # prepare
    original = document()

    # act
    data = original.to_bytes()
    back = TaskDocument.from_bytes(data)

    # assert: equal, and written the same way twice (its hash goes on chain)
    assert back == original
    assert back.to_bytes() == data
    assert json.loads(data)["schema"] == TASK_SCHEMA
    assert isinstance(back.classes, tuple) and isinstance(back.feature_names, tuple)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"metric": "f1"}, "the metric must be accuracy"),
        ({"groups": MIN_GROUPS - 1}, "32 or more groups"),
        ({"groups": MAX_GROUPS + 1}, "32 or more groups"),
        ({"sample": 0}, "the sample must be 1 to 8"),
        ({"sample": MAX_SAMPLE + 1, "groups": 64}, "the sample must be 1 to 8"),
        ({"group_size": 0}, "groups of one or more rows"),
        ({"features": 0}, "groups of one or more rows"),
        ({"classes": ("only",)}, "2\\+ classes"),
    ],
)
def test_a_task_document_refuses_bad_terms(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(InputError, match=message):
        document(**changes)


def test_the_limits_of_a_task_document_are_accepted() -> None:
    # the edges of every range above are themselves fine
    assert document(groups=MIN_GROUPS, sample=MAX_SAMPLE).sample == MAX_SAMPLE
    assert document(groups=MAX_GROUPS, sample=1).groups == MAX_GROUPS
    assert document(classes=("no", "yes"), features=1, group_size=1).features == 1


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"not json", "not a model-market task document"),
        (b"[1, 2]", "not a model-market task document"),
        (b'{"schema": "mercato/other/v1"}', f"not a {TASK_SCHEMA} document"),
        (b"{}", f"not a {TASK_SCHEMA} document"),
    ],
)
def test_a_task_document_refuses_other_bytes(data: bytes, message: str) -> None:
    with pytest.raises(InputError, match=message):
        TaskDocument.from_bytes(data)


@pytest.mark.parametrize(
    "edit",
    [
        lambda d: d.pop("classes"),
        lambda d: d.update(unknown="field"),
        lambda d: d.update(classes=None),
    ],
    ids=["missing field", "unknown field", "no classes"],
)
def test_a_task_document_refuses_a_damaged_payload(edit: Any) -> None:
    payload = json.loads(document().to_bytes())
    edit(payload)
    with pytest.raises(InputError, match="not a model-market task document"):
        TaskDocument.from_bytes(json.dumps(payload).encode())


@pytest.mark.parametrize(
    ("name", "value"),
    [("groups", 40.5), ("sample", 2.5), ("features", True), ("classes", "xyz")],
)
def test_a_task_document_refuses_values_of_the_wrong_type(name: str, value: object) -> None:
    payload = json.loads(document().to_bytes())
    payload[name] = value
    data = json.dumps(payload).encode()
    with pytest.raises(InputError):
        TaskDocument.from_bytes(data)


def test_a_read_task_document_is_checked_like_a_new_one() -> None:
    payload = json.loads(document().to_bytes())
    payload["groups"] = 8
    with pytest.raises(InputError, match="32 or more groups"):
        TaskDocument.from_bytes(json.dumps(payload).encode())


# group blobs ----------------------------------------------------------------------------------
def test_a_group_blob_is_its_salt_then_its_rows() -> None:
    # prepare
    X, y = rows(5)
    salt = bytes(range(SALT_SIZE))

    # act
    blob = group_blob(salt, X.astype(np.float64), y.astype(np.int32))
    X_back, y_back = read_group(blob)

    # assert: stored as float32 rows and int64 labels
    assert blob[:SALT_SIZE] == salt
    assert X_back.dtype == np.float32 and y_back.dtype == np.int64
    np.testing.assert_array_equal(X_back, X)
    np.testing.assert_array_equal(y_back, y)
    assert group_leaf(7, blob) == (7).to_bytes(8, "big") + keccak(blob)


def _tensors(**arrays: np.ndarray) -> bytes:
    return bytes(SALT_SIZE) + save(dict(arrays))


@pytest.mark.parametrize(
    ("blob", "message"),
    [
        (bytes(SALT_SIZE), "too short"),
        (bytes(SALT_SIZE) + b"garbage", "does not read"),
        (_tensors(X=np.zeros((2, 3), np.float32)), "does not read"),
        (
            _tensors(X=np.zeros(3, np.float32), y=np.zeros(3, np.int64)),
            "rows and labels of one length",
        ),
        (
            _tensors(X=np.zeros((3, 2), np.float32), y=np.zeros(2, np.int64)),
            "rows and labels of one length",
        ),
        (
            _tensors(X=np.zeros((3, 2), np.float64), y=np.zeros(3, np.int64)),
            "rows and labels of one length",
        ),
        (
            _tensors(X=np.zeros((3, 2), np.float32), y=np.zeros((3, 1), np.int64)),
            "rows and labels of one length",
        ),
    ],
    ids=["salt only", "garbage", "no labels", "flat rows", "lengths differ", "float64", "2-d y"],
)
def test_a_bad_group_blob_is_refused(blob: bytes, message: str) -> None:
    with pytest.raises(InputError, match=message):
        read_group(blob)


def test_groups_round_trip_by_index() -> None:
    groups = {3: b"three", 0: b"\x00zero", 17: bytes(range(256))}
    assert read_groups(groups_bytes(groups)) == groups
    assert read_groups(groups_bytes({})) == {}


@pytest.mark.parametrize(
    "data",
    [b"not json", b'["00"]', b'{"x": "00"}', b'{"1": "not hex"}', b'{"1": 5}'],
    ids=["not json", "a list", "no index", "not hex", "not a string"],
)
def test_a_bad_blob_of_groups_is_refused(data: bytes) -> None:
    with pytest.raises(InputError, match="not a blob of test groups"):
        read_groups(data)


# the hidden test set --------------------------------------------------------------------------
def test_a_cut_deals_every_row_once_into_equal_salted_groups() -> None:
    # prepare
    X, y = rows()

    # act
    tests = HiddenTestSet.cut(X, y, GROUPS, seed=5)

    # assert: 32 groups of 70 // 32 = 2 rows, no row twice; the 6 rows left over are left out
    assert len(tests.blobs) == GROUPS
    dealt = [read_group(blob) for blob in tests.blobs]
    assert all(len(group_y) == ROWS // GROUPS for _, group_y in dealt)
    numbers = [int(row[0]) for group_X, _ in dealt for row in group_X]
    assert len(set(numbers)) == len(numbers) == GROUPS * (ROWS // GROUPS)
    for group_X, group_y in dealt:  # each row keeps its label
        np.testing.assert_array_equal(group_y, y[group_X[:, 0].astype(int)])
    assert len({blob[:SALT_SIZE] for blob in tests.blobs}) == GROUPS


def test_the_same_seed_deals_the_same_rows_under_new_salts() -> None:
    X, y = rows()
    first, second = HiddenTestSet.cut(X, y, GROUPS, seed=5), HiddenTestSet.cut(X, y, GROUPS, seed=5)
    assert [b[SALT_SIZE:] for b in first.blobs] == [b[SALT_SIZE:] for b in second.blobs]
    assert first.root != second.root  # nobody can test a guess of a group against the root
    other = HiddenTestSet.cut(X, y, GROUPS, seed=6)
    assert [b[SALT_SIZE:] for b in other.blobs] != [b[SALT_SIZE:] for b in first.blobs]


def test_too_few_rows_cannot_be_cut() -> None:
    X, y = rows(GROUPS - 1)
    with pytest.raises(InputError, match="31 rows cannot make 32 groups"):
        HiddenTestSet.cut(X, y, GROUPS)


def test_the_root_commits_to_every_group_at_its_index() -> None:
    # prepare
    X, y = rows()
    tests = HiddenTestSet.cut(X, y, GROUPS, seed=5)

    # act
    leaves = [plain_leaf(i, keccak(blob)) for i, blob in enumerate(tests.blobs)]

    # assert: the root is the indexed leaves' tree; each proof verifies only at its index
    assert tests.root == MerkleTree(leaves).root
    for i in (0, 5, GROUPS - 1):
        leaf = leaf_hash(plain_leaf(i, tests.group_hash(i)))
        assert verify_proof(tests.root, leaf, tests.tree.proof(i))
        moved = leaf_hash(plain_leaf(i + 1, tests.group_hash(i)))
        assert not verify_proof(tests.root, moved, tests.tree.proof(i))
    swapped = list(tests.blobs)
    swapped[0], swapped[1] = swapped[1], swapped[0]
    assert HiddenTestSet(tuple(swapped)).root != tests.root


def test_the_hidden_groups_are_every_group_but_the_sample() -> None:
    X, y = rows()
    tests = HiddenTestSet.cut(X, y, GROUPS, seed=5)
    sample = [30, 2, 9, 4]

    hidden = tests.hidden(sample)

    assert sorted(hidden) == [i for i in range(GROUPS) if i not in sample]
    assert all(hidden[i] == tests.blobs[i] for i in hidden)
    assert tests.subset(sample) == {i: tests.blobs[i] for i in sample}
    assert not set(hidden) & set(tests.subset(sample))


def test_a_hidden_test_set_reads_back_with_its_salts() -> None:
    X, y = rows()
    tests = HiddenTestSet.cut(X, y, GROUPS, seed=5)

    back = HiddenTestSet.from_bytes(tests.to_bytes())

    assert back == tests
    assert back.root == tests.root


@pytest.mark.parametrize("groups", [{1: b"a", 2: b"b"}, {0: b"a", 2: b"b"}])
def test_a_hidden_test_set_must_hold_every_group_from_0(groups: dict[int, bytes]) -> None:
    with pytest.raises(InputError, match="every group from 0"):
        HiddenTestSet.from_bytes(groups_bytes(groups))


def test_test_set_problem_names_a_missing_a_stray_or_a_changed_group() -> None:
    # prepare
    X, y = rows()
    tests = HiddenTestSet.cut(X, y, GROUPS, seed=5)
    every = dict(enumerate(tests.blobs))
    other_X, other_y = read_group(tests.blobs[3])

    # act / assert
    assert check_test_set(tests.root, GROUPS, every) is None
    missing = {i: b for i, b in every.items() if i != 7}
    assert check_test_set(tests.root, GROUPS, missing) == "the test set lacks 1 of its 32 groups"
    stray = {**every, GROUPS: tests.blobs[0]}
    assert check_test_set(tests.root, GROUPS, stray) is not None
    relabelled = {**every, 3: group_blob(tests.blobs[3][:SALT_SIZE], other_X, (other_y + 1) % 3)}
    assert "do not give the request's test root" in str(
        check_test_set(tests.root, GROUPS, relabelled)
    )
    swapped = {**every, 0: tests.blobs[1], 1: tests.blobs[0]}
    assert check_test_set(tests.root, GROUPS, swapped) is not None


# deliveries and sealed blobs ------------------------------------------------------------------
def test_a_delivery_reads_back_as_itself() -> None:
    _, delivery = commit_model(bytes(range(256)) * 9, new_key())  # 2,304 bytes: 3 chunks

    back = read_delivery(delivery_bytes(delivery))

    assert back == delivery
    assert len(back.encrypted) == 3 and all(len(c) == CHUNK_SIZE for c in back.encrypted)


@pytest.mark.parametrize(
    ("cut", "message"),
    [
        (lambda d: d[:7], "too short"),
        (lambda d: d[:-1], "does not match its chunk count"),
        (lambda d: d + b"\0", "does not match its chunk count"),
        (lambda d: (4).to_bytes(8, "big") + d[8:], "does not match its chunk count"),
        (lambda d: (2).to_bytes(8, "big") + d[8:], "does not match its chunk count"),
    ],
    ids=["short", "a byte less", "a byte more", "count too high", "count too low"],
)
def test_a_bad_delivery_is_refused(cut: Any, message: str) -> None:
    _, delivery = commit_model(bytes(range(256)) * 9, new_key())
    with pytest.raises(InputError, match=message):
        read_delivery(cut(delivery_bytes(delivery)))


def test_a_sealed_blob_opens_only_for_its_request_and_purpose() -> None:
    # prepare
    private, public = generate_keypair()
    envelope = seal(b"hidden groups", [public], purpose(1, "test"))

    # act / assert
    assert open_envelope(envelope, private, purpose(1, "test")) == b"hidden groups"
    for other in (purpose(2, "test"), purpose(1, "model 0"), purpose(1, "delivery")):
        with pytest.raises(IntegrityError):
            open_envelope(envelope, private, other)
