"""One API's record as an auditor reads it: the chain's events, the blobs, one viewer's keys.

:class:`ApiLedger` reads every event of the API market once (one scan since the
deployment), keeps the API's own in chain order, groups the escrow's ``Credited`` events by
transaction (they name no API: a transaction touches one), reads the API document and each
batch's records file from the blob store, and knows which of the API's parties the viewer
is. Nothing here judges; the checks of :mod:`mercato.audit.apimarket` do.
"""

from __future__ import annotations

from functools import cached_property

from mercato.audit.blobs import fetch
from mercato.audit.report import Finding
from mercato.chain.contract import Event
from mercato.errors import InputError
from mercato.protocols.apimarket.documents import ApiDocument
from mercato.protocols.apimarket.records import Batch
from mercato.protocols.apimarket.views import Api, SlotView
from mercato.protocols.identity import Identity
from mercato.protocols.marketplace import Marketplace
from mercato.storage.base import hash_hex

PROVIDER = "provider"
ORCHESTRATOR = "orchestrator"
VENDOR = "vendor"
CONSUMER = "consumer"
CONTRACT = "contract"


def same(a: str | None, b: str | None) -> bool:
    """Two addresses are the same account (checksum case aside)."""
    return a is not None and b is not None and a.lower() == b.lower()


class ApiLedger:
    """Everything an auditor reads about one API, for one viewer."""

    def __init__(self, market: Marketplace, api_id: int, viewer: Identity | None) -> None:
        am = market.api_market
        self.market = market
        self.api_id = api_id
        self.viewer = viewer
        self.api: Api = am.api(api_id)
        self.slots: list[SlotView] = am.slots(api_id)
        self.now = market.chain.timestamp()
        # read after the state, so that the events cover at least what the state reflects
        every = am.events(from_block=market.deployment.block)
        self.events: list[Event] = [e for e in every if e.get("api") == api_id]
        txs = {e.tx_hash for e in self.events}
        self.credits: dict[str, list[tuple[str, int]]] = {}
        for event in every:
            if event.name == "Credited" and event.tx_hash in txs:
                self.credits.setdefault(event.tx_hash, []).append(
                    (str(event["account"]), int(event["amount"]))
                )
        self._by_name: dict[str, list[Event]] = {}
        for event in self.events:
            self._by_name.setdefault(event.name, []).append(event)
        self.registered: Event = self.named("ApiRegistered")[0]
        self._batches: dict[int, Batch | str] = {}

    # events ---------------------------------------------------------------------------------
    def named(self, name: str, **match: object) -> list[Event]:
        """The API's events called ``name`` whose arguments equal every ``match``."""
        return [
            e
            for e in self._by_name.get(name, [])
            if all(e[key] == value for key, value in match.items())
        ]

    def by_id(self, name: str, key: str) -> dict[int, Event]:
        """The API's ``name`` events by their ``key`` argument (an id or an epoch)."""
        return {int(e[key]): e for e in self.named(name)}

    @property
    def provider(self) -> str:
        return self.api.provider

    @property
    def orchestrator(self) -> str:
        return self.api.orchestrator

    def vendor(self, slot: int) -> str:
        return self.slots[slot].vendor

    @property
    def slot_components(self) -> list[int]:
        return [s.component for s in self.slots]

    # the viewer -----------------------------------------------------------------------------
    @property
    def viewer_slot(self) -> int | None:
        """The slot the viewer holds as a vendor (None: it holds none)."""
        if self.viewer is None:
            return None
        for index, slot in enumerate(self.slots):
            if same(slot.vendor, self.viewer.address):
                return index
        return None

    @property
    def is_orchestrator(self) -> bool:
        return self.viewer is not None and same(self.viewer.address, self.orchestrator)

    @property
    def status_label(self) -> str:
        """The entry's state as the CLI prints it."""
        return str(self.api.status.label)

    @property
    def roles(self) -> tuple[str, ...]:
        if self.viewer is None:
            return ()
        me = self.viewer.address
        consumers = {str(e["consumer"]).lower() for e in self.named("Deposited")}
        return tuple(
            role
            for role, held in (
                (PROVIDER, same(me, self.provider)),
                (ORCHESTRATOR, self.is_orchestrator),
                (VENDOR, self.viewer_slot is not None),
                (CONSUMER, me.lower() in consumers),
            )
            if held
        )

    # findings -------------------------------------------------------------------------------
    def against_provider(self, text: str) -> Finding:
        return Finding(text, self.provider, PROVIDER)

    def against_orchestrator(self, text: str, epoch: int | None = None) -> Finding:
        return Finding(text, self.orchestrator, ORCHESTRATOR, None, epoch)

    def against_vendor(self, slot: int, text: str, epoch: int | None = None) -> Finding:
        return Finding(text, self.vendor(slot), VENDOR, slot, epoch)

    def against_consumer(self, consumer: str, text: str, epoch: int | None = None) -> Finding:
        return Finding(text, consumer, CONSUMER, None, epoch)

    def against_contract(self, text: str, epoch: int | None = None) -> Finding:
        """The contract broke its own rules (or the node serves a forged history)."""
        return Finding(text, self.market.api_market.address, CONTRACT, None, epoch)

    # blobs ----------------------------------------------------------------------------------
    def blob(self, value: bytes) -> tuple[bytes | None, str]:
        """(bytes of the blob named by a bytes32, or None and why not)."""
        found = fetch(self.market.store, value)
        return found.content, found.problem

    @cached_property
    def document(self) -> ApiDocument | str:
        """The API document its registration names, or why it cannot be read."""
        value = bytes(self.registered["doc_hash"])
        data, problem = self.blob(value)
        if data is None:
            return f"the API document: {problem}"
        try:
            return ApiDocument.from_bytes(data)
        except InputError as exc:
            return f"the API document {hash_hex(value)}: {exc}"

    def batch(self, committed: Event) -> Batch | str:
        """The batch rebuilt from a BatchCommitted's records file, or why it cannot be."""
        epoch = int(committed["epoch"])
        if epoch not in self._batches:
            value = bytes(committed["records_hash"])
            data, problem = self.blob(value)
            if data is None:
                self._batches[epoch] = f"its records file: {problem}"
            else:
                try:
                    self._batches[epoch] = Batch.from_bytes(data, self.api.slots)
                except InputError as exc:
                    self._batches[epoch] = f"its records file {hash_hex(value)}: {exc}"
        return self._batches[epoch]
