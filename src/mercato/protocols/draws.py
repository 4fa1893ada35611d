"""Block-hash draws, recomputed off chain exactly as the contracts draw them.

A protocol records a target block when a party asks for a draw and draws in a later block
from a seed such as ``keccak256(blockhash(target) || id || purpose)``; these functions
mirror ``contracts/utils/draw.vy`` and the draws built on it bit for bit, so any party or
auditor can recompute who or what was drawn from the block hash alone. Light: keccak only.
"""

from __future__ import annotations

from eth_utils.crypto import keccak

BLOCKHASH_WINDOW = 256
"""Blocks during which a target block's hash can seed a draw (the EVM keeps no older)."""


def select(seed: bytes, items: int, count: int, cycle: int) -> tuple[int, int]:
    """``_select`` of draw.vy: (mask of the ``count`` items drawn of ``items``, new cycle).

    A partial Fisher-Yates shuffle over the items unused in this cycle (in index order),
    then the used ones; if fewer than ``count`` are unused, all are drawn and the rest come
    from the used ones, which start the next cycle.
    """
    full = (1 << items) - 1
    unused = full & ~cycle
    pool = [s for s in range(items) if unused >> s & 1]
    fresh = len(pool)
    pool += [s for s in range(items) if not unused >> s & 1]
    selected = 0
    for i in range(count):
        hi = fresh if i < fresh else items
        rand = int.from_bytes(keccak(seed + i.to_bytes(32, "big")), "big")
        j = i + rand % (hi - i)
        pool[i], pool[j] = pool[j], pool[i]
        selected |= 1 << pool[i]
    if fresh >= count:
        return selected, cycle | selected
    return selected, selected & ~unused


def distinct_indices(seed: bytes, population: int, count: int) -> list[int]:
    """``count`` distinct indices below ``population``: ``keccak(seed || uint256(j)) mod
    population`` for j = 0, 1, ..., moving to the next free index on a repeat (count is
    small: ModelMarket.vy's ``_sample_indices``)."""
    indices: list[int] = []
    for j in range(count):
        candidate = int.from_bytes(keccak(seed + j.to_bytes(32, "big")), "big") % population
        while candidate in indices:
            candidate = (candidate + 1) % population
        indices.append(candidate)
    return indices
