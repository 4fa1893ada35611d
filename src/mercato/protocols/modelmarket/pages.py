"""P4's read model (:class:`~mercato.protocols.readmodel.Pages`): model-market requests for
a page."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from mercato.protocols import readmodel
from mercato.protocols.modelmarket.unit import UNIT

if TYPE_CHECKING:
    from mercato.chain.contract import Event
    from mercato.protocols.marketplace import Marketplace

ENTRY_ARG = "request_id"


def summaries(market: Marketplace) -> list[dict[str, Any]]:
    """Every request as ``modelmarket list --json`` prints it (calls only)."""
    from mercato.protocols.modelmarket import views

    mm = market.model_market
    return [
        readmodel.json_record(views.request_record(mm.request(i))) for i in range(1, mm.count() + 1)
    ]


def detail(
    market: Marketplace, ident: int, events: Sequence[Event] | None = None
) -> dict[str, Any]:
    """Request ``ident`` as ``modelmarket show --json`` prints it (submissions, swaps,
    executors, tally, events)."""
    from mercato.protocols.modelmarket.views import detail_record

    readmodel.check_entry(market, UNIT, ident)
    return readmodel.json_record(detail_record(market, ident, events))


def describe(event: Event) -> str:
    """One line saying what a request's event means (its views' ``describe``)."""
    from mercato.protocols.modelmarket import views

    return views.describe(event)
