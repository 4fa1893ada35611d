"""What a chaos run sets up for each protocol: its cast, its agents and its one market.

A :class:`Scenario` registers its participants, opens one market (an auction, a training,
...) and names what the checks need that the protocol alone knows: how much of an entry the
contract still locks, what each party must have been credited once it ended, and which of
its functions a participant sends at most once per entry (a second successful one is a
handler's effect happening twice).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mercato.protocols.marketplace import Marketplace
from mercato.protocols.roles import Role

Commands = Callable[..., Any]
"""Runs ``mercato ARGS --json`` as the participants do (same node, store and agents' folder)
and returns its JSON; a scenario opens its market with it where the Python API would
repeat what a command already does."""

ETHER = 10**18
AUCTION_DURATION_S = 12
"""Seconds of bidding: long enough for every provider's agent to bid once."""


@dataclass(frozen=True)
class AgentSpec:
    """One participant's agent: ``mercato agent run --account N ARGS``, started before the
    market opens."""

    name: str
    account: int
    args: tuple[str, ...]

    def command(self) -> tuple[str, ...]:
        return (*self.args, "--account", str(self.account))


ENTRY = "{entry}"
"""Stands in a :class:`ServiceSpec`'s arguments for the id of the market opened."""


@dataclass(frozen=True)
class ServiceSpec(AgentSpec):
    """A participant's service that runs its agent itself for one market: ``mercato ARGS
    --account N`` (``orchestrator serve --api {entry}``), started once the market is open,
    with :data:`ENTRY` in ARGS replaced by its id; killed and restarted as any agent."""

    def command_for(self, entry: int) -> tuple[str, ...]:
        """The whole command for the market ``entry``."""
        return tuple(arg.replace(ENTRY, str(entry)) for arg in self.command())


@dataclass(frozen=True)
class Scenario:
    """One protocol's market under chaos."""

    protocol: str
    """The catalog key (``auction``)."""
    registrations: tuple[tuple[int, Role], ...]
    """(development account, roles) of every participant."""
    agents: tuple[AgentSpec, ...]
    open_market: Callable[[Marketplace, Commands], int]
    """Open the market once every agent runs; its entry's id."""
    locked: Callable[[Marketplace, int], int]
    """Wei the contract still locks for the entry."""
    credits: Callable[[Marketplace, int], dict[str, int]] | None
    """Wei each party must have been credited in all once the entry ended (its rules);
    None where the protocol's auditor (which must exist then) recomputes the payments."""
    one_shot: frozenset[str]
    """Functions a participant sends at most once per entry (keyed by their integer
    arguments: ``hand_over(auction, category, ...)`` once per auction and category)."""
    traffic: Callable[[Commands, int], None] | None = None
    """What the market's users do while it runs, beside the agents (an API's consumer's
    calls): run in a thread of the harness once the market is open and its services
    started; it survives the faults (a failed command is its own business)."""

    @property
    def early(self) -> tuple[AgentSpec, ...]:
        """The agents started before the market opens (``mercato agent run``)."""
        return tuple(a for a in self.agents if not isinstance(a, ServiceSpec))

    @property
    def services(self) -> tuple[ServiceSpec, ...]:
        """The services started once the market is open."""
        return tuple(a for a in self.agents if isinstance(a, ServiceSpec))


# P1: the procurement auction -------------------------------------------------------------
CLIENT, ARBITER, DATA, MODEL, COMPUTE = 1, 2, 3, 4, 5


def _open_auction(market: Marketplace, commands: Commands) -> int:
    from mercato.chain.accounts import dev_account
    from mercato.ontology.requirements import Requirements
    from mercato.protocols.auction.client import open_auction
    from mercato.protocols.identity import Identity

    requirements = Requirements(
        data="mc:LabelledImages",
        algorithm="mc:ClassificationAlgorithm",
        infrastructure="mc:AttestedCompute",
        task="classify 8x8 handwritten digits",
        metric="accuracy",
        minimum=0.9,
    )
    return open_auction(
        market,
        Identity(dev_account(CLIENT)),
        requirements,
        max_prices=(ETHER, ETHER, ETHER),
        duration=AUCTION_DURATION_S,
        arbiter=dev_account(ARBITER).address,
    )


def _auction_locked(market: Marketplace, auction_id: int) -> int:
    return market.auction_house.auction(auction_id).locked


def _auction_credits(market: Marketplace, auction_id: int) -> dict[str, int]:
    """The client gets back the reserve less what it paid; each paid winner its bid."""
    auction = market.auction_house.auction(auction_id)
    credits = {auction.client: 0}
    paid = 0
    for category in auction.paid:
        bidder, amount = auction.best(category)
        if bidder is not None:
            credits[bidder] = credits.get(bidder, 0) + amount
            paid += amount
    credits[auction.client] += auction.reserve - paid
    return credits


AUCTION = Scenario(
    protocol="auction",
    registrations=(
        (CLIENT, Role.CLIENT),
        (ARBITER, Role.ARBITER),
        (DATA, Role.DATA_OWNER),
        (MODEL, Role.MODEL_OWNER),
        (COMPUTE, Role.COMPUTE_PROVIDER),
    ),
    agents=(
        AgentSpec("client", CLIENT, ("--role", "client", "--eval-dataset", "digits")),
        AgentSpec("arbiter", ARBITER, ("--role", "arbiter")),
        AgentSpec(
            "data",
            DATA,
            ("--role", "provider", "--category", "data", "--dataset", "digits", "--floor", "0.3"),
        ),
        AgentSpec(
            "algorithm",
            MODEL,
            (
                "--role",
                "provider",
                "--category",
                "algorithm",
                "--algorithm",
                "logistic_regression",
                "--floor",
                "0.2",
            ),
        ),
        AgentSpec(
            "compute",
            COMPUTE,
            ("--role", "provider", "--category", "infrastructure", "--floor", "0.3"),
        ),
    ),
    open_market=_open_auction,
    locked=_auction_locked,
    credits=_auction_credits,
    one_shot=frozenset(
        {"adjudicate", "hand_over", "deliver", "confirm", "reject", "arbitrate", "claim"}
    ),
)

# P2: collaborative training -------------------------------------------------------------
DATA_OWNER, MODEL_OWNER, COMPUTES = 6, 7, (8, 9, 10)


def _open_training(market: Marketplace, commands: Commands) -> int:
    """Digits in 2 subsets x 2 replicas over three compute providers; 2 rounds of 1 subset."""
    from mercato.chain.accounts import dev_account

    providers = [arg for i in COMPUTES for arg in ("--compute-provider", dev_account(i).address)]
    offered = commands(
        "training", "dataset", "offer", "--dataset", "digits", "--subsets", "2",
        "--replicas", "2", *providers, "--data-price", "0.1", "--job-price", "0.01",
        "--account", str(DATA_OWNER),
    )  # fmt: skip
    model = commands(
        "training", "model", "--trainer", "numpy-logreg", "--dataset-name", "digits",
        "--epochs", "1", "--learning-rate", "0.01", "--batch-size", "32",
        "--account", str(MODEL_OWNER),
    )  # fmt: skip
    requested = commands(
        "training", "request", "--model", str(model["id"]), "--dataset", str(offered["id"]),
        "--subsets-per-round", "1", "--rounds", "2", "--account", str(MODEL_OWNER),
    )  # fmt: skip
    return int(requested["id"])


def _training_locked(market: Marketplace, training_id: int) -> int:
    return int(market.training_market.training(training_id).locked)


TRAINING = Scenario(
    protocol="training",
    registrations=(
        (DATA_OWNER, Role.DATA_OWNER),
        (MODEL_OWNER, Role.MODEL_OWNER),
        *((i, Role.COMPUTE_PROVIDER) for i in COMPUTES),
    ),
    agents=(
        AgentSpec("data-owner", DATA_OWNER, ("--role", "data-owner")),
        AgentSpec("model-owner", MODEL_OWNER, ("--role", "model-owner", "--dataset", "digits")),
        *(AgentSpec(f"compute-{i}", i, ("--role", "compute-provider")) for i in COMPUTES),
    ),
    open_market=_open_training,
    locked=_training_locked,
    credits=None,
    one_shot=frozenset({"approve_training", "join_instance", "verify_instance", "complete"}),
)

# P3: the secure data market -------------------------------------------------------------
MARKET_MODEL_OWNER, MARKET_DATA_OWNERS = 11, (12, 13, 14, 15)


def _open_task(market: Marketplace, commands: Commands) -> int:
    """One robust round for 4 data owners, with short periods so a dead agent only delays."""
    posted = commands(
        "datamarket", "post", "--dataset", "digits", "--data-owners",
        str(len(MARKET_DATA_OWNERS)), "--rounds", "1", "--mode", "robust", "--rule", "median",
        "--max-excluded", "0", "--reward", "0.04", "--join-period", "20",
        "--phase-period", "20", "--aggregate-period", "30", "--account", str(MARKET_MODEL_OWNER),
    )  # fmt: skip
    return int(posted["id"])


def _task_locked(market: Marketplace, task_id: int) -> int:
    return int(market.data_market.task(task_id).locked)


DATAMARKET = Scenario(
    protocol="datamarket",
    registrations=(
        (MARKET_MODEL_OWNER, Role.MODEL_OWNER),
        *((i, Role.DATA_OWNER) for i in MARKET_DATA_OWNERS),
    ),
    agents=(
        AgentSpec(
            "model-owner",
            MARKET_MODEL_OWNER,
            ("--role", "market-model-owner", "--dataset", "digits"),
        ),
        *(
            AgentSpec(
                f"data-owner-{part}",
                account,
                (
                    "--role",
                    "market-data-owner",
                    "--dataset",
                    "digits",
                    "--data-owners",
                    str(len(MARKET_DATA_OWNERS)),
                    "--part",
                    str(part),
                ),
            )
            for part, account in enumerate(MARKET_DATA_OWNERS)
        ),
    ),
    open_market=_open_task,
    locked=_task_locked,
    credits=None,
    one_shot=frozenset({"join", "post_keys", "post_shares", "submit", "reveal", "claim"}),
)

# P4 and P5 live in their own module, which builds on the types above
from mercato.chaos.scenarios_models import APIMARKET, MODELMARKET  # noqa: E402

SCENARIOS: dict[str, Scenario] = {
    s.protocol: s for s in (AUCTION, TRAINING, DATAMARKET, MODELMARKET, APIMARKET)
}
"""Every protocol a chaos run covers, by catalog key."""
