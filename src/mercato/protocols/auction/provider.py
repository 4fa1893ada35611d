"""A provider's steps: match an auction, bid down to a floor, hand over, execute, deliver."""

from __future__ import annotations

import platform
import time
from dataclasses import dataclass

import sklearn

from mercato.crypto.attestation import ExecutionReport, SoftwareAttestation
from mercato.crypto.commit import keccak
from mercato.errors import IntegrityError, ProtocolError
from mercato.ml.algorithms import AlgorithmSpec
from mercato.ml.datasets import Dataset
from mercato.ml.train import train
from mercato.ontology.category import Category
from mercato.ontology.requirements import Requirements, data_problem, matches
from mercato.protocols.auction.rules import (
    MAX_REFERENCES,
    amount_problem,
    bidding_problem,
    deliver_problem,
    hand_over_problem,
    price_problem,
    reference_problem,
    status_problem,
)
from mercato.protocols.auction.views import Auction, Status
from mercato.protocols.identity import Identity
from mercato.protocols.marketplace import Marketplace
from mercato.storage.base import hash_bytes
from mercato.storage.envelope import open_envelope, seal

UNDERCUT_BPS = 500  # undercut the best bid by 5% (at least 1 wei) while above the floor
BPS = 10_000
TRAINING_SEED = 0


@dataclass(frozen=True)
class Offer:
    """What a provider sells: its asset's category and ontology class, and its floor price.

    ``asset`` is the asset's bytes for data (a serialised Dataset) and algorithms (an
    AlgorithmSpec's JSON); infrastructure sells compute and has none.
    """

    category: Category
    asset_class: str
    floor: int
    asset: bytes = b""

    def matches(self, requirements: Requirements) -> bool:
        return self.mismatch(requirements) is None

    def mismatch(self, requirements: Requirements) -> str | None:
        """Why this offer may not bid for ``requirements``, or None: the ontology class, and
        for data the features and classes the requirements ask for."""
        if not matches(requirements, self.category, self.asset_class):
            wanted = requirements.required_class(self.category)
            return f"{self.asset_class} is not a {wanted}"
        if self.category is Category.DATA and (requirements.features or requirements.labels):
            data = Dataset.from_bytes(self.asset)
            return data_problem(requirements, data.features, data.labels)
        return None


def next_bid(auction: Auction, offer: Offer, bidder: str, now: int | None = None) -> int | None:
    """The bid to place now, or None when the provider leads or cannot go lower.

    The first bid asks the maximum price; after that the provider undercuts the best bid by
    UNDERCUT_BPS, never below its floor; a bid the rules refuse (:func:`price_problem`:
    above the maximum, not under the best) is not placed, nor one after bidding closed
    (:func:`bidding_problem`, when ``now`` is given).
    """
    closed = (
        status_problem(auction, [Status.OPEN], "bid on")
        if now is None
        else bidding_problem(auction, now)
    )
    if closed is not None:
        return None
    leader, best = auction.best(offer.category)
    if leader == bidder:
        return None
    max_price = auction.max_prices[offer.category]
    amount = max_price if leader is None else best - max(1, best * UNDERCUT_BPS // BPS)
    amount = max(amount, offer.floor)
    if amount_problem(amount) or price_problem(auction, offer.category, amount):
        return None
    return amount


def references_for(market: Marketplace, bidder: str, category: Category, needed: int) -> list[int]:
    """Ids of earlier auctions whose confirmed SLA ``bidder`` won in ``category``."""
    if needed == 0:
        return []
    house = market.auction_house
    found = []
    for auction_id in range(house.auction_count(), 0, -1):
        if reference_problem(house.auction(auction_id), category, bidder) is None:
            found.append(auction_id)
            if len(found) == min(needed, MAX_REFERENCES):
                break
    if len(found) < needed:
        raise ProtocolError(
            f"{bidder} has {len(found)} confirmed {category.label} SLAs; the auction needs {needed}"
        )
    return sorted(found)


def hand_over(market: Marketplace, provider: Identity, auction_id: int, offer: Offer) -> None:
    """Seal the asset to the infrastructure winner's key and record the hand-over on chain."""
    auction = market.auction_house.auction(auction_id)
    problem = hand_over_problem(auction)
    if problem is not None:
        raise ProtocolError(problem)
    executor = auction.bidders[Category.INFRASTRUCTURE]
    assert executor is not None  # hand_over_problem says so
    sealed = seal(offer.asset, [market.registry.encryption_key(executor)])
    sealed_hash = market.store.put(sealed)
    market.auction_house.hand_over(
        provider.account,
        auction_id,
        offer.category,
        keccak(offer.asset),
        bytes.fromhex(sealed_hash[2:]),
    )


def execute(market: Marketplace, executor: Identity, auction_id: int) -> bytes:
    """Train the model from the handed-over assets and deliver it sealed to the client.

    Returns the model hash. Both assets are opened with the executor's key and checked
    against the hashes their owners recorded on chain before anything runs.
    """
    house = market.auction_house
    auction = house.auction(auction_id)
    problem = deliver_problem(auction)
    if problem is not None:
        raise ProtocolError(problem)
    assets: dict[Category, bytes] = {}
    for event in house.events(
        "AssetHandedOver", from_block=market.deployment.block, auction_id=auction_id
    ):
        sealed = market.store.get("0x" + event["sealed_hash"].hex())
        asset = open_envelope(sealed, executor.encryption_private)
        if keccak(asset) != event["asset_hash"]:
            raise IntegrityError(
                f"auction {auction_id}: a handed-over asset does not match its hash"
            )
        assets[Category(event["category"])] = asset
    missing = {Category.DATA, Category.ALGORITHM} - assets.keys()
    if missing:
        names = ", ".join(sorted(c.label for c in missing))
        raise ProtocolError(f"auction {auction_id}: waiting for the {names} asset")

    started = int(time.time())
    trained = train(
        Dataset.from_bytes(assets[Category.DATA]),
        AlgorithmSpec.from_json_bytes(assets[Category.ALGORITHM]),
        seed=TRAINING_SEED,
    )
    model_hash = keccak(trained.model_bytes)
    sealed_model = seal(trained.model_bytes, [market.registry.encryption_key(auction.client)])
    model_blob = market.store.put(sealed_model)
    report = ExecutionReport(
        job_id=f"auction-{auction_id}",
        executor=executor.address,
        inputs={
            Category.DATA.label: "0x" + keccak(assets[Category.DATA]).hex(),
            Category.ALGORITHM.label: "0x" + keccak(assets[Category.ALGORITHM]).hex(),
        },
        output_hash="0x" + model_hash.hex(),
        metrics=dict(trained.metrics),
        started_at=started,
        finished_at=int(time.time()),
        environment={
            "python": platform.python_version(),
            "scikit-learn": sklearn.__version__,
            "isolation": "software",
        },
    )
    signed = SoftwareAttestation(bytes(executor.account.key)).attest(report)
    report_blob = market.store.put(signed.to_bytes())
    house.deliver(
        executor.account,
        auction_id,
        model_hash,
        hash_bytes(report_blob),
        hash_bytes(model_blob),
    )
    return model_hash
