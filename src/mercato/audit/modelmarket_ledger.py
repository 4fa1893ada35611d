"""One P4 request's record as an auditor reads it: its events, its blobs, one viewer's keys.

:class:`RequestLedger` reads the request, its submissions, volunteers and events once (the
events filtered by the node on the request's id), the escrow's ``Credited`` events of the
request's transactions, and opens sealed blobs with the viewer's key where the viewer is a
recipient: a drawn executor opens the hidden groups and every model sealed to the
executors, the buyer every delivery. Nothing here judges; the checks of
:mod:`mercato.audit.modelmarket` do.
"""

from __future__ import annotations

from functools import cached_property

from mercato.audit.blobs import Opened, fetch
from mercato.audit.report import Finding
from mercato.chain.contract import Event
from mercato.errors import BlobNotFound, InputError, IntegrityError, MercatoError
from mercato.protocols.identity import Identity
from mercato.protocols.marketplace import Marketplace
from mercato.protocols.modelmarket import history
from mercato.protocols.modelmarket.documents import TaskDocument, purpose, read_groups
from mercato.protocols.modelmarket.evaluation import Benchmark, benchmark
from mercato.protocols.modelmarket.views import (
    Request,
    Submission,
    SubmissionState,
    request_events,
)
from mercato.storage.base import hash_hex
from mercato.storage.envelope import open_envelope, recipient_count
from mercato.timefmt import same_address

BUYER = "buyer"
SELLER = "seller"
EXECUTOR = "executor"
CONTRACT = "contract"


class RequestLedger:
    """Everything an auditor reads about one request, for one viewer."""

    def __init__(self, market: Marketplace, request_id: int, viewer: Identity | None) -> None:
        mm = market.model_market
        self.market = market
        self.request_id = request_id
        self.viewer = viewer
        self.request: Request = mm.request(request_id)
        self.submissions: tuple[Submission, ...] = mm.submissions(request_id)
        self.volunteers: tuple[str, ...] = mm.volunteers(request_id)
        # read after the state, so that the events cover at least what the state reflects
        self.events: list[Event] = request_events(market, request_id)
        self.now = market.chain.timestamp()
        self.block = market.chain.block_number() + 1
        self._opened: dict[tuple[str, str], Opened] = {}

    # events ---------------------------------------------------------------------------------
    def named(self, name: str, **match: object) -> list[Event]:
        """Events called ``name`` whose arguments equal every ``match``, in chain order."""
        return [
            e
            for e in self.events
            if e.name == name and all(e[key] == value for key, value in match.items())
        ]

    def last(self, name: str) -> Event | None:
        found = self.named(name)
        return found[-1] if found else None

    @property
    def posted(self) -> Event:
        return self.named("RequestPosted")[0]

    @property
    def schedule(self) -> list[tuple[int, int]]:
        """(score in ppm, price in wei) points, as posted."""
        event = self.posted
        return [
            (int(s), int(p))
            for s, p in zip(event["schedule_scores"], event["schedule_prices"], strict=True)
        ]

    @property
    def drawn_executors(self) -> list[str]:
        """The executors the block hash drew (empty before the draw)."""
        drawn = self.last("ExecutorsDrawn")
        return [] if drawn is None else [str(a) for a in drawn["executors"]]

    @property
    def tallied(self) -> Event | None:
        return self.last("Tallied")

    @property
    def ended(self) -> Event | None:
        return self.last("RequestEnded")

    def rejected_before(self, event: Event | None = None) -> set[int]:
        """Submissions whose delivery the buyer rejected (before ``event``, if given)."""
        return {
            int(e["index"])
            for e in self.named("DeliveryRejected")
            if event is None
            or (e.block_number, e.log_index) < (event.block_number, event.log_index)
        }

    def live(self, event: Event | None = None) -> list[bool]:
        """Each submission still in at ``event`` (its delivery not rejected before it)."""
        rejected = self.rejected_before(event)
        return [s.index not in rejected for s in self.submissions]

    def sealed(self, sender: str) -> Event | None:
        """The first blob ``sender`` sealed to the executors (the one they read)."""
        for event in self.named("Sealed"):
            if same_address(str(event["sender"]), sender):
                return event
        return None

    @cached_property
    def credits(self) -> dict[str, list[tuple[str, int]]]:
        """The escrow's Credited events of this request's transactions, by transaction."""
        txs = {e.tx_hash for e in self.events}
        blocks = [e.block_number for e in self.events]
        found: dict[str, list[tuple[str, int]]] = {}
        for event in self.market.model_market.events(
            "Credited", from_block=min(blocks), to_block=max(blocks)
        ):
            if event.tx_hash in txs:
                found.setdefault(event.tx_hash, []).append(
                    (str(event["account"]), int(event["amount"]))
                )
        return found

    # the viewer -----------------------------------------------------------------------------
    def _is(self, address: str) -> bool:
        return self.viewer is not None and same_address(self.viewer.address, address)

    @property
    def is_buyer(self) -> bool:
        return self._is(self.request.buyer)

    @property
    def is_executor(self) -> bool:
        """The viewer is a drawn executor: the hidden groups and the models are sealed to it."""
        return any(self._is(a) for a in self.drawn_executors)

    @property
    def status_label(self) -> str:
        """The entry's state as the CLI prints it."""
        return str(self.request.status.label)

    @property
    def roles(self) -> tuple[str, ...]:
        held = (
            (BUYER, self.is_buyer),
            (SELLER, any(self._is(s.seller) for s in self.submissions)),
            (EXECUTOR, self.is_executor),
        )
        return tuple(role for role, has in held if has)

    # evidence -------------------------------------------------------------------------------
    def against_buyer(self, text: str) -> Finding:
        return Finding(text, self.request.buyer, BUYER)

    def against_seller(self, index: int, text: str) -> Finding:
        return Finding(f"submission {index}: {text}", self.submissions[index].seller, SELLER)

    def against_executor(self, address: str, text: str) -> Finding:
        return Finding(text, address, EXECUTOR)

    def against_contract(self, text: str) -> Finding:
        """The contract broke its own rules (or the node serves a forged history)."""
        return Finding(text, self.market.model_market.address, CONTRACT)

    def seller_name(self, index: int) -> str:
        return f"seller {index} ({self.submissions[index].seller})"

    # blobs ----------------------------------------------------------------------------------
    def blob(self, value: bytes) -> Opened:
        """The blob a bytes32 names, or why it cannot be read."""
        return fetch(self.market.store, value)

    def recipients(self, value: bytes) -> int | None:
        """How many keys the envelope a bytes32 names is sealed to (None: unreadable)."""
        envelope = self.blob(value).content
        if envelope is None:
            return None
        try:
            return recipient_count(envelope)
        except MercatoError:
            return 0

    def open(self, value: bytes, what: str) -> Opened:
        """The envelope a bytes32 names, opened with the viewer's key for ``what`` (``test``,
        ``model 2``, ``delivery``)."""
        assert self.viewer is not None
        key = (hash_hex(value), what)
        if key not in self._opened:
            envelope = self.blob(value)
            if envelope.content is None:
                self._opened[key] = envelope
            else:
                try:
                    self._opened[key] = Opened(
                        open_envelope(
                            envelope.content,
                            self.viewer.encryption_private,
                            purpose(self.request_id, what),
                        )
                    )
                except (IntegrityError, InputError) as exc:
                    self._opened[key] = Opened(None, f"it does not open with our key: {exc}")
        return self._opened[key]

    @cached_property
    def task(self) -> TaskDocument | str:
        """The task document, or why it cannot be read."""
        opened = self.blob(bytes(self.posted["task_hash"]))
        if opened.content is None:
            return f"the task document: {opened.problem}"
        try:
            return TaskDocument.from_bytes(opened.content)
        except InputError as exc:
            return f"the task document: {exc}"

    @cached_property
    def sample(self) -> dict[int, bytes] | str | None:
        """The revealed sample's groups (None: not revealed), or why they cannot be read."""
        try:
            return history.sample_groups(self.market, self.request_id)
        except BlobNotFound as exc:
            return f"the sample blob is not in the store: {exc}"
        except (InputError, IntegrityError) as exc:
            return str(exc)

    @cached_property
    def hidden(self) -> dict[int, bytes] | None:
        """The hidden groups the buyer sealed, opened with a drawn executor's key (None: none
        sealed, or not to us; an unreadable blob is no groups)."""
        sealed = self.sealed(self.request.buyer)
        if sealed is None:
            return None
        opened = self.open(bytes(sealed["blob_hash"]), "test")
        if opened.content is None:
            return None
        try:
            return read_groups(opened.content)
        except InputError:
            return {}

    def model(self, index: int) -> bytes | None:
        """The model seller ``index`` sealed to the executors, opened with our key."""
        sealed = self.sealed(self.submissions[index].seller)
        if sealed is None:
            return None
        return self.open(bytes(sealed["blob_hash"]), f"model {index}").content

    @cached_property
    def benchmark(self) -> Benchmark:
        """The benchmark re-run as an executor runs it, with what was sealed to the viewer."""
        sample = self.sample if isinstance(self.sample, dict) else {}
        live = self.live(self.tallied)
        return benchmark(
            self.request.test_root,
            self.request.groups,
            sample,
            self.hidden,
            [
                self.model(s.index) if alive else None
                for s, alive in zip(self.submissions, live, strict=True)
            ],
            [s.plain_root for s in self.submissions],
            live,
        )

    @property
    def benchmarked(self) -> bool:
        """The executors were drawn: the benchmark ran or should have."""
        return self.last("ExecutorsDrawn") is not None

    def state(self, index: int) -> SubmissionState:
        return self.submissions[index].state
