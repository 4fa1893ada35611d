"""``mercato audit ...``: independent checks of the ledger and the blobs.

An audit changes nothing. It reads the chain and the blob store and, to open sealed blobs,
uses the key of the account it runs as (``--account``, ``--keystore`` or
``MERCATO_PRIVATE_KEY``); ``--public`` (or no key at all) audits as an outsider. Finding
cheating is a successful audit: the exit status is 0 either way, and 1 only for bad input.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich import box
from rich.table import Table

from mercato.cli.common import (
    AccountOption,
    JsonOption,
    KeystoreOption,
    RpcUrlOption,
    console,
    context,
    emit_json,
    identity,
)
from mercato.errors import InputError

if TYPE_CHECKING:
    from mercato.audit.report import AuditReport
    from mercato.protocols.identity import Identity

app = typer.Typer(help="Independent checks of the ledger and the blobs.", no_args_is_help=True)

VERDICT_STYLES = {"pass": "green", "fail": "bold red", "not checkable": "yellow"}
MAX_LINES = 6
"""Evidence lines shown per check in the table (--json has them all)."""


def viewer(account: int | None, keystore: Path | None, public: bool) -> Identity | None:
    """Whose keys open sealed blobs: the account given, else MERCATO_PRIVATE_KEY, else none."""
    from mercato.chain.accounts import KEY_ENV

    if public:
        if account is not None or keystore is not None:
            raise InputError("pass either --public or --account/--keystore, not both")
        return None
    if account is None and keystore is None and not os.environ.get(KEY_ENV):
        return None
    return identity(account, keystore)


@app.command("training")
def training(
    ctx: typer.Context,
    training_id: int = typer.Argument(..., min=1, help="Training id (TrainingRequested)."),
    rpc_url: str = RpcUrlOption,
    account: int = AccountOption,
    keystore: Path = KeystoreOption,
    public: bool = typer.Option(False, "--public", help="Audit with no key, as an outsider."),
    json_output: bool = JsonOption,
) -> None:
    """Answer each question of Somy et al. II-D for one P2 training: pass, or who cheated."""
    from mercato.audit.training import audit_training  # imports the ML stack: slow

    me = viewer(account, keystore, public)
    market = context(ctx).market(rpc_url)
    if json_output:
        report = audit_training(market, training_id, me)
        emit_json({"training_id": training_id, **report.to_dict()})
        return
    with console.status(f"auditing training {training_id}..."):
        report = audit_training(market, training_id, me)
    _print(report)


def _print(report: AuditReport) -> None:
    if report.viewer is None:
        who = "as the public (no key)"
    else:
        roles = ", ".join(report.viewer_roles) or "no role in it"
        who = f"as {report.viewer} ({roles})"
    console.rule(f"[bold]audit of {report.subject}[/bold] ({report.status}) {who}")
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_lines=True)
    table.add_column("#", justify="right")
    table.add_column("question", ratio=2, overflow="fold")
    table.add_column("verdict", no_wrap=True)
    table.add_column("evidence", ratio=3, overflow="fold")
    for check in report.checks:
        lines = list(check.lines)
        if check.verdict.value == "pass":
            lines += [f"not checked: {u}" for u in check.unchecked]
        lines += check.notes
        if len(lines) > MAX_LINES:
            lines = [*lines[: MAX_LINES - 1], f"... and {len(lines) - MAX_LINES + 1} more (--json)"]
        style = VERDICT_STYLES[check.verdict.value]
        question = check.question + (f"\n[dim]{check.paper}[/dim]" if check.paper else "")
        table.add_row(
            str(check.number),
            question,
            f"[{style}]{check.verdict.label}[/{style}]",
            "\n".join(lines),
        )
    console.print(table)
    style = "green" if report.passed else "bold red"
    console.print(f"[{style}]{report.summary()}[/{style}]", soft_wrap=True)
