"""P2's agent roles as ``mercato agent run`` plans them: data owner, compute provider, model
owner.

- ``data-owner`` verifies joins and approves requests; it rebuilds each dataset's private
  listing from the split plan ``mercato training dataset offer`` recorded in the agent's
  state folder;
- ``compute-provider`` joins and trains each drawn job (``--lazy``: returns the models
  untrained, a demonstration adversary);
- ``model-owner`` runs the rounds (from the file ``training model --model`` recorded, if
  any), reviews every job, reports fraud and completes, then writes the trained model and
  its metrics to ``<state folder>/<agent>/training-<id>/``; it measures each round on its
  own rows (``--data``) or the held-out part of ``--dataset`` (a data owner selling the same
  dataset sells the other part, so the two never overlap).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mercato.agents.roles import AgentSetup, RolePlan, attaching, role_data
from mercato.protocols.roles import Role
from mercato.protocols.training import agents
from mercato.protocols.training.compute import honest_worker
from mercato.protocols.training.listings import ListingBook, plan_file, read_plans
from mercato.protocols.training.scenario import lazy_worker


def plan_data_owner(options: Mapping[str, Any]) -> RolePlan:
    """The DO of the datasets whose split plans the state folder holds."""

    def attach(setup: AgentSetup) -> str:
        me, folder = setup.me, setup.folder
        plans = read_plans(folder, me.address)  # a malformed file is refused now
        agents.attach_data_owner(
            setup.agent, setup.market, me, ListingBook(setup.market, me, folder)
        )
        return f" with {len(plans)} split plan(s) in {plan_file(folder, me.address)}"

    return RolePlan("data-owner", Role.DATA_OWNER, attach)


def plan_compute(options: Mapping[str, Any]) -> RolePlan:
    """A compute provider: honest, or lazy with ``--lazy``."""
    if options.get("lazy"):
        attach = attaching(
            agents.attach_compute, lazy_worker, says=" (lazy: returns models untrained)"
        )
    else:
        attach = attaching(agents.attach_compute, honest_worker)
    return RolePlan("compute-provider", Role.COMPUTE_PROVIDER, attach)


def plan_model_owner(options: Mapping[str, Any]) -> RolePlan:
    """The MO of its trainings, measuring each round on its own rows (``--data``) or the
    held-out part of ``--dataset``."""
    missing = "a model-owner agent measures rounds on its own data: --data FILE or --dataset NAME"
    evaluation = role_data(options, "dataset", missing, sells=False)

    def attach(setup: AgentSetup) -> str:
        agents.attach_model_owner(
            setup.agent, setup.market, setup.me, evaluation, folder=setup.folder
        )
        return (
            f" measuring rounds on {evaluation.name} ({len(evaluation.y)} examples); "
            f"models to {setup.folder / setup.agent.name}"
        )

    return RolePlan("model-owner", Role.MODEL_OWNER, attach)
