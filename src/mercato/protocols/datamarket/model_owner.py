"""The model owner's steps in P3: pretrain, post a task, aggregate each round, fine-tune.

The MO trains its model on its own small data set first (a slice of a sample set's cut, or
its own file, :mod:`.owner_data`), or starts from a model it trained before
(:mod:`.starting`), publishes the public part (hidden layers and a public training head)
and keeps its private head. Each round it aggregates what
the DOs submitted: in secure mode it can only unmask the sum (from the same public blobs
anyone can read); in robust mode it opens the updates sealed to it, runs the task's rule
(Multi-Krum, median or trimmed mean) and records the scores and the excluded DOs on chain:
only Multi-Krum's outliers beyond the task's multiple, and updates it could not open, are
excluded (:func:`~mercato.ml.aggregate.krum.krum_outliers`, which the contract enforces).
At the end it fine-tunes its private head on the final public part with its own data.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from mercato.chain.contract import Event
from mercato.errors import InputError, IntegrityError, MercatoError
from mercato.ml.columns import Inputs, standardisation
from mercato.ml.datasets import Dataset
from mercato.ml.federated_sim import (
    DEFAULT_HEAD_EPOCHS,
    DEFAULT_PRETRAIN_EPOCHS,
    MarketData,
)
from mercato.ml.model_parts import PartedMLP, apply_update
from mercato.ml.trainers.weights import Weights, weights_from_bytes, weights_to_bytes
from mercato.protocols.datamarket import history
from mercato.protocols.datamarket.aggregation import robust_round, secure_mean
from mercato.protocols.datamarket.data_owner import load_model, load_spec
from mercato.protocols.datamarket.documents import TaskSpec, update_context
from mercato.protocols.datamarket.inputs import task_data
from mercato.protocols.datamarket.limits import (
    DEFAULT_AGGREGATE_PERIOD,
    DEFAULT_JOIN_PERIOD,
    DEFAULT_PHASE_PERIOD,
)
from mercato.protocols.datamarket.market import MAX_ROUNDS, SCORE_SCALE, Mode, Task, mask_of
from mercato.protocols.datamarket.owner_data import of_head
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
from mercato.user_files import DataFile

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
    outlier_multiple: int | None = None
    """Robust: a score above this many hundredths of the median below it is an outlier
    (None: :data:`~mercato.ml.aggregate.krum.DEFAULT_MULTIPLE`); secure: None."""


@dataclass(frozen=True)
class RoundResult:
    """What the MO finalised for one round."""

    round: int
    used: tuple[int, ...]
    excluded: tuple[int, ...]
    scores: tuple[float, ...]
    model_hash: str


def spec_for(
    data: MarketData,
    *,
    local_epochs: int,
    seed: int,
    rule: str,
    wants: str | None = None,
    hidden: tuple[int, ...] | None = None,
) -> TaskSpec:
    """The spec of a task over the cut ``data``: a model sized for every label of the cut
    (``hidden`` layers, default PartedMLP's), wanting data of ``wants`` (default: the class
    of the MO's own slice)."""
    labels = [int(d.y.max()) for d in (data.mo, data.test, *data.parts)]
    model = _model(int(data.mo.X.shape[1]), max(labels) + 1, hidden)
    return TaskSpec(
        data_classes=(wants or data.mo.ontology_class,),
        model=dict(model.spec()),
        local_epochs=local_epochs,
        seed=seed,
        rule=rule,
    )


def spec_for_file(
    data: Dataset,
    *,
    local_epochs: int,
    seed: int,
    rule: str,
    wants: str | None = None,
    hidden: tuple[int, ...] | None = None,
    scaling: tuple[tuple[float, ...], tuple[float, ...]] | None = None,
) -> TaskSpec:
    """The spec of a task over the MO's own rows ``data``: a model over its features and
    classes (``hidden`` layers), publishing them and the standardisation of ``data``'s rows
    (or ``scaling``, the mean and scale of a model brought with its scaler) as its inputs."""
    n_features = int(data.X.shape[1])
    features = data.features or tuple(f"x{i}" for i in range(n_features))
    classes = data.labels or tuple(str(i) for i in range(int(data.y.max()) + 1))
    mean, scale = scaling or standardisation(data.X)
    return TaskSpec(
        data_classes=(wants or data.ontology_class,),
        model=dict(_model(n_features, len(classes), hidden).spec()),
        local_epochs=local_epochs,
        seed=seed,
        rule=rule,
        inputs=Inputs(features, classes, mean, scale),
    )


def _model(n_features: int, n_classes: int, hidden: tuple[int, ...] | None) -> PartedMLP:
    return PartedMLP(n_features, n_classes, *(() if hidden is None else (hidden,)))


def pretrain(spec: TaskSpec, data: Dataset, epochs: int = DEFAULT_PRETRAIN_EPOCHS) -> OwnerModel:
    """The MO's model trained on its own data only (the "before" of the market)."""
    model = spec.build_model()
    public, private = model.init(spec.seed)
    public, private = model.train_full(public, private, task_data(spec, data), epochs, spec.seed)
    return OwnerModel(public, private)


def start_from(spec: TaskSpec, public: Weights) -> OwnerModel:
    """The MO's model when it brings one it trained (:mod:`.starting`): its layers are the
    public part, and its head the private head too."""
    model = spec.build_model()
    weights = np.asarray(public, dtype=np.float32)
    if len(weights) != model.n_public:
        raise InputError(
            f"the model brought has {len(weights)} weights; the task's {model.n_public}"
        )
    return OwnerModel(weights, weights[-model.n_private :].copy())


def accuracy(spec: TaskSpec, model: OwnerModel, data: Dataset) -> float:
    """Fraction of the MO's rows ``data`` its model (public body, private head) gets right."""
    return spec.build_model().accuracy(model.public, model.private, task_data(spec, data))


def public_accuracy(spec: TaskSpec, public: Weights, data: Dataset) -> float:
    """Fraction of ``data`` a round's public model gets right with its public training head:
    how far the federated model has come, before any private fine-tuning."""
    model = spec.build_model()
    return model.accuracy(public, public[-model.n_private :], task_data(spec, data))


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
        outlier_multiple=terms.outlier_multiple,
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
    recorded: list[int] = []
    if task.mode is Mode.SECURE:
        mean = secure_mean(market, task_id, task.round).mean
    else:
        spec = load_spec(market, task_id)
        updates, _ = _open_updates(market, me, task_id, task.round, submitters)
        try:
            # an unopened update scores above all: the contract lets it alone be excluded
            outcome = robust_round(
                spec.rule, submitters, updates, task.max_excluded, task.outlier_multiple
            )
        except IntegrityError as exc:
            raise IntegrityError(f"task {task_id} round {task.round}: {exc}") from None
        mean, excluded, recorded = outcome.mean, outcome.excluded, list(outcome.scores)
        scores = tuple(s / SCORE_SCALE for s in recorded)
    before = load_model(market, history.model_before(dm, task_id, task.round))
    model_hash = market.store.put(weights_to_bytes(apply_update(before, mean)))
    aggregate_hash = market.store.put(weights_to_bytes(mean))
    dm.finalise_round(
        me.account,
        task_id,
        model_hash=hash_bytes(model_hash),
        aggregate_hash=hash_bytes(aggregate_hash),
        excluded=mask_of(excluded),
        scores=recorded,
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
    rows = task_data(spec, data)
    private = spec.build_model().fine_tune_head(public, model.private, rows, epochs, spec.seed)
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
    source: str | DataFile,
    seed: int,
    model: OwnerModel,
    accuracy: float,
) -> tuple[Path, Event]:
    """Record the private head of a task the MO just posted (trained on its rows of the
    sample set's cut or of its own file ``source``, split by ``seed``, to ``accuracy``) in
    its heads file in ``folder``; the file and TaskPosted."""
    posted = history.posted(market.data_market, task_id)
    head = OwnerHead(
        dataset=source if isinstance(source, str) else None,
        seed=seed,
        model_hash=hash_hex(posted["model_hash"]),
        pretrained=weights_to_bytes(model.private).hex(),
        accuracy_before=accuracy,
        data=None if isinstance(source, str) else source,
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
    """Fine-tune ``head`` over the task's final public part on the MO's rows it was
    pretrained on (:func:`~.owner_data.of_head`); the accuracy after is measured on its
    held-out rows."""
    data = of_head(head, task.task_id)
    start = OwnerModel(
        final_public(market, task.task_id), weights_from_bytes(bytes.fromhex(head.pretrained))
    )
    tuned = finish(market, task.task_id, spec, start, data.train)
    score = accuracy(spec, tuned, data.test)
    updated = replace(head, tuned=weights_to_bytes(tuned.private).hex(), accuracy_after=score)
    rounds = len(history.finalised(market.data_market, task.task_id))
    return TunedHead(updated, score, rounds, len(data.test.y))
