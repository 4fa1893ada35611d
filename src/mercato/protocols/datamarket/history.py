"""What a task's events say: its posting, each round's keys, posts and finalisation.

Everything here is read from the chain's logs (filtered by the node on the indexed task and
round), so any participant, or an auditor, reconstructs the same view.
"""

from __future__ import annotations

from dataclasses import dataclass

from mercato.chain.contract import Event
from mercato.errors import ProtocolError
from mercato.protocols.datamarket.market import DataMarket
from mercato.protocols.datamarket.views import POSTS as POSTS


@dataclass(frozen=True)
class RoundKeys:
    """The X25519 public keys and seed commitments posted for one round, by member index."""

    public_keys: dict[int, bytes]
    commitments: dict[int, bytes]


def posted(dm: DataMarket, task_id: int) -> Event:
    """The task's TaskPosted event."""
    events = dm.events("TaskPosted", task_id=task_id)
    if not events:
        raise ProtocolError(f"task {task_id} was never posted")
    return events[0]


def posts(dm: DataMarket, task_id: int, round_number: int, kind: str) -> dict[int, Event]:
    """The posts of one kind (``keys``, ``shares``, ``update``, ``reveal``) by member index."""
    events = dm.events(POSTS[kind], task_id=task_id, round=round_number)
    return {int(e["index"]): e for e in events}


def round_keys(dm: DataMarket, task_id: int, round_number: int) -> RoundKeys:
    """Round 1's keys come with the joins; later rounds' from their KEYS phase."""
    if round_number == 1:
        events = {int(e["index"]): e for e in dm.events("Joined", task_id=task_id)}
    else:
        events = posts(dm, task_id, round_number, "keys")
    return RoundKeys(
        public_keys={i: bytes(e["public_key"]) for i, e in events.items()},
        commitments={i: bytes(e["seed_commitment"]) for i, e in events.items()},
    )


def finalised(dm: DataMarket, task_id: int) -> dict[int, Event]:
    """RoundFinalised events by round."""
    return {int(e["round"]): e for e in dm.events("RoundFinalised", task_id=task_id)}


def model_before(dm: DataMarket, task_id: int, round_number: int) -> bytes:
    """The public model a round trains: the last one finalised before it, or the task's."""
    done = finalised(dm, task_id)
    earlier = [r for r in done if r < round_number]
    if earlier:
        return bytes(done[max(earlier)]["model_hash"])
    return bytes(posted(dm, task_id)["model_hash"])
