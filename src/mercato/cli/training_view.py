"""What anyone may read of ``mercato training``, and the text views.

Anyone lists and shows the datasets (``dataset list``, ``dataset show``) and the trainings
(``list``, ``show``). The views themselves (a dataset and its slots, a training, its rounds,
jobs, frauds, payments and events) are frozen dataclasses of
:mod:`~mercato.protocols.training.views`; ``--json`` prints their ``record()`` (amounts in
wei, hashes 0x-hex), the text views here render the same records.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer

from mercato.cli import common
from mercato.cli.common import (
    MarketCall,
    compact_ether,
    console,
    emit_json,
    relative_time,
    short_address,
    simple_table,
    tx_note,
)
from mercato.errors import MercatoError
from mercato.protocols.training import views
from mercato.timefmt import format_deadline
from mercato.units import format_ether

# The protocol's documents and the chain are imported where they are used, so that
# `mercato --help` loads none of them.
if TYPE_CHECKING:
    from mercato.chain.contract import TxResult
    from mercato.protocols.identity import Identity
    from mercato.protocols.marketplace import Marketplace
    from mercato.protocols.training.documents import Manifest
    from mercato.protocols.training.views import Training

TrainingArgument = typer.Argument(..., min=1, help="Training id (see `mercato training list`).")
DatasetArgument = typer.Argument(
    ..., min=1, help="Dataset id (see `mercato training dataset list`)."
)


def acting(call: MarketCall, training_id: int) -> tuple[Identity, Marketplace, Training]:
    """Who acts, on which market, and the training as it stands (InputError if none)."""
    me = call.identity()
    market = call.market()
    return me, market, views.read_training(market.training_market, training_id)


def report(
    call: MarketCall, market: Marketplace, result: TxResult, training_id: int, summary: str
) -> None:
    """A training after a step: its record as JSON, or the summary line and transaction."""
    if call.json_output:
        tm = market.training_market
        emit_json(tm.training(training_id).record(tm.period("idle")))
    else:
        console.print(f"{summary} {tx_note(result.receipt.tx_hash)}", soft_wrap=True)


def deadline_text(training: Training, now: int) -> str:
    """``round in 5m``: which deadline the training waits for, and when."""
    kind = training.deadline_kind
    return "-" if kind is None else f"{kind} {relative_time(training.deadline, now)}"


# datasets -----------------------------------------------------------------------------------
def list_datasets(call: MarketCall) -> None:
    """Every dataset with its split, prices and how many instances are verified."""
    market = call.market()
    tm = market.training_market
    found = [tm.dataset(i) for i in range(1, tm.dataset_count() + 1)]
    names: dict[int, str | None] = {}
    for d in found:
        try:
            names[d.dataset_id] = views.read_manifest(market, d).name
        except MercatoError:  # shown as unknown: the chain state is still worth seeing
            names[d.dataset_id] = None
    if call.json_output:
        emit_json([{**d.record(), "name": names[d.dataset_id]} for d in found])
        return
    if not found:
        console.print("no datasets yet (offer one with `mercato training dataset offer`)")
        return
    table = simple_table(
        "id", "name", "owner", "m x n", "verified", "data price", "job price",
        title=f"{len(found)} dataset(s); prices in ETH",
    )  # fmt: skip
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


def show_dataset(call: MarketCall, dataset_id: int = DatasetArgument) -> None:
    """One dataset: its manifest, every slot's instance and state, and its trainings."""
    from mercato.protocols.training import history

    market = call.market()
    record = views.read_dataset(market.training_market, dataset_id)
    manifest: Manifest | None = None
    problem = ""
    try:
        manifest = views.read_manifest(market, record)
    except MercatoError as exc:
        problem = str(exc)
    slots = [slot.record() for slot in views.read_slots(market, record)]
    trainings = [
        int(e["training_id"])
        for e in history.find(market, "TrainingRequested", dataset_id=dataset_id)
    ]
    if call.json_output:
        emit_json(
            {
                **record.record(),
                "manifest": None if manifest is None else views.manifest_record(manifest),
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
            f"features, classes {list(manifest.classes)}, subset sizes {list(manifest.sizes)}",
            soft_wrap=True,
        )
        if manifest.features:
            console.print(
                f"columns   {', '.join(manifest.features)}; classes "
                f"{', '.join(f'{i} {name}' for i, name in enumerate(manifest.labels))}",
                soft_wrap=True,
                highlight=False,
            )
    else:
        console.print(f"[yellow]manifest unavailable:[/yellow] {problem}")
    table = simple_table("subset", "replica", "instance", "compute provider", "status")
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


def add_dataset_commands(dataset_app: typer.Typer) -> None:
    """Give the ``training dataset`` group what anyone may read: ``list`` and ``show``."""
    common.market_command(dataset_app, "list", acts=False)(list_datasets)
    common.market_command(dataset_app, "show", acts=False)(show_dataset)


# trainings ----------------------------------------------------------------------------------
def list_trainings(call: MarketCall) -> None:
    """Every training with its status, round and current deadline."""
    market = call.market()
    tm = market.training_market
    idle = tm.period("idle")
    found = [tm.training(i) for i in range(1, tm.training_count() + 1)]
    if call.json_output:
        emit_json([t.record(idle) for t in found])
        return
    if not found:
        console.print("no trainings yet (request one with `mercato training request`)")
        return
    now = market.chain.timestamp()
    table = simple_table(
        "id", "status", "model owner", "dataset", "model", "round", "k", "escrow", "deadline",
        title=f"{len(found)} training(s); escrow in ETH",
    )  # fmt: skip
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


def show(call: MarketCall, training_id: int = TrainingArgument) -> None:
    """One training: state, rounds and drawn subsets, jobs, frauds, deadlines and payments."""
    market = call.market()
    detail = views.read_detail(market, views.read_training(market.training_market, training_id))
    document = detail.record()
    if call.json_output:
        emit_json(document)
        return
    print_training(document, market.chain.timestamp())


def add_training_commands(app: typer.Typer) -> None:
    """Give the ``training`` group what anyone may read: ``list`` and ``show``."""
    common.market_command(app, "list", acts=False)(list_trainings)
    common.market_command(app, "show", acts=False)(show)


def print_training(document: dict[str, Any], now: int) -> None:
    """The text view of one training's ``show --json`` document."""
    t = document["training"]
    console.rule(f"[bold]training {t['id']}[/bold]: {t['status']}")
    console.print(f"model owner  {t['mo']} (model {t['model_id']})")
    d = document["dataset"]
    console.print(f"dataset      {d['id']}: {d['subsets']} x {d['replicas']}, owner {d['owner']}")
    console.print(
        f"rounds       {t['round']} of {t['max_rounds']}, {t['subsets_per_round']} subset(s) "
        f"each; drawn now {t['drawn_subsets'] or '-'}; {t['jobs']} job(s) accepted"
    )
    if t["deadline_kind"]:
        console.print(f"deadline     {t['deadline_kind']} {format_deadline(t['deadline'], now)}")
    console.print(f"escrow       {format_ether(t['escrowed'])}, locked {format_ether(t['locked'])}")
    rounds = simple_table("round", "subsets", "jobs", "missing", title="rounds")
    for r in document["rounds"]:
        missing = "-" if r["missing"] is None else str(r["missing"])
        rounds.add_row(str(r["round"]), str(r["subsets"]), str(len(r["jobs"])), missing)
    console.print(rounds)
    for f in document["frauds"]:
        console.print(
            f"[red]fraud[/red] round {f['round']}: instance {f['instance_id']} ({f['co']}) "
            f"forfeited {format_ether(f['forfeited'])} to "
            + (f"instances {f['honest']}" if f["honest"] else "the data owner")
        )
    payments = document["payments"]
    if payments:
        console.print(
            f"payments     data owner {format_ether(payments['paid_owner'])}, compute "
            f"{format_ether(payments['paid_compute'])}, refund {format_ether(payments['refund'])}"
        )
        for co, amount in payments["compute"].items():
            console.print(f"             {co} {format_ether(amount)}")
    console.print(f"[bold]{len(document['events'])} event(s)[/bold]")
    for e in document["events"]:
        console.print(f"  block {e['block']:>6}  {e['name']:<18} {e['summary']}", soft_wrap=True)
