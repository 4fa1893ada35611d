"""Off-chain documents of an auction, fetched from the blob store and checked against the chain.

The chain names every document by its hash only; each participant fetches it from its own
blob store (a local folder or S3), so no path, bucket or host ever goes on chain.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mercato.crypto.commit import keccak
from mercato.errors import IntegrityError
from mercato.ontology.requirements import Requirements
from mercato.storage.base import hash_hex

if TYPE_CHECKING:
    from mercato.protocols.auction.views import Auction
    from mercato.protocols.marketplace import Marketplace


def load_requirements(market: Marketplace, auction_id: int) -> Requirements:
    """Fetch an auction's requirements document by its on-chain hash and parse it."""
    return requirements_of(market, market.auction_house.auction(auction_id))


def requirements_of(market: Marketplace, auction: Auction) -> Requirements:
    """The requirements document of ``auction`` (already read), from the blob store."""
    document = market.store.get(hash_hex(auction.requirements_hash))
    if keccak(document) != auction.requirements_hash:
        raise IntegrityError(
            f"auction {auction.auction_id}: requirements document does not match its hash"
        )
    return Requirements.parse(document)
