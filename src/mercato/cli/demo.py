"""``mercato demo``: every protocol's demo part end to end, in the catalog's order.

Each protocol's unit names its :class:`~mercato.protocols.demo.DemoPart`; this command runs
the parts asked for on one chain and prints what each reported (or one JSON document).
"""

from __future__ import annotations

import tempfile
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from mercato.cli.common import JsonOption, console, context, emit_json
from mercato.errors import InputError
from mercato.protocols.catalog import units

if TYPE_CHECKING:
    from mercato.protocols.demo import DemoPart
    from mercato.protocols.unit import ProtocolUnit

ALL = "all"


def _with_demo() -> list[ProtocolUnit]:
    return [u for u in units() if u.demo]


def _in_words(items: list[str], last: str = "or") -> str:
    """``a, b or c``."""
    return ", ".join(items[:-1]) + f" {last} {items[-1]}" if len(items) > 1 else "".join(items)


_CHOICES = [f"{ALL} (default)", *(f"{u.key} (P{u.number})" for u in _with_demo())]


def demo(
    ctx: typer.Context,
    backend: str = typer.Option(
        None, "--backend", help="embedded (default) or rpc (anvil started for the run)."
    ),
    rpc_url: str = typer.Option(None, "--rpc-url", help="Use this node instead of a new anvil."),
    store: str = typer.Option(None, "--store", help="Blob store: a folder or s3://bucket/prefix."),
    only: str = typer.Option(ALL, "--only", "--part", help=_in_words(_CHOICES) + "."),
    json_output: bool = JsonOption,
) -> None:
    from mercato.chain.factory import connect
    from mercato.protocols.unit import resolve
    from mercato.storage.base import open_store

    parts = [u.key for u in _with_demo()]
    if only not in (ALL, *parts):
        raise InputError(f"--only must be one of {', '.join((ALL, *parts))}, got {only!r}")
    # importing a part loads its scenario (scikit-learn, the compiler): only those asked for
    chosen: list[DemoPart[Any]] = [
        resolve(u.demo) for u in units() if u.demo and only in (ALL, u.key)
    ]

    settings = context(ctx).settings.override(backend=backend, rpc_url=rpc_url)
    reports: list[tuple[DemoPart[Any], Any]] = []
    with ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="mercato-demo-")))
        blob_store = open_store(store or str(work / "blobs"))
        if settings.backend == "rpc" and not settings.rpc_url:
            from mercato.chain.anvil import Anvil

            node = stack.enter_context(Anvil())
            settings = settings.override(rpc_url=node.url)
        chain = connect("rpc" if settings.rpc_url else settings.backend, settings.rpc_url)
        stack.callback(chain.close)
        for part in chosen:
            with console.status(f"running {part.running}..."):
                reports.append((part, part.run(chain, blob_store, work / f"{part.key}-agents")))
    if json_output:
        document: dict[str, object] = {"backend": chain.backend}
        for part, report in reports:
            if part.json_at_top:
                document.update(part.json(report))
            else:
                document[part.key] = part.json(report)
        emit_json(document)
        return
    for part, report in reports:
        resolve(part.text)(report)


demo.__doc__ = (
    "Run "
    + _in_words([f"the {u.label}" for u in _with_demo()], "and")
    + ", each with one agent per participant."
)
