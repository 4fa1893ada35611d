"""The model owner's steps: publish the method, request, run rounds, check, report, aggregate.

After each round the MO reviews every job (:func:`review_round`):

1. a job whose ``model_hash`` repeats an earlier job's of the training copied it;
2. its sealed model must exist, open with the MO's key and give back ``model_hash`` with the
   job's nonce (``keccak(model || nonce)``);
3. replica consensus per subset: honest replicas produce byte-identical models (plaintext,
   deterministic training) or decrypted weights within :data:`CKKS_TOLERANCE` (CKKS); the
   group holding a strict majority of a subset's checked models wins and every other
   replica is outvoted. No majority (a tie): the subset sits the round out, nobody is blamed.

Each failure becomes public :class:`Evidence` in the blob store, its hash reported on chain
(:func:`report_frauds`). The winners are averaged by FedAvg, weighted by subset size
(:func:`aggregate`), and the result is the next round's model.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from mercato.chain.contract import Event
from mercato.crypto.ckks import (
    CKKS_TOLERANCE,
    CkksContext,
    EncryptedWeights,
    decrypt_weights,
    encrypt_weights,
    logreg_predict,
    within_tolerance,
)
from mercato.crypto.commit import commit, keccak
from mercato.errors import BlobNotFound, InputError, IntegrityError, ProtocolError
from mercato.ml.aggregate.base import Update
from mercato.ml.aggregate.fedavg import FedAvg
from mercato.ml.datasets import Dataset
from mercato.ml.trainers import Weights, weights_from_bytes, weights_to_bytes
from mercato.protocols.identity import Identity
from mercato.protocols.marketplace import Marketplace
from mercato.protocols.training import history
from mercato.protocols.training.compute import load_manifest, load_method
from mercato.protocols.training.documents import (
    REASON_COPIED_HASH,
    REASON_HASH_MISMATCH,
    REASON_MISSING,
    REASON_OUTVOTED,
    REASON_UNREADABLE,
    Evidence,
    Method,
    RoundModel,
    hash_bytes,
    hash_hex,
    job_context,
    round_context,
)
from mercato.protocols.training.market import InstanceStatus
from mercato.protocols.training.rules import draw_problem, start_round_problem
from mercato.storage.envelope import open_envelope, seal


@dataclass(frozen=True)
class JobCheck:
    """One job of a round as the MO found it."""

    instance_id: int
    co: str
    subset: int
    weights: Weights | None
    """The decoded (in CKKS mode decrypted) model; None if it failed a check."""
    evidence: Evidence | None = None


@dataclass(frozen=True)
class RoundReview:
    """The MO's verdict on one round."""

    training_id: int
    round: int
    checks: tuple[JobCheck, ...]
    consensus: dict[int, Weights] = field(default_factory=dict)
    """Per subset that reached a majority: the agreed model."""
    ties: tuple[int, ...] = ()
    """Subsets whose replicas disagreed with no majority."""

    @property
    def frauds(self) -> list[Evidence]:
        return [check.evidence for check in self.checks if check.evidence is not None]


def create_model(market: Marketplace, owner: Identity, method: Method) -> int:
    """Publish the method and record the model; returns its id."""
    method_hash = market.store.put(method.to_bytes())
    key_hash = (
        hash_bytes(method.context_hash)
        if method.ckks and method.context_hash
        else keccak(owner.encryption_public)
    )
    model_id, _ = market.training_market.create_model(
        owner.account,
        model_type=method.model_type,
        method_hash=hash_bytes(method_hash),
        key_hash=key_hash,
    )
    return model_id


def publish_context(market: Marketplace, context: CkksContext) -> str:
    """Store the public part of the MO's CKKS context; its blob hash goes in the method."""
    return market.store.put(context.public().to_bytes())


def encode_weights(method: Method, weights: Weights, context: CkksContext | None) -> bytes:
    """The payload of a round model: MCWT weights, or their CKKS encryption."""
    if not method.ckks:
        return weights_to_bytes(np.asarray(weights))
    if context is None:
        raise InputError("a CKKS training needs the model owner's secret context")
    return encrypt_weights(context, np.asarray(weights, dtype=np.float64)).to_bytes()


def start_round(
    market: Marketplace,
    owner: Identity,
    training_id: int,
    weights: Weights,
    context: CkksContext | None = None,
) -> int:
    """Publish the next round's model and ask for the round; returns the round number.

    Plaintext weights are sealed to every CO of the dataset (any may be drawn) and the MO;
    a CKKS ciphertext is stored as is.
    """
    tm = market.training_market
    training = tm.training(training_id)
    problem = start_round_problem(training, owner.address)
    if problem is not None:
        raise InputError(problem)
    round_number = training.round + 1
    method_hash, method = load_method(market, training.model_id)
    document = RoundModel(
        training_id, round_number, method_hash, encode_weights(method, weights, context)
    ).to_bytes()
    if not method.ckks:
        recipients = [owner.encryption_public]
        for row in history.instances_of(market, training.dataset_id):
            for instance_id in row:
                instance = tm.instance(instance_id)
                if instance.status is InstanceStatus.VERIFIED:
                    recipients.append(market.registry.encryption_key(instance.co))
        document = seal(document, recipients, round_context(tm.address, training_id, round_number))
    model_hash = market.store.put(document)
    tm.start_round(owner.account, training_id, hash_bytes(model_hash))
    return round_number


def draw_if_due(market: Marketplace, caller: Identity, training_id: int) -> bool:
    """Draw a requested round once its target block exists (anyone may); whether it drew.

    The target is the block that recorded start_round, so once it is mined any transaction
    sent now lands in a later block, as the draw requires.
    """
    tm = market.training_market
    training = tm.training(training_id)
    if draw_problem(training, market.chain.block_number()) is not None:
        return False
    tm.draw_round(caller.account, training_id)
    return True


def _open_job(
    market: Marketplace, owner: Identity, job: Event, method: Method, context: CkksContext | None
) -> tuple[Weights | None, str, str]:
    """(weights, reason, detail) of one job: weights when every check passes."""
    training_id, instance_id = int(job["training_id"]), int(job["instance_id"])
    location = hash_hex(job["location_hash"])
    try:
        envelope = market.store.get(location)
    except BlobNotFound:
        return None, REASON_MISSING, f"no blob {location} in the store"
    except IntegrityError as exc:
        return None, REASON_MISSING, f"blob {location} is corrupt: {exc}"
    aad = job_context(market.training_market.address, training_id, instance_id, int(job["round"]))
    try:
        model = open_envelope(envelope, owner.encryption_private, aad)
    except (IntegrityError, InputError) as exc:
        return None, REASON_UNREADABLE, f"envelope {location} does not open: {exc}"
    if commit(model, bytes(job["nonce"])) != bytes(job["model_hash"]):
        return (
            None,
            REASON_HASH_MISMATCH,
            f"keccak(model || nonce) = {hash_hex(commit(model, bytes(job['nonce'])))} "
            f"!= declared {hash_hex(job['model_hash'])}",
        )
    try:
        if method.ckks:
            if context is None:
                raise ProtocolError("reviewing a CKKS training needs the secret context")
            weights: Weights = decrypt_weights(context, EncryptedWeights.from_bytes(context, model))
        else:
            weights = weights_from_bytes(model)
    except InputError as exc:
        return None, REASON_UNREADABLE, f"the model does not decode: {exc}"
    return weights, "", ""


def _agree(method: Method, a: Weights, b: Weights) -> bool:
    if method.ckks:
        return within_tolerance(
            np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64), CKKS_TOLERANCE
        )
    return weights_to_bytes(np.asarray(a)) == weights_to_bytes(np.asarray(b))


def review_round(
    market: Marketplace,
    owner: Identity,
    training_id: int,
    round_number: int,
    context: CkksContext | None = None,
) -> RoundReview:
    """Check every job of a round and run replica consensus (see the module docstring)."""
    tm = market.training_market
    training = tm.training(training_id)
    _, method = load_method(market, training.model_id)
    all_jobs = history.jobs(market, training_id)
    earlier = {
        bytes(job["model_hash"]): int(job["instance_id"])
        for job in all_jobs
        if int(job["round"]) < round_number
    }
    checks: list[JobCheck] = []
    for job in (job for job in all_jobs if int(job["round"]) == round_number):
        instance_id = int(job["instance_id"])
        subset = tm.instance(instance_id).subset
        co = str(job["co"])
        model_hash = bytes(job["model_hash"])
        if model_hash in earlier:
            reason, detail, weights = (
                REASON_COPIED_HASH,
                f"model hash {hash_hex(model_hash)} was posted before by instance "
                f"{earlier[model_hash]}",
                None,
            )
        else:
            earlier[model_hash] = instance_id
            weights, reason, detail = _open_job(market, owner, job, method, context)
        evidence = (
            None
            if weights is not None
            else Evidence(training_id, round_number, instance_id, co, reason, detail)
        )
        checks.append(JobCheck(instance_id, co, subset, weights, evidence))
    return _consensus(training_id, round_number, method, checks)


def _consensus(
    training_id: int, round_number: int, method: Method, checks: list[JobCheck]
) -> RoundReview:
    consensus: dict[int, Weights] = {}
    ties = []
    final: list[JobCheck] = []
    for subset in sorted({check.subset for check in checks}):
        members = [c for c in checks if c.subset == subset]
        valid = [c for c in members if c.weights is not None]
        final += [c for c in members if c.weights is None]
        groups: list[list[JobCheck]] = []
        for check in valid:
            assert check.weights is not None
            for group in groups:
                head = group[0].weights
                if head is not None and _agree(method, head, check.weights):
                    group.append(check)
                    break
            else:
                groups.append([check])
        groups.sort(key=len, reverse=True)
        if not groups or 2 * len(groups[0]) <= len(valid):
            ties.append(subset)
            final += valid
            continue
        winners = groups[0]
        agreed = winners[0].weights
        assert agreed is not None
        consensus[subset] = agreed
        final += winners
        majority = tuple(sorted(c.instance_id for c in winners))
        for group in groups[1:]:
            for check in group:
                final.append(
                    JobCheck(
                        check.instance_id,
                        check.co,
                        subset,
                        None,
                        Evidence(
                            training_id,
                            round_number,
                            check.instance_id,
                            check.co,
                            REASON_OUTVOTED,
                            f"its model differs from the one {len(winners)} of "
                            f"{len(valid)} replicas of subset {subset} agree on",
                            majority,
                        ),
                    )
                )
    final.sort(key=lambda c: c.instance_id)
    return RoundReview(training_id, round_number, tuple(final), consensus, tuple(ties))


def report_frauds(market: Marketplace, owner: Identity, review: RoundReview) -> list[int]:
    """Store each piece of evidence and report its job on chain; the instances reported.

    Skips jobs already reported, so running it twice reports nothing twice.
    """
    tm = market.training_market
    reported = []
    for evidence in review.frauds:
        if tm.job(review.training_id, evidence.instance_id).fraudulent:
            continue
        evidence_hash = market.store.put(evidence.to_bytes())
        tm.report_fraud(
            owner.account,
            review.training_id,
            evidence.instance_id,
            review.round,
            hash_bytes(evidence_hash),
        )
        reported.append(evidence.instance_id)
    return reported


def aggregate(
    market: Marketplace, review: RoundReview, dataset_id: int, previous: Weights
) -> Weights:
    """FedAvg of the agreed models, weighted by subset size; ``previous`` if none agreed."""
    if not review.consensus:
        return previous
    sizes = load_manifest(market, dataset_id).sizes
    updates = [
        Update(np.asarray(weights), sizes[subset])
        for subset, weights in sorted(review.consensus.items())
    ]
    return FedAvg().aggregate(updates)


def accuracy(method: Method, weights: Weights, data: Dataset) -> float:
    """The model's accuracy on ``data`` (the MO's own held-out examples, scaled as the
    method publishes)."""
    if method.ckks:
        return float(
            np.mean(logreg_predict(np.asarray(weights, dtype=np.float64), data.X) == data.y)
        )
    return method.build_trainer().accuracy(weights, method.rows(data))


def initial_weights(method: Method, n_features: int) -> Weights:
    """Round 1's model: the trainer's seeded start, or zeros for CKKS logistic regression."""
    if method.ckks:
        return np.zeros(n_features + 1)
    return method.build_trainer().init_weights(method.seed)


def finish(market: Marketplace, owner: Identity, training_id: int) -> None:
    """Complete the training (pays the DO and honest COs, refunds the rest)."""
    market.training_market.complete(owner.account, training_id)


def checks_by_reason(reviews: Sequence[RoundReview]) -> dict[str, int]:
    """How many jobs failed for each reason over some rounds."""
    counts: dict[str, int] = {}
    for review in reviews:
        for evidence in review.frauds:
            counts[evidence.reason] = counts.get(evidence.reason, 0) + 1
    return counts
