"""P2 as a unit of Mercato: ownership-preserving collaborative training on TrainingMarket."""

from __future__ import annotations

from typing import Any

from mercato.agents.roles import DATA_OPTIONS
from mercato.protocols.deployment import Periods
from mercato.protocols.unit import AgentRole, ProtocolUnit


def _constructor(registry: str, periods: Periods, fraud_stake: int) -> tuple[Any, ...]:
    return (
        registry,
        periods.approval,
        periods.training_round,
        periods.training_review,
        periods.idle,
        fraud_stake,
    )


UNIT = ProtocolUnit(
    key="training",
    number=2,
    title="collaborative training (Somy et al.)",
    field="training_market",
    contract="TrainingMarket",
    wrapper="mercato.protocols.training.market:TrainingMarket",
    constructor=_constructor,
    payer="training market",
    item="training",
    states={
        "requested": ("approved", "cancelled"),
        "approved": ("drawing", "completed"),
        "drawing": ("training", "round done", "completed"),
        "training": ("round done",),
        "round done": ("drawing", "completed"),
        "completed": (),
        "cancelled": (),
    },
    parties="the data owner, the model owner and the compute providers of the training",
    cli="mercato.cli.training:app",
    pages="mercato.protocols.training.pages",
    roles=(
        AgentRole("data-owner", "mercato.protocols.training.roles:plan_data_owner"),
        AgentRole("compute-provider", "mercato.protocols.training.roles:plan_compute", ("lazy",)),
        AgentRole(
            "model-owner",
            "mercato.protocols.training.roles:plan_model_owner",
            ("dataset", *DATA_OPTIONS),
        ),
    ),
    demo="mercato.protocols.training.scenario:DEMO",
    bench=("mercato.cli.bench_training:training",),
    slasher=True,
)
