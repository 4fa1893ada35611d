"""``mercato serve``: the read-only HTTP API over a deployed market, until Ctrl-C or SIGTERM."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

import typer

from mercato.cli import common
from mercato.cli.common import RpcUrlOption

if TYPE_CHECKING:
    from mercato.protocols.marketplace import Marketplace

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000

HostOption = typer.Option(DEFAULT_HOST, "--host", help="Address to listen on.")
PortOption = typer.Option(
    DEFAULT_PORT, "--port", min=0, max=65535, help="Port to listen on (0: a free one)."
)


def _check_market(market: Marketplace) -> None:
    """Read every protocol's contract once: ChainError now, not at the first request, if the
    node is down or the deployment is not on it."""
    from mercato.protocols.catalog import units

    for unit in units():
        market.wrapper(unit.field).count()


def serve_command(
    ctx: typer.Context,
    rpc_url: str = RpcUrlOption,
    host: str = HostOption,
    port: int = PortOption,
) -> None:
    """Serve the market read-only over HTTP: JSON at /api/..., the OpenAPI document at
    /openapi.json. Runs until Ctrl-C or SIGTERM."""
    from mercato.agents.process import stop_on_signals
    from mercato.protocols.apimarket.endpoints import bind
    from mercato.protocols.apimarket.serving import BackgroundServer
    from mercato.web.app import create_app

    market = common.context(ctx).market(rpc_url)
    stop = threading.Event()
    try:
        _check_market(market)
        sock, url = bind(host, port)
        # uvicorn serves in a thread; this one waits for Ctrl-C or SIGTERM, then stops it
        # gracefully and exits 0 (uvicorn in the main thread re-raises the signal instead)
        with stop_on_signals(stop, "serve"):
            server = BackgroundServer(create_app(lambda: market), sock)
            try:
                # flushed: a parent process waits for this line on a pipe
                print(f"serving the market at {url}/api (OpenAPI: {url}/openapi.json); "
                      "Ctrl-C stops", flush=True)  # fmt: skip
                stop.wait()
            finally:
                server.stop()
    finally:
        market.chain.close()
