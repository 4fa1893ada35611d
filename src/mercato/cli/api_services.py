"""``mercato vendor serve`` and ``mercato orchestrator serve``: P5's services as processes.

Each runs one API's HTTP service in this process beside the party's agent, against a node,
until SIGTERM or Ctrl-C, and then stops cleanly:

- a vendor opens the component sealed to it in the API document (checked against the model
  root), serves it, prints its URL, joins with the URL sealed to the orchestrator unless it
  joined already (started again, it serves at the URL it joined with: the contract takes
  it once), then claims left-out steps, sits in dispute committees and withdraws;
- the orchestrator accepts the API unless it did, waits until every slot joined, opens the
  vendors' sealed endpoints, serves consumers (chain time and deposits read live), prints its
  URL, then commits each epoch's batch, answers claims and challenges and withdraws.

The agent's cursor and state are kept in ``--state`` (default: the settings' agent folder)
under the same name ``mercato agent run`` gives the account's agent, so a restarted service
carries on. This module parses and prints: the services and the agents' duties are in
:mod:`mercato.protocols.apimarket.roles` and :mod:`mercato.protocols.apimarket.agents`.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlsplit

import typer

from mercato.agents.polling import DEFAULT_POLL_INTERVAL, MAX_POLL_INTERVAL
from mercato.cli import common
from mercato.cli.common import AccountOption, JsonOption, KeystoreOption, RpcUrlOption
from mercato.errors import InputError, ProtocolError

if TYPE_CHECKING:
    from mercato.agents.agent import Agent
    from mercato.agents.process import TxLog
    from mercato.chain.recording import RecordingChain
    from mercato.protocols.apimarket.roles import VendorServices, VendorSlot
    from mercato.protocols.apimarket.serving import VendorEndpoint
    from mercato.protocols.identity import Identity
    from mercato.protocols.marketplace import Marketplace

vendor = typer.Typer(help="A vendor of the API market (P5): serve a component.",
                     no_args_is_help=True)  # fmt: skip
orchestrator = typer.Typer(help="The orchestrator of an API (P5): route consumers' calls.",
                           no_args_is_help=True)  # fmt: skip

logger = logging.getLogger(__name__)

LOG_LEVELS = ("debug", "info", "warning", "error")
ApiOption = typer.Option(..., "--api", min=1, help="API id (see `mercato api list`).")
HostOption = typer.Option("127.0.0.1", "--host", help="Address to listen on.")
StateOption = typer.Option(
    None, "--state", help="Folder of the agent's state and the journals (default: settings)."
)
IntervalOption = typer.Option(
    DEFAULT_POLL_INTERVAL, "--interval", help="Seconds between polls once caught up."
)
LogLevelOption = typer.Option("info", "--log-level", help="debug, info, warning, error.")
ORCHESTRATOR_PORT_HELP = (
    "Port (0: a free one; default: the port of the URL the API document names, where "
    "consumers call)."
)


@dataclass
class _Run:
    """A serve command's agent on its own recorded chain, with its state."""

    market: Marketplace
    """Over the recorded chain: what the agent and the service act through."""
    reads: Marketplace
    """On a connection of its own: what the service's request threads read."""
    recording: RecordingChain
    me: Identity
    name: str
    folder: Path
    """The service's files (journals, opened components)."""
    state_file: Path
    stop: threading.Event
    """Set by SIGTERM or Ctrl-C, from the start: the command then winds down cleanly."""


@contextmanager
def _session(
    ctx: typer.Context,
    rpc_url: str | None,
    me: Identity,
    label: str,
    state: Path | None,
    interval: float,
) -> Iterator[_Run]:
    from mercato.agents.outages import until_reachable
    from mercato.agents.process import stop_on_signals
    from mercato.chain.base import Chain
    from mercato.chain.recording import RecordingChain
    from mercato.protocols.marketplace import Marketplace

    run_context = common.context(ctx)
    name = f"{label}-{me.address[2:10].lower()}"
    plain = until_reachable(name, lambda: run_context.market(rpc_url), interval)
    recording = RecordingChain(plain.chain)
    market = Marketplace(cast("Chain", recording), plain.deployment, plain.store)
    reads = until_reachable(name, lambda: run_context.market(rpc_url), interval)
    base = state or run_context.settings.agent_dir
    base.mkdir(parents=True, exist_ok=True)
    stop = threading.Event()
    try:
        with stop_on_signals(stop, name):
            yield _Run(
                market, reads, recording, me, name, base / name, base / f"{name}.sqlite", stop
            )
    finally:
        recording.close()
        reads.chain.close()


def _withdrawn_after_end(run: _Run, api_id: int, json_output: bool) -> bool:
    """Whether API ``api_id`` ended with money still owed to its vendor or orchestrator
    ``run.me`` (a service started again between the end and its withdrawal), which is then
    withdrawn and said in one line: nothing is left to serve, nothing may stay locked."""
    from mercato.protocols.apimarket.roles import load_api
    from mercato.units import format_ether

    am = run.market.api_market
    api = load_api(run.market, api_id)
    me = run.me.address.lower()
    parties = {api.orchestrator.lower(), *(slot.vendor.lower() for slot in am.slots(api_id))}
    if not api.status.final or me not in parties or (owed := am.owed(run.me.address)) == 0:
        return False
    am.withdraw(run.me.account)
    _announce(
        {"api": api_id, "status": api.status.label, "withdrawn": str(owed),
         "account": run.me.address},
        f"API {api_id} is {api.status.label}: nothing to serve; withdrew "
        f"{format_ether(owed)} owed to {run.me.address}",
        json_output,
    )  # fmt: skip
    return True


def _logging(ctx: typer.Context, level: str) -> None:
    if level not in LOG_LEVELS:
        raise InputError(f"--log-level must be one of {', '.join(LOG_LEVELS)}, got '{level}'")
    if not logging.getLogger().handlers:
        logging.basicConfig(format="%(levelname)s %(name)s: %(message)s")
    package = logging.getLogger("mercato")
    previous = package.level
    package.setLevel(level.upper())
    ctx.call_on_close(lambda: package.setLevel(previous))


def _check_interval(interval: float) -> None:
    if not 0 < interval <= MAX_POLL_INTERVAL:
        raise InputError(f"--interval must be above 0 and at most {MAX_POLL_INTERVAL} s")


def _announce(payload: dict[str, Any], text: str, json_output: bool) -> None:
    """Say where the service listens, at once (a parent process waits for this line)."""
    if json_output:
        common.emit_json(payload)
    else:
        common.console.print(text, soft_wrap=True, highlight=False)
    sys.stdout.flush()


def _agent(run: _Run, store: Any) -> tuple[Agent, TxLog]:
    from mercato.agents.agent import Agent
    from mercato.agents.process import TxLog

    market = run.market
    am = market.api_market
    agent = Agent(run.name, market.chain, [am.contract], store, start_block=market.deployment.block)
    contracts = [w.contract for w in market.wrappers().values()] + [market.registry.contract]
    return agent, TxLog(run.name, run.recording, contracts)


# mercato vendor serve ------------------------------------------------------------------------
VENDOR_PORT_HELP = "Port (0: a free one, or on a restart the port this vendor joined with)."
VENDOR_URL_HELP = (
    "The public URL sealed to the orchestrator when joining, if it differs from where the "
    "vendor listens (a proxy, or --host 0.0.0.0); default http://HOST:PORT. It cannot change "
    "once joined."
)


@vendor.command("serve")
def vendor_serve(
    ctx: typer.Context,
    api_id: int = ApiOption,
    host: str = HostOption,
    port: int = typer.Option(0, "--port", min=0, max=65535, help=VENDOR_PORT_HELP),
    url: str = typer.Option(None, "--url", help=VENDOR_URL_HELP),
    state: Path = StateOption,
    interval: float = IntervalOption,
    log_level: str = LogLevelOption,
    rpc_url: str = RpcUrlOption,
    account: int = AccountOption,
    keystore: Path = KeystoreOption,
    json_output: bool = JsonOption,
) -> None:
    """Serve your component of an API, join it, and keep your duties until stopped.

    The URL a vendor joins with is kept in its state folder (and sealed to itself on chain):
    started again, it serves there.
    """
    from mercato.agents.store import AgentStore
    from mercato.protocols.apimarket import agents, roles
    from mercato.protocols.apimarket.endpoints import check_url
    from mercato.protocols.apimarket.serving import VendorEndpoint, joined_endpoint, save_endpoint

    _logging(ctx, log_level)
    _check_interval(interval)
    if url is not None:
        check_url(url)
    me = common.identity(account, keystore)
    with _session(ctx, rpc_url, me, "vendor", state, interval) as run:
        market = run.market
        if _withdrawn_after_end(run, api_id, json_output):
            return
        place = roles.vendor_slot(market, me, api_id)  # bad input refused before any start
        joined = joined_endpoint(market, me, api_id, run.folder) if place.joined else None
        if place.joined and joined is None:
            logger.warning("API %d: %s joined it with a URL this state does not hold (sealed "
                           "to the orchestrator only): the orchestrator calls that URL, not "
                           "this service's unless they are the same", api_id,
                           me.address)  # fmt: skip
        port = _vendor_port(api_id, port, url, joined)
        services = roles.VendorServices(market, me, run.folder, host, port)
        try:
            place, listen = _start_vendor(market, me, api_id, services, joined)
            public = _public_url(api_id, url, listen, joined)
            if not place.joined:
                save_endpoint(run.folder, api_id, VendorEndpoint(public, listen))

            def start(api: int, slot: int, data: bytes) -> str:
                services.start(api, slot, data)
                return public

            with AgentStore(run.state_file) as store:
                agent, txlog = _agent(run, store)
                agents.attach_vendor(roles.one_api(agent, api_id), market, me, start,
                                     services.journal, run.folder)  # fmt: skip
                roles.adopt_vendor(agent.context, market, me, place, run.folder)
                _announce(
                    {"api": api_id, "vendor": me.address, "slot": place.slot,
                     "component": place.component, "url": public, "listen": listen,
                     "joined": place.joined, "state": str(run.state_file)},
                    f"vendor {me.address} serves slot {place.slot} (component "
                    f"{place.component}) of API {api_id} at {public}"
                    + ("" if public == listen else f" (listening at {listen})")
                    + ("" if place.joined else "; joining"),
                    json_output,
                )  # fmt: skip
                agent.run(run.stop, interval, after_step=txlog.flush)
        finally:
            services.close()


def _vendor_port(api_id: int, port: int, url: str | None, joined: VendorEndpoint | None) -> int:
    """The port to listen on: ``port``, or for 0 the one the vendor listened on when it
    joined; a ``--url`` other than the joined one is refused here, before anything starts."""
    if joined is None:
        return port
    if url is not None and url.rstrip("/") != joined.url.rstrip("/"):
        raise InputError(f"API {api_id} was joined with the URL {joined.url}; it cannot change "
                         f"on chain: serve it there, not at {url}")  # fmt: skip
    if port:
        return port
    return urlsplit(joined.listen or joined.url).port or 0


def _start_vendor(
    market: Marketplace,
    me: Identity,
    api_id: int,
    services: VendorServices,
    joined: VendorEndpoint | None,
) -> tuple[VendorSlot, str]:
    """:func:`~.roles.start_vendor`, a busy port of a joined vendor said in one line."""
    from mercato.protocols.apimarket import roles

    try:
        return roles.start_vendor(market, me, api_id, services)
    except InputError as exc:
        if joined is None:
            raise
        raise InputError(
            f"{exc}: API {api_id} was joined with {joined.url}, where the "
            "orchestrator calls; free that port and start again"
        ) from None


def _public_url(api_id: int, url: str | None, listen: str, joined: VendorEndpoint | None) -> str:
    """The URL sealed to the orchestrator: ``--url``, else the proxied one it joined with,
    else where it listens; a joined vendor must serve at the URL it joined with."""
    public = url or (joined.url if joined is not None and joined.proxied else listen)
    if joined is not None and public.rstrip("/") != joined.url.rstrip("/"):
        raise InputError(f"API {api_id} was joined with the URL {joined.url}; it cannot change "
                         f"on chain: serve it there (--host, --port or --url), not at "
                         f"{public}")  # fmt: skip
    return public


# mercato orchestrator serve ------------------------------------------------------------------
@orchestrator.command("serve")
def orchestrator_serve(
    ctx: typer.Context,
    api_id: int = ApiOption,
    host: str = HostOption,
    port: int = typer.Option(None, "--port", min=0, max=65535, help=ORCHESTRATOR_PORT_HELP),
    state: Path = StateOption,
    interval: float = IntervalOption,
    log_level: str = LogLevelOption,
    rpc_url: str = RpcUrlOption,
    account: int = AccountOption,
    keystore: Path = KeystoreOption,
    json_output: bool = JsonOption,
) -> None:
    """Accept an API, serve its consumers once live, and keep your duties until stopped."""
    from mercato.agents.store import AgentStore
    from mercato.protocols.apimarket import agents, roles
    from mercato.protocols.apimarket.endpoints import bind
    from mercato.protocols.apimarket.serving import document_for

    _logging(ctx, log_level)
    _check_interval(interval)
    me = common.identity(account, keystore)
    with _session(ctx, rpc_url, me, "orchestrator", state, interval) as run:
        market = run.market
        if _withdrawn_after_end(run, api_id, json_output):
            return
        roles.orchestrated_api(market, me, api_id)  # bad input refused before any state change
        named = document_for(market, api_id).orchestrator_url
        if port is None:
            port = (urlsplit(named).port or 0) if named else 0
        sock, url = bind(host, port)
        if named and named.rstrip("/") != url:
            logger.warning("API %d's document names %s for consumers; serving at %s",
                           api_id, named, url)  # fmt: skip
        service = roles.OrchestratorService(market, run.reads, me, api_id, sock, run.folder)
        try:
            with AgentStore(run.state_file) as store:
                agent, txlog = _agent(run, store)
                agents.attach_orchestrator(roles.one_api(agent, api_id), market, me,
                                           service.service)  # fmt: skip
                roles.adopt_orchestrator(agent.context, market, me, api_id)
                if _until_live(agent, txlog, market, api_id, run.stop, interval):
                    service.start()
                    _announce(
                        {"api": api_id, "orchestrator": me.address, "url": url,
                         "state": str(run.state_file)},
                        f"orchestrator {me.address} serves API {api_id} at {url}",
                        json_output,
                    )  # fmt: skip
                    agent.run(run.stop, interval, after_step=txlog.flush)
        finally:
            service.close()


def _until_live(
    agent: Agent,
    txlog: TxLog,
    market: Marketplace,
    api_id: int,
    stop: threading.Event,
    interval: float,
) -> bool:
    """Step the agent (it accepts the API) until the API is live; False if stopped first."""
    from mercato.errors import ChainError
    from mercato.protocols.apimarket.views import ApiStatus

    logger.info("%s: waiting until API %d is live", agent.name, api_id)
    while not stop.is_set():
        try:
            handled = agent.step()
        except ChainError as exc:
            logger.warning("%s: cannot read the chain (%s); retrying", agent.name, exc)
            stop.wait(interval)
            continue
        sent = txlog.flush()
        api = market.api_market.api(api_id)
        if api.status is ApiStatus.LIVE:
            return True
        if api.status.final:
            raise ProtocolError(f"API {api_id} is {api.status.label}: not every slot joined "
                                "by its deadline")  # fmt: skip
        if handled == 0 and sent == 0 and agent.caught_up:
            stop.wait(interval)
    return False
