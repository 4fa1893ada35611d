"""One agent as its own process against a node (``mercato agent run``).

:func:`run_process` runs an attached agent until SIGTERM or SIGINT, or with ``once`` until a
step has nothing to do; it logs each transaction the agent sends, by function name, and
counts the events the agent gave up on meanwhile (a restarted agent does not count them
again).
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from types import FrameType

from mercato.agents.agent import Agent
from mercato.agents.polling import DEFAULT_POLL_INTERVAL, MAX_ONCE_STEPS
from mercato.agents.runner import RunReport
from mercato.agents.store import HandlerStatus
from mercato.chain.contract import Contract
from mercato.chain.recording import RecordingChain

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProcessRun:
    """What :func:`run_process` did: with ``once``, how its steps went (``rounds`` are steps);
    and how many events the agent gave up on meanwhile."""

    once: RunReport | None
    given_up: int


@contextmanager
def stop_on_signals(stop: threading.Event, name: str) -> Iterator[None]:
    """Set ``stop`` on SIGTERM or SIGINT while inside (the main thread only can catch them)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handle(signum: int, frame: FrameType | None) -> None:
        logger.info("%s: %s received, stopping", name, signal.Signals(signum).name)
        stop.set()

    previous = {s: signal.signal(s, handle) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


class TxLog:
    """Logs each transaction recorded since the last call, by function name."""

    def __init__(self, name: str, recording: RecordingChain, contracts: Sequence[Contract]):
        self._name = name
        self._recording = recording
        self._seen = 0
        self._functions = {f.selector: f.name for c in contracts for f in c.abi.functions.values()}

    def flush(self) -> int:
        """Log the new transactions; how many there were."""
        records = self._recording.records[self._seen :]
        self._seen += len(records)
        for record in records:
            function = self._functions.get(record.selector, record.selector.hex())
            logger.info("%s: sent %s (gas %d)", self._name, function, record.gas_used)
        return len(records)


def step_until_idle(agent: Agent, txlog: TxLog, stop: threading.Event) -> RunReport:
    """Step until a step handles nothing, sends nothing and reads to the head (or ``stop``)."""
    events = 0
    for steps in range(1, MAX_ONCE_STEPS + 1):
        head = agent.chain.block_number()
        handled = agent.step()
        events += handled
        sent = txlog.flush()
        if stop.is_set():
            return RunReport(steps, events, idle=False)
        if handled == 0 and sent == 0 and agent.caught_up and agent.chain.block_number() == head:
            return RunReport(steps, events, idle=True)
    logger.warning("%s: still busy after %d steps", agent.name, MAX_ONCE_STEPS)
    return RunReport(MAX_ONCE_STEPS, events, idle=False)


def _given_up(agent: Agent) -> set[tuple[str, str, int]]:
    return {
        (f.handler, f.tx_hash, f.log_index)
        for f in agent.store.failures(agent.name)
        if f.status is HandlerStatus.FAILED
    }


def run_process(
    agent: Agent,
    recording: RecordingChain,
    contracts: Sequence[Contract],
    *,
    once: bool = False,
    interval: float = DEFAULT_POLL_INTERVAL,
) -> ProcessRun:
    """Run ``agent``, whose chain is ``recording``, logging what it sends to ``contracts``."""
    stop = threading.Event()
    before = _given_up(agent)
    txlog = TxLog(agent.name, recording, contracts)
    report = None
    with stop_on_signals(stop, agent.name):
        if once:
            report = step_until_idle(agent, txlog, stop)
        else:
            agent.run(stop, interval, after_step=txlog.flush)
    return ProcessRun(report, len(_given_up(agent) - before))
