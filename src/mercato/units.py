"""Amounts as people read them: wei shown in ETH, in every message, table and log line.

The chain and ``--json`` output count in wei; everything written for a person goes through
:func:`format_ether` or :func:`compact_ether`, which never round an amount away.
"""

from __future__ import annotations

from decimal import Decimal

from mercato.errors import InputError

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


def ether(amount: int | float | str | Decimal) -> int:
    """Wei in ``amount`` ether, exactly: ``ether(1.5)``, ``ether("0.01")``, ``ether(2)``.

    A float is read as it prints (``0.1`` is 0.1 ETH, not the nearest binary fraction);
    a fraction of a wei is refused.
    """
    try:
        value = Decimal(str(amount)) if isinstance(amount, float) else Decimal(amount)
    except ArithmeticError:
        raise InputError(f"not an amount of ether: {amount!r}") from None
    wei = value * WEI_PER_ETH
    if not wei.is_finite() or wei != wei.to_integral_value() or wei < 0:
        raise InputError(f"{amount!r} ETH is not a whole, non-negative number of wei")
    return int(wei)


def to_ether(wei: int) -> Decimal:
    """``wei`` in ether, exactly (``to_ether(1_500_000_000_000_000_000) == Decimal("1.5")``)."""
    return _ether(wei).normalize()
