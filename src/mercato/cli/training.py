"""``mercato training ...``: ownership-preserving collaborative training (P2) from the shell.

Every command acts on a deployed market over a node. Input is checked against the chain
before anything is sent, by P2's rules (:mod:`mercato.protocols.training.rules`: unknown
dataset, model or training, wrong role or owner, wrong state, deadline, an impossible split,
too few compute providers, too little money), so a bad command changes nothing; a revert
that still happens is reported by ``main`` as one line. The rounds themselves (start,
train, review) are the agents' work:
``mercato agent run --role data-owner|compute-provider|model-owner``.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from mercato.cli import common, training_view, waiting
from mercato.cli.common import MarketCall, compact_ether, console, format_time, refuse, tx_note
from mercato.cli.training_view import TrainingArgument, acting, report
from mercato.errors import InputError, MercatoError
from mercato.ml.split_rules import DEFAULT_MAX_CLASS_FRACTION, DEFAULT_MIN_MISSING_CLASSES
from mercato.protocols.registry import require_role
from mercato.protocols.roles import Role
from mercato.protocols.training import rules, views
from mercato.protocols.training.limits import MAX_REPLICAS, MAX_ROUNDS, MAX_SUBSETS
from mercato.protocols.training.unit import UNIT
from mercato.protocols.training.views import Dataset, TrainingStatus

# The chain, the machine learning and the documents are imported by the commands that use
# them, so that `mercato --help` loads none of them.
if TYPE_CHECKING:
    from mercato.protocols.marketplace import Marketplace

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

StateDirOption = typer.Option(
    None,
    "--state-dir",
    help="Folder of the agents' state, where the split plan is recorded for the data owner's "
    "agent (default: settings).",
)


def _price(text: str, option: str) -> int:
    price = common.parse_amount(text)
    refuse(rules.price_problem(price, text, option))
    return price


def _fits_problem(market: Marketplace, model_id: int, dataset: Dataset) -> str | None:
    """Why model ``model_id`` cannot train on ``dataset`` (features, classes), if it cannot."""
    try:
        method = views.read_method(market, model_id)
        manifest = views.read_manifest(market, dataset)
    except MercatoError as exc:
        return (
            f"cannot read the method of model {model_id} or the manifest of dataset "
            f"{dataset.dataset_id} from the blob store: {exc}"
        )
    features = () if method.inputs is None else method.inputs.features
    return rules.fits_problem(model_id, method.shape, dataset, manifest, features)


def _data_problem(
    dataset: str | None, data_file: Path | None, label: str | None, schema: Path | None
) -> str | None:
    """Unless exactly one source of data is given: a sample set, or a file with its label or
    schema."""
    if dataset is not None and data_file is not None:
        return "pass a sample dataset (--dataset) or your own data file (--data), not both"
    if data_file is None and (label is not None or schema is not None):
        return "--label and --schema describe a data file: pass it with --data"
    if dataset is None and data_file is None:
        return "name the data: --data FILE (with --label or --schema) or --dataset NAME"
    return None


# data owner ---------------------------------------------------------------------------------
@common.market_command(dataset_app, "offer")
def offer_dataset(
    call: MarketCall,
    dataset: str = typer.Option(
        None, "--dataset", help="Sample dataset: digits, breast_cancer, wine or iris."
    ),
    data_file: Path = common.DataFileOption,
    label: str = common.LabelOption,
    schema: Path = common.SchemaOption,
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
) -> None:
    """Split a dataset (skewed), commit to it and hand each replica sealed to its holder.

    The data is your own file (--data with --label or --schema: CSV, Parquet or .npz, used
    whole and recorded with its digest, so your agent refuses it if it changes) or the part
    of a sample set (--dataset) that sellers sell."""
    from mercato.ml.datasets import seller_and_buyer_parts
    from mercato.protocols.training import history
    from mercato.protocols.training.data_owner import SplitPlan, prepare_listing
    from mercato.protocols.training.data_owner import list_dataset as publish
    from mercato.protocols.training.listings import RecordedPlan, manifest_hash, record_plan
    from mercato.user_files import DataFile

    refuse(rules.split_problem(subsets, replicas), _data_problem(dataset, data_file, label, schema))
    prices = _price(data_price, "--data-price"), _price(job_price, "--job-price")
    holders = [common.checksum_address(co, "--compute-provider") for co in compute_providers]
    refuse(rules.holders_problem(holders, replicas))
    me = call.identity()
    market = call.market()
    require_role(market, me.address, Role.DATA_OWNER, "offering a dataset")
    refuse(
        *(
            rules.holder_problem(co, market.registry.has_role(co, Role.COMPUTE_PROVIDER))
            for co in holders
        )
    )
    if data_file is None:
        data, _ = seller_and_buyer_parts(dataset)
        recorded_file = None
    else:
        recorded_file, data = DataFile.read(data_file, label, schema)
    plan = SplitPlan(subsets, replicas, seed, max_class_fraction, min_missing_classes)
    listing = prepare_listing(me, data, plan)  # bad seed or rules, impossible split
    # recorded before the first transaction, so the DO's agent can serve the first join
    folder = state_dir or common.context(call.ctx).settings.agent_dir
    recorded = RecordedPlan(data.name, plan, recorded_file)
    dataset = data.name
    plans = record_plan(folder, me.address, manifest_hash(listing.manifest), recorded)
    with console.status(f"offering {dataset}: {subsets} x {replicas} sealed replicas..."):
        listed = publish(market, me, data, plan, holders, data_price=prices[0], job_price=prices[1])
    record = market.training_market.dataset(listed.dataset_id)
    if call.json_output:
        common.emit_json(
            {
                **record.record(),
                "manifest": views.manifest_record(listed.manifest),
                "plan": recorded.to_json(),
                "slots": [slot.record() for slot in views.read_slots(market, record)],
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


training_view.add_dataset_commands(dataset_app)


@common.market_command(app, "approve")
def approve(call: MarketCall, training_id: int = TrainingArgument) -> None:
    """Approve a training request on your dataset (every slot must be verified)."""
    me, market, training = acting(call, training_id)
    record = market.training_market.dataset(training.dataset_id)
    refuse(rules.approve_problem(training, record, me.address, market.chain.timestamp()))
    result = market.training_market.approve_training(me.account, training_id)
    report(
        call,
        market,
        result,
        training_id,
        f"training {training_id} approved: up to {training.max_rounds} round(s) of "
        f"{training.subsets_per_round} subset(s) on dataset {record.dataset_id}, "
        f"{compact_ether(training.escrowed)} ETH in escrow; the model owner starts the rounds",
    )


# model owner --------------------------------------------------------------------------------
@common.market_command(app, "model")
def model(
    call: MarketCall,
    trainer: str = typer.Option(..., "--trainer", help="numpy-logreg or torch-mlp."),
    dataset_name: str = typer.Option(
        None, "--dataset-name", help="Sample dataset the model is shaped for (e.g. digits)."
    ),
    data_file: Path = typer.Option(
        None, "--data", help="Your own data file the model is shaped for (its features, classes)."
    ),
    label: str = common.LabelOption,
    schema: Path = common.SchemaOption,
    start: Path = typer.Option(
        None,
        "--model",
        help="Your own trained model to start round 1 from: .skops (LogisticRegression for "
        "numpy-logreg, one-hidden-layer ReLU MLPClassifier for torch-mlp) or .safetensors.",
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
    state_dir: Path = typer.Option(
        None,
        "--state-dir",
        help="Folder of the agents' state, where --model is recorded for your agent "
        "(default: settings).",
    ),
) -> None:
    """Publish a training method (plaintext mode) and record the model.

    The model is shaped (features, classes) for a sample set (--dataset-name) or your own
    data file (--data), whose columns, classes and standardisation (mean, scale of your rows)
    the method then publishes: every compute provider scales its rows so before training.
    With --model it starts from your own trained model (re-expressed for that scaling),
    which your model-owner agent (same --state-dir) publishes as round 1."""
    from mercato.ml.columns import Inputs, standardisation
    from mercato.ml.data_files import DataSource
    from mercato.ml.trainers import TRAINERS
    from mercato.ml.trainers.base import MAX_EPOCHS
    from mercato.protocols.training.documents import MODE_PLAINTEXT, Method
    from mercato.protocols.training.model_owner import create_model
    from mercato.protocols.training.starting import StartingFile, record_start

    if trainer not in TRAINERS:
        raise InputError(f"--trainer must be one of {', '.join(TRAINER_KINDS)}, got '{trainer}'")
    refuse(
        rules.range_problem(epochs, 1, MAX_EPOCHS, "--epochs"),
        _data_problem(dataset_name, data_file, label, schema),
    )
    shape = DataSource(sample=dataset_name, path=data_file, label=label, schema=schema).load()
    params: dict[str, Any] = {
        "n_features": int(shape.X.shape[1]),
        "n_classes": len(shape.labels) or int(shape.classes.max()) + 1,
    }
    if learning_rate is not None:
        params["learning_rate"] = learning_rate
    if batch_size is not None:
        params["batch_size"] = batch_size
    built = TRAINERS[trainer](**params)
    spec = dict(built.spec())
    inputs = None
    if shape.features and shape.labels:  # a file: publish its columns, classes and scaling
        mean, scale = standardisation(shape.X)
        inputs = Inputs(shape.features, shape.labels, mean, scale)
    starting = None if start is None else StartingFile.read(start, built, inputs)[0]
    method = Method(
        mode=MODE_PLAINTEXT, trainer=spec, local_epochs=epochs, seed=seed, inputs=inputs
    )
    me = call.identity()
    market = call.market()
    require_role(market, me.address, Role.MODEL_OWNER, "creating a model")
    first_block = market.chain.block_number()
    model_id = create_model(market, me, method)
    folder = state_dir or common.context(call.ctx).settings.agent_dir
    starts = (
        None if starting is None else record_start(folder, market, me.address, model_id, starting)
    )
    if call.json_output:
        recorded = market.training_market.model(model_id, market.deployment.block)
        common.emit_json(
            {
                "id": model_id,
                "owner": me.address,
                "method_hash": recorded.method_hash,
                "method": {
                    "mode": method.mode,
                    "trainer": spec,
                    "local_epochs": epochs,
                    "seed": seed,
                },
                "start": None if starting is None else asdict(starting),
                "inputs": None if inputs is None else inputs.to_document(),
            }
        )
        return
    created = market.training_market.first(
        "ModelCreated", from_block=first_block, model_id=model_id
    )
    begins = (
        "" if starting is None else f"; round 1 starts from {starting.name} (recorded in {starts})"
    )
    console.print(
        f"model {model_id} created: {trainer} for {shape.name} ({params['n_features']} "
        f"features, {params['n_classes']} classes), {epochs} local epoch(s) a round, seed "
        f"{seed}{begins} {tx_note(created.tx_hash)}",
        soft_wrap=True,
    )


@common.market_command(app, "request")
def request(
    call: MarketCall,
    model_id: int = typer.Option(..., "--model", min=1, help="Your model's id."),
    dataset_id: int = typer.Option(..., "--dataset", min=1, help="Dataset id."),
    per_round: int = typer.Option(..., "--subsets-per-round", help="Subsets k drawn each round."),
    rounds: int = typer.Option(..., "--rounds", help=f"Most rounds (1 to {MAX_ROUNDS})."),
) -> None:
    """Ask to train your model on a dataset, locking data price + job price x k x n x rounds."""
    me = call.identity()
    market = call.market()
    tm = market.training_market
    owner = views.read_model_owner(tm, model_id)
    refuse(rules.model_problem(model_id, owner, me.address))
    record = views.read_dataset(tm, dataset_id)
    refuse(rules.request_problem(record, per_round, rounds))
    refuse(_fits_problem(market, model_id, record))
    escrow = record.escrow_for(per_round, rounds)
    refuse(rules.escrow_problem(me.address, market.chain.balance(me.address), escrow))
    training_id, result = tm.request_training(
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
    deadline = tm.training(training_id).deadline
    report(
        call,
        market,
        result,
        training_id,
        f"training {training_id} requested: model {model_id} on dataset {dataset_id}, "
        f"{per_round} of {record.subsets} subsets a round for up to {rounds} round(s), "
        f"{compact_ether(escrow)} ETH locked; {note} by {format_time(deadline)}",
    )


@common.market_command(app, "cancel")
def cancel(call: MarketCall, training_id: int = TrainingArgument) -> None:
    """Withdraw a request the data owner has not approved; the escrow becomes refundable."""
    me, market, training = acting(call, training_id)
    refuse(rules.cancel_problem(training, me.address))
    result = market.training_market.cancel(me.account, training_id)
    report(
        call,
        market,
        result,
        training_id,
        f"training {training_id} cancelled: {compact_ether(training.escrowed)} ETH refundable "
        "to you, to withdraw with `mercato training withdraw`",
    )


# anyone -------------------------------------------------------------------------------------
@common.market_command(app, "draw")
def draw(call: MarketCall, training_id: int = TrainingArgument) -> None:
    """Draw the subsets of a requested round from its target block's hash (anyone)."""
    me, market, training = acting(call, training_id)
    refuse(rules.draw_problem(training, market.chain.block_number()))
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
    report(call, market, result, training_id, text)


@common.market_command(app, "close-round")
def close_round(call: MarketCall, training_id: int = TrainingArgument) -> None:
    """End a round whose deadline passed with jobs missing (anyone); silent compute providers
    earn nothing for it."""
    me, market, training = acting(call, training_id)
    refuse(rules.close_round_problem(training, market.chain.timestamp()))
    result = market.training_market.close_round(me.account, training_id)
    after = market.training_market.training(training_id)
    report(
        call,
        market,
        result,
        training_id,
        f"round {training.round} of training {training_id} closed with "
        f"{training.remaining} job(s) missing (their compute providers earn nothing for it); "
        f"the model owner reviews by {format_time(after.deadline)}",
    )


@common.market_command(app, "complete")
def complete(call: MarketCall, training_id: int = TrainingArgument) -> None:
    """Pay the data owner and the compute providers and refund the rest: the model owner
    whenever no round runs, anyone once the model owner is silent past its idle deadline."""
    me, market, training = acting(call, training_id)
    tm = market.training_market
    now = market.chain.timestamp()
    refuse(rules.complete_problem(training, me.address, now, tm.period("idle")))
    result = tm.complete(me.account, training_id)
    done = result.event("TrainingCompleted")
    report(
        call,
        market,
        result,
        training_id,
        f"training {training_id} completed after {done['rounds']} round(s): data owner "
        f"{compact_ether(done['paid_owner'])} ETH, compute providers "
        f"{compact_ether(done['paid_compute'])} ETH, {compact_ether(done['refund'])} ETH "
        "refundable to the model owner; each withdraws with `mercato training withdraw`",
    )


@common.market_command(app, "export")
def export(
    call: MarketCall,
    training_id: int = TrainingArgument,
    out: Path = common.ModelOutOption,
    data_file: Path = common.DataFileOption,
    label: str = common.LabelOption,
    schema: Path = common.SchemaOption,
    dataset: str = common.HeldOutDatasetOption,
) -> None:
    """The model owner takes its trained model: every job of every round opened with its key
    and checked against its hash on chain, the agreed ones averaged as its agent did, written
    as .safetensors with per-round accuracy and the metrics (on --data or --dataset's
    held-out part)."""
    from mercato.protocols.results import export_result
    from mercato.protocols.training.final_model import take_model

    if out.suffix.lower() != ".safetensors":
        raise InputError(f"--out {out}: a training's model is weights: name it *.safetensors")
    evaluation = common.held_out_data(data_file, label, schema, dataset)
    me, market, training = acting(call, training_id)
    refuse(rules.take_problem(training, me.address))
    with console.status(f"replaying the {training.round} round(s) of training {training_id}..."):
        result = take_model(market, me, training_id, evaluation)
    common.show_result(call, result, export_result(result, out))
    if not call.json_output:
        for entry in result.reported["rounds"]:
            accuracy = f", accuracy {entry['accuracy']:.4f}" if "accuracy" in entry else ""
            console.print(
                f"  round {entry['round']}: subsets {entry['agreed_subsets']} agreed of "
                f"{entry['jobs']} job(s), {len(entry['frauds'])} fraud(s){accuracy}",
                highlight=False,
            )


training_view.add_training_commands(app)
common.add_withdraw_command(app, UNIT)
waiting.add_wait_command(app, UNIT)
