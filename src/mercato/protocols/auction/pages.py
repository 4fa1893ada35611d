"""P1's read model (:class:`~mercato.protocols.readmodel.Pages`): auctions for a page."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mercato.protocols import readmodel

if TYPE_CHECKING:
    from mercato.protocols.marketplace import Marketplace


def summaries(market: Marketplace) -> list[dict[str, Any]]:
    """Every auction as ``auction list --json`` prints it (calls only)."""
    from mercato.protocols.auction.views import read_auctions

    return [readmodel.json_record(a.record()) for a in read_auctions(market.auction_house)]


def detail(market: Marketplace, ident: int) -> dict[str, Any]:
    """Auction ``ident`` as ``auction show --json`` prints it, with its timeline."""
    from mercato.cli.auction_view import detail_record
    from mercato.protocols.auction.views import read_detail

    found = read_detail(market, ident)
    record = readmodel.json_record(detail_record(found))
    record["timeline"] = readmodel.timeline(found.timeline)
    return record
