# pragma version ~=0.4.3
"""
@title Merkle proofs over keccak256 with sorted pairs
@notice Stateless module: `import` it and call its functions. mercato.crypto.merkle builds
        the trees: a leaf is keccak256(leaf data), a parent keccak256(min(a, b) || max(a, b)),
        and a proof is the list of siblings from the leaf up. Sorted pairs do not bind a leaf
        to its position, so a protocol whose leaves have positions puts the index inside the
        leaf data (`_indexed_leaf`). A check costs about 134 x depth + 115 gas.
"""

MAX_DEPTH: constant(uint256) = 32  # 2**32 leaves


@internal
@pure
def _indexed_leaf(index: uint256, data: bytes32) -> bytes32:
    """The leaf hash of uint64(index) || data (the index big-endian in 8 bytes)."""
    return keccak256(concat(slice(convert(index, bytes32), 24, 8), data))


@internal
@pure
def _root(leaf: bytes32, proof: DynArray[bytes32, MAX_DEPTH]) -> bytes32:
    """The root that `proof` leads to from `leaf`."""
    node: bytes32 = leaf
    for sibling: bytes32 in proof:
        if convert(node, uint256) <= convert(sibling, uint256):
            node = keccak256(concat(node, sibling))
        else:
            node = keccak256(concat(sibling, node))
    return node
