"""P1's read model (:class:`~mercato.protocols.readmodel.Pages`): auctions for a page."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from mercato.protocols import readmodel

if TYPE_CHECKING:
    from mercato.chain.contract import Event
    from mercato.protocols.marketplace import Marketplace

ENTRY_ARG = "auction_id"


def summaries(market: Marketplace) -> list[dict[str, Any]]:
    """Every auction as ``auction list --json`` prints it (calls only)."""
    from mercato.protocols.auction.views import read_auctions

    return [readmodel.json_record(a.record()) for a in read_auctions(market.auction_house)]


def detail(
    market: Marketplace, ident: int, events: Sequence[Event] | None = None
) -> dict[str, Any]:
    """Auction ``ident`` as ``auction show --json`` prints it, with its events."""
    from mercato.protocols.auction.views import detail_record, read_detail

    return readmodel.json_record(detail_record(read_detail(market, ident, events)))


def describe(event: Event) -> str:
    """One line saying what an auction's event means (its views' ``describe``)."""
    from mercato.protocols.auction import views

    return views.describe(event)
