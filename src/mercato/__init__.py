"""Mercato: a trust-minimised marketplace for AI assets on an EVM blockchain.

The public API, layer by layer: chain backends and contract handles (``connect``,
``Contract``), blob stores (``open_store``), the :class:`Marketplace` that ties a chain, a
deployment and a store together and reaches every protocol's contract (``Marketplace.create``
on an EVM inside this process, ``Marketplace.attach`` to a node), the participant registry
(``Registry``, ``Role``, ``Identity``), each protocol's wrapper — the procurement auction
(P1, ``AuctionHouse``), the collaborative training (P2, ``TrainingMarket``) and the secure
data market (P3, ``DataMarket``) — amounts (``ether``, ``to_ether``, ``format_ether``) and
hashes (``Hash``), a participant's own data (``read_data``, ``DataSchema``, ``Dataset``) and
model files (``read_model``, ``write_model``), and a buyer's ``Result``. Each protocol is a
package under :mod:`mercato.protocols` whose ``unit`` declares what it brings; the steps of
each role live in its modules (for P1, ``open_auction`` is exported here). The README shows
them in use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mercato._lazy import lazy_package

if TYPE_CHECKING:
    from mercato.chain.base import Chain, Log, Receipt, TxRequest
    from mercato.chain.contract import Contract, Event, TxResult
    from mercato.chain.factory import connect
    from mercato.errors import (
        BlobNotFound,
        ChainError,
        ConfigError,
        ContractRevert,
        InputError,
        IntegrityError,
        MercatoError,
        ProtocolError,
        StorageError,
    )
    from mercato.hashes import Hash
    from mercato.ml.data_files import read_data
    from mercato.ml.datasets import Dataset
    from mercato.ml.model_files import read_model, write_model
    from mercato.ml.schema import DataSchema
    from mercato.ontology.category import Category
    from mercato.ontology.requirements import Requirements
    from mercato.protocols.auction.client import open_auction
    from mercato.protocols.auction.house import Auction, AuctionHouse, Status
    from mercato.protocols.datamarket.market import DataMarket, TaskStatus
    from mercato.protocols.deployment import Deployment, deploy
    from mercato.protocols.identity import Identity
    from mercato.protocols.marketplace import Marketplace
    from mercato.protocols.registry import Registry
    from mercato.protocols.results import Result
    from mercato.protocols.roles import Role
    from mercato.protocols.training.market import TrainingMarket, TrainingStatus
    from mercato.storage.base import BlobStore, open_store
    from mercato.units import ether, format_ether, to_ether

__all__ = [
    "Auction",
    "AuctionHouse",
    "BlobNotFound",
    "BlobStore",
    "Category",
    "Chain",
    "ChainError",
    "ConfigError",
    "Contract",
    "ContractRevert",
    "DataMarket",
    "DataSchema",
    "Dataset",
    "Deployment",
    "Event",
    "Hash",
    "Identity",
    "InputError",
    "IntegrityError",
    "Log",
    "Marketplace",
    "MercatoError",
    "ProtocolError",
    "Receipt",
    "Registry",
    "Requirements",
    "Result",
    "Role",
    "Status",
    "StorageError",
    "TaskStatus",
    "TrainingMarket",
    "TrainingStatus",
    "TxRequest",
    "TxResult",
    "connect",
    "deploy",
    "ether",
    "format_ether",
    "open_auction",
    "open_store",
    "read_data",
    "read_model",
    "to_ether",
    "write_model",
]

# each name is imported on first use, so `import mercato.cli` does not load the EVM, web3 or
# scikit-learn
lazy_package(
    __name__,
    {
        "Chain": "chain.base",
        "Log": "chain.base",
        "Receipt": "chain.base",
        "TxRequest": "chain.base",
        "Contract": "chain.contract",
        "Event": "chain.contract",
        "TxResult": "chain.contract",
        "connect": "chain.factory",
        "BlobNotFound": "errors",
        "ChainError": "errors",
        "ConfigError": "errors",
        "ContractRevert": "errors",
        "InputError": "errors",
        "IntegrityError": "errors",
        "MercatoError": "errors",
        "ProtocolError": "errors",
        "StorageError": "errors",
        "Hash": "hashes",
        "read_data": "ml.data_files",
        "Dataset": "ml.datasets",
        "read_model": "ml.model_files",
        "write_model": "ml.model_files",
        "DataSchema": "ml.schema",
        "Category": "ontology.category",
        "Requirements": "ontology.requirements",
        "open_auction": "protocols.auction.client",
        "Auction": "protocols.auction.house",
        "AuctionHouse": "protocols.auction.house",
        "Status": "protocols.auction.house",
        "DataMarket": "protocols.datamarket.market",
        "TaskStatus": "protocols.datamarket.market",
        "Deployment": "protocols.deployment",
        "deploy": "protocols.deployment",
        "Identity": "protocols.identity",
        "Marketplace": "protocols.marketplace",
        "Registry": "protocols.registry",
        "Result": "protocols.results",
        "Role": "protocols.roles",
        "TrainingMarket": "protocols.training.market",
        "TrainingStatus": "protocols.training.market",
        "BlobStore": "storage.base",
        "open_store": "storage.base",
        "ether": "units",
        "format_ether": "units",
        "to_ether": "units",
    },
)
