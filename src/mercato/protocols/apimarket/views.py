"""What there is to know about P5's APIs: frozen views read from the chain, no printing.

An API as the contract stores it (:class:`Api`), its slots (:class:`SlotView`), each
epoch's batch (:class:`BatchView`), a consumer's deposit, and the claims, challenges,
disputes and base-mode calls with their states. The CLI renders them, the agents and the
services decide on them. Light: plain values only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mercato.protocols.apimarket.terms import ApiTerms, Slot
from mercato.protocols.states import State

STEP_BITS = 32
"""The contract packs each slot's steps of a batch in 32 bits, eight slots to a word."""
EMPTY = b"\x00" * 32


class ApiStatus(State):
    """API states, as the contract numbers them (0: no such API)."""

    NONE = 0
    JOINING = 1
    LIVE = 2
    CANCELLED = 3
    ENDED = 4

    @property
    def final(self) -> bool:
        return self >= ApiStatus.CANCELLED


class ClaimState(State):
    """A vendor's claim of a step it ran."""

    NONE = 0
    OPEN = 1
    PAID_MISSED = 2
    PAID_UNREPORTED = 3
    ANSWERED = 4
    PAID_UNANSWERED = 5


class ChallengeState(State):
    """A consumer's challenge of a call counted against it."""

    NONE = 0
    OPEN = 1
    REFUNDED = 3
    ANSWERED = 4


class DisputeState(State):
    """A consumer's dispute of a step's output."""

    NONE = 0
    OPEN = 1
    WRONG_COMPONENT = 2
    LIAR = 3
    HONEST = 4
    NO_MAJORITY = 5


class CallState(State):
    """A base-mode call (every step on chain)."""

    NONE = 0
    OPEN = 1
    ACKNOWLEDGED = 2
    CANCELLED = 3
    UNACKNOWLEDGED = 4


@dataclass(frozen=True)
class Periods:
    """Seconds of each period of an API, in the contract's order."""

    join: int
    epoch: int
    window: int
    response: int
    term: int

    def as_tuple(self) -> tuple[int, ...]:
        return (self.join, self.epoch, self.window, self.response, self.term)


@dataclass(frozen=True)
class Api:
    """Everything the chain's storage holds about one API."""

    api: int
    provider: str
    orchestrator: str
    model_root: bytes
    components: int
    slots: int
    shares: tuple[int, ...]
    price: int
    vendor_stake: int
    orchestrator_stake: int
    challenge_bond: int
    dispute_bond: int
    join_period: int
    epoch_period: int
    window_period: int
    response_period: int
    term: int
    status: ApiStatus
    join_deadline: int
    start: int
    ends: int
    joined: int
    accepted: bool
    out: int
    open: int
    stake_left: int
    depositors: int
    locked: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "shares", tuple(int(s) for s in self.shares))

    @property
    def periods(self) -> Periods:
        return Periods(
            self.join_period, self.epoch_period, self.window_period, self.response_period,
            self.term,
        )  # fmt: skip

    def epoch_at(self, now: int) -> int:
        """The epoch chain time ``now`` falls in (0 before the start)."""
        return max(0, now - self.start) // self.epoch_period if self.start else 0

    def due(self, epoch: int) -> int:
        """The end of the time to commit epoch ``epoch``'s batch."""
        return self.start + (epoch + 2) * self.epoch_period

    def close(self, epoch: int) -> int:
        """The end of epoch ``epoch``'s window for claims, challenges and disputes."""
        return self.due(epoch) + self.window_period

    @property
    def last_epoch(self) -> int:
        """The last epoch that takes calls (the one that holds ``ends - 1``)."""
        return (self.ends - 1 - self.start) // self.epoch_period

    def is_out(self, slot: int) -> bool:
        """Whether slot ``slot`` lost its stake (the orchestrator routes no call to it)."""
        return bool(self.out >> slot & 1)


@dataclass(frozen=True)
class SlotView:
    """One slot of an API: its vendor, the component it runs, whether it joined or is out."""

    vendor: str
    component: int
    joined: bool
    out: bool


@dataclass(frozen=True)
class Deposit:
    """What a consumer holds in an API, and when it may take it back (0: not asked)."""

    amount: int
    withdraw_after: int


@dataclass(frozen=True)
class BatchView:
    """An epoch's batch as the contract stores it (root zero: none committed)."""

    root: bytes
    records_hash: bytes
    counts_hash: bytes
    total: int
    steps_low: int
    steps_high: int
    finalized: bool

    @property
    def committed(self) -> bool:
        return self.root != EMPTY

    def steps(self, slot: int) -> int:
        """How many steps the batch pays slot ``slot`` for."""
        word = self.steps_low if slot < 8 else self.steps_high
        return int(word >> (STEP_BITS * (slot % 8)) & (2**STEP_BITS - 1))


@dataclass(frozen=True)
class ClaimView:
    claim_id: int
    api: int
    vendor: str
    epoch: int
    consumer: str
    seq: int
    component: int
    slot: int
    hash_in: bytes
    deadline: int
    state: ClaimState


@dataclass(frozen=True)
class ChallengeView:
    challenge_id: int
    api: int
    consumer: str
    epoch: int
    seq: int
    bond: int
    deadline: int
    state: ChallengeState


@dataclass(frozen=True)
class DisputeView:
    dispute_id: int
    api: int
    consumer: str
    epoch: int
    seq: int
    component: int
    slot: int
    hash_out: bytes
    members: int
    committed: int
    revealed: int
    commit_deadline: int
    reveal_deadline: int
    bond: int
    state: DisputeState


@dataclass(frozen=True)
class CallView:
    call_id: int
    api: int
    consumer: str
    last_hash: bytes
    next_component: int
    held: int
    deadline: int
    state: CallState


def terms_of(
    market: str, api: Api, slots: list[SlotView], flow: str, subsets: bool = False
) -> ApiTerms:
    """The terms the off-chain services work by, from the chain's view of a live API and
    its document's flow."""
    return ApiTerms(
        market=market,
        api=api.api,
        price=api.price,
        shares=api.shares,
        slots=tuple(Slot(slot.vendor, slot.component) for slot in slots),
        orchestrator=api.orchestrator,
        components=api.components,
        flow=flow,  # type: ignore[arg-type]
        subsets=subsets,
        epoch_start=api.start,
        epoch_period=api.epoch_period,
        model_root=api.model_root,
    )


def api_record(api: Api, slots: list[SlotView]) -> dict[str, Any]:
    """An API and its slots as JSON-ready fields (amounts in wei, hashes hex)."""
    record: dict[str, Any] = {}
    for name in api.__dataclass_fields__:
        value = getattr(api, name)
        record[name] = "0x" + value.hex() if isinstance(value, bytes) else value
    record["status"] = api.status.label
    record["shares"] = list(api.shares)
    record["slot_list"] = [
        {"slot": index, "vendor": s.vendor, "component": s.component, "joined": s.joined,
         "out": s.out}
        for index, s in enumerate(slots)
    ]  # fmt: skip
    return record
