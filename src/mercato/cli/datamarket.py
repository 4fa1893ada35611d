"""``mercato datamarket ...``: the secure data market (OmniLytics, P3) from the shell.

A model owner (MO) posts a task: it pretrains a model on its own slice of a sample dataset,
publishes the public part, locks the reward and keeps its private head in its state folder.
Data owners (DO) join with their part of the same dataset, then post what each phase of a
round asks of them (``act``); the MO aggregates each round and at the end fine-tunes its
private head (``finish``). Anyone moves a task on after a deadline (``advance``, ``claim``)
and checks a finalised round (``check``). Input is checked against the chain before anything
is sent, so a bad command changes nothing; a revert that still happens is reported by
``main`` as one line. Agents do the same unattended:
``mercato agent run --role market-model-owner|market-data-owner``.

The data is simulated: :func:`~mercato.ml.federated_sim.market_data` cuts a sample dataset
into a test split, the MO's small slice and one non-IID part per DO. A task's seed chooses
the cut, and DOs take their part of the cut of the task they join, so the MO's slice, its
test split and the DOs' parts never overlap.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from mercato.cli import waiting
from mercato.cli.common import (
    AccountOption,
    JsonOption,
    KeystoreOption,
    RpcUrlOption,
    add_withdraw_command,
    compact_ether,
    console,
    context,
    emit_json,
    format_ether,
    format_time,
    identity,
    parse_amount,
    relative_time,
    same_address,
    tx_note,
)
from mercato.cli.datamarket_view import (
    JoinedPart,
    OwnerHead,
    heads_file,
    market_cut,
    parts_file,
    print_task,
    print_tasks,
    read_heads,
    read_parts,
    read_spec,
    record_head,
    record_part,
    spec_record,
    task_document,
    task_key,
    task_record,
)
from mercato.errors import ConfigError, InputError
from mercato.protocols.datamarket.limits import (
    DEFAULT_AGGREGATE_PERIOD,
    DEFAULT_JOIN_PERIOD,
    DEFAULT_PHASE_PERIOD,
    MAX_DATA_OWNERS,
    MAX_PERIOD,
    MAX_ROUNDS,
    MIN_DATA_OWNERS,
)
from mercato.protocols.datamarket.unit import UNIT
from mercato.protocols.registry import require_role
from mercato.protocols.roles import Role

# The chain, the protocol and the models are imported by the commands that use them, so
# that `mercato --help` loads none of them.
if TYPE_CHECKING:
    from mercato.chain.contract import TxResult
    from mercato.protocols.datamarket.data_owner import Contribution
    from mercato.protocols.datamarket.documents import TaskSpec
    from mercato.protocols.datamarket.market import Mode, Task
    from mercato.protocols.identity import Identity
    from mercato.protocols.marketplace import Marketplace

app = typer.Typer(
    help="Secure data market: model owners pay data owners for federated updates (P3).",
    no_args_is_help=True,
)

DEFAULT_SEED = 0
DEFAULT_LOCAL_EPOCHS = 1
DEFAULT_ROBUST_RULE = "multikrum"
MAX_REWARD = 2**128 - 1
"""DataMarket.vy keeps a task's reward in 128 bits."""
POSTS = {"keys": "keys", "shares": "shares", "submit": "update", "reveal": "reveal"}
"""What a data owner posts in each phase, by phase label (the kinds of :data:`history.POSTS`)."""
POSTED_WHAT = {"keys": "round keys", "shares": "sealed shares", "reveal": "revealed shares"}

TaskArgument = typer.Argument(..., min=1, help="Task id (see `mercato datamarket list`).")
StateDirOption = typer.Option(
    None,
    "--state-dir",
    help="Folder of the agents' state, where the model owner's private heads and the parts "
    "data owners joined with are kept (default: settings).",
)


# loading and checks -------------------------------------------------------------------
def load_task(market: Marketplace, task_id: int) -> Task:
    """Task ``task_id``; InputError if there is no such task."""
    count = market.data_market.next_task_id() - 1
    if not 0 < task_id <= count:
        raise InputError(f"no task {task_id} (there are {count})")
    return market.data_market.task(task_id)


def load_spec(market: Marketplace, task_id: int) -> TaskSpec:
    """The task's spec; InputError saying why if it cannot be read."""
    spec, problem = read_spec(market, task_id)
    if spec is None:
        raise InputError(f"cannot read the spec of task {task_id} from the blob store: {problem}")
    return spec


def _check_range(value: int, low: int, high: int, option: str) -> int:
    if not low <= value <= high:
        raise InputError(f"{option} must be {low} to {high}, got {value}")
    return value


def _require_mo(task: Task, me: Identity, action: str) -> None:
    if not same_address(task.mo, me.address):
        raise InputError(
            f"only the model owner of task {task.task_id} ({task.mo}) may {action} it; "
            f"you are {me.address}"
        )


def waiting_text(task: Task) -> str:
    """What the task waits for now."""
    from mercato.protocols.datamarket.market import Phase, TaskStatus

    if task.status is TaskStatus.JOINING:
        return f"it waits for {task.data_owners - task.joined} more data owner(s) to join"
    if task.status is not TaskStatus.RUNNING:
        return f"it is {task.status.label}"
    if task.phase is Phase.AGGREGATE:
        return f"round {task.round} waits for the model owner to aggregate"
    return (
        f"round {task.round} is in its {task.phase.label} phase, waiting for data owner(s) "
        f"{list(task.waiting_for)}"
    )


def _until(market: Marketplace, deadline: int) -> str:
    return f"{format_time(deadline)} ({relative_time(deadline, market.chain.timestamp())})"


def _passed(market: Marketplace, task: Task) -> bool:
    return market.chain.timestamp() >= task.deadline


def _parse_mode(text: str) -> Mode:
    from mercato.protocols.datamarket.market import Mode

    for mode in Mode:
        if text.strip().lower() == mode.label:
            return mode
    raise InputError(f"--mode must be secure or robust, got '{text}'")


def _rule_for(mode: Mode, rule: str | None) -> str:
    from mercato.protocols.datamarket.documents import ROBUST_RULES, RULE_MEAN
    from mercato.protocols.datamarket.market import Mode

    if rule is None:
        return RULE_MEAN if mode is Mode.SECURE else DEFAULT_ROBUST_RULE
    if mode is Mode.SECURE and rule != RULE_MEAN:
        raise InputError(
            f"--rule {rule} does not fit secure mode: secure aggregation only gives the "
            f"model owner the sum, so the rule is {RULE_MEAN}; use --mode robust for {rule}"
        )
    if mode is Mode.ROBUST and rule not in ROBUST_RULES:
        raise InputError(
            f"--rule in robust mode must be one of {', '.join(ROBUST_RULES)}, got '{rule}'"
        )
    return rule


def _bound_for(mode: Mode, data_owners: int, threshold: int | None, excluded: int | None) -> int:
    """The contract's ``bound``: the Shamir threshold (secure) or the most exclusions (robust)."""
    from mercato.protocols.datamarket.market import Mode

    if mode is Mode.SECURE:
        if excluded is not None:
            raise InputError("--max-excluded applies to robust mode; secure mode takes --threshold")
        low = data_owners // 2 + 1
        return (
            low if threshold is None else _check_range(threshold, low, data_owners, "--threshold")
        )
    if threshold is not None:
        raise InputError("--threshold applies to secure mode; robust mode takes --max-excluded")
    most = (data_owners - 3) // 2  # 2f + 3 <= n: Multi-Krum still has a majority to pick from
    if excluded is None:
        return most
    if not 0 <= excluded <= most:
        raise InputError(
            f"--max-excluded must be 0 to {most} for {data_owners} data owners "
            f"(2 x excluded + 3 <= data owners), got {excluded}"
        )
    return excluded


def _reward(text: str, data_owners: int, rounds: int) -> int:
    reward = parse_amount(text)
    if not 0 < reward <= MAX_REWARD:
        raise InputError(
            f"--reward must be above 0 and at most {format_ether(MAX_REWARD)}, got {text}"
        )
    shares = data_owners * rounds
    if reward % shares:
        lower, higher = reward // shares * shares, (reward // shares + 1) * shares
        suggest = (
            f"{compact_ether(lower)} or {compact_ether(higher)} ETH"
            if lower
            else f"{compact_ether(higher)} ETH"
        )
        raise InputError(
            f"--reward {text} ({format_ether(reward)}) does not split into {shares} equal shares "
            f"({data_owners} data owners x {rounds} rounds); try {suggest}"
        )
    return reward


# model owner --------------------------------------------------------------------------
@app.command("post")
def post(
    ctx: typer.Context,
    dataset: str = typer.Option(
        ...,
        "--dataset",
        help="Sample dataset cut into your slice, your test split and the data owners' parts: "
        "digits, breast_cancer, wine or iris.",
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
        help="Ontology class the data must belong to (default: the dataset's own, mc:...).",
    ),
    seed: int = typer.Option(DEFAULT_SEED, "--seed", help="Seed of the data cut and training."),
    state_dir: Path = StateDirOption,
    rpc_url: str = RpcUrlOption,
    account: int = AccountOption,
    keystore: Path = KeystoreOption,
    json_output: bool = JsonOption,
) -> None:
    """Pretrain on your slice, post a task with the public part, lock the reward, keep the head."""
    from mercato.ml.model_parts import PartedMLP
    from mercato.ml.trainers.base import MAX_EPOCHS
    from mercato.ml.trainers.weights import weights_to_bytes
    from mercato.protocols.datamarket import history, model_owner
    from mercato.protocols.datamarket.documents import TaskSpec
    from mercato.storage.base import hash_hex

    kind = _parse_mode(mode)
    chosen = _rule_for(kind, rule)
    _check_range(data_owners, MIN_DATA_OWNERS, MAX_DATA_OWNERS, "--data-owners")
    _check_range(rounds, 1, MAX_ROUNDS, "--rounds")
    bound = _bound_for(kind, data_owners, threshold, max_excluded)
    for option, seconds in (("--join-period", join_period), ("--phase-period", phase_period),
                            ("--aggregate-period", aggregate_period)):  # fmt: skip
        _check_range(seconds, 1, MAX_PERIOD, option)
    _check_range(local_epochs, 1, MAX_EPOCHS, "--local-epochs")
    wei = _reward(reward, data_owners, rounds)
    data = market_cut(dataset, data_owners, seed)  # unknown dataset, bad seed
    labels = [int(d.y.max()) for d in (data.mo, data.test, *data.parts)]
    model = PartedMLP(int(data.mo.X.shape[1]), max(labels) + 1)
    spec = TaskSpec(
        data_classes=(wants or data.mo.ontology_class,),
        model=dict(model.spec()),
        local_epochs=local_epochs,
        seed=seed,
        rule=chosen,
    )
    if not spec.wants(data.mo.ontology_class):
        raise InputError(
            f"--wants {wants} does not describe your own data: {dataset} is "
            f"{data.mo.ontology_class}"
        )
    me = identity(account, keystore)
    run = context(ctx)
    market = run.market(rpc_url)
    require_role(market, me.address, Role.MODEL_OWNER, "posting a task")
    balance = market.chain.balance(me.address)
    if balance < wei:
        raise InputError(
            f"{me.address} holds {format_ether(balance)}, less than the {format_ether(wei)} "
            "the task locks"
        )
    folder = state_dir or run.settings.agent_dir
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create the state folder {folder}: {exc}") from None

    with console.status(f"pretraining on your slice of {dataset} ({len(data.mo.y)} examples)..."):
        before = model_owner.pretrain(spec, data.mo)
    accuracy = model.accuracy(before.public, before.private, data.test)
    terms = model_owner.TaskTerms(
        data_owners=data_owners,
        rounds=rounds,
        mode=kind,
        bound=bound,
        reward=wei,
        join_period=join_period,
        phase_period=phase_period,
        aggregate_period=aggregate_period,
    )
    task_id = model_owner.post_task(market, me, spec, before, terms)
    posted = history.posted(market.data_market, task_id)
    head = OwnerHead(
        dataset=dataset,
        seed=seed,
        model_hash=hash_hex(posted["model_hash"]),
        pretrained=weights_to_bytes(before.private).hex(),
        accuracy_before=accuracy,
    )
    path = record_head(folder, me.address, task_key(market, task_id), head)
    if json_output:
        emit_json(
            {
                **task_record(market.data_market.task(task_id), spec),
                "spec": spec_record(spec),
                "accuracy_before": accuracy,
                "test_examples": len(data.test.y),
                "head_file": path,
            }
        )
        return
    console.print(
        f"task {task_id} posted: {data_owners} data owners, {rounds} round(s), {kind.label} "
        f"({chosen}), {compact_ether(wei)} ETH locked, joining until "
        f"{format_time(market.data_market.task(task_id).deadline)}; accuracy before "
        f"{accuracy:.1%} on your test split ({len(data.test.y)} examples); private head in "
        f"{path} {tx_note(posted.tx_hash)}",
        soft_wrap=True,
    )


@app.command("aggregate")
def aggregate(
    ctx: typer.Context,
    task_id: int = TaskArgument,
    rpc_url: str = RpcUrlOption,
    account: int = AccountOption,
    keystore: Path = KeystoreOption,
    json_output: bool = JsonOption,
) -> None:
    """Aggregate the round waiting for you, finalise it on chain and pay its data owners."""
    from mercato.protocols.datamarket import history, model_owner
    from mercato.protocols.datamarket.market import Phase, TaskStatus

    me = identity(account, keystore)
    market = context(ctx).market(rpc_url)
    task = load_task(market, task_id)
    _require_mo(task, me, "aggregate")
    if task.status is not TaskStatus.RUNNING or task.phase is not Phase.AGGREGATE:
        raise InputError(
            f"task {task_id} has no round waiting for aggregation: {waiting_text(task)}"
        )
    if _passed(market, task):
        raise InputError(
            f"the aggregation deadline of round {task.round} of task {task_id} passed at "
            f"{format_time(task.deadline)}; the data owners claim now "
            f"(mercato datamarket claim {task_id})"
        )
    with console.status(f"aggregating round {task.round} of task {task_id}..."):
        result = model_owner.aggregate(market, me, task_id)
    event = history.finalised(market.data_market, task_id)[result.round]
    after = market.data_market.task(task_id)
    if json_output:
        emit_json(
            {
                "task": task_record(after, read_spec(market, task_id)[0]),
                "round": result.round,
                "used": list(result.used),
                "excluded": list(result.excluded),
                "scores": list(result.scores),
                "paid_each": int(event["paid_each"]),
                "model_hash": event["model_hash"],
                "aggregate_hash": event["aggregate_hash"],
            }
        )
        return
    console.print(
        f"round {result.round} of task {task_id} finalised: used {list(result.used)}, excluded "
        f"{list(result.excluded)}, {compact_ether(int(event['paid_each']))} ETH owed to each "
        f"used; {waiting_text(after)} {tx_note(event.tx_hash)}",
        soft_wrap=True,
    )


@app.command("finish")
def finish(
    ctx: typer.Context,
    task_id: int = TaskArgument,
    state_dir: Path = StateDirOption,
    rpc_url: str = RpcUrlOption,
    account: int = AccountOption,
    keystore: Path = KeystoreOption,
    json_output: bool = JsonOption,
) -> None:
    """Fine-tune your private head over the task's final public part; report the accuracy."""
    from mercato.ml.trainers.weights import weights_from_bytes, weights_to_bytes
    from mercato.protocols.datamarket import history, model_owner
    from mercato.protocols.datamarket.market import TaskStatus
    from mercato.storage.base import hash_hex

    me = identity(account, keystore)
    run = context(ctx)
    market = run.market(rpc_url)
    task = load_task(market, task_id)
    _require_mo(task, me, "finish")
    if task.status is TaskStatus.CANCELLED:
        raise InputError(
            f"task {task_id} was cancelled before it started: nothing to fine-tune; "
            "withdraw the refund (mercato datamarket withdraw)"
        )
    if task.status not in (TaskStatus.FINISHED, TaskStatus.EXPIRED):
        raise InputError(
            f"task {task_id} is {task.status.label} ({waiting_text(task)}); finish it once it "
            "is over"
        )
    folder = state_dir or run.settings.agent_dir
    path = heads_file(folder, me.address)
    head = read_heads(folder, me.address).get(task_key(market, task_id))
    if head is None:
        raise InputError(
            f"no private head of task {task_id} in {path}: finish with the --state-dir you "
            "posted it with"
        )
    if hash_hex(history.posted(market.data_market, task_id)["model_hash"]) != head.model_hash:
        raise InputError(
            f"the head of task {task_id} in {path} was pretrained for another public model "
            "(another deployment at the same address?): it does not fit this task"
        )
    spec = load_spec(market, task_id)
    data = market_cut(head.dataset, task.data_owners, head.seed)
    rounds = len(history.finalised(market.data_market, task_id))
    with console.status(f"fine-tuning the private head of task {task_id}..."):
        start = model_owner.OwnerModel(
            model_owner.final_public(market, task_id),
            weights_from_bytes(bytes.fromhex(head.pretrained)),
        )
        tuned = model_owner.finish(market, task_id, spec, start, data.mo)
    accuracy = spec.build_model().accuracy(tuned.public, tuned.private, data.test)
    updated = replace(head, tuned=weights_to_bytes(tuned.private).hex(), accuracy_after=accuracy)
    record_head(folder, me.address, task_key(market, task_id), updated)
    if json_output:
        emit_json(
            {
                "task": task_id,
                "status": task.status.label,
                "rounds_finalised": rounds,
                "accuracy_before": head.accuracy_before,
                "accuracy_after": accuracy,
                "test_examples": len(data.test.y),
                "head_file": path,
            }
        )
        return
    console.print(
        f"task {task_id}: private head fine-tuned over the public part after {rounds} "
        f"finalised round(s); accuracy on your test split ({len(data.test.y)} examples) "
        f"{head.accuracy_before:.1%} before, {accuracy:.1%} after; head saved in {path}",
        soft_wrap=True,
    )


# data owner ---------------------------------------------------------------------------
@app.command("join")
def join(
    ctx: typer.Context,
    task_id: int = TaskArgument,
    dataset: str = typer.Option(
        ..., "--dataset", help="Sample dataset your part is cut from (digits, wine, ...)."
    ),
    part: int = typer.Option(
        ..., "--part", min=0, help="Your part k of the task's cut, 0 to data owners - 1."
    ),
    state_dir: Path = StateDirOption,
    rpc_url: str = RpcUrlOption,
    account: int = AccountOption,
    keystore: Path = KeystoreOption,
    json_output: bool = JsonOption,
) -> None:
    """Join a task with your part of the data, if the task wants it (secure: round 1's keys)."""
    from mercato.protocols.datamarket import data_owner
    from mercato.protocols.datamarket.market import TaskStatus

    me = identity(account, keystore)
    run = context(ctx)
    market = run.market(rpc_url)
    dm = market.data_market
    task = load_task(market, task_id)
    if task.status is not TaskStatus.JOINING:
        raise InputError(f"task {task_id} is not open for joining: it is {task.status.label}")
    if _passed(market, task):
        raise InputError(
            f"the join period of task {task_id} ended at {format_time(task.deadline)}; anyone "
            f"may cancel it now (mercato datamarket advance {task_id})"
        )
    if same_address(task.mo, me.address):
        raise InputError(f"you are the model owner of task {task_id}: you cannot join it")
    index = dm.index_of(task_id, me.address)
    if index is not None:
        raise InputError(f"you already joined task {task_id} as data owner {index}")
    require_role(market, me.address, Role.DATA_OWNER, "joining a task")
    _check_range(part, 0, task.data_owners - 1, "--part")
    spec = load_spec(market, task_id)
    data = market_cut(dataset, task.data_owners, spec.seed).parts[part]
    result = data_owner.join(market, me, task_id, data)  # refuses unwanted data, first
    folder = state_dir or run.settings.agent_dir
    joined = JoinedPart(dataset, part, task.data_owners, spec.seed)
    path = record_part(folder, me.address, task_key(market, task_id), joined)
    after = dm.task(task_id)
    index = dm.index_of(task_id, me.address)
    if json_output:
        emit_json(
            {
                "task": task_record(after, spec),
                "index": index,
                "dataset": dataset,
                "part": part,
                "examples": len(data.y),
                "parts_file": path,
            }
        )
        return
    console.print(
        f"joined task {task_id} as data owner {index} with part {part} of {dataset} "
        f"({len(data.y)} examples); {waiting_text(after)} {tx_note(result.receipt.tx_hash)}",
        soft_wrap=True,
    )


def _contribution(
    market: Marketplace,
    me: Identity,
    task: Task,
    folder: Path,
    dataset: str | None,
    part: int | None,
) -> Contribution:
    """The data this DO joined ``task`` with: from the options, else from its parts file."""
    from mercato.protocols.datamarket import data_owner
    from mercato.protocols.datamarket.data_owner import Contribution

    spec = load_spec(market, task.task_id)
    if (dataset is None) != (part is None):
        raise InputError("pass both --dataset and --part, or neither (the part recorded by join)")
    if dataset is None or part is None:
        recorded = read_parts(folder, me.address).get(task_key(market, task.task_id))
        if recorded is None:
            raise InputError(
                f"round {task.round} of task {task.task_id} asks for your update and "
                f"{parts_file(folder, me.address)} holds no part for it: pass --dataset and "
                "--part (what you joined with)"
            )
        dataset, part = recorded.dataset, recorded.part
    _check_range(part, 0, task.data_owners - 1, "--part")
    data = market_cut(dataset, task.data_owners, spec.seed).parts[part]
    data_owner.check_task(market, task.task_id, data)
    return Contribution(data)


def _post(
    market: Marketplace, me: Identity, task: Task, index: int, contribution: Contribution | None
) -> TxResult:
    """Post what the phase asks (as :func:`data_owner.act`, but the data is read only to train)."""
    from mercato.protocols.datamarket import data_owner
    from mercato.protocols.datamarket.market import Phase

    if task.phase is Phase.KEYS:
        mine = data_owner.party(market, me, task.task_id, task.round, index)
        return market.data_market.post_keys(
            me.account, task.task_id, mine.public_key, mine.seed_commitment
        )
    if task.phase is Phase.SHARES:
        return data_owner.post_shares(market, me, task, index)
    if task.phase is Phase.REVEAL:
        return data_owner.reveal(market, me, task, index)
    assert task.phase is Phase.SUBMIT and contribution is not None
    return data_owner.submit(market, me, task, index, contribution)


@app.command("act")
def act(
    ctx: typer.Context,
    task_id: int = TaskArgument,
    dataset: str = typer.Option(
        None, "--dataset", help="With --part: the dataset you joined with (default: recorded)."
    ),
    part: int = typer.Option(
        None, "--part", min=0, help="Your part of the cut (default: what join recorded)."
    ),
    state_dir: Path = StateDirOption,
    rpc_url: str = RpcUrlOption,
    account: int = AccountOption,
    keystore: Path = KeystoreOption,
    json_output: bool = JsonOption,
) -> None:
    """Post what the current phase asks of you: keys, shares, your update or your reveal."""
    from mercato.protocols.datamarket import history
    from mercato.protocols.datamarket.market import Mode, Phase, TaskStatus

    me = identity(account, keystore)
    run = context(ctx)
    market = run.market(rpc_url)
    dm = market.data_market
    task = load_task(market, task_id)
    index = dm.index_of(task_id, me.address)
    if index is None:
        raise InputError(f"you ({me.address}) did not join task {task_id}")
    if task.status is not TaskStatus.RUNNING:
        raise InputError(f"nothing in task {task_id} waits for you: {waiting_text(task)}")
    if task.phase is Phase.AGGREGATE or index not in task.waiting_for:
        reason = (
            f"round {task.round} waits for the model owner to aggregate"
            if task.phase is Phase.AGGREGATE  # every submitter counts as waiting for the MO
            else f"you dropped out of round {task.round}"
            if index not in task.active_members
            else f"you already posted in the {task.phase.label} phase of round {task.round}"
        )
        raise InputError(f"nothing in task {task_id} waits for you: {reason}")
    if _passed(market, task):
        raise InputError(
            f"the {task.phase.label} phase of round {task.round} of task {task_id} ended at "
            f"{format_time(task.deadline)}; anyone may close it (mercato datamarket advance "
            f"{task_id})"
        )
    contribution = None
    if task.phase is Phase.SUBMIT:
        folder = state_dir or run.settings.agent_dir
        contribution = _contribution(market, me, task, folder, dataset, part)
    with console.status(f"{task.phase.label} phase of round {task.round} of task {task_id}..."):
        result = _post(market, me, task, index, contribution)
    kind = POSTS[task.phase.label]
    event = result.event(history.POSTS[kind])
    what = POSTED_WHAT.get(task.phase.label) or (
        "masked update" if task.mode is Mode.SECURE else "update, sealed to the model owner"
    )
    after = dm.task(task_id)
    if json_output:
        emit_json(
            {
                "task": task_record(after, read_spec(market, task_id)[0]),
                "index": index,
                "round": task.round,
                "phase": task.phase.label,
                "posted": kind,
                "hash": event["public_key"] if kind == "keys" else event[f"{kind}_hash"],
            }
        )
        return
    console.print(
        f"posted your {what} for round {task.round} of task {task_id}; {waiting_text(after)} "
        f"{tx_note(result.receipt.tx_hash)}",
        soft_wrap=True,
    )


# anyone -------------------------------------------------------------------------------
@app.command("advance")
def advance(
    ctx: typer.Context,
    task_id: int = TaskArgument,
    rpc_url: str = RpcUrlOption,
    account: int = AccountOption,
    keystore: Path = KeystoreOption,
    json_output: bool = JsonOption,
) -> None:
    """After a deadline: cancel a task not full in time, or end a phase without the silent."""
    from mercato.protocols.datamarket.market import Phase, TaskStatus

    me = identity(account, keystore)
    market = context(ctx).market(rpc_url)
    task = load_task(market, task_id)
    if task.status.final:
        raise InputError(f"task {task_id} is over ({task.status.label}): nothing to advance")
    if task.phase is Phase.AGGREGATE:
        raise InputError(
            f"round {task.round} of task {task_id} waits for the model owner until "
            f"{_until(market, task.deadline)}; after that, claim "
            f"(mercato datamarket claim {task_id})"
        )
    if not _passed(market, task):
        period = "join period" if task.status is TaskStatus.JOINING else f"{task.phase.label} phase"
        raise InputError(
            f"the {period} of task {task_id} ends at {_until(market, task.deadline)}; "
            "advance after it"
        )
    result = market.data_market.advance(me.account, task_id)
    after = market.data_market.task(task_id)
    if task.status is TaskStatus.JOINING:
        text = (
            f"task {task_id} cancelled with {task.joined} of {task.data_owners} joined; "
            f"{compact_ether(task.locked)} ETH refundable to the model owner"
        )
    else:
        text = (
            f"the {task.phase.label} phase of round {task.round} of task {task_id} ended "
            f"without data owner(s) {list(task.waiting_for)}; {waiting_text(after)}"
        )
    if json_output:
        emit_json(
            {
                **task_record(after, read_spec(market, task_id)[0]),
                "left_out": list(task.waiting_for),
            }
        )
        return
    console.print(f"{text} {tx_note(result.receipt.tx_hash)}", soft_wrap=True)


@app.command("claim")
def claim(
    ctx: typer.Context,
    task_id: int = TaskArgument,
    rpc_url: str = RpcUrlOption,
    account: int = AccountOption,
    keystore: Path = KeystoreOption,
    json_output: bool = JsonOption,
) -> None:
    """After the model owner missed an aggregation deadline: pay the round's data owners."""
    from mercato.protocols.datamarket.market import Phase, TaskStatus

    me = identity(account, keystore)
    market = context(ctx).market(rpc_url)
    task = load_task(market, task_id)
    if task.status is not TaskStatus.RUNNING or task.phase is not Phase.AGGREGATE:
        raise InputError(f"no round of task {task_id} waits for aggregation: {waiting_text(task)}")
    if not _passed(market, task):
        raise InputError(
            f"the model owner may still finalise round {task.round} of task {task_id} until "
            f"{_until(market, task.deadline)}; claim after"
        )
    result = market.data_market.claim(me.account, task_id)
    expired = result.event("TaskExpired")
    after = market.data_market.task(task_id)
    if json_output:
        emit_json(
            {
                **task_record(after, read_spec(market, task_id)[0]),
                "paid": int(expired["paid"]),
                "paid_each": int(expired["paid_each"]),
                "refund": int(expired["refund"]),
            }
        )
        return
    console.print(
        f"task {task_id} expired in round {task.round}: {expired['paid']} data owner(s) "
        f"owed {compact_ether(int(expired['paid_each']))} ETH each, "
        f"{compact_ether(int(expired['refund']))} ETH refundable to the model owner; each "
        f"withdraws with `mercato datamarket withdraw` {tx_note(result.receipt.tx_hash)}",
        soft_wrap=True,
    )


@app.command("check")
def check(
    ctx: typer.Context,
    task_id: int = TaskArgument,
    round_number: int = typer.Argument(..., min=1, help="A finalised round of the task."),
    rpc_url: str = RpcUrlOption,
    json_output: bool = JsonOption,
) -> None:
    """Check a finalised round from public data; exit 1 if the model owner finalised it wrong."""
    from mercato.protocols.datamarket import history
    from mercato.protocols.datamarket.aggregation import check_round
    from mercato.protocols.datamarket.market import Mode, Phase

    market = context(ctx).market(rpc_url)
    task = load_task(market, task_id)
    _check_range(round_number, 1, task.rounds, "the round")
    if round_number not in history.finalised(market.data_market, task_id):
        failed = market.data_market.events("RoundFailed", task_id=task_id, round=round_number)
        why = (
            f"it failed in its {Phase(int(failed[0]['phase'])).label} phase"
            if failed
            else waiting_text(task)
        )
        raise InputError(
            f"round {round_number} of task {task_id} was not finalised, nothing to check: {why}"
        )
    with console.status(f"checking round {round_number} of task {task_id}..."):
        check_round(market, task_id, round_number)  # IntegrityError, one line, if wrong
    checked = (
        "the aggregate recomputed from the masked updates and the revealed shares, and the "
        "model from it"
        if task.mode is Mode.SECURE
        else "the new model is the old one plus the published aggregate (the updates are "
        "sealed to the model owner)"
    )
    if json_output:
        emit_json(
            {
                "task": task_id,
                "round": round_number,
                "mode": task.mode.label,
                "ok": True,
                "checked": checked,
            }
        )
        return
    console.print(f"round {round_number} of task {task_id} checks out: {checked}", soft_wrap=True)


@app.command("list")
def list_tasks(
    ctx: typer.Context,
    rpc_url: str = RpcUrlOption,
    json_output: bool = JsonOption,
) -> None:
    """Every task with its mode, data owners, round, phase, deadline and reward."""
    market = context(ctx).market(rpc_url)
    dm = market.data_market
    records = [
        task_record(dm.task(i), read_spec(market, i)[0]) for i in range(1, dm.next_task_id())
    ]
    if json_output:
        emit_json(records)
        return
    print_tasks(records, market.chain.timestamp())


@app.command("show")
def show(
    ctx: typer.Context,
    task_id: int = TaskArgument,
    rpc_url: str = RpcUrlOption,
    json_output: bool = JsonOption,
) -> None:
    """One task: terms, members, and per round who posted, what was used, scores and pay."""
    market = context(ctx).market(rpc_url)
    document = task_document(market, load_task(market, task_id))
    if json_output:
        emit_json(document)
        return
    print_task(document, market.chain.timestamp())


add_withdraw_command(app, UNIT)
waiting.add_wait_command(app, UNIT)
