"""P5's agent roles as ``mercato agent run`` plans them, and the services that ``mercato
vendor serve`` and ``mercato orchestrator serve`` run beside their agents.

- ``api-provider`` follows the APIs it registers until they end (deadlines, withdrawals);
- ``vendor`` joins every API that names it in a slot: it opens the component sealed to it,
  serves it over HTTP in this process (:class:`VendorServices`: loopback, a free port per
  API) and joins with that URL sealed to the orchestrator; then it claims the steps a batch
  left out, re-runs disputed steps in committees and withdraws. ``mercato vendor serve`` runs
  the same agent for one API (:func:`one_api`), on the host and port it is given;
- ``consumer`` deposits into each API once it is live and sends the disputes its client
  found;
- the orchestrator has no ``agent run`` role: it serves consumers, so ``mercato orchestrator
  serve`` runs it (:class:`OrchestratorService` beside :func:`~.agents.attach_orchestrator`).

A vendor's agent started again with the same state carries on; one whose account joined
from another state folder adopts the API (:func:`adopt_vendor`, :func:`adopt_orchestrator`)
instead of joining or accepting twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from mercato.agents.roles import AgentSetup, RolePlan, attaching
from mercato.crypto.commit import keccak
from mercato.errors import InputError, MercatoError
from mercato.protocols.apimarket import agents, rules
from mercato.protocols.apimarket.documents import open_component
from mercato.protocols.apimarket.endpoints import LOOPBACK, bind
from mercato.protocols.apimarket.serving import (
    BackgroundServer,
    ChainReads,
    document_for,
    endpoints_for,
    joined_endpoint,
    terms_for,
)
from mercato.protocols.apimarket.views import Api, ApiStatus
from mercato.protocols.roles import Role
from mercato.user_files import write_secret

if TYPE_CHECKING:
    import socket

    from mercato.agents.agent import Agent, AgentContext
    from mercato.protocols.apimarket.orchestrator import Orchestrator
    from mercato.protocols.apimarket.vendor import Vendor
    from mercato.protocols.identity import Identity
    from mercato.protocols.marketplace import Marketplace

logger = logging.getLogger(__name__)

DEFAULT_DEPOSIT = 10**16
"""What a consumer's agent deposits into each live API unless told (0.01 ETH)."""


# the plans of `mercato agent run` ----------------------------------------------------------
def plan_provider(options: Mapping[str, Any]) -> RolePlan:
    """A provider (a model owner, or a client serving a model it bought): follows the APIs it
    registered until they end."""
    return RolePlan(
        "api-provider",
        Role.MODEL_OWNER,
        attaching(agents.attach_provider, says=" following the APIs it registers"),
        check=rules.provider_problem,
    )


def plan_vendor(options: Mapping[str, Any]) -> RolePlan:
    """A vendor: serves and joins every API that names it (loopback, a free port each, kept
    across restarts once joined)."""

    def attach(setup: AgentSetup) -> str:
        folder = setup.folder / setup.agent.name
        services = VendorServices(setup.market, setup.me, folder)
        attach_vendor(setup.agent, setup.market, setup.me, services, folder)
        return f" serving each API that names it on {LOOPBACK}; journals in {folder}"

    return RolePlan("vendor", Role.COMPUTE_PROVIDER, attach)


def plan_consumer(options: Mapping[str, Any]) -> RolePlan:
    """A consumer: deposits ``--deposit`` (default :data:`DEFAULT_DEPOSIT`) into each live API."""
    from mercato.units import format_ether, parse_amount

    given = options.get("deposit")
    deposit = DEFAULT_DEPOSIT if given is None else parse_amount(str(given))
    if deposit <= 0:
        raise InputError(f"--deposit must be above 0, got {given}")
    says = f" depositing {format_ether(deposit)} into each API once live"
    return RolePlan("consumer", Role.CLIENT, attaching(agents.attach_consumer, deposit, says=says))


# the vendor --------------------------------------------------------------------------------
@dataclass
class _Running:
    server: BackgroundServer
    url: str
    vendor: Vendor


class VendorServices:
    """A vendor's HTTP services in this process, one per API, each with its journal.

    :meth:`start` is the :data:`~.agents.StartService` and :meth:`journal` the
    :data:`~.agents.Journal` of :func:`~.agents.attach_vendor`; a started API's service is
    started once (asked again, its URL). ``port`` 0 takes, per API, the port of the URL the
    vendor joined it with (so a restart serves where the orchestrator calls), else a free one.
    """

    def __init__(
        self,
        market: Marketplace,
        me: Identity,
        folder: Path,
        host: str = LOOPBACK,
        port: int = 0,
    ) -> None:
        self.market = market
        self.me = me
        self.folder = folder
        self.host = host
        self.port = port
        self._running: dict[int, _Running] = {}

    def start(self, api_id: int, slot: int, data: bytes) -> str:
        """Serve component ``data`` of ``slot`` in API ``api_id``; its URL."""
        running = self._running.get(api_id)
        if running is not None:
            return running.url
        from mercato.protocols.apimarket.vendor import vendor_app

        terms = terms_for(self.market, api_id)
        journal = self.folder / f"api-{api_id}.journal"
        app = vendor_app(data, keccak(data), bytes(self.me.account.key), terms, journal)
        try:
            sock, url = bind(self.host, self.port or self._joined_port(api_id))
        except MercatoError:
            app.state.vendor.close()
            raise
        self._running[api_id] = _Running(BackgroundServer(app, sock), url, app.state.vendor)
        logger.info("API %d: serving slot %d at %s", api_id, slot, url)
        return url

    def _joined_port(self, api_id: int) -> int:
        """The port of the URL ``me`` joined API ``api_id`` with (0: not joined, or unknown)."""
        from urllib.parse import urlsplit

        joined = joined_endpoint(self.market, self.me, api_id, self.folder)
        return 0 if joined is None else urlsplit(joined.listen or joined.url).port or 0

    def url(self, api_id: int) -> str | None:
        """Where API ``api_id``'s component is served (None: not here)."""
        running = self._running.get(api_id)
        return None if running is None else running.url

    def journal(self, api_id: int) -> list[dict[str, Any]]:
        """The steps this process's service of API ``api_id`` answered (its evidence)."""
        running = self._running.get(api_id)
        return [] if running is None else running.vendor.receipts()

    def close(self) -> None:
        """Stop every service and close its journal."""
        for running in self._running.values():
            running.server.stop()
            running.vendor.close()
        self._running.clear()


def attach_vendor(
    agent: Agent, market: Marketplace, me: Identity, services: VendorServices, folder: Path
) -> None:
    """:func:`~.agents.attach_vendor` with ``services`` serving the components it joins with;
    an agent started again serves each API it joined once more (at the URL it joined with)
    before it checks its steps."""
    ended: set[int] = set()

    def serve_joined(ctx: AgentContext) -> None:
        for key in ctx.state.keys(agents.COMPONENT_KEY):
            api_id = int(key.removeprefix(agents.COMPONENT_KEY))
            if api_id in ended or services.url(api_id) is not None:
                continue
            if market.api_market.api(api_id).status.final:
                ended.add(api_id)
                continue
            mine = ctx.state.get(key)
            assert isinstance(mine, dict)
            services.start(api_id, int(mine["slot"]), Path(str(mine["path"])).read_bytes())

    agent.every_tick(serve_joined)
    agents.attach_vendor(agent, market, me, services.start, services.journal, folder)


@dataclass(frozen=True)
class VendorSlot:
    """Where a vendor stands in one API: its slot, the component, whether it joined."""

    api: int
    slot: int
    component: int
    joined: bool


def load_api(market: Marketplace, api_id: int) -> Api:
    """API ``api_id``, or a one-line InputError naming how many there are."""
    am = market.api_market
    count = am.count()
    if not 0 < api_id <= count:
        raise InputError(f"no API {api_id} (there are {count})")
    return am.api(api_id)


def vendor_slot(market: Marketplace, me: Identity, api_id: int) -> VendorSlot:
    """``me``'s slot in API ``api_id``, or a one-line InputError if it has none to serve."""
    api = load_api(market, api_id)
    slots = market.api_market.slots(api_id)
    mine = [index for index, view in enumerate(slots) if view.vendor.lower() == me.address.lower()]
    if not mine:
        raise InputError(f"{me.address} holds no slot in API {api_id}")
    slot = mine[0]
    view = slots[slot]
    if api.status.final:
        raise InputError(f"API {api_id} is {api.status.label}: nothing to serve")
    if view.out:
        raise InputError(f"slot {slot} of API {api_id} lost its stake: it serves no more")
    late = market.chain.timestamp() >= api.join_deadline
    if not view.joined and (api.status is not ApiStatus.JOINING or late):
        raise InputError(f"API {api_id} no longer takes joins; {me.address} never joined it")
    return VendorSlot(api_id, slot, view.component, view.joined)


def start_vendor(
    market: Marketplace, me: Identity, api_id: int, services: VendorServices
) -> tuple[VendorSlot, str]:
    """Check that ``me`` has a slot to serve in API ``api_id``, open the component sealed to
    it (checked against the model root) and serve it; the slot and the URL."""
    place = vendor_slot(market, me, api_id)
    document = document_for(market, api_id)
    data = open_component(
        document, place.slot, place.component, market.store, me.encryption_private
    )
    return place, services.start(api_id, place.slot, data)


def adopt_vendor(ctx: AgentContext, market: Marketplace, me: Identity, place: VendorSlot,
                 folder: Path) -> None:  # fmt: skip
    """Have a vendor's agent follow an API its account joined from another state (so it
    claims, sits in committees and withdraws there instead of joining again)."""
    deadlines = agents.api_deadlines(market, me)
    if not place.joined or deadlines.follows(ctx, place.api):
        return
    document = document_for(market, place.api)
    data = open_component(
        document, place.slot, place.component, market.store, me.encryption_private
    )
    path = write_secret(folder / f"api-{place.api}-slot-{place.slot}.component", data)
    ctx.state.put(f"{agents.COMPONENT_KEY}{place.api}", {"slot": place.slot, "path": str(path)})
    deadlines.follow(ctx, place.api)


# the orchestrator --------------------------------------------------------------------------
def orchestrated_api(market: Marketplace, me: Identity, api_id: int) -> Api:
    """API ``api_id`` if ``me`` is its orchestrator and it can still be served, else a
    one-line InputError."""
    api = load_api(market, api_id)
    if api.orchestrator.lower() != me.address.lower():
        raise InputError(f"{me.address} is not the orchestrator of API {api_id} "
                         f"({api.orchestrator} is)")  # fmt: skip
    if api.status.final:
        raise InputError(f"API {api_id} is {api.status.label}: nothing to orchestrate")
    late = market.chain.timestamp() >= api.join_deadline
    if api.status is ApiStatus.JOINING and not api.accepted and late:
        raise InputError(f"API {api_id}'s join deadline passed before it was accepted")
    return api


def adopt_orchestrator(ctx: AgentContext, market: Marketplace, me: Identity, api_id: int) -> None:
    """Have an orchestrator's agent follow an API its account accepted from another state,
    and know the batches already on chain (so it commits none twice)."""
    am = market.api_market
    deadlines = agents.api_deadlines(market, me)
    if am.api(api_id).accepted and not deadlines.follows(ctx, api_id):
        deadlines.follow(ctx, api_id)
    for epoch in committed_epochs(market, api_id):
        ctx.state.put(f"{agents.BATCHED_KEY}{api_id}:{epoch}", True)


def committed_epochs(market: Marketplace, api_id: int) -> list[int]:
    """The epochs of API ``api_id`` whose batch is on chain."""
    return [int(e["epoch"]) for e in market.api_market.events("BatchCommitted", api=api_id)]


class OrchestratorService:
    """The orchestrator's HTTP service of one API in this process, on a socket bound early
    and served once the API is live (:meth:`start`).

    ``reads`` is a market on its own connection: the service reads chain time and deposits
    live from its request threads, apart from the agent's chain.
    """

    def __init__(
        self,
        market: Marketplace,
        reads: Marketplace,
        me: Identity,
        api_id: int,
        sock: socket.socket,
        folder: Path,
    ) -> None:
        self.market = market
        self.reads = reads
        self.me = me
        self.api_id = api_id
        self.folder = folder
        self.orchestrator: Orchestrator | None = None
        self._sock: socket.socket | None = sock
        self._server: BackgroundServer | None = None

    def service(self, api_id: int) -> Orchestrator | None:
        """The running orchestrator of ``api_id`` (None before :meth:`start` or another API)."""
        return self.orchestrator if api_id == self.api_id else None

    def start(self) -> Orchestrator:
        """Open the vendors' endpoints and serve the (live) API; finish calls a crash left."""
        from mercato.protocols.apimarket.endpoints import make_app
        from mercato.protocols.apimarket.orchestrator import Orchestrator

        assert self._sock is not None, "started twice"
        api_id = self.api_id
        reads = ChainReads(self.reads, api_id, live=True)
        orchestrator = Orchestrator(
            terms_for(self.market, api_id),
            bytes(self.me.account.key),
            endpoints_for(self.market, self.me, api_id),
            reads.balance,
            reads.now,
            self.folder / f"api-{api_id}.journal",
        )
        for slot, view in enumerate(self.market.api_market.slots(api_id)):
            if view.out:
                orchestrator.exclude(slot)
        for epoch in committed_epochs(self.market, api_id):
            orchestrator.mark_committed(epoch)  # debited already, whatever the journal says
        try:
            finished = orchestrator.finish_open_calls()
        except MercatoError as exc:
            logger.warning("API %d: calls left open by a crash stay open: %s", api_id, exc)
        else:
            if finished:
                logger.info("API %d: finished %d call(s) a crash left open", api_id, finished)
        app = make_app(orchestrator.routes(), "mercato orchestrator")
        self._server = BackgroundServer(app, self._sock)
        self._sock = None
        self.orchestrator = orchestrator
        return orchestrator

    def close(self) -> None:
        """Stop serving and close the journal (or the socket, never served)."""
        if self._server is not None:
            self._server.stop()
        if self._sock is not None:
            self._sock.close()
        if self.orchestrator is not None:
            self.orchestrator.close()


# one API -----------------------------------------------------------------------------------
class _OneApi:
    """An agent seen through one API: the handlers registered on it get that API's events
    only (every event of the API market names its API)."""

    def __init__(self, agent: Agent, api_id: int) -> None:
        self._agent = agent
        self._api = api_id

    def on(self, event: str, *, where: Callable[[Any], bool] | None = None,
           **options: Any) -> Any:  # fmt: skip
        api_id = self._api

        def mine(found: Any) -> bool:
            return int(found["api"]) == api_id and (where is None or where(found))

        return self._agent.on(event, where=mine, **options)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._agent, name)


def one_api(agent: Agent, api_id: int) -> Agent:
    """``agent`` as the ``attach_*`` functions see it when it takes part in API ``api_id``
    only (``vendor serve`` and ``orchestrator serve`` serve one API)."""
    return cast("Agent", _OneApi(agent, api_id))
