"""P2 handlers for each role's agent: data owner, compute provider and model owner.

Each ``attach_*`` function registers plain handlers on an :class:`~mercato.agents.Agent`.
Handlers read the chain before acting, so a handler run twice (after a crash) does not act
twice: a join only while the instance is free, a verification only while it is joined, a
review only while the round is under review, a job only while it is due.

Every agent also keeps the trainings it takes part in moving when another party is silent
(:func:`training_deadlines`, kept by :func:`~mercato.agents.deadlines.keep_deadlines`): the
MO cancels a request the DO did not approve in time; anyone draws a requested round, closes a
round past its deadline and completes a training past its idle deadline; then each withdraws
what it is owed. So no silent party can lock anybody's money.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from mercato.agents.agent import Agent, AgentContext
from mercato.agents.deadlines import Deadlines, keep_deadlines
from mercato.chain.contract import Event
from mercato.crypto.ckks import CkksContext
from mercato.ml.datasets import Dataset
from mercato.ml.trainers import weights_from_bytes, weights_to_bytes
from mercato.protocols.identity import Identity
from mercato.protocols.marketplace import Marketplace
from mercato.protocols.training import compute, data_owner, model_owner
from mercato.protocols.training.compute import Worker, honest_worker
from mercato.protocols.training.data_owner import Listing
from mercato.protocols.training.market import InstanceStatus, Training, TrainingStatus

logger = logging.getLogger(__name__)

TRAINING_KEY = "training:"


def training_deadlines(market: Marketplace, me: Identity) -> Deadlines[Training]:
    """The trainings an agent takes part in, moved on when another party is silent."""
    tm = market.training_market

    def move(training_id: int, training: Training, now: int) -> bool:
        if training.status is TrainingStatus.REQUESTED:
            if training.mo == me.address and now >= training.deadline:
                tm.cancel(me.account, training_id)  # the DO never approved: take the money back
                return False
        elif training.status is TrainingStatus.DRAWING:
            model_owner.draw_if_due(market, me, training_id)
        elif training.status is TrainingStatus.TRAINING and now >= training.deadline:
            tm.close_round(me.account, training_id)
        elif training.status in (
            TrainingStatus.APPROVED,
            TrainingStatus.ROUND_DONE,
        ) and now >= training.idle_deadline(tm.period("idle")):
            tm.complete(me.account, training_id)
            return False
        return True

    return Deadlines(TRAINING_KEY, tm.training, move)


def attach_data_owner(
    agent: Agent, market: Marketplace, me: Identity, listings: Mapping[int, Listing]
) -> None:
    """The DO of the datasets in ``listings`` (by dataset id): verifies joins, approves
    requests once a dataset is ready, draws rounds, and is paid at completion."""
    tm = market.training_market
    deadlines = training_deadlines(market, me)
    mine = lambda e: int(e["dataset_id"]) in listings  # noqa: E731

    @agent.on("InstanceJoined", where=mine, contract=tm.contract)
    def verify(event: Event, ctx: AgentContext) -> None:
        instance_id = int(event["instance_id"])
        instance = tm.instance(instance_id)
        if instance.status is not InstanceStatus.JOINED:
            return
        ok = data_owner.verify_join(
            market,
            me,
            listings[instance.dataset_id],
            instance_id,
            bytes(event["data_hash"]),
            bytes(event["nonce"]),
        )
        if not ok:
            logger.warning("instance %d declared data it was not given: flagged", instance_id)

    @agent.on("InstanceVerified", where=mine, contract=tm.contract)
    def approve_when_ready(event: Event, ctx: AgentContext) -> None:
        data_owner.approve_requests(market, me, int(event["dataset_id"]))

    @agent.on("TrainingRequested", where=mine, contract=tm.contract)
    def approve(event: Event, ctx: AgentContext) -> None:
        data_owner.approve_requests(market, me, int(event["dataset_id"]))

    @agent.on("TrainingApproved", where=lambda e: e["owner"] == me.address, contract=tm.contract)
    def follow(event: Event, ctx: AgentContext) -> None:
        deadlines.follow(ctx, int(event["training_id"]))

    @agent.on("RoundRequested", contract=tm.contract)
    def draw(event: Event, ctx: AgentContext) -> None:
        if deadlines.follows(ctx, int(event["training_id"])):
            model_owner.draw_if_due(market, me, int(event["training_id"]))

    keep_deadlines(agent, me, tm, deadlines)


def attach_compute(
    agent: Agent, market: Marketplace, me: Identity, worker: Worker = honest_worker
) -> None:
    """A CO: opens and checks each replica handed to it, joins, trains every drawn job."""
    tm = market.training_market
    deadlines = training_deadlines(market, me)

    @agent.on("InstanceCreated", where=lambda e: e["co"] == me.address, contract=tm.contract)
    def join(event: Event, ctx: AgentContext) -> None:
        instance_id = int(event["instance_id"])
        if tm.instance(instance_id).status is not InstanceStatus.FREE:
            return
        data = compute.receive_replica(market, me, instance_id)  # refuses wrong data
        compute.join(market, me, instance_id, data)

    @agent.on("RoundStarted", contract=tm.contract)
    def train(event: Event, ctx: AgentContext) -> None:
        training_id = int(event["training_id"])
        if compute.run_jobs(market, me, training_id, worker):
            deadlines.follow(ctx, training_id)

    keep_deadlines(agent, me, tm, deadlines)


def attach_model_owner(
    agent: Agent,
    market: Marketplace,
    me: Identity,
    evaluation: Dataset,
    context: CkksContext | None = None,
) -> None:
    """The MO: starts the first round once approved, reviews each round (reports fraud,
    aggregates, measures accuracy on ``evaluation``), then starts the next or completes.

    State per training: ``weights:<id>`` the current global model (MCWT, hex) and
    ``round:<id>:<n>`` what each round's review found.
    """
    tm = market.training_market
    deadlines = training_deadlines(market, me)
    mine = lambda e: e["mo"] == me.address  # noqa: E731

    def weights_of(ctx: AgentContext, training_id: int) -> bytes:
        return bytes.fromhex(str(ctx.state.get(f"weights:{training_id}")))

    @agent.on("TrainingRequested", where=mine, contract=tm.contract)
    def follow(event: Event, ctx: AgentContext) -> None:
        deadlines.follow(ctx, int(event["training_id"]))

    @agent.on("TrainingApproved", where=mine, contract=tm.contract)
    def first_round(event: Event, ctx: AgentContext) -> None:
        training_id = int(event["training_id"])
        deadlines.follow(ctx, training_id)
        training = tm.training(training_id)
        if training.status is not TrainingStatus.APPROVED or training.round != 0:
            return
        _, method = compute.load_method(market, training.model_id)
        n_features = compute.load_manifest(market, training.dataset_id).n_features
        weights = model_owner.initial_weights(method, n_features)
        ctx.state.put(f"weights:{training_id}", weights_to_bytes(weights).hex())
        model_owner.start_round(market, me, training_id, weights, context)

    @agent.on("RoundRequested", where=mine, contract=tm.contract)
    def draw(event: Event, ctx: AgentContext) -> None:
        model_owner.draw_if_due(market, me, int(event["training_id"]))

    @agent.on("RoundDone", contract=tm.contract)
    def review(event: Event, ctx: AgentContext) -> None:
        training_id, round_number = int(event["training_id"]), int(event["round"])
        training = tm.training(training_id)
        if training.mo != me.address:
            return
        if training.status is not TrainingStatus.ROUND_DONE or training.round != round_number:
            return  # reviewed by an earlier run of this handler
        _, method = compute.load_method(market, training.model_id)
        found = model_owner.review_round(market, me, training_id, round_number, context)
        model_owner.report_frauds(market, me, found)
        previous = weights_from_bytes(weights_of(ctx, training_id))
        weights = model_owner.aggregate(market, found, training.dataset_id, previous)
        ctx.state.put(f"weights:{training_id}", weights_to_bytes(weights).hex())
        ctx.state.put(
            f"round:{training_id}:{round_number}",
            {
                "subsets": sorted(found.consensus),
                "ties": list(found.ties),
                "jobs": len(found.checks),
                "frauds": [
                    {"instance": e.instance_id, "co": e.co, "reason": e.reason}
                    for e in found.frauds
                ],
                "accuracy": model_owner.accuracy(method, weights, evaluation),
            },
        )
        if round_number < training.max_rounds:
            model_owner.start_round(market, me, training_id, weights, context)
        else:
            model_owner.finish(market, me, training_id)

    keep_deadlines(agent, me, tm, deadlines)
