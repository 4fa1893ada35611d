"""A freshly deployed marketplace and its cast, with short-hands for the auction-house tests.

The cast: a client, an arbiter, a stranger (registered for nothing) and six providers, two
per category (data owner = category 0, model owner = 1, compute provider = 2).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

from eth_account.signers.local import LocalAccount
from eth_utils import keccak

from mercato.chain.base import Chain
from mercato.chain.contract import Contract, TxResult
from mercato.protocols.auction.house import (  # noqa: F401 (re-exported for the tests)
    MAX_DURATION,
    MAX_PRICE,
    MAX_REFERENCES,
    Status,
)
from mercato.protocols.deployment import Periods, deploy
from mercato.protocols.roles import Role

from ..world import DAY, EXIT_DELAY, HOUR, ProtocolWorld, register_cast

PERIODS = Periods(exit_delay=EXIT_DELAY, delivery=3 * DAY, review=2 * DAY, arbitration=3 * DAY)
BIDDING = HOUR

DATA, ALGORITHM, INFRASTRUCTURE = 0, 1, 2
CATEGORIES = (DATA, ALGORITHM, INFRASTRUCTURE)
CATEGORY_ROLES = (Role.DATA_OWNER, Role.MODEL_OWNER, Role.COMPUTE_PROVIDER)
ALL_CATEGORIES = 0b111


MAX_PRICES = (3 * 10**15, 5 * 10**15, 8 * 10**15)
BIDS = (2 * 10**15, 4 * 10**15, 7 * 10**15)
REQUIREMENTS_HASH = keccak(b"requirements: tabular data, gradient boosting, 16 GB GPU")
MODEL_HASH = keccak(b"sealed model")
REPORT_HASH = keccak(b"signed execution report")
REASON_HASH = keccak(b"the model does not reach the required accuracy")
SEALED_HASH = keccak(b"model sealed to the client")


class AuctionState(NamedTuple):
    """The `auction(id)` view, field by field."""

    client: str
    arbiter: str
    deadline: int
    min_refs: int
    status: int
    paid_mask: int
    requirements_hash: bytes
    max_prices: list[int]
    bidders: list[str]
    bids: list[int]
    model_hash: bytes
    report_hash: bytes


def locked(state: AuctionState) -> int:
    """Money the auction house still holds for an auction in ``state``."""
    if state.status == Status.OPEN:
        return sum(state.max_prices)
    if state.status in (Status.ADJUDICATED, Status.DELIVERED, Status.DISPUTED):
        return sum(state.bids)
    return 0


@dataclass
class World(ProtocolWorld):
    """A deployed registry and auction house, the cast, and short-hands for each step."""

    house: Contract
    client: LocalAccount
    arbiter: LocalAccount
    providers: tuple[tuple[LocalAccount, LocalAccount], ...]

    @property
    def contract(self) -> Contract:
        return self.house

    @property
    def cast(self) -> list[LocalAccount]:
        providers = [provider for pair in self.providers for provider in pair]
        return [self.client, self.arbiter, *providers, self.stranger]

    # reading ------------------------------------------------------------------------------
    def provider(self, category: int, index: int = 0) -> LocalAccount:
        """Provider ``index`` (0 or 1) of ``category``."""
        return self.providers[category][index]

    def winners(self) -> list[LocalAccount]:
        """The first provider of each category, who wins the default bids."""
        return [self.provider(c) for c in CATEGORIES]

    def state(self, auction_id: int) -> AuctionState:
        return AuctionState(*self.house.call("auction", auction_id))

    # steps ----------------------------------------------------------------------------------
    def create(
        self,
        max_prices: Sequence[int] = MAX_PRICES,
        *,
        duration: int = BIDDING,
        min_refs: int = 0,
        sender: LocalAccount | None = None,
        arbiter: str | None = None,
        value: int | None = None,
        requirements_hash: bytes = REQUIREMENTS_HASH,
    ) -> TxResult:
        """Send create_auction; the value is the reserve unless given."""
        return self.house.transact(
            "create_auction",
            requirements_hash,
            list(max_prices),
            duration,
            min_refs,
            arbiter or self.arbiter.address,
            sender=sender or self.client,
            value=sum(max_prices) if value is None else value,
        )

    def open(self, max_prices: Sequence[int] = MAX_PRICES, **kwargs: int) -> int:
        """Create an auction and return its id."""
        return int(self.create(max_prices, **kwargs).event("AuctionCreated")["auction_id"])

    def bid(
        self,
        auction_id: int,
        category: int,
        amount: int,
        bidder: LocalAccount | None = None,
        references: Sequence[int] = (),
    ) -> TxResult:
        return self.house.transact(
            "bid",
            auction_id,
            category,
            amount,
            list(references),
            sender=bidder or self.provider(category),
        )

    def bid_all(
        self,
        auction_id: int,
        bids: Sequence[int] = BIDS,
        bidders: Sequence[LocalAccount] | None = None,
    ) -> None:
        """One bid per category, by the first provider of each unless ``bidders`` says."""
        for category, (amount, bidder) in enumerate(
            zip(bids, bidders or self.winners(), strict=True)
        ):
            self.bid(auction_id, category, amount, bidder)

    def adjudicated(
        self, bids: Sequence[int] = BIDS, bidders: Sequence[LocalAccount] | None = None
    ) -> int:
        """An auction with one bid per category, adjudicated early by the client."""
        auction_id = self.open()
        self.bid_all(auction_id, bids, bidders)
        self.house.transact("adjudicate", auction_id, sender=self.client)
        return auction_id

    def deliver(self, auction_id: int, executor: LocalAccount | None = None) -> TxResult:
        return self.house.transact(
            "deliver",
            auction_id,
            MODEL_HASH,
            REPORT_HASH,
            SEALED_HASH,
            sender=executor or self.provider(INFRASTRUCTURE),
        )

    def delivered(
        self, bids: Sequence[int] = BIDS, bidders: Sequence[LocalAccount] | None = None
    ) -> int:
        """An adjudicated auction whose infrastructure winner has delivered."""
        auction_id = self.adjudicated(bids, bidders)
        executor = bidders[INFRASTRUCTURE] if bidders else None
        self.deliver(auction_id, executor)
        return auction_id

    def disputed(self) -> int:
        """A delivered auction that the client rejected."""
        auction_id = self.delivered()
        self.house.transact("reject", auction_id, REASON_HASH, sender=self.client)
        return auction_id

    def confirmed(self, bidders: Sequence[LocalAccount] | None = None) -> int:
        """A delivered auction that the client confirmed (a reference for later bids)."""
        auction_id = self.delivered(BIDS, bidders)
        self.house.transact("confirm", auction_id, sender=self.client)
        return auction_id

    def arbitrated(self, paid_mask: int) -> int:
        """A disputed auction that the arbiter decided with ``paid_mask``."""
        auction_id = self.disputed()
        self.house.transact("arbitrate", auction_id, paid_mask, sender=self.arbiter)
        return auction_id


def deploy_world(chain: Chain, accounts: Sequence[LocalAccount]) -> World:
    """Deploy a fresh registry and auction house and register the whole cast."""
    deployer, client, arbiter = accounts[0], accounts[1], accounts[2]
    providers = tuple((accounts[3 + 2 * c], accounts[4 + 2 * c]) for c in CATEGORIES)
    deployment = deploy(chain, deployer, PERIODS)
    registry = Contract.at(chain, "Registry", deployment.registry)
    house = Contract.at(chain, "AuctionHouse", deployment.auction_house)
    cast = [(client, Role.CLIENT), (arbiter, Role.ARBITER)] + [
        (provider, CATEGORY_ROLES[category])
        for category, pair in enumerate(providers)
        for provider in pair
    ]
    register_cast(registry, cast)
    return World(
        chain=chain,
        registry=registry,
        deployer=deployer,
        stranger=accounts[9],
        house=house,
        client=client,
        arbiter=arbiter,
        providers=providers,
    )
