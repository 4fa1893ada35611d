"""What there is to know about P5's APIs: frozen views read from the chain, no printing.

An API as the contract stores it (:class:`Api`), its slots (:class:`SlotView`), each
epoch's batch (:class:`BatchView`), a consumer's deposit, and the claims, challenges,
disputes and base-mode calls with their states. The CLI renders them, the agents and the
services decide on them; :func:`detail_record` reads one API in full (``api show --json``,
the HTTP API) and :func:`describe` says what each event means. Light: the chain is read by
the functions that need it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mercato.protocols.apimarket.terms import ApiTerms, Slot
from mercato.protocols.states import State
from mercato.units import format_ether

if TYPE_CHECKING:
    from mercato.chain.contract import Event
    from mercato.protocols.marketplace import Marketplace

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


# one API in full ----------------------------------------------------------------------------
def api_events(market: Marketplace, api_id: int) -> list[Event]:
    """The events of API ``api_id`` in chain order (one scan since the deployment)."""
    events = market.api_market.events(from_block=market.deployment.block)
    return [e for e in events if e.get("api") == api_id]


def detail_record(
    market: Marketplace, api_id: int, events: Sequence[Event] | None = None
) -> dict[str, Any]:
    """Everything about an API, JSON-ready: its record, slots, batches, disputes, the P4
    purchase its model comes from (None if none) with the score its benchmark agreed, and
    its events summarised (``events``: the API's, if already read; else read from the
    chain). InputError if there is no such API."""
    from mercato.errors import InputError
    from mercato.protocols.modelmarket.limits import SCORE_SCALE
    from mercato.protocols.readmodel import event_record

    am = market.api_market
    count = am.count()
    if not 0 < api_id <= count:
        raise InputError(f"no API {api_id} (there are {count})")
    if events is None:
        events = api_events(market, api_id)
    record = api_record(am.api(api_id), am.slots(api_id))
    record["batches"] = [
        {
            "epoch": int(e["epoch"]),
            "calls": sum(int(c) for c in e["calls"]),
            "consumers": len(e["consumers"]),
            "total": int(e["total"]),
            "records_hash": "0x" + bytes(e["records_hash"]).hex(),
        }
        for e in events
        if e.name == "BatchCommitted"
    ]
    record["disputes"] = [
        {
            "dispute_id": int(e["dispute_id"]),
            "state": DisputeState(int(e["state"])).label,
            "slashed": int(e["slashed"]),
            "to_consumer": int(e["to_consumer"]),
        }
        for e in events
        if e.name == "DisputeResolved"
    ]
    record["purchase"] = next(
        (
            {
                "model_market": str(e["model_market"]),
                "request_id": int(e["request_id"]),
                "index": int(e["index"]),
                "seller": str(e["seller"]),
                "score": int(e["score"]) / SCORE_SCALE,
            }
            for e in events
            if e.name == "PurchaseShown"
        ),
        None,
    )
    record["events"] = [event_record(e, describe(e)) for e in events]
    return record


SUMMARIES = {
    "ApiRegistered": "registered by {provider}: {components} component(s), {price} a call, "
    "orchestrator {orchestrator}",
    "PurchaseShown": "its model was bought in request {request_id} (submission {index}) of "
    "the model market {model_market}",
    "Joined": "vendor {vendor} joins slot {slot} (component {component}), staking {stake}",
    "Accepted": "orchestrator {orchestrator} accepts, staking {stake}",
    "ApiLive": "live until epoch {last_epoch}",
    "ApiEnded": "ended ({status}): {stakes} of stakes and {deposits} of deposits returnable",
    "Deposited": "{consumer} deposits {amount} (now {deposit})",
    "WithdrawalRequested": "{consumer} asks to withdraw its deposit",
    "DepositWithdrawn": "{consumer} withdraws {amount}",
    "BatchCommitted": "epoch {epoch}: {calls} call(s) of {consumers} consumer(s) committed, "
    "{total}",
    "BatchFinalized": "epoch {epoch} finalised: {vendors_paid} to the vendors, "
    "{provider_paid} to the provider",
    "Claimed": "claim {claim_id}: vendor {vendor} claims epoch {epoch} call {seq} (slot {slot})",
    "ClaimAnswered": "claim {claim_id} answered",
    "ClaimSettled": "claim {claim_id} settled: paid {paid}",
    "Challenged": "challenge {challenge_id}: {consumer} challenges epoch {epoch} call {seq}, "
    "bond {bond}",
    "ChallengeAnswered": "challenge {challenge_id} answered; bond paid {bond_paid}",
    "ChallengeSettled": "challenge {challenge_id} settled: refund {refund}",
    "Disputed": "dispute {dispute_id}: {consumer} disputes epoch {epoch} call {seq} at slot "
    "{slot}, bond {bond}",
    "OutputCommitted": "dispute {dispute_id}: replica {replica} commits its output",
    "OutputRevealed": "dispute {dispute_id}: replica {replica} reveals its output",
    "DisputeResolved": "dispute {dispute_id} resolved ({state}): slashed {slashed}, "
    "{to_consumer} to the consumer",
    "CallOpened": "call {call_id} opened by {consumer} at {price}",
    "StepRecorded": "call {call_id}: vendor {vendor} records component {component}, paid {paid}",
    "CallClosed": "call {call_id} closed ({state}): {to_provider} to the provider, "
    "{to_consumer} to the consumer",
}  # fmt: skip
"""What each API event means, in words; arguments as :func:`describe` shows them."""
AMOUNTS = frozenset({
    "price", "stake", "amount", "deposit", "total", "vendors_paid", "provider_paid", "paid",
    "bond", "bond_paid", "refund", "slashed", "to_consumer", "to_provider", "stakes", "deposits",
})  # fmt: skip
STATES: dict[str, type[State]] = {
    "ApiEnded": ApiStatus, "DisputeResolved": DisputeState, "CallClosed": CallState,
}  # fmt: skip
"""Which state an event's ``state`` or ``status`` argument numbers."""


def describe(event: Event) -> str:
    """One line saying what an API event means."""
    template = SUMMARIES.get(event.name)
    if template is None:
        return event.name
    shown: dict[str, Any] = {}
    for name, value in event.args.items():
        if name in AMOUNTS:
            shown[name] = format_ether(value)
        elif name == "calls":
            shown[name] = sum(int(c) for c in value)
        elif name == "consumers":
            shown[name] = len(value)
        elif name in ("state", "status") and event.name in STATES:
            shown[name] = STATES[event.name](int(value)).label
        else:
            shown[name] = value
    return template.format(**shown)
