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
from pathlib import Path

from mercato.agents.agent import Agent, AgentContext
from mercato.agents.deadlines import Deadlines, keep_deadlines
from mercato.chain.contract import Event
from mercato.crypto.ckks import CkksContext
from mercato.errors import InputError, MercatoError
from mercato.ml.datasets import Dataset
from mercato.ml.trainers import weights_from_bytes, weights_to_bytes
from mercato.protocols.identity import Identity
from mercato.protocols.marketplace import Marketplace
from mercato.protocols.training import (
    compute,
    data_owner,
    final_model,
    history,
    model_owner,
    starting,
)
from mercato.protocols.training.compute import Worker, honest_worker
from mercato.protocols.training.data_owner import Listing
from mercato.protocols.training.market import InstanceStatus, Training, TrainingStatus
from mercato.units import format_ether

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
    folder: Path | None = None,
) -> None:
    """The MO: starts the first round once approved, reviews each round (reports fraud,
    aggregates, measures accuracy on ``evaluation``), then starts the next or completes.

    Given its state ``folder``, a model that ``training model --model`` recorded a file for
    starts from that file (:mod:`.starting`), and the trained model of each completed
    training is written with its metrics to ``<folder>/<agent>/training-<id>/final.safetensors``
    (:mod:`.final_model`). State per training: ``weights:<id>`` the current global model
    (MCWT, hex) and ``round:<id>:<n>`` what each round's review found.
    """
    tm = market.training_market
    deadlines = training_deadlines(market, me)
    mine = lambda e: e["mo"] == me.address  # noqa: E731

    def weights_of(ctx: AgentContext, training_id: int) -> bytes:
        return bytes.fromhex(str(ctx.state.get(f"weights:{training_id}")))

    def rows_of(training: Training) -> Dataset | None:
        """The MO's rows in the dataset's columns and classes; None (said) if they do not fit."""
        manifest = compute.load_manifest(market, training.dataset_id)
        try:
            return final_model.evaluation_rows(training.training_id, manifest, evaluation)
        except InputError as exc:
            logger.warning("%s: %s", agent.name, exc)
            return None

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
        start = (
            None
            if folder is None
            else starting.recorded_start(folder, market, me.address, training.model_id)
        )
        if start is None:
            weights = model_owner.initial_weights(method, n_features)
        else:
            weights = start.load(method.build_trainer(), training.model_id, method.inputs)
        ctx.state.put(f"weights:{training_id}", weights_to_bytes(weights).hex())
        model_owner.start_round(market, me, training_id, weights, context)
        logger.info(
            "%s: training %d approved: round 1 of %d starts from %s",
            agent.name, training_id, training.max_rounds,
            "the trainer's seeded start" if start is None else start.name,
        )  # fmt: skip

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
        rows = rows_of(training)
        measured = None if rows is None else model_owner.accuracy(method, weights, rows)
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
                "accuracy": measured,
            },
        )
        logger.info("%s: %s", agent.name, _round_words(found, measured, rows))
        if round_number < training.max_rounds:
            model_owner.start_round(market, me, training_id, weights, context)
            return
        model_owner.finish(market, me, training_id)
        done = history.one(market, "TrainingCompleted", training_id=training_id)
        said = (
            f"training {training_id} completed after {round_number} round(s): "
            f"{format_ether(int(done['paid_owner']))} to the data owner, "
            f"{format_ether(int(done['paid_compute']))} to compute providers, "
            f"{format_ether(int(done['refund']))} back"
        )
        if folder is not None and not method.ckks:
            measured_on = None if rows is None else evaluation
            said += f"; {_export(market, me, training_id, measured_on, folder / agent.name)}"
        logger.info("%s: %s", agent.name, said)

    keep_deadlines(agent, me, tm, deadlines)


def _round_words(
    review: model_owner.RoundReview, measured: float | None, rows: Dataset | None
) -> str:
    """``training 1 round 2: subsets [0] agreed (2 jobs), no fraud; accuracy 0.912 on ...``."""
    said = (
        f"training {review.training_id} round {review.round}: subsets "
        f"{sorted(review.consensus)} agreed ({len(review.checks)} jobs)"
    )
    if review.ties:
        said += f", subsets {list(review.ties)} tied (sit the round out)"
    frauds = review.frauds
    said += (
        ", no fraud"
        if not frauds
        else ", fraud reported: "
        + ", ".join(f"instance {e.instance_id} ({e.co[:8]}..) {e.reason}" for e in frauds)
    )
    if measured is not None and rows is not None:
        said += f"; accuracy {measured:.3f} on {rows.name} ({len(rows.y)} rows)"
    return said


def _export(
    market: Marketplace,
    me: Identity,
    training_id: int,
    evaluation: Dataset | None,
    results: Path,
) -> str:
    """Write the training's model and metrics (measured on ``evaluation`` if given) into
    ``results``; where, in words."""
    from mercato.protocols.results import export_result

    try:
        result = final_model.take_model(market, me, training_id, evaluation)
        written = export_result(result, final_model.final_path(results, training_id))
    except MercatoError as exc:
        return f"model not written: {exc}"
    return f"model in {written[0]}, metrics in {written[1].name}"
