"""The buyer's steps (an MLaaS provider, registered as client): post, reveal the sample,
check deliveries, seal the hidden groups to the executors, take each bought model.

Each step reads the chain first and does nothing if it was done, so an agent that runs it
twice sends nothing twice. The buyer keeps its hidden test set (the salts included) itself:
:meth:`HiddenTestSet.to_bytes` in its agent state or state folder.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from mercato.chain.contract import Event
from mercato.crypto.fairswap import Commitments, Complaint, delivery_problem, open_delivery
from mercato.errors import InputError
from mercato.protocols.draws import distinct_indices
from mercato.protocols.identity import Identity
from mercato.protocols.marketplace import Marketplace
from mercato.protocols.modelmarket import history
from mercato.protocols.modelmarket.documents import (
    HiddenTestSet,
    TaskDocument,
    groups_bytes,
    purpose,
    read_delivery,
)
from mercato.protocols.modelmarket.views import Periods, RequestStatus
from mercato.storage.base import hash_bytes, hash_hex
from mercato.storage.envelope import open_envelope, seal


@dataclass(frozen=True)
class RequestTerms:
    """What a buyer offers besides its task and test set."""

    schedule: Sequence[tuple[int, int]]
    """(score in parts per million, price in wei), scores increasing, prices not falling."""
    k: int
    executors: int
    seller_stake: int
    executor_stake: int
    executor_fee: int
    bond: int
    periods: Periods

    @property
    def escrowed(self) -> int:
        top = self.schedule[-1][1] if self.schedule else 0
        return self.k * top + self.executors * self.executor_fee + self.bond


def post_request(
    market: Marketplace,
    me: Identity,
    document: TaskDocument,
    test_set: HiddenTestSet,
    terms: RequestTerms,
) -> int:
    """Store the task document and post the request; returns its id."""
    if len(test_set.blobs) != document.groups:
        raise InputError(
            f"the test set has {len(test_set.blobs)} groups, the task {document.groups}"
        )
    task_hash = market.store.put(document.to_bytes())
    request_id, _ = market.model_market.post_request(
        me.account,
        task_hash=hash_bytes(task_hash),
        test_root=test_set.root,
        groups=document.groups,
        sample=document.sample,
        schedule=terms.schedule,
        k=terms.k,
        executors=terms.executors,
        seller_stake=terms.seller_stake,
        executor_stake=terms.executor_stake,
        executor_fee=terms.executor_fee,
        bond=terms.bond,
        periods=terms.periods,
    )
    return request_id


def reveal_sample(
    market: Marketplace, me: Identity, request_id: int, test_set: HiddenTestSet
) -> bool:
    """Publish the drawn groups with their proofs once the sample is drawn; whether sent."""
    mm = market.model_market
    request = mm.request(request_id)
    if request.status is not RequestStatus.SAMPLING or request.sample_seed == bytes(32):
        return False
    indices = distinct_indices(request.sample_seed, request.groups, request.sample)
    blob = market.store.put(groups_bytes(test_set.subset(indices)))
    tree = test_set.tree
    mm.reveal_sample(
        me.account,
        request_id,
        [test_set.group_hash(i) for i in indices],
        [tree.proof(i) for i in indices],
        hash_bytes(blob),
    )
    return True


def commitments_of(event: Event) -> Commitments:
    """The FairSwap commitments of a Submitted event."""
    return Commitments(
        bytes(event["plain_root"]),
        bytes(event["cipher_root"]),
        bytes(event["key_hash"]),
        int(event["size"]),
    )


def delivery_of(
    market: Marketplace, me: Identity, request_id: int, index: int
) -> tuple[Commitments, bytes]:
    """Submission ``index``'s commitments and its delivery opened with the buyer's key
    (InputError if the blob is missing or does not open)."""
    event = history.submitted(market.model_market, request_id)[index]
    sealed = market.store.get(hash_hex(event["delivery_hash"]))
    opened = open_envelope(sealed, me.encryption_private, purpose(request_id, "delivery"))
    return commitments_of(event), opened


def delivery_check(market: Marketplace, me: Identity, request_id: int, index: int) -> str | None:
    """Why submission ``index``'s delivery is unacceptable (it does not open, or does not
    match its commitments), or None."""
    try:
        commitments, opened = delivery_of(market, me, request_id, index)
        return delivery_problem(commitments, read_delivery(opened))
    except InputError as exc:
        return str(exc)
    except Exception as exc:  # the envelope's own integrity errors: the seller's fault
        return f"the delivery does not open: {exc}"


def reject(market: Marketplace, me: Identity, request_id: int, index: int, reason: str) -> None:
    """Reject a delivery, storing the reason as evidence."""
    reason_hash = market.store.put(reason.encode())
    market.model_market.reject_delivery(me.account, request_id, index, hash_bytes(reason_hash))


def seal_test(market: Marketplace, me: Identity, request_id: int, test_set: HiddenTestSet) -> bool:
    """Seal the hidden groups to the drawn executors once; whether sent."""
    mm = market.model_market
    if mm.request(request_id).status is not RequestStatus.COMMITTING:
        return False
    if history.sealed_by(mm, request_id, me.address) is not None:
        return False
    indices = history.sample_indices(mm, request_id) or []
    keys = [market.registry.encryption_key(a) for a in history.executors(mm, request_id)]
    envelope = seal(groups_bytes(test_set.hidden(indices)), keys, purpose(request_id, "test"))
    mm.seal(me.account, request_id, hash_bytes(market.store.put(envelope)))
    return True


def take_model(
    market: Marketplace, me: Identity, request_id: int, index: int
) -> tuple[bytes | None, Complaint | None, bytes]:
    """Open winner ``index``'s model with its revealed key: (model, None, key) if every chunk
    is the one benchmarked, else (None, the complaint that proves it, key)."""
    mm = market.model_market
    events = mm.events("KeyRevealed", request_id=request_id)
    keys = [bytes(e["key"]) for e in events if int(e["index"]) == index]
    if not keys:
        raise InputError(f"request {request_id}: seller {index} has not revealed its key")
    commitments, opened = delivery_of(market, me, request_id, index)
    model, complaint = open_delivery(commitments, read_delivery(opened), keys[0])
    return model, complaint, keys[0]
