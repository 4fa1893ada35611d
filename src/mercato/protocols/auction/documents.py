"""Off-chain documents of an auction, fetched from the blob store and checked against the chain."""

from __future__ import annotations

from mercato.crypto.commit import keccak
from mercato.errors import IntegrityError
from mercato.ontology.requirements import Requirements
from mercato.protocols.market import Market
from mercato.storage.base import validate_blob_hash


def blob_hash_of_uri(uri: str) -> str:
    """The blob hash a store URI ends with (``file:///.../0xab..`` or ``s3://b/p/0xab..``)."""
    return validate_blob_hash(uri.rstrip("/").rsplit("/", 1)[-1])


def load_requirements(market: Market, auction_id: int) -> Requirements:
    """Fetch an auction's requirements document and check it against the on-chain hash."""
    auction = market.auction_house.auction(auction_id)
    created = market.auction_house.created_event(auction_id, market.deployment.block)
    document = market.store.get(blob_hash_of_uri(created["requirements_uri"]))
    if keccak(document) != auction.requirements_hash:
        raise IntegrityError(f"auction {auction_id}: requirements document does not match its hash")
    return Requirements.parse(document)
