"""One P3 task's record as an auditor reads it: its events, its blobs, one viewer's keys.

:class:`TaskLedger` reads the task's events once (:func:`~mercato.protocols.datamarket.views.
task_events`), groups them by round and phase, and opens sealed blobs with the viewer's key
where the viewer is a recipient: the model owner (MO) every robust-mode update, a data owner
(DO) its own update and the secure-mode share bundles dealt to it. Nothing here judges; the
checks of :mod:`mercato.audit.datamarket` do.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import TypeVar

from mercato.audit.blobs import Opened, fetch
from mercato.audit.report import CheckBuilder, Finding
from mercato.chain.contract import Event
from mercato.errors import InputError, IntegrityError, MercatoError
from mercato.ml.trainers.weights import Weights, weights_from_bytes
from mercato.protocols.datamarket.documents import (
    TaskSpec,
    shares_context,
    update_context,
)
from mercato.protocols.datamarket.views import (
    POSTS,
    Mode,
    Phase,
    Task,
    members_of,
    read_spec,
    task_events,
)
from mercato.protocols.identity import Identity
from mercato.protocols.marketplace import Marketplace
from mercato.storage.base import hash_hex
from mercato.storage.envelope import open_envelope
from mercato.timefmt import same_address

DATA_OWNER = "data owner"
MODEL_OWNER = "model owner"
CONTRACT = "contract"
KINDS = {event: kind for kind, event in POSTS.items()}
"""What a DO posts (``keys``, ``shares``, ``update``, ``reveal``) by the event recording it."""
PHASE_POSTS = {
    Phase.KEYS: "keys",
    Phase.SHARES: "shares",
    Phase.SUBMIT: "update",
    Phase.REVEAL: "reveal",
}
"""What each phase of a round asks every DO still in it to post."""

Doc = TypeVar("Doc")


@dataclass
class RoundRecord:
    """What the chain recorded of one round of the task."""

    number: int
    phases: dict[Phase, Event] = field(default_factory=dict)
    """The PhaseStarted event of each phase the round reached."""
    posts: dict[str, dict[int, Event]] = field(default_factory=dict)
    """The posts of each kind, by member index."""
    finalised: Event | None = None
    failed: Event | None = None

    def active(self, phase: Phase) -> tuple[int, ...]:
        """The members the phase started with (none if it never started)."""
        started = self.phases.get(phase)
        return () if started is None else members_of(int(started["active"]))

    def posted(self, kind: str) -> dict[int, Event]:
        return self.posts.get(kind, {})

    @property
    def submitters(self) -> tuple[int, ...]:
        """The members whose update the round's aggregation takes (AGGREGATE's active)."""
        return self.active(Phase.AGGREGATE)


class TaskLedger:
    """Everything an auditor reads about one task, for one viewer."""

    def __init__(self, market: Marketplace, task_id: int, viewer: Identity | None) -> None:
        dm = market.data_market
        self.market = market
        self.task_id = task_id
        self.viewer = viewer
        self.task: Task = dm.task(task_id)
        # read after the state, so that the events cover at least what the state reflects
        self.events: list[Event] = task_events(market, task_id)
        self.members: tuple[str, ...] = dm.members(task_id)
        self.posted: Event = self._one("TaskPosted")  # type: ignore[assignment]
        self.joins: dict[int, Event] = {
            int(e["index"]): e for e in self.events if e.name == "Joined"
        }
        self.rounds: dict[int, RoundRecord] = {}
        for e in self.events:
            if e.name == "PhaseStarted":
                self._round(int(e["round"])).phases[Phase(int(e["phase"]))] = e
            elif e.name in KINDS:
                self._round(int(e["round"])).posts.setdefault(KINDS[e.name], {})[
                    int(e["index"])
                ] = e
            elif e.name == "RoundFinalised":
                self._round(int(e["round"])).finalised = e
            elif e.name == "RoundFailed":
                self._round(int(e["round"])).failed = e
        self.cancelled = self._one("TaskCancelled")
        self.finished = self._one("TaskFinished")
        self.expired = self._one("TaskExpired")
        self.spec, self.spec_problem = read_spec(market, task_id, self.events)

    def _one(self, name: str) -> Event | None:
        found = [e for e in self.events if e.name == name]
        return found[-1] if found else None

    def _round(self, number: int) -> RoundRecord:
        return self.rounds.setdefault(number, RoundRecord(number))

    # the task -------------------------------------------------------------------------------
    @property
    def mode(self) -> Mode:
        return self.task.mode

    @property
    def status_label(self) -> str:
        return self.task.status.label

    @property
    def secure(self) -> bool:
        return self.task.mode is Mode.SECURE

    @property
    def per_update(self) -> int:
        """What one update earns: the reward posted over data owners x rounds."""
        posted = self.posted
        return int(posted["reward"]) // (int(posted["data_owners"]) * int(posted["rounds"]))

    def phase_posts(self, record: RoundRecord) -> list[tuple[Phase, str, tuple[int, ...]]]:
        """Each posting phase the round started: (phase, what it asks, who it started with).
        Round 1 of a secure task takes its keys with the joins, so it has no KEYS phase."""
        return [
            (phase, kind, record.active(phase))
            for phase, kind in PHASE_POSTS.items()
            if phase in record.phases
        ]

    def round_keys(self, number: int) -> dict[int, Event]:
        """The events that carry each member's X25519 key and seed commitment of a round."""
        if number == 1:
            return self.joins
        return self.rounds[number].posted("keys") if number in self.rounds else {}

    def no_round(self, check: CheckBuilder) -> bool:
        """Whether no round started: said in ``check`` (nothing ran, or nothing yet)."""
        if self.rounds:
            return False
        if self.task.status.final:
            check.ran(f"no round ran: the task is {self.task.status.label}")
        else:
            check.undecided(f"no round started: {self.task.waiting}")
        return True

    def none_finalised(self, check: CheckBuilder) -> None:
        """Say in ``check``, if it found nothing else, that no round was finalised (yet)."""
        if check.checked or check.findings or check.open or check.unchecked:
            return
        if self.task.status.final:
            check.ran("no round was finalised")
        else:
            check.undecided(f"no round finalised yet: {self.task.waiting}")

    # the viewer -----------------------------------------------------------------------------
    @property
    def is_mo(self) -> bool:
        return self.viewer is not None and same_address(self.viewer.address, self.task.mo)

    @property
    def index(self) -> int | None:
        """The viewer's member index in the task (None: not a member)."""
        if self.viewer is None:
            return None
        viewer = self.viewer.address
        return next((i for i, a in enumerate(self.members) if same_address(a, viewer)), None)

    @property
    def roles(self) -> tuple[str, ...]:
        held = ((MODEL_OWNER, self.is_mo), (DATA_OWNER, self.index is not None))
        return tuple(role for role, has in held if has)

    # evidence -------------------------------------------------------------------------------
    def do(self, index: int) -> str:
        """``DO 2 (0x…)``."""
        address = self.members[index] if index < len(self.members) else "unknown"
        return f"DO {index} ({address})"

    def against_do(self, index: int, text: str, round_: int | None = None) -> Finding:
        who = self.members[index] if index < len(self.members) else None
        return Finding(text, who, DATA_OWNER, index, round_)

    def against_mo(self, text: str, round_: int | None = None) -> Finding:
        return Finding(text, self.task.mo, MODEL_OWNER, None, round_)

    def against_contract(self, text: str, round_: int | None = None) -> Finding:
        """The contract broke its own rules (or the node serves a forged history)."""
        return Finding(text, self.market.data_market.address, CONTRACT, None, round_)

    # blobs ----------------------------------------------------------------------------------
    def blob(self, value: bytes) -> tuple[bytes | None, str]:
        """(bytes of the blob named by a bytes32, or None and why not)."""
        found = fetch(self.market.store, value)
        return found.content, found.problem

    def document(self, value: bytes, parse: Callable[[bytes], Doc]) -> Doc | str:
        """The blob named by a bytes32, parsed, or why not."""
        data, problem = self.blob(value)
        if data is None:
            return problem
        try:
            return parse(data)
        except (InputError, IntegrityError) as exc:
            return f"blob {hash_hex(value)} is malformed: {exc}"

    def weights(self, value: bytes) -> Weights | str:
        """The model or aggregate named by a bytes32, or why it cannot be read."""
        return self.document(value, weights_from_bytes)

    @cached_property
    def n_public(self) -> int | None:
        """Weights in the task's public model (None: the spec cannot be read)."""
        return None if self.spec is None else self.spec.build_model().n_public

    def spec_or_problem(self) -> TaskSpec | str:
        return self.spec if self.spec is not None else f"the task's spec: {self.spec_problem}"

    def open_update(self, number: int, index: int) -> Opened:
        """A robust-mode update sealed to the MO (and its DO), opened with the viewer's key."""
        assert self.viewer is not None
        event = self.rounds[number].posted("update")[index]
        envelope, problem = self.blob(bytes(event["update_hash"]))
        if envelope is None:
            return Opened(None, problem)
        context = update_context(self.market.data_market.address, self.task_id, number, index)
        try:
            return Opened(open_envelope(envelope, self.viewer.encryption_private, context))
        except MercatoError as exc:
            return Opened(None, f"it does not open with the viewer's key: {exc}")

    def open_bundle(self, envelope: bytes, number: int, owner: int) -> Opened:
        """The share bundle ``owner`` dealt to the viewer (a member) in round ``number``."""
        assert self.viewer is not None and self.index is not None
        context = shares_context(
            self.market.data_market.address, self.task_id, number, owner, self.index
        )
        try:
            return Opened(open_envelope(envelope, self.viewer.encryption_private, context))
        except MercatoError as exc:
            return Opened(None, f"it does not open with the viewer's key: {exc}")
