"""P5 as a unit of Mercato: the split-execution API market (Arya et al.) on ApiMarket."""

from __future__ import annotations

from typing import Any

from mercato.protocols.deployment import Periods
from mercato.protocols.unit import AgentRole, ProtocolUnit


def _constructor(registry: str, periods: Periods, fraud_stake: int) -> tuple[Any, ...]:
    return (registry,)


UNIT = ProtocolUnit(
    key="apimarket",
    number=5,
    title="split-execution API market (Arya et al.)",
    field="api_market",
    contract="ApiMarket",
    wrapper="mercato.protocols.apimarket.market:ApiMarket",
    constructor=_constructor,
    payer="API market",
    item="API",
    states={
        "joining": ("live", "cancelled"),
        "live": ("ended",),
        "ended": (),
        "cancelled": (),
    },
    parties="the provider, the orchestrator, the vendors and the consumers",
    cli="mercato.cli.api:app",
    pages="mercato.protocols.apimarket.pages",
    demo="mercato.protocols.apimarket.scenario:DEMO",
    group="api",
    bench=("mercato.cli.bench_apimarket:apimarket",),
    roles=(
        AgentRole("api-provider", "mercato.protocols.apimarket.roles:plan_provider"),
        AgentRole("vendor", "mercato.protocols.apimarket.roles:plan_vendor"),
        AgentRole("consumer", "mercato.protocols.apimarket.roles:plan_consumer", ("deposit",)),
    ),
    extra_cli=(
        ("vendor", "mercato.cli.api_services:vendor"),
        ("orchestrator", "mercato.cli.api_services:orchestrator"),
    ),
)
