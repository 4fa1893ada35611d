"""Outages: the node or the blob store cannot be reached for a while, and an agent waits.

An outage is not a handler's failure: the event is not counted against the handler, and it
is handled once the node or the store is back (:func:`outage` tells one from a failure).
:class:`OutageLog` says when and how long to wait (doubling from the poll interval up to
:data:`~mercato.agents.polling.OUTAGE_BACKOFF_CAP`) and logs one line when an outage
starts, one a period while it lasts and one when it ends, instead of a line per try;
:func:`until_reachable` waits the same way for a process's first reads, at its start.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from mercato.agents.polling import OUTAGE_BACKOFF_CAP, OUTAGE_REPORT_PERIOD
from mercato.errors import ChainError, ContractRevert, MercatoError, NodeUnreachable
from mercato.storage.base import StoreUnreachable

logger = logging.getLogger(__name__)

NODE = "the node"
STORE = "the blob store"
MAX_DOUBLINGS = 32

T = TypeVar("T")


def outage(exc: BaseException) -> str | None:
    """What ``exc`` says cannot be reached now (:data:`NODE` or :data:`STORE`), or None when
    it is no outage (a revert, a refused transaction, a bad blob: the handler's failure).

    The chain backend raises :class:`~mercato.errors.NodeUnreachable` when the node does
    not answer (and a ChainError caused by the transport's error, an OSError as requests'
    errors are, for an HTTP error status); the blob stores raise
    :class:`~mercato.storage.base.StoreUnreachable`.
    """
    if isinstance(exc, StoreUnreachable):
        return STORE
    if isinstance(exc, NodeUnreachable):
        return NODE
    transport = isinstance(exc.__cause__, OSError)  # requests' errors are OSErrors
    if isinstance(exc, ChainError) and not isinstance(exc, ContractRevert) and transport:
        return NODE
    return None


def clock_time(wall: float) -> str:
    """A wall-clock time as ``HH:MM:SS`` (UTC), for the outage lines."""
    return time.strftime("%H:%M:%S", time.gmtime(wall))


@dataclass
class _Outage:
    what: str
    since: float
    """Wall-clock time of the first failed try."""
    tries: int
    reported: float
    """Monotonic time of the last line logged about it."""


class OutageLog:
    """One agent's outages: how long to wait before the next try, and the few lines said."""

    def __init__(
        self,
        name: str,
        interval: float,
        *,
        cap: float = OUTAGE_BACKOFF_CAP,
        period: float = OUTAGE_REPORT_PERIOD,
    ) -> None:
        self.name = name
        self.interval = interval
        self.cap = max(cap, interval)
        self.period = period
        self._current: _Outage | None = None

    @property
    def ongoing(self) -> str | None:
        """What cannot be reached now, or None."""
        return None if self._current is None else self._current.what

    def failed(self, what: str, error: BaseException) -> float:
        """Count one failed try to reach ``what``; the seconds to wait before the next."""
        now = time.monotonic()
        current = self._current
        if current is None or current.what != what:
            current = self._current = _Outage(what, time.time(), 0, now)
            logger.warning(
                "%s: cannot reach %s (%s); trying again from time to time",
                self.name,
                what,
                error,
            )
        elif now - current.reported >= self.period:
            current.reported = now
            logger.warning(
                "%s: still cannot reach %s since %s (%d tries)",
                self.name,
                what,
                clock_time(current.since),
                current.tries + 1,
            )
        current.tries += 1
        doublings = min(current.tries - 1, MAX_DOUBLINGS)  # past the cap anyway; no overflow
        return min(self.interval * 2.0**doublings, self.cap)

    def recovered(self) -> None:
        """A step went through: the outage, if any, is over."""
        current = self._current
        if current is None:
            return
        self._current = None
        logger.warning(  # a warning as the outage's first line was: the two pair up
            "%s: %s is back after %.0f s (%d tries); carrying on",
            self.name,
            current.what,
            time.time() - current.since,
            current.tries,
        )


def until_reachable(name: str, attempt: Callable[[], T], interval: float) -> T:
    """``attempt()``'s result, tried again while the node or the store is down: a process
    that starts during an outage waits it out (saying so as :class:`OutageLog` does) instead
    of exiting. Any other error is raised at once; SIGTERM or Ctrl-C end the wait."""
    outages = OutageLog(name, interval)
    while True:
        try:
            result = attempt()
        except MercatoError as exc:
            what = outage(exc)
            if what is None:
                raise
            time.sleep(outages.failed(what, exc))
            continue
        outages.recovered()
        return result
