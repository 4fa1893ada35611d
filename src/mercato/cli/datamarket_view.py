"""What anyone may do with a task of ``mercato datamarket``, and the text views.

Anyone moves a task on after a deadline (``advance``, ``claim``), checks a finalised round
(``check``) and reads the tasks (``list``, ``show``).

The views themselves (a task, its rounds, scores, payments and events) are frozen
dataclasses of :mod:`~mercato.protocols.datamarket.views`; ``--json`` prints their
``record()`` (amounts in wei, hashes 0x-hex, members by their index in the task), the text
views here render the same records.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich import box
from rich.table import Table

from mercato.cli.common import (
    AccountOption,
    JsonOption,
    KeystoreOption,
    RpcUrlOption,
    compact_ether,
    console,
    context,
    emit_json,
    format_ether,
    format_time,
    identity,
    refuse,
    relative_time,
    short_address,
    tx_note,
)
from mercato.errors import InputError
from mercato.protocols.datamarket import rules, views
from mercato.protocols.datamarket.views import Mode, Phase, Task, TaskStatus

# The protocol's documents and the chain are imported where they are used, so that
# `mercato --help` loads none of them.
if TYPE_CHECKING:
    from mercato.protocols.datamarket.documents import TaskSpec
    from mercato.protocols.marketplace import Marketplace

TaskArgument = typer.Argument(..., min=1, help="Task id (see `mercato datamarket list`).")


# reading ----------------------------------------------------------------------------------
def load_task(market: Marketplace, task_id: int) -> Task:
    """Task ``task_id``; InputError if there is no such task."""
    return views.read_task(market.data_market, task_id)


def load_spec(market: Marketplace, task_id: int) -> TaskSpec:
    """The task's spec; InputError saying why if it cannot be read."""
    spec, problem = views.read_spec(market, task_id)
    if spec is None:
        raise InputError(f"cannot read the spec of task {task_id} from the blob store: {problem}")
    return spec


def task_after(market: Marketplace, task_id: int) -> dict[str, Any]:
    """The task's record as the chain holds it now (after a step)."""
    return market.data_market.task(task_id).record(views.read_spec(market, task_id)[0])


# anyone's commands ------------------------------------------------------------------------
def advance(
    ctx: typer.Context,
    task_id: int = TaskArgument,
    rpc_url: str = RpcUrlOption,
    account: int = AccountOption,
    keystore: Path = KeystoreOption,
    json_output: bool = JsonOption,
) -> None:
    """After a deadline: cancel a task not full in time, or end a phase without the silent."""
    me = identity(account, keystore)
    market = context(ctx).market(rpc_url)
    task = load_task(market, task_id)
    refuse(rules.advance_problem(task, market.chain.timestamp()))
    result = market.data_market.advance(me.account, task_id)
    if json_output:
        emit_json({**task_after(market, task_id), "left_out": list(task.waiting_for)})
        return
    if task.status is TaskStatus.JOINING:
        text = (
            f"task {task_id} cancelled with {task.joined} of {task.data_owners} joined; "
            f"{compact_ether(task.locked)} ETH refundable to the model owner"
        )
    else:
        text = (
            f"the {task.phase.label} phase of round {task.round} of task {task_id} ended "
            f"without data owner(s) {list(task.waiting_for)}; "
            f"{market.data_market.task(task_id).waiting}"
        )
    console.print(f"{text} {tx_note(result.receipt.tx_hash)}", soft_wrap=True)


def claim(
    ctx: typer.Context,
    task_id: int = TaskArgument,
    rpc_url: str = RpcUrlOption,
    account: int = AccountOption,
    keystore: Path = KeystoreOption,
    json_output: bool = JsonOption,
) -> None:
    """After the model owner missed an aggregation deadline: pay the round's data owners."""
    me = identity(account, keystore)
    market = context(ctx).market(rpc_url)
    task = load_task(market, task_id)
    refuse(rules.claim_problem(task, market.chain.timestamp()))
    result = market.data_market.claim(me.account, task_id)
    expired = result.event("TaskExpired")
    paid, paid_each, refund = (int(expired[k]) for k in ("paid", "paid_each", "refund"))
    if json_output:
        emit_json({**task_after(market, task_id), "paid": paid,
                   "paid_each": paid_each, "refund": refund})  # fmt: skip
        return
    console.print(
        f"task {task_id} expired in round {task.round}: {paid} data owner(s) owed "
        f"{compact_ether(paid_each)} ETH each, {compact_ether(refund)} ETH refundable to the "
        f"model owner; each withdraws with `mercato datamarket withdraw` "
        f"{tx_note(result.receipt.tx_hash)}",
        soft_wrap=True,
    )


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

    market = context(ctx).market(rpc_url)
    dm = market.data_market
    task = load_task(market, task_id)
    finalised = round_number in history.finalised(dm, task_id)
    failed = [e for e in dm.events("RoundFailed", task_id=task_id) if e["round"] == round_number]
    phase = Phase(int(failed[0]["phase"])) if failed else None
    refuse(rules.check_problem(task, round_number, finalised, phase))
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
        emit_json({"task": task_id, "round": round_number, "mode": task.mode.label, "ok": True,
                   "checked": checked})  # fmt: skip
        return
    console.print(f"round {round_number} of task {task_id} checks out: {checked}", soft_wrap=True)


def list_tasks(
    ctx: typer.Context,
    rpc_url: str = RpcUrlOption,
    json_output: bool = JsonOption,
) -> None:
    """Every task with its mode, data owners, round, phase, deadline and reward."""
    market = context(ctx).market(rpc_url)
    records = [
        task.record(views.read_spec(market, task.task_id)[0])
        for task in views.read_tasks(market.data_market)
    ]
    if json_output:
        emit_json(records)
        return
    print_tasks(records, market.chain.timestamp())


def show(
    ctx: typer.Context,
    task_id: int = TaskArgument,
    rpc_url: str = RpcUrlOption,
    json_output: bool = JsonOption,
) -> None:
    """One task: terms, members, and per round who posted, what was used, scores and pay."""
    market = context(ctx).market(rpc_url)
    document = views.read_detail(market, load_task(market, task_id)).record()
    if json_output:
        emit_json(document)
        return
    print_task(document, market.chain.timestamp())


def add_task_commands(app: typer.Typer) -> None:
    """Give the ``datamarket`` group what anyone may do with a task: ``advance``, ``claim``,
    ``check``, ``list`` and ``show``."""
    app.command("advance")(advance)
    app.command("claim")(claim)
    app.command("check")(check)
    app.command("list")(list_tasks)
    app.command("show")(show)


# text views -------------------------------------------------------------------------------
def deadline_text(record: dict[str, Any], now: int) -> str:
    kind = record["deadline_kind"]
    return "-" if kind is None else f"{kind} {relative_time(record['deadline'], now)}"


def mode_text(record: dict[str, Any]) -> str:
    """``robust/multikrum f=1`` or ``secure t=2``."""
    if record["mode"] == Mode.SECURE.label:
        return f"secure t={record['threshold']}"
    return f"robust/{record['rule'] or '?'} f={record['max_excluded']}"


def print_tasks(records: list[dict[str, Any]], now: int) -> None:
    if not records:
        console.print("no tasks yet (post one with `mercato datamarket post`)")
        return
    table = Table(
        title=f"{len(records)} task(s); rewards in ETH", box=box.SIMPLE_HEAD, pad_edge=False
    )
    for column in ("id", "status", "model owner", "mode", "DOs", "round", "phase", "deadline",
                   "reward"):  # fmt: skip
        table.add_column(column, overflow="fold")
    for t in records:
        table.add_row(
            str(t["id"]),
            t["status"],
            short_address(t["mo"]),
            mode_text(t),
            f"{t['joined']}/{t['data_owners']}",
            f"{t['round']}/{t['rounds']}",
            t["phase"] or "-",
            deadline_text(t, now),
            compact_ether(t["reward"]),
        )
    console.print(table)


def _indices(members: list[int] | None) -> str:
    """``0,2,3`` for a list of member indices; ``-`` for none."""
    return ",".join(map(str, members)) if members else "-"


def print_task(document: dict[str, Any], now: int) -> None:
    """The text view of a :class:`~mercato.protocols.datamarket.views.TaskDetail` record."""
    from mercato.storage.base import hash_hex

    t = document["task"]
    console.rule(f"[bold]task {t['id']}[/bold]: {t['status']}")
    console.print(f"model owner  {t['mo']}")
    console.print(
        f"terms        {t['data_owners']} data owners, {t['rounds']} round(s), {mode_text(t)}; "
        f"reward {format_ether(t['reward'])} ({format_ether(t['per_update'])} an update), "
        f"locked {format_ether(t['locked'])}"
    )
    spec = document["spec"]
    if spec is not None:
        console.print(
            f"spec         wants {', '.join(spec['data_classes'])}; {spec['local_epochs']} "
            f"local epoch(s), seed {spec['seed']}, hidden {spec['model'].get('hidden')}"
        )
    else:
        console.print(f"[yellow]spec unavailable:[/yellow] {document['spec_error']}")
    if t["deadline_kind"]:
        console.print(
            f"now          round {t['round']}, {t['deadline_kind']} until "
            f"{format_time(t['deadline'])} ({relative_time(t['deadline'], now)})"
        )
    members = Table(title="data owners", box=box.SIMPLE_HEAD, pad_edge=False)
    for column in ("index", "address", "now", "owed ETH"):
        members.add_column(column, overflow="fold")
    for m in document["members"]:
        members.add_row(
            str(m["index"]), m["address"], m["state"], compact_ether(document["owed"][m["address"]])
        )
    console.print(members)
    rounds = Table(title="rounds", box=box.SIMPLE_HEAD, pad_edge=False)
    for column in ("round", "keys", "shares", "updates", "reveals", "used", "excluded",
                   "paid each ETH", "model"):  # fmt: skip
        rounds.add_column(column, overflow="fold")
    for r in document["rounds"]:
        posts, done = r["posts"], r["finalised"]
        ending = ["-", "-", "-", "-"]
        if done is not None:
            ending = [
                _indices(done["used"]),
                _indices(done["excluded"]),
                compact_ether(done["paid_each"]),
                hash_hex(done["model_hash"])[:12],
            ]
        elif r["failed"] is not None:
            ending = [f"failed in {r['failed']['phase']}", "-", "-", "-"]
        rounds.add_row(
            str(r["round"]),
            *(_indices(posts.get(kind)) for kind in ("keys", "shares", "update", "reveal")),
            *ending,
        )
    console.print(rounds)
    for r in document["rounds"]:
        scores = (r["finalised"] or {}).get("scores")
        if scores:
            text = ", ".join(f"{i}: {s:.4g}" for i, s in scores.items())
            console.print(f"round {r['round']} scores  {text}")
    outcome = document["outcome"]
    if outcome is not None:
        console.print(
            f"outcome      {outcome['status']}: data owners paid {format_ether(outcome['paid'])}, "
            f"refund {format_ether(outcome['refund'])}"
        )
    console.print(f"[bold]{len(document['events'])} event(s)[/bold]")
    for e in document["events"]:
        console.print(f"  block {e['block']:>6}  {e['name']:<16} {e['summary']}", soft_wrap=True)
