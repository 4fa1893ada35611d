"""Merkle trees over keccak256 whose proofs a Vyper contract checks in a short loop.

Leaves are ``keccak256(leaf_data)``; a parent is ``keccak256(min(a, b) || max(a, b))``
(sorted pairs, as in OpenZeppelin's ``MerkleProof``), so a proof is just the list of sibling
hashes, leaf to root; a level's last node without a sibling moves up unchanged. The
on-chain check, comparing bytes32 as uint256::

    for sibling: bytes32 in proof:
        if convert(node, uint256) < convert(sibling, uint256):
            node = keccak256(concat(node, sibling))
        else:
            node = keccak256(concat(sibling, node))
    assert node == root

Sorted pairs do not bind a leaf to a position; where position matters (chunk i of a file),
put the index inside the leaf data.
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence

from mercato.crypto.commit import HASH_SIZE, keccak
from mercato.errors import InputError


def leaf_hash(leaf_data: bytes) -> bytes:
    """Return the hash of one leaf: ``keccak256(leaf_data)``."""
    return keccak(leaf_data)


def hash_pair(a: bytes, b: bytes) -> bytes:
    """Return the parent of two nodes: ``keccak256(min(a, b) || max(a, b))``."""
    return keccak(a + b) if a <= b else keccak(b + a)


class MerkleTree:
    """A Merkle tree built from leaf data, with proofs for every leaf."""

    def __init__(self, leaves: Sequence[bytes]) -> None:
        if not leaves:
            raise InputError("a Merkle tree needs at least one leaf")
        self._levels = _build_levels([leaf_hash(leaf) for leaf in leaves])

    @classmethod
    def from_leaf_hashes(cls, leaf_hashes: Sequence[bytes]) -> MerkleTree:
        """Build a tree from leaf hashes already computed with :func:`leaf_hash`."""
        if not leaf_hashes:
            raise InputError("a Merkle tree needs at least one leaf")
        for position, node in enumerate(leaf_hashes):
            _check_hash(f"leaf hash {position}", node)
        tree = cls.__new__(cls)
        tree._levels = _build_levels([bytes(node) for node in leaf_hashes])
        return tree

    def __len__(self) -> int:
        return len(self._levels[0])

    @property
    def root(self) -> bytes:
        """The 32-byte root hash."""
        return self._levels[-1][0]

    @property
    def leaf_hashes(self) -> list[bytes]:
        """The leaf hashes, in input order."""
        return list(self._levels[0])

    def proof(self, index: int) -> list[bytes]:
        """Return the sibling hashes that lead from leaf ``index`` to the root."""
        if not 0 <= index < len(self):
            raise InputError(f"leaf index {index} is out of range for a tree of {len(self)} leaves")
        siblings = []
        for level in self._levels[:-1]:
            sibling = index ^ 1
            if sibling < len(level):  # else this node was promoted unchanged
                siblings.append(level[sibling])
            index //= 2
        return siblings


def verify_proof(root: bytes, leaf_hash: bytes, proof: Sequence[bytes]) -> bool:
    """Tell whether ``proof`` links ``leaf_hash`` to ``root``."""
    _check_hash("root", root)
    _check_hash("leaf hash", leaf_hash)
    node = bytes(leaf_hash)
    for position, sibling in enumerate(proof):
        _check_hash(f"proof element {position}", sibling)
        node = hash_pair(node, bytes(sibling))
    return hmac.compare_digest(node, root)


def _build_levels(leaves: list[bytes]) -> list[list[bytes]]:
    """Return every level of the tree, leaves first and the root's level last."""
    levels = [leaves]
    while len(levels[-1]) > 1:
        level = levels[-1]
        parents = [hash_pair(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            parents.append(level[-1])
        levels.append(parents)
    return levels


def _check_hash(name: str, value: bytes) -> None:
    if not isinstance(value, bytes | bytearray) or len(value) != HASH_SIZE:
        raise InputError(f"{name} must be a {HASH_SIZE}-byte hash")
