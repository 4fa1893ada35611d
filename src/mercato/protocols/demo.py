"""One harness for every protocol's demo: what ``mercato demo`` runs, part by part.

Each protocol's ``scenario`` module keeps only what is its own (its cast, its data, its flow
and its report) and exports ``DEMO``, a :class:`DemoPart` its unit names
(``demo="mercato.protocols.<p>.scenario:DEMO"``). What every demo does is done here once, by
:class:`Demo`: deploy a market on a chain, register the cast with its roles and stakes, give
each participant an agent store and an agent, run the agents until none has anything left to
do, and tally what each withdrew.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Self, TypeVar

from mercato.agents.agent import Agent
from mercato.agents.runner import Runner, RunReport
from mercato.agents.store import AgentStore
from mercato.chain.recording import RecordingChain
from mercato.errors import ProtocolError
from mercato.protocols.catalog import unit
from mercato.protocols.deployment import deploy
from mercato.protocols.identity import Identity
from mercato.protocols.marketplace import Marketplace
from mercato.protocols.roles import Role
from mercato.user_files import secret_folder

if TYPE_CHECKING:
    from mercato.chain.base import Chain
    from mercato.protocols.wrapper import ContractWrapper
    from mercato.storage.base import BlobStore

ReportT = TypeVar("ReportT")
MAX_AGENT_ROUNDS = 500
"""Rounds of the agents a demo allows before it reports them still busy."""


def report_fields(report: Any) -> dict[str, object]:
    """A dataclass report as JSON-able data, without its backend (the document names it once)."""
    return {name: value for name, value in asdict(report).items() if name != "backend"}


@dataclass(frozen=True)
class DemoPart(Generic[ReportT]):
    """One protocol's part of ``mercato demo``, as its scenario module declares it (``DEMO``)."""

    key: str
    """Its unit's key: ``mercato demo --only KEY`` runs this part alone."""
    running: str
    """What the command says while it runs (``the procurement auction``)."""
    run: Callable[[Chain, BlobStore, Path], ReportT]
    """Deploys on the chain, runs the flow (agents keep ``work_dir``) and reports what happened."""
    text: str
    """``module:function`` that prints the report for people (a CLI module: rendering is the
    CLI's, and the rich tables load only when printed)."""
    json: Callable[[ReportT], dict[str, object]] = report_fields
    """The report as JSON-able data, for ``mercato demo --json``."""
    json_at_top: bool = False
    """Whether ``--json`` puts its fields at the top level instead of under its key (P1's, as
    since the first demo)."""


@dataclass(frozen=True)
class Member:
    """One participant of a demo's cast: its name and what the registry holds for it."""

    name: str
    roles: Role
    stake: int = 0


DEPLOYMENT_FILE = "deployment.json"
"""The file, in a demo's work folder, that names the market it deployed."""


class Demo:
    """A market deployed for one demo, its cast registered, an agent store and agent each.

    A protocol's demo subclasses it: it names its ``protocol``, keeps its own data, says how a
    participant's agent is attached (:meth:`attach`) and drives the flow with
    :meth:`run_agents`. Use it as a context manager (the agent stores close at the end).
    """

    protocol: ClassVar[str]
    """The unit's key: whose contract the agents follow."""
    max_rounds: ClassVar[int] = MAX_AGENT_ROUNDS

    def __init__(
        self, chain: Chain, store: BlobStore, work_dir: Path, cast: Sequence[Member]
    ) -> None:
        """Deploy on ``chain`` (the deployment saved in ``work_dir`` as :data:`DEPLOYMENT_FILE`),
        register ``cast`` (development accounts 1, 2, ... in its order) and open each member's
        agent store in ``work_dir``; no agent yet (:meth:`start_agents`)."""
        self.recording = RecordingChain(chain)
        deployer = chain.dev_accounts(1)[0]
        self.market = Marketplace(self.recording, deploy(self.recording, deployer), store)
        accounts = chain.dev_accounts(1 + len(cast))[1:]
        self.identities = {m.name: Identity(a) for m, a in zip(cast, accounts, strict=True)}
        for member in cast:
            self.market.registry.register(
                self.identities[member.name], member.roles, stake=member.stake
            )
        secret_folder(work_dir, "demo's work folder")  # the agents' stores hold their keys
        # as `mercato deploy` saves it: the market can be read after the demo (demo --serve)
        self.market.deployment.save(work_dir / DEPLOYMENT_FILE)
        self.stores = {m.name: AgentStore(work_dir / f"{m.name}.sqlite") for m in cast}
        self.agents: dict[str, Agent] = {}

    @property
    def wrapper(self) -> ContractWrapper:
        """The contract of the demo's protocol."""
        return self.market.wrapper(unit(self.protocol).field)

    @property
    def names(self) -> dict[str, str]:
        """Each member's name by its address."""
        return {identity.address: name for name, identity in self.identities.items()}

    @property
    def runner(self) -> Runner:
        return Runner(list(self.agents.values()))

    def attach(self, agent: Agent, name: str) -> None:
        """Register the handlers of participant ``name`` on its new agent."""
        raise NotImplementedError

    def make_agent(self, name: str) -> Agent:
        """(Re)create the agent of participant ``name`` over its persisted store."""
        agent = Agent(
            name,
            self.recording,
            [self.wrapper.contract],
            self.stores[name],
            start_block=self.market.deployment.block,
        )
        self.attach(agent, name)
        self.agents[name] = agent
        return agent

    def start_agents(self) -> None:
        """An agent for every member of the cast, in its order."""
        for name in self.stores:
            self.make_agent(name)

    def run_agents(self) -> RunReport:
        """Step the agents round-robin until none has anything left to do."""
        return self.runner.run_until_idle(self.max_rounds)

    def expect(self, item_id: int, state: str) -> None:
        """ProtocolError unless the demo's entry ``item_id`` ended in ``state``."""
        found = self.wrapper.state(item_id)
        if found != state:
            raise ProtocolError(f"the demo {self.wrapper.ITEM} ended {found}, not {state}")

    def withdrawn(self) -> dict[str, int]:
        """What each participant withdrew from the protocol's contract, in order of first pay."""
        names, tally = self.names, dict[str, int]()
        deployed = self.market.deployment.block
        for event in self.wrapper.events("Withdrawn", from_block=deployed):
            who = names.get(event["account"], event["account"])
            tally[who] = tally.get(who, 0) + int(event["amount"])
        return tally

    @property
    def transactions(self) -> int:
        """How many transactions the demo sent, its deployment included."""
        return len(self.recording.records)

    def close(self) -> None:
        for agent_store in self.stores.values():
            agent_store.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
