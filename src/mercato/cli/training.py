"""``mercato training ...``: ownership-preserving collaborative training (P2) from the shell.

Every command acts on a deployed market over a node. Input is checked against the chain
before anything is sent (unknown dataset, model or training, wrong role or owner, wrong
state, deadline, an impossible split, too few compute providers, too little money), so a
bad command changes nothing; a revert that still happens is reported by ``main`` as one
line. The rounds themselves (start, train, review) are the agents' work:
``mercato agent run --role data-owner|compute-provider|model-owner``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich import box
from rich.table import Table

from mercato.cli import waiting
from mercato.cli.common import (
    AccountOption,
    JsonOption,
    KeystoreOption,
    RpcUrlOption,
    add_withdraw_command,
    checksum_address,
    compact_ether,
    console,
    context,
    emit_json,
    format_ether,
    format_time,
    identity,
    parse_amount,
    same_address,
    short_address,
    tx_note,
)
from mercato.cli.training_view import (
    completable,
    dataset_record,
    deadline_text,
    instance_slots,
    manifest_record,
    print_training,
    read_manifest,
    training_document,
    training_record,
)
from mercato.errors import InputError, MercatoError
from mercato.ml.split_rules import DEFAULT_MAX_CLASS_FRACTION, DEFAULT_MIN_MISSING_CLASSES
from mercato.protocols.registry import require_role
from mercato.protocols.roles import Role
from mercato.protocols.training.limits import MAX_PRICE, MAX_REPLICAS, MAX_ROUNDS, MAX_SUBSETS
from mercato.protocols.training.unit import UNIT

# The chain, the protocol and the machine learning are imported by the commands that use
# them, so that `mercato --help` loads none of them.
if TYPE_CHECKING:
    from mercato.protocols.identity import Identity
    from mercato.protocols.marketplace import Marketplace
    from mercato.protocols.training.documents import Manifest, Method
    from mercato.protocols.training.market import Dataset, Training, TrainingStatus

app = typer.Typer(
    help="Collaborative training on split, replicated datasets (Somy et al., P2).",
    no_args_is_help=True,
)
dataset_app = typer.Typer(
    help="Datasets: offer one (data owner), list them, show one.", no_args_is_help=True
)
app.add_typer(dataset_app, name="dataset")

DEFAULT_LOCAL_EPOCHS = 1
DEFAULT_MODEL_SEED = 0
DEFAULT_SPLIT_SEED = 0
TRAINER_KINDS = ("numpy-logreg", "torch-mlp")

TrainingArgument = typer.Argument(..., min=1, help="Training id (see `mercato training list`).")
DatasetArgument = typer.Argument(
    ..., min=1, help="Dataset id (see `mercato training dataset list`)."
)
StateDirOption = typer.Option(
    None,
    "--state-dir",
    help="Folder of the agents' state, where the split plan is recorded for the data owner's "
    "agent (default: settings).",
)


# loading and checks -------------------------------------------------------------------
def load_dataset(market: Marketplace, dataset_id: int) -> Dataset:
    """Dataset ``dataset_id``; InputError if there is no such dataset."""
    count = market.training_market.dataset_count()
    if not 0 < dataset_id <= count:
        raise InputError(f"no dataset {dataset_id} (there are {count})")
    return market.training_market.dataset(dataset_id)


def load_training(market: Marketplace, training_id: int) -> Training:
    """Training ``training_id``; InputError if there is no such training."""
    count = market.training_market.training_count()
    if not 0 < training_id <= count:
        raise InputError(f"no training {training_id} (there are {count})")
    return market.training_market.training(training_id)


def load_model_owner(market: Marketplace, model_id: int) -> str:
    """The owner of model ``model_id``; InputError if there is no such model."""
    count = market.training_market.model_count()
    owner = market.training_market.model_owner(model_id) if 0 < model_id <= count else None
    if owner is None:
        raise InputError(f"no model {model_id} (there are {count})")
    return owner


def _require_status(training: Training, wanted: Sequence[TrainingStatus], action: str) -> None:
    if training.status not in wanted:
        names = " or ".join(s.label for s in wanted)
        raise InputError(
            f"cannot {action} training {training.training_id}: it is {training.status.label}, "
            f"not {names}"
        )


def _require_mo(training: Training, me: Identity, action: str) -> None:
    if not same_address(training.mo, me.address):
        raise InputError(
            f"only the model owner of training {training.training_id} ({training.mo}) may "
            f"{action} it; you are {me.address}"
        )


def _check_range(value: int, low: int, high: int, option: str) -> int:
    if not low <= value <= high:
        raise InputError(f"{option} must be {low} to {high}, got {value}")
    return value


def _price(text: str, option: str) -> int:
    price = parse_amount(text)
    if price > MAX_PRICE:
        raise InputError(f"{option} must be at most {format_ether(MAX_PRICE)}, got {text}")
    return price


def _read_method(market: Marketplace, model_id: int) -> Method:
    from mercato.protocols.training.documents import Method, hash_hex

    model = market.training_market.model(model_id, market.deployment.block)
    return Method.from_bytes(market.store.get(hash_hex(model.method_hash)))


def _check_fits(market: Marketplace, model_id: int, dataset: Dataset) -> None:
    """InputError unless model ``model_id`` can train on ``dataset`` (features, classes)."""
    try:
        method = _read_method(market, model_id)
        manifest = read_manifest(market, dataset)
    except MercatoError as exc:
        raise InputError(
            f"cannot read the method of model {model_id} or the manifest of dataset "
            f"{dataset.dataset_id} from the blob store: {exc}"
        ) from None
    if method.ckks:
        features = int(method.trainer["n_features"])
        classes = 2
    else:
        trainer = method.build_trainer()
        features, classes = int(trainer.spec()["n_features"]), int(trainer.spec()["n_classes"])
    if features != manifest.n_features or max(manifest.classes) >= classes:
        raise InputError(
            f"model {model_id} takes {features} features and {classes} classes; dataset "
            f"{dataset.dataset_id} ({manifest.name}) has {manifest.n_features} features and "
            f"labels {min(manifest.classes)}..{max(manifest.classes)}"
        )


# data owner ---------------------------------------------------------------------------
@dataset_app.command("offer")
def offer_dataset(
    ctx: typer.Context,
    dataset: str = typer.Option(
        ..., "--dataset", help="Sample dataset: digits, breast_cancer, wine or iris."
    ),
    subsets: int = typer.Option(..., "--subsets", help=f"Private subsets m (1 to {MAX_SUBSETS})."),
    replicas: int = typer.Option(
        ..., "--replicas", help=f"Replicas n of each subset (1 to {MAX_REPLICAS})."
    ),
    compute_providers: list[str] = typer.Option(
        ...,
        "--compute-provider",
        help="Address of a registered compute provider to hold replicas (repeat, at least n).",
    ),
    data_price: str = typer.Option(..., "--data-price", help="Paid to you per completed training."),
    job_price: str = typer.Option(
        ..., "--job-price", help="Paid to a compute provider per job (one replica, one round)."
    ),
    seed: int = typer.Option(DEFAULT_SPLIT_SEED, "--seed", help="Seed of the split."),
    max_class_fraction: float = typer.Option(
        DEFAULT_MAX_CLASS_FRACTION,
        "--max-class-fraction",
        help="Largest share of one class in a subset.",
    ),
    min_missing_classes: int = typer.Option(
        DEFAULT_MIN_MISSING_CLASSES,
        "--min-missing-classes",
        help="Classes every subset must lack.",
    ),
    state_dir: Path = StateDirOption,
    rpc_url: str = RpcUrlOption,
    account: int = AccountOption,
    keystore: Path = KeystoreOption,
    json_output: bool = JsonOption,
) -> None:
    """Split a dataset (skewed), commit to it and hand each replica sealed to its holder."""
    from mercato.protocols.training.listings import RecordedPlan, manifest_hash, record_plan
    from mercato.ml.datasets import seller_and_buyer_parts
    from mercato.protocols.training import history
    from mercato.protocols.training.data_owner import SplitPlan, assign_holders, prepare_listing
    from mercato.protocols.training.data_owner import list_dataset as publish

    _check_range(subsets, 1, MAX_SUBSETS, "--subsets")
    _check_range(replicas, 1, MAX_REPLICAS, "--replicas")
    prices = _price(data_price, "--data-price"), _price(job_price, "--job-price")
    holders = [checksum_address(co, "--compute-provider") for co in compute_providers]
    repeated = sorted({co for co in holders if holders.count(co) > 1})
    if repeated:
        raise InputError(
            f"--compute-provider {repeated[0]} is given twice: name each compute provider once"
        )
    assign_holders(holders, subsets, replicas)  # at least n distinct holders
    me = identity(account, keystore)
    run = context(ctx)
    market = run.market(rpc_url)
    require_role(market, me.address, Role.DATA_OWNER, "offering a dataset")
    for co in holders:
        if not market.registry.has_role(co, Role.COMPUTE_PROVIDER):
            raise InputError(
                f"--compute-provider {co} is not a registered compute provider "
                "(it registers with: mercato register --roles compute-provider)"
            )
    data, _ = seller_and_buyer_parts(dataset)
    plan = SplitPlan(subsets, replicas, seed, max_class_fraction, min_missing_classes)
    listing = prepare_listing(me, data, plan)  # bad seed or rules, impossible split
    # recorded before the first transaction, so the DO's agent can serve the first join
    folder = state_dir or run.settings.agent_dir
    recorded = RecordedPlan(dataset, plan)
    plans = record_plan(folder, me.address, manifest_hash(listing.manifest), recorded)
    with console.status(f"offering {dataset}: {subsets} x {replicas} sealed replicas..."):
        listed = publish(market, me, data, plan, holders, data_price=prices[0], job_price=prices[1])
    record = market.training_market.dataset(listed.dataset_id)
    if json_output:
        emit_json(
            {
                **dataset_record(record),
                "manifest": manifest_record(listed.manifest),
                "plan": recorded.to_json(),
                "slots": instance_slots(market, record),
            }
        )
        return
    created = history.one(market, "DatasetCreated", dataset_id=listed.dataset_id)
    console.print(
        f"dataset {listed.dataset_id} offered: {dataset} in {subsets} subsets x {replicas} "
        f"replicas held by {len(holders)} compute providers, data price "
        f"{compact_ether(prices[0])} ETH, job price {compact_ether(prices[1])} ETH; split plan "
        f"in {plans} {tx_note(created.tx_hash, 1 + subsets * replicas)}",
        soft_wrap=True,
    )


@dataset_app.command("list")
def list_datasets(
    ctx: typer.Context,
    rpc_url: str = RpcUrlOption,
    json_output: bool = JsonOption,
) -> None:
    """Every dataset with its split, prices and how many instances are verified."""
    market = context(ctx).market(rpc_url)
    tm = market.training_market
    found = [tm.dataset(i) for i in range(1, tm.dataset_count() + 1)]
    names: dict[int, str | None] = {}
    for d in found:
        try:
            names[d.dataset_id] = read_manifest(market, d).name
        except MercatoError:  # shown as unknown: the chain state is still worth seeing
            names[d.dataset_id] = None
    if json_output:
        emit_json([{**dataset_record(d), "name": names[d.dataset_id]} for d in found])
        return
    if not found:
        console.print("no datasets yet (offer one with `mercato training dataset offer`)")
        return
    table = Table(
        title=f"{len(found)} dataset(s); prices in ETH", box=box.SIMPLE_HEAD, pad_edge=False
    )
    for column in ("id", "name", "owner", "m x n", "verified", "data price", "job price"):
        table.add_column(column, overflow="fold")
    for d in found:
        table.add_row(
            str(d.dataset_id),
            names[d.dataset_id] or "?",
            short_address(d.owner),
            f"{d.subsets} x {d.replicas}",
            f"{d.verified}/{d.slots}" + (" ready" if d.ready else ""),
            compact_ether(d.data_price),
            compact_ether(d.job_price),
        )
    console.print(table)


@dataset_app.command("show")
def show_dataset(
    ctx: typer.Context,
    dataset_id: int = DatasetArgument,
    rpc_url: str = RpcUrlOption,
    json_output: bool = JsonOption,
) -> None:
    """One dataset: its manifest, every slot's instance and state, and its trainings."""
    from mercato.protocols.training import history

    market = context(ctx).market(rpc_url)
    record = load_dataset(market, dataset_id)
    manifest: Manifest | None = None
    problem = ""
    try:
        manifest = read_manifest(market, record)
    except MercatoError as exc:
        problem = str(exc)
    slots = instance_slots(market, record)
    trainings = [
        int(e["training_id"])
        for e in history.find(market, "TrainingRequested", dataset_id=dataset_id)
    ]
    if json_output:
        emit_json(
            {
                **dataset_record(record),
                "manifest": None if manifest is None else manifest_record(manifest),
                "manifest_error": problem or None,
                "instances": slots,
                "trainings": trainings,
            }
        )
        return
    console.rule(f"[bold]dataset {dataset_id}[/bold]: {record.subsets} x {record.replicas}")
    console.print(f"owner     {record.owner}")
    console.print(
        f"prices    data {format_ether(record.data_price)}, job {format_ether(record.job_price)}"
    )
    console.print(f"verified  {record.verified} of {record.slots} slots")
    if manifest is not None:
        console.print(
            f"manifest  {manifest.name} ({manifest.ontology_class}), {manifest.n_features} "
            f"features, classes {list(manifest.classes)}, subset sizes {list(manifest.sizes)}"
        )
    else:
        console.print(f"[yellow]manifest unavailable:[/yellow] {problem}")
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    for column in ("subset", "replica", "instance", "compute provider", "status"):
        table.add_column(column, overflow="fold")
    for slot in slots:
        table.add_row(
            str(slot["subset"]),
            str(slot["replica"]),
            str(slot["instance_id"] or "-"),
            slot["co"] or "-",
            slot["status"],
        )
    console.print(table)
    console.print(f"trainings {trainings or 'none'}")


@app.command("approve")
def approve(
    ctx: typer.Context,
    training_id: int = TrainingArgument,
    rpc_url: str = RpcUrlOption,
    account: int = AccountOption,
    keystore: Path = KeystoreOption,
    json_output: bool = JsonOption,
) -> None:
    """Approve a training request on your dataset (every slot must be verified)."""
    from mercato.protocols.training.market import TrainingStatus

    me = identity(account, keystore)
    market = context(ctx).market(rpc_url)
    training = load_training(market, training_id)
    record = market.training_market.dataset(training.dataset_id)
    if not same_address(record.owner, me.address):
        raise InputError(
            f"only the owner of dataset {record.dataset_id} ({record.owner}) may approve "
            f"training {training_id}; you are {me.address}"
        )
    _require_status(training, [TrainingStatus.REQUESTED], "approve")
    if market.chain.timestamp() >= training.deadline:
        raise InputError(
            f"the approval period of training {training_id} ended at "
            f"{format_time(training.deadline)}"
        )
    if not record.ready:
        raise InputError(
            f"dataset {record.dataset_id} has {record.verified} of {record.slots} instances "
            "verified; approve once every slot is (the data owner's agent verifies joins)"
        )
    result = market.training_market.approve_training(me.account, training_id)
    _emit_training(
        market,
        training_id,
        json_output,
        f"training {training_id} approved: up to {training.max_rounds} round(s) of "
        f"{training.subsets_per_round} subset(s) on dataset {record.dataset_id}, "
        f"{compact_ether(training.escrowed)} ETH in escrow; the model owner starts the rounds "
        f"{tx_note(result.receipt.tx_hash)}",
    )


# model owner --------------------------------------------------------------------------
@app.command("model")
def model(
    ctx: typer.Context,
    trainer: str = typer.Option(..., "--trainer", help="numpy-logreg or torch-mlp."),
    dataset_name: str = typer.Option(
        ..., "--dataset-name", help="Sample dataset the model is shaped for (e.g. digits)."
    ),
    epochs: int = typer.Option(
        DEFAULT_LOCAL_EPOCHS, "--epochs", help="Local epochs each compute provider runs a round."
    ),
    learning_rate: float = typer.Option(
        None, "--learning-rate", help="Learning rate (default: the trainer's)."
    ),
    batch_size: int = typer.Option(
        None, "--batch-size", help="Mini-batch size (default: the trainer's)."
    ),
    seed: int = typer.Option(DEFAULT_MODEL_SEED, "--seed", help="Seed of the training."),
    rpc_url: str = RpcUrlOption,
    account: int = AccountOption,
    keystore: Path = KeystoreOption,
    json_output: bool = JsonOption,
) -> None:
    """Publish a training method (plaintext mode) and record the model."""
    from mercato.ml.datasets import load_dataset as load_sample
    from mercato.ml.trainers import TRAINERS
    from mercato.ml.trainers.base import MAX_EPOCHS
    from mercato.protocols.training.documents import MODE_PLAINTEXT, Method
    from mercato.protocols.training.model_owner import create_model

    if trainer not in TRAINERS:
        raise InputError(f"--trainer must be one of {', '.join(TRAINER_KINDS)}, got '{trainer}'")
    _check_range(epochs, 1, MAX_EPOCHS, "--epochs")
    shape = load_sample(dataset_name)
    params: dict[str, Any] = {
        "n_features": int(shape.X.shape[1]),
        "n_classes": int(shape.classes.max()) + 1,
    }
    if learning_rate is not None:
        params["learning_rate"] = learning_rate
    if batch_size is not None:
        params["batch_size"] = batch_size
    spec = dict(TRAINERS[trainer](**params).spec())
    method = Method(mode=MODE_PLAINTEXT, trainer=spec, local_epochs=epochs, seed=seed)
    me = identity(account, keystore)
    market = context(ctx).market(rpc_url)
    require_role(market, me.address, Role.MODEL_OWNER, "creating a model")
    start = market.chain.block_number()
    model_id = create_model(market, me, method)
    if json_output:
        created = market.training_market.model(model_id, market.deployment.block)
        emit_json(
            {
                "id": model_id,
                "owner": me.address,
                "method_hash": created.method_hash,
                "method": {
                    "mode": method.mode,
                    "trainer": spec,
                    "local_epochs": epochs,
                    "seed": seed,
                },
            }
        )
        return
    events = market.training_market.contract.events(start, None, "ModelCreated", model_id=model_id)
    console.print(
        f"model {model_id} created: {trainer} for {dataset_name} ({params['n_features']} "
        f"features, {params['n_classes']} classes), {epochs} local epoch(s) a round, seed "
        f"{seed} {tx_note(events[0].tx_hash)}",
        soft_wrap=True,
    )


@app.command("request")
def request(
    ctx: typer.Context,
    model_id: int = typer.Option(..., "--model", min=1, help="Your model's id."),
    dataset_id: int = typer.Option(..., "--dataset", min=1, help="Dataset id."),
    per_round: int = typer.Option(..., "--subsets-per-round", help="Subsets k drawn each round."),
    rounds: int = typer.Option(..., "--rounds", help=f"Most rounds (1 to {MAX_ROUNDS})."),
    rpc_url: str = RpcUrlOption,
    account: int = AccountOption,
    keystore: Path = KeystoreOption,
    json_output: bool = JsonOption,
) -> None:
    """Ask to train your model on a dataset, locking data price + job price x k x n x rounds."""
    from mercato.protocols.training.market import escrow_for

    me = identity(account, keystore)
    market = context(ctx).market(rpc_url)
    owner = load_model_owner(market, model_id)
    if not same_address(owner, me.address):
        raise InputError(f"model {model_id} belongs to {owner}; you are {me.address}")
    record = load_dataset(market, dataset_id)
    _check_range(per_round, 1, record.subsets, "--subsets-per-round")
    _check_range(rounds, 1, MAX_ROUNDS, "--rounds")
    _check_fits(market, model_id, record)
    escrow = escrow_for(record.data_price, record.job_price, per_round, record.replicas, rounds)
    balance = market.chain.balance(me.address)
    if balance < escrow:
        raise InputError(
            f"{me.address} holds {format_ether(balance)}, less than the "
            f"{format_ether(escrow)} the training locks"
        )
    training_id, result = market.training_market.request_training(
        me.account,
        model_id,
        dataset_id,
        subsets_per_round=per_round,
        max_rounds=rounds,
        value=escrow,
    )
    note = (
        "the data owner approves"
        if record.ready
        else f"dataset {dataset_id} is not ready yet: its data owner approves once it is,"
    )
    deadline = market.training_market.training(training_id).deadline
    _emit_training(
        market,
        training_id,
        json_output,
        f"training {training_id} requested: model {model_id} on dataset {dataset_id}, "
        f"{per_round} of {record.subsets} subsets a round for up to {rounds} round(s), "
        f"{compact_ether(escrow)} ETH locked; {note} by {format_time(deadline)} "
        f"{tx_note(result.receipt.tx_hash)}",
    )


@app.command("cancel")
def cancel(
    ctx: typer.Context,
    training_id: int = TrainingArgument,
    rpc_url: str = RpcUrlOption,
    account: int = AccountOption,
    keystore: Path = KeystoreOption,
    json_output: bool = JsonOption,
) -> None:
    """Withdraw a request the data owner has not approved; the escrow becomes refundable."""
    from mercato.protocols.training.market import TrainingStatus

    me = identity(account, keystore)
    market = context(ctx).market(rpc_url)
    training = load_training(market, training_id)
    _require_mo(training, me, "cancel")
    _require_status(training, [TrainingStatus.REQUESTED], "cancel")
    result = market.training_market.cancel(me.account, training_id)
    _emit_training(
        market,
        training_id,
        json_output,
        f"training {training_id} cancelled: {compact_ether(training.escrowed)} ETH refundable "
        f"to you, to withdraw with `mercato training withdraw` {tx_note(result.receipt.tx_hash)}",
    )


# anyone -------------------------------------------------------------------------------
@app.command("draw")
def draw(
    ctx: typer.Context,
    training_id: int = TrainingArgument,
    rpc_url: str = RpcUrlOption,
    account: int = AccountOption,
    keystore: Path = KeystoreOption,
    json_output: bool = JsonOption,
) -> None:
    """Draw the subsets of a requested round from its target block's hash (anyone)."""
    from mercato.protocols.training.market import TrainingStatus

    me = identity(account, keystore)
    market = context(ctx).market(rpc_url)
    training = load_training(market, training_id)
    _require_status(training, [TrainingStatus.DRAWING], "draw a round of")
    if market.chain.block_number() < training.target_block:
        raise InputError(
            f"round {training.round} of training {training_id} draws after block "
            f"{training.target_block}; wait for it"
        )
    result = market.training_market.draw_round(me.account, training_id)
    after = market.training_market.training(training_id)
    text = (
        f"round {after.round} of training {training_id}: subsets "
        f"{list(after.selected_subsets)} drawn, {after.remaining} job(s) due by "
        f"{format_time(after.deadline)}"
        if after.status is not TrainingStatus.DRAWING
        else f"round {after.round} of training {training_id}: the target block's hash had "
        f"expired, it now draws after block {after.target_block}"
    )
    _emit_training(market, training_id, json_output, f"{text} {tx_note(result.receipt.tx_hash)}")


@app.command("close-round")
def close_round(
    ctx: typer.Context,
    training_id: int = TrainingArgument,
    rpc_url: str = RpcUrlOption,
    account: int = AccountOption,
    keystore: Path = KeystoreOption,
    json_output: bool = JsonOption,
) -> None:
    """End a round whose deadline passed with jobs missing (anyone); silent compute providers
    earn nothing for it."""
    from mercato.protocols.training.market import TrainingStatus

    me = identity(account, keystore)
    market = context(ctx).market(rpc_url)
    training = load_training(market, training_id)
    _require_status(training, [TrainingStatus.TRAINING], "close a round of")
    if market.chain.timestamp() < training.deadline:
        raise InputError(
            f"round {training.round} of training {training_id} runs until "
            f"{format_time(training.deadline)} ({training.remaining} job(s) missing); "
            "close it after"
        )
    result = market.training_market.close_round(me.account, training_id)
    after = market.training_market.training(training_id)
    _emit_training(
        market,
        training_id,
        json_output,
        f"round {training.round} of training {training_id} closed with "
        f"{training.remaining} job(s) missing (their compute providers earn nothing for it); "
        f"the model owner reviews by {format_time(after.deadline)} "
        f"{tx_note(result.receipt.tx_hash)}",
    )


@app.command("complete")
def complete(
    ctx: typer.Context,
    training_id: int = TrainingArgument,
    rpc_url: str = RpcUrlOption,
    account: int = AccountOption,
    keystore: Path = KeystoreOption,
    json_output: bool = JsonOption,
) -> None:
    """Pay the data owner and the compute providers and refund the rest: the model owner
    whenever no round runs, anyone once the model owner is silent past its idle deadline."""
    from mercato.protocols.training.market import TrainingStatus

    me = identity(account, keystore)
    market = context(ctx).market(rpc_url)
    tm = market.training_market
    training = load_training(market, training_id)
    if training.status is TrainingStatus.REQUESTED:
        raise InputError(
            f"training {training_id} was never approved: its model owner cancels it instead"
        )
    _require_status(training, completable(), "complete")
    idle_deadline = training.idle_deadline(tm.period("idle"))
    if not same_address(training.mo, me.address) and market.chain.timestamp() < idle_deadline:
        raise InputError(
            f"only the model owner may complete training {training_id} before its idle "
            f"deadline {format_time(idle_deadline)}"
        )
    result = tm.complete(me.account, training_id)
    done = result.event("TrainingCompleted")
    _emit_training(
        market,
        training_id,
        json_output,
        f"training {training_id} completed after {done['rounds']} round(s): data owner "
        f"{compact_ether(done['paid_owner'])} ETH, compute providers "
        f"{compact_ether(done['paid_compute'])} ETH, {compact_ether(done['refund'])} ETH "
        f"refundable to the model owner; each withdraws with `mercato training withdraw` "
        f"{tx_note(result.receipt.tx_hash)}",
    )


@app.command("list")
def list_trainings(
    ctx: typer.Context,
    rpc_url: str = RpcUrlOption,
    json_output: bool = JsonOption,
) -> None:
    """Every training with its status, round and current deadline."""
    market = context(ctx).market(rpc_url)
    tm = market.training_market
    idle = tm.period("idle")
    found = [tm.training(i) for i in range(1, tm.training_count() + 1)]
    if json_output:
        emit_json([training_record(t, idle) for t in found])
        return
    if not found:
        console.print("no trainings yet (request one with `mercato training request`)")
        return
    now = market.chain.timestamp()
    table = Table(
        title=f"{len(found)} training(s); escrow in ETH", box=box.SIMPLE_HEAD, pad_edge=False
    )
    for column in ("id", "status", "model owner", "dataset", "model", "round", "k", "escrow",
                   "deadline"):  # fmt: skip
        table.add_column(column, overflow="fold")
    for t in found:
        table.add_row(
            str(t.training_id),
            t.status.label,
            short_address(t.mo),
            str(t.dataset_id),
            str(t.model_id),
            f"{t.round}/{t.max_rounds}",
            str(t.subsets_per_round),
            compact_ether(t.escrowed),
            deadline_text(t, now),
        )
    console.print(table)


@app.command("show")
def show(
    ctx: typer.Context,
    training_id: int = TrainingArgument,
    rpc_url: str = RpcUrlOption,
    json_output: bool = JsonOption,
) -> None:
    """One training: state, rounds and drawn subsets, jobs, frauds, deadlines and payments."""
    market = context(ctx).market(rpc_url)
    document = training_document(market, load_training(market, training_id))
    if json_output:
        emit_json(document)
        return
    print_training(market, document)


def _emit_training(market: Marketplace, training_id: int, json_output: bool, text: str) -> None:
    """Print a training after a command changed it: its record as JSON, or ``text``."""
    if json_output:
        tm = market.training_market
        emit_json(training_record(tm.training(training_id), tm.period("idle")))
    else:
        console.print(text, soft_wrap=True)


add_withdraw_command(app, UNIT)
waiting.add_wait_command(app, UNIT)
