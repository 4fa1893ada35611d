"""The whole P3 flow with one agent per participant: what ``mercato demo`` runs third.

A model owner holds a small slice of scikit-learn's handwritten digits. It trains a neural
network on it, publishes the hidden layers and a training head (the public part), keeps its
own head, and posts a robust-mode task for 10 data owners and a few rounds with the reward
in escrow. Ten data owners hold non-IID slices (a few digits each); two of them poison their
updates. Each round the data owners train locally and seal their updates to the model owner,
whose Multi-Krum scores and exclusions go on chain; the excluded DOs' pay goes to the kept
ones. At the end the model owner fine-tunes its private head on its own slice, and everyone
withdraws what it earned.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from mercato.agents.agent import Agent
from mercato.chain.base import Chain
from mercato.errors import ProtocolError
from mercato.ml.federated_sim import market_data
from mercato.ml.model_parts import PartedMLP
from mercato.ml.poison import Poisoner
from mercato.protocols.datamarket import agents, model_owner
from mercato.protocols.datamarket.data_owner import Contribution
from mercato.protocols.datamarket.documents import TaskSpec
from mercato.protocols.datamarket.market import SCORE_SCALE, Mode, members_of
from mercato.protocols.datamarket.model_owner import TaskTerms
from mercato.protocols.datamarket.rules import task_bound
from mercato.protocols.demo import Demo, DemoPart, Member
from mercato.protocols.roles import Role
from mercato.storage.base import BlobStore

ETHER = 10**18
DATA_OWNERS = 10
ROUNDS = 6
REWARD = DATA_OWNERS * ROUNDS * ETHER // 100
MAX_EXCLUDED = 2
RULE = "multikrum"
LOCAL_EPOCHS = 2
SEED = 7
MO_NAME = "model-owner"
DO_NAMES = tuple(f"data-owner-{i}" for i in range(1, DATA_OWNERS + 1))
POISONERS = {"data-owner-4": Poisoner("scale"), "data-owner-9": Poisoner("noise")}
MAX_AGENT_ROUNDS = 200
CAST = (
    Member(MO_NAME, Role.MODEL_OWNER),
    *(Member(name, Role.DATA_OWNER) for name in DO_NAMES),
)


@dataclass(frozen=True)
class Attack:
    """Who poisons its updates, and the rule the model owner aggregates them with."""

    poisoners: Mapping[str, Poisoner] = field(default_factory=lambda: dict(POISONERS))
    rule: str = RULE


ATTACK = Attack()
"""The demo's: two poisoners (scale and noise) against Multi-Krum."""


@dataclass(frozen=True)
class MarketRound:
    """One finalised round as the chain recorded it."""

    round: int
    used: list[str]
    excluded: list[str]
    scores: dict[str, float]
    paid_each: int


@dataclass
class DataMarketReport:
    """What the P3 demo did, for printing."""

    backend: str
    task_id: int = 0
    status: str = ""
    mode: str = ""
    rule: str = ""
    poisoners: dict[str, str] = field(default_factory=dict)
    accuracy_before: float = 0.0
    accuracy_after: float = 0.0
    rounds: list[MarketRound] = field(default_factory=list)
    reward: int = 0
    withdrawn: dict[str, int] = field(default_factory=dict)
    transactions: int = 0
    seconds: float = 0.0


class DataMarketDemo(Demo):
    """The P3 cast on a fresh market, the digits split among them, one agent each."""

    protocol = "datamarket"
    max_rounds = MAX_AGENT_ROUNDS

    def __init__(
        self, chain: Chain, store: BlobStore, work_dir: Path, attack: Attack = ATTACK
    ) -> None:
        """Deploy, register the cast, split the data and create every agent."""
        super().__init__(chain, store, work_dir, CAST)
        self.attack = attack
        self.data = market_data("digits", DATA_OWNERS, seed=SEED)
        data = self.data
        n_classes = int(max(int(data.test.y.max()), *(int(p.y.max()) for p in data.parts))) + 1
        model = PartedMLP(int(data.mo.X.shape[1]), n_classes)
        self.spec = TaskSpec(
            data_classes=(data.mo.ontology_class,),
            model=dict(model.spec()),
            local_epochs=LOCAL_EPOCHS,
            seed=SEED,
            rule=attack.rule,
        )
        self.contributions = {
            name: Contribution(part, attack.poisoners.get(name))
            for name, part in zip(DO_NAMES, data.parts, strict=True)
        }
        self.start_agents()

    def attach(self, agent: Agent, name: str) -> None:
        market, me = self.market, self.identities[name]
        if name == MO_NAME:
            agents.attach_model_owner(agent, market, me, self.data.mo, self.data.test)
        else:
            agents.attach_data_owner(agent, market, me, self.contributions[name])


def run_datamarket_demo(
    chain: Chain, store: BlobStore, work_dir: Path, attack: Attack = ATTACK
) -> DataMarketReport:
    """Run the P3 flow on ``chain`` and return what happened."""
    started = time.perf_counter()
    with DataMarketDemo(chain, store, work_dir, attack) as demo:
        before = model_owner.pretrain(demo.spec, demo.data.mo)
        model = demo.spec.build_model()
        mode = Mode.ROBUST if demo.spec.robust else Mode.SECURE
        excluded = MAX_EXCLUDED if mode is Mode.ROBUST else None
        task_id = model_owner.post_task(
            demo.market,
            demo.identities[MO_NAME],
            demo.spec,
            before,
            TaskTerms(
                data_owners=DATA_OWNERS,
                rounds=ROUNDS,
                mode=mode,
                bound=task_bound(mode, DATA_OWNERS, excluded=excluded),
                reward=REWARD,
            ),
        )
        agents.follow_task(demo.agents[MO_NAME].context, task_id, before)
        demo.run_agents()  # join, rounds, fine-tuning, payments
        accuracy_after = demo.stores[MO_NAME].get(MO_NAME, f"{agents.ACCURACY_KEY}{task_id}")
    demo.expect(task_id, "finished")
    if accuracy_after is None:
        raise ProtocolError("the demo task finished but its model owner recorded no accuracy")
    task = demo.market.data_market.task(task_id)
    report = DataMarketReport(
        backend=demo.recording.backend,
        task_id=task_id,
        status=task.status.label,
        mode=task.mode.label,
        rule=demo.spec.rule,
        poisoners={name: p.kind for name, p in attack.poisoners.items()},
        accuracy_before=model.accuracy(before.public, before.private, demo.data.test),
        accuracy_after=float(accuracy_after),  # type: ignore[arg-type]
        reward=task.reward,
    )
    _fill_report(report, demo, task_id)
    report.seconds = time.perf_counter() - started
    return report


def _fill_report(report: DataMarketReport, demo: DataMarketDemo, task_id: int) -> None:
    dm, names = demo.market.data_market, demo.names
    members = [names[a] for a in dm.members(task_id)]
    for event in dm.events("RoundFinalised", task_id=task_id):
        used = [members[i] for i in members_of(int(event["used"]))]
        submitters = sorted(members_of(int(event["used"]) | int(event["excluded"])))
        report.rounds.append(
            MarketRound(
                round=int(event["round"]),
                used=used,
                excluded=[members[i] for i in members_of(int(event["excluded"]))],
                scores={
                    members[i]: s / SCORE_SCALE
                    for i, s in zip(submitters, event["scores"], strict=False)
                },
                paid_each=int(event["paid_each"]),
            )
        )
    report.withdrawn = demo.withdrawn()
    report.transactions = demo.transactions


DEMO = DemoPart(
    key="datamarket",
    running="the data market",
    run=run_datamarket_demo,
    text="mercato.cli.demo_datamarket:print_report",
)
