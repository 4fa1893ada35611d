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
from collections.abc import Mapping, Sequence
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
class RobustRound:
    """What a robust round's rule gives over the updates the MO opened."""

    mean: Weights
    scores: tuple[int, ...]
    """As the chain records them, one per submitter (empty when the rule has none); an
    update that did not open scores above all (``UNOPENED_SCORE``)."""
    excluded: tuple[int, ...]
    """The submitters excluded: the outliers of the scores, unopened updates first."""


def robust_round(
    rule: str,
    submitters: Sequence[int],
    updates: Mapping[int, Weights],
    max_excluded: int,
    multiple: int,
) -> RobustRound:
    """The robust ``rule`` over the opened ``updates`` (by submitter; a submitter missing
    from them did not open), excluding at most ``max_excluded`` outliers beyond ``multiple``
    (hundredths), as the MO finalises a round and an auditor recomputes it.

    IntegrityError if more updates did not open than the task may exclude, or if the rule's
    exclusions are not the outliers of its scores."""
    from mercato.ml.aggregate.krum import UNOPENED_SCORE, chain_scores, krum_outliers
    from mercato.ml.federated_sim import aggregate_deltas

    unreadable = [i for i in submitters if i not in updates]
    if len(unreadable) > max_excluded:
        raise IntegrityError(
            f"{len(unreadable)} updates do not open, more than the {max_excluded} the task "
            "may exclude"
        )
    readable = [i for i in submitters if i in updates]
    mean, dropped, raw = aggregate_deltas(
        rule, [updates[i] for i in readable], max_excluded - len(unreadable), multiple
    )
    scores: tuple[int, ...] = ()
    if raw or unreadable:  # a rule without scores records 0 for the opened ones
        by_index = dict(zip(readable, chain_scores(raw) or [0] * len(readable), strict=True))
        scores = tuple(by_index.get(i, UNOPENED_SCORE) for i in submitters)
    excluded = tuple(submitters[k] for k in krum_outliers(scores, multiple, max_excluded))
    if excluded != tuple(sorted([*unreadable, *(readable[k] for k in dropped)])):
        raise IntegrityError("the rule's exclusions are not the outliers of its scores")
    return RobustRound(mean, scores, excluded)


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
