"""The read-only HTTP API (FastAPI): every protocol's read model, the participants, health.

Routes come from the catalog: ``/api/<key>`` lists a protocol's entries and
``/api/<key>/<id>`` shows one (see :mod:`mercato.protocols.readmodel`), so nothing here
names a protocol. Every failure is a status and ``{"detail": "<one line>"}``: an unknown
entry 404, a bad id 422, a node that does not answer 503; the server keeps serving.
"""

# No postponed annotations: FastAPI reads the endpoints' parameter types at runtime.
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from fastapi import FastAPI, Path, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException

from mercato.audit.report import OutageDuringAudit
from mercato.errors import ChainError, ConfigError, InputError, MercatoError
from mercato.protocols import readmodel
from mercato.protocols.catalog import unit, units

if TYPE_CHECKING:
    from mercato.protocols.marketplace import Marketplace
    from mercato.protocols.unit import ProtocolUnit

logger = logging.getLogger(__name__)

MarketFactory = Callable[[], "Marketplace"]
"""Returns the market to read (called for each request; it may hand back the same one)."""

T = TypeVar("T")

KEPT_ANSWERS = 1_024
"""Answers a reader keeps (the least recently used go first); each is given again only while
the chain has neither a new block nor a new time."""


class Reader:
    """What every route reads through: the market of each protocol, one read at a time (a
    chain backend is not shared across threads), and an :class:`~mercato.protocols.readmodel.
    EventIndex` per deployment, so an entry's events are not read again at each request.

    ``mercato serve`` reads one deployment for every protocol; ``mercato demo`` deploys one
    market per protocol, so a reader may hold a different market for each protocol key.

    A read named by ``kept_as`` is answered again without reading the chain while the chain
    is where it was (same block, same time): a market's whole list of entries costs one
    read per block, not one per request.
    """

    def __init__(self, markets: Mapping[str, MarketFactory]) -> None:
        missing = [unit.key for unit in units() if unit.key not in markets]
        if missing:
            raise ValueError(f"no market for {', '.join(missing)}")
        self._markets = dict(markets)
        self._lock = threading.Lock()
        self._indexes: dict[tuple[int, str], readmodel.EventIndex] = {}
        self._kept: OrderedDict[Hashable, tuple[tuple[int, int], Any]] = OrderedDict()

    @classmethod
    def of(cls, market: MarketFactory) -> "Reader":
        """One market for every protocol."""
        return cls({unit.key: market for unit in units()})

    def read(self, key: str, reader: Callable[["Marketplace"], T], kept_as: Hashable = None) -> T:
        """``reader`` applied to protocol ``key``'s market (kept as ``kept_as``, if named)."""
        with self._lock:
            market = self._markets[key]()
            return self._kept_answer(kept_as, market, lambda: reader(market))

    def read_all(
        self, reader: Callable[[dict[str, "Marketplace"]], T], kept_as: Hashable = None
    ) -> T:
        """``reader`` applied to every protocol's market, by protocol key (catalog order;
        kept as ``kept_as``, if named)."""
        with self._lock:
            markets = {key: market() for key, market in self._markets.items()}
            first = next(iter(markets.values()))
            return self._kept_answer(kept_as, first, lambda: reader(markets))

    def detail(self, key: str, ident: int) -> dict[str, Any]:
        """Entry ``ident`` of protocol ``key`` (its ``pages.detail``) with its events from
        the index, brought up to date first (only the blocks mined since the last read)."""
        pages = readmodel.pages(unit(key))

        def read(market: "Marketplace") -> dict[str, Any]:
            index = self._index(key, market)
            index.refresh()
            return pages.detail(market, ident, index.events_of(key, ident))

        return self.read(key, read, kept_as=("detail", key, ident))

    def audit(self, key: str, ident: int) -> dict[str, Any]:
        """The public audit of entry ``ident`` of protocol ``key`` (InputError if the
        protocol has no auditor yet, or no such entry)."""
        auditor = readmodel.auditor(unit(key))
        if auditor is None:
            raise InputError(f"{unit(key).label} has no audit yet")
        return self.read(key, lambda market: auditor(market, ident), kept_as=("audit", key, ident))

    def _kept_answer(self, name: Hashable, market: "Marketplace", read: Callable[[], T]) -> T:
        """What ``read`` gives, or the answer kept as ``name`` if the chain has not moved
        since (caller holds the lock; failures are not kept)."""
        if name is None:
            return read()
        chain = market.chain
        now = (chain.block_number(), chain.timestamp())
        kept = self._kept.get(name)
        if kept is not None and kept[0] == now:
            self._kept.move_to_end(name)
            answer: T = kept[1]
            return answer
        answer = read()
        self._kept[name] = (now, answer)
        self._kept.move_to_end(name)
        while len(self._kept) > KEPT_ANSWERS:
            self._kept.popitem(last=False)
        return answer

    def events_after(
        self, position: readmodel.Position | None
    ) -> tuple[list[readmodel.Indexed], readmodel.Position]:
        """The events of every market after ``position`` (None: none, only where the chain
        is now), in chain order, and the position to ask from next; each index is brought up
        to date first."""
        with self._lock:
            markets = {key: market() for key, market in self._markets.items()}
            indexes: dict[int, readmodel.EventIndex] = {}
            for key, market in markets.items():
                index = self._index(key, market)
                if id(index) not in indexes:
                    indexes[id(index)] = index
                    index.refresh()
            lasts = [last for index in indexes.values() if (last := index.last()) is not None]
            now = max(lasts, default=NO_POSITION)
            if position is None:
                return [], now
            found = [event for index in indexes.values() for event in index.after(position)]
        found.sort(key=lambda event: event.position)
        return found, max(now, position)

    def _index(self, key: str, market: "Marketplace") -> readmodel.EventIndex:
        """The index of ``market``'s deployment, made at its first use; it watches every
        protocol this reader reads on that deployment (caller holds the lock)."""
        deployment = _deployment_of(market)
        index = self._indexes.get(deployment)
        if index is None:
            others = {k: factory() for k, factory in self._markets.items() if k != key}
            keys = [key, *(k for k, m in others.items() if _deployment_of(m) == deployment)]
            index = self._indexes[deployment] = readmodel.EventIndex(market, keys)
        return index


NO_POSITION: readmodel.Position = (0, 0)
"""Before every event: a deployment's first block is never block 0."""


def _deployment_of(market: "Marketplace") -> tuple[int, str]:
    """What tells deployments apart: the chain and the registry's address."""
    return (market.deployment.chain_id, market.deployment.registry.lower())


class Refusal(BaseModel):
    """Every error answer: what went wrong, in one line."""

    detail: str


REFUSALS: dict[int | str, dict[str, Any]] = {
    404: {"model": Refusal, "description": "No such entry or route"},
    422: {"model": Refusal, "description": "A malformed id or query"},
    500: {"model": Refusal, "description": "An internal error (logged)"},
    503: {"model": Refusal, "description": "The node cannot be read"},
}
"""The error answers every route may give, as the OpenAPI document declares them."""


def _one_line(status: int, detail: str) -> JSONResponse:
    return JSONResponse({"detail": " ".join(detail.split())}, status_code=status)


def _validation_line(exc: RequestValidationError) -> str:
    problems = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error.get("loc", ())[1:]) or "request"
        problems.append(f"{where}: {error.get('msg', 'invalid')}")
    return "; ".join(problems) or "invalid request"


def _add_error_handlers(app: FastAPI) -> None:
    """Mercato's errors as one-line JSON answers; anything else a 500, logged."""

    async def on_input(_: Request, exc: Exception) -> JSONResponse:
        return _one_line(404, str(exc))

    async def on_chain(_: Request, exc: Exception) -> JSONResponse:
        return _one_line(503, f"the node cannot be read: {exc}")

    async def on_outage(_: Request, exc: Exception) -> JSONResponse:
        return _one_line(503, str(exc))

    async def on_mercato(_: Request, exc: Exception) -> JSONResponse:
        return _one_line(500, str(exc))

    async def on_validation(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return _one_line(422, _validation_line(exc))

    async def on_http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, HTTPException)
        if exc.status_code == 404:
            return _one_line(404, f"nothing at {request.url.path}; /openapi.json lists the routes")
        return _one_line(exc.status_code, str(exc.detail))

    async def on_other(_: Request, exc: Exception) -> JSONResponse:
        logger.exception("internal error")
        return _one_line(500, f"internal error: {type(exc).__name__}")

    app.add_exception_handler(InputError, on_input)
    app.add_exception_handler(ChainError, on_chain)
    app.add_exception_handler(ConfigError, on_chain)
    app.add_exception_handler(OutageDuringAudit, on_outage)
    app.add_exception_handler(MercatoError, on_mercato)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(HTTPException, on_http)
    app.add_exception_handler(Exception, on_other)


def create_app(source: Reader | MarketFactory) -> FastAPI:
    """The API and dashboard over ``source``: a :class:`Reader`, or one market for every
    protocol (read-only: GET routes only)."""
    from mercato.web import dashboard, stream

    reader = source if isinstance(source, Reader) else Reader.of(source)
    app = FastAPI(
        title="Mercato",
        description="Read-only view of a Mercato marketplace: its protocols, entries and "
        "participants.",
        # FastAPI's /docs and /redoc pages load their scripts from a CDN: every page served
        # here serves its own assets, so only the OpenAPI document is served
        docs_url=None,
        redoc_url=None,
        responses=REFUSALS,
    )
    _add_error_handlers(app)

    @app.get("/api/health", summary="Whether the node answers, and its latest block")
    def health() -> dict[str, Any]:
        block = reader.read_all(lambda found: next(iter(found.values())).chain.block_number())
        return {"status": "ok", "block": block}

    @app.get("/api/markets", summary="Every protocol: its count of entries and their summaries")
    def markets() -> dict[str, Any]:
        return reader.read_all(readmodel.market_summaries, kept_as="markets")

    @app.get("/api/participants", summary="Registered and development accounts: roles, "
             "stake, and what each protocol's contract owes them")  # fmt: skip
    def participants() -> list[dict[str, Any]]:
        return reader.read_all(readmodel.participants, kept_as="participants")

    for protocol in units():
        _add_protocol_routes(app, protocol, reader)
    stream.add_routes(app, reader)
    dashboard.add_routes(app, reader)
    return app


def _add_protocol_routes(app: FastAPI, unit: "ProtocolUnit", reader: Reader) -> None:
    """``/api/<key>`` (summaries) and ``/api/<key>/<id>`` (detail) of one protocol, and
    ``/api/<key>/<id>/audit`` if it has an auditor."""
    pages = readmodel.pages(unit)
    item = unit.item
    auditor = readmodel.auditor(unit)

    def summaries() -> list[dict[str, Any]]:
        return reader.read(unit.key, pages.summaries, kept_as=("summaries", unit.key))

    def detail(ident: int = Path(ge=1, description=f"The {item}'s id (1, 2, ...)")) -> Any:
        return reader.detail(unit.key, ident)

    app.add_api_route(
        f"/api/{unit.key}", summaries, methods=["GET"], summary=f"Every {item} of {unit.label}",
        operation_id=f"{unit.key}_list",
    )  # fmt: skip
    app.add_api_route(
        f"/api/{unit.key}/{{ident}}", detail, methods=["GET"],
        summary=f"One {item} of {unit.label} with its events",
        operation_id=f"{unit.key}_detail",
    )  # fmt: skip
    if auditor is None:
        return

    def audit(ident: int = Path(ge=1, description=f"The {item}'s id (1, 2, ...)")) -> Any:
        return reader.audit(unit.key, ident)

    app.add_api_route(
        f"/api/{unit.key}/{{ident}}/audit", audit, methods=["GET"],
        summary=f"The public audit of one {item}: every check, its verdict and evidence, "
        "and who broke a rule", operation_id=f"{unit.key}_audit",
    )  # fmt: skip
