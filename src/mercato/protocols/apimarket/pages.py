"""P5's read model (:class:`~mercato.protocols.readmodel.Pages`): APIs for a page."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mercato.protocols import readmodel
from mercato.protocols.apimarket.unit import UNIT

if TYPE_CHECKING:
    from mercato.protocols.marketplace import Marketplace


def summaries(market: Marketplace) -> list[dict[str, Any]]:
    """Every API as ``api list --json`` prints it (calls only)."""
    from mercato.protocols.apimarket import views

    am = market.api_market
    return [
        readmodel.json_record(views.api_record(am.api(i), am.slots(i)))
        for i in range(1, am.count() + 1)
    ]


def detail(market: Marketplace, ident: int) -> dict[str, Any]:
    """API ``ident`` as ``api show --json`` prints it (slots, batches, disputes, the P4
    purchase), with its timeline."""
    from mercato.cli.api_view import detail_record

    readmodel.check_entry(market, UNIT, ident)
    record = readmodel.json_record(detail_record(market, ident))
    record["timeline"] = readmodel.timeline(readmodel.events_of(market, UNIT, "api", ident))
    return record
