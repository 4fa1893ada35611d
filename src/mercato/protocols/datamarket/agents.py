"""P3 handlers for each role's agent: data owner and model owner of the data market.

Each ``attach_*`` function registers plain handlers on an :class:`~mercato.agents.Agent`.
A round moves by ``PhaseStarted`` events: a DO posts what the phase asks of it
(:func:`data_owner.act` reads the chain first, so a handler run twice posts once); the MO
aggregates when the phase is AGGREGATE. Every agent also keeps its tasks moving when someone
is silent (:func:`task_deadlines`, kept by :func:`~mercato.agents.deadlines.keep_deadlines`):
past a phase's deadline anyone ends it without the silent DOs, past the join deadline anyone
cancels, and past the aggregation deadline a DO claims its pay; then each withdraws what it
is owed. So no silent party can lock anybody's money.

Agents log what they decide in words and ether: a DO each task it joins or skips and why,
each update it submits and the pay it earns if the update is kept, and whether it was kept;
the MO each round it aggregates (how many updates, whom it excluded with their scores, the
accuracy of the new public model on its held-out rows, the pay of each kept update) and, at
the end, the accuracy of its fine-tuned head and where it wrote the final model
(``<state folder>/task-<id>/final.skops`` and its metrics, :mod:`.final_model`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from mercato.agents.agent import Agent, AgentContext
from mercato.agents.deadlines import Deadlines, keep_deadlines
from mercato.chain.contract import Event
from mercato.errors import InputError, MercatoError
from mercato.ml.datasets import Dataset
from mercato.ml.trainers.weights import weights_from_bytes, weights_to_bytes
from mercato.protocols.datamarket import data_owner, history, model_owner
from mercato.protocols.datamarket.data_owner import Contribution
from mercato.protocols.datamarket.documents import TaskSpec
from mercato.protocols.datamarket.market import Phase, Task, TaskStatus
from mercato.protocols.datamarket.model_owner import OwnerModel, RoundResult
from mercato.protocols.datamarket.rules import aggregate_problem, join_problem
from mercato.protocols.datamarket.views import Finalised
from mercato.protocols.identity import Identity
from mercato.protocols.marketplace import Marketplace
from mercato.storage.base import hash_bytes
from mercato.units import format_ether

logger = logging.getLogger(__name__)

TASK_KEY = "datamarket-task:"
PRIVATE_KEY = "datamarket-private:"
ACCURACY_KEY = "datamarket-accuracy:"
BEFORE_KEY = "datamarket-before:"
SCORE_NAMES = {"multikrum": "Multi-Krum score"}

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
        logger.info(
            "task %d: joined with %s (%d rows): %s per kept update, %d round(s)",
            task_id, contribution.data.name, len(contribution.data.y),
            format_ether(task.per_update), task.rounds,
        )  # fmt: skip

    @agent.on("PhaseStarted", contract=dm.contract)
    def post(event: Event, ctx: AgentContext) -> None:
        task_id = int(event["task_id"])
        if not deadlines.follows(ctx, task_id):
            return
        task = dm.task(task_id)
        if data_owner.act(market, me, task_id, contribution) and task.phase is Phase.SUBMIT:
            logger.info(
                "task %d round %d: submitted update (reward %s if kept)",
                task_id, task.round, format_ether(task.per_update),
            )  # fmt: skip

    @agent.on("RoundFinalised", contract=dm.contract)
    def paid(event: Event, ctx: AgentContext) -> None:
        task_id = int(event["task_id"])
        # Not whether it still follows the task: the tick may have seen the task end on
        # chain, withdrawn and stopped following it before this event reached the poller.
        index = dm.index_of(task_id, me.address)
        done = Finalised.of(event)
        if index is None or index not in (*done.used, *done.excluded):
            return
        score = done.scores.get(index)
        scored = "" if score is None else f" (score {score:.1f})"
        if index in done.used:
            said = f"update kept{scored}: {format_ether(done.paid_each)} owed"
        else:
            said = f"update excluded{scored}: not paid"
        logger.info("task %d round %d: %s", task_id, int(event["round"]), said)

    keep_deadlines(agent, me, dm, deadlines)


def follow_task(
    ctx: AgentContext, task_id: int, model: OwnerModel, accuracy_before: float | None = None
) -> None:
    """Tell an MO's agent about a task it posted and the private head to fine-tune at the end
    (pretrained to ``accuracy_before`` on the MO's held-out rows, if known)."""
    ctx.state.put(f"{TASK_KEY}{task_id}", True)  # followed past deadlines, as task_deadlines
    ctx.state.put(f"{PRIVATE_KEY}{task_id}", weights_to_bytes(model.private).hex())
    if accuracy_before is not None:
        ctx.state.put(f"{BEFORE_KEY}{task_id}", accuracy_before)


def attach_model_owner(
    agent: Agent,
    market: Marketplace,
    me: Identity,
    data: Dataset,
    evaluation: Dataset,
    folder: Path | None = None,
) -> None:
    """The MO of the tasks given to :func:`follow_task`: aggregates every round (measuring
    each new public model on ``evaluation``), then fine-tunes its private head on its own
    ``data``, records the accuracy it reaches on ``evaluation``
    (``datamarket-accuracy:<task>``) and, given a ``folder``, writes the final model and its
    metrics to ``<folder>/task-<id>/final.skops``."""
    dm = market.data_market

    @agent.on(
        "PhaseStarted", where=lambda e: int(e["phase"]) == Phase.AGGREGATE, contract=dm.contract
    )
    def aggregate(event: Event, ctx: AgentContext) -> None:
        task_id = int(event["task_id"])
        task = dm.task(task_id)
        if aggregate_problem(task, me.address) or task.round != int(event["round"]):
            return  # not ours, or aggregated by an earlier run of this handler
        result = model_owner.aggregate_round(market, me, task)
        logger.info("%s", _aggregated(market, task, result, evaluation))

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
        accuracy = model_owner.accuracy(spec, tuned, evaluation)
        ctx.state.put(f"{PRIVATE_KEY}{task_id}", weights_to_bytes(tuned.private).hex())
        ctx.state.put(f"{ACCURACY_KEY}{task_id}", accuracy)
        rounds = len(history.finalised(dm, task_id))
        before = ctx.state.get(f"{BEFORE_KEY}{task_id}")
        said = (
            f"task {task_id}: private head fine-tuned after {rounds} round(s), "
            f"{accuracy:.1%} right on {len(evaluation.y)} held-out rows"
        )
        if isinstance(before, float):
            said += f" ({before:.1%} before the market)"
        if folder is not None:
            said += f"; {_export(market, task_id, spec, tuned, evaluation, folder, before)}"
        logger.info("%s: %s", agent.name, said)

    agent.on("TaskFinished", where=lambda e: e["mo"] == me.address, contract=dm.contract)(finish)
    agent.on("TaskExpired", contract=dm.contract, name="finish_expired")(finish)
    keep_deadlines(agent, me, dm, task_deadlines(market, me))


def _aggregated(market: Marketplace, task: Task, result: RoundResult, evaluation: Dataset) -> str:
    """What the MO did in a round, in words and ether."""
    spec = data_owner.load_spec(market, task.task_id)
    members = market.data_market.members(task.task_id)
    said = f"task {task.task_id} round {result.round}: aggregated {len(result.used)} update(s)"
    if result.excluded:
        name = SCORE_NAMES.get(spec.rule, "score")
        scores = dict(zip(sorted((*result.used, *result.excluded)), result.scores, strict=False))
        said += ", excluded " + ", ".join(
            f"{members[i][:8]}.." + (f" ({name} {scores[i]:.1f})" if i in scores else "")
            for i in result.excluded
        )
    else:
        said += ", excluded none"
    public = data_owner.load_model(market, hash_bytes(result.model_hash))
    said += f", accuracy {model_owner.public_accuracy(spec, public, evaluation):.2f}"
    event = history.finalised(market.data_market, task.task_id)[result.round]
    return f"{said}; {format_ether(int(event['paid_each']))} owed to each kept data owner"


def _export(
    market: Marketplace,
    task_id: int,
    spec: TaskSpec,
    model: OwnerModel,
    evaluation: Dataset,
    folder: Path,
    before: object,
) -> str:
    """Write the task's final model and metrics into ``folder``; where, in words."""
    from mercato.protocols.datamarket.final_model import final_path, final_result
    from mercato.protocols.results import export_result

    reported = {"head": "private", "accuracy_before": before}
    result = final_result(market, task_id, spec, model, evaluation, reported=reported)
    try:
        model_file, metrics_file = export_result(result, final_path(folder, task_id))
    except MercatoError as exc:
        return f"final model not written: {exc}"
    return f"final model in {model_file}, metrics in {metrics_file.name}"
