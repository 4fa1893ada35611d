"""Amounts shown to people: ETH, never rounded away."""

from __future__ import annotations

import pytest

from mercato.units import WEI_PER_ETH, compact_ether, format_ether


@pytest.mark.parametrize(
    ("wei", "text"),
    [
        (0, "0.000000 ETH"),
        (WEI_PER_ETH, "1.000000 ETH"),
        (15 * WEI_PER_ETH // 10, "1.500000 ETH"),
        (10**12, "0.000001 ETH"),
        (1, "0.000000000000000001 ETH"),
        (10**12 + 1, "0.000001000000000001 ETH"),
        (2**128 - 1, "340282366920938463463.374607431768211455 ETH"),
    ],
)
def test_format_ether_shows_six_decimals_unless_that_would_round(wei: int, text: str) -> None:
    assert format_ether(wei) == text


@pytest.mark.parametrize(
    ("wei", "text"),
    [(0, "0"), (WEI_PER_ETH, "1"), (9 * WEI_PER_ETH // 10, "0.9"), (1, "0.000000000000000001")],
)
def test_compact_ether_is_exact_and_short(wei: int, text: str) -> None:
    assert compact_ether(wei) == text
