"""Run several agents in one process, round-robin: the embedded demo's scheduler.

With the embedded chain every agent shares one in-process EVM, so agents cannot run as
separate processes; the runner steps them in turn until nothing moves any more.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass

from mercato.agents.agent import Agent
from mercato.agents.polling import DEFAULT_MAX_ROUNDS, DEFAULT_POLL_INTERVAL, MAX_POLL_INTERVAL
from mercato.errors import InputError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunReport:
    """What :meth:`Runner.run_until_idle` did."""

    rounds: int
    events: int
    idle: bool
    """False when ``max_rounds`` ran out first (agents reacting to each other forever?)."""


class Runner:
    """Step several agents round-robin in one process."""

    def __init__(self, agents: Sequence[Agent]) -> None:
        names = [agent.name for agent in agents]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise InputError(f"agent names must be unique; repeated: {', '.join(duplicates)}")
        self.agents = list(agents)

    def step(self) -> int:
        """Step every agent once, in order; return the events they handled."""
        return sum(agent.step() for agent in self.agents)

    def run_until_idle(self, max_rounds: int = DEFAULT_MAX_ROUNDS) -> RunReport:
        """Step rounds until one round handles nothing and sends nothing."""
        if max_rounds < 1:
            raise InputError(f"max_rounds must be at least 1, got {max_rounds}")
        events = 0
        for round_number in range(1, max_rounds + 1):
            heads = self._heads()
            handled = self.step()
            events += handled
            # a tick may have sent a transaction that an earlier agent of the round missed
            if handled == 0 and self._heads() == heads and self._caught_up():
                return RunReport(round_number, events, idle=True)
        logger.warning("agents still busy after %d rounds (%d events)", max_rounds, events)
        return RunReport(max_rounds, events, idle=False)

    def run(
        self, stop: threading.Event | None = None, interval: float = DEFAULT_POLL_INTERVAL
    ) -> None:
        """Run rounds until ``stop`` is set, sleeping ``interval`` seconds after idle rounds."""
        if not 0 < interval <= MAX_POLL_INTERVAL:
            raise InputError(f"interval must be in (0, {MAX_POLL_INTERVAL}] s, got {interval}")
        stop = stop or threading.Event()
        while not stop.is_set():
            report = self.run_until_idle()
            if report.idle:
                stop.wait(interval)

    def _heads(self) -> list[int]:
        return [agent.chain.block_number() for agent in self.agents]

    def _caught_up(self) -> bool:
        return all(agent.caught_up for agent in self.agents)
