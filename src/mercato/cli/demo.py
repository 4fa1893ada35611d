"""``mercato demo``: every protocol's demo part end to end, in the catalog's order.

Each protocol's unit names its :class:`~mercato.protocols.demo.DemoPart`; this command runs
the parts asked for on one chain and prints what each reported (or one JSON document). With
``--serve`` it then serves the dashboard and the API over the markets the parts deployed (one
per protocol) until Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import socket
import sys
import tempfile
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from mercato.chain.base import Chain
from mercato.cli.common import JsonOption, console, context, emit_json, err_console
from mercato.cli.serve import DEFAULT_HOST, DEFAULT_PORT
from mercato.errors import InputError
from mercato.protocols.catalog import units
from mercato.protocols.deployment import Deployment

if TYPE_CHECKING:
    from mercato.protocols.demo import DemoPart
    from mercato.protocols.marketplace import Marketplace
    from mercato.protocols.unit import ProtocolUnit
    from mercato.storage.base import BlobStore

ALL = "all"
USAGE_STATUS = 2
"""The exit status of a command line that cannot run (as click's usage errors)."""


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
    serve: bool = typer.Option(
        False,
        "--serve",
        help="Then serve the dashboard and API over the demo's markets until "
        "Ctrl-C (rpc backend: anvil unless --rpc-url).",
    ),
    port: int = typer.Option(
        DEFAULT_PORT,
        "--port",
        min=0,
        max=65535,
        help="With --serve: the port on 127.0.0.1 (0: a free one).",
    ),
) -> None:
    from mercato.chain.factory import connect
    from mercato.protocols.apimarket.endpoints import bind
    from mercato.protocols.unit import resolve
    from mercato.storage.base import open_store

    parts = [u.key for u in _with_demo()]
    if only not in (ALL, *parts):
        raise InputError(f"--only must be one of {', '.join((ALL, *parts))}, got {only!r}")
    if serve and backend is None and rpc_url is None:
        backend = "rpc"  # the markets outlive the demo on a node, not inside this process
    settings = context(ctx).settings.override(backend=backend, rpc_url=rpc_url)
    if serve and settings.backend != "rpc" and not settings.rpc_url:
        err_console.print(
            f"[red]error:[/red] --serve needs the rpc backend, not {settings.backend}: "
            "drop --backend, or give --backend rpc or --rpc-url",
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(USAGE_STATUS)
    # importing a part loads its scenario (scikit-learn, the compiler): only those asked for
    chosen: list[DemoPart[Any]] = [
        resolve(u.demo) for u in units() if u.demo and only in (ALL, u.key)
    ]

    reports: list[tuple[DemoPart[Any], Any]] = []
    with ExitStack() as stack:
        if serve:  # a taken port fails now, not after minutes of demo
            sock, url = bind(DEFAULT_HOST, port)
            stack.callback(sock.close)
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="mercato-demo-")))
        blob_store = open_store(store or str(work / "blobs"))
        if settings.backend == "rpc" and not settings.rpc_url:
            from mercato.chain.anvil import Anvil

            node = stack.enter_context(Anvil())
            settings = settings.override(rpc_url=node.url)
        chain = connect("rpc" if settings.rpc_url else settings.backend, settings.rpc_url)
        stack.callback(chain.close)
        deployments: dict[str, Deployment] = {}
        for part in chosen:
            with console.status(f"running {part.running}..."):
                reports.append((part, part.run(chain, blob_store, work / f"{part.key}-agents")))
            if serve:
                deployments[part.key] = _deployment_of(work / f"{part.key}-agents")
        if not serve:
            _print(reports, chain.backend, json_output)
            return
        markets = _markets(chain, deployments, blob_store)
        address = f"{url}/"
        line = f"dashboard at {address} (API: {url}/api); Ctrl-C stops"

        def announce() -> None:
            if json_output:  # stdout stays one JSON document; the line goes to stderr
                served: dict[str, object] = {
                    "dashboard": address,
                    "node": settings.rpc_url,
                    "deployments": {key: d.record() for key, d in deployments.items()},
                }
                _print(reports, chain.backend, json_output, served)
                print(line, file=sys.stderr, flush=True)
            else:
                _print(reports, chain.backend, json_output)
                print(line, flush=True)  # flushed: a parent process waits for it on a pipe

        _serve(markets, sock, announce)


def _print(
    reports: list[tuple[DemoPart[Any], Any]],
    backend: str,
    json_output: bool,
    served: dict[str, object] | None = None,
) -> None:
    """What each part reported, for people or as one JSON document (with, when it serves,
    the dashboard's address, the node's URL and each protocol's deployment)."""
    from mercato.protocols.unit import resolve

    if json_output:
        document: dict[str, object] = {"backend": backend}
        for part, report in reports:
            if part.json_at_top:
                document.update(part.json(report))
            else:
                document[part.key] = part.json(report)
        document.update(served or {})
        emit_json(document)
        sys.stdout.flush()
        return
    for part, report in reports:
        resolve(part.text)(report)


def _deployment_of(folder: Path) -> Deployment:
    """The market a demo part deployed: the one deployment file its work folder holds."""
    from mercato.protocols.demo import DEPLOYMENT_FILE

    found = sorted(folder.rglob(DEPLOYMENT_FILE))
    if len(found) != 1:
        raise InputError(f"{folder} holds {len(found)} deployment files, not one: nothing to serve")
    return Deployment.load(found[0])


def _markets(
    chain: Chain, deployments: dict[str, Deployment], store: BlobStore
) -> dict[str, Marketplace]:
    """The market of each protocol key: the one its demo part deployed (a protocol whose part
    did not run, under ``--only``, is read on the first part's market, where it has nothing)."""
    from mercato.protocols.marketplace import Marketplace

    ran = {key: Marketplace(chain, d, store) for key, d in deployments.items()}
    first = next(iter(ran.values()))
    return {u.key: ran.get(u.key, first) for u in units()}


def _constant(market: Marketplace) -> Callable[[], Marketplace]:
    return lambda: market


def _serve(
    markets: dict[str, Marketplace], sock: socket.socket, announce: Callable[[], None]
) -> None:
    """The dashboard and API over ``markets`` until Ctrl-C or SIGTERM."""
    from mercato.cli.serve import serve_until_stopped
    from mercato.web.app import Reader

    reader = Reader({key: _constant(market) for key, market in markets.items()})
    serve_until_stopped(reader, sock, announce)


demo.__doc__ = (
    "Run "
    + _in_words([f"the {u.label}" for u in _with_demo()], "and")
    + ", each with one agent per participant."
)
