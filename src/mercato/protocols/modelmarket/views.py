"""What there is to know about P4's requests: frozen views read from the chain, no printing.

A request as the contract stores it (:class:`Request`), each submission
(:class:`Submission`) and the phases' names. The CLI renders them, the agents decide on them
and :mod:`~mercato.protocols.modelmarket.rules` judges them; :func:`detail_record` reads one
request in full (``modelmarket show --json``, the HTTP API). Light: the chain's history is
imported by the function that reads it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mercato.errors import MercatoError
from mercato.protocols.modelmarket.limits import MAX_VOLUNTEERS, SCORE_SCALE
from mercato.protocols.states import State

if TYPE_CHECKING:
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
def detail_record(market: Marketplace, request_id: int) -> dict[str, Any]:
    """Everything about a request, JSON-ready: its record and submissions, the schedule,
    the task, the sample, each volunteer's part, the tally and complaints."""
    from mercato.protocols.modelmarket import history

    mm = market.model_market
    request = mm.request(request_id)
    task: dict[str, Any] | None = None
    task_error = None
    try:
        document = history.task_document(market, request_id)
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
    tallied = mm.events("Tallied", request_id=request_id)
    agreed = int(tallied[0]["agreed"]) if tallied else None
    reveals = {r.index: r for r in history.reveals(mm, request_id)}
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
    revealed = mm.events("SampleRevealed", request_id=request_id)
    return {
        **request_record(request, mm.submissions(request_id)),
        "schedule": [
            {"score": score, "price": price} for score, price in history.schedule(mm, request_id)
        ],
        "task": task,
        "task_error": task_error,
        "sample_indices": history.sample_indices(mm, request_id),
        "sample_revealed": bool(revealed),
        "executors_detail": executors,
        "complaints": [
            {"index": int(e["index"]), "chunk": int(e["chunk"]), "refund": int(e["refund"])}
            for e in mm.events("Complained", request_id=request_id)
        ],
    }
