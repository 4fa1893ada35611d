"""P3 handlers for each role's agent: data owner and model owner of the data market.

Each ``attach_*`` function registers plain handlers on an :class:`~mercato.agents.Agent`.
A round moves by ``PhaseStarted`` events: a DO posts what the phase asks of it
(:func:`data_owner.act` reads the chain first, so a handler run twice posts once); the MO
aggregates when the phase is AGGREGATE. Every agent also keeps its tasks moving when someone
is silent (:func:`task_deadlines`, kept by :func:`~mercato.agents.deadlines.keep_deadlines`):
past a phase's deadline anyone ends it without the silent DOs, past the join deadline anyone
cancels, and past the aggregation deadline a DO claims its pay; then each withdraws what it
is owed. So no silent party can lock anybody's money.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from mercato.agents.agent import Agent, AgentContext
from mercato.agents.deadlines import Deadlines, keep_deadlines
from mercato.chain.contract import Event
from mercato.errors import InputError, MercatoError
from mercato.ml.datasets import Dataset
from mercato.ml.trainers.weights import weights_from_bytes, weights_to_bytes
from mercato.protocols.datamarket import data_owner, model_owner
from mercato.protocols.datamarket.data_owner import Contribution
from mercato.protocols.datamarket.market import Phase, Task, TaskStatus
from mercato.protocols.datamarket.model_owner import OwnerModel
from mercato.protocols.datamarket.rules import aggregate_problem, join_problem
from mercato.protocols.identity import Identity
from mercato.protocols.marketplace import Marketplace

logger = logging.getLogger(__name__)

TASK_KEY = "datamarket-task:"
PRIVATE_KEY = "datamarket-private:"
ACCURACY_KEY = "datamarket-accuracy:"

JoinPolicy = Callable[[Event], bool]
"""Whether a DO joins a posted task (beyond the task wanting its data): e.g. a minimum pay."""


def task_deadlines(market: Marketplace, me: Identity) -> Deadlines[Task]:
    """The tasks an agent takes part in, moved on past a deadline: anyone ends a phase without
    the silent DOs or cancels a task nobody filled; a DO claims its pay from a silent MO."""
    dm = market.data_market

    def move(task_id: int, task: Task, now: int) -> bool:
        if now < task.deadline:
            return True
        if task.phase is Phase.AGGREGATE:
            if task.mo != me.address:
                dm.claim(me.account, task_id)  # the MO is silent: take the pay for our work
                return False
            return True
        dm.advance(me.account, task_id)
        return not dm.task(task_id).status.final

    return Deadlines(TASK_KEY, dm.task, move)


def keep_moving(market: Marketplace, me: Identity, task_id: int) -> bool:
    """Move a task on if it waits past a deadline; whether it is still live."""
    return task_deadlines(market, me).keep(task_id, market.chain.timestamp())


def attach_data_owner(
    agent: Agent,
    market: Marketplace,
    me: Identity,
    contribution: Contribution,
    policy: JoinPolicy = lambda event: True,
) -> None:
    """A DO: joins posted tasks that want its data (and pass ``policy``), posts each phase."""
    dm = market.data_market
    deadlines = task_deadlines(market, me)

    @agent.on("TaskPosted", contract=dm.contract)
    def join(event: Event, ctx: AgentContext) -> None:
        task_id = int(event["task_id"])
        task = dm.task(task_id)
        if task.status is not TaskStatus.JOINING:
            return
        index = dm.index_of(task_id, me.address)
        if join_problem(task, me.address, index, market.chain.timestamp()) or not policy(event):
            return
        try:
            data_owner.check_task(market, task_id, contribution.data)
        except InputError as exc:
            logger.info("task %d not joined: %s", task_id, exc)
            return
        try:
            data_owner.send_join(market, me, task)
        except MercatoError as exc:  # full, or past its deadline, by the time we got here
            logger.info("task %d not joined: %s", task_id, exc)
            return
        deadlines.follow(ctx, task_id)

    @agent.on("PhaseStarted", contract=dm.contract)
    def post(event: Event, ctx: AgentContext) -> None:
        if deadlines.follows(ctx, int(event["task_id"])):
            data_owner.act(market, me, int(event["task_id"]), contribution)

    keep_deadlines(agent, me, dm, deadlines)


def follow_task(ctx: AgentContext, task_id: int, model: OwnerModel) -> None:
    """Tell an MO's agent about a task it posted and the private head to fine-tune at the end."""
    ctx.state.put(f"{TASK_KEY}{task_id}", True)  # followed past deadlines, as task_deadlines
    ctx.state.put(f"{PRIVATE_KEY}{task_id}", weights_to_bytes(model.private).hex())


def attach_model_owner(
    agent: Agent, market: Marketplace, me: Identity, data: Dataset, evaluation: Dataset
) -> None:
    """The MO of the tasks given to :func:`follow_task`: aggregates every round, then
    fine-tunes its private head on its own ``data`` and records the accuracy it reaches on
    ``evaluation`` (``datamarket-accuracy:<task>``)."""
    dm = market.data_market

    @agent.on(
        "PhaseStarted", where=lambda e: int(e["phase"]) == Phase.AGGREGATE, contract=dm.contract
    )
    def aggregate(event: Event, ctx: AgentContext) -> None:
        task_id = int(event["task_id"])
        task = dm.task(task_id)
        if aggregate_problem(task, me.address) or task.round != int(event["round"]):
            return  # not ours, or aggregated by an earlier run of this handler
        model_owner.aggregate_round(market, me, task)

    def finish(event: Event, ctx: AgentContext) -> None:
        task_id = int(event["task_id"])
        private = ctx.state.get(f"{PRIVATE_KEY}{task_id}")
        if private is None or f"{ACCURACY_KEY}{task_id}" in ctx.state:
            return
        spec = data_owner.load_spec(market, task_id)
        model = OwnerModel(
            model_owner.final_public(market, task_id),
            weights_from_bytes(bytes.fromhex(str(private))),
        )
        tuned = model_owner.finish(market, task_id, spec, model, data)
        ctx.state.put(f"{PRIVATE_KEY}{task_id}", weights_to_bytes(tuned.private).hex())
        ctx.state.put(
            f"{ACCURACY_KEY}{task_id}",
            spec.build_model().accuracy(tuned.public, tuned.private, evaluation),
        )

    agent.on("TaskFinished", where=lambda e: e["mo"] == me.address, contract=dm.contract)(finish)
    agent.on("TaskExpired", contract=dm.contract, name="finish_expired")(finish)
    keep_deadlines(agent, me, dm, task_deadlines(market, me))
