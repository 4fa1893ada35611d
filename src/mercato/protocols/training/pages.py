"""P2's read model (:class:`~mercato.protocols.readmodel.Pages`): trainings for a page."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mercato.protocols import readmodel

if TYPE_CHECKING:
    from mercato.protocols.marketplace import Marketplace


def summaries(market: Marketplace) -> list[dict[str, Any]]:
    """Every training as ``training list --json`` prints it (calls only)."""
    tm = market.training_market
    idle = tm.period("idle")
    found = [tm.training(i) for i in range(1, tm.training_count() + 1)]
    return [readmodel.json_record(t.record(idle)) for t in found]


def detail(market: Marketplace, ident: int) -> dict[str, Any]:
    """Training ``ident`` as ``training show --json`` prints it (rounds, frauds, payments),
    with its timeline."""
    from mercato.cli.common import event_record
    from mercato.protocols.training import views

    found = views.read_detail(market, views.read_training(market.training_market, ident))
    record = {
        **found.record(),
        "events": [event_record(e, views.describe(e)) for e in found.events],
        "timeline": readmodel.timeline(found.events),
    }
    return readmodel.json_record(record)
