"""The seeded schedule of faults a chaos run injects: which, when and for how long.

Everything comes from ``random.Random(seed)``: the same seed over the same agents gives the
same schedule, so a failure is replayed by its seed alone. Faults follow one another (the
next starts after the previous one has healed), so each outage is seen on its own:

- ``kill``: SIGKILL one agent's process, start it again (same name and state) after the
  downtime;
- ``anvil``: stop the node (SIGTERM, which writes its ``--state`` file) and start it again
  on the same port from that file after the downtime;
- ``s3``: freeze the S3 server (SIGSTOP) for the downtime, then let it go on (SIGCONT).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

KINDS = ("kill", "anvil", "s3")
KIND_WEIGHTS = (3, 1, 1)
"""Agents die more often than the node or the store."""
DEFAULT_FAULTS = 3
FIRST_FAULT_S = (0.2, 2.0)
"""The first fault starts this many seconds (low, high) after the market opens."""
GAP_S = (0.5, 4.0)
"""Seconds between the end of one fault and the start of the next."""
DOWNTIME_S = {"kill": (0.5, 5.0), "anvil": (1.0, 4.0), "s3": (2.0, 8.0)}
"""How long each kind of fault lasts (low, high)."""


@dataclass(frozen=True)
class Fault:
    """One fault: ``kind`` at ``at`` seconds after the market opened, for ``downtime`` s."""

    kind: str
    at: float
    downtime: float
    target: str = ""
    """The agent killed (``kill`` only)."""

    @property
    def end(self) -> float:
        return self.at + self.downtime

    def describe(self) -> str:
        """``kill provider-data at 2.3 s for 1.5 s``."""
        what = f"kill {self.target}" if self.kind == "kill" else f"stop {self.kind}"
        return f"{what} at {self.at:.1f} s for {self.downtime:.1f} s"

    def record(self) -> dict[str, Any]:
        return {"kind": self.kind, "target": self.target, "at": self.at, "downtime": self.downtime}


def schedule(seed: int, agents: Sequence[str], count: int = DEFAULT_FAULTS) -> tuple[Fault, ...]:
    """``count`` faults drawn from ``seed``, in time order, over the agents named."""
    rng = random.Random(seed)
    kinds = [k for k in KINDS if k != "kill" or agents]
    weights = [KIND_WEIGHTS[KINDS.index(k)] for k in kinds]
    faults: list[Fault] = []
    at = rng.uniform(*FIRST_FAULT_S)
    for _ in range(count):
        kind = rng.choices(kinds, weights)[0]
        target = rng.choice(sorted(agents)) if kind == "kill" else ""
        downtime = round(rng.uniform(*DOWNTIME_S[kind]), 2)
        faults.append(Fault(kind, round(at, 2), downtime, target))
        at += downtime + rng.uniform(*GAP_S)
    return tuple(faults)


def describe(faults: Sequence[Fault]) -> str:
    """The schedule in one line, to replay a failure."""
    return "; ".join(f.describe() for f in faults) or "no faults"
