"""P2's read model (:class:`~mercato.protocols.readmodel.Pages`): trainings for a page."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from mercato.protocols import readmodel

if TYPE_CHECKING:
    from mercato.chain.contract import Event
    from mercato.protocols.marketplace import Marketplace

ENTRY_ARG = "training_id"


def summaries(market: Marketplace) -> list[dict[str, Any]]:
    """Every training as ``training list --json`` prints it (calls only)."""
    tm = market.training_market
    idle = tm.period("idle")
    found = [tm.training(i) for i in range(1, tm.training_count() + 1)]
    return [readmodel.json_record(t.record(idle)) for t in found]


def detail(
    market: Marketplace, ident: int, events: Sequence[Event] | None = None
) -> dict[str, Any]:
    """Training ``ident`` as ``training show --json`` prints it (rounds, frauds, payments,
    events)."""
    from mercato.protocols.training import views

    found = views.read_detail(market, views.read_training(market.training_market, ident), events)
    return readmodel.json_record(found.record())


def describe(event: Event) -> str:
    """One line saying what a training's event means (its views' ``describe``)."""
    from mercato.protocols.training import views

    return views.describe(event)
