"""The services wired to the chain: what a vendor's and the orchestrator's process are given.

- :func:`terms_for`: an API's terms from its chain view and its document;
- :func:`endpoints_for`: the vendors' URLs, opened from the sealed blobs their joins named;
- :func:`seal_joined_endpoint`, :func:`save_endpoint` and :func:`joined_endpoint`: the URL a
  vendor joins with, sealed to the orchestrator and to itself and kept in its folder, so a
  restarted vendor serves where the orchestrator calls it (the contract takes it once);
- :class:`ChainReads`: the chain time and the consumers' deposits the orchestrator checks,
  either read live (a node) or from a snapshot that the thread driving an in-process chain
  refreshes (the embedded EVM belongs to the thread that drives it);
- :class:`BackgroundServer`: a service on a bound socket in a thread of this process;
- :func:`start_vendor_process`: a vendor as its own process (``python -m ...vendor``),
  waiting for the URL it prints.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mercato.errors import MercatoError, ProtocolError
from mercato.protocols.apimarket.documents import ApiDocument
from mercato.protocols.apimarket.endpoints import ENDPOINT_LABEL, check_url, open_endpoint
from mercato.protocols.apimarket.terms import ApiTerms
from mercato.protocols.apimarket.views import terms_of
from mercato.storage.base import hash_hex
from mercato.storage.envelope import seal
from mercato.user_files import write_secret

if TYPE_CHECKING:
    import socket

    from mercato.protocols.identity import Identity
    from mercato.protocols.marketplace import Marketplace

VENDOR_START_SECONDS = 60.0
"""How long a vendor process may take to print its URL (imports on a loaded machine)."""


def document_for(market: Marketplace, api_id: int) -> ApiDocument:
    """The API's document, read from the store by the hash it registered."""
    event = market.api_market.first("ApiRegistered", api=api_id)
    return ApiDocument.from_bytes(market.store.get(hash_hex(bytes(event["doc_hash"]))))


def terms_for(market: Marketplace, api_id: int, document: ApiDocument | None = None) -> ApiTerms:
    """The terms the services work by, from the chain and the API's document."""
    am = market.api_market
    document = document or document_for(market, api_id)
    return terms_of(am.address, am.api(api_id), am.slots(api_id), document.flow, document.subsets)


def endpoints_for(market: Marketplace, me: Identity, api_id: int) -> dict[int, str]:
    """Each joined slot's URL, opened with the orchestrator's key from the blob it sealed."""
    urls = {}
    for event in market.api_market.events("Joined", api=api_id):
        blob = market.store.get(hash_hex(bytes(event["endpoint_hash"])))
        urls[int(event["slot"])] = open_endpoint(blob, me.encryption_private)
    return urls


@dataclass(frozen=True)
class VendorEndpoint:
    """Where a vendor serves an API it joined: the URL sealed to the orchestrator, and the
    address it listened on (None if unknown: the URL was read back from the chain)."""

    url: str
    listen: str | None = None

    @property
    def proxied(self) -> bool:
        """Whether the sealed URL is a public address apart from where the vendor listens."""
        return self.listen is not None and self.listen.rstrip("/") != self.url.rstrip("/")


def seal_joined_endpoint(url: str, orchestrator_key: bytes, own_key: bytes) -> bytes:
    """Seal a vendor's URL to the orchestrator's encryption key and to its own, so that the
    vendor can read back from the chain where it joined (:func:`joined_endpoint`)."""
    check_url(url)
    return seal(url.encode(), [orchestrator_key, own_key], ENDPOINT_LABEL)


def endpoint_file(folder: Path, api_id: int) -> Path:
    """Where a vendor's service keeps the endpoint it joins API ``api_id`` with."""
    return folder / f"api-{api_id}.endpoint.json"


def save_endpoint(folder: Path, api_id: int, endpoint: VendorEndpoint) -> None:
    """Keep the endpoint a vendor is about to join API ``api_id`` with (replacing any)."""
    document = {"url": endpoint.url, "listen": endpoint.listen}
    write_secret(endpoint_file(folder, api_id), json.dumps(document).encode())


def joined_endpoint(
    market: Marketplace, me: Identity, api_id: int, folder: Path
) -> VendorEndpoint | None:
    """The endpoint ``me`` joined API ``api_id`` with (None: not joined, or not known).

    The join's sealed blob says the URL when it was sealed to the vendor too; the folder
    says where the vendor listened. A kept endpoint that the chain contradicts (another
    process joined) is ignored.
    """
    event = next(
        (e for e in market.api_market.events("Joined", api=api_id)
         if str(e["vendor"]).lower() == me.address.lower()),
        None,
    )  # fmt: skip
    if event is None:
        return None
    on_chain: str | None = None
    try:
        blob = market.store.get(hash_hex(bytes(event["endpoint_hash"])))
        on_chain = open_endpoint(blob, me.encryption_private)
    except MercatoError:
        pass  # sealed to the orchestrator only (or its blob is not at hand)
    kept = _kept_endpoint(endpoint_file(folder, api_id))
    if kept is not None and on_chain in (None, kept.url):
        return kept
    return None if on_chain is None else VendorEndpoint(on_chain)


def _kept_endpoint(path: Path) -> VendorEndpoint | None:
    try:
        data = json.loads(path.read_text())
        url, listen = str(data["url"]), data.get("listen")
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return VendorEndpoint(url, None if listen is None else str(listen))


@dataclass
class ChainReads:
    """Chain time and deposits for the orchestrator: live from a node, or a snapshot."""

    market: Marketplace
    api_id: int
    live: bool
    """Read the chain on each call (a node); else answer from the last :meth:`refresh`."""
    _now: int = 0
    _deposits: dict[str, int] = field(default_factory=dict)

    def refresh(self) -> None:
        """Take a snapshot of the chain's time and of every depositor's deposit."""
        am = self.market.api_market
        self._now = self.market.chain.timestamp()
        consumers = {str(e["consumer"]) for e in am.events("Deposited", api=self.api_id)}
        self._deposits = {c: am.deposit_of(self.api_id, c).amount for c in consumers}

    def now(self) -> int:
        return self.market.chain.timestamp() if self.live else self._now

    def balance(self, consumer: str) -> int:
        if self.live:
            return self.market.api_market.deposit_of(self.api_id, consumer).amount
        return self._deposits.get(consumer, 0)


class BackgroundServer:
    """An app served by uvicorn on a bound socket, in a daemon thread, until :meth:`stop`."""

    def __init__(self, app: Any, sock: socket.socket) -> None:
        import uvicorn

        self._server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)


@dataclass
class VendorProcess:
    """A vendor's service running as its own process."""

    process: subprocess.Popen[str]
    url: str
    config: Path

    def stop(self) -> None:
        """Stop it (SIGTERM, then SIGKILL if it lingers)."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def kill(self) -> None:
        """Kill it at once (a vendor that stops answering)."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def start_vendor_process(config: dict[str, Any], path: Path) -> VendorProcess:
    """Write ``config`` (readable by its owner only: it holds the vendor's key) to ``path``,
    start ``python -m mercato.protocols.apimarket.vendor`` on it and wait for its URL."""
    write_secret(path, json.dumps(config).encode())
    log = path.with_suffix(".log")
    with open(log, "w") as errors:  # the child keeps its own descriptor
        process = subprocess.Popen(
            [sys.executable, "-m", "mercato.protocols.apimarket.vendor", str(path)],
            stdout=subprocess.PIPE,
            stderr=errors,
            text=True,
        )
    stdout = process.stdout
    assert stdout is not None
    result: list[str] = []
    reader = threading.Thread(target=lambda: result.append(stdout.readline()), daemon=True)
    reader.start()
    reader.join(VENDOR_START_SECONDS)
    line = result[0].strip() if result else ""
    if not line.startswith("http://"):
        process.kill()
        process.wait()
        last = log.read_text().strip().splitlines()[-1:] or ["no URL printed"]
        raise ProtocolError(f"the vendor process did not start: {last[0]}")
    return VendorProcess(process, line, path)
