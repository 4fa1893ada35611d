"""A marketplace: one chain, one deployment of the contracts and one blob store, seen together.

Attach to one that runs (``Marketplace.attach("http://127.0.0.1:8545", "deployment.json",
".mercato/blobs")``) or start one inside this process (``Marketplace.create()``); then every
protocol's contract is an attribute (``marketplace.auction_house``, ``.training_market``,
``.data_market``) beside the ``registry`` and the ``store``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mercato.chain.base import Chain
from mercato.config import DEFAULT_STORE
from mercato.protocols.catalog import units
from mercato.protocols.deployment import Deployment
from mercato.protocols.registry import Registry
from mercato.protocols.unit import resolve
from mercato.storage.base import BlobStore

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

    from mercato.protocols.apimarket.market import ApiMarket
    from mercato.protocols.auction.house import AuctionHouse
    from mercato.protocols.datamarket.market import DataMarket
    from mercato.protocols.modelmarket.market import ModelMarket
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
        @property
        def model_market(self) -> ModelMarket: ...
        @property
        def api_market(self) -> ApiMarket: ...

    def __post_init__(self) -> None:
        self.deployment.check_chain(self.chain)

    @classmethod
    def attach(
        cls,
        node: str | Chain,
        deployment: Deployment | Path | str,
        store: BlobStore | Path | str = DEFAULT_STORE,
    ) -> Marketplace:
        """The marketplace of a running deployment.

        ``node``: a JSON-RPC URL or a :class:`Chain`; ``deployment``: a :class:`Deployment`,
        the path of a deployment file, or its JSON text; ``store``: a blob store, a folder or
        an ``s3://bucket/prefix`` URI.
        """
        from mercato.chain.factory import connect
        from mercato.storage.base import open_store

        chain = connect("rpc", node) if isinstance(node, str) else node
        if isinstance(deployment, str) and deployment.lstrip().startswith("{"):
            deployment = Deployment.parse(deployment)
        elif not isinstance(deployment, Deployment):
            deployment = Deployment.load(Path(deployment))
        if not isinstance(store, BlobStore):
            store = open_store(str(store))
        return cls(chain, deployment, store)

    @classmethod
    def create(
        cls,
        node: str | Chain = "embedded",
        store: BlobStore | Path | str = DEFAULT_STORE,
        admin: LocalAccount | None = None,
    ) -> Marketplace:
        """Deploy a new marketplace: on an EVM inside this process (``"embedded"``), a node's
        URL or a :class:`Chain`; ``admin`` (default: the chain's first development account)
        deploys and administers the registry."""
        from mercato.chain.factory import connect
        from mercato.protocols.deployment import deploy
        from mercato.storage.base import open_store

        chain = connect(node) if node == "embedded" else node
        chain = connect("rpc", chain) if isinstance(chain, str) else chain
        admin = admin or chain.dev_accounts(1)[0]
        if not isinstance(store, BlobStore):
            store = open_store(str(store))
        return cls(chain, deploy(chain, admin), store)

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
