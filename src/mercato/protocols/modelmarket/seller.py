"""The seller's steps (a model developer, registered as model owner): check the request's
sample, submit a committed model, seal it to the executors, reveal the key if it won.

A seller keeps its key and model between steps (:class:`Offer`, in its agent state). A
cheating seller (the demo's, and the adversary tests') benchmarks one model and delivers
another: ``Offer.delivered`` differs from ``Offer.model``; the buyer's complaint catches it.
"""

from __future__ import annotations

from dataclasses import dataclass

from mercato.crypto.commit import keccak
from mercato.crypto.fairswap import Commitments, commit_model
from mercato.errors import InputError
from mercato.protocols.identity import Identity
from mercato.protocols.marketplace import Marketplace
from mercato.protocols.modelmarket import history
from mercato.protocols.modelmarket.documents import (
    TaskDocument,
    delivery_bytes,
    purpose,
    read_group,
)
from mercato.protocols.modelmarket.views import RequestStatus, SubmissionState
from mercato.storage.base import hash_bytes
from mercato.storage.envelope import seal


@dataclass(frozen=True)
class Offer:
    """What a seller committed to one request."""

    request_id: int
    index: int
    key: bytes
    model: bytes
    """The model benchmarked (its plaintext root is on chain)."""
    delivered: bytes
    """The model encrypted for the buyer: ``model`` unless the seller cheats."""

    def to_record(self) -> dict[str, object]:
        return {
            "request_id": self.request_id,
            "index": self.index,
            "key": self.key.hex(),
            "model": self.model.hex(),
            "delivered": self.delivered.hex() if self.delivered != self.model else None,
        }

    @classmethod
    def from_record(cls, record: dict[str, object]) -> Offer:
        model = bytes.fromhex(str(record["model"]))
        delivered = record.get("delivered")
        return cls(
            int(str(record["request_id"])),
            int(str(record["index"])),
            bytes.fromhex(str(record["key"])),
            model,
            model if delivered is None else bytes.fromhex(str(delivered)),
        )


def sample_check(
    market: Marketplace, request_id: int, features: int
) -> tuple[TaskDocument | None, str | None]:
    """The request's task and why a seller with a model of ``features`` inputs should not
    submit (the sample is not revealed, not real rows, or of another shape), or None."""
    try:
        document = history.task_document(market, request_id)
        groups = history.sample_groups(market, request_id)
    except InputError as exc:
        return None, str(exc)
    if groups is None:
        return document, "the sample is not revealed yet"
    for index, blob in groups.items():
        try:
            X, y = read_group(blob)
        except InputError as exc:
            return document, f"sample group {index}: {exc}"
        if X.shape[1] != document.features or X.shape[1] != features:
            return (
                document,
                f"sample group {index} has {X.shape[1]} features; the model takes {features}",
            )
        if len(y) and (int(y.min()) < 0 or int(y.max()) >= len(document.classes)):
            return document, f"sample group {index} holds labels outside the task's classes"
    return document, None


def swap_key(me: Identity, market: Marketplace, request_id: int, model: bytes) -> bytes:
    """The key a seller encrypts ``model`` under for a request: derived from its own secret,
    the market and the request, so that a seller that crashes right after submitting can
    derive it again (nobody else can: the secret never leaves the seller)."""
    where = f"mercato/modelmarket/key/{market.chain.chain_id}/{market.model_market.address}"
    return keccak(me.encryption_private + f"{where}/{request_id}".encode() + keccak(model))


def submit(
    market: Marketplace, me: Identity, request_id: int, model: bytes, delivered: bytes | None = None
) -> Offer:
    """Commit to ``model`` and submit it with the stake; the buyer gets ``delivered``
    (default: the same model) encrypted under :func:`swap_key`, sealed to it."""
    mm = market.model_market
    request = mm.request(request_id)
    key = swap_key(me, market, request_id, model)
    honest, delivery = commit_model(model, key)
    commitments = honest
    if delivered is not None and delivered != model:
        if len(delivered) != len(model):
            raise InputError("a swapped model must have the benchmarked model's size")
        other, other_delivery = commit_model(delivered, key)
        commitments = Commitments(
            honest.plain_root, other.cipher_root, honest.key_hash, honest.size
        )
        delivery = type(delivery)(other_delivery.encrypted, delivery.chunk_hashes)
    envelope = seal(
        delivery_bytes(delivery),
        [market.registry.encryption_key(request.buyer)],
        purpose(request_id, "delivery"),
    )
    delivery_hash = market.store.put(envelope)
    result = mm.submit(
        me.account, request_id, commitments, hash_bytes(delivery_hash), request.seller_stake
    )
    index = int(result.event("Submitted")["index"])
    return Offer(request_id, index, key, model, model if delivered is None else delivered)


def submitted_offer(
    market: Marketplace, me: Identity, request_id: int, model: bytes, delivered: bytes | None = None
) -> Offer | None:
    """The offer this seller already submitted to the request with ``model`` (rebuilt from
    the chain and :func:`swap_key`, as after a crash), or None if it has not submitted."""
    for event in history.submitted(market.model_market, request_id):
        if event["seller"] == me.address:
            key = swap_key(me, market, request_id, model)
            return Offer(request_id, int(event["index"]), key, model, delivered or model)
    return None


def seal_model(market: Marketplace, me: Identity, offer: Offer) -> bool:
    """Seal the benchmarked model to the drawn executors once; whether sent."""
    mm = market.model_market
    request_id = offer.request_id
    if mm.request(request_id).status is not RequestStatus.COMMITTING:
        return False
    if mm.submission(request_id, offer.index).state is not SubmissionState.SUBMITTED:
        return False
    if history.sealed_by(mm, request_id, me.address) is not None:
        return False
    keys = [market.registry.encryption_key(a) for a in history.executors(mm, request_id)]
    envelope = seal(offer.model, keys, purpose(request_id, f"model {offer.index}"))
    mm.seal(me.account, request_id, hash_bytes(market.store.put(envelope)))
    return True


def reveal_key(market: Marketplace, me: Identity, offer: Offer) -> bool:
    """Reveal the key of a won sale once; whether sent."""
    mm = market.model_market
    submission = mm.submission(offer.request_id, offer.index)
    request = mm.request(offer.request_id)
    if submission.state is not SubmissionState.WON or request.status is not RequestStatus.SWAPPING:
        return False
    if market.chain.timestamp() >= request.deadline:
        return False
    mm.reveal_key(me.account, offer.request_id, offer.key)
    return True
