"""P5's read model (:class:`~mercato.protocols.readmodel.Pages`): APIs for a page."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from mercato.protocols import readmodel
from mercato.protocols.apimarket.unit import UNIT

if TYPE_CHECKING:
    from mercato.chain.contract import Event
    from mercato.protocols.marketplace import Marketplace

ENTRY_ARG = "api"


def summaries(market: Marketplace) -> list[dict[str, Any]]:
    """Every API as ``api list --json`` prints it (calls only)."""
    from mercato.protocols.apimarket import views

    am = market.api_market
    return [
        readmodel.json_record(views.api_record(am.api(i), am.slots(i)))
        for i in range(1, am.count() + 1)
    ]


def detail(
    market: Marketplace, ident: int, events: Sequence[Event] | None = None
) -> dict[str, Any]:
    """API ``ident`` as ``api show --json`` prints it (slots, batches, disputes, the P4
    purchase, events)."""
    from mercato.protocols.apimarket.views import detail_record

    readmodel.check_entry(market, UNIT, ident)
    return readmodel.json_record(detail_record(market, ident, events))


def describe(event: Event) -> str:
    """One line saying what an API's event means (its views' ``describe``)."""
    from mercato.protocols.apimarket import views

    return views.describe(event)
