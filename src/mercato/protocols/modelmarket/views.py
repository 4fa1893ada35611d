"""What there is to know about P4's requests: frozen views read from the chain, no printing.

A request as the contract stores it (:class:`Request`), each submission
(:class:`Submission`) and the phases' names. The CLI renders them, the agents decide on them
and :mod:`~mercato.protocols.modelmarket.rules` judges them; :func:`detail_record` reads one
request in full (``modelmarket show --json``, the HTTP API). Light: the chain's history is
imported by the function that reads it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mercato.errors import MercatoError
from mercato.protocols.modelmarket.limits import MAX_VOLUNTEERS, SCORE_SCALE
from mercato.protocols.states import State
from mercato.units import format_ether

if TYPE_CHECKING:
    from mercato.chain.contract import Event
    from mercato.protocols.marketplace import Marketplace

REQUEST_EVENTS = frozenset(
    {"RequestPosted", "Retargeted", "SampleDrawn", "SampleRevealed", "Submitted", "Volunteered",
     "DeliveryRejected", "SubmissionsClosed", "ExecutorsDrawn", "Sealed", "ScoresCommitted",
     "RevealStarted", "ScoresRevealed", "Tallied", "KeyRevealed", "Complained", "SwapSettled",
     "RequestEnded"}
)  # fmt: skip
"""The model market's events about one request: each has the request id as first indexed
argument."""
TEST_FLAG = 1
"""Bit 0 of an executor's flags: the hidden groups did not match the test root (or never
came); bit ``1 + i``: submission i's model did not match its plaintext root."""


class RequestStatus(State):
    """Request states, as the contract numbers them."""

    SAMPLING = 1
    SUBMITTING = 2
    DRAWING = 3
    COMMITTING = 4
    REVEALING = 5
    SWAPPING = 6
    CLOSED = 7
    CANCELLED = 8
    TEST_REJECTED = 9
    FAILED = 10

    @property
    def final(self) -> bool:
        return self >= RequestStatus.CLOSED


class SubmissionState(State):
    """A submission's state, as the contract numbers them (0: no such submission)."""

    NONE = 0
    SUBMITTED = 1
    REJECTED = 2
    FLAGGED = 3
    LOST = 4
    WON = 5
    KEY_REVEALED = 6
    PAID = 7
    CHEATED = 8
    DEFAULTED = 9
    RETURNED = 10


def indices_of(mask: int, limit: int = MAX_VOLUNTEERS) -> tuple[int, ...]:
    """The indices whose bits are set in ``mask``."""
    return tuple(i for i in range(limit) if mask >> i & 1)


def mask_of(indices: Iterable[int]) -> int:
    """The bit mask of indices."""
    mask = 0
    for i in indices:
        mask |= 1 << i
    return mask


def model_flag(index: int) -> int:
    """The flag bit that says submission ``index``'s model did not match its commitment."""
    return 1 << (index + 1)


def score_fraction(score: int) -> float:
    """A score in parts per million as a fraction (0.875)."""
    return score / SCORE_SCALE


@dataclass(frozen=True)
class Periods:
    """Seconds each phase of a request lasts at most, in the contract's order."""

    sample: int
    submit: int
    commit: int
    reveal: int
    key: int
    complaint: int

    def as_tuple(self) -> tuple[int, ...]:
        return (self.sample, self.submit, self.commit, self.reveal, self.key, self.complaint)


@dataclass(frozen=True)
class Request:
    """Everything the chain's storage holds about one request."""

    request_id: int
    buyer: str
    test_root: bytes
    k: int
    executors: int
    groups: int
    sample: int
    seller_stake: int
    executor_stake: int
    executor_fee: int
    bond: int
    top_price: int
    min_score: int
    sample_period: int
    submit_period: int
    commit_period: int
    reveal_period: int
    key_period: int
    complaint_period: int
    status: RequestStatus
    deadline: int
    target_block: int
    sellers: int
    volunteers: int
    drawn: int
    committed: int
    revealed: int
    unsettled: int
    locked: int
    sample_seed: bytes

    @property
    def escrowed(self) -> int:
        """What the buyer locked when posting."""
        return self.k * self.top_price + self.executors * self.executor_fee + self.bond

    @property
    def drawn_indices(self) -> tuple[int, ...]:
        """The volunteer indices of the drawn executors."""
        return indices_of(self.drawn)


@dataclass(frozen=True)
class Submission:
    """One seller's submission to a request, as the contract stores it."""

    request_id: int
    index: int
    seller: str
    plain_root: bytes
    cipher_root: bytes
    key_hash: bytes
    size: int
    state: SubmissionState
    score: int
    price: int
    deadline: int


def request_record(request: Request, submissions: Iterable[Submission] = ()) -> dict[str, Any]:
    """A request and its submissions as JSON-ready fields (amounts in wei, scores in ppm)."""
    record: dict[str, Any] = {name: getattr(request, name) for name in request.__dataclass_fields__}
    record["status"] = request.status.label
    record["escrowed"] = request.escrowed
    record["executor_indices"] = list(request.drawn_indices)
    record["submissions"] = [
        {
            **{name: getattr(s, name) for name in s.__dataclass_fields__ if name != "request_id"},
            "state": s.state.label,
        }
        for s in submissions
    ]
    return record


# the detail of one request ----------------------------------------------------------------
def request_events(market: Marketplace, request_id: int) -> list[Event]:
    """The request's events in chain order, in one query filtered by the node on its id."""
    mm = market.model_market
    topic = mm.contract.abi.event_topics("RequestPosted", request_id=request_id)[1]
    logs = market.chain.get_logs(market.deployment.block, None, mm.address, [None, topic])
    return [e for e in mm.contract.decode_logs(logs) if e.name in REQUEST_EVENTS]


def detail_record(
    market: Marketplace, request_id: int, events: Sequence[Event] | None = None
) -> dict[str, Any]:
    """Everything about a request, JSON-ready: its record and submissions, the schedule,
    the task, the sample, each volunteer's part, the tally, complaints and its events
    summarised (``events``: the request's, if already read; else read from the chain)."""
    from mercato.protocols.modelmarket.documents import TaskDocument
    from mercato.protocols.modelmarket.history import Reveal
    from mercato.protocols.readmodel import event_record
    from mercato.storage.base import hash_hex

    mm = market.model_market
    request = mm.request(request_id)
    if events is None:
        events = request_events(market, request_id)

    def named(name: str) -> list[Event]:
        return [e for e in events if e.name == name]

    posted = named("RequestPosted")
    task: dict[str, Any] | None = None
    task_error = None
    try:
        if not posted:
            raise MercatoError(f"request {request_id} was never posted")
        document = TaskDocument.from_bytes(market.store.get(hash_hex(posted[0]["task_hash"])))
        task = {
            "data_class": document.data_class,
            "task": document.task,
            "features": document.features,
            "classes": list(document.classes),
            "groups": document.groups,
            "group_size": document.group_size,
            "metric": document.metric,
            "description": document.description,
        }
    except MercatoError as exc:
        task_error = str(exc)
    tallied = named("Tallied")
    agreed = int(tallied[0]["agreed"]) if tallied else None
    reveals = {
        int(e["index"]): Reveal(
            str(e["executor"]), int(e["index"]), tuple(int(s) for s in e["scores"]),
            int(e["flags"]), hash_hex(e["report_hash"]),
        )
        for e in named("ScoresRevealed")
    }  # fmt: skip
    executors = []
    for index, address in enumerate(mm.volunteers(request_id)):
        reveal = reveals.get(index)
        executors.append({
            "index": index,
            "address": address,
            "drawn": bool(request.drawn >> index & 1),
            "committed": bool(request.committed >> index & 1),
            "revealed": bool(request.revealed >> index & 1),
            "agreed": None if agreed is None else bool(agreed >> index & 1),
            "scores": None if reveal is None else list(reveal.scores),
            "flags": None if reveal is None else reveal.flags,
        })  # fmt: skip
    drawn = named("SampleDrawn")
    schedule = (
        zip(posted[0]["schedule_scores"], posted[0]["schedule_prices"], strict=True)
        if posted
        else ()
    )
    return {
        **request_record(request, mm.submissions(request_id)),
        "schedule": [{"score": score, "price": price} for score, price in schedule],
        "task": task,
        "task_error": task_error,
        "sample_indices": [int(i) for i in drawn[0]["indices"]] if drawn else None,
        "sample_revealed": bool(named("SampleRevealed")),
        "executors_detail": executors,
        "complaints": [
            {"index": int(e["index"]), "chunk": int(e["chunk"]), "refund": int(e["refund"])}
            for e in named("Complained")
        ],
        "events": [event_record(e, describe(e)) for e in events],
    }


# what each event means --------------------------------------------------------------------
SUMMARIES = {
    "RequestPosted": "posted by {buyer}: {groups} test group(s), a sample of {sample}, "
    "{executors} executor(s); {escrowed} escrowed",
    "Retargeted": "draw retargeted to block {target_block}",
    "SampleDrawn": "sample drawn: groups {indices}",
    "SampleRevealed": "the buyer reveals the sample's groups {indices}",
    "Submitted": "seller {seller} submits model {index}, staking {stake}",
    "Volunteered": "executor {executor} volunteers as {index}, staking {stake}",
    "DeliveryRejected": "the delivery of model {index} by {seller} is rejected",
    "SubmissionsClosed": "submissions closed: {sellers} seller(s), {volunteers} volunteer(s)",
    "ExecutorsDrawn": "executors drawn: {drawn}",
    "Sealed": "{sender} seals a blob to the executors",
    "ScoresCommitted": "executor {index} ({executor}) commits its scores",
    "RevealStarted": "reveal phase: executors {committed} committed",
    "ScoresRevealed": "executor {index} ({executor}) reveals scores {scores}",
    "Tallied": "tallied: executors {agreed} agree, winners {winners} at {prices}; "
    "refund {refund}",
    "KeyRevealed": "seller {seller} reveals the key of model {index}",
    "Complained": "the buyer complains about chunk {chunk} of model {index}; refund {refund}",
    "SwapSettled": "model {index} of {seller}: {state}, paid {paid}",
    "RequestEnded": "ended ({status}); {refund} refundable to the buyer",
}  # fmt: skip
"""What each request event means, in words; arguments as :func:`_shown` shows them."""
AMOUNTS = frozenset({"escrowed", "stake", "refund", "paid"})
MASKS = frozenset({"drawn", "committed", "agreed", "winners"})


def _shown(name: str, value: Any) -> Any:
    """An event argument as a summary shows it: ether, masks as index lists, states."""
    if name in AMOUNTS:
        return format_ether(value)
    if name == "prices":
        return [format_ether(v) for v in value]
    if name in MASKS:
        return list(indices_of(int(value)))
    if name == "state":
        return SubmissionState(int(value)).label
    return RequestStatus(int(value)).label if name == "status" else value


def describe(event: Event) -> str:
    """One line saying what a request event means."""
    template = SUMMARIES.get(event.name)
    if template is None:
        return event.name
    return template.format(**{k: _shown(k, v) for k, v in event.args.items()})
