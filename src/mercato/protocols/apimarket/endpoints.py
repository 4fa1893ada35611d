"""How the API's services reach each other: sealed URLs, JSON routes, transports, serving.

A vendor's URL never goes on chain: it is sealed to the orchestrator's public key
(:func:`seal_endpoint`) and only the blob's hash is registered; the orchestrator opens it
(:func:`open_endpoint`), so vendors do not learn each other.

A service is a table of :data:`Routes` (``("POST", "/step") -> handler``); a handler takes
the JSON body (with any path parameters merged in) and returns a JSON object, or raises a
:class:`~mercato.errors.MercatoError` that becomes a 4xx/5xx reply with a one-line
``{"error": ...}``. The same table is served over HTTP (:func:`make_app`, FastAPI, and
:func:`serve`, uvicorn) and called in process (:class:`LocalTransport`); a client holds a
:class:`Transport` (:class:`HttpTransport` over requests, or the local one) and never checks
which.
"""

from __future__ import annotations

import base64
import binascii
import logging
import socket
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlsplit

from mercato.errors import InputError, IntegrityError, MercatoError, ProtocolError
from mercato.storage.envelope import open_envelope, seal

logger = logging.getLogger(__name__)

ENDPOINT_LABEL = b"mercato/api/endpoint/v1"
"""Associated data of a sealed endpoint, so no other sealed blob opens as one."""
LOOPBACK = "127.0.0.1"
"""Where services listen unless told otherwise."""
DEFAULT_TIMEOUT_SECONDS = 30.0
"""How long a service waits for another's answer before counting it down."""

Handler = Callable[[dict[str, Any]], dict[str, Any]]
Routes = Mapping[tuple[str, str], Handler]


class Unreachable(MercatoError):
    """A service did not answer: refused connection, timeout, broken reply."""


class NotFound(ProtocolError):
    """What was asked for is not kept here."""


class DepositTooLow(ProtocolError):
    """The consumer's deposit does not cover its calls."""


class Unavailable(ProtocolError):
    """No live vendor could run a step."""


STATUS: tuple[tuple[type[MercatoError], int], ...] = (
    (InputError, 400),
    (DepositTooLow, 402),
    (IntegrityError, 403),
    (NotFound, 404),
    (Unavailable, 503),
    (ProtocolError, 409),
    (MercatoError, 500),
)
"""HTTP status of each error a handler raises; the first class that matches wins."""


@dataclass(frozen=True)
class Reply:
    """A service's answer: HTTP status and JSON body."""

    status: int
    body: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Whether the status is 2xx."""
        return 200 <= self.status < 300

    def unwrap(self) -> dict[str, Any]:
        """Return the body of a 2xx reply; raise the error a 4xx/5xx reply stands for."""
        if self.ok:
            return self.body
        message = str(self.body.get("error", f"HTTP {self.status}"))
        for error, status in STATUS:
            if status == self.status:
                raise error(message)
        if 400 <= self.status < 500:
            raise InputError(message)
        raise ProtocolError(message)


class Transport(Protocol):
    """Sends a JSON request to a service and returns its reply; raises Unreachable if none."""

    def request(
        self, method: str, url: str, path: str, body: Mapping[str, Any] | None = None
    ) -> Reply: ...


def status_of(error: BaseException) -> int:
    """Return the HTTP status for an error a handler raised (500 for anything unforeseen)."""
    for kind, status in STATUS:
        if isinstance(error, kind):
            return status
    return 500


def dispatch(routes: Routes, method: str, path: str, body: Mapping[str, Any] | None) -> Reply:
    """Run the handler of ``method path`` on ``body`` and turn what it raises into a Reply."""
    route, _, query = path.partition("?")
    for (route_method, template), handler in routes.items():
        params = _match(template, route)
        if route_method == method and params is not None:
            return call_handler(handler, {**dict(parse_qsl(query)), **dict(body or {}), **params})
    return Reply(404, {"error": f"no route {method} {path}"})


def call_handler(handler: Handler, body: dict[str, Any]) -> Reply:
    """Run one handler; a MercatoError becomes its status and one line, anything else a 500."""
    try:
        return Reply(200, handler(body))
    except MercatoError as exc:
        return Reply(status_of(exc), {"error": _one_line(str(exc))})
    except Exception:  # a bug must not take the service down nor leak a traceback
        logger.exception("handler failed")
        return Reply(500, {"error": "internal error; see the service's log"})


class LocalTransport:
    """Calls services in this process by URL: the same routes, no sockets."""

    def __init__(self, services: Mapping[str, Routes] | None = None) -> None:
        self.services: dict[str, Routes] = dict(services or {})
        self.down: set[str] = set()

    def request(
        self, method: str, url: str, path: str, body: Mapping[str, Any] | None = None
    ) -> Reply:
        """Dispatch to the service at ``url``; one marked down or unknown is unreachable."""
        if url in self.down or url not in self.services:
            raise Unreachable(f"{url} does not answer")
        reply = dispatch(self.services[url], method, path, body)
        return Reply(reply.status, _json_round_trip(reply.body))


class HttpTransport:
    """Calls services over HTTP with requests (a pooled session per thread, a timeout each)."""

    def __init__(self, timeout: float = DEFAULT_TIMEOUT_SECONDS) -> None:
        self.timeout = timeout
        self._local = threading.local()
        self._sessions: list[Any] = []
        self._lock = threading.Lock()

    def request(
        self, method: str, url: str, path: str, body: Mapping[str, Any] | None = None
    ) -> Reply:
        """Send the request; a refused connection, timeout or non-JSON reply is Unreachable."""
        import requests

        try:
            response = self._session().request(
                method,
                url.rstrip("/") + path,
                json=None if body is None else dict(body),
                timeout=self.timeout,
            )
        except requests.RequestException as exc:
            raise Unreachable(f"{url} does not answer: {type(exc).__name__}") from None
        try:
            payload = response.json()
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            if response.status_code >= 500:
                payload = {"error": f"HTTP {response.status_code}"}
            else:
                raise Unreachable(f"{url} answered {response.status_code} without a JSON object")
        return Reply(response.status_code, payload)

    def close(self) -> None:
        """Close the pooled connections of every thread's session."""
        with self._lock:
            sessions, self._sessions = self._sessions, []
        for session in sessions:
            session.close()

    def _session(self) -> Any:
        # a requests Session is not safe to share between threads; the orchestrator's
        # handlers run in a thread pool
        session = getattr(self._local, "session", None)
        if session is None:
            import requests

            session = self._local.session = requests.Session()
            with self._lock:
                self._sessions.append(session)
        return session


def make_app(routes: Routes, title: str) -> Any:
    """Return a FastAPI app serving ``routes``; bad JSON is a 400, errors one line."""
    from fastapi import FastAPI, Request
    from fastapi.concurrency import run_in_threadpool
    from fastapi.responses import JSONResponse

    app = FastAPI(title=title, docs_url=None, redoc_url=None, openapi_url=None)

    def endpoint_for(handler: Handler, method: str) -> Callable[..., Any]:
        async def endpoint(request: Request) -> JSONResponse:
            body: Any = {}
            if method == "POST":
                try:
                    body = await request.json()
                except ValueError:
                    return JSONResponse({"error": "the body is not JSON"}, status_code=400)
                if not isinstance(body, dict):
                    return JSONResponse(
                        {"error": "the body must be a JSON object"}, status_code=400
                    )
            merged = {**dict(request.query_params), **body, **request.path_params}
            reply = await run_in_threadpool(call_handler, handler, merged)
            return JSONResponse(reply.body, status_code=reply.status)

        # real classes, not the strings of postponed annotations: FastAPI resolves these
        # against the module's globals, where the lazily imported names are not
        endpoint.__annotations__ = {"request": Request, "return": JSONResponse}
        return endpoint

    for (method, path), handler in routes.items():
        app.add_api_route(path, endpoint_for(handler, method), methods=[method])
    return app


def bind(host: str, port: int) -> tuple[socket.socket, str]:
    """Bind a listening socket (port 0: a free one) and return it with its ``http://`` URL;
    one line (InputError) if the address is taken.

    The socket names its protocol (TCP): asyncio turns Nagle's algorithm off on accepted
    connections only then, and with it on, each answer on a kept-alive connection (a
    browser's, a ``requests.Session``) waited ~40 ms for the client's delayed ACK.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise InputError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.listen(128)
    bound_host, bound_port = sock.getsockname()[:2]
    return sock, f"http://{bound_host}:{bound_port}"


def serve(app: Any, sock: socket.socket) -> None:
    """Serve ``app`` with uvicorn on an already bound socket until SIGINT or SIGTERM."""
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    server.run(sockets=[sock])


def print_line(url: str) -> None:
    """Print a served URL on a line of its own (what a parent process waits for)."""
    print(url, flush=True)


def seal_endpoint(url: str, orchestrator_public_key: bytes) -> bytes:
    """Seal a vendor's URL so that only the orchestrator's key opens it."""
    check_url(url)
    return seal(url.encode(), [orchestrator_public_key], ENDPOINT_LABEL)


def open_endpoint(blob: bytes, private_key: bytes) -> str:
    """Open a sealed endpoint with the orchestrator's private key and return the URL."""
    try:
        url = open_envelope(blob, private_key, ENDPOINT_LABEL).decode()
    except UnicodeDecodeError:
        raise IntegrityError("a sealed endpoint holds no text URL") from None
    check_url(url)
    return url


def check_url(url: str) -> None:
    """Refuse anything but an ``http(s)://host[:port]`` URL."""
    parts = urlsplit(url) if isinstance(url, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise InputError(f"an endpoint is an http(s)://host:port URL, not {url!r}")


def to_b64(data: bytes) -> str:
    """Encode bytes for a JSON body."""
    return base64.b64encode(data).decode()


def from_b64(value: Any, name: str) -> bytes:
    """Decode a base64 field of a JSON body; a malformed one names the field."""
    if not isinstance(value, str):
        raise InputError(f"{name} must be a base64 string")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise InputError(f"{name} is not valid base64") from None


def to_hex(data: bytes) -> str:
    """Encode bytes as 0x-hex for a JSON body."""
    return "0x" + data.hex()


def from_hex(value: Any, name: str, size: int | None = None) -> bytes:
    """Decode a 0x-hex field of a JSON body, of ``size`` bytes if given."""
    try:
        data = bytes.fromhex(value.removeprefix("0x"))
    except (AttributeError, ValueError):
        raise InputError(f"{name} must be 0x-hex") from None
    if size is not None and len(data) != size:
        raise InputError(f"{name} must be {size} bytes, not {len(data)}")
    return data


def field_of(body: Mapping[str, Any], name: str) -> Any:
    """Return a required field of a JSON body; a missing one is an InputError naming it."""
    if name not in body:
        raise InputError(f"the body has no {name!r}")
    return body[name]


def _match(template: str, path: str) -> dict[str, str] | None:
    wanted, given = template.strip("/").split("/"), path.strip("/").split("/")
    if len(wanted) != len(given):
        return None
    params = {}
    for part, value in zip(wanted, given, strict=True):
        if part.startswith("{") and part.endswith("}"):
            params[part[1:-1]] = value
        elif part != value:
            return None
    return params


def _json_round_trip(body: dict[str, Any]) -> dict[str, Any]:
    import json

    result: dict[str, Any] = json.loads(json.dumps(body))
    return result


def _one_line(message: str) -> str:
    return " ".join(message.split())
