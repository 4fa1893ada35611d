"""The provider's steps: split a model, seal each component to its vendors, register the API.

:func:`register_api` does what the paper's handshake does: the model is split (one technique
per model kind, :mod:`mercato.ml.splitting`), component ``j`` is sealed to every vendor of a
slot that holds ``j`` (their registry encryption keys), the API document lists the sealed
blobs, and the chain gets the model root, the document's hash, the slots, the price and its
split, the stakes and bonds, the periods and the P4 purchase the model comes from.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mercato.errors import InputError
from mercato.ml.splitting import SplitModel
from mercato.protocols.apimarket.documents import (
    ApiDocument,
    Purchase,
    document_of,
    seal_components,
)
from mercato.protocols.apimarket.views import Periods
from mercato.storage.base import hash_bytes

if TYPE_CHECKING:
    from mercato.chain.contract import TxResult
    from mercato.protocols.identity import Identity
    from mercato.protocols.marketplace import Marketplace


@dataclass(frozen=True)
class ApiOffer:
    """What a provider asks of an API's parties: price, shares, stakes, bonds, periods."""

    price: int
    shares: tuple[int, ...]
    """Wei per call to the vendor that ran component ``j``."""
    vendor_stake: int
    orchestrator_stake: int
    challenge_bond: int
    dispute_bond: int
    periods: Periods


def register_api(
    market: Marketplace,
    me: Identity,
    model: SplitModel,
    document: ApiDocument,
    slots: Sequence[tuple[str, int]],
    orchestrator: str,
    offer: ApiOffer,
) -> tuple[int, ApiDocument, TxResult]:
    """Seal ``model``'s components to the slots' vendors ((vendor, component) each), store the
    document and register the API; its id, the stored document and the transaction."""
    if document.model_root != _root(model):
        raise InputError("the API document does not describe this model")
    keys = [market.registry.encryption_key(vendor) for vendor, _ in slots]
    for (vendor, _), key in zip(slots, keys, strict=True):
        if not key:
            raise InputError(f"vendor {vendor} registered no encryption key to seal to")
    components = [component for _, component in slots]
    sealed = seal_components(document, model, components, keys, market.store)
    doc_hash = market.store.put(sealed.to_bytes())
    api, result = market.api_market.register_api(
        me.account,
        model_root=sealed.model_root,
        doc_hash=hash_bytes(doc_hash),
        components=sealed.components,
        slot_components=components,
        slot_vendors=[vendor for vendor, _ in slots],
        shares=offer.shares,
        price=offer.price,
        vendor_stake=offer.vendor_stake,
        orchestrator=orchestrator,
        orchestrator_stake=offer.orchestrator_stake,
        challenge_bond=offer.challenge_bond,
        dispute_bond=offer.dispute_bond,
        periods=offer.periods,
        purchase=sealed.purchase,
    )
    return api, sealed, result


def prepare(
    model: SplitModel,
    features: int,
    *,
    output: str = "labels",
    subsets: bool = False,
    classes: Sequence[str] = (),
    purchase: Purchase | None = None,
    orchestrator_url: str = "",
    description: str = "",
) -> ApiDocument:
    """The document of a split model, before sealing (see :func:`document_of`)."""
    return document_of(
        model, features, output=output, subsets=subsets, classes=classes, purchase=purchase,
        orchestrator_url=orchestrator_url, description=description,
    )  # fmt: skip


def _root(model: SplitModel) -> bytes:
    from mercato.ml.splitting import model_root

    return model_root(model)
