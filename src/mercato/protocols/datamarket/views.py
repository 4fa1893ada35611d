"""What there is to know about P3's tasks: frozen views read from the chain, no printing.

A task as the contract stores it (:class:`Task`), and what its events tell: who posted in
each round, what was used and excluded, the scores, the pay and how the task ended
(:class:`TaskDetail`). The CLI renders them (``record()`` is their JSON form: amounts in wei,
hashes as bytes, members by their index in the task), the agents decide on them and
:mod:`~mercato.protocols.datamarket.rules` judges them. Light: the chain, the blob store and
the documents are imported by the functions that read them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING, Any

from mercato.errors import MercatoError
from mercato.ml.aggregate.krum import MULTIPLE_SCALE
from mercato.ml.aggregate.krum import SCORE_SCALE as SCORE_SCALE
from mercato.protocols.datamarket.limits import MAX_DATA_OWNERS
from mercato.protocols.states import State
from mercato.units import format_ether

if TYPE_CHECKING:
    from mercato.chain.contract import Event
    from mercato.protocols.datamarket.documents import TaskSpec
    from mercato.protocols.datamarket.market import DataMarket
    from mercato.protocols.marketplace import Marketplace

POSTS = {
    "keys": "KeysPosted",
    "shares": "SharesPosted",
    "update": "UpdateSubmitted",
    "reveal": "SharesRevealed",
}
"""What a DO posts in each phase, by the event that records it."""
TASK_EVENTS = frozenset(
    {"TaskPosted", "Joined", "TaskCancelled", "PhaseStarted", *POSTS.values(), "RoundFinalised",
     "RoundFailed", "TaskFinished", "TaskExpired"}
)  # fmt: skip
"""The data market's events about one task: each has the task id as first indexed argument."""


class Mode(State):
    """Aggregation modes, as the contract numbers them."""

    SECURE = 1
    ROBUST = 2


class TaskStatus(State):
    """Task states, as the contract numbers them."""

    JOINING = 1
    RUNNING = 2
    FINISHED = 3
    CANCELLED = 4
    EXPIRED = 5

    @property
    def final(self) -> bool:
        return self >= TaskStatus.FINISHED


class Phase(State):
    """Phases of a round (0 outside rounds)."""

    NONE = 0
    KEYS = 1
    SHARES = 2
    SUBMIT = 3
    REVEAL = 4
    AGGREGATE = 5


def members_of(mask: int) -> tuple[int, ...]:
    """The member indices whose bits are set in ``mask``."""
    return tuple(i for i in range(MAX_DATA_OWNERS) if mask >> i & 1)


def mask_of(indices: Iterable[int]) -> int:
    """The bit mask of member indices."""
    mask = 0
    for i in indices:
        mask |= 1 << i
    return mask


@dataclass(frozen=True)
class Task:
    """Everything the chain's storage holds about one task."""

    task_id: int
    mo: str
    data_owners: int
    rounds: int
    mode: Mode
    bound: int
    phase_period: int
    aggregate_period: int
    status: TaskStatus
    round: int
    phase: Phase
    joined: int
    deadline: int
    active: int
    done: int
    per_update: int
    locked: int
    outlier_multiple: int
    """Robust mode: a score above this many hundredths of the median below it is an outlier."""

    @property
    def threshold(self) -> int:
        """Secure mode: shares needed to rebuild a secret."""
        return self.bound

    @property
    def max_excluded(self) -> int:
        """Robust mode: the most DOs the MO may exclude per round."""
        return self.bound

    @property
    def reward(self) -> int:
        """The whole reward the MO locked."""
        return self.per_update * self.data_owners * self.rounds

    @property
    def active_members(self) -> tuple[int, ...]:
        """Indices of the DOs still in the current phase."""
        return members_of(self.active)

    @property
    def waiting_for(self) -> tuple[int, ...]:
        """Indices of the DOs that still have to post in the current phase (none while the
        round waits for the MO's aggregation)."""
        if self.phase is Phase.AGGREGATE:
            return ()
        return members_of(self.active & ~self.done)

    @property
    def deadline_kind(self) -> str | None:
        """What the deadline ends: ``join``, a phase's name, or None once the task is over."""
        if self.status is TaskStatus.JOINING:
            return "join"
        if self.status is TaskStatus.RUNNING:
            return self.phase.label
        return None

    @property
    def waiting(self) -> str:
        """What the task waits for now, in words."""
        if self.status is TaskStatus.JOINING:
            return f"it waits for {self.data_owners - self.joined} more data owner(s) to join"
        if self.status is not TaskStatus.RUNNING:
            return f"it is {self.status.label}"
        if self.phase is Phase.AGGREGATE:
            return f"round {self.round} waits for the model owner to aggregate"
        return (
            f"round {self.round} is in its {self.phase.label} phase, waiting for data owner(s) "
            f"{list(self.waiting_for)}"
        )

    def member_state(self, index: int) -> str:
        """Where member ``index`` stands in the current phase."""
        if self.status is not TaskStatus.RUNNING:
            return "-"
        if index not in self.active_members:
            return "dropped"
        if self.phase is Phase.AGGREGATE:
            return "submitted"
        return "waiting" if index in self.waiting_for else "posted"

    def record(self, spec: TaskSpec | None) -> dict[str, Any]:
        """The task as the chain holds it (and its rule, from the spec), JSON-ready."""
        running = self.status is TaskStatus.RUNNING
        # in AGGREGATE every submitter is "active and not done", yet only the MO has to act
        waiting = running and self.phase is not Phase.AGGREGATE
        return {
            "id": self.task_id,
            "status": self.status.label,
            "mo": self.mo,
            "mode": self.mode.label,
            "rule": None if spec is None else spec.rule,
            "threshold": self.threshold if self.mode is Mode.SECURE else None,
            "max_excluded": self.max_excluded if self.mode is Mode.ROBUST else None,
            "outlier_multiple": (
                self.outlier_multiple / MULTIPLE_SCALE if self.mode is Mode.ROBUST else None
            ),
            "data_owners": self.data_owners,
            "joined": self.joined,
            "rounds": self.rounds,
            "round": self.round,
            "phase": self.phase.label if running else None,
            "active": list(self.active_members) if running else [],
            "waiting_for": list(self.waiting_for) if waiting else [],
            "deadline": self.deadline if self.deadline_kind else None,
            "deadline_kind": self.deadline_kind,
            "phase_period": self.phase_period,
            "aggregate_period": self.aggregate_period,
            "reward": self.reward,
            "per_update": self.per_update,
            "locked": self.locked,
        }

    def after(self, events: Sequence[Event]) -> Task:
        """The task once a join's events happened: one more member and, if that filled it,
        round 1 started (what the contract stores, without reading it again)."""
        task = self
        for event in events:
            if event.name == "Joined":
                task = replace(task, joined=int(event["index"]) + 1)
            elif event.name == "PhaseStarted":
                task = replace(
                    task,
                    status=TaskStatus.RUNNING,
                    round=int(event["round"]),
                    phase=Phase(int(event["phase"])),
                    active=int(event["active"]),
                    done=0,
                    deadline=int(event["deadline"]),
                )
        return task


# reading ---------------------------------------------------------------------------------
def read_task(dm: DataMarket, task_id: int) -> Task:
    """Task ``task_id``; InputError if there is no such task."""
    dm.check(task_id)
    return dm.task(task_id)


def read_tasks(dm: DataMarket) -> list[Task]:
    """Every task, the first first."""
    return [dm.task(i) for i in range(1, dm.count() + 1)]


def load_spec(market: Marketplace, task_id: int, events: Sequence[Event] | None = None) -> TaskSpec:
    """The task's spec from the blob its TaskPosted event names (found among ``events``, the
    task's, if given; else read from the chain)."""
    from mercato.errors import ProtocolError
    from mercato.protocols.datamarket import history
    from mercato.protocols.datamarket.documents import TaskSpec
    from mercato.storage.base import hash_hex

    if events is None:
        event = history.posted(market.data_market, task_id)
    else:
        found = [e for e in events if e.name == "TaskPosted"]
        if not found:
            raise ProtocolError(f"task {task_id} was never posted")
        event = found[0]
    return TaskSpec.from_bytes(market.store.get(hash_hex(event["spec_hash"])))


def read_spec(
    market: Marketplace, task_id: int, events: Sequence[Event] | None = None
) -> tuple[TaskSpec | None, str | None]:
    """The task's spec, or None and why it cannot be read (the chain's view still shows)."""
    try:
        return load_spec(market, task_id, events), None
    except MercatoError as exc:
        return None, str(exc)


def spec_record(spec: TaskSpec) -> dict[str, Any]:
    return {
        "data_classes": list(spec.data_classes),
        "model": spec.model,
        "local_epochs": spec.local_epochs,
        "seed": spec.seed,
        "rule": spec.rule,
        "features": None if spec.inputs is None else list(spec.inputs.features),
        "classes": list(spec.class_names),
    }


def task_events(market: Marketplace, task_id: int) -> list[Event]:
    """The task's events in chain order, in one query filtered by the node on the task id."""
    dm = market.data_market
    topic = dm.contract.abi.event_topics("TaskPosted", task_id=task_id)[1]
    logs = market.chain.get_logs(market.deployment.block, None, dm.address, [None, topic])
    return [e for e in dm.contract.decode_logs(logs) if e.name in TASK_EVENTS]


# rounds, scores and payments -------------------------------------------------------------
@dataclass(frozen=True)
class Finalised:
    """How the MO finalised a round: what it used and excluded, the scores and the pay."""

    model_hash: bytes
    aggregate_hash: bytes
    used: tuple[int, ...]
    excluded: tuple[int, ...]
    scores: dict[int, float]
    """Robust mode: each submitter's score under the rule (none in secure mode)."""
    paid_each: int

    @classmethod
    def of(cls, event: Event) -> Finalised:
        """From a RoundFinalised event."""
        submitters = members_of(int(event["used"]) | int(event["excluded"]))
        return cls(
            model_hash=event["model_hash"],
            aggregate_hash=event["aggregate_hash"],
            used=members_of(int(event["used"])),
            excluded=members_of(int(event["excluded"])),
            scores={i: s / SCORE_SCALE for i, s in zip(submitters, event["scores"], strict=False)},
            paid_each=int(event["paid_each"]),
        )

    def record(self) -> dict[str, Any]:
        return {
            "model_hash": self.model_hash,
            "aggregate_hash": self.aggregate_hash,
            "used": list(self.used),
            "excluded": list(self.excluded),
            "scores": {str(i): s for i, s in self.scores.items()},
            "paid_each": self.paid_each,
        }


@dataclass(frozen=True)
class Round:
    """One round: who posted in each phase, and how it ended (finalised or failed)."""

    number: int
    posts: dict[str, list[int]]
    """Member indices by what they posted (``keys``, ``shares``, ``update``, ``reveal``)."""
    finalised: Finalised | None = None
    failed: tuple[Phase, int] | None = None
    """The phase the round failed in and how many data owners were left."""

    def record(self) -> dict[str, Any]:
        failed = None
        if self.failed is not None:
            failed = {"phase": self.failed[0].label, "remaining": self.failed[1]}
        return {
            "round": self.number,
            "posts": self.posts,
            "finalised": None if self.finalised is None else self.finalised.record(),
            "failed": failed,
        }


def read_rounds(events: Sequence[Event], mode: Mode) -> list[Round]:
    """The task's rounds so far, from its events."""
    posts: dict[int, dict[str, list[int]]] = {}
    ends: dict[int, dict[str, Any]] = {}
    kinds = {event: kind for kind, event in POSTS.items()}
    for e in events:
        if e.name == "Joined" and mode is Mode.SECURE:  # round 1's keys come with the joins
            posts.setdefault(1, {}).setdefault("keys", []).append(int(e["index"]))
        elif e.name in kinds:
            posts.setdefault(int(e["round"]), {}).setdefault(kinds[e.name], []).append(
                int(e["index"])
            )
        elif e.name == "RoundFinalised":
            posts.setdefault(int(e["round"]), {})
            ends.setdefault(int(e["round"]), {})["finalised"] = Finalised.of(e)
        elif e.name == "RoundFailed":
            posts.setdefault(int(e["round"]), {})
            failed = (Phase(int(e["phase"])), int(e["remaining"]))
            ends.setdefault(int(e["round"]), {})["failed"] = failed
    return [Round(r, posts[r], **ends.get(r, {})) for r in sorted(posts)]


@dataclass(frozen=True)
class Outcome:
    """How a task ended: what went back to the MO, what the DOs were paid in all."""

    status: str
    paid: int
    refund: int

    def record(self) -> dict[str, Any]:
        return asdict(self)


def read_outcome(events: Sequence[Event]) -> Outcome | None:
    """How the task ended, once it did."""
    paid = sum(
        int(e["paid_each"]) * len(members_of(int(e["used"])))
        for e in events
        if e.name == "RoundFinalised"
    )
    for e in events:
        if e.name == "TaskCancelled":
            return Outcome("cancelled", 0, int(e["refund"]))
        if e.name == "TaskFinished":
            return Outcome("finished", paid, int(e["refund"]))
        if e.name == "TaskExpired":
            claimed = int(e["paid"]) * int(e["paid_each"])
            return Outcome("expired", paid + claimed, int(e["refund"]))
    return None


SUMMARIES = {
    "TaskPosted": "posted by {mo}: {data_owners} data owners, {rounds} round(s), {mode}; "
    "{reward} locked",
    "Joined": "data owner {index} joined: {data_owner}",
    "TaskCancelled": "cancelled with {joined} joined; {refund} refundable to the model owner",
    "PhaseStarted": "round {round}: {phase} phase for data owners {active}",
    **{name: "round {round}: data owner {index} posted its " + kind
       for kind, name in POSTS.items()},
    "RoundFinalised": "round {round} finalised: used {used}, excluded {excluded}, {paid_each} each",
    "RoundFailed": "round {round} failed in its {phase} phase: {remaining} data owner(s) left",
    "TaskFinished": "finished; {refund} refundable to the model owner",
    "TaskExpired": "expired in round {round}: {paid} data owner(s) claimed {paid_each} each; "
    "{refund} refundable",
}  # fmt: skip
"""What each task event means, in words; arguments as :func:`_shown` shows them."""


def _shown(name: str, value: Any) -> Any:
    """An event argument as a summary shows it: amounts in ether, masks as member lists."""
    if name in ("reward", "refund", "paid_each"):
        return format_ether(value)
    if name in ("active", "used", "excluded"):
        return list(members_of(int(value)))
    if name == "mode":
        return Mode(int(value)).label
    return Phase(int(value)).label if name == "phase" else value


def describe(event: Event) -> str:
    """One line saying what a task event means."""
    template = SUMMARIES.get(event.name)
    if template is None:
        return event.name
    return template.format(**{name: _shown(name, value) for name, value in event.args.items()})


# one task in full ------------------------------------------------------------------------
@dataclass(frozen=True)
class TaskDetail:
    """Everything there is to know about one task (``datamarket show``)."""

    task: Task
    spec: TaskSpec | None
    spec_error: str | None
    members: tuple[str, ...]
    rounds: list[Round]
    outcome: Outcome | None
    owed: dict[str, int]
    """What the data market owes the MO and each member now, over all its tasks."""
    events: list[Event]

    @property
    def model_hash(self) -> bytes | None:
        """The public model the task was posted with."""
        posted = next((e for e in self.events if e.name == "TaskPosted"), None)
        return None if posted is None else posted["model_hash"]

    def record(self) -> dict[str, Any]:
        """``datamarket show --json``: the detail as JSON-ready data, its events summarised."""
        from mercato.protocols.readmodel import event_record

        task = self.task
        return {
            "task": task.record(self.spec),
            "spec": None if self.spec is None else spec_record(self.spec),
            "spec_error": self.spec_error,
            "model_hash": self.model_hash,
            "members": [
                {"index": i, "address": a, "state": task.member_state(i)}
                for i, a in enumerate(self.members)
            ],
            "rounds": [r.record() for r in self.rounds],
            "outcome": None if self.outcome is None else self.outcome.record(),
            "owed": self.owed,
            "events": [event_record(e, describe(e)) for e in self.events],
        }


def read_detail(
    market: Marketplace, task: Task, events: Sequence[Event] | None = None
) -> TaskDetail:
    """Task ``task`` in full: its spec, members, rounds, outcome, what is owed and its events
    (``events`` if already read, an event index's, else read from the chain)."""
    dm = market.data_market
    events = task_events(market, task.task_id) if events is None else list(events)
    spec, problem = read_spec(market, task.task_id, events)
    members = dm.members(task.task_id)
    return TaskDetail(
        task=task,
        spec=spec,
        spec_error=problem,
        members=members,
        rounds=read_rounds(events, task.mode),
        outcome=read_outcome(events),
        owed={a: dm.owed(a) for a in dict.fromkeys([task.mo, *members])},
        events=events,
    )
