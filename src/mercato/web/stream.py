"""Live updates: ``GET /api/events``, a server-sent event stream of the markets' decoded chain
events, as the reader's event indexes find them.

Each event is one message: ``id: <block>-<log_index>``, ``event: chain`` and ``data:`` its
:func:`~mercato.protocols.readmodel.indexed_record` (protocol, entry id, name, block, tx,
summary, args). Only events after the connection are sent, or after ``Last-Event-ID`` when a
client reconnects; ``protocol`` (a unit's key) and ``id`` (an entry) narrow them down.

A connection lasts :data:`SPAN_S` at most, then ends with an ``id:`` line saying how far it
went: a browser's EventSource reconnects with it as ``Last-Event-ID`` and misses nothing, and
a server asked to stop is never held by an open stream for longer than that.
"""

# No postponed annotations: FastAPI reads the endpoint's parameter types at runtime.
import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from fastapi import FastAPI, Header, Query
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from mercato.errors import MercatoError
from mercato.protocols import readmodel
from mercato.protocols.catalog import units

if TYPE_CHECKING:
    from mercato.web.app import Reader

logger = logging.getLogger(__name__)

POLL_S = 0.5
"""How often a connection asks the indexes for new events."""
KEEP_ALIVE_S = 10.0
"""The longest silence on a connection before a ``: keep-alive`` comment."""
SPAN_S = 5.0
"""How long one connection lasts before the client is asked to reconnect."""
RETRY_MS = 500
"""How long a client waits before it reconnects (the ``retry:`` field)."""
MEDIA_TYPE = "text/event-stream"


def event_id(position: readmodel.Position) -> str:
    """A message's ``id``: ``<block>-<log_index>``."""
    return f"{position[0]}-{position[1]}"


def parse_event_id(text: str) -> readmodel.Position:
    """The position a ``Last-Event-ID`` names; a one-line 422 if it is not ``<block>-<log>``."""
    block, dash, log_index = text.strip().partition("-")
    if not (dash and block.isdigit() and log_index.isdigit()):
        raise HTTPException(422, f"Last-Event-ID: expected <block>-<log_index>, got {text!r}")
    return int(block), int(log_index)


def message(found: readmodel.Indexed) -> str:
    """One event as a server-sent message."""
    data = json.dumps(readmodel.indexed_record(found), separators=(",", ":"))
    return f"id: {event_id(found.position)}\nevent: chain\ndata: {data}\n\n"


def wanted(found: readmodel.Indexed, protocol: str | None, ident: int | None) -> bool:
    """Whether ``found`` passes the connection's filters."""
    if protocol is not None and found.protocol != protocol:
        return False
    return ident is None or found.entry == ident


async def messages(
    reader: "Reader", position: readmodel.Position, protocol: str | None, ident: int | None
) -> AsyncIterator[str]:
    """The stream of one connection, from ``position`` on, for :data:`SPAN_S`."""
    yield f"retry: {RETRY_MS}\n: keep-alive\n\n"
    started = last_sent = time.monotonic()
    while time.monotonic() - started < SPAN_S:
        await asyncio.sleep(POLL_S)
        try:
            found, position = await run_in_threadpool(reader.events_after, position)
        except MercatoError as exc:  # the node is away: keep the connection, try again
            logger.warning("event stream: %s", exc)
            found = []
        for item in found:
            if wanted(item, protocol, ident):
                yield message(item)
                last_sent = time.monotonic()
        if time.monotonic() - last_sent >= KEEP_ALIVE_S:
            yield ": keep-alive\n\n"
            last_sent = time.monotonic()
    yield f"id: {event_id(position)}\n\n"


def add_routes(app: FastAPI, reader: "Reader") -> None:
    """Add ``/api/events`` to ``app``."""
    keys = [unit.key for unit in units()]

    @app.get(
        "/api/events",
        summary="Server-sent events: each chain event of the markets as it is mined",
        response_class=StreamingResponse,
        responses={200: {"content": {MEDIA_TYPE: {}}, "description": "An event stream"}},
    )
    def events(
        protocol: str | None = Query(None, description=f"Only this protocol's: {', '.join(keys)}"),
        ident: int | None = Query(None, alias="id", ge=1, description="Only this entry's"),
        last_event_id: str | None = Header(None, alias="Last-Event-ID"),
    ) -> StreamingResponse:
        if protocol is not None and protocol not in keys:
            raise HTTPException(422, f"protocol: no protocol {protocol!r} ({', '.join(keys)})")
        if ident is not None and protocol is None:
            raise HTTPException(422, "id: an entry id needs its protocol")
        if last_event_id:
            position = parse_event_id(last_event_id)
        else:
            _, position = reader.events_after(None)
        return StreamingResponse(
            messages(reader, position, protocol, ident),
            media_type=MEDIA_TYPE,
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )
