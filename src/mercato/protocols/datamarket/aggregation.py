"""A round's aggregate from what was published, and the check anyone can run against it.

Secure mode: the sum of the survivors' updates is a pure function of public blobs (masked
updates, revealed shares) and of the keys and commitments on chain (:func:`secure_mean`), so
a DO, an auditor or anyone else recomputes the aggregate and the next public model and
compares them byte for byte with what the MO finalised (:func:`check_round`): a wrong
aggregate is provable. Robust mode: the updates are sealed to the MO, so only the MO can
recompute the rule; anyone still checks that the new model is the old one plus the published
aggregate.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

import numpy as np

from mercato.crypto.secagg import unmask
from mercato.errors import IntegrityError, ProtocolError
from mercato.ml.model_parts import apply_update
from mercato.ml.trainers.weights import Weights, weights_from_bytes, weights_to_bytes
from mercato.protocols.datamarket import history
from mercato.protocols.datamarket.documents import RevealBlob, secagg_context, unpack_masked
from mercato.protocols.datamarket.market import Mode
from mercato.protocols.marketplace import Marketplace
from mercato.storage.base import blob_hash, hash_hex


@dataclass(frozen=True)
class SecureSum:
    """A secure round's mean update and who is in it."""

    mean: Weights
    survivors: tuple[int, ...]
    dropped: tuple[int, ...]


def secure_mean(market: Marketplace, task_id: int, round_number: int) -> SecureSum:
    """The mean of the survivors' updates, from the round's public blobs and events."""
    dm = market.data_market
    dealers = sorted(history.posts(dm, task_id, round_number, "shares"))
    keys = history.round_keys(dm, task_id, round_number)
    submitted = history.posts(dm, task_id, round_number, "update")
    if not submitted:
        raise ProtocolError(f"task {task_id} round {round_number}: no update was submitted")
    masked = {
        i: unpack_masked(market.store.get(hash_hex(e["update_hash"]))) for i, e in submitted.items()
    }
    revealed: list[bytes] = []
    for event in history.posts(dm, task_id, round_number, "reveal").values():
        revealed.extend(
            RevealBlob.from_bytes(market.store.get(hash_hex(event["reveal_hash"]))).shares
        )
    total = unmask(
        masked,
        {i: keys.public_keys[i] for i in dealers},
        {i: keys.commitments[i] for i in dealers},
        revealed,
        secagg_context(market.data_market.address, task_id, round_number),
    )
    survivors = tuple(sorted(masked))
    mean = (total / len(survivors)).astype(np.float32)
    return SecureSum(mean, survivors, tuple(i for i in dealers if i not in masked))


def check_round(market: Marketplace, task_id: int, round_number: int) -> None:
    """IntegrityError unless the round's finalised model and aggregate are what the
    published data gives (secure mode: recomputed from scratch; robust mode: the new model
    is the old one plus the published aggregate)."""
    dm = market.data_market
    event = history.finalised(dm, task_id).get(round_number)
    if event is None:
        raise ProtocolError(f"task {task_id} round {round_number} was not finalised")
    aggregate = weights_from_bytes(market.store.get(hash_hex(event["aggregate_hash"])))
    if dm.task(task_id).mode is Mode.SECURE:
        expected = secure_mean(market, task_id, round_number).mean
        if not hmac.compare_digest(weights_to_bytes(expected), weights_to_bytes(aggregate)):
            raise IntegrityError(
                f"task {task_id} round {round_number}: the published aggregate is not the sum "
                "of the masked updates; the model owner finalised a wrong aggregate"
            )
    before = weights_from_bytes(
        market.store.get(hash_hex(history.model_before(dm, task_id, round_number)))
    )
    model = weights_to_bytes(apply_update(before, aggregate))
    if not hmac.compare_digest(blob_hash(model), hash_hex(event["model_hash"])):
        raise IntegrityError(
            f"task {task_id} round {round_number}: the new public model is not the previous "
            "one plus the aggregate; the model owner finalised a wrong model"
        )
