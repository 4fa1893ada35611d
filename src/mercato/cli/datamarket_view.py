"""What ``mercato datamarket`` prints and what it keeps between commands.

Printed: JSON-ready records of tasks and rounds (amounts in wei, hashes 0x-hex, members by
their index in the task) and the text views of them.

Kept, in the agent state folder (``--state-dir``), one JSON file per account:

- ``datamarket-heads-<address>.json``: the model owner's private head of each task it
  posted (the chain only ever sees the public part), the cut of the sample dataset its own
  slice came from, and the accuracy before and after; ``datamarket finish`` and the
  ``market-model-owner`` agent read it;
- ``datamarket-parts-<address>.json``: which part of which cut a data owner joined each task
  with, so ``datamarket act`` finds its data again.

Entries are keyed by ``<data market address>/<task id>``; a head also names the public model
it was trained with, so a head of another deployment at the same address is refused.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from rich import box
from rich.table import Table

from mercato.cli.common import (
    compact_ether,
    console,
    format_ether,
    format_time,
    relative_time,
    short_address,
)
from mercato.errors import ConfigError, InputError, MercatoError

# The protocol is imported where it is used, so that `mercato --help` does not load it.
if TYPE_CHECKING:
    from mercato.chain.contract import Event
    from mercato.ml.federated_sim import MarketData
    from mercato.protocols.datamarket.documents import TaskSpec
    from mercato.protocols.datamarket.market import Mode, Task
    from mercato.protocols.marketplace import Marketplace

HEADS_FILE = "datamarket-heads-{address}.json"
PARTS_FILE = "datamarket-parts-{address}.json"
FILES_VERSION = 1
TASK_EVENTS = frozenset(
    {
        "TaskPosted",
        "Joined",
        "TaskCancelled",
        "PhaseStarted",
        "KeysPosted",
        "SharesPosted",
        "UpdateSubmitted",
        "SharesRevealed",
        "RoundFinalised",
        "RoundFailed",
        "TaskFinished",
        "TaskExpired",
    }
)
"""The data market's events about one task: each has the task id as first indexed argument."""


# the simulated data -----------------------------------------------------------------------
@cache
def market_cut(dataset: str, data_owners: int, seed: int) -> MarketData:
    """The sample dataset cut for a task of ``data_owners`` DOs: MO slice, DO parts, test.

    The MO's slice and the test split depend on ``dataset`` and ``seed`` only, so a DO that
    uses the seed the task was posted with never holds the MO's examples.
    """
    from mercato.ml.datasets import load_dataset
    from mercato.ml.federated_sim import market_data
    from mercato.ml.seed import check_seed

    load_dataset(dataset)  # an unknown name or seed is said as such, not as a failed cut
    check_seed(seed)
    try:
        return market_data(dataset, data_owners, seed=seed)
    except InputError as exc:
        raise InputError(
            f"{dataset} cannot be cut into parts for {data_owners} data owners with seed "
            f"{seed}; try another number of data owners or seed ({exc})"
        ) from None


# local files ----------------------------------------------------------------------------
@dataclass(frozen=True)
class OwnerHead:
    """What a model owner keeps of a task it posted; weights are hex of MCWT bytes."""

    dataset: str
    seed: int
    model_hash: str
    """The task's public model when posted: the head was pretrained with it."""
    pretrained: str
    accuracy_before: float
    tuned: str | None = None
    accuracy_after: float | None = None


@dataclass(frozen=True)
class JoinedPart:
    """The part of a cut a data owner joined a task with."""

    dataset: str
    part: int
    data_owners: int
    seed: int


Entry = TypeVar("Entry", OwnerHead, JoinedPart)


def task_key(market: Marketplace, task_id: int) -> str:
    """The key of a task's entry in the local files."""
    return f"{market.data_market.address.lower()}/{task_id}"


def task_of(market: Marketplace, key: str) -> int | None:
    """The task id of an entry key if the entry belongs to this market, else None."""
    prefix, _, task = key.rpartition("/")
    same = prefix == market.data_market.address.lower() and task.isdigit()
    return int(task) if same else None


def heads_file(folder: Path, address: str) -> Path:
    return folder / HEADS_FILE.format(address=address.lower())


def parts_file(folder: Path, address: str) -> Path:
    return folder / PARTS_FILE.format(address=address.lower())


def read_heads(folder: Path, address: str) -> dict[str, OwnerHead]:
    """The model owner's heads by task key (empty if it recorded none)."""
    return _read(heads_file(folder, address), "heads", OwnerHead)


def read_parts(folder: Path, address: str) -> dict[str, JoinedPart]:
    """The data owner's parts by task key (empty if it recorded none)."""
    return _read(parts_file(folder, address), "parts", JoinedPart)


def record_head(folder: Path, address: str, key: str, head: OwnerHead) -> Path:
    return _record(heads_file(folder, address), "heads", OwnerHead, key, head)


def record_part(folder: Path, address: str, key: str, part: JoinedPart) -> Path:
    return _record(parts_file(folder, address), "parts", JoinedPart, key, part)


def _read(path: Path, field: str, kind: Callable[..., Entry]) -> dict[str, Entry]:
    try:
        document = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"cannot read the data market {field} in {path}: {exc}") from None
    if not isinstance(document, dict) or document.get("version") != FILES_VERSION:
        raise ConfigError(f"{path} is not a data market {field} file of version {FILES_VERSION}")
    entries = document.get(field)
    if not isinstance(entries, dict):
        raise ConfigError(f"{path}: '{field}' must be a JSON object")
    try:
        return {str(key): kind(**value) for key, value in entries.items()}
    except TypeError as exc:
        raise ConfigError(f"{path}: malformed entry: {exc}") from None


def _record(path: Path, field: str, kind: Callable[..., Entry], key: str, entry: Entry) -> Path:
    """Add or replace one entry (the file is written whole to a temporary file, then renamed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    entries = _read(path, field, kind)
    entries[key] = entry
    document = {
        "version": FILES_VERSION,
        field: {k: asdict(v) for k, v in sorted(entries.items())},
    }
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(handle, "w") as out:
            out.write(json.dumps(document, indent=2) + "\n")
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


# records ----------------------------------------------------------------------------------
def read_spec(market: Marketplace, task_id: int) -> tuple[TaskSpec | None, str | None]:
    """The task's spec, or None and why it cannot be read (the chain's view still shows)."""
    from mercato.protocols.datamarket.data_owner import load_spec

    try:
        return load_spec(market, task_id), None
    except MercatoError as exc:
        return None, str(exc)


def deadline_kind(task: Task) -> str | None:
    """What the task's deadline ends: ``join``, a phase's name, or None once it is over."""
    from mercato.protocols.datamarket.market import TaskStatus

    if task.status is TaskStatus.JOINING:
        return "join"
    if task.status is TaskStatus.RUNNING:
        return task.phase.label
    return None


def task_record(task: Task, spec: TaskSpec | None) -> dict[str, Any]:
    """A task as the chain holds it (and its rule, from the spec)."""
    from mercato.protocols.datamarket.market import Mode, Phase, TaskStatus

    running = task.status is TaskStatus.RUNNING
    # in AGGREGATE every submitter is "active and not done", yet only the MO has to act
    waiting = running and task.phase is not Phase.AGGREGATE
    return {
        "id": task.task_id,
        "status": task.status.label,
        "mo": task.mo,
        "mode": task.mode.label,
        "rule": None if spec is None else spec.rule,
        "threshold": task.threshold if task.mode is Mode.SECURE else None,
        "max_excluded": task.max_excluded if task.mode is Mode.ROBUST else None,
        "data_owners": task.data_owners,
        "joined": task.joined,
        "rounds": task.rounds,
        "round": task.round,
        "phase": task.phase.label if running else None,
        "active": list(task.active_members) if running else [],
        "waiting_for": list(task.waiting_for) if waiting else [],
        "deadline": task.deadline if deadline_kind(task) else None,
        "deadline_kind": deadline_kind(task),
        "phase_period": task.phase_period,
        "aggregate_period": task.aggregate_period,
        "reward": task.reward,
        "per_update": task.per_update,
        "locked": task.locked,
    }


def spec_record(spec: TaskSpec) -> dict[str, Any]:
    return {
        "data_classes": list(spec.data_classes),
        "model": spec.model,
        "local_epochs": spec.local_epochs,
        "seed": spec.seed,
        "rule": spec.rule,
    }


def task_events(market: Marketplace, task_id: int) -> list[Event]:
    """The task's events in chain order, in one query filtered by the node on the task id."""
    dm = market.data_market
    topic = dm.contract.abi.event_topics("TaskPosted", task_id=task_id)[1]
    logs = market.chain.get_logs(market.deployment.block, None, dm.address, [None, topic])
    return [e for e in dm.contract.decode_logs(logs) if e.name in TASK_EVENTS]


def round_records(events: list[Event], mode: Mode) -> list[dict[str, Any]]:
    """Per round: who posted in each phase, and how it ended (finalised or failed)."""
    from mercato.protocols.datamarket import history
    from mercato.protocols.datamarket.market import SCORE_SCALE, Mode, Phase, members_of

    rounds: dict[int, dict[str, Any]] = {}

    def of(number: int) -> dict[str, Any]:
        return rounds.setdefault(
            number,
            {"round": number, "posts": {}, "finalised": None, "failed": None},
        )

    kinds = {event: kind for kind, event in history.POSTS.items()}
    for e in events:
        if e.name == "Joined" and mode is Mode.SECURE:  # round 1's keys come with the joins
            of(1)["posts"].setdefault("keys", []).append(int(e["index"]))
        elif e.name in kinds:
            of(int(e["round"]))["posts"].setdefault(kinds[e.name], []).append(int(e["index"]))
        elif e.name == "RoundFinalised":
            submitters = members_of(int(e["used"]) | int(e["excluded"]))
            of(int(e["round"]))["finalised"] = {
                "model_hash": e["model_hash"],
                "aggregate_hash": e["aggregate_hash"],
                "used": list(members_of(int(e["used"]))),
                "excluded": list(members_of(int(e["excluded"]))),
                "scores": {
                    str(i): s / SCORE_SCALE for i, s in zip(submitters, e["scores"], strict=False)
                },
                "paid_each": int(e["paid_each"]),
            }
        elif e.name == "RoundFailed":
            of(int(e["round"]))["failed"] = {
                "phase": Phase(int(e["phase"])).label,
                "remaining": int(e["remaining"]),
            }
    return [rounds[r] for r in sorted(rounds)]


def outcome_record(events: list[Event]) -> dict[str, Any] | None:
    """How the task ended, once it did: what went back to the MO, what the DOs were paid."""
    from mercato.protocols.datamarket.market import members_of

    paid = sum(
        int(e["paid_each"]) * len(members_of(int(e["used"])))
        for e in events
        if e.name == "RoundFinalised"
    )
    for e in events:
        if e.name == "TaskCancelled":
            return {"status": "cancelled", "paid": 0, "refund": int(e["refund"])}
        if e.name == "TaskFinished":
            return {"status": "finished", "paid": paid, "refund": int(e["refund"])}
        if e.name == "TaskExpired":
            claimed = int(e["paid"]) * int(e["paid_each"])
            return {"status": "expired", "paid": paid + claimed, "refund": int(e["refund"])}
    return None


def member_state(task: Task, index: int) -> str:
    """Where member ``index`` stands in the current phase."""
    from mercato.protocols.datamarket.market import Phase, TaskStatus

    if task.status is not TaskStatus.RUNNING:
        return "-"
    if index not in task.active_members:
        return "dropped"
    if task.phase is Phase.AGGREGATE:
        return "submitted"
    return "waiting" if index in task.waiting_for else "posted"


def describe(event: Event) -> str:
    """One line saying what a task event means."""
    from mercato.protocols.datamarket import history
    from mercato.protocols.datamarket.market import Mode, Phase, members_of

    name = event.name
    if name == "TaskPosted":
        return (
            f"posted by {event['mo']}: {event['data_owners']} data owners, {event['rounds']} "
            f"round(s), {Mode(int(event['mode'])).label}; {format_ether(event['reward'])} locked"
        )
    if name == "Joined":
        return f"data owner {event['index']} joined: {event['data_owner']}"
    if name == "TaskCancelled":
        return (
            f"cancelled with {event['joined']} joined; {format_ether(event['refund'])} "
            "refundable to the model owner"
        )
    if name == "PhaseStarted":
        return (
            f"round {event['round']}: {Phase(int(event['phase'])).label} phase for data owners "
            f"{list(members_of(int(event['active'])))}"
        )
    if name in history.POSTS.values():
        kind = next(k for k, v in history.POSTS.items() if v == name)
        return f"round {event['round']}: data owner {event['index']} posted its {kind}"
    if name == "RoundFinalised":
        return (
            f"round {event['round']} finalised: used {list(members_of(int(event['used'])))}, "
            f"excluded {list(members_of(int(event['excluded'])))}, "
            f"{format_ether(event['paid_each'])} each"
        )
    if name == "RoundFailed":
        return (
            f"round {event['round']} failed in its {Phase(int(event['phase'])).label} phase: "
            f"{event['remaining']} data owner(s) left"
        )
    if name == "TaskFinished":
        return f"finished; {format_ether(event['refund'])} refundable to the model owner"
    if name == "TaskExpired":
        return (
            f"expired in round {event['round']}: {event['paid']} data owner(s) claimed "
            f"{format_ether(event['paid_each'])} each; {format_ether(event['refund'])} refundable"
        )
    return name


def task_document(market: Marketplace, task: Task) -> dict[str, Any]:
    """Everything ``datamarket show --json`` prints about one task.

    ``owed`` is what the data market owes the MO and each member now, over all its tasks.
    """
    dm = market.data_market
    spec, problem = read_spec(market, task.task_id)
    events = task_events(market, task.task_id)
    members = dm.members(task.task_id)
    posted = next((e for e in events if e.name == "TaskPosted"), None)
    return {
        "task": task_record(task, spec),
        "spec": None if spec is None else spec_record(spec),
        "spec_error": problem,
        "model_hash": None if posted is None else posted["model_hash"],
        "members": [
            {"index": i, "address": a, "state": member_state(task, i)}
            for i, a in enumerate(members)
        ],
        "rounds": round_records(events, task.mode),
        "outcome": outcome_record(events),
        "owed": {a: dm.owed(a) for a in dict.fromkeys([task.mo, *members])},
        "events": [
            {"name": e.name, "block": e.block_number, "tx": e.tx_hash, "summary": describe(e)}
            for e in events
        ],
    }


# text views -------------------------------------------------------------------------------
def deadline_text(record: dict[str, Any], now: int) -> str:
    kind = record["deadline_kind"]
    return "-" if kind is None else f"{kind} {relative_time(record['deadline'], now)}"


def mode_text(record: dict[str, Any]) -> str:
    """``robust/multikrum f=1`` or ``secure t=2``."""
    from mercato.protocols.datamarket.market import Mode

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
    """The text view of :func:`task_document`."""
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


def require_readable(spec: TaskSpec | None, problem: str | None, task_id: int) -> TaskSpec:
    """The spec, or InputError saying why it cannot be read."""
    if spec is None:
        raise InputError(f"cannot read the spec of task {task_id} from the blob store: {problem}")
    return spec
