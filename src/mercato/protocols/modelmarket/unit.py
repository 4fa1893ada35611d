"""P4 as a unit of Mercato: the model market (Golden Grain) on the ModelMarket contract."""

from __future__ import annotations

from typing import Any

from mercato.protocols.deployment import Periods
from mercato.protocols.unit import AgentRole, ProtocolUnit


def _constructor(registry: str, periods: Periods, fraud_stake: int) -> tuple[Any, ...]:
    return (registry,)


UNIT = ProtocolUnit(
    key="modelmarket",
    number=4,
    title="model market (Golden Grain)",
    field="model_market",
    contract="ModelMarket",
    wrapper="mercato.protocols.modelmarket.market:ModelMarket",
    constructor=_constructor,
    payer="model market",
    item="request",
    states={
        "sampling": ("submitting", "cancelled"),
        "submitting": ("drawing", "cancelled"),
        "drawing": ("committing", "cancelled"),
        "committing": ("revealing", "failed"),
        "revealing": ("swapping", "closed", "test rejected", "failed"),
        "swapping": ("closed",),
        "closed": (),
        "cancelled": (),
        "test rejected": (),
        "failed": (),
    },
    parties="the buyer, the sellers and the executors",
    cli="mercato.cli.modelmarket:app",
    pages="mercato.protocols.modelmarket.pages",
    roles=(
        AgentRole("buyer", "mercato.protocols.modelmarket.roles:plan_buyer"),
        AgentRole("seller", "mercato.protocols.modelmarket.roles:plan_seller", ("model",)),
        AgentRole("executor", "mercato.protocols.modelmarket.roles:plan_executor", ("lazy",)),
    ),
    demo="mercato.protocols.modelmarket.scenario:DEMO",
    bench=("mercato.cli.bench_modelmarket:modelmarket",),
)
