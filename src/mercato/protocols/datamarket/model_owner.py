"""The model owner's steps in P3: pretrain, post a task, aggregate each round, fine-tune.

The MO trains its model on its own small data set first, publishes the public part (hidden
layers and a public training head) and keeps its private head. Each round it aggregates what
the DOs submitted: in secure mode it can only unmask the sum (from the same public blobs
anyone can read); in robust mode it opens the updates sealed to it, runs the task's rule
(Multi-Krum, median or trimmed mean) and records the scores and the excluded DOs on chain.
At the end it fine-tunes its private head on the final public part with its own data.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path

from mercato.chain.contract import Event
from mercato.errors import InputError, IntegrityError, MercatoError
from mercato.ml.datasets import Dataset
from mercato.ml.federated_sim import (
    DEFAULT_HEAD_EPOCHS,
    DEFAULT_PRETRAIN_EPOCHS,
    MarketData,
    aggregate_deltas,
)
from mercato.ml.model_parts import PartedMLP, apply_update
from mercato.ml.trainers.weights import Weights, weights_from_bytes, weights_to_bytes
from mercato.protocols.datamarket import history
from mercato.protocols.datamarket.aggregation import secure_mean
from mercato.protocols.datamarket.cut import MarketCut, market_cut
from mercato.protocols.datamarket.data_owner import load_model, load_spec
from mercato.protocols.datamarket.documents import TaskSpec, update_context
from mercato.protocols.datamarket.limits import (
    DEFAULT_AGGREGATE_PERIOD,
    DEFAULT_JOIN_PERIOD,
    DEFAULT_PHASE_PERIOD,
)
from mercato.protocols.datamarket.market import MAX_ROUNDS, SCORE_SCALE, Mode, Task, mask_of
from mercato.protocols.datamarket.rules import aggregate_problem, head_problem
from mercato.protocols.datamarket.state_files import (
    OwnerHead,
    heads_file,
    read_heads,
    record_head,
    task_key,
)
from mercato.protocols.identity import Identity
from mercato.protocols.marketplace import Marketplace
from mercato.storage.base import hash_bytes, hash_hex
from mercato.storage.envelope import open_envelope

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class OwnerModel:
    """The MO's model: the public part it publishes and the private head it keeps."""

    public: Weights
    private: Weights


@dataclass(frozen=True)
class TaskTerms:
    """What the MO asks for and pays, as the contract takes it."""

    data_owners: int
    rounds: int
    mode: Mode
    bound: int
    """Secure: the Shamir threshold; robust: the most DOs excluded per round."""
    reward: int
    join_period: int = DEFAULT_JOIN_PERIOD
    phase_period: int = DEFAULT_PHASE_PERIOD
    aggregate_period: int = DEFAULT_AGGREGATE_PERIOD


@dataclass(frozen=True)
class RoundResult:
    """What the MO finalised for one round."""

    round: int
    used: tuple[int, ...]
    excluded: tuple[int, ...]
    scores: tuple[float, ...]
    model_hash: str


def spec_for(
    data: MarketData, *, local_epochs: int, seed: int, rule: str, wants: str | None = None
) -> TaskSpec:
    """The spec of a task over the cut ``data``: a model sized for every label of the cut,
    wanting data of ``wants`` (default: the class of the MO's own slice)."""
    labels = [int(d.y.max()) for d in (data.mo, data.test, *data.parts)]
    model = PartedMLP(int(data.mo.X.shape[1]), max(labels) + 1)
    return TaskSpec(
        data_classes=(wants or data.mo.ontology_class,),
        model=dict(model.spec()),
        local_epochs=local_epochs,
        seed=seed,
        rule=rule,
    )


def pretrain(spec: TaskSpec, data: Dataset, epochs: int = DEFAULT_PRETRAIN_EPOCHS) -> OwnerModel:
    """The MO's model trained on its own data only (the "before" of the market)."""
    model = spec.build_model()
    public, private = model.init(spec.seed)
    public, private = model.train_full(public, private, data, epochs, spec.seed)
    return OwnerModel(public, private)


def post_task(
    market: Marketplace, me: Identity, spec: TaskSpec, model: OwnerModel, terms: TaskTerms
) -> int:
    """Publish the spec and the public model, post the task and lock the reward; its id."""
    if spec.robust != (terms.mode is Mode.ROBUST):
        raise InputError(
            f"rule {spec.rule!r} does not fit {terms.mode.label} mode: secure aggregation "
            "only gives the mean; robust mode needs one of multikrum, median, trimmed_mean"
        )
    spec_hash = market.store.put(spec.to_bytes())
    model_hash = market.store.put(weights_to_bytes(model.public))
    task_id, _ = market.data_market.post_task(
        me.account,
        model_hash=hash_bytes(model_hash),
        spec_hash=hash_bytes(spec_hash),
        data_owners=terms.data_owners,
        rounds=terms.rounds,
        mode=terms.mode,
        bound=terms.bound,
        reward=terms.reward,
        join_period=terms.join_period,
        phase_period=terms.phase_period,
        aggregate_period=terms.aggregate_period,
    )
    return task_id


def aggregate(market: Marketplace, me: Identity, task_id: int) -> RoundResult:
    """Aggregate the round that waits for the MO and finalise it on chain."""
    task = market.data_market.task(task_id)
    problem = aggregate_problem(task, me.address)
    if problem is not None:
        raise InputError(problem)
    return aggregate_round(market, me, task)


def aggregate_round(market: Marketplace, me: Identity, task: Task) -> RoundResult:
    """Aggregate the round of ``task`` (as read, waiting for the MO) and finalise it."""
    dm = market.data_market
    task_id = task.task_id
    submitters = task.active_members
    excluded: tuple[int, ...] = ()
    scores: tuple[float, ...] = ()
    if task.mode is Mode.SECURE:
        mean = secure_mean(market, task_id, task.round).mean
    else:
        spec = load_spec(market, task_id)
        updates, unreadable = _open_updates(market, me, task_id, task.round, submitters)
        if len(unreadable) > task.max_excluded:
            raise IntegrityError(
                f"task {task_id} round {task.round}: {len(unreadable)} updates do not open, "
                f"more than the {task.max_excluded} the task may exclude"
            )
        readable = [i for i in submitters if i not in unreadable]
        mean, dropped, raw_scores = aggregate_deltas(
            spec.rule, [updates[i] for i in readable], task.max_excluded - len(unreadable)
        )
        excluded = tuple(sorted([*unreadable, *(readable[k] for k in dropped)]))
        if raw_scores and not unreadable:
            scores = raw_scores
    before = load_model(market, history.model_before(dm, task_id, task.round))
    model_hash = market.store.put(weights_to_bytes(apply_update(before, mean)))
    aggregate_hash = market.store.put(weights_to_bytes(mean))
    dm.finalise_round(
        me.account,
        task_id,
        model_hash=hash_bytes(model_hash),
        aggregate_hash=hash_bytes(aggregate_hash),
        excluded=mask_of(excluded),
        scores=[round(s * SCORE_SCALE) for s in scores],
    )
    used = tuple(i for i in submitters if i not in excluded)
    return RoundResult(task.round, used, excluded, scores, model_hash)


def _open_updates(
    market: Marketplace, me: Identity, task_id: int, round_number: int, submitters: tuple[int, ...]
) -> tuple[dict[int, Weights], tuple[int, ...]]:
    """The updates sealed to the MO, and the submitters whose blob is missing or unreadable."""
    dm = market.data_market
    events = history.posts(dm, task_id, round_number, "update")
    updates: dict[int, Weights] = {}
    unreadable = []
    for i in submitters:
        try:
            envelope = market.store.get(hash_hex(events[i]["update_hash"]))
            context = update_context(dm.address, task_id, round_number, i)
            updates[i] = weights_from_bytes(open_envelope(envelope, me.encryption_private, context))
        except MercatoError as exc:
            logger.warning(
                "task %d round %d: update of DO %d unusable: %s", task_id, round_number, i, exc
            )
            unreadable.append(i)
    return updates, tuple(unreadable)


def final_public(market: Marketplace, task_id: int) -> Weights:
    """The public model after the last finalised round (the task's own if none was)."""
    return load_model(market, history.model_before(market.data_market, task_id, MAX_ROUNDS + 1))


def finish(
    market: Marketplace,
    task_id: int,
    spec: TaskSpec,
    model: OwnerModel,
    data: Dataset,
    epochs: int = DEFAULT_HEAD_EPOCHS,
) -> OwnerModel:
    """Fine-tune the private head on the final public part with the MO's own data."""
    public = final_public(market, task_id)
    private = spec.build_model().fine_tune_head(public, model.private, data, epochs, spec.seed)
    return OwnerModel(public, private)


@dataclass(frozen=True)
class TunedHead:
    """A recorded private head fine-tuned at the end of its task."""

    head: OwnerHead
    """The head with its tuned weights and the accuracy after."""
    accuracy: float
    rounds: int
    """Rounds of the task that were finalised."""
    test_examples: int


def keep_head(
    market: Marketplace,
    me: Identity,
    folder: Path,
    task_id: int,
    cut: MarketCut,
    model: OwnerModel,
    accuracy: float,
) -> tuple[Path, Event]:
    """Record the private head of a task the MO just posted (pretrained on its slice of
    ``cut`` to ``accuracy``) in its heads file in ``folder``; the file and TaskPosted."""
    posted = history.posted(market.data_market, task_id)
    head = OwnerHead(
        dataset=cut.dataset,
        seed=cut.seed,
        model_hash=hash_hex(posted["model_hash"]),
        pretrained=weights_to_bytes(model.private).hex(),
        accuracy_before=accuracy,
    )
    return record_head(folder, me.address, task_key(market, task_id), head), posted


def recorded_head(
    market: Marketplace, me: Identity, task_id: int, folder: Path
) -> tuple[OwnerHead, Path]:
    """The private head the MO recorded for the task in its heads file in ``folder``, and
    the file; InputError if it has none for the task, or one for another public model."""
    path = heads_file(folder, me.address)
    head = read_heads(folder, me.address).get(task_key(market, task_id))
    posted = hash_hex(history.posted(market.data_market, task_id)["model_hash"])
    problem = head_problem(task_id, head, path, posted)
    if problem is not None or head is None:
        raise InputError(str(problem))
    return head, path


def tune_head(market: Marketplace, task: Task, spec: TaskSpec, head: OwnerHead) -> TunedHead:
    """Fine-tune ``head`` over the task's final public part on the MO's slice of the cut it
    was pretrained on; the accuracy after is measured on the cut's test split."""
    data = market_cut(head.dataset, task.data_owners, head.seed)
    start = OwnerModel(
        final_public(market, task.task_id), weights_from_bytes(bytes.fromhex(head.pretrained))
    )
    tuned = finish(market, task.task_id, spec, start, data.mo)
    accuracy = spec.build_model().accuracy(tuned.public, tuned.private, data.test)
    updated = replace(head, tuned=weights_to_bytes(tuned.private).hex(), accuracy_after=accuracy)
    rounds = len(history.finalised(market.data_market, task.task_id))
    return TunedHead(updated, accuracy, rounds, len(data.test.y))
