"""P1 as a unit of Mercato: the SAIaaS procurement auction on the AuctionHouse contract."""

from __future__ import annotations

from typing import Any

from mercato.agents.roles import DATA_OPTIONS
from mercato.protocols.deployment import Periods
from mercato.protocols.unit import AgentRole, ProtocolUnit


def _constructor(registry: str, periods: Periods, fraud_stake: int) -> tuple[Any, ...]:
    return registry, periods.delivery, periods.review, periods.arbitration


UNIT = ProtocolUnit(
    key="auction",
    number=1,
    title="procurement auction (SAIaaS)",
    field="auction_house",
    contract="AuctionHouse",
    wrapper="mercato.protocols.auction.house:AuctionHouse",
    constructor=_constructor,
    payer="auction house",
    item="auction",
    states={
        "open": ("adjudicated", "refunded"),
        "adjudicated": ("delivered", "refunded"),
        "delivered": ("confirmed", "disputed", "claimed"),
        "disputed": ("arbitrated", "refunded"),
        "confirmed": (),
        "arbitrated": (),
        "claimed": (),
        "refunded": (),
    },
    parties="the client and the winners",
    cli="mercato.cli.auction:app",
    pages="mercato.protocols.auction.pages",
    roles=(
        AgentRole(
            "client",
            "mercato.protocols.auction.roles:plan_client",
            ("eval_dataset", *DATA_OPTIONS),
        ),
        AgentRole(
            "provider",
            "mercato.protocols.auction.roles:plan_provider",
            ("category", "asset_class", "floor", "dataset", *DATA_OPTIONS, "algorithm", "params"),
        ),
        AgentRole("arbiter", "mercato.protocols.auction.roles:plan_arbiter"),
    ),
    demo="mercato.protocols.auction.scenario:DEMO",
    bench=("mercato.cli.bench_auction:gas",),
)
