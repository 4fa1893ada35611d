"""``mercato datamarket ...``: the secure data market (OmniLytics, P3) from the shell.

A model owner (MO) posts a task: it pretrains a model on its own rows (its slice of a sample
dataset's cut, or its own file with ``--data``) or starts from a model it brings
(``--model``), publishes the public part, locks the reward and keeps its private head in its
state folder. Data owners (DO) join with their own file (``--data``) or their part of the
same sample dataset, then post what each phase of a round asks of them (``act``); the MO
aggregates each round, at the end fine-tunes its private head (``finish``) and takes its
final model as a file with its metrics (``model``). Anyone moves a task on after a deadline
(``advance``, ``claim``) and checks a finalised round (``check``); those commands and the
text views are in :mod:`~mercato.cli.datamarket_view`. Agents do the same unattended:
``mercato agent run --role market-model-owner|market-data-owner``.

The commands parse, call and render: what makes a step acceptable is judged by
:mod:`~mercato.protocols.datamarket.rules` before anything is sent (so a bad command changes
nothing; a revert that still happens is reported by ``main`` as one line), what a task is
comes from :mod:`~mercato.protocols.datamarket.views`, and the data is a participant's own
file (:class:`~mercato.user_files.DataFile`) or the simulated cut of
:mod:`~mercato.protocols.datamarket.cut`.
"""

from __future__ import annotations

from pathlib import Path

import typer

from mercato.cli import common, datamarket_view, waiting
from mercato.cli.common import (
    DataFileOption,
    LabelOption,
    MarketCall,
    SchemaOption,
    add_withdraw_command,
    compact_ether,
    console,
    emit_json,
    format_time,
    market_command,
    parse_amount,
    refuse,
    tx_note,
)
from mercato.cli.datamarket_view import TaskArgument, acting, load_spec, state_folder
from mercato.errors import InputError
from mercato.protocols.datamarket import rules
from mercato.protocols.datamarket.cut import DEFAULT_SEED, market_cut
from mercato.protocols.datamarket.limits import (
    DEFAULT_AGGREGATE_PERIOD,
    DEFAULT_JOIN_PERIOD,
    DEFAULT_LOCAL_EPOCHS,
    DEFAULT_MULTIPLE,
    DEFAULT_PHASE_PERIOD,
    MAX_DATA_OWNERS,
    MAX_PERIOD,
    MAX_ROUNDS,
    MIN_DATA_OWNERS,
    MULTIPLE_SCALE,
)
from mercato.protocols.datamarket.state_files import (
    JoinedPart,
    make_folder,
    record_head,
    record_part,
    task_key,
)
from mercato.protocols.datamarket.unit import UNIT
from mercato.protocols.datamarket.views import Mode, Phase, spec_record
from mercato.protocols.registry import require_role
from mercato.protocols.roles import Role
from mercato.user_files import DataFile

# The protocol's steps, the chain and the models are imported by the commands that use them,
# so that `mercato --help` loads none of them.
app = typer.Typer(
    help="Secure data market: model owners pay data owners for federated updates (P3).",
    no_args_is_help=True,
)

POSTS = {"keys": "keys", "shares": "shares", "submit": "update", "reveal": "reveal"}
"""What a data owner posts in each phase, by phase label (the kinds of :data:`views.POSTS`)."""
POSTED_WHAT = {"keys": "round keys", "shares": "sealed shares", "reveal": "revealed shares"}

StateDirOption = typer.Option(
    None,
    "--state-dir",
    help="Folder of the agents' state, where the model owner's private heads and the parts "
    "data owners joined with are kept (default: settings).",
)


# model owner --------------------------------------------------------------------------
@market_command(app, "post")
def post(
    call: MarketCall,
    dataset: str = typer.Option(
        None,
        "--dataset",
        help="Sample dataset cut into your slice, your test split and the data owners' parts: "
        "digits, breast_cancer, wine or iris (or your own file: --data).",
    ),
    data_file: Path = typer.Option(
        None,
        "--data",
        help="Your own data file (CSV, Parquet or .npz) instead of --dataset: three quarters "
        "train your model and head, a quarter measures them; the task takes its features, "
        "classes and scaling.",
    ),
    label: str = LabelOption,
    schema: Path = SchemaOption,
    model_file: Path = typer.Option(
        None,
        "--model",
        help="Start from your own trained model instead of pretraining: a ReLU MLPClassifier "
        ".skops (maybe after a StandardScaler) or a torch MLP .safetensors.",
    ),
    data_owners: int = typer.Option(
        ..., "--data-owners", help=f"Data owners wanted ({MIN_DATA_OWNERS} to {MAX_DATA_OWNERS})."
    ),
    rounds: int = typer.Option(..., "--rounds", help=f"Rounds (1 to {MAX_ROUNDS})."),
    mode: str = typer.Option(
        ...,
        "--mode",
        help="secure (SecAgg: you only ever see the sum) or robust (updates sealed to you, "
        "a robust rule excludes outliers).",
    ),
    rule: str = typer.Option(
        None, "--rule", help="Robust: multikrum (default), median or trimmed_mean; secure: mean."
    ),
    max_excluded: int = typer.Option(
        None,
        "--max-excluded",
        help="Robust: the most data owners excluded a round, 2f + 3 <= n (default: the most).",
    ),
    outlier_multiple: float = typer.Option(
        None,
        "--outlier-multiple",
        help="Robust: exclude only updates whose Multi-Krum score is above this many times "
        f"the median of the scores below it (default {DEFAULT_MULTIPLE / MULTIPLE_SCALE:g}; "
        "recorded on chain, which enforces it).",
    ),
    threshold: int = typer.Option(
        None,
        "--threshold",
        help="Secure: data owners needed to rebuild a secret, n/2 < t <= n (default n//2 + 1).",
    ),
    reward: str = typer.Option(
        ..., "--reward", help="Locked now; paid in data owners x rounds equal shares (e.g. 0.01)."
    ),
    join_period: int = typer.Option(
        DEFAULT_JOIN_PERIOD, "--join-period", help="Seconds data owners have to join."
    ),
    phase_period: int = typer.Option(
        DEFAULT_PHASE_PERIOD, "--phase-period", help="Seconds each phase of a round lasts at most."
    ),
    aggregate_period: int = typer.Option(
        DEFAULT_AGGREGATE_PERIOD, "--aggregate-period", help="Seconds you have to aggregate."
    ),
    local_epochs: int = typer.Option(
        DEFAULT_LOCAL_EPOCHS, "--local-epochs", help="Epochs each data owner trains a round."
    ),
    wants: str = typer.Option(
        None,
        "--wants",
        help="Ontology class the data must belong to (default: your data's own, mc:...).",
    ),
    seed: int = typer.Option(DEFAULT_SEED, "--seed", help="Seed of the data cut and training."),
    state_dir: Path = StateDirOption,
) -> None:
    """Pretrain on your data (or bring a model), post a task with the public part, lock the
    reward, keep the private head."""
    from mercato.ml.trainers.base import MAX_EPOCHS
    from mercato.protocols.datamarket import model_owner, posting

    refuse(rules.source_problem(dataset, data_file), _label_problem(data_file, label, schema))
    refuse(rules.mode_problem(mode))
    kind = rules.mode_of(mode)
    assert kind is not None
    refuse(
        rules.rule_problem(kind, rule),
        rules.range_problem(data_owners, MIN_DATA_OWNERS, MAX_DATA_OWNERS, "--data-owners"),
        rules.range_problem(rounds, 1, MAX_ROUNDS, "--rounds"),
        rules.bound_problem(kind, data_owners, threshold, max_excluded),
        rules.multiple_problem(kind, outlier_multiple),
        *(rules.range_problem(seconds, 1, MAX_PERIOD, option) for option, seconds in (
            ("--join-period", join_period), ("--phase-period", phase_period),
            ("--aggregate-period", aggregate_period))),
        rules.range_problem(local_epochs, 1, MAX_EPOCHS, "--local-epochs"),
    )  # fmt: skip
    wei = parse_amount(reward)
    refuse(rules.reward_problem(wei, data_owners, rounds, reward))
    chosen = rules.rule_for(kind, rule)
    own = None if data_file is None else DataFile.read(data_file, label, schema)
    prepared = posting.prepare(
        dataset=dataset, own=own, model_file=model_file, data_owners=data_owners,
        local_epochs=local_epochs, seed=seed, rule=chosen, wants=wants,
    )  # fmt: skip
    spec, data = prepared.spec, prepared.data
    refuse(rules.wants_problem(spec, wants, prepared.name, data.train.ontology_class))
    me = call.identity()
    market = call.market()
    require_role(market, me.address, Role.MODEL_OWNER, "posting a task")
    refuse(rules.balance_problem(me.address, market.chain.balance(me.address), wei))
    folder = make_folder(state_folder(call, state_dir))

    doing = "starting from your model" if model_file else "pretraining on your rows"
    with console.status(f"{doing} of {prepared.name} ({len(data.train.y)} examples)..."):
        before = posting.starting_point(prepared)
    accuracy = model_owner.accuracy(spec, before, data.test)
    terms = model_owner.TaskTerms(
        data_owners=data_owners,
        rounds=rounds,
        mode=kind,
        bound=rules.task_bound(kind, data_owners, threshold, max_excluded),
        reward=wei,
        join_period=join_period,
        phase_period=phase_period,
        aggregate_period=aggregate_period,
        outlier_multiple=rules.task_multiple(kind, outlier_multiple),
    )
    task_id = model_owner.post_task(market, me, spec, before, terms)
    path, posted = model_owner.keep_head(
        market, me, folder, task_id, prepared.source, seed, before, accuracy
    )
    task = market.data_market.task(task_id)
    if call.json_output:
        emit_json({**task.record(spec), "spec": spec_record(spec), "accuracy_before": accuracy,
                   "test_examples": len(data.test.y), "head_file": path})  # fmt: skip
        return
    console.print(
        f"task {task_id} posted: {data_owners} data owners, {rounds} round(s), {kind.label} "
        f"({chosen}), {compact_ether(wei)} ETH locked, joining until "
        f"{format_time(task.deadline)}; accuracy before {accuracy:.1%} on your held-out rows "
        f"of {prepared.name} ({len(data.test.y)} examples); private head in {path} "
        f"{tx_note(posted.tx_hash)}",
        soft_wrap=True,
    )


@market_command(app, "aggregate")
def aggregate(call: MarketCall, task_id: int = TaskArgument) -> None:
    """Aggregate the round waiting for you, finalise it on chain and pay its data owners."""
    from mercato.protocols.datamarket import history, model_owner

    me, market, task = acting(call, task_id)
    refuse(rules.aggregate_problem(task, me.address, market.chain.timestamp()))
    with console.status(f"aggregating round {task.round} of task {task_id}..."):
        result = model_owner.aggregate_round(market, me, task)
    event = history.finalised(market.data_market, task_id)[result.round]
    paid_each = int(event["paid_each"])
    if call.json_output:
        emit_json({"task": datamarket_view.task_after(market, task_id), "round": result.round,
                   "used": list(result.used), "excluded": list(result.excluded),
                   "scores": list(result.scores), "paid_each": paid_each,
                   "model_hash": event["model_hash"],
                   "aggregate_hash": event["aggregate_hash"]})  # fmt: skip
        return
    console.print(
        f"round {result.round} of task {task_id} finalised: used {list(result.used)}, excluded "
        f"{list(result.excluded)}, {compact_ether(paid_each)} ETH owed to each used; "
        f"{market.data_market.task(task_id).waiting} {tx_note(event.tx_hash)}",
        soft_wrap=True,
    )


@market_command(app, "finish")
def finish(call: MarketCall, task_id: int = TaskArgument, state_dir: Path = StateDirOption) -> None:
    """Fine-tune your private head over the task's final public part; report the accuracy."""
    from mercato.protocols.datamarket import model_owner

    me, market, task = acting(call, task_id)
    refuse(rules.finish_problem(task, me.address))
    folder = state_folder(call, state_dir)
    head, path = model_owner.recorded_head(market, me, task_id, folder)
    spec = load_spec(market, task_id)
    with console.status(f"fine-tuning the private head of task {task_id}..."):
        tuned = model_owner.tune_head(market, task, spec, head)
    record_head(folder, me.address, task_key(market, task_id), tuned.head)
    before, after = head.accuracy_before, tuned.accuracy
    if call.json_output:
        emit_json({"task": task_id, "status": task.status.label, "rounds_finalised": tuned.rounds,
                   "accuracy_before": before, "accuracy_after": after,
                   "test_examples": tuned.test_examples, "head_file": path})  # fmt: skip
        return
    console.print(
        f"task {task_id}: private head fine-tuned over the public part after {tuned.rounds} "
        f"finalised round(s); accuracy on your test split ({tuned.test_examples} examples) "
        f"{before:.1%} before, {after:.1%} after; head saved in {path}",
        soft_wrap=True,
    )


# data owner ---------------------------------------------------------------------------
@market_command(app, "join")
def join(
    call: MarketCall,
    task_id: int = TaskArgument,
    data_file: Path = DataFileOption,
    label: str = LabelOption,
    schema: Path = SchemaOption,
    dataset: str = typer.Option(
        None, "--dataset", help="Instead of --data: the sample dataset your part is cut from."
    ),
    part: int = typer.Option(
        None, "--part", min=0, help="With --dataset: your part k of the task's cut, 0 to n - 1."
    ),
    state_dir: Path = StateDirOption,
) -> None:
    """Join a task with your data, if the task wants it and its model takes it (secure:
    round 1's keys); your file (or part) is recorded for `act`."""
    from mercato.protocols.datamarket import data_owner

    refuse(
        rules.choice_problem(dataset, part, data_file, needed=True),
        _label_problem(data_file, label, schema),
    )
    own = None if data_file is None else DataFile.read(data_file, label, schema)
    me, market, task = acting(call, task_id)  # the only read of the task
    index = market.data_market.index_of(task_id, me.address)
    refuse(rules.join_problem(task, me.address, index, market.chain.timestamp()))
    require_role(market, me.address, Role.DATA_OWNER, "joining a task")
    spec = load_spec(market, task_id)
    if own is not None:
        record, data = own
        joined = JoinedPart(None, None, task.data_owners, spec.seed, record)
        what = f"your file {record.name}"
    else:
        assert dataset is not None and part is not None
        refuse(rules.cut_problem(task_id, spec), rules.part_problem(part, task.data_owners))
        data = market_cut(dataset, task.data_owners, spec.seed).parts[part]
        joined = JoinedPart(dataset, part, task.data_owners, spec.seed)
        what = f"part {part} of {dataset}"
    refuse(rules.data_problem(task_id, spec, data))
    result = data_owner.send_join(market, me, task)
    path = record_part(state_folder(call, state_dir), me.address, task_key(market, task_id),
                       joined)  # fmt: skip
    after = task.after(result.events)
    index = int(result.event("Joined")["index"])
    if call.json_output:
        emit_json({"task": after.record(spec), "index": index, "dataset": dataset, "part": part,
                   "data": None if own is None else own[0].path,
                   "digest": None if own is None else own[0].digest,
                   "examples": len(data.y), "parts_file": path})  # fmt: skip
        return
    console.print(
        f"joined task {task_id} as data owner {index} with {what} ({len(data.y)} examples); "
        f"{after.waiting} {tx_note(result.receipt.tx_hash)}",
        soft_wrap=True,
    )


@market_command(app, "act")
def act(
    call: MarketCall,
    task_id: int = TaskArgument,
    data_file: Path = typer.Option(
        None, "--data", help="Your own data file to train on (default: what join recorded)."
    ),
    label: str = LabelOption,
    schema: Path = SchemaOption,
    dataset: str = typer.Option(
        None, "--dataset", help="With --part: the dataset you joined with (default: recorded)."
    ),
    part: int = typer.Option(
        None, "--part", min=0, help="Your part of the cut (default: what join recorded)."
    ),
    state_dir: Path = StateDirOption,
) -> None:
    """Post what the current phase asks of you: keys, shares, your update or your reveal."""
    from mercato.protocols.datamarket import data_owner, history

    refuse(rules.choice_problem(dataset, part, data_file), _label_problem(data_file, label, schema))
    me, market, task = acting(call, task_id)
    index = market.data_market.index_of(task_id, me.address)
    refuse(rules.act_problem(task, me.address, index, market.chain.timestamp()))
    assert index is not None
    contribution = None
    if task.phase is Phase.SUBMIT:
        folder = state_folder(call, state_dir)
        own = None if data_file is None else DataFile.read(data_file, label, schema)[1]
        contribution = data_owner.contribution_for(market, me, task, folder, dataset, part, own)
    with console.status(f"{task.phase.label} phase of round {task.round} of task {task_id}..."):
        result = data_owner.post_phase(market, me, task, index, contribution)
    kind = POSTS[task.phase.label]
    event = result.event(history.POSTS[kind])
    what = POSTED_WHAT.get(task.phase.label) or (
        "masked update" if task.mode is Mode.SECURE else "update, sealed to the model owner"
    )
    if call.json_output:
        emit_json(
            {
                "task": datamarket_view.task_after(market, task_id),
                "index": index,
                "round": task.round,
                "phase": task.phase.label,
                "posted": kind,
                "hash": event["public_key"] if kind == "keys" else event[f"{kind}_hash"],
            }
        )
        return
    console.print(
        f"posted your {what} for round {task.round} of task {task_id}; "
        f"{market.data_market.task(task_id).waiting} {tx_note(result.receipt.tx_hash)}",
        soft_wrap=True,
    )


@market_command(app, "model")
def model(
    call: MarketCall,
    task_id: int = TaskArgument,
    out: Path = common.ModelOutOption,
    data_file: Path = typer.Option(
        None,
        "--data",
        help="Your own held-out rows to measure it on (default: the rows you "
        "held out when posting, as `finish` measures).",
    ),
    label: str = LabelOption,
    schema: Path = SchemaOption,
    dataset: str = typer.Option(
        None,
        "--dataset",
        help="Instead of --data: measure on the test split of the task's cut of this sample set.",
    ),
    state_dir: Path = StateDirOption,
) -> None:
    """Take your final model of a task that is over: the public part as on chain with your
    private head (.skops; .safetensors for one hidden layer), its metrics beside it."""
    from mercato.ml.data_files import DataSource
    from mercato.protocols.datamarket.final_model import take_model
    from mercato.protocols.results import export_result

    if out.suffix.lower() not in (".skops", ".safetensors"):
        raise InputError(f"--out {out}: name the model file *.skops (or *.safetensors)")
    both = dataset is not None and data_file is not None
    refuse(
        "measure on --data or --dataset, not both" if both else None,
        _label_problem(data_file, label, schema),
    )
    evaluation = None
    if data_file is not None:
        evaluation = DataSource(path=data_file, label=label, schema=schema).load()
    me, market, task = acting(call, task_id)
    refuse(rules.take_problem(task, me.address))
    if dataset is not None:
        spec = load_spec(market, task_id)
        refuse(rules.cut_problem(task_id, spec, "measure it on"))
        evaluation = market_cut(dataset, task.data_owners, spec.seed).test
    folder = state_folder(call, state_dir)
    with console.status(f"taking the final model of task {task_id}..."):
        result = take_model(market, me, task_id, folder, evaluation,
                            weights=out.suffix.lower() == ".safetensors")  # fmt: skip
    written = export_result(result, out)
    common.show_result(call, result, written)
    if not call.json_output:
        datamarket_view.print_rounds(result.reported)


def _label_problem(data_file: Path | None, label: str | None, schema: Path | None) -> str | None:
    if data_file is None and (label is not None or schema is not None):
        return "--label and --schema describe a data file: pass it with --data"
    return None


datamarket_view.add_task_commands(app)
add_withdraw_command(app, UNIT)
waiting.add_wait_command(app, UNIT)
