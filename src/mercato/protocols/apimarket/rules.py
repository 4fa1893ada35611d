"""P5's rules: whether a step on an API is acceptable, as plain functions.

Each ``*_problem`` function returns why a step would fail (ApiMarket.vy's asserts, said
before anything is sent), or None when it is acceptable. The CLI raises the problem as an
InputError; nobody restates the contract. Light: the functions judge views
(:mod:`~mercato.protocols.apimarket.views`) and plain values and read nothing themselves.
Problems name the command-line options and commands that fix them; ``now`` is the chain's
time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from mercato.errors import InputError
from mercato.protocols.apimarket.terms import MAX_COMPONENTS, MAX_SLOTS
from mercato.protocols.apimarket.views import (
    Api,
    ApiStatus,
    BatchView,
    ChallengeState,
    ChallengeView,
    ClaimState,
    ClaimView,
    Deposit,
    DisputeState,
    DisputeView,
    Periods,
    SlotView,
)
from mercato.protocols.roles import Role
from mercato.protocols.rules import funds_problem as funds_problem  # the CLI checks stakes with it
from mercato.protocols.rules import range_problem as range_problem  # the CLI checks options with it
from mercato.protocols.rules import state_problem
from mercato.timefmt import format_deadline, same_address
from mercato.units import format_ether

COMMAND = "mercato api"
MAX_PERIOD = 365 * 86400
"""The contract's bound on the join, epoch, window and response periods (seconds)."""
MAX_TERM = 10 * 365 * 86400
MAX_CONSUMERS = 128
"""Depositors of one API (and consumers of one batch)."""
MAX_AMOUNT = 2**128
"""What the CLI takes as an amount (stakes, bonds, price): far above any real one."""


def _entry(api: Api) -> str:
    return f"API {api.api}"


# registering an API --------------------------------------------------------------------
PROVIDER_ROLES = (Role.MODEL_OWNER, Role.CLIENT)
"""Either makes an account a provider (ApiMarket.vy's ``register``): a model owner serves
its own model, a client one it bought (P4's buyer)."""


def provider_problem(roles: Role, address: str) -> str | None:
    """Unless ``address`` (holding ``roles``) may register an API: a model owner or a client."""
    if any(role & roles for role in PROVIDER_ROLES):
        return None
    return (
        f"{address} is no registered model owner or client: it cannot register an API "
        "(mercato register --roles model-owner, or client, same account)"
    )


def slot_of(text: str) -> tuple[str, int]:
    """The (vendor, component) that ``--slot VENDOR:COMPONENT`` writes; InputError if not."""
    from eth_utils.address import is_address, to_checksum_address

    vendor, colon, component = text.rpartition(":")
    if not colon or not is_address(vendor.strip()):
        raise InputError(f"--slot '{text}' is not VENDOR:COMPONENT (an address, a colon, a number)")
    if not component.strip().isdigit():
        raise InputError(f"--slot '{text}': component '{component.strip()}' is not a number")
    return str(to_checksum_address(vendor.strip())), int(component)


def slots_problem(
    slots: Sequence[tuple[str, int]], components: int, provider: str, orchestrator: str
) -> str | None:
    """Unless ``slots`` (vendor, component) give every component a vendor, at most
    :data:`MAX_SLOTS`, each vendor once and neither the provider nor the orchestrator."""
    if not 0 < len(slots) <= MAX_SLOTS:
        return f"an API needs 1 to {MAX_SLOTS} --slot VENDOR:COMPONENT, got {len(slots)}"
    if same_address(orchestrator, provider):
        return "--orchestrator must be another party than you, the provider"
    seen: set[str] = set()
    for vendor, component in slots:
        if not 0 <= component < components:
            return f"--slot {vendor}:{component} names no component (the model has {components})"
        if same_address(vendor, provider) or same_address(vendor, orchestrator):
            return f"vendor {vendor} is the provider or the orchestrator: a vendor is another party"
        if vendor.lower() in seen:
            return f"vendor {vendor} holds two slots: a vendor holds one"
        seen.add(vendor.lower())
    missing = sorted(set(range(components)) - {component for _, component in slots})
    if missing:
        return (
            f"component(s) {', '.join(map(str, missing))} have no --slot: each of the model's "
            f"{components} components needs a vendor"
        )
    return None


def parts_problem(parts: int) -> str | None:
    return range_problem(parts, 1, MAX_COMPONENTS, "--parts")


def shares_problem(shares: Sequence[int], components: int, price: int) -> str | None:
    """Unless there is one ``--share`` per component and the ``--price`` covers them."""
    if len(shares) != components:
        return f"pass one --share per component ({components}), got {len(shares)}"
    if price <= 0:
        return "--price must be above 0"
    if price > MAX_AMOUNT:
        return f"--price {format_ether(price)} is more than the contract takes"
    if sum(shares) > price:
        return (
            f"the shares add up to {format_ether(sum(shares))}, more than the --price "
            f"{format_ether(price)}"
        )
    return None


def amount_problem(wei: int, option: str) -> str | None:
    """Unless ``wei`` fits the contract's amounts (stakes, bonds)."""
    return None if wei <= MAX_AMOUNT else f"{option} {format_ether(wei)} is more than 2^128 wei"


def periods_problem(periods: Periods) -> str | None:
    """Unless every period is 1 s to a year and the term at least an epoch, at most ten years."""
    options = ("--join-period", "--epoch", "--window", "--response")
    named = zip(options, periods.as_tuple()[:4], strict=True)
    for option, seconds in named:
        problem = range_problem(seconds, 1, MAX_PERIOD, option)
        if problem is not None:
            return problem
    return range_problem(periods.term, periods.epoch, MAX_TERM, "--term")


def purchase_of(text: str) -> tuple[str, int, int]:
    """The (model market, request, index) that ``--purchase MARKET:REQUEST:INDEX`` writes."""
    from eth_utils.address import is_address, to_checksum_address

    parts = text.split(":")
    if len(parts) != 3 or not is_address(parts[0]) or not all(p.isdigit() for p in parts[1:]):
        raise InputError(
            f"--purchase '{text}' is not MARKET:REQUEST:INDEX (the model market's address, "
            "the request id and the submission index)"
        )
    return str(to_checksum_address(parts[0])), int(parts[1]), int(parts[2])


def purchase_problem(buyer: str, paid: bool, provider: str, text: str) -> str | None:
    """Unless the P4 purchase ``text`` is ``provider``'s and paid."""
    if not same_address(buyer, provider):
        return f"--purchase {text} is not yours: its buyer is {buyer}"
    if not paid:
        return f"--purchase {text} is not paid yet: register the API once the sale is settled"
    return None


# joining -------------------------------------------------------------------------------
def joining_problem(api: Api, now: int, action: str) -> str | None:
    """Unless ``api`` still takes its parties (joining, before its join deadline)."""
    problem = state_problem(api.status, (ApiStatus.JOINING,), _entry(api), action)
    if problem is not None:
        return problem
    if now >= api.join_deadline:
        return (
            f"{_entry(api)} took its parties until {format_deadline(api.join_deadline, now)}; "
            f"anyone may cancel it now ({COMMAND} advance {api.api})"
        )
    return None


def join_problem(api: Api, slots: Sequence[SlotView], caller: str, now: int) -> str | None:
    """Unless ``caller`` holds a slot of ``api`` it has not joined, and joins are open."""
    problem = joining_problem(api, now, "join")
    if problem is not None:
        return problem
    slot = slot_index(slots, caller)
    if slot is None:
        return f"you ({caller}) hold no slot of {_entry(api)}"
    if slots[slot].joined:
        return f"you already joined {_entry(api)} (slot {slot})"
    return None


def slot_index(slots: Sequence[SlotView], vendor: str) -> int | None:
    """The slot ``vendor`` holds, or None."""
    for index, slot in enumerate(slots):
        if same_address(slot.vendor, vendor):
            return index
    return None


def accept_problem(api: Api, caller: str, now: int) -> str | None:
    """Unless ``caller`` is ``api``'s orchestrator and may accept it now."""
    problem = joining_problem(api, now, "accept")
    if problem is not None:
        return problem
    if not same_address(api.orchestrator, caller):
        return f"only the orchestrator of {_entry(api)} ({api.orchestrator}) accepts it"
    if api.accepted:
        return f"you already accepted {_entry(api)}"
    return None


def advance_problem(api: Api, now: int) -> str | None:
    """Unless ``advance`` cancels ``api`` now: joining and past its join deadline."""
    if api.status is not ApiStatus.JOINING:
        return f"{_entry(api)} is {api.status.label}: advance only cancels an API still joining"
    if now < api.join_deadline:
        return (
            f"{_entry(api)} takes its parties until {format_deadline(api.join_deadline, now)}; "
            "advance after"
        )
    return None


# consumers -----------------------------------------------------------------------------
def deposit_problem(api: Api, deposit: Deposit, amount: int, now: int) -> str | None:
    """Unless a consumer may deposit ``amount`` into ``api`` now (``deposit``: what it has)."""
    if amount <= 0:
        return "--amount must be above 0"
    open_ = api.status is ApiStatus.JOINING or (api.status is ApiStatus.LIVE and now < api.ends)
    if not open_:
        return f"{_entry(api)} takes no deposits: it is {api.status.label}" + (
            " and its term is over" if api.status is ApiStatus.LIVE else ""
        )
    if deposit.amount == 0 and api.depositors >= MAX_CONSUMERS:
        return f"{_entry(api)} has its {MAX_CONSUMERS} consumers already"
    return None


def request_withdrawal_problem(api: Api, deposit: Deposit) -> str | None:
    """Unless the consumer holding ``deposit`` may give notice now."""
    problem = state_problem(api.status, (ApiStatus.LIVE,), _entry(api), "give notice on")
    if problem is not None:
        if api.status is ApiStatus.JOINING:
            return (
                f"{_entry(api)} is joining: withdraw your deposit at once "
                f"({COMMAND} withdraw-deposit {api.api})"
            )
        return problem
    if deposit.amount == 0:
        return f"you have nothing deposited in {_entry(api)}"
    return None


def withdraw_deposit_problem(api: Api, deposit: Deposit, now: int) -> str | None:
    """Unless the consumer holding ``deposit`` may take it back now."""
    if deposit.amount == 0:
        return f"you have nothing deposited in {_entry(api)}"
    if api.status is ApiStatus.LIVE:
        if deposit.withdraw_after == 0:
            return f"give notice first ({COMMAND} request-withdrawal {api.api})"
        if now < deposit.withdraw_after:
            return (
                f"your notice on {_entry(api)} runs until "
                f"{format_deadline(deposit.withdraw_after, now)}; withdraw after"
            )
    return None


def call_problem(api: Api, deposit: Deposit, spent: int, now: int) -> str | None:
    """Unless a consumer with ``deposit`` (``spent`` of it on calls not yet batched) may
    call ``api`` now."""
    if api.status is not ApiStatus.LIVE:
        return f"{_entry(api)} takes no calls: it is {api.status.label}"
    if now >= api.ends:
        return f"{_entry(api)} took calls until {format_deadline(api.ends, now)}"
    if deposit.withdraw_after:
        return f"you gave notice on {_entry(api)}: the orchestrator no longer serves you"
    if deposit.amount - spent < api.price:
        return (
            f"your deposit in {_entry(api)} ({format_ether(deposit.amount - spent)} left) does "
            f"not cover a call ({format_ether(api.price)}): {COMMAND} deposit {api.api}"
        )
    return None


def epoch_problem(api: Api, epoch: int, now: int) -> str | None:
    """Unless ``epoch`` of ``api`` took calls and its window is still open."""
    if api.status is not ApiStatus.LIVE:
        return f"{_entry(api)} is {api.status.label}: its windows are closed"
    if epoch > api.last_epoch:
        return f"{_entry(api)} has no epoch {epoch} (its last is {api.last_epoch})"
    if now >= api.close(epoch):
        return (
            f"the window of epoch {epoch} of {_entry(api)} closed at "
            f"{format_deadline(api.close(epoch), now)}"
        )
    return None


def challenge_problem(
    api: Api, epoch: int, seq: int, batch: BatchView, counted: int, challenged: bool, now: int
) -> str | None:
    """Unless a consumer whose calls ``epoch``'s batch counts as ``counted`` may challenge
    call ``seq`` now (``challenged``: it did already)."""
    problem = epoch_problem(api, epoch, now)
    if problem is not None:
        return problem
    if not batch.committed:
        return f"no batch of epoch {epoch} of {_entry(api)}: nothing charged to challenge"
    if not 0 < seq <= counted:
        return f"the batch of epoch {epoch} counts {counted} call(s) of yours, not call {seq}"
    if challenged:
        return f"call {seq} of epoch {epoch} is challenged already"
    return None


def dispute_problem(
    api: Api, slots: Sequence[SlotView], epoch: int, slot: int, component: int, now: int
) -> str | None:
    """Unless a consumer may dispute the step of ``component`` that slot ``slot`` ran in
    ``epoch`` now."""
    problem = epoch_problem(api, epoch, now)
    if problem is not None:
        return problem
    if not 0 <= slot < len(slots) or slots[slot].component != component:
        return f"slot {slot} of {_entry(api)} does not run component {component}"
    if slots[slot].out:
        return f"slot {slot} of {_entry(api)} is already out (slashed)"
    return None


# vendors -------------------------------------------------------------------------------
def claim_problem(
    api: Api, slots: Sequence[SlotView], caller: str, epoch: int, batch: BatchView, now: int
) -> str | None:
    """Unless ``caller``, a vendor, may claim a step of ``epoch`` now."""
    problem = epoch_problem(api, epoch, now)
    if problem is not None:
        return problem
    if slot_index(slots, caller) is None:
        return f"you ({caller}) hold no slot of {_entry(api)}"
    if not batch.committed and now < api.due(epoch):
        return (
            f"the batch of epoch {epoch} of {_entry(api)} may come until "
            f"{format_deadline(api.due(epoch), now)}; claim what it leaves out after"
        )
    return None


# anyone --------------------------------------------------------------------------------
def finalize_problem(api: Api, epoch: int, batch: BatchView, now: int) -> str | None:
    """Unless ``epoch``'s batch may be paid out now."""
    if not batch.committed:
        return f"no batch of epoch {epoch} of {_entry(api)} to finalize"
    if batch.finalized:
        return f"the batch of epoch {epoch} of {_entry(api)} is finalized already"
    if now < api.close(epoch):
        return (
            f"the window of epoch {epoch} of {_entry(api)} is open until "
            f"{format_deadline(api.close(epoch), now)}; finalize after"
        )
    return None


def settle_claim_problem(claim: ClaimView, now: int) -> str | None:
    """Unless claim ``claim`` is open and unanswered past its deadline."""
    if claim.state is not ClaimState.OPEN:
        return f"claim {claim.claim_id} is {claim.state.label}: nothing to settle"
    if now < claim.deadline:
        return (
            f"the orchestrator may answer claim {claim.claim_id} until "
            f"{format_deadline(claim.deadline, now)}; settle after"
        )
    return None


def settle_challenge_problem(challenge: ChallengeView, now: int) -> str | None:
    """Unless challenge ``challenge`` is open and unanswered past its deadline."""
    if challenge.state is not ChallengeState.OPEN:
        return f"challenge {challenge.challenge_id} is {challenge.state.label}: nothing to settle"
    if now < challenge.deadline:
        return (
            f"the orchestrator may answer challenge {challenge.challenge_id} until "
            f"{format_deadline(challenge.deadline, now)}; settle after"
        )
    return None


def resolve_problem(dispute: DisputeView, response_period: int, now: int) -> str | None:
    """Unless dispute ``dispute``'s committee is done: all revealed, or the reveals over."""
    if dispute.state is not DisputeState.OPEN:
        return f"dispute {dispute.dispute_id} is {dispute.state.label}: nothing to resolve"
    ends = dispute.reveal_deadline or dispute.commit_deadline + response_period
    if dispute.revealed != dispute.members and now < ends:
        return (
            f"the replicas of dispute {dispute.dispute_id} may reveal until "
            f"{format_deadline(ends, now)}; resolve after, or once all have"
        )
    return None


def release_problem(api: Api, now: int) -> str | None:
    """Unless ``api``'s last window closed with nothing open."""
    if api.status is not ApiStatus.LIVE:
        return f"{_entry(api)} is {api.status.label}: release ends a live API"
    last = api.close(api.last_epoch)
    if now < last:
        return f"the last window of {_entry(api)} closes at {format_deadline(last, now)}"
    if api.open:
        return (
            f"{_entry(api)} has {api.open} claim(s), challenge(s) or dispute(s) open: settle "
            "or resolve them first"
        )
    return None


# settling: what the contract pays (ApiMarket.vy's settlements, for the auditor) ----------
def from_stake(amount: int, stake_left: int) -> int:
    """What the orchestrator's remaining stake pays of ``amount`` (``_from_stake``)."""
    return min(amount, stake_left)


def claim_state(committed: bool, counted: int, seq: int) -> ClaimState:
    """How ``claim`` settles a vendor's claim of call ``seq``: no batch (it was due) pays at
    once, a batch counting ``counted`` < seq calls of the consumer pays at once, otherwise
    the orchestrator must show the step's leaf."""
    if not committed:
        return ClaimState.PAID_MISSED
    if seq > counted:
        return ClaimState.PAID_UNREPORTED
    return ClaimState.OPEN


def batch_payments(
    steps: Sequence[int], slot_components: Sequence[int], shares: Sequence[int], total: int
) -> tuple[list[int], int]:
    """What ``finalize_batch`` credits: each slot its steps x its component's share, and the
    provider the rest of the batch's ``total``."""
    per_slot = [
        count * shares[component] for count, component in zip(steps, slot_components, strict=True)
    ]
    return per_slot, total - sum(per_slot)


def committee_majority(
    votes: dict[int, bytes], voters: int, needed: int
) -> tuple[bytes | None, int]:
    """The vote that at least ``needed`` of the ``voters`` (a slot mask) cast, and the mask
    of who cast it; (None, 0) if none (``committee._majority``: the lowest slot's vote
    first)."""
    for slot in range(voters.bit_length()):
        if not voters >> slot & 1:
            continue
        agreed = sum(
            1 << other
            for other in range(voters.bit_length())
            if voters >> other & 1 and votes.get(other) == votes.get(slot)
        )
        if agreed.bit_count() >= needed:
            return votes.get(slot), agreed
    return None, 0


@dataclass(frozen=True)
class DisputeSettlement:
    """What ``resolve`` (or a wrong component at once) does to a dispute: its state, the
    majority, who voted with it, who loses its stake and who is credited what."""

    state: DisputeState
    majority: bytes | None
    agreed: int
    slashed: int
    to_consumer: int
    to_each_in_majority: int
    to_provider: int


def dispute_settlement(
    *,
    slot: int,
    members: int,
    votes: dict[int, bytes],
    revealed: int,
    out: int,
    bond: int,
    vendor_stake: int,
    wrong_component: bool,
) -> DisputeSettlement:
    """Settle a dispute of ``slot``'s output (``votes[slot]`` is the receipt's hash_out):
    a wrong component slashes the vendor (half its stake to the consumer, half to the
    provider); otherwise the majority of the component's live slots (``members`` and the
    accused) decides: a liar loses its stake (half to the consumer, half to the majority),
    an honest vendor's accuser its bond (to the majority), revealed dissenters their
    stakes (to the majority); no majority refunds the bond. ``out``: slots already out."""
    accused = 1 << slot
    majority: bytes | None = None
    agreed = slashed = pool = to_provider = 0
    to_consumer = bond
    state = DisputeState.NO_MAJORITY
    if wrong_component:
        state, slashed = DisputeState.WRONG_COMPONENT, accused
        to_provider = vendor_stake // 2
        to_consumer += vendor_stake - to_provider
    else:
        needed = (members.bit_count() + 1) // 2 + 1
        majority, agreed = committee_majority(votes, revealed | accused, needed)
    if majority is not None:
        slashed = revealed & ~agreed & ~out
        pool = slashed.bit_count() * vendor_stake
        if majority == votes.get(slot):
            state, to_consumer = DisputeState.HONEST, 0
            pool += bond
        else:
            state = DisputeState.LIAR
            if not out & accused:
                slashed |= accused
                to_consumer += vendor_stake - vendor_stake // 2
                pool += vendor_stake // 2
    each = pool // agreed.bit_count() if agreed else 0
    if agreed:
        to_provider += pool - each * agreed.bit_count()
    return DisputeSettlement(state, majority, agreed, slashed, to_consumer, each, to_provider)
