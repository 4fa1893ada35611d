"""P2's rules: whether a step on a dataset or a training is acceptable, as plain functions.

Each ``*_problem`` function returns why a step would fail (the contract's asserts, said
before anything is sent), or None when it is acceptable. The CLI raises the problem as an
InputError, the agents skip the step, an HTTP API answers it; nobody restates the contract.
Light: the functions judge views (:mod:`~mercato.protocols.training.views`) and plain
values, and read nothing themselves.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from mercato.protocols.rules import funds_problem, party_problem, state_problem
from mercato.protocols.rules import range_problem as range_problem  # the CLI checks options with it
from mercato.protocols.training.limits import MAX_PRICE, MAX_REPLICAS, MAX_ROUNDS, MAX_SUBSETS
from mercato.protocols.training.views import (
    COMPLETABLE,
    Dataset,
    Instance,
    InstanceStatus,
    Job,
    Training,
    TrainingStatus,
)
from mercato.timefmt import format_time, same_address
from mercato.units import format_ether

if TYPE_CHECKING:
    from mercato.protocols.training.documents import Manifest


def status_problem(training: Training, wanted: Sequence[TrainingStatus], action: str) -> str | None:
    """Unless the training is in one of the ``wanted`` states (``action``: ``approve``)."""
    return state_problem(training.status, wanted, f"training {training.training_id}", action)


def model_owner_problem(training: Training, caller: str, action: str) -> str | None:
    """Unless ``caller`` is the training's model owner."""
    entry = f"training {training.training_id}"
    return party_problem(training.mo, caller, "model owner", entry, action)


# offering a dataset -----------------------------------------------------------------------
def split_problem(subsets: int, replicas: int) -> str | None:
    """Unless a dataset may be split into ``subsets`` subsets of ``replicas`` replicas."""
    return range_problem(subsets, 1, MAX_SUBSETS, "--subsets") or range_problem(
        replicas, 1, MAX_REPLICAS, "--replicas"
    )


def price_problem(price: int, given: str, name: str) -> str | None:
    """Unless ``price`` (``given`` as the caller wrote it) fits the contract's prices."""
    if price <= MAX_PRICE:
        return None
    return f"{name} must be at most {format_ether(MAX_PRICE)}, got {given}"


def holders_problem(
    holders: Sequence[str], replicas: int, name: str = "--compute-provider"
) -> str | None:
    """Unless the compute providers named to hold replicas are named once each and are
    enough that none holds two replicas of one subset."""
    repeated = sorted({co for co in holders if holders.count(co) > 1})
    if repeated:
        return f"{name} {repeated[0]} is given twice: name each compute provider once"
    if len(holders) < replicas:
        return (
            f"{replicas} replicas of each subset need at least {replicas} distinct compute "
            f"providers, got {len(holders)}"
        )
    return None


def holder_problem(co: str, registered: bool, name: str = "--compute-provider") -> str | None:
    """Unless ``co`` (``registered`` as a compute provider or not) may hold replicas."""
    if registered:
        return None
    return (
        f"{name} {co} is not a registered compute provider "
        "(it registers with: mercato register --roles compute-provider)"
    )


# joining and verifying -------------------------------------------------------------------
def instance_problem(instance: Instance, wanted: InstanceStatus, action: str) -> str | None:
    """Unless the instance is ``wanted`` (``action``: ``verify``)."""
    return state_problem(instance.status, (wanted,), f"instance {instance.instance_id}", action)


def join_problem(instance: Instance, caller: str) -> str | None:
    """Unless ``caller`` may join the instance: its holder, while it is free."""
    if not same_address(instance.co, caller):
        return f"instance {instance.instance_id} belongs to {instance.co}, not {caller}"
    return instance_problem(instance, InstanceStatus.FREE, "join")


def verify_problem(instance: Instance) -> str | None:
    """Unless the data owner may verify (or flag) the instance: it is joined."""
    return instance_problem(instance, InstanceStatus.JOINED, "verify")


# requesting a training --------------------------------------------------------------------
def model_problem(model_id: int, model_owner: str, caller: str) -> str | None:
    """Unless ``caller`` owns model ``model_id`` (``model_owner``'s), so may train it."""
    if same_address(model_owner, caller):
        return None
    return f"model {model_id} belongs to {model_owner}; you are {caller}"


def request_problem(dataset: Dataset, per_round: int, rounds: int) -> str | None:
    """Unless a training may draw ``per_round`` subsets of ``dataset`` a round for up to
    ``rounds`` rounds."""
    return range_problem(per_round, 1, dataset.subsets, "--subsets-per-round") or range_problem(
        rounds, 1, MAX_ROUNDS, "--rounds"
    )


def fits_problem(
    model_id: int,
    shape: tuple[int, int],
    dataset: Dataset,
    manifest: Manifest,
    features: Sequence[str] = (),
) -> str | None:
    """Unless a model of ``shape`` (features, classes), taking the columns ``features`` in
    that order if it names them, can train on ``dataset``, whose ``manifest`` says its
    features (named, if its file names them) and labels."""
    from mercato.ml.columns import few

    n_features, classes = shape
    labels = manifest.classes
    if n_features != manifest.n_features or max(labels) >= classes:
        return (
            f"model {model_id} takes {n_features} features and {classes} classes; dataset "
            f"{dataset.dataset_id} ({manifest.name}) has {manifest.n_features} features and "
            f"labels {min(labels)}..{max(labels)}"
        )
    if features and manifest.features and tuple(features) != manifest.features:
        return (
            f"model {model_id} takes the columns {few(features)} in that order; dataset "
            f"{dataset.dataset_id} ({manifest.name}) has {few(manifest.features)}"
        )
    return None


def escrow_problem(caller: str, balance: int, escrow: int) -> str | None:
    """Unless ``caller``'s ``balance`` covers the ``escrow`` the training locks."""
    return funds_problem(caller, balance, escrow, "training")


def cancel_problem(training: Training, caller: str) -> str | None:
    """Unless ``caller`` may cancel the training: its model owner, before approval."""
    return model_owner_problem(training, caller, "cancel") or status_problem(
        training, [TrainingStatus.REQUESTED], "cancel"
    )


def take_problem(training: Training, caller: str) -> str | None:
    """Unless ``caller`` may take the training's model: its model owner (the jobs are sealed
    to it), after at least one round and while no round trains."""
    problem = model_owner_problem(training, caller, "take its model")
    if problem is not None:
        return problem
    if training.round == 0:
        return (
            f"training {training.training_id} is {training.status.label} and has run no round: "
            "it has no model yet"
        )
    if training.status is TrainingStatus.TRAINING:
        return (
            f"training {training.training_id} is training round {training.round}; its model "
            "is there once the round is done"
        )
    return None


# the data owner ---------------------------------------------------------------------------
def approve_problem(training: Training, dataset: Dataset, caller: str, now: int) -> str | None:
    """Unless ``caller`` may approve the training at ``now``: the dataset's owner, in time,
    once every slot holds a verified instance."""
    if not same_address(dataset.owner, caller):
        return (
            f"only the owner of dataset {dataset.dataset_id} ({dataset.owner}) may approve "
            f"training {training.training_id}; you are {caller}"
        )
    problem = status_problem(training, [TrainingStatus.REQUESTED], "approve")
    if problem is not None:
        return problem
    if now >= training.deadline:
        return (
            f"the approval period of training {training.training_id} ended at "
            f"{format_time(training.deadline)}"
        )
    if not dataset.ready:
        return (
            f"dataset {dataset.dataset_id} has {dataset.verified} of {dataset.slots} instances "
            "verified; approve once every slot is (the data owner's agent verifies joins)"
        )
    return None


# the model owner --------------------------------------------------------------------------
def start_round_problem(training: Training, caller: str) -> str | None:
    """Unless ``caller`` may start the next round: the model owner, with no round running."""
    if training.mo != caller:
        return f"training {training.training_id} belongs to {training.mo}"
    if training.status not in (TrainingStatus.APPROVED, TrainingStatus.ROUND_DONE):
        return f"training {training.training_id} is {training.status.label}: no round to start"
    return None


def report_fraud_problem(
    training: Training, round_number: int, job: Job, caller: str, now: int
) -> str | None:
    """Unless ``caller`` may report a job of round ``round_number``: the model owner, while
    the round is under review, a job submitted in that round and not reported yet."""
    where = f"round {round_number} of training {training.training_id}"
    if not same_address(training.mo, caller):
        return f"only the model owner of training {training.training_id} reports fraud"
    if training.status is not TrainingStatus.ROUND_DONE or round_number != training.round:
        return f"{where} is not under review"
    if now >= training.deadline:
        return f"the review of {where} ended at {format_time(training.deadline)}"
    if job.fraudulent:
        return f"the job of {where} was already reported"
    if job.round != round_number:
        return f"the instance did not submit in {where}"
    return None


# the compute providers ---------------------------------------------------------------------
def submit_problem(training: Training, instance: Instance, job: Job, caller: str) -> str | None:
    """Unless ``caller``'s instance owes a job in the training's current round: it is
    verified, its subset is drawn, and it neither submitted this round nor was reported."""
    where = f"round {training.round} of training {training.training_id}"
    iid = instance.instance_id
    problem = status_problem(training, [TrainingStatus.TRAINING], "submit a job to")
    if problem is not None:
        return problem
    if not same_address(instance.co, caller):
        return f"instance {iid} belongs to {instance.co}, not {caller}"
    problem = instance_problem(instance, InstanceStatus.VERIFIED, "submit a job of")
    if problem is not None:
        return problem
    if instance.subset not in training.selected_subsets:
        return f"subset {instance.subset} is not drawn in {where}"
    if job.fraudulent:
        return f"instance {iid} was reported in training {training.training_id}"
    if job.round == training.round:
        return f"instance {iid} already submitted in {where}"
    return None


# anyone -----------------------------------------------------------------------------------
def _timely_problem(
    training: Training, status: TrainingStatus, action: str, early: bool, wait: str
) -> str | None:
    """Unless the training is in ``status`` and it is not ``early`` (``wait``: until when)."""
    problem = status_problem(training, [status], action)
    where = f"round {training.round} of training {training.training_id}"
    return problem or (f"{where} {wait}" if early else None)


def draw_problem(training: Training, block_number: int) -> str | None:
    """Unless the round asked for can be drawn at ``block_number``."""
    early, target = block_number < training.target_block, training.target_block
    wait = f"draws after block {target}; wait for it"
    return _timely_problem(training, TrainingStatus.DRAWING, "draw a round of", early, wait)


def close_round_problem(training: Training, now: int) -> str | None:
    """Unless the running round's deadline passed at ``now``, so anyone may close it."""
    missing = f"{training.remaining} job(s) missing"
    wait = f"runs until {format_time(training.deadline)} ({missing}); close it after"
    early = now < training.deadline
    return _timely_problem(training, TrainingStatus.TRAINING, "close a round of", early, wait)


def complete_problem(training: Training, caller: str, now: int, idle_period: int) -> str | None:
    """Unless ``caller`` may complete the training at ``now``: the model owner whenever no
    round runs, anyone once the model owner is silent past the idle deadline."""
    if training.status is TrainingStatus.REQUESTED:
        return (
            f"training {training.training_id} was never approved: its model owner cancels it "
            "instead"
        )
    problem = status_problem(training, COMPLETABLE, "complete")
    if problem is not None:
        return problem
    idle_deadline = training.idle_deadline(idle_period)
    if not same_address(training.mo, caller) and now < idle_deadline:
        return (
            f"only the model owner may complete training {training.training_id} before its "
            f"idle deadline {format_time(idle_deadline)}"
        )
    return None
