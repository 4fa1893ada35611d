"""P4's read model (:class:`~mercato.protocols.readmodel.Pages`): model-market requests for
a page."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mercato.protocols import readmodel
from mercato.protocols.modelmarket.unit import UNIT

if TYPE_CHECKING:
    from mercato.protocols.marketplace import Marketplace


def summaries(market: Marketplace) -> list[dict[str, Any]]:
    """Every request as ``modelmarket list --json`` prints it (calls only)."""
    from mercato.protocols.modelmarket import views

    mm = market.model_market
    return [
        readmodel.json_record(views.request_record(mm.request(i))) for i in range(1, mm.count() + 1)
    ]


def detail(market: Marketplace, ident: int) -> dict[str, Any]:
    """Request ``ident`` as ``modelmarket show --json`` prints it (submissions, swaps,
    executors, tally), with its timeline."""
    from mercato.protocols.modelmarket.views import detail_record

    readmodel.check_entry(market, UNIT, ident)
    record = readmodel.json_record(detail_record(market, ident))
    record["timeline"] = readmodel.timeline(readmodel.events_of(market, UNIT, "request_id", ident))
    return record
