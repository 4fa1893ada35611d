"""A marketplace: one chain, one deployment of the contracts and one blob store, seen together."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from mercato.chain.base import Chain
from mercato.protocols.catalog import units
from mercato.protocols.deployment import Deployment
from mercato.protocols.registry import Registry
from mercato.protocols.unit import resolve
from mercato.storage.base import BlobStore

if TYPE_CHECKING:
    from mercato.protocols.auction.house import AuctionHouse
    from mercato.protocols.datamarket.market import DataMarket
    from mercato.protocols.training.market import TrainingMarket
    from mercato.protocols.wrapper import ContractWrapper


@dataclass
class Marketplace:
    """Everything a participant's code needs to reach the shared state of a marketplace.

    Each protocol's contract wrapper is an attribute named by its unit's field
    (``marketplace.auction_house``), built on first use; :meth:`wrappers` lists them all.
    """

    chain: Chain
    deployment: Deployment
    store: BlobStore
    _wrappers: dict[str, ContractWrapper] = field(default_factory=dict, init=False, repr=False)

    if TYPE_CHECKING:  # the catalog's wrappers, typed for mypy (built by __getattr__)

        @property
        def auction_house(self) -> AuctionHouse: ...
        @property
        def training_market(self) -> TrainingMarket: ...
        @property
        def data_market(self) -> DataMarket: ...

    def __post_init__(self) -> None:
        self.deployment.check_chain(self.chain)

    @cached_property
    def registry(self) -> Registry:
        return Registry(self.chain, self.deployment.registry)

    def wrapper(self, field_name: str) -> ContractWrapper:
        """The wrapper of the protocol contract held in the deployment's ``field_name``."""
        if field_name not in self._wrappers:
            unit = next(u for u in units() if u.field == field_name)
            cls = resolve(unit.wrapper)
            self._wrappers[field_name] = cls(self.chain, self.deployment.address(field_name))
        return self._wrappers[field_name]

    def wrappers(self) -> dict[str, ContractWrapper]:
        """Every protocol's contract wrapper, by its unit's key (``auction``, ...)."""
        return {u.key: self.wrapper(u.field) for u in units()}

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or name not in {u.field for u in units()}:
            raise AttributeError(f"{type(self).__name__} has no attribute {name!r}")
        return self.wrapper(name)
