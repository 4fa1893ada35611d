"""The training market's history, read from its events: what each party did and when.

The contract keeps only what it needs to enforce the rules; data hashes, nonces, model hashes,
locations and evidence live in events. Every step of the DO, CO and MO agents reads them
here, from the deployment's first block, filtered by event and indexed argument on the node
(so a lookup costs what it finds, not the market's whole history).
"""

from __future__ import annotations

from typing import Any

from mercato.chain.contract import Event
from mercato.errors import ProtocolError
from mercato.protocols.marketplace import Marketplace


def find(market: Marketplace, name: str, **match: Any) -> list[Event]:
    """Events called ``name`` whose arguments equal every ``match``, in chain order.

    Indexed arguments are matched by the node (by topic), the others here.
    """
    contract = market.training_market.contract
    indexed = set(contract.abi.indexed_arguments(name))
    by_topic = {key: value for key, value in match.items() if key in indexed}
    rest = {key: value for key, value in match.items() if key not in indexed}
    return [
        event
        for event in contract.events(market.deployment.block, None, name, **by_topic)
        if all(event[key] == value for key, value in rest.items())
    ]


def one(market: Marketplace, name: str, **match: Any) -> Event:
    """The single event called ``name`` that matches; ProtocolError if there is none."""
    found = find(market, name, **match)
    if not found:
        described = ", ".join(f"{key} {value}" for key, value in match.items())
        raise ProtocolError(f"training market: no {name} event for {described}")
    return found[-1]


def instance_created(market: Marketplace, instance_id: int) -> Event:
    return one(market, "InstanceCreated", instance_id=instance_id)


def joined(market: Marketplace, instance_id: int) -> Event | None:
    """The instance's join (data hash and nonce), or None while it is not joined."""
    found = find(market, "InstanceJoined", instance_id=instance_id)
    return found[-1] if found else None


def round_requested(market: Marketplace, training_id: int, round_number: int) -> Event:
    """The MO's RoundRequested of a round: its model hash and target block."""
    return one(market, "RoundRequested", training_id=training_id, round=round_number)


def round_started(market: Marketplace, training_id: int, round_number: int) -> Event | None:
    """The draw of a round, or None while it is not drawn."""
    found = find(market, "RoundStarted", training_id=training_id, round=round_number)
    return found[-1] if found else None


def jobs(market: Marketplace, training_id: int, round_number: int | None = None) -> list[Event]:
    """JobSubmitted events of a training (of one round if given), in chain order."""
    if round_number is None:
        return find(market, "JobSubmitted", training_id=training_id)
    return find(market, "JobSubmitted", training_id=training_id, round=round_number)


def fraud_reports(market: Marketplace, training_id: int) -> list[Event]:
    return find(market, "FraudReported", training_id=training_id)


def instances_of(market: Marketplace, dataset_id: int) -> list[list[int]]:
    """``ids[subset][replica]``: the dataset's current instance of every slot (0: none)."""
    tm = market.training_market
    dataset = tm.dataset(dataset_id)
    return [
        [tm.instance_at(dataset_id, s, r) or 0 for r in range(dataset.replicas)]
        for s in range(dataset.subsets)
    ]
