"""P5 read from its events, one pass per kind: what of an API is still open, and its batches.

The contract keeps claims, challenges, disputes and batches by id or epoch; which of them
are still open (so that someone must answer, settle, resolve or finalize them) is read here
from the events, once per kind and not once per entry.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from mercato.protocols.apimarket.views import ClaimState

if TYPE_CHECKING:
    from mercato.chain.contract import Event
    from mercato.protocols.apimarket.market import ApiMarket


@dataclass(frozen=True)
class OpenItems:
    """What of one API waits for somebody: batches to finalize and claims, challenges,
    disputes to settle (by id), each with the event that opened it."""

    batches: dict[int, Event] = field(default_factory=dict)
    """Epoch -> its BatchCommitted, for the batches not finalized yet."""
    claims: dict[int, Event] = field(default_factory=dict)
    challenges: dict[int, Event] = field(default_factory=dict)
    disputes: dict[int, Event] = field(default_factory=dict)


def open_items(am: ApiMarket, api: int, from_block: int = 0) -> OpenItems:
    """Read what of API ``api`` is still open from its events."""
    items = OpenItems()
    for event in am.events("BatchCommitted", from_block=from_block, api=api):
        items.batches[int(event["epoch"])] = event
    for event in am.events("BatchFinalized", from_block=from_block, api=api):
        items.batches.pop(int(event["epoch"]), None)
    for event in am.events("Claimed", from_block=from_block, api=api):
        if int(event["state"]) == ClaimState.OPEN:
            items.claims[int(event["claim_id"])] = event
    for name in ("ClaimAnswered", "ClaimSettled"):
        for event in am.events(name, from_block=from_block, api=api):
            items.claims.pop(int(event["claim_id"]), None)
    for event in am.events("Challenged", from_block=from_block, api=api):
        items.challenges[int(event["challenge_id"])] = event
    for name in ("ChallengeAnswered", "ChallengeSettled"):
        for event in am.events(name, from_block=from_block, api=api):
            items.challenges.pop(int(event["challenge_id"]), None)
    for event in am.events("Disputed", from_block=from_block, api=api):
        items.disputes[int(event["dispute_id"])] = event
    for event in am.events("DisputeResolved", from_block=from_block, api=api):
        items.disputes.pop(int(event["dispute_id"]), None)
    return items


def batch_event(am: ApiMarket, api: int, epoch: int) -> Event | None:
    """The BatchCommitted of ``epoch``, or None if none was committed."""
    for event in am.events("BatchCommitted", api=api, epoch=epoch):
        return event
    return None


def counts_of(event: Event | None) -> tuple[list[str], list[int], list[int]]:
    """A batch's (consumers, calls, steps) as its BatchCommitted logged them (empty: none)."""
    if event is None:
        return [], [], []
    return (
        [str(c) for c in event["consumers"]],
        [int(c) for c in event["calls"]],
        [int(s) for s in event["steps"]],
    )
