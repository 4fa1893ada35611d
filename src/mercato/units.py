"""Amounts as people read them: wei shown in ETH, in every message, table and log line.

The chain and ``--json`` output count in wei; everything written for a person goes through
:func:`format_ether` or :func:`compact_ether`, which never round an amount away.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from fractions import Fraction

from mercato.errors import InputError

WEI_PER_ETH = 10**18
ETH_DECIMALS = 18
SHOWN_DECIMALS = 6
WEI_UNITS = {"wei": 1, "gwei": 10**9, "eth": 10**18, "ether": 10**18}
MAX_AMOUNT_DIGITS = 80  # 2**256 wei has 78 digits: an amount's exponent stays within ±80
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


def ether(amount: int | float | str | Decimal) -> int:
    """Wei in ``amount`` ether, exactly: ``ether(1.5)``, ``ether("0.01")``, ``ether(2)``.

    A float is read as it prints (``0.1`` is 0.1 ETH, not the nearest binary fraction); a
    string may name its unit as the command line does (``"20gwei"``); a fraction of a wei,
    a negative amount or more than a uint256 is refused.
    """
    return parse_amount(str(amount))


def to_ether(wei: int) -> Decimal:
    """``wei`` in ether, exactly (``to_ether(1_500_000_000_000_000_000) == Decimal("1.5")``)."""
    return _ether(wei).normalize()


def parse_amount(text: str) -> int:
    """Wei from ``"0.5"`` (ether), ``"0.5eth"``, ``"20gwei"`` or ``"1000wei"``."""
    raw = text.strip().lower()
    unit = next((u for u in sorted(WEI_UNITS, key=len, reverse=True) if raw.endswith(u)), "eth")
    number = raw.removesuffix(unit).strip() if raw.endswith(unit) else raw
    try:
        amount = Decimal(number)
    except InvalidOperation:
        amount = Decimal("NaN")
    if not amount.is_finite():  # nan, snan, inf: Decimal parses them all
        raise InputError(f"'{text}' is not an amount (examples: 0.5, 0.5eth, 20gwei, 1000wei)")
    if amount < 0:
        raise InputError(f"'{text}' is negative: amounts are 0 or more")
    if amount == 0:
        return 0
    if amount.adjusted() > MAX_AMOUNT_DIGITS:  # 1e999999: refused before any arithmetic
        raise InputError(f"'{text}' is more wei than a uint256 holds")
    wei = Fraction(amount) * WEI_UNITS[unit] if amount.adjusted() > -MAX_AMOUNT_DIGITS else None
    if wei is None or wei.denominator != 1:
        raise InputError(
            f"'{text}' is not a whole number of wei, the smallest unit (ETH takes 18 decimals)"
        )
    if wei >= 2**256:
        raise InputError(f"'{text}' is more wei than a uint256 holds")
    return int(wei)
