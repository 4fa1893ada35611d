"""``mercato bench training``: P2 (Somy et al.) beside the paper's figures and the issue's goals.

Four measurements, each in its own module:

- the paper's single-round 1 DO / 1 CO / 1 MO case sent one transaction at a time
  (:mod:`mercato.bench.training_flow`): transactions and chain seconds per training;
- many trainings in flight in waves on a node (:mod:`mercato.bench.training_waves`):
  complete trainings per second, on-chain part only;
- federated against centralised accuracy, and CKKS against plaintext logistic regression
  with the CKKS time overhead (:mod:`mercato.bench.training_accuracy`).

The flow runs on the chosen backend (embedded, or the node); the waves need a node that
mines on request (anvil), so without one they are left out and the report says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mercato.bench.common import ACCURACY_SKIPPED_NOTE, automine, chain_at
from mercato.bench.flow import StartPhase, phases
from mercato.bench.training_accuracy import (
    CKKS_GAP_GOAL,
    FEDERATED_GAP_GOAL,
    CkksAccuracy,
    FederatedAccuracy,
    ckks_accuracy,
    federated_accuracy,
)
from mercato.bench.training_flow import (
    PAPER_CHAIN_SECONDS,
    PAPER_TRANSACTIONS,
    FlowReport,
    timed_flow,
)
from mercato.bench.training_waves import (
    DEFAULT_TRAININGS,
    STEPS,
    WaveReport,
    measure_waves,
)
from mercato.chain.rpc import RpcChain

PAPER_TRAININGS_PER_S = (65, 70)
"""Somy et al.: trainings per second on a 4-peer Fabric network of 32-core servers."""
PAPER_TX_PER_S = 1_000
TRAININGS_PER_S_GOAL = 70
CHAIN_SECONDS_GOAL = 1.0
NO_NODE_NOTE = (
    "trainings per second need a node that mines on request: pass --anvil (or --rpc-url "
    "of an anvil node)"
)


@dataclass(frozen=True)
class TrainingBenchReport:
    """Everything ``mercato bench training`` measured in one run."""

    backend: str
    flow: FlowReport
    waves: WaveReport | None = None
    federated: FederatedAccuracy | None = None
    ckks: CkksAccuracy | None = None
    notes: tuple[str, ...] = field(default=())

    @property
    def chain_seconds_per_training(self) -> float:
        """Wall time of the flow's protocol transactions, each waited for."""
        return sum(step.seconds for step in self.flow.protocol_steps())

    def goals(self) -> dict[str, bool | None]:
        """The issue's goals: met, missed, or not measured (None)."""
        return {
            "trainings_per_s_at_least_70": (
                None if self.waves is None else self.waves.trainings_per_s >= TRAININGS_PER_S_GOAL
            ),
            "trainings_per_s_at_least_70_registered_members": (
                None
                if self.waves is None
                else self.waves.trainings_per_s_registered >= TRAININGS_PER_S_GOAL
            ),
            "chain_seconds_per_training_under_1": (
                self.chain_seconds_per_training < CHAIN_SECONDS_GOAL
            ),
            "federated_within_2_points": (
                None if self.federated is None else self.federated.gap <= FEDERATED_GAP_GOAL
            ),
            "ckks_within_3_points": (
                None if self.ckks is None else abs(self.ckks.gap) <= CKKS_GAP_GOAL
            ),
        }

    def as_dict(self) -> dict[str, Any]:
        protocol = self.flow.protocol_steps()
        waves, federated, ckks = self.waves, self.federated, self.ckks
        return {
            "backend": self.backend,
            "tx_per_training": len(protocol),
            "tx_per_training_with_withdrawals": self.flow.transactions,
            "chain_seconds_per_training": round(self.chain_seconds_per_training, 4),
            "chain_seconds_with_withdrawals": round(self.flow.seconds, 4),
            "gas_per_training": sum(step.gas for step in protocol),
            "trainings_per_s": None if waves is None else round(waves.trainings_per_s, 1),
            "trainings_per_s_registered_members": (
                None if waves is None else round(waves.trainings_per_s_registered, 1)
            ),
            "tx_per_s": None if waves is None else round(waves.tx_per_s, 1),
            "throughput_backend": None if waves is None else "rpc",
            "federated_accuracy": None if federated is None else round(federated.federated, 4),
            "centralised_accuracy": None if federated is None else round(federated.centralised, 4),
            "ckks_accuracy": None if ckks is None else round(ckks.ckks, 4),
            "plaintext_lr_accuracy": None if ckks is None else round(ckks.plaintext, 4),
            "ckks_overhead": None if ckks is None else round(ckks.overhead),
            "paper": {
                "tx_per_training": PAPER_TRANSACTIONS,
                "chain_seconds_per_training": PAPER_CHAIN_SECONDS,
                "trainings_per_s": list(PAPER_TRAININGS_PER_S),
                "tx_per_s": PAPER_TX_PER_S,
                "network": "Hyperledger Fabric, 4 peers on 32-core servers",
            },
            "goals": self.goals(),
            "flow": [
                {"step": s.name, "role": s.role, "gas": s.gas, "seconds": round(s.seconds, 4)}
                for s in self.flow.steps
            ],
            "throughput": None if waves is None else waves.as_dict(),
            "federated": None if federated is None else federated.as_dict(),
            "ckks": None if ckks is None else ckks.as_dict(),
            "notes": list(self.notes),
        }


def run_training_bench(
    rpc_url: str | None = None,
    trainings: int = DEFAULT_TRAININGS,
    *,
    accuracy: bool = True,
    start: StartPhase | None = None,
) -> TrainingBenchReport:
    """Measure the flow on the node at ``rpc_url`` (else embedded), waves if on a node, and
    (unless not ``accuracy``) the accuracy of federated and CKKS training."""
    phase = phases(start)
    waves: WaveReport | None = None
    notes: list[str] = []
    with chain_at(rpc_url) as chain:
        advance = phase("paper flow, one tx at a time", 1)
        if isinstance(chain, RpcChain):
            with automine(chain, True):  # the flow waits for each receipt
                flow = timed_flow(chain)
            advance(1)
            waves = measure_waves(
                chain, trainings, phase(f"{trainings} trainings in waves", len(STEPS))
            )
        else:
            flow = timed_flow(chain)
            advance(1)
            notes.append(NO_NODE_NOTE)
    federated = ckks = None
    if accuracy:
        advance = phase("federated vs centralised", 1)
        federated = federated_accuracy()
        advance(1)
        advance = phase("CKKS vs plaintext", 1)
        ckks = ckks_accuracy()
        advance(1)
    else:
        notes.append(ACCURACY_SKIPPED_NOTE)
    backend = "embedded" if rpc_url is None else "rpc"
    return TrainingBenchReport(backend, flow, waves, federated, ckks, tuple(notes))
