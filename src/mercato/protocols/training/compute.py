"""The compute provider's steps: receive a replica, join, train each drawn round, submit.

A CO keeps nothing but its key: its replica stays sealed in the blob store (the instance's
``envelope_hash`` says where) and is opened when needed. Training is a :data:`Worker`, a
function from a :class:`JobInput` to the trained model's bytes; :func:`honest_worker` is
the protocol's, deterministic on CPU, so honest replicas of a subset produce the same bytes
in plaintext mode (and the same weights within CKKS noise in CKKS mode).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from mercato.chain.contract import TxResult
from mercato.crypto.ckks import CkksContext, EncryptedWeights, encrypted_logreg_step
from mercato.crypto.commit import commit, keccak, new_nonce
from mercato.errors import InputError, IntegrityError, ProtocolError
from mercato.ml.datasets import Dataset
from mercato.ml.trainers import weights_from_bytes, weights_to_bytes
from mercato.protocols.identity import Identity
from mercato.protocols.marketplace import Marketplace
from mercato.protocols.training import history
from mercato.protocols.training.documents import (
    Manifest,
    Method,
    RoundModel,
    hash_bytes,
    hash_hex,
    job_context,
    replica_context,
    round_context,
    unpack_replica,
)
from mercato.protocols.training.market import TrainingStatus
from mercato.protocols.training.rules import submit_problem
from mercato.storage.envelope import open_envelope, seal


@dataclass(frozen=True)
class JobInput:
    """Everything one job trains with."""

    method: Method
    round: int
    payload: bytes
    """The round's model: MCWT weights, or a CKKS ciphertext in CKKS mode."""
    data: Dataset
    context: CkksContext | None = None
    """The public CKKS context (CKKS mode only)."""


Worker = Callable[[JobInput], bytes]


def honest_worker(job: JobInput) -> bytes:
    """Train as the method says: the model bytes every honest replica produces."""
    if job.method.ckks:
        if job.context is None:
            raise ProtocolError("a CKKS job needs the model owner's public context")
        encrypted = EncryptedWeights.from_bytes(job.context, job.payload)
        rate = float(job.method.trainer["learning_rate"])
        return encrypted_logreg_step(encrypted, job.data.X, job.data.y, rate).to_bytes()
    trainer = job.method.build_trainer()
    weights = trainer.train(
        weights_from_bytes(job.payload),
        job.data,
        job.method.local_epochs,
        job.method.seed_of(job.round),
    )
    return weights_to_bytes(weights)


def load_manifest(market: Marketplace, dataset_id: int) -> Manifest:
    meta_hash = hash_hex(market.training_market.dataset(dataset_id).meta_hash)
    return Manifest.from_bytes(market.store.get(meta_hash))


def load_method(market: Marketplace, model_id: int) -> tuple[str, Method]:
    """(method blob hash, method) of a model record."""
    model = market.training_market.model(model_id, market.deployment.block)
    method_hash = hash_hex(model.method_hash)
    return method_hash, Method.from_bytes(market.store.get(method_hash))


_CONTEXTS: dict[str, CkksContext] = {}
"""Public CKKS contexts loaded in this process, by blob hash (content-addressed: a hash
names the same bytes in every store). Each is tens of megabytes; it is read once."""


def public_context(market: Marketplace, method: Method) -> CkksContext | None:
    """The MO's public CKKS context of a CKKS method (loaded once per process)."""
    if not method.ckks or method.context_hash is None:
        return None
    context = _CONTEXTS.get(method.context_hash)
    if context is None:
        context = CkksContext.from_bytes(market.store.get(method.context_hash))
        _CONTEXTS[method.context_hash] = context
    if context.has_secret_key:
        raise ProtocolError("the published CKKS context holds a secret key; refusing it")
    return context


def receive_replica(market: Marketplace, co: Identity, instance_id: int) -> bytes:
    """Open the replica the DO sealed to ``co`` and check it against the manifest.

    ProtocolError if the DO handed over data that is not the subset it committed to.
    """
    created = history.instance_created(market, instance_id)
    if created["co"] != co.address:
        raise InputError(f"instance {instance_id} belongs to {created['co']}, not {co.address}")
    dataset_id, subset = int(created["dataset_id"]), int(created["subset"])
    envelope = market.store.get(hash_hex(created["envelope_hash"]))
    try:
        content = open_envelope(
            envelope,
            co.encryption_private,
            replica_context(market.training_market.address, dataset_id, subset),
        )
        salt, data = unpack_replica(content)
    except (IntegrityError, InputError) as exc:
        raise ProtocolError(
            f"instance {instance_id}: the DO's envelope does not open to a replica: {exc}"
        ) from None
    if keccak(data + salt) != load_manifest(market, dataset_id).commitment(subset):
        raise ProtocolError(
            f"instance {instance_id}: the DO handed over data that is not subset {subset} "
            f"of dataset {dataset_id} as its manifest commits"
        )
    return data


def join(market: Marketplace, co: Identity, instance_id: int, data: bytes) -> bytes:
    """Declare ``keccak(data || nonce)`` on the instance; returns the nonce."""
    nonce = new_nonce()
    market.training_market.join_instance(co.account, instance_id, commit(data, nonce), nonce)
    return nonce


def cross_check(market: Marketplace, instance_id: int, data: bytes) -> dict[int, bool]:
    """The paper's CO-side check: for every other joined replica of the same subset, whether
    ``keccak(data || its nonce)`` equals its declared hash (the DO gave both the same data)."""
    tm = market.training_market
    instance = tm.instance(instance_id)
    result = {}
    for other in history.instances_of(market, instance.dataset_id)[instance.subset]:
        join_event = history.joined(market, other) if other and other != instance_id else None
        if join_event is not None:
            result[other] = commit(data, bytes(join_event["nonce"])) == bytes(
                join_event["data_hash"]
            )
    return result


def open_round_model(
    market: Marketplace, reader: Identity, training_id: int, round_number: int
) -> tuple[Method, RoundModel]:
    """The method and the model round ``round_number`` trains, from the blob its
    RoundRequested names (the store checks the bytes against that hash), opened with
    ``reader``'s key (plaintext mode: sealed to the COs and the MO) and checked to be of
    this training and round; ProtocolError otherwise."""
    training = market.training_market.training(training_id)
    method_hash, method = load_method(market, training.model_id)
    requested = history.round_requested(market, training_id, round_number)
    blob = market.store.get(hash_hex(requested["model_hash"]))
    try:
        if not method.ckks:
            blob = open_envelope(
                blob,
                reader.encryption_private,
                round_context(market.training_market.address, training_id, round_number),
            )
        model = RoundModel.from_bytes(blob)
    except (IntegrityError, InputError) as exc:
        raise ProtocolError(
            f"training {training_id} round {round_number}: unreadable round model: {exc}"
        ) from None
    if (model.training_id, model.round, model.method_hash) != (
        training_id,
        round_number,
        method_hash,
    ):
        raise ProtocolError(
            f"training {training_id} round {round_number}: the round model is for training "
            f"{model.training_id} round {model.round}"
        )
    return method, model


def round_input(
    market: Marketplace, co: Identity, training_id: int, round_number: int, data: bytes
) -> JobInput:
    """Fetch and check the model a round trains, and the method it trains with."""
    method, model = open_round_model(market, co, training_id, round_number)
    return JobInput(
        method=method,
        round=round_number,
        payload=model.payload,
        data=method.rows(Dataset.from_bytes(data)),
        context=public_context(market, method),
    )


def due_jobs(market: Marketplace, co: Identity, training_id: int) -> list[int]:
    """This CO's instances that owe a job in the training's current round."""
    tm = market.training_market
    training = tm.training(training_id)
    if training.status is not TrainingStatus.TRAINING:
        return []
    due = []
    slots = history.instances_of(market, training.dataset_id)
    for s in training.selected_subsets:
        for instance_id in slots[s]:
            if not instance_id:
                continue
            instance, job = tm.instance(instance_id), tm.job(training_id, instance_id)
            if submit_problem(training, instance, job, co.address) is None:
                due.append(instance_id)
    return due


def submit(
    market: Marketplace,
    co: Identity,
    training_id: int,
    instance_id: int,
    round_number: int,
    model: bytes,
) -> TxResult:
    """Seal the trained model to the MO (and this CO), store it, and post its commitment."""
    tm = market.training_market
    training = tm.training(training_id)
    mo_key = market.registry.encryption_key(training.mo)
    envelope = seal(
        model,
        [mo_key, co.encryption_public],
        job_context(tm.address, training_id, instance_id, round_number),
    )
    location = market.store.put(envelope)
    nonce = new_nonce()
    return tm.submit_job(
        co.account,
        training_id,
        instance_id,
        model_hash=commit(model, nonce),
        nonce=nonce,
        location_hash=hash_bytes(location),
    )


def run_jobs(
    market: Marketplace, co: Identity, training_id: int, worker: Worker = honest_worker
) -> list[int]:
    """Train and submit every job this CO owes in the current round; the instances done."""
    round_number = market.training_market.training(training_id).round
    done = []
    for instance_id in due_jobs(market, co, training_id):
        data = receive_replica(market, co, instance_id)
        model = worker(round_input(market, co, training_id, round_number, data))
        submit(market, co, training_id, instance_id, round_number, model)
        done.append(instance_id)
    return done
