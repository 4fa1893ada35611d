"""What a request's events tell, read back: the task, the sample, each party's sealed blobs,
the executors' reveals and the majority among them.

Every party and the auditor read the same way; each function reads the chain when called
(the contract filters events by their indexed request id).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mercato.errors import InputError
from mercato.protocols.modelmarket.documents import TaskDocument, read_groups
from mercato.storage.base import hash_hex

if TYPE_CHECKING:
    from mercato.chain.contract import Event
    from mercato.protocols.marketplace import Marketplace
    from mercato.protocols.modelmarket.market import ModelMarket


def posted(mm: ModelMarket, request_id: int) -> Event:
    return mm.first("RequestPosted", request_id=request_id)


def task_document(market: Marketplace, request_id: int) -> TaskDocument:
    """The request's task document from the blob store; InputError if it cannot be read."""
    task_hash = hash_hex(posted(market.model_market, request_id)["task_hash"])
    return TaskDocument.from_bytes(market.store.get(task_hash))


def schedule(mm: ModelMarket, request_id: int) -> list[tuple[int, int]]:
    """The request's price schedule: (score in ppm, price in wei) points."""
    event = posted(mm, request_id)
    return list(zip(event["schedule_scores"], event["schedule_prices"], strict=True))


def sample_indices(mm: ModelMarket, request_id: int) -> list[int] | None:
    """The drawn sample's group indices, or None before the draw."""
    for event in mm.events("SampleDrawn", request_id=request_id):
        return [int(i) for i in event["indices"]]
    return None


def sample_groups(market: Marketplace, request_id: int) -> dict[int, bytes] | None:
    """The revealed sample's group blobs by index, checked against the hashes the contract
    verified; None before the reveal. InputError if the blob does not match them."""
    from mercato.crypto.commit import keccak

    events = market.model_market.events("SampleRevealed", request_id=request_id)
    if not events:
        return None
    event = events[0]
    groups = read_groups(market.store.get(hash_hex(event["blob_hash"])))
    expected = {
        int(i): bytes(h) for i, h in zip(event["indices"], event["group_hashes"], strict=True)
    }
    if sorted(groups) != sorted(expected) or any(
        keccak(groups[i]) != expected[i] for i in expected
    ):
        raise InputError(f"request {request_id}: the sample blob is not the revealed groups")
    return groups


def executors(mm: ModelMarket, request_id: int) -> list[str]:
    """The drawn executors' addresses, in volunteer order (empty before the draw)."""
    for event in mm.events("ExecutorsDrawn", request_id=request_id):
        return [str(a) for a in event["executors"]]
    return []


def sealed_by(mm: ModelMarket, request_id: int, sender: str) -> str | None:
    """The blob hash of the first blob ``sender`` sealed to the executors, or None."""
    for event in mm.events("Sealed", request_id=request_id, sender=sender):
        return hash_hex(event["blob_hash"])
    return None


def submitted(mm: ModelMarket, request_id: int) -> list[Event]:
    """The Submitted events of the request, in submission order."""
    return mm.events("Submitted", request_id=request_id)


@dataclass(frozen=True)
class Reveal:
    """One executor's revealed vote."""

    executor: str
    index: int
    scores: tuple[int, ...]
    flags: int
    report_hash: str


def reveals(mm: ModelMarket, request_id: int) -> list[Reveal]:
    return [
        Reveal(
            str(e["executor"]),
            int(e["index"]),
            tuple(int(s) for s in e["scores"]),
            int(e["flags"]),
            hash_hex(e["report_hash"]),
        )
        for e in mm.events("ScoresRevealed", request_id=request_id)
    ]


def majority(
    mm: ModelMarket, request_id: int, executors: int
) -> tuple[tuple[int, ...], int] | None:
    """The (scores, flags) that more than half of the ``executors`` drawn revealed, or None:
    what ``tally`` takes."""
    votes = Counter((r.scores, r.flags) for r in reveals(mm, request_id))
    for vote, count in votes.most_common(1):
        if count >= executors // 2 + 1:
            return vote
    return None
