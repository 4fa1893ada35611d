"""A market: one chain, one deployment of the contracts and one blob store, seen together."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from mercato.chain.base import Chain
from mercato.protocols.auction.house import AuctionHouse
from mercato.protocols.datamarket.market import DataMarket
from mercato.protocols.deployment import Deployment
from mercato.protocols.registry import Registry
from mercato.protocols.training.market import TrainingMarket
from mercato.storage.base import BlobStore


@dataclass
class Marketplace:
    """Everything a participant's code needs to reach the shared state of a marketplace."""

    chain: Chain
    deployment: Deployment
    store: BlobStore

    def __post_init__(self) -> None:
        self.deployment.check_chain(self.chain)

    @cached_property
    def registry(self) -> Registry:
        return Registry(self.chain, self.deployment.registry)

    @cached_property
    def auction_house(self) -> AuctionHouse:
        return AuctionHouse(self.chain, self.deployment.auction_house)

    @cached_property
    def training_market(self) -> TrainingMarket:
        return TrainingMarket(self.chain, self.deployment.training_market)

    @cached_property
    def data_market(self) -> DataMarket:
        return DataMarket(self.chain, self.deployment.data_market)
