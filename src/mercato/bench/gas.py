"""Gas of SAIaaS's Table 1 scenario on our contracts, beside the paper's figures.

The scenario (SAIaaS section 3.2): the marketplace is deployed; a client opens one auction;
six providers, two per category, bid nine times (one first bid per category, the other
provider of each category undercuts it, the first ones bid again and win); the client
adjudicates. Gas comes from the receipts of the chain the scenario runs on.

The paper's scenario total (3,180,058) is its creation, nine bids and adjudication; the
Table's rows add up to it only one way: one "first bid of contract", two "first bid of
user" and six "modify existing bid" — the first bid of each category, then six rewrites of
a category's best bid. Each of our bids is printed beside the paper row it corresponds to.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from mercato.bench.common import MAX_PRICE, Cast, open_auction
from mercato.chain.base import Chain
from mercato.chain.recording import RecordingChain
from mercato.ontology.category import Category
from mercato.protocols.auction.house import AuctionHouse
from mercato.protocols.deployment import deploy
from mercato.protocols.identity import Identity
from mercato.protocols.registry import Registry

SCENARIO = "saiaas"

# SAIaaS Table 1 (gas), measured on Ethereum in March 2021 with a contract that holds no money.
PAPER_FACTORY_DEPLOYMENT = 2_344_498
PAPER_AUCTION_CREATION = 1_760_105
PAPER_FIRST_BID_OF_CONTRACT = 237_518
PAPER_FIRST_BID_OF_USER = 207_829
PAPER_MODIFY_BID = 94_747
PAPER_ADJUDICATION = 198_295
PAPER_SCENARIO_TOTAL = 3_180_058

# Our targets (not asserted by the command; the test suite holds the contracts to them).
TARGET_TOTAL = 600_000
TARGET_CREATION = 150_000
TARGET_FIRST_BID = 80_000
TARGET_MODIFY_BID = 40_000
TARGET_ADJUDICATION = 80_000

FIRST_BID = 90 * MAX_PRICE // 100
UNDERCUT_BID = 80 * MAX_PRICE // 100
WINNING_BID = 70 * MAX_PRICE // 100

ESCROW_NOTE = (
    "our auction house locks the client's reserve (the sum of the three maximum prices) in "
    "escrow at creation and refunds the unspent part at adjudication; the paper's contracts "
    "hold no money, so its figures include no escrow"
)
TOTAL_COVERS_NOTE = "auction creation, the nine bids and adjudication (as the paper counts it)"


@dataclass(frozen=True)
class Operation:
    """One transaction of the scenario and the figure the paper gives for it."""

    name: str
    gas: int
    paper_gas: int | None = None
    paper_operation: str | None = None
    """The row of Table 1 that ``paper_gas`` comes from."""
    target: int | None = None
    in_total: bool = False
    """Counted in the scenario total (as the paper counts it)."""

    def as_dict(self) -> dict[str, Any]:
        """Every field but ``in_total`` (the report lists what the total covers)."""
        return {name: value for name, value in asdict(self).items() if name != "in_total"}


@dataclass(frozen=True)
class GasReport:
    """The gas of every transaction of the scenario on one backend."""

    backend: str
    operations: tuple[Operation, ...]
    scenario: str = SCENARIO

    @property
    def total_gas(self) -> int:
        return sum(op.gas for op in self.operations if op.in_total)

    @property
    def total_covers(self) -> list[str]:
        return [op.name for op in self.operations if op.in_total]

    @property
    def paper_total_gas(self) -> int:
        return sum(op.paper_gas or 0 for op in self.operations if op.in_total)

    def gas(self, name: str) -> int:
        """Gas of the operation called ``name``."""
        for op in self.operations:
            if op.name == name:
                return op.gas
        raise KeyError(f"the scenario has no operation named {name!r}")

    def as_dict(self) -> dict[str, Any]:
        """The machine-readable report that ``mercato bench gas --json`` prints."""
        return {
            "scenario": self.scenario,
            "backend": self.backend,
            "total_gas": self.total_gas,
            "total_covers": self.total_covers,
            "total_covers_note": TOTAL_COVERS_NOTE,
            "paper_total_gas": self.paper_total_gas,
            "total_target": TARGET_TOTAL,
            "escrow": ESCROW_NOTE,
            "operations": [op.as_dict() for op in self.operations],
        }


def run_saiaas(chain: Chain) -> GasReport:
    """Run SAIaaS's Table 1 scenario on a fresh deployment on ``chain``; gas from receipts."""
    cast = Cast.of(chain)
    ops: list[Operation] = []

    recording = RecordingChain(chain)
    deployment = deploy(recording, cast.deployer)  # type: ignore[arg-type]  # a Chain by delegation
    registry_deploy, house_deploy = (r.gas_used for r in recording.records[:2])
    ops.append(Operation("deploy:registry", registry_deploy))
    ops.append(
        Operation(
            "deploy:auction_house",
            house_deploy,
            PAPER_FACTORY_DEPLOYMENT,
            "Factory deployment",
        )
    )

    registry = Registry(chain, deployment.registry)
    house = AuctionHouse(chain, deployment.auction_house)

    for name, account, role in cast.members():
        registered = registry.register(Identity(account), role)
        ops.append(Operation(f"register:{name}", registered.gas_used))

    auction_id, created = open_auction(house, cast)
    ops.append(
        Operation(
            "create_auction",
            created.gas_used,
            PAPER_AUCTION_CREATION,
            "Auction creation",
            TARGET_CREATION,
            in_total=True,
        )
    )

    first_of_contract = (PAPER_FIRST_BID_OF_CONTRACT, "First bid of contract")
    first_of_user = (PAPER_FIRST_BID_OF_USER, "First bid of user")
    modify = (PAPER_MODIFY_BID, "Modify existing bid")
    rounds = (
        ("first_bid", 0, FIRST_BID),  # one provider per category opens it
        ("modify_bid:undercut", 1, UNDERCUT_BID),  # the other provider undercuts
        ("modify_bid:rebid", 0, WINNING_BID),  # the first one bids again and wins
    )
    for step, (kind, index, amount) in enumerate(rounds):
        for category in Category:
            if step > 0:
                (paper, paper_row), target = modify, TARGET_MODIFY_BID
            elif category == Category.DATA:
                (paper, paper_row), target = first_of_contract, TARGET_FIRST_BID
            else:
                (paper, paper_row), target = first_of_user, TARGET_FIRST_BID
            result = house.bid(cast.providers[category][index], auction_id, category, amount)
            name = f"{kind}:{category.label}"
            ops.append(Operation(name, result.gas_used, paper, paper_row, target, in_total=True))

    adjudicated = house.adjudicate(cast.client, auction_id)
    ops.append(
        Operation(
            "adjudicate",
            adjudicated.gas_used,
            PAPER_ADJUDICATION,
            "Adjudication",
            TARGET_ADJUDICATION,
            in_total=True,
        )
    )
    return GasReport(chain.backend, tuple(ops))
