"""Times as people read them, in every message, table and log line (UTC, as the chain counts)."""

from __future__ import annotations

from datetime import UTC, datetime

_SPANS = ((120, 1, "s"), (7200, 60, "m"), (172800, 3600, "h"))
"""Below how many seconds a span is written in which unit; longer spans in days."""


def format_time(timestamp: int) -> str:
    """``2026-01-01 10:00:00 UTC``."""
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def relative_time(deadline: int, now: int) -> str:
    """``in 5m`` or ``2h ago``: how far ``deadline`` is from ``now``."""
    seconds = deadline - now
    span = abs(seconds)
    size, unit = next(((s, u) for below, s, u in _SPANS if span < below), (86400, "d"))
    text = f"{span // size}{unit}"
    return f"in {text}" if seconds > 0 else f"{text} ago"


def format_deadline(deadline: int, now: int) -> str:
    """``2026-01-01 10:00:00 UTC (in 5m)``."""
    return f"{format_time(deadline)} ({relative_time(deadline, now)})"


def same_address(a: str | None, b: str) -> bool:
    """Whether two addresses are one, whatever their case (None is nobody)."""
    return a is not None and a.lower() == b.lower()
