"""``mercato serve``: the read-only HTTP API and dashboard over a deployed market, until Ctrl-C
or SIGTERM. :func:`serve_until_stopped` is that serving loop, which ``mercato demo --serve``
runs too."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

import typer

from mercato.cli import common
from mercato.cli.common import RpcUrlOption

if TYPE_CHECKING:
    from mercato.protocols.marketplace import Marketplace
    from mercato.web.app import Reader

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000

HostOption = typer.Option(DEFAULT_HOST, "--host", help="Address to listen on.")
PortOption = typer.Option(
    DEFAULT_PORT, "--port", min=0, max=65535, help="Port to listen on (0: a free one)."
)


def check_market(market: Marketplace) -> None:
    """Read every protocol's contract once: ChainError now, not at the first request, if the
    node is down or the deployment is not on it."""
    from mercato.protocols.catalog import units

    for unit in units():
        market.wrapper(unit.field).count()


def serve_until_stopped(reader: Reader, sock: socket.socket, announce: Callable[[], None]) -> None:
    """Serve the API and dashboard over ``reader`` on ``sock``, call ``announce`` once it
    serves, and return on Ctrl-C or SIGTERM (the server stopped, the socket closed)."""
    from mercato.agents.process import stop_on_signals
    from mercato.protocols.apimarket.serving import BackgroundServer
    from mercato.web.app import create_app

    stop = threading.Event()
    # uvicorn serves in a thread; this one waits for Ctrl-C or SIGTERM, then stops it
    # gracefully and returns (uvicorn in the main thread re-raises the signal instead)
    with sock, stop_on_signals(stop, "serve"):
        server = BackgroundServer(create_app(reader), sock)
        try:
            announce()
            stop.wait()
        finally:
            server.stop()


def serve_command(
    ctx: typer.Context,
    rpc_url: str = RpcUrlOption,
    host: str = HostOption,
    port: int = PortOption,
) -> None:
    """Serve the market read-only over HTTP: the dashboard at /, JSON at /api/..., the
    OpenAPI document at /openapi.json. Runs until Ctrl-C or SIGTERM."""
    from mercato.protocols.apimarket.endpoints import bind
    from mercato.web.app import Reader

    market = common.context(ctx).market(rpc_url)
    try:
        check_market(market)
        sock, url = bind(host, port)

        def announce() -> None:
            # flushed: a parent process waits for this line on a pipe
            print(f"serving the market at {url}/api (OpenAPI: {url}/openapi.json, "
                  f"dashboard: {url}/); Ctrl-C stops", flush=True)  # fmt: skip

        serve_until_stopped(Reader.of(lambda: market), sock, announce)
    finally:
        market.chain.close()
