"""P3 as a unit of Mercato: the secure data market (OmniLytics) on the DataMarket contract."""

from __future__ import annotations

from typing import Any

from mercato.agents.roles import DATA_OPTIONS
from mercato.protocols.deployment import Periods
from mercato.protocols.unit import AgentRole, ProtocolUnit


def _constructor(registry: str, periods: Periods, fraud_stake: int) -> tuple[Any, ...]:
    return (registry,)


UNIT = ProtocolUnit(
    key="datamarket",
    number=3,
    title="secure data market (OmniLytics)",
    field="data_market",
    contract="DataMarket",
    wrapper="mercato.protocols.datamarket.market:DataMarket",
    constructor=_constructor,
    payer="data market",
    item="task",
    states={
        "joining": ("running", "cancelled"),
        "running": ("finished", "expired"),
        "finished": (),
        "cancelled": (),
        "expired": (),
    },
    parties="the model owner and the task's data owners",
    cli="mercato.cli.datamarket:app",
    pages="mercato.protocols.datamarket.pages",
    roles=(
        AgentRole(
            "market-model-owner",
            "mercato.protocols.datamarket.roles:plan_model_owner",
            ("dataset", *DATA_OPTIONS, "seed"),
        ),
        AgentRole(
            "market-data-owner",
            "mercato.protocols.datamarket.roles:plan_data_owner",
            ("dataset", *DATA_OPTIONS, "seed", "part", "data_owners", "poison"),
        ),
    ),
    demo="mercato.protocols.datamarket.scenario:DEMO",
    bench=("mercato.cli.bench_datamarket:datamarket",),
)
