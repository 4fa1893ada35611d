# pragma version ~=0.4.3
"""
@title Bit helpers
@notice Stateless module: `import` it and call its functions; nothing to initialize.
"""


@internal
@pure
def _count(mask: uint256) -> uint256:
    """
    @notice Number of bits set in `mask`. Clears the lowest set bit per iteration, so it
            costs one iteration per set bit (masks of members, replicas, subsets are sparse).
    """
    count: uint256 = 0
    rest: uint256 = mask
    for i: uint256 in range(256):
        if rest == 0:
            break
        rest &= rest - 1
        count += 1
    return count
