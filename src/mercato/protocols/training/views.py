"""What there is to know about P2's datasets and trainings: frozen views, no printing.

A dataset, an instance, a model, a training and a job as the contract stores them, and what
a training's events tell: its rounds and their jobs, the frauds reported, what it paid
(:class:`TrainingDetail`). The CLI renders them (``record()`` is their JSON form: amounts
in wei, hashes as bytes), the agents decide on them and
:mod:`~mercato.protocols.training.rules` judges them. Light: the chain, the blob store and
the documents are imported by the functions that read them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any

from mercato.errors import InputError
from mercato.hashes import Hash
from mercato.protocols.states import State
from mercato.protocols.training.limits import MAX_SUBSETS
from mercato.units import format_ether

if TYPE_CHECKING:
    from mercato.chain.contract import Event
    from mercato.protocols.marketplace import Marketplace
    from mercato.protocols.training.documents import Manifest, Method
    from mercato.protocols.training.market import TrainingMarket


class InstanceStatus(State):
    """Cloud-instance states, as the contract numbers them (printed as their label)."""

    FREE = 1
    JOINED = 2
    VERIFIED = 3
    FLAGGED = 4


class TrainingStatus(State):
    """Training-couple states, as the contract numbers them (printed as their label)."""

    REQUESTED = 1
    APPROVED = 2
    DRAWING = 3
    TRAINING = 4
    ROUND_DONE = 5
    COMPLETED = 6
    CANCELLED = 7

    @property
    def final(self) -> bool:
        return self >= TrainingStatus.COMPLETED


DEADLINE_KINDS: dict[TrainingStatus, str] = {
    TrainingStatus.REQUESTED: "approval",
    TrainingStatus.APPROVED: "idle",
    TrainingStatus.DRAWING: "idle",
    TrainingStatus.TRAINING: "round",
    TrainingStatus.ROUND_DONE: "review",
}
"""Which deadline a training's single deadline field means in each live status."""
COMPLETABLE = (TrainingStatus.APPROVED, TrainingStatus.DRAWING, TrainingStatus.ROUND_DONE)
"""The statuses in which a training can be completed (no round runs)."""
TRAINING_EVENTS = frozenset(
    {"TrainingRequested", "TrainingApproved", "TrainingCancelled", "RoundRequested",
     "DrawRetargeted", "RoundStarted", "JobSubmitted", "RoundDone", "FraudReported",
     "TrainingCompleted"}
)  # fmt: skip
"""The training market's events about one training (they carry its id)."""


def escrow_for(
    data_price: int, job_price: int, subsets_per_round: int, replicas: int, max_rounds: int
) -> int:
    """``data_price + job_price * k * n * max_rounds``, as the contract computes it."""
    return data_price + job_price * subsets_per_round * replicas * max_rounds


def subsets_of(mask: int) -> tuple[int, ...]:
    """The subset indices whose bits are set in ``mask``."""
    return tuple(s for s in range(MAX_SUBSETS) if mask >> s & 1)


# what the contract stores ---------------------------------------------------------------
@dataclass(frozen=True)
class Dataset:
    """A dataset split into ``subsets`` private subsets of ``replicas`` replicas each."""

    dataset_id: int
    owner: str
    subsets: int
    replicas: int
    verified: int
    data_price: int
    job_price: int
    meta_hash: Hash

    @property
    def slots(self) -> int:
        return self.subsets * self.replicas

    @property
    def ready(self) -> bool:
        """Every slot holds a verified instance: trainings can be approved."""
        return self.verified == self.slots

    def escrow_for(self, subsets_per_round: int, max_rounds: int) -> int:
        """What a training request must lock: the most the training can cost."""
        return escrow_for(
            self.data_price, self.job_price, subsets_per_round, self.replicas, max_rounds
        )

    def record(self) -> dict[str, Any]:
        """The dataset as the chain holds it."""
        return {
            "id": self.dataset_id,
            "owner": self.owner,
            "subsets": self.subsets,
            "replicas": self.replicas,
            "slots": self.slots,
            "verified": self.verified,
            "ready": self.ready,
            "data_price": self.data_price,
            "job_price": self.job_price,
            "meta_hash": self.meta_hash,
        }


@dataclass(frozen=True)
class Instance:
    """A cloud instance: replica ``replica`` of subset ``subset``, held by ``co``."""

    instance_id: int
    co: str
    dataset_id: int
    subset: int
    replica: int
    status: InstanceStatus


@dataclass(frozen=True)
class Model:
    """A model record: its owner from storage, the rest from its ModelCreated event."""

    model_id: int
    owner: str
    model_type: bytes
    method_hash: Hash
    key_hash: Hash


@dataclass(frozen=True)
class Training:
    """Everything the chain holds about one training couple."""

    training_id: int
    mo: str
    dataset_id: int
    model_id: int
    subsets_per_round: int
    max_rounds: int
    status: TrainingStatus
    round: int
    remaining: int
    jobs: int
    deadline: int
    target_block: int
    selected: int
    cycle: int
    fraud: int
    forfeited: int
    escrowed: int

    @property
    def locked(self) -> int:
        """Money of this training that the contract still holds in escrow."""
        return 0 if self.status.final else self.escrowed

    @property
    def selected_subsets(self) -> tuple[int, ...]:
        """Subsets drawn for the current round."""
        return subsets_of(self.selected)

    @property
    def deadline_kind(self) -> str | None:
        """``approval``, ``idle``, ``round`` or ``review``; None once final."""
        return DEADLINE_KINDS.get(self.status)

    @property
    def completable(self) -> bool:
        """No round runs and the training is live: it can be completed."""
        return self.status in COMPLETABLE

    def idle_deadline(self, idle_period: int) -> int:
        """When anyone may complete, if the MO stays silent (APPROVED, DRAWING, ROUND_DONE)."""
        if self.status is TrainingStatus.ROUND_DONE:
            return self.deadline + idle_period
        return self.deadline

    def record(self, idle_period: int) -> dict[str, Any]:
        """The training as the chain holds it, with what its deadline means now."""
        kind = self.deadline_kind
        return {
            "id": self.training_id,
            "status": self.status.label,
            "mo": self.mo,
            "dataset_id": self.dataset_id,
            "model_id": self.model_id,
            "subsets_per_round": self.subsets_per_round,
            "max_rounds": self.max_rounds,
            "round": self.round,
            "drawn_subsets": list(self.selected_subsets),
            "remaining": self.remaining,
            "jobs": self.jobs,
            "deadline": self.deadline if kind else None,
            "deadline_kind": kind,
            "idle_deadline": self.idle_deadline(idle_period) if self.completable else None,
            "target_block": self.target_block or None,
            "escrowed": self.escrowed,
            "locked": self.locked,
            "forfeited_to_owner": self.forfeited,
        }


@dataclass(frozen=True)
class Job:
    """An instance's job in one training."""

    pending: int
    round: int
    fraudulent: bool


# reading one entry ----------------------------------------------------------------------
def read_dataset(tm: TrainingMarket, dataset_id: int) -> Dataset:
    """Dataset ``dataset_id``; InputError if there is no such dataset."""
    count = tm.dataset_count()
    if not 0 < dataset_id <= count:
        raise InputError(f"no dataset {dataset_id} (there are {count})")
    return tm.dataset(dataset_id)


def read_training(tm: TrainingMarket, training_id: int) -> Training:
    """Training ``training_id`` (the wrapper's check: InputError if there is none)."""
    tm.check(training_id)
    return tm.training(training_id)


def read_model_owner(tm: TrainingMarket, model_id: int) -> str:
    """The owner of model ``model_id``; InputError if there is no such model."""
    count = tm.model_count()
    owner = tm.model_owner(model_id) if 0 < model_id <= count else None
    if owner is None:
        raise InputError(f"no model {model_id} (there are {count})")
    return owner


def read_manifest(market: Marketplace, dataset: Dataset) -> Manifest:
    """The dataset's public manifest, from the blob store."""
    from mercato.protocols.training.documents import Manifest, hash_hex

    return Manifest.from_bytes(market.store.get(hash_hex(dataset.meta_hash)))


def read_method(market: Marketplace, model_id: int) -> Method:
    """The training method model ``model_id`` was created with, from the blob store."""
    from mercato.protocols.training.documents import Method, hash_hex

    model = market.training_market.model(model_id, market.deployment.block)
    return Method.from_bytes(market.store.get(hash_hex(model.method_hash)))


def manifest_record(manifest: Manifest) -> dict[str, Any]:
    """A dataset's manifest as JSON-ready data."""
    return {
        "name": manifest.name,
        "ontology_class": manifest.ontology_class,
        "n_features": manifest.n_features,
        "classes": list(manifest.classes),
        "sizes": list(manifest.sizes),
        "commitments": list(manifest.commitments),
        "features": list(manifest.features) or None,
        "labels": list(manifest.labels) or None,
    }


@dataclass(frozen=True)
class Slot:
    """One slot (subset, replica) of a dataset with its current instance, if any."""

    subset: int
    replica: int
    instance: Instance | None

    def record(self) -> dict[str, Any]:
        instance = self.instance
        return {
            "subset": self.subset,
            "replica": self.replica,
            "instance_id": None if instance is None else instance.instance_id,
            "co": None if instance is None else instance.co,
            "status": "empty" if instance is None else instance.status.name.lower(),
        }


def read_slots(market: Marketplace, dataset: Dataset) -> list[Slot]:
    """Every slot of ``dataset`` with its current instance, holder and state."""
    from mercato.protocols.training import history

    tm = market.training_market
    return [
        Slot(subset, replica, tm.instance(instance_id) if instance_id else None)
        for subset, row in enumerate(history.instances_of(market, dataset.dataset_id))
        for replica, instance_id in enumerate(row)
    ]


# what a training's events tell ----------------------------------------------------------
@dataclass(frozen=True)
class Replica:
    """An instance at its slot: replica ``replica`` of subset ``subset``, held by ``co``."""

    instance_id: int
    co: str
    subset: int
    replica: int

    def record(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Submission:
    """A job submitted in one round: by which replica, and the model it sent."""

    by: Replica
    model_hash: bytes
    location_hash: bytes

    def record(self) -> dict[str, Any]:
        return {
            **self.by.record(),
            "model_hash": self.model_hash,
            "location_hash": self.location_hash,
        }


@dataclass(frozen=True)
class Round:
    """One round: asked for (model, target block), drawn (subsets), its jobs, and done."""

    number: int
    subsets: tuple[int, ...] = ()
    jobs: tuple[Submission, ...] = ()
    missing: int | None = None
    requested: tuple[bytes, int] | None = None
    """(model hash, target block) from RoundRequested."""
    started: tuple[bytes, int] | None = None
    """(block hash, round deadline) from RoundStarted."""
    review_deadline: int | None = None

    def record(self) -> dict[str, Any]:
        found: dict[str, Any] = {
            "round": self.number,
            "subsets": list(self.subsets),
            "jobs": [j.record() for j in self.jobs],
            "missing": self.missing,
        }
        if self.requested is not None:
            found["model_hash"], found["target_block"] = self.requested
        if self.started is not None:
            found["block_hash"], found["round_deadline"] = self.started
        if self.review_deadline is not None:
            found["review_deadline"] = self.review_deadline
        return found


def read_rounds(events: Sequence[Event], slots: dict[int, tuple[int, int]]) -> list[Round]:
    """The training's rounds so far, from its events; ``slots`` maps an instance id to its
    (subset, replica)."""
    rounds: dict[int, Round] = {}
    for e in events:
        if e.name not in ("RoundRequested", "RoundStarted", "JobSubmitted", "RoundDone"):
            continue
        number = int(e["round"])
        found = rounds.get(number, Round(number))
        if e.name == "RoundRequested":
            found = replace(found, requested=(e["model_hash"], e["target_block"]))
        elif e.name == "RoundStarted":
            drawn = subsets_of(int(e["subsets"]))
            found = replace(found, subsets=drawn, started=(e["block_hash"], e["round_deadline"]))
        elif e.name == "JobSubmitted":
            subset, replica = slots.get(int(e["instance_id"]), (-1, -1))
            by = Replica(e["instance_id"], e["co"], subset, replica)
            job = Submission(by, e["model_hash"], e["location_hash"])
            found = replace(found, jobs=(*found.jobs, job))
        else:
            found = replace(found, missing=e["missing"], review_deadline=e["review_deadline"])
        rounds[number] = found
    return [rounds[r] for r in sorted(rounds)]


@dataclass(frozen=True)
class JobShare:
    """What one replica earned, or lost, in a training (a job with anything to show)."""

    by: Replica
    job: Job

    def record(self) -> dict[str, Any]:
        return {
            **self.by.record(),
            "pending": self.job.pending,
            "last_round": self.job.round,
            "fraudulent": self.job.fraudulent,
        }


@dataclass(frozen=True)
class Fraud:
    """A fraud report: the replica caught, what it forfeited and who shares it."""

    round: int
    instance_id: int
    co: str
    evidence_hash: bytes
    forfeited: int
    slashed: int
    honest: tuple[int, ...]

    @classmethod
    def of(cls, e: Event) -> Fraud:
        return cls(
            e["round"], e["instance_id"], e["co"], e["evidence_hash"], e["forfeited"],
            e["slashed"], tuple(e["honest"]),
        )  # fmt: skip

    def record(self) -> dict[str, Any]:
        return {
            "round": self.round,
            "instance_id": self.instance_id,
            "co": self.co,
            "evidence_hash": self.evidence_hash,
            "forfeited": self.forfeited,
            "slashed": self.slashed,
            "honest": list(self.honest),
        }


@dataclass(frozen=True)
class Payments:
    """What a final training paid: to the DO, to each CO, and back to the MO.

    A cancelled training has no ``data_owner``: it paid nobody.
    """

    refund: int
    paid_owner: int = 0
    paid_compute: int = 0
    compute: dict[str, int] = field(default_factory=dict)
    data_owner: str | None = None

    def record(self) -> dict[str, Any]:
        if self.data_owner is None:
            return {"refund": self.refund, "paid_owner": 0, "paid_compute": 0, "compute": {}}
        return {
            "data_owner": self.data_owner,
            "paid_owner": self.paid_owner,
            "paid_compute": self.paid_compute,
            "compute": self.compute,
            "refund": self.refund,
        }


def read_payments(events: Sequence[Event], jobs: Sequence[JobShare], owner: str) -> Payments | None:
    """What the training paid (or refunded) once final; None while it still runs.

    Each compute provider's pay is the pending pay of its jobs (its share of what reported
    replicas forfeited included), which completion credits in full.
    """
    for e in events:
        if e.name == "TrainingCancelled":
            return Payments(e["refund"])
        if e.name == "TrainingCompleted":
            compute: dict[str, int] = {}
            for share in jobs:
                if share.job.pending:
                    co = share.by.co
                    compute[co] = compute.get(co, 0) + share.job.pending
            return Payments(e["refund"], e["paid_owner"], e["paid_compute"], compute, owner)
    return None


def describe(event: Event) -> str:
    """One line saying what a training event means."""
    name = event.name
    if name == "TrainingRequested":
        return (
            f"requested by {event['mo']}: model {event['model_id']}, "
            f"{event['subsets_per_round']} subset(s) a round for {event['max_rounds']} "
            f"round(s); {format_ether(event['escrowed'])} in escrow"
        )
    if name == "TrainingApproved":
        return f"approved by the data owner {event['owner']}"
    if name == "TrainingCancelled":
        return f"cancelled; {format_ether(event['refund'])} refundable to the model owner"
    if name == "RoundRequested":
        return f"round {event['round']} asked for; drawn from block {event['target_block']}"
    if name == "DrawRetargeted":
        return f"round {event['round']}: target expired, now block {event['target_block']}"
    if name == "RoundStarted":
        drawn = list(subsets_of(int(event["subsets"])))
        return f"round {event['round']}: subsets {drawn} drawn, {event['remaining']} job(s) due"
    if name == "JobSubmitted":
        return f"round {event['round']}: instance {event['instance_id']} ({event['co']}) submits"
    if name == "RoundDone":
        missing = f", {event['missing']} job(s) missing" if event["missing"] else ""
        return f"round {event['round']} done{missing}; the model owner reviews"
    if name == "FraudReported":
        return (
            f"round {event['round']}: instance {event['instance_id']} ({event['co']}) "
            f"reported; forfeits {format_ether(event['forfeited'])}, stake slashed "
            f"{format_ether(event['slashed'])}"
        )
    if name == "TrainingCompleted":
        return (
            f"completed after {event['rounds']} round(s): data owner "
            f"{format_ether(event['paid_owner'])}, compute {format_ether(event['paid_compute'])}, "
            f"refund {format_ether(event['refund'])}"
        )
    return name


def training_events(market: Marketplace, training_id: int) -> list[Event]:
    """The events of one training, in chain order."""
    return [
        e
        for e in market.training_market.events(from_block=market.deployment.block)
        if e.name in TRAINING_EVENTS and e["training_id"] == training_id
    ]


# one training in full -------------------------------------------------------------------
@dataclass(frozen=True)
class TrainingDetail:
    """Everything there is to know about one training (``training show``)."""

    training: Training
    idle_period: int
    dataset: Dataset
    rounds: list[Round]
    jobs: list[JobShare]
    frauds: list[Fraud]
    slashed: int
    payments: Payments | None
    owed: dict[str, int]
    """What the training market owes each party now, over all its trainings: zero once
    everyone has withdrawn."""
    events: list[Event]

    def record(self) -> dict[str, Any]:
        """``training show --json``: the detail as JSON-ready data, its events summarised."""
        from mercato.protocols.readmodel import event_record

        return {
            "training": self.training.record(self.idle_period),
            "dataset": self.dataset.record(),
            "rounds": [r.record() for r in self.rounds],
            "jobs": [j.record() for j in self.jobs],
            "frauds": [f.record() for f in self.frauds],
            "slashed": self.slashed,
            "payments": None if self.payments is None else self.payments.record(),
            "owed": self.owed,
            "events": [event_record(e, describe(e)) for e in self.events],
        }


def read_detail(
    market: Marketplace, training: Training, events: Sequence[Event] | None = None
) -> TrainingDetail:
    """Training ``training`` in full: its dataset, rounds, jobs, frauds, pay and events
    (``events`` if already read, an event index's, else read from the chain)."""
    tm = market.training_market
    dataset = tm.dataset(training.dataset_id)
    if events is None:
        events = training_events(market, training.training_id)
    slots: dict[int, tuple[int, int]] = {}
    jobs: list[JobShare] = []
    for slot in read_slots(market, dataset):
        if slot.instance is None:
            continue
        instance_id = slot.instance.instance_id
        slots[instance_id] = (slot.subset, slot.replica)
        job = tm.job(training.training_id, instance_id)
        if job.round or job.pending or job.fraudulent:
            by = Replica(instance_id, slot.instance.co, slot.subset, slot.replica)
            jobs.append(JobShare(by, job))
    parties = [dataset.owner, training.mo, *(share.by.co for share in jobs)]
    return TrainingDetail(
        training=training,
        idle_period=tm.period("idle"),
        dataset=dataset,
        rounds=read_rounds(events, slots),
        jobs=jobs,
        frauds=[Fraud.of(e) for e in events if e.name == "FraudReported"],
        slashed=tm.slashed(training.training_id),
        payments=read_payments(events, jobs, dataset.owner),
        owed={party: tm.owed(party) for party in dict.fromkeys(parties)},
        events=list(events),
    )
