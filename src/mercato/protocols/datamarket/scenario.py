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
from dataclasses import dataclass, field
from pathlib import Path

from mercato.agents.agent import Agent
from mercato.agents.runner import Runner
from mercato.agents.store import AgentStore
from mercato.chain.base import Chain
from mercato.chain.recording import RecordingChain
from mercato.errors import ProtocolError
from mercato.ml.federated_sim import MarketData, market_data
from mercato.ml.model_parts import PartedMLP
from mercato.ml.poison import Poisoner
from mercato.protocols.datamarket import agents, model_owner
from mercato.protocols.datamarket.data_owner import Contribution
from mercato.protocols.datamarket.documents import TaskSpec
from mercato.protocols.datamarket.market import SCORE_SCALE, Mode, TaskStatus, members_of
from mercato.protocols.datamarket.model_owner import TaskTerms
from mercato.protocols.deployment import deploy
from mercato.protocols.identity import Identity
from mercato.protocols.marketplace import Marketplace
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
    withdrawn: dict[str, int] = field(default_factory=dict)
    reward: int = 0
    transactions: int = 0
    seconds: float = 0.0


@dataclass
class DataMarketDemo:
    """A deployed market with the P3 cast registered and one agent each, ready to run."""

    market: Marketplace
    recording: RecordingChain
    people: dict[str, Identity]
    stores: dict[str, AgentStore]
    data: MarketData
    spec: TaskSpec
    contributions: dict[str, Contribution]
    agents: dict[str, Agent] = field(default_factory=dict)

    @property
    def runner(self) -> Runner:
        return Runner(list(self.agents.values()))

    def make_agent(self, name: str) -> Agent:
        """(Re)create the agent of participant ``name`` over its persisted store."""
        market, me = self.market, self.people[name]
        agent = Agent(
            name,
            self.recording,
            [market.data_market.contract],
            self.stores[name],
            start_block=market.deployment.block,
        )
        if name == MO_NAME:
            agents.attach_model_owner(agent, market, me, self.data.mo, self.data.test)
        else:
            agents.attach_data_owner(agent, market, me, self.contributions[name])
        self.agents[name] = agent
        return agent

    def close(self) -> None:
        for agent_store in self.stores.values():
            agent_store.close()


def build_datamarket_demo(
    chain: Chain,
    store: BlobStore,
    work_dir: Path,
    poisoners: dict[str, Poisoner] | None = None,
    rule: str = RULE,
) -> DataMarketDemo:
    """Deploy, register the cast, split the data and create every agent."""
    poisoners = POISONERS if poisoners is None else poisoners
    recording = RecordingChain(chain)
    deployer = chain.dev_accounts(1)[0]
    market = Marketplace(recording, deploy(recording, deployer), store)
    accounts = chain.dev_accounts(2 + DATA_OWNERS)[1:]
    people = {MO_NAME: Identity(accounts[0])}
    people.update({name: Identity(a) for name, a in zip(DO_NAMES, accounts[1:], strict=True)})
    market.registry.register(people[MO_NAME], Role.MODEL_OWNER)
    for name in DO_NAMES:
        market.registry.register(people[name], Role.DATA_OWNER)
    data = market_data("digits", DATA_OWNERS, seed=SEED)
    n_classes = int(max(int(data.test.y.max()), *(int(p.y.max()) for p in data.parts))) + 1
    model = PartedMLP(int(data.mo.X.shape[1]), n_classes)
    spec = TaskSpec(
        data_classes=(data.mo.ontology_class,),
        model=dict(model.spec()),
        local_epochs=LOCAL_EPOCHS,
        seed=SEED,
        rule=rule,
    )
    contributions = {
        name: Contribution(part, poisoners.get(name))
        for name, part in zip(DO_NAMES, data.parts, strict=True)
    }
    work_dir.mkdir(parents=True, exist_ok=True)
    stores = {name: AgentStore(work_dir / f"{name}.sqlite") for name in people}
    demo = DataMarketDemo(market, recording, people, stores, data, spec, contributions)
    for name in people:
        demo.make_agent(name)
    return demo


def run_datamarket_demo(
    chain: Chain,
    store: BlobStore,
    work_dir: Path,
    poisoners: dict[str, Poisoner] | None = None,
    rule: str = RULE,
) -> DataMarketReport:
    """Run the P3 flow on ``chain`` and return what happened."""
    started = time.perf_counter()
    demo = build_datamarket_demo(chain, store, work_dir, poisoners, rule)
    market, mo = demo.market, demo.people[MO_NAME]
    try:
        before = model_owner.pretrain(demo.spec, demo.data.mo)
        model = demo.spec.build_model()
        task_id = model_owner.post_task(
            market,
            mo,
            demo.spec,
            before,
            TaskTerms(
                data_owners=DATA_OWNERS,
                rounds=ROUNDS,
                mode=Mode.ROBUST if demo.spec.robust else Mode.SECURE,
                bound=MAX_EXCLUDED if demo.spec.robust else DATA_OWNERS // 2 + 1,
                reward=REWARD,
            ),
        )
        agents.follow_task(demo.agents[MO_NAME].context, task_id, before)
        demo.runner.run_until_idle(MAX_AGENT_ROUNDS)  # join, rounds, fine-tuning, payments
        accuracy_after = demo.stores[MO_NAME].get(MO_NAME, f"{agents.ACCURACY_KEY}{task_id}")
    finally:
        demo.close()
    task = market.data_market.task(task_id)
    if task.status is not TaskStatus.FINISHED or accuracy_after is None:
        raise ProtocolError(f"the demo task ended {task.status.label}, not finished")
    report = DataMarketReport(
        backend=demo.recording.backend,
        task_id=task_id,
        status=task.status.label,
        mode=task.mode.label,
        rule=demo.spec.rule,
        poisoners={name: p.kind for name, p in (poisoners or POISONERS).items()},
        accuracy_before=model.accuracy(before.public, before.private, demo.data.test),
        accuracy_after=float(accuracy_after),  # type: ignore[arg-type]
        reward=task.reward,
    )
    _fill_report(report, demo, task_id)
    report.seconds = time.perf_counter() - started
    return report


def _fill_report(report: DataMarketReport, demo: DataMarketDemo, task_id: int) -> None:
    market = demo.market
    dm = market.data_market
    names = {person.address: name for name, person in demo.people.items()}
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
    for event in dm.contract.events(market.deployment.block, None, "Withdrawn"):
        who = names.get(event["account"], event["account"])
        report.withdrawn[who] = report.withdrawn.get(who, 0) + int(event["amount"])
    report.transactions = len(demo.recording.records)
