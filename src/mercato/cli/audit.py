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

from mercato.audit import AUDITORS, Auditor
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
from mercato.protocols import catalog, readmodel

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


def _add_command(auditor: Auditor) -> None:
    """``mercato audit <command> ID``: run ``auditor`` and print its report."""

    def command(
        ctx: typer.Context,
        ident: int = typer.Argument(..., min=1, help=f"The {auditor.noun}'s id (1, 2, ...)."),
        rpc_url: str = RpcUrlOption,
        account: int = AccountOption,
        keystore: Path = KeystoreOption,
        public: bool = typer.Option(False, "--public", help="Audit with no key, as an outsider."),
        json_output: bool = JsonOption,
    ) -> None:
        me = viewer(account, keystore, public)
        market = context(ctx).market(rpc_url)
        if json_output:
            report = auditor.run(market, ident, me)
            entry = readmodel.pages(catalog.unit(auditor.protocol)).ENTRY_ARG
            emit_json({entry: ident, **report.to_dict()})
            return
        with console.status(f"auditing {auditor.noun} {ident}..."):
            report = auditor.run(market, ident, me)
        _print(report)

    command.__doc__ = auditor.help
    app.command(auditor.command)(command)


for _auditor in AUDITORS:
    if _auditor.available():
        _add_command(_auditor)


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
