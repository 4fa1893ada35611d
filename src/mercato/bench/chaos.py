"""``mercato bench chaos``: many seeds of the chaos harness, and what they add up to.

Each seed is one :func:`mercato.chaos.harness.run` (its own node, S3 server and agent
processes); the summary counts the faults injected, the markets finished and the money
checked, and lists every failure with its seed and schedule so it can be replayed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from mercato.chaos.checks import CheckResult
from mercato.chaos.faults import schedule
from mercato.chaos.harness import RunResult, run
from mercato.chaos.scenarios import SCENARIOS
from mercato.errors import InputError, MercatoError


@dataclass(frozen=True)
class ChaosSummary:
    """Every run of a ``bench chaos`` and their totals."""

    runs: tuple[RunResult, ...]

    @property
    def faults(self) -> int:
        return sum(r.injected for r in self.runs)

    @property
    def finished(self) -> int:
        return sum(r.finished for r in self.runs)

    @property
    def money_checked(self) -> int:
        """Runs whose money check passed (balance = locked + owed, nothing locked)."""
        return sum(any(c.name == "money" and c.passed for c in r.checks) for r in self.runs)

    @property
    def failed(self) -> tuple[RunResult, ...]:
        return tuple(r for r in self.runs if not r.passed)

    @property
    def crashes(self) -> int:
        return sum(len(r.crashes) for r in self.runs)

    def record(self) -> dict[str, Any]:
        return {
            "runs": len(self.runs),
            "faults_injected": self.faults,
            "markets_finished": self.finished,
            "money_checked": self.money_checked,
            "agent_crashes": self.crashes,
            "failures": [
                {"seed": r.seed, "protocol": r.protocol, "replay": r.replay(), "why": r.failures()}
                for r in self.failed
            ],
            "seeds": [r.record() for r in self.runs],
        }


def protocols_of(protocol: str | None) -> list[str]:
    """The protocols to run: the one named (checked), else every one covered."""
    if protocol is None:
        return list(SCENARIOS)
    if protocol not in SCENARIOS:
        raise InputError(f"chaos covers no protocol '{protocol}'; covered: {', '.join(SCENARIOS)}")
    return [protocol]


def run_seeds(
    seeds: Sequence[int],
    protocols: Sequence[str],
    *,
    fault_count: int,
    done: Callable[[RunResult], None] = lambda _: None,
) -> ChaosSummary:
    """Run every seed for every protocol, calling ``done`` after each."""
    results = []
    for protocol in protocols:
        for seed in seeds:
            scenario = SCENARIOS[protocol]
            try:
                result = run(seed, scenario, fault_count=fault_count)
            except MercatoError as exc:  # the run itself broke: a failure of this seed
                planned = schedule(seed, [a.name for a in scenario.agents], fault_count)
                broke = CheckResult("harness", False, str(exc).splitlines()[0])
                result = RunResult(seed, protocol, planned, 0, 0, False, 0.0, (broke,))
            done(result)
            results.append(result)
    return ChaosSummary(tuple(results))
