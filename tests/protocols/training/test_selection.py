"""The subset draw, recomputed off chain (``select_subsets``): its properties for any seed.

The contract's ``_select`` is checked against this function in the round tests and in the
escrow property test; here the function's own guarantees are checked for random seeds.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from mercato.protocols.draws import select as select_subsets
from mercato.protocols.training.market import (
    MAX_SUBSETS,
    round_seed,
    subsets_of,
)

seeds = st.binary(min_size=32, max_size=32)


@st.composite
def shapes(draw: st.DrawFn) -> tuple[int, int]:
    subsets = draw(st.integers(min_value=1, max_value=MAX_SUBSETS))
    return subsets, draw(st.integers(min_value=1, max_value=subsets))


@settings(max_examples=200)
@given(seed=seeds, shape=shapes(), cycle_seed=st.integers(min_value=0))
def test_draw_picks_k_distinct_subsets_preferring_unused_ones(
    seed: bytes, shape: tuple[int, int], cycle_seed: int
) -> None:
    # prepare
    subsets, k = shape
    full = (1 << subsets) - 1
    cycle = cycle_seed & full

    # act
    selected, new_cycle = select_subsets(seed, subsets, k, cycle)

    # assert
    unused = full & ~cycle
    assert len(subsets_of(selected)) == k
    assert selected & ~full == 0
    if bin(unused).count("1") >= k:
        assert selected & cycle == 0
        assert new_cycle == cycle | selected
    else:
        assert selected & unused == unused
        assert new_cycle == selected & ~unused


@settings(max_examples=100)
@given(seed=seeds, shape=shapes(), rounds=st.integers(min_value=1, max_value=40))
def test_every_subset_is_drawn_within_ceil_m_over_k_rounds(
    seed: bytes, shape: tuple[int, int], rounds: int
) -> None:
    # prepare
    subsets, k = shape
    cycle, union, draws = 0, 0, []

    # act
    for round_number in range(1, rounds + 1):
        selected, cycle = select_subsets(round_seed(seed, 1, round_number), subsets, k, cycle)
        union |= selected
        draws.append(union)

    # assert: full coverage exactly from round ceil(m / k) on
    needed = -(-subsets // k)
    for round_number, covered in enumerate(draws, start=1):
        assert (covered == (1 << subsets) - 1) == (round_number >= needed)


def test_draw_depends_on_the_seed() -> None:
    # act
    draws = {select_subsets(round_seed(bytes([b]) * 32, 1, 1), 32, 16, 0)[0] for b in range(20)}

    # assert
    assert len(draws) == 20
