"""What anyone may do with a task of ``mercato datamarket``, and the text views.

Anyone moves a task on after a deadline (``advance``, ``claim``), checks a finalised round
(``check``) and reads the tasks (``list``, ``show``).

The views themselves (a task, its rounds, scores, payments and events) are frozen
dataclasses of :mod:`~mercato.protocols.datamarket.views`; ``--json`` prints their
``record()`` (amounts in wei, hashes 0x-hex, members by their index in the task), the text
views here render the same records.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from mercato.cli import common
from mercato.cli.common import MarketCall, compact_ether, console, emit_json, refuse, tx_note
from mercato.errors import InputError
from mercato.protocols.datamarket import rules, views
from mercato.protocols.datamarket.views import Mode, Phase, Task, TaskStatus
from mercato.units import format_ether

# The protocol's documents and the chain are imported where they are used, so that
# `mercato --help` loads none of them.
if TYPE_CHECKING:
    from mercato.protocols.datamarket.documents import TaskSpec
    from mercato.protocols.identity import Identity
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


def acting(call: MarketCall, task_id: int) -> tuple[Identity, Marketplace, Task]:
    """Who acts, on which market, and the task as it stands (InputError if none)."""
    me = call.identity()
    market = call.market()
    return me, market, load_task(market, task_id)


def state_folder(call: MarketCall, state_dir: Path | None) -> Path:
    """The agent state folder: ``--state-dir``, else the settings'."""
    return state_dir or common.context(call.ctx).settings.agent_dir


def task_after(market: Marketplace, task_id: int) -> dict[str, Any]:
    """The task's record as the chain holds it now (after a step)."""
    return market.data_market.task(task_id).record(views.read_spec(market, task_id)[0])


# anyone's commands ------------------------------------------------------------------------
def advance(call: MarketCall, task_id: int = TaskArgument) -> None:
    """After a deadline: cancel a task not full in time, or end a phase without the silent."""
    me, market, task = acting(call, task_id)
    refuse(rules.advance_problem(task, market.chain.timestamp()))
    result = market.data_market.advance(me.account, task_id)
    if call.json_output:
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


def claim(call: MarketCall, task_id: int = TaskArgument) -> None:
    """After the model owner missed an aggregation deadline: pay the round's data owners."""
    me, market, task = acting(call, task_id)
    refuse(rules.claim_problem(task, market.chain.timestamp()))
    result = market.data_market.claim(me.account, task_id)
    expired = result.event("TaskExpired")
    paid, paid_each, refund = (int(expired[k]) for k in ("paid", "paid_each", "refund"))
    if call.json_output:
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
    call: MarketCall,
    task_id: int = TaskArgument,
    round_number: int = typer.Argument(..., min=1, help="A finalised round of the task."),
) -> None:
    """Check a finalised round from public data; exit 1 if the model owner finalised it wrong."""
    from mercato.protocols.datamarket import history
    from mercato.protocols.datamarket.aggregation import check_round

    market = call.market()
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
    if call.json_output:
        emit_json({"task": task_id, "round": round_number, "mode": task.mode.label, "ok": True,
                   "checked": checked})  # fmt: skip
        return
    console.print(f"round {round_number} of task {task_id} checks out: {checked}", soft_wrap=True)


def list_tasks(call: MarketCall) -> None:
    """Every task with its mode, data owners, round, phase, deadline and reward."""
    market = call.market()
    records = [
        task.record(views.read_spec(market, task.task_id)[0])
        for task in views.read_tasks(market.data_market)
    ]
    if call.json_output:
        emit_json(records)
        return
    print_tasks(records, market.chain.timestamp())


def show(call: MarketCall, task_id: int = TaskArgument) -> None:
    """One task: terms, members, and per round who posted, what was used, scores and pay."""
    market = call.market()
    document = views.read_detail(market, load_task(market, task_id)).record()
    if call.json_output:
        emit_json(document)
        return
    print_task(document, market.chain.timestamp())


def add_task_commands(app: typer.Typer) -> None:
    """Give the ``datamarket`` group what anyone may do with a task: ``advance``, ``claim``,
    ``check``, ``list`` and ``show``."""
    common.market_command(app, "advance")(advance)
    common.market_command(app, "claim")(claim)
    common.market_command(app, "check", acts=False)(check)
    common.market_command(app, "list", acts=False)(list_tasks)
    common.market_command(app, "show", acts=False)(show)


# text views -------------------------------------------------------------------------------
def deadline_text(record: dict[str, Any], now: int) -> str:
    kind = record["deadline_kind"]
    return "-" if kind is None else f"{kind} {common.relative_time(record['deadline'], now)}"


def mode_text(record: dict[str, Any]) -> str:
    """``robust/multikrum f=1 >15x`` (outliers beyond 15x the median) or ``secure t=2``."""
    if record["mode"] == Mode.SECURE.label:
        return f"secure t={record['threshold']}"
    outliers = f" >{record['outlier_multiple']:g}x" if record.get("outlier_multiple") else ""
    return f"robust/{record['rule'] or '?'} f={record['max_excluded']}{outliers}"


def print_tasks(records: list[dict[str, Any]], now: int) -> None:
    if not records:
        console.print("no tasks yet (post one with `mercato datamarket post`)")
        return
    title = f"{len(records)} task(s); rewards in ETH"
    table = common.simple_table("id", "status", "model owner", "mode", "DOs", "round", "phase",
                                "deadline", "reward", title=title)  # fmt: skip
    for t in records:
        table.add_row(
            str(t["id"]),
            t["status"],
            common.short_address(t["mo"]),
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
        if spec.get("features") is not None:
            console.print(
                f"inputs       {len(spec['features'])} named features, classes "
                f"{', '.join(spec['classes'])}; data owners join with their own file (--data)",
                soft_wrap=True,
            )
    else:
        console.print(f"[yellow]spec unavailable:[/yellow] {document['spec_error']}")
    if t["deadline_kind"]:
        console.print(
            f"now          round {t['round']}, {t['deadline_kind']} until "
            f"{common.format_time(t['deadline'])} ({common.relative_time(t['deadline'], now)})"
        )
    members = common.simple_table("index", "address", "now", "owed ETH", title="data owners")
    for m in document["members"]:
        members.add_row(
            str(m["index"]), m["address"], m["state"], compact_ether(document["owed"][m["address"]])
        )
    console.print(members)
    rounds = common.simple_table("round", "keys", "shares", "updates", "reveals", "used",
                                 "excluded", "paid each ETH", "model", title="rounds")  # fmt: skip
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


def print_rounds(reported: Mapping[str, Any]) -> None:
    """What each round of a taken model did, one line each (``datamarket model``)."""
    before, after = reported.get("accuracy_before"), reported.get("accuracy_after")
    if isinstance(before, float) and isinstance(after, float):
        console.print(f"your private head: {before:.1%} before the market, {after:.1%} after")
    for entry in reported.get("rounds", []):
        accuracy = entry.get("accuracy")
        measured = "" if accuracy is None else f"public model accuracy {accuracy:.1%}, "
        excluded = ", ".join(entry["excluded"]) or "none"
        console.print(
            f"round {entry['round']}: {measured}{len(entry['used'])} update(s) used, excluded "
            f"{excluded}, {entry['paid_each']} to each used",
            soft_wrap=True,
            highlight=False,
        )
