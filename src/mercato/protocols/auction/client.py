"""The client's steps in a procurement auction: publish, open, review, confirm or reject."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from mercato.crypto.attestation import SignedReport, SoftwareAttestation
from mercato.crypto.commit import keccak
from mercato.errors import ProtocolError
from mercato.ml.datasets import Dataset
from mercato.ml.evaluate import evaluate_data
from mercato.ml.model_io import load_model
from mercato.ontology.requirements import Requirements
from mercato.protocols.auction.documents import load_requirements
from mercato.protocols.auction.rules import (
    MODEL_MISMATCH,
    report_problems,
    review_problem,
    take_problem,
)
from mercato.protocols.identity import Identity
from mercato.protocols.marketplace import Marketplace
from mercato.protocols.results import Result, measure, open_sealed
from mercato.storage.base import hash_bytes, hash_hex
from mercato.storage.envelope import open_envelope


@dataclass(frozen=True)
class Review:
    """The client's verdict on a delivered model."""

    auction_id: int
    accepted: bool
    metrics: dict[str, float] = field(default_factory=dict)
    problems: tuple[str, ...] = ()
    model: bytes = b""


def open_auction(
    market: Marketplace,
    client: Identity,
    requirements: Requirements,
    *,
    max_prices: Sequence[int],
    duration: int,
    arbiter: str,
    min_refs: int = 0,
) -> int:
    """Store the requirements document, then open an auction for it; returns its id.

    Only the document's hash goes on chain: providers fetch it from their own blob store.
    """
    blob = market.store.put(requirements.to_json_bytes())
    auction_id, _ = market.auction_house.create(
        client.account,
        requirements_hash=hash_bytes(blob),
        max_prices=max_prices,
        duration=duration,
        min_refs=min_refs,
        arbiter=arbiter,
    )
    return auction_id


def review_delivery(
    market: Marketplace, client: Identity, auction_id: int, evaluation: Dataset
) -> Review:
    """Check a delivery end to end and measure the model on the client's own data.

    Checks: the sealed model opens with the client's key and hashes to the on-chain model
    hash; the execution report hashes to the on-chain report hash, is signed by the
    infrastructure winner and names that model and the assets the winners handed over; the
    model meets the requirements' metric on ``evaluation`` (matched to the model's classes by
    name if it names them, as every export measures: InputError if they do not match).
    """
    house = market.auction_house
    auction = house.auction(auction_id)
    problem = review_problem(auction)
    if problem is not None:
        raise ProtocolError(problem)
    start = market.deployment.block
    delivered = house.events("Delivered", from_block=start, auction_id=auction_id)[-1]
    handed = {
        e["category"]: e["asset_hash"]
        for e in house.events("AssetHandedOver", from_block=start, auction_id=auction_id)
    }
    problems: list[str] = []

    sealed = market.store.get(hash_hex(delivered["sealed_hash"]))
    model_bytes = open_envelope(sealed, client.encryption_private)
    if keccak(model_bytes) != auction.model_hash:
        problems.append(MODEL_MISMATCH)

    report_bytes = market.store.get("0x" + auction.report_hash.hex())
    signed = SignedReport.from_bytes(report_bytes)
    signer = SoftwareAttestation().verify(signed)
    problems += report_problems(auction, handed, signed.report, signer)

    requirements = load_requirements(market, auction_id)
    metrics: dict[str, float] = {}
    if not problems:
        model = load_model(model_bytes, auction.model_hash)
        metrics = evaluate_data(model, evaluation, f"auction {auction_id}'s model").metrics
        achieved = metrics.get(requirements.metric)
        if achieved is None or achieved < requirements.minimum:
            problems.append(
                f"{requirements.metric} {achieved} is below the required {requirements.minimum}"
            )
    return Review(auction_id, not problems, metrics, tuple(problems), model_bytes)


def settle_review(market: Marketplace, client: Identity, review: Review) -> None:
    """Confirm an accepted delivery; reject a bad one, storing the reasons as evidence."""
    house = market.auction_house
    if review.accepted:
        house.confirm(client.account, review.auction_id)
        return
    complaint = "\n".join(review.problems).encode()
    market.store.put(complaint)
    house.reject(client.account, review.auction_id, keccak(complaint))


def take_model(
    market: Marketplace, client: Identity, auction_id: int, evaluation: Dataset | None = None
) -> Result:
    """The delivered model, opened with the client's key and checked against the model hash
    on chain, with what the signed execution report says and, given ``evaluation``, every
    metric measured on it. Only the auction's client can open it."""
    house = market.auction_house
    auction = house.auction(auction_id)
    problem = take_problem(auction, client.address)
    if problem is not None:
        raise ProtocolError(problem)
    delivered = house.first("Delivered", from_block=market.deployment.block, auction_id=auction_id)
    assert delivered is not None  # take_problem: the auction was delivered
    model_bytes = open_sealed(
        market.store,
        hash_hex(delivered["sealed_hash"]),
        client.encryption_private,
        auction.model_hash,
        f"auction {auction_id}'s model",
    )
    signed = SignedReport.from_bytes(market.store.get(hash_hex(auction.report_hash)))
    requirements = load_requirements(market, auction_id)
    result = Result(
        protocol="auction",
        entry=auction_id,
        model=load_model(model_bytes, auction.model_hash),
        model_hash=hash_hex(auction.model_hash),
        reported={
            "executor": signed.report.executor,
            "executor_metrics": dict(signed.report.metrics),
            "required": {"metric": requirements.metric, "minimum": requirements.minimum},
            "status": auction.status.label,
        },
    )
    return result if evaluation is None else measure(result, evaluation)
