"""One training's record as an auditor reads it: the chain's events, the blobs, one viewer's keys.

:class:`TrainingLedger` reads every event of the training market once (the lookups of
:mod:`mercato.protocols.training.history`, over one snapshot) and opens sealed blobs with
the viewer's key where the viewer is a recipient: the DO of every replica envelope, a CO of
its own replicas and jobs, the MO of every job's model. Nothing here judges; the checks of
:mod:`mercato.audit.training` do.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import TypeVar

from mercato.audit.blobs import Opened, fetch
from mercato.audit.report import Finding
from mercato.chain.contract import Event
from mercato.crypto.ckks import CkksContext
from mercato.crypto.commit import commit, keccak
from mercato.errors import InputError, IntegrityError, MercatoError
from mercato.protocols.identity import Identity
from mercato.protocols.marketplace import Marketplace
from mercato.protocols.training.documents import (
    SALT_BYTES,
    Evidence,
    Manifest,
    Method,
    hash_hex,
    job_context,
    replica_context,
    unpack_replica,
)
from mercato.protocols.training.market import Dataset, Training, TrainingStatus
from mercato.protocols.training.model_owner import RoundReview, review_round
from mercato.storage.envelope import open_envelope

DATA_OWNER = "data owner"
COMPUTE_PROVIDER = "compute provider"
MODEL_OWNER = "model owner"
CONTRACT = "contract"

Doc = TypeVar("Doc")


@dataclass(frozen=True)
class Round:
    """What the chain recorded of one round of the training."""

    number: int
    requested: Event
    retargets: tuple[Event, ...]
    started: Event | None
    jobs: tuple[Event, ...]
    done: Event | None


def same(a: str | None, b: str | None) -> bool:
    """Two addresses are the same account (checksum case aside)."""
    return a is not None and b is not None and a.lower() == b.lower()


class TrainingLedger:
    """Everything an auditor reads about one training, for one viewer."""

    def __init__(
        self,
        market: Marketplace,
        training_id: int,
        viewer: Identity | None,
        ckks_context: CkksContext | None = None,
    ) -> None:
        tm = market.training_market
        self.market = market
        self.training_id = training_id
        self.viewer = viewer
        self.ckks_context = ckks_context
        self.training: Training = tm.training(training_id)
        self.dataset: Dataset = tm.dataset(self.training.dataset_id)
        # read after the state, so that the events cover at least what the state reflects
        self.events: list[Event] = tm.events(from_block=market.deployment.block)
        self._by_name: dict[str, list[Event]] = {}
        for event in self.events:
            self._by_name.setdefault(event.name, []).append(event)
        dataset_id = self.training.dataset_id
        self.instances: dict[int, Event] = {
            int(e["instance_id"]): e for e in self.named("InstanceCreated", dataset_id=dataset_id)
        }
        self.joins: dict[int, Event] = {
            int(e["instance_id"]): e for e in self.named("InstanceJoined", dataset_id=dataset_id)
        }
        self.verdicts: dict[int, Event] = {
            int(e["instance_id"]): e for e in self.named("InstanceVerified", dataset_id=dataset_id)
        }
        slots: dict[tuple[int, int], int] = {}
        for instance_id, created in self.instances.items():  # chain order: the last one holds
            slots[(int(created["subset"]), int(created["replica"]))] = instance_id
        self.slots = dict(sorted(slots.items()))
        self.request: Event = self.named("TrainingRequested", training_id=training_id)[-1]
        self.rounds: list[Round] = [self._round(r) for r in range(1, self.training.round + 1)]
        self.reports: list[Event] = self.named("FraudReported", training_id=training_id)
        completed = self.named("TrainingCompleted", training_id=training_id)
        self.completed: Event | None = completed[-1] if completed else None
        cancelled = self.named("TrainingCancelled", training_id=training_id)
        self.cancelled: Event | None = cancelled[-1] if cancelled else None
        self._replicas: dict[int, Opened] = {}
        self._reviews: dict[int, RoundReview | str] = {}

    # events ---------------------------------------------------------------------------------
    def named(self, name: str, **match: object) -> list[Event]:
        """Events called ``name`` whose arguments equal every ``match``, in chain order."""
        return [
            e
            for e in self._by_name.get(name, [])
            if all(e[key] == value for key, value in match.items())
        ]

    def _round(self, number: int) -> Round:
        tid = self.training_id
        started = self.named("RoundStarted", training_id=tid, round=number)
        done = self.named("RoundDone", training_id=tid, round=number)
        return Round(
            number=number,
            requested=self.named("RoundRequested", training_id=tid, round=number)[-1],
            retargets=tuple(self.named("DrawRetargeted", training_id=tid, round=number)),
            started=started[-1] if started else None,
            jobs=tuple(self.named("JobSubmitted", training_id=tid, round=number)),
            done=done[-1] if done else None,
        )

    @property
    def members(self) -> list[int]:
        """The instances that train: the current instance of every slot, in slot order."""
        return list(self.slots.values())

    @property
    def all_jobs(self) -> list[Event]:
        return [job for r in self.rounds for job in r.jobs]

    def subset_of(self, instance_id: int) -> int:
        return int(self.instances[instance_id]["subset"])

    def co_of(self, instance_id: int) -> str:
        return str(self.instances[instance_id]["co"])

    def verified_ok(self, instance_id: int) -> bool | None:
        """The DO's verdict on the instance's join (None: no verdict)."""
        verdict = self.verdicts.get(instance_id)
        return None if verdict is None else bool(verdict["ok"])

    @property
    def ever_approved(self) -> bool:
        return bool(self.named("TrainingApproved", training_id=self.training_id))

    @property
    def status(self) -> TrainingStatus:
        return self.training.status

    # the viewer -----------------------------------------------------------------------------
    @property
    def is_mo(self) -> bool:
        return self.viewer is not None and same(self.viewer.address, self.training.mo)

    @property
    def is_do(self) -> bool:
        return self.viewer is not None and same(self.viewer.address, self.dataset.owner)

    @property
    def own(self) -> list[int]:
        """Instances of the dataset the viewer holds as a CO."""
        if self.viewer is None:
            return []
        return [i for i in self.instances if same(self.co_of(i), self.viewer.address)]

    @property
    def status_label(self) -> str:
        """The entry's state as the CLI prints it."""
        return str(self.status.label)

    @property
    def roles(self) -> tuple[str, ...]:
        return tuple(
            role
            for role, held in (
                (DATA_OWNER, self.is_do),
                (MODEL_OWNER, self.is_mo),
                (COMPUTE_PROVIDER, bool(self.own)),
            )
            if held
        )

    # evidence -------------------------------------------------------------------------------
    def describe(self, instance_id: int) -> str:
        """``instance 3 (CO 0x…, subset 0 replica 2)``."""
        created = self.instances[instance_id]
        return (
            f"instance {instance_id} (CO {created['co']}, subset {created['subset']} "
            f"replica {created['replica']})"
        )

    @property
    def whose_key(self) -> str:
        """Whose key opened the replicas the viewer could open."""
        return "the DO's" if self.is_do else "this CO's"

    def against_co(self, instance_id: int, text: str, round_: int | None = None) -> Finding:
        return Finding(text, self.co_of(instance_id), COMPUTE_PROVIDER, instance_id, round_)

    def against_do(self, text: str, instance_id: int | None = None) -> Finding:
        return Finding(text, self.dataset.owner, DATA_OWNER, instance_id)

    def against_mo(self, text: str, instance_id: int, round_: int) -> Finding:
        return Finding(text, self.training.mo, MODEL_OWNER, instance_id, round_)

    def against_contract(self, text: str, round_: int | None = None) -> Finding:
        """The contract broke its own rules (or the node serves a forged history)."""
        return Finding(text, self.market.training_market.address, CONTRACT, None, round_)

    # blobs ----------------------------------------------------------------------------------
    def blob(self, value: bytes) -> tuple[bytes | None, str]:
        """(bytes of the blob named by a bytes32, or None and why not)."""
        found = fetch(self.market.store, value)
        return found.content, found.problem

    def document(
        self, value: bytes, parse: Callable[[bytes], Doc], missing: str, invalid: str
    ) -> Doc | str:
        """The blob named by a bytes32, parsed, or why not (``missing`` or ``invalid`` first)."""
        data, problem = self.blob(value)
        if data is None:
            return missing + problem
        try:
            return parse(data)
        except InputError as exc:
            return f"{invalid}{exc}"

    @cached_property
    def manifest(self) -> Manifest | str:
        """The dataset's manifest, or why it cannot be read."""
        meta_hash = self.dataset.meta_hash
        return self.document(
            meta_hash,
            Manifest.from_bytes,
            "the dataset's manifest: ",
            f"the dataset's manifest {hash_hex(meta_hash)}: ",
        )

    @cached_property
    def method(self) -> Method | str:
        """The model's training method, or why it cannot be read."""
        created = self.named("ModelCreated", model_id=self.training.model_id)
        if not created:
            return f"no ModelCreated event for model {self.training.model_id}"
        what = "the model's method: "
        return self.document(bytes(created[-1]["method_hash"]), Method.from_bytes, what, what)

    def evidence(self, report: Event) -> Evidence | str:
        """The evidence document of a FraudReported event, or why it cannot be read."""
        value = bytes(report["evidence_hash"])
        return self.document(
            value, Evidence.from_bytes, "", f"blob {hash_hex(value)} is not evidence: "
        )

    def can_open_replica(self, instance_id: int) -> bool:
        """The viewer is a recipient of the instance's replica envelope (its DO or CO)."""
        return self.is_do or instance_id in self.own

    def replica(self, instance_id: int) -> Opened:
        """The instance's replica envelope opened with the viewer's key: salt || subset."""
        if instance_id not in self._replicas:
            self._replicas[instance_id] = self._open_replica(instance_id)
        return self._replicas[instance_id]

    def _open_replica(self, instance_id: int) -> Opened:
        assert self.viewer is not None
        created = self.instances[instance_id]
        envelope, problem = self.blob(bytes(created["envelope_hash"]))
        if envelope is None:
            return Opened(None, problem)
        aad = replica_context(
            self.market.training_market.address,
            self.training.dataset_id,
            self.subset_of(instance_id),
        )
        try:
            salt, data = unpack_replica(
                open_envelope(envelope, self.viewer.encryption_private, aad)
            )
        except (IntegrityError, InputError) as exc:
            return Opened(None, f"it does not open to a replica with the viewer's key: {exc}")
        return Opened(salt + data)

    def replica_matches(self, instance_id: int) -> bool | None:
        """Whether the opened replica is the subset the manifest commits to (None: unknown)."""
        opened = self.replica(instance_id)
        if opened.content is None or isinstance(self.manifest, str):
            return None
        salt, data = opened.content[:SALT_BYTES], opened.content[SALT_BYTES:]
        return keccak(data + salt) == self.manifest.commitment(self.subset_of(instance_id))

    @cached_property
    def subset_data(self) -> dict[int, bytes]:
        """The bytes of each subset the viewer holds as the manifest commits to them."""
        known: dict[int, bytes] = {}
        for instance_id in self.instances:
            subset = self.subset_of(instance_id)
            if subset in known or not self.can_open_replica(instance_id):
                continue
            if self.replica_matches(instance_id):
                content = self.replica(instance_id).content
                assert content is not None
                known[subset] = content[SALT_BYTES:]
        return known

    def join_right(self, instance_id: int) -> bool | None:
        """Whether the instance's declared hash is keccak(its subset || its nonce), where the
        viewer knows the subset (None: not joined, or the viewer cannot tell)."""
        join = self.joins.get(instance_id)
        data = self.subset_data.get(self.subset_of(instance_id))
        if join is None or data is None:
            return None
        return commit(data, bytes(join["nonce"])) == bytes(join["data_hash"])

    def open_job(self, job: Event) -> Opened:
        """A job's sealed model opened with the viewer's key, checked against its hash."""
        assert self.viewer is not None
        instance_id, round_number = int(job["instance_id"]), int(job["round"])
        envelope, problem = self.blob(bytes(job["location_hash"]))
        if envelope is None:
            return Opened(None, problem)
        aad = job_context(
            self.market.training_market.address, self.training_id, instance_id, round_number
        )
        try:
            model = open_envelope(envelope, self.viewer.encryption_private, aad)
        except (IntegrityError, InputError) as exc:
            return Opened(None, f"its sealed model does not open: {exc}")
        computed = commit(model, bytes(job["nonce"]))
        if computed != bytes(job["model_hash"]):
            return Opened(
                None,
                f"keccak(model || nonce) = {hash_hex(computed)}, not the declared "
                f"{hash_hex(job['model_hash'])}",
            )
        return Opened(model)

    def can_review(self) -> str:
        """Why the viewer cannot re-run the MO's review ("" if it can)."""
        if not self.is_mo:
            return "needs the MO's key to open the models"
        if isinstance(self.method, str):
            return f"cannot read {self.method}"
        if self.method.ckks and self.ckks_context is None:
            return "a CKKS training: needs the MO's secret CKKS context to decrypt the models"
        return ""

    def review(self, round_number: int) -> RoundReview | str:
        """The MO's review of a round, re-run with the viewer's (the MO's) key."""
        if round_number not in self._reviews:
            assert self.viewer is not None and not self.can_review()
            try:
                self._reviews[round_number] = review_round(
                    self.market, self.viewer, self.training_id, round_number, self.ckks_context
                )
            except MercatoError as exc:
                self._reviews[round_number] = f"the review of round {round_number} failed: {exc}"
        return self._reviews[round_number]
