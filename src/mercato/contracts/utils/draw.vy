# pragma version ~=0.4.3
"""
@title Block-hash draw
@notice Stateless module: `import` it and call its functions; nothing to initialize.
        A protocol records a target block when a party asks for a draw, and draws in a
        later block from a seed such as keccak256(blockhash(target), id, round): the
        target's hash, which nobody knew when the party asked (see TrainingMarket.vy for
        what this guarantees and what it does not). The EVM keeps only the last
        BLOCKHASH_WINDOW hashes: a draw that comes later must re-target. The caller
        computes the seed itself (it logs the block hash; a separate internal call would
        cost gas on every draw). mercato.protocols.training.market mirrors `_select`.
"""

BLOCKHASH_WINDOW: constant(uint256) = 256
MAX_ITEMS: constant(uint256) = 32  # items drawn from, one bit each in the masks


@internal
@pure
def _select(seed: bytes32, m: uint256, k: uint256, cycle: uint256) -> (uint256, uint256):
    """
    @notice Draw k of m items (m <= MAX_ITEMS): a partial Fisher-Yates shuffle over the
            items not yet used in this cycle (in index order) followed by the used ones.
            If fewer than k are unused, all of them are drawn and the rest from the used
            ones, which start the next cycle. Returns (selected mask, new cycle mask).
    """
    full: uint256 = (1 << m) - 1
    unused: uint256 = full & ~cycle
    pool: uint256[MAX_ITEMS] = empty(uint256[MAX_ITEMS])
    count: uint256 = 0
    for s: uint256 in range(MAX_ITEMS):
        if s == m:
            break
        if (unused >> s) & 1 == 1:
            pool[count] = s
            count += 1
    u: uint256 = count
    for s: uint256 in range(MAX_ITEMS):
        if s == m:
            break
        if (unused >> s) & 1 == 0:
            pool[count] = s
            count += 1
    selected: uint256 = 0
    for i: uint256 in range(MAX_ITEMS):
        if i == k:
            break
        hi: uint256 = m
        if i < u:
            hi = u
        j: uint256 = i + convert(keccak256(concat(seed, convert(i, bytes32))), uint256) % (hi - i)
        chosen: uint256 = pool[j]
        pool[j] = pool[i]
        pool[i] = chosen
        selected |= 1 << chosen
    if u >= k:
        return selected, cycle | selected
    return selected, selected & ~unused
