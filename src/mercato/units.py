"""Amounts as people read them: wei shown in ETH, in every message, table and log line.

The chain and ``--json`` output count in wei; everything written for a person goes through
:func:`format_ether` or :func:`compact_ether`, which never round an amount away.
"""

from __future__ import annotations

from decimal import Decimal

WEI_PER_ETH = 10**18
ETH_DECIMALS = 18
SHOWN_DECIMALS = 6
"""Decimals :func:`format_ether` shows when no more are needed."""


def _ether(wei: int) -> Decimal:
    # built from text, so no context precision rounds a large amount
    return Decimal(f"{int(wei)}E-{ETH_DECIMALS}")


def format_ether(wei: int) -> str:
    """``1.500000 ETH``; every decimal where six would round (``0.000000000000000001 ETH``)."""
    value = _ether(wei)
    text = f"{value:.{SHOWN_DECIMALS}f}"
    if Decimal(text) != value:
        text = f"{value:f}".rstrip("0")
    return f"{text} ETH"


def compact_ether(wei: int) -> str:
    """A compact, exact ether amount for tables and messages: ``0.9``, ``1``, ``0.000001``."""
    text = f"{_ether(wei):f}"
    return text.rstrip("0").rstrip(".") if "." in text else text
