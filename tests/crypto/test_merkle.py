"""Merkle trees with sorted pairs, checked in Python and by a Vyper verifier."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mercato.crypto import MerkleTree, hash_pair, keccak, leaf_hash, verify_proof
from mercato.errors import InputError

LEAVES = [f"group {index}".encode() for index in range(7)]
VYPER_VERIFIER = """
# pragma version ~=0.4.3

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


@given(leaves=st.lists(st.binary(max_size=40), min_size=1, max_size=40))
def test_every_leaf_has_a_valid_proof(leaves: list[bytes]) -> None:
    # prepare
    tree = MerkleTree(leaves)

    # act / assert
    for index, leaf in enumerate(leaves):
        assert verify_proof(tree.root, leaf_hash(leaf), tree.proof(index))


def test_three_leaves_promote_the_odd_one() -> None:
    # prepare
    a, b, c = (keccak(leaf) for leaf in (b"a", b"b", b"c"))

    # act
    tree = MerkleTree([b"a", b"b", b"c"])

    # assert
    assert tree.root == hash_pair(hash_pair(a, b), c)
    assert tree.proof(2) == [hash_pair(a, b)]
    assert tree.proof(0) == [b, c]


def test_parent_does_not_depend_on_child_order() -> None:
    # prepare
    a, b = keccak(b"a"), keccak(b"b")

    # act / assert
    assert hash_pair(a, b) == hash_pair(b, a) == keccak(min(a, b) + max(a, b))


def test_single_leaf_is_its_own_root() -> None:
    # act
    tree = MerkleTree([b"only"])

    # assert
    assert tree.root == keccak(b"only")
    assert tree.proof(0) == []


def test_wrong_leaf_or_sibling_fails() -> None:
    # prepare
    tree = MerkleTree(LEAVES)
    proof = tree.proof(3)
    forged = [proof[0], keccak(b"forged"), *proof[2:]]

    # act / assert
    assert not verify_proof(tree.root, leaf_hash(b"not a leaf"), proof)
    assert not verify_proof(tree.root, leaf_hash(LEAVES[3]), forged)
    assert not verify_proof(tree.root, leaf_hash(LEAVES[3]), proof[:-1])


def test_from_leaf_hashes_builds_the_same_tree() -> None:
    # act
    tree = MerkleTree.from_leaf_hashes([leaf_hash(leaf) for leaf in LEAVES])

    # assert
    assert tree.root == MerkleTree(LEAVES).root
    assert len(tree) == len(LEAVES)


def test_empty_tree_raises_input_error() -> None:
    # act / assert
    with pytest.raises(InputError, match="at least one leaf"):
        MerkleTree([])
    with pytest.raises(InputError, match="at least one leaf"):
        MerkleTree.from_leaf_hashes([])


def test_proof_index_out_of_range_raises_input_error() -> None:
    # prepare
    tree = MerkleTree(LEAVES)

    # act / assert
    with pytest.raises(InputError, match="out of range"):
        tree.proof(len(LEAVES))
    with pytest.raises(InputError, match="out of range"):
        tree.proof(-1)


def test_malformed_hashes_raise_input_error() -> None:
    # prepare
    tree = MerkleTree(LEAVES)

    # act / assert
    with pytest.raises(InputError, match="32-byte"):
        verify_proof(tree.root[:31], leaf_hash(LEAVES[0]), tree.proof(0))
    with pytest.raises(InputError, match="32-byte"):
        verify_proof(tree.root, leaf_hash(LEAVES[0]), [b"short"])
    with pytest.raises(InputError, match="32-byte"):
        MerkleTree.from_leaf_hashes([b"short"])


@pytest.fixture(scope="module")
def vyper_verifier() -> Any:
    """The on-chain proof check, deployed on titanoboa's in-process EVM."""
    boa = pytest.importorskip("boa")
    return boa.loads(VYPER_VERIFIER)


@pytest.mark.parametrize("size", [1, 2, 5, 8, 13])
def test_vyper_contract_accepts_every_proof(vyper_verifier: Any, size: int) -> None:
    # prepare
    leaves = [f"chunk {index}".encode() for index in range(size)]
    tree = MerkleTree(leaves)

    # act
    results = [
        vyper_verifier.verify(tree.root, leaf_hash(leaf), tree.proof(index))
        for index, leaf in enumerate(leaves)
    ]

    # assert
    assert all(results)
    assert not vyper_verifier.verify(tree.root, leaf_hash(b"intruder"), tree.proof(0))
