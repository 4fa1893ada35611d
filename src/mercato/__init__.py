"""Mercato: a trust-minimised marketplace for AI assets on an EVM blockchain.

The public API, layer by layer (see DESIGN.md): chain backends and contract handles, blob
stores and envelopes, the participant registry, the procurement auction (P1), the training
market (P2) and the data market (P3).
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
    from mercato.protocols.auction.house import Auction, AuctionHouse, Status
    from mercato.protocols.datamarket.market import DataMarket
    from mercato.protocols.deployment import Deployment, deploy
    from mercato.protocols.identity import Identity
    from mercato.protocols.marketplace import Marketplace
    from mercato.protocols.registry import Registry
    from mercato.protocols.roles import Role
    from mercato.protocols.training.market import TrainingMarket
    from mercato.storage.base import BlobStore, open_store

__all__ = [
    "Auction",
    "AuctionHouse",
    "BlobNotFound",
    "BlobStore",
    "Chain",
    "ChainError",
    "ConfigError",
    "Contract",
    "ContractRevert",
    "DataMarket",
    "Deployment",
    "Event",
    "Identity",
    "InputError",
    "IntegrityError",
    "Log",
    "Marketplace",
    "MercatoError",
    "ProtocolError",
    "Receipt",
    "Registry",
    "Role",
    "Status",
    "StorageError",
    "TrainingMarket",
    "TxRequest",
    "TxResult",
    "connect",
    "deploy",
    "open_store",
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
        "Auction": "protocols.auction.house",
        "AuctionHouse": "protocols.auction.house",
        "Status": "protocols.auction.house",
        "DataMarket": "protocols.datamarket.market",
        "Deployment": "protocols.deployment",
        "deploy": "protocols.deployment",
        "Identity": "protocols.identity",
        "Marketplace": "protocols.marketplace",
        "Registry": "protocols.registry",
        "Role": "protocols.roles",
        "TrainingMarket": "protocols.training.market",
        "BlobStore": "storage.base",
        "open_store": "storage.base",
    },
)
