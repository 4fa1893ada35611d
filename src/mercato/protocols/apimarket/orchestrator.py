"""The orchestrator: the HTTP service that takes consumers' calls and routes them over vendors.

``POST /call`` takes a consumer's signed request and its input. The orchestrator checks the
signature, the epoch (the current one), the seq (the next of that consumer in that epoch)
and that the consumer's deposit covers its calls in epochs not yet settled; then it picks a
random live replica of each component (for a ``combine`` flow with ``subsets``, a random
non-empty subset of the members, then the combiner), signs an assignment for each step,
passes the data from vendor to vendor and answers with the output and every step's signed
assignment and receipt.

A vendor that does not answer, answers 5xx or returns a bad receipt is marked down and the
step goes to another replica (a failover, counted); one that refuses the step (4xx) is left
up and the next replica asked; when all refuse, the consumer gets their reason.

Everything is journaled before the consumer sees it: the accepted call (its seq is taken),
which slot a step is assigned to (a restarted orchestrator asks that vendor again, which
replays its receipt instead of running twice), each step with its input and output (kept for
disputes) and the answer. The consumer asks again with the same request to get a journaled
answer, or to finish a call the orchestrator crashed in; :meth:`Orchestrator.finish_open_calls`
finishes such calls without waiting for the consumer, and :meth:`Orchestrator.records_for`
then gives an epoch's step records for the batch. Once nobody can ask about an epoch any
more, :meth:`Orchestrator.rotate` moves its calls into an archive file beside the journal.

``POST /ack`` keeps the consumer's signed acknowledgement; ``GET /inputs/{hash}`` gives a
step's input to a vendor of its component (a replica re-executing a disputed step) that
signs the ask (:func:`sign_inputs_request`); ``GET /health``, ``GET /stats``.
"""

from __future__ import annotations

import json
import random
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from eth_abi.abi import encode
from eth_account import Account
from eth_account.messages import encode_defunct
from numpy.typing import NDArray

from mercato.crypto.commit import keccak
from mercato.errors import InputError, IntegrityError, MercatoError, ProtocolError
from mercato.protocols.apimarket.endpoints import (
    LOOPBACK,
    DepositTooLow,
    HttpTransport,
    NotFound,
    Routes,
    Transport,
    Unavailable,
    Unreachable,
    bind,
    field_of,
    from_b64,
    from_hex,
    make_app,
    open_endpoint,
    print_line,
    serve,
    to_b64,
    to_hex,
)
from mercato.protocols.apimarket.journal import Journal
from mercato.protocols.apimarket.messages import (
    Ack,
    Assignment,
    Receipt,
    Request,
    array_hash,
    decode_array,
    encode_array,
    signature_from_json,
    signature_to_json,
)
from mercato.protocols.apimarket.records import StepRecord
from mercato.protocols.apimarket.terms import ApiTerms

TAG_INPUTS = keccak(b"mercato/api/inputs/v1")
"""Tag of a vendor's signed ask for a step's input (``GET /inputs/{hash}``)."""

Balance = Callable[[str], int]
Clock = Callable[[], int]


@dataclass
class _Call:
    """What the journal holds of one call (internal, rebuilt on start)."""

    key: str
    request: Request
    request_sig: bytes
    input: bytes
    plan: list[int]
    steps: dict[int, dict[str, Any]] = field(default_factory=dict)
    order: list[int] = field(default_factory=list)
    assigned: dict[int, int] = field(default_factory=dict)
    answer: dict[str, Any] | None = None
    ack: dict[str, Any] | None = None


class Orchestrator:
    """One API's orchestrator: terms, key, vendors' URLs by slot, chain views and journal."""

    def __init__(
        self,
        terms: ApiTerms,
        key: bytes,
        endpoints: Mapping[int, str],
        balance: Balance,
        now: Clock,
        journal: Path | str,
        *,
        transport: Transport | None = None,
        seed: int | None = None,
    ) -> None:
        address = str(Account.from_key(key).address)
        if address != terms.orchestrator:
            raise InputError(
                f"this key is {address}, not the API's orchestrator {terms.orchestrator}"
            )
        unknown = sorted(set(endpoints) - set(range(len(terms.slots))))
        if unknown:
            raise InputError(f"endpoints for slots {unknown} that API {terms.api} does not have")
        self.terms = terms
        self.address = address
        self.endpoints = dict(endpoints)
        self._key = key
        self._balance = balance
        self._now = now
        self._transport: Transport = transport if transport is not None else HttpTransport()
        self._random = random.Random(seed) if seed is not None else random.SystemRandom()
        self._lock = threading.Lock()
        self._consumer_locks: dict[str, threading.Lock] = {}
        self._calls: dict[str, _Call] = {}
        self._last_seq: dict[tuple[int, str], int] = {}
        self._committed: set[int] = set()
        self._rotated: set[int] = set()
        self._archived_failovers: dict[int, int] = {}
        """Epoch -> the failovers its archive holds (the rotated epochs)."""
        self._out: set[int] = set()
        self._inputs: dict[tuple[int, str], str] = {}
        self.down: set[int] = set()
        self.failovers = 0
        self.journal = Journal(journal)
        for entry in self.journal:
            self._apply(entry)

    def routes(self) -> Routes:
        """The orchestrator's HTTP routes."""
        return {
            ("POST", "/call"): self.call,
            ("POST", "/ack"): self.ack,
            ("GET", "/inputs/{hash}"): self.inputs,
            ("GET", "/health"): self.health,
            ("GET", "/stats"): self.stats,
        }

    # --- the routes --------------------------------------------------------------------

    def call(self, body: dict[str, Any]) -> dict[str, Any]:
        """Serve one signed call: check it, run its steps over vendors, answer with receipts."""
        request = Request.from_json(field_of(body, "request"))
        request_sig = signature_from_json(field_of(body, "request_sig"))
        raw = from_b64(field_of(body, "input"), "input")
        rows = decode_array(raw)
        self._check_request(request, request_sig, rows)
        with self._consumer_lock(request.consumer):
            call = self._accept(request, request_sig, raw)
            if call.answer is None:
                self._finish(call, rows)
        return self._response(call)

    def ack(self, body: dict[str, Any]) -> dict[str, Any]:
        """Keep a consumer's signed acknowledgement of the output it received."""
        ack = Ack.from_json(field_of(body, "ack"))
        ack_sig = signature_from_json(field_of(body, "ack_sig"))
        if ack.signer(self.terms.market, ack_sig) != ack.consumer:
            raise IntegrityError("the ack is not signed by its consumer")
        key = call_key(ack.epoch, ack.consumer, ack.seq)
        call = self._calls.get(key)
        if ack.api != self.terms.api or call is None or call.answer is None:
            raise NotFound(f"no answered call {ack.seq} of {ack.consumer} in epoch {ack.epoch}")
        if to_hex(ack.output_hash) != call.answer["output_hash"]:
            raise IntegrityError("the ack names another output than the one answered")
        if call.ack is None:
            self._record(
                {
                    "kind": "ack",
                    "key": key,
                    "ack": ack.to_json(),
                    "ack_sig": signature_to_json(ack_sig),
                }
            )
        return {"ok": True}

    def inputs(self, body: dict[str, Any]) -> dict[str, Any]:
        """Give a step's input to a vendor of its component that signed the ask."""
        hash_in = from_hex(field_of(body, "hash"), "hash", 32)
        signature = signature_from_json(field_of(body, "sig"))
        asker = recover_inputs_request(self.terms.market, self.terms.api, hash_in, signature)
        slot = self.terms.slot_of(asker)
        if slot is None:
            raise IntegrityError(f"{asker} is no vendor of API {self.terms.api}")
        component = self.terms.slots[slot].component
        with self._lock:
            data = self._inputs.get((component, to_hex(hash_in)))
        if data is not None:
            return {"input": data, "component": component}
        raise NotFound(f"no step of component {component} had the input {to_hex(hash_in)}")

    def health(self, body: dict[str, Any]) -> dict[str, Any]:
        """Who this orchestrator is, for which API, and which slots it counts down."""
        return {
            "ok": True,
            "orchestrator": self.address,
            "api": self.terms.api,
            "down": sorted(self.down | self._out),
        }

    def stats(self, body: dict[str, Any]) -> dict[str, Any]:
        """Calls answered, steps run and acks of the epochs the journal holds (not rotated
        out), and failovers since the journal began."""
        with self._lock:
            calls = list(self._calls.values())
            return {
                "calls": sum(1 for call in calls if call.answer is not None),
                "steps": sum(len(call.steps) for call in calls),
                "acks": sum(1 for call in calls if call.ack is not None),
                "failovers": self.failovers,
                "down": sorted(self.down | self._out),
            }

    # --- for the batcher and the dispute agents ----------------------------------------

    def records_for(self, epoch: int) -> list[StepRecord]:
        """Return the step records of ``epoch``: one per step run, for its batch."""
        with self._lock:
            receipts = [
                call.steps[component]["receipt"]
                for call in self._calls.values()
                if call.request.epoch == epoch
                for component in call.order
            ]
        records = []
        for data in receipts:
            receipt = Receipt.from_json(data)
            records.append(
                StepRecord(
                    api=receipt.api,
                    epoch=receipt.epoch,
                    consumer=receipt.consumer,
                    seq=receipt.seq,
                    component=receipt.component,
                    slot=receipt.slot,
                    hash_in=receipt.hash_in,
                    hash_out=receipt.hash_out,
                )
            )
        return records

    def finish_open_calls(self) -> int:
        """Finish the calls a crash left unanswered, from their journaled inputs.

        Steps a vendor already answered are replayed from its journal, so none runs twice;
        a call that cannot finish now stays open (or, if no step of it ran, frees its seq).
        Run it before :meth:`records_for`, so an epoch's batch has every call whole.
        Returns how many calls it finished.
        """
        with self._lock:
            open_calls = [call for call in self._calls.values() if call.answer is None]
        finished = 0
        for call in open_calls:
            with self._consumer_lock(call.request.consumer):
                if call.answer is not None or self._calls.get(call.key) is not call:
                    continue  # the consumer's retry finished it meanwhile
                try:
                    self._finish(call, decode_array(call.input))
                except MercatoError:
                    continue
                finished += 1
        return finished

    def mark_committed(self, epoch: int) -> None:
        """Note that ``epoch``'s batch is on chain: its calls are debited from the deposits."""
        if epoch not in self._committed:
            self._record({"kind": "committed", "epoch": epoch})

    def exclude(self, slot: int) -> None:
        """Stop routing to ``slot`` for good (its vendor was slashed)."""
        if slot not in self._out:
            self._record({"kind": "out", "slot": slot})

    def held_epochs(self) -> list[int]:
        """The epochs whose calls the journal still holds (not rotated out), oldest first."""
        with self._lock:
            return sorted({call.request.epoch for call in self._calls.values()})

    def rotate(self, epoch: int) -> int:
        """Move ``epoch``'s calls out of the journal into its archive file
        (:func:`archive_of`) and out of memory; how many entries moved.

        Only for an epoch nobody can ask about any more: its batch finalized on chain and no
        claim, challenge or dispute of it open (none can open once its window closed).
        """
        with self._lock:
            if epoch not in self._committed:
                raise ProtocolError(f"epoch {epoch}'s batch is not committed: its calls stay")
            if not any(call.request.epoch == epoch for call in self._calls.values()):
                return 0
            failovers = sum(1 for entry in self.journal if _epoch_of(entry) == epoch
                            and entry.get("kind") == "failover")  # fmt: skip
        locks = self._all_consumer_locks()  # no call of the epoch is being finished meanwhile
        for lock in locks:
            lock.acquire()
        try:
            self._record({"kind": "rotated", "epoch": epoch, "failovers": failovers})
            archive = archive_of(self.journal.path, epoch)
            moved = self.journal.rotate(lambda entry: _epoch_of(entry) == epoch, archive)
            with self._lock:
                live = sum(1 for entry in self.journal if entry.get("kind") == "failover")
                self.failovers = sum(self._archived_failovers.values()) + live
                for key in [k for k, c in self._calls.items() if c.request.epoch == epoch]:
                    del self._calls[key]
                for slot_key in [k for k in self._last_seq if k[0] == epoch]:
                    del self._last_seq[slot_key]
                self._inputs = {}
                for call in self._calls.values():
                    for component in call.order:
                        entry = call.steps[component]
                        hash_in = entry["receipt"]["hash_in"]
                        self._inputs.setdefault((component, hash_in), entry["input"])
        finally:
            for lock in locks:
                lock.release()
        return moved

    def evidence(self, epoch: int, consumer: str, seq: int) -> dict[str, Any] | None:
        """Return the journaled request, steps and ack of one call, or None if unknown."""
        with self._lock:
            call = self._calls.get(call_key(epoch, consumer, seq))
            if call is None:
                return None
            return {
                "request": call.request.to_json(),
                "request_sig": signature_to_json(call.request_sig),
                "steps": [call.steps[component] for component in call.order],
                "ack": call.ack,
            }

    def close(self) -> None:
        """Close the journal (and the HTTP client, if it has one)."""
        self.journal.close()
        closer = getattr(self._transport, "close", None)
        if closer is not None:
            closer()

    # --- checks ------------------------------------------------------------------------

    def _check_request(self, request: Request, signature: bytes, rows: NDArray[Any]) -> None:
        terms = self.terms
        if request.api != terms.api:
            raise InputError(f"this orchestrator serves API {terms.api}, not {request.api}")
        if request.price != terms.price:
            raise InputError(f"the price of a call is {terms.price}, not {request.price}")
        if request.signer(terms.market, signature) != request.consumer:
            raise IntegrityError("the request is not signed by its consumer")
        if array_hash(rows) != request.input_hash:
            raise IntegrityError("the input does not hash to the request's input_hash")
        if rows.ndim == 0 or rows.shape[0] == 0:
            raise InputError("a call needs at least one row of input")

    def _accept(self, request: Request, signature: bytes, raw: bytes) -> _Call:
        key = call_key(request.epoch, request.consumer, request.seq)
        known = self._calls.get(key)
        if known is not None:
            if known.request != request:
                raise ProtocolError(
                    f"call {request.seq} of epoch {request.epoch} was already made with "
                    "another request; sign the next seq"
                )
            return known  # a replay: the journaled answer, or the rest of an unfinished call
        epoch = self.terms.epoch_at(self._now())
        if request.epoch != epoch:
            raise ProtocolError(f"the request is for epoch {request.epoch}; it is epoch {epoch}")
        expected = self._last_seq.get((epoch, request.consumer), 0) + 1
        if request.seq != expected:
            raise ProtocolError(
                f"the next call of {request.consumer} in epoch {epoch} is seq {expected}, "
                f"not {request.seq}"
            )
        owed = (self._open_calls(request.consumer) + 1) * self.terms.price
        deposit = self._balance(request.consumer)
        if deposit < owed:
            raise DepositTooLow(
                f"the deposit of {request.consumer} is {deposit} wei; its unsettled calls and "
                f"this one cost {owed}: deposit more"
            )
        self._record(
            {
                "kind": "call",
                "key": key,
                "request": request.to_json(),
                "request_sig": signature_to_json(signature),
                "input": to_b64(raw),
                "plan": self._plan(),
            }
        )
        return self._calls[key]

    def _open_calls(self, consumer: str) -> int:
        return sum(
            seq
            for (epoch, who), seq in self._last_seq.items()
            if who == consumer and epoch not in self._committed
        )

    # --- running a call ----------------------------------------------------------------

    def _finish(self, call: _Call, rows: NDArray[Any]) -> None:
        try:
            output = self._execute(call, rows)
        except MercatoError:
            if not call.steps:  # nothing ran: the seq is free again
                self._record({"kind": "void", "key": call.key})
            raise
        self._record(
            {
                "kind": "answer",
                "key": call.key,
                "output": to_b64(encode_array(output)),
                "output_hash": to_hex(array_hash(output)),
            }
        )

    def _plan(self) -> list[int]:
        terms = self.terms
        if terms.flow == "combine":
            members = list(range(terms.components - 1))
            if terms.subsets:
                size = self._random.randint(1, len(members))
                members = sorted(self._random.sample(members, size))
            return [*members, terms.components - 1]
        return list(range(terms.components))

    def _execute(self, call: _Call, rows: NDArray[Any]) -> NDArray[Any]:
        flow = self.terms.flow
        if flow == "chain":
            for component in call.plan:
                rows = self._step(call, component, rows)
            return rows
        if flow == "combine":
            *members, combiner = call.plan
            outputs = [self._step(call, member, rows) for member in members]
            return self._step(call, combiner, np.concatenate(outputs))
        top, *parts = call.plan
        route = self._step(call, top, rows)
        if route.shape != rows.shape[:1] or not np.isin(route, range(len(parts))).all():
            raise ProtocolError(f"component {top}'s vendor routed rows to no part; dispute it")
        answers: dict[int, NDArray[Any]] = {}
        for position, part in enumerate(parts):
            if (route == position).any():
                answers[position] = self._step(call, part, rows[route == position])
        first = next(iter(answers.values()))
        result = np.empty((len(rows), *first.shape[1:]), dtype=first.dtype)
        for position, answer in answers.items():
            result[route == position] = answer
        return result

    def _step(self, call: _Call, component: int, rows: NDArray[Any]) -> NDArray[Any]:
        done = call.steps.get(component)
        if done is not None:  # journaled before a crash or in an earlier answer
            return decode_array(from_b64(done["output"], "output"))
        terms = self.terms
        hash_in = array_hash(rows)
        data = to_b64(encode_array(rows))
        tried: set[int] = set()
        refusal = ""
        while True:
            slot = self._choose(component, call.assigned.get(component), tried)
            if slot is None:
                if refusal:
                    raise InputError(f"component {component}'s vendors refuse the step: {refusal}")
                raise Unavailable(f"no live vendor for component {component}; try again later")
            tried.add(slot)
            if call.assigned.get(component) != slot:
                self._record(
                    {"kind": "assign", "key": call.key, "component": component, "slot": slot}
                )
            assignment = Assignment(
                api=terms.api,
                epoch=call.request.epoch,
                consumer=call.request.consumer,
                seq=call.request.seq,
                component=component,
                slot=slot,
                hash_in=hash_in,
            )
            assignment_sig = assignment.sign(terms.market, self._key)
            body = {
                "request": call.request.to_json(),
                "request_sig": signature_to_json(call.request_sig),
                "assignment": assignment.to_json(),
                "assignment_sig": signature_to_json(assignment_sig),
                "input": data,
            }
            try:
                reply = self._transport.request("POST", self.endpoints[slot], "/step", body)
            except Unreachable as exc:
                self._failed(call, component, slot, str(exc))
                continue
            if 400 <= reply.status < 500:
                refusal = str(reply.body.get("error", f"HTTP {reply.status}"))
                continue
            try:
                receipt, receipt_sig, output = self._check_answer(
                    reply.body if reply.ok else None, assignment
                )
            except MercatoError as exc:
                self._failed(
                    call, component, slot, str(exc) if reply.ok else f"HTTP {reply.status}"
                )
                continue
            with self._lock:
                self.down.discard(slot)
            self._record(
                {
                    "kind": "step",
                    "key": call.key,
                    "component": component,
                    "slot": slot,
                    "assignment": assignment.to_json(),
                    "assignment_sig": signature_to_json(assignment_sig),
                    "receipt": receipt.to_json(),
                    "receipt_sig": signature_to_json(receipt_sig),
                    "input": data,
                    "output": to_b64(encode_array(output)),
                }
            )
            return output

    def _check_answer(
        self, body: dict[str, Any] | None, assignment: Assignment
    ) -> tuple[Receipt, bytes, NDArray[Any]]:
        if body is None:
            raise ProtocolError("the vendor failed")
        receipt = Receipt.from_json(field_of(body, "receipt"))
        receipt_sig = signature_from_json(field_of(body, "receipt_sig"))
        output = decode_array(from_b64(field_of(body, "output"), "output"))
        expected = (
            assignment.api,
            assignment.epoch,
            assignment.consumer,
            assignment.seq,
            assignment.component,
            assignment.slot,
            assignment.hash_in,
        )
        got = (
            receipt.api,
            receipt.epoch,
            receipt.consumer,
            receipt.seq,
            receipt.component,
            receipt.slot,
            receipt.hash_in,
        )
        if got != expected:
            raise IntegrityError("the receipt is for another step than the one assigned")
        vendor = self.terms.slots[assignment.slot].vendor
        if receipt.signer(self.terms.market, receipt_sig) != vendor:
            raise IntegrityError("the receipt is not signed by the slot's vendor")
        if array_hash(output) != receipt.hash_out:
            raise IntegrityError("the output does not hash to the receipt's hash_out")
        return receipt, receipt_sig, output

    def _choose(self, component: int, preferred: int | None, tried: set[int]) -> int | None:
        with self._lock:
            usable = [
                slot
                for slot in self.terms.replicas(component)
                if slot in self.endpoints and slot not in self._out and slot not in tried
            ]
            live = [slot for slot in usable if slot not in self.down]
        if preferred is not None and preferred in usable:
            return preferred  # the slot journaled for this step: it replays its receipt
        if live:
            return self._random.choice(live)
        # every replica is counted down: ask them again before giving up (one may be back)
        return self._random.choice(usable) if usable else None

    def _failed(self, call: _Call, component: int, slot: int, reason: str) -> None:
        with self._lock:
            self.down.add(slot)
        self._record(
            {
                "kind": "failover",
                "key": call.key,
                "component": component,
                "slot": slot,
                "reason": reason,
            }
        )

    def _response(self, call: _Call) -> dict[str, Any]:
        assert call.answer is not None
        return {
            "epoch": call.request.epoch,
            "seq": call.request.seq,
            "output": call.answer["output"],
            "output_hash": call.answer["output_hash"],
            "steps": [
                {
                    name: call.steps[component][name]
                    for name in (
                        "component",
                        "slot",
                        "assignment",
                        "assignment_sig",
                        "receipt",
                        "receipt_sig",
                    )
                }
                for component in call.order
            ],
        }

    # --- the journal -------------------------------------------------------------------

    def _record(self, entry: dict[str, Any]) -> None:
        self.journal.append(entry)
        self._apply(json.loads(json.dumps(entry)))

    def _apply(self, entry: dict[str, Any]) -> None:
        kind = entry.get("kind")
        with self._lock:
            if _epoch_of(entry) in self._rotated:
                return  # late news of a call whose epoch went to its archive
            if kind == "call":
                request = Request.from_json(entry["request"])
                self._calls[entry["key"]] = _Call(
                    key=entry["key"],
                    request=request,
                    request_sig=signature_from_json(entry["request_sig"]),
                    input=from_b64(entry["input"], "input"),
                    plan=list(entry["plan"]),
                )
                slot_key = (request.epoch, request.consumer)
                self._last_seq[slot_key] = max(self._last_seq.get(slot_key, 0), request.seq)
            elif kind == "void":
                call = self._calls.pop(entry["key"])
                slot_key = (call.request.epoch, call.request.consumer)
                self._last_seq[slot_key] = call.request.seq - 1
            elif kind == "assign":
                self._calls[entry["key"]].assigned[entry["component"]] = entry["slot"]
            elif kind == "failover":
                self.failovers += 1
            elif kind == "step":
                call = self._calls[entry["key"]]
                call.steps[entry["component"]] = entry
                call.order.append(entry["component"])
                hash_in = entry["receipt"]["hash_in"]
                self._inputs.setdefault((entry["component"], hash_in), entry["input"])
            elif kind == "answer":
                self._calls[entry["key"]].answer = entry
            elif kind == "ack":
                self._calls[entry["key"]].ack = entry
            elif kind == "committed":
                self._committed.add(entry["epoch"])
            elif kind == "out":
                self._out.add(entry["slot"])
            elif kind == "rotated":  # the epoch's failovers went to its archive
                epoch, archived = int(entry["epoch"]), int(entry.get("failovers", 0))
                self._rotated.add(epoch)
                self.failovers += archived - self._archived_failovers.get(epoch, 0)
                self._archived_failovers[epoch] = archived

    def _consumer_lock(self, consumer: str) -> threading.Lock:
        with self._lock:
            return self._consumer_locks.setdefault(consumer, threading.Lock())

    def _all_consumer_locks(self) -> list[threading.Lock]:
        with self._lock:
            return [self._consumer_locks[c] for c in sorted(self._consumer_locks)]


def _epoch_of(entry: Mapping[str, Any]) -> int | None:
    """The epoch of the call a journal entry is about (its key starts with it), or None."""
    key = entry.get("key")
    head = key.split(":", 1)[0] if isinstance(key, str) else ""
    return int(head) if head.isdigit() else None


def archive_of(journal: Path, epoch: int) -> Path:
    """Where an orchestrator's journal keeps the calls of ``epoch`` once rotated out: a
    journal beside it (``api-1.journal`` -> ``api-1.epoch-0.journal``)."""
    return journal.with_name(f"{journal.stem}.epoch-{epoch}{journal.suffix}")


def call_key(epoch: int, consumer: str, seq: int) -> str:
    """The key a call is journaled under."""
    return f"{epoch}:{consumer}:{seq}"


def inputs_digest(market: str, api: int, hash_in: bytes) -> bytes:
    """Digest a vendor signs to ask for a step's input: (TAG_INPUTS, market, api, hash_in)."""
    return keccak(
        encode(["bytes32", "address", "uint256", "bytes32"], [TAG_INPUTS, market, api, hash_in])
    )


def sign_inputs_request(market: str, api: int, hash_in: bytes, private_key: bytes) -> bytes:
    """Sign the ask for the input that hashes to ``hash_in`` (EIP-191, 65 bytes)."""
    message = encode_defunct(primitive=inputs_digest(market, api, hash_in))
    return bytes(Account.from_key(private_key).sign_message(message).signature)


def recover_inputs_request(market: str, api: int, hash_in: bytes, signature: bytes) -> str:
    """Return who signed an ask for an input."""
    message = encode_defunct(primitive=inputs_digest(market, api, hash_in))
    try:
        return str(Account.recover_message(message, signature=signature))
    except Exception:  # eth_keys raises several kinds for a signature off the curve
        raise InputError("the ask's signature is malformed") from None


def open_endpoints(blobs: Mapping[int, bytes], private_key: bytes) -> dict[int, str]:
    """Open each slot's sealed endpoint with the orchestrator's key: slot -> URL."""
    return {slot: open_endpoint(blob, private_key) for slot, blob in blobs.items()}


def orchestrator_app(
    terms: ApiTerms,
    key: bytes,
    endpoints: Mapping[int, str],
    balance: Balance,
    now: Clock,
    journal: Path | str,
    *,
    transport: Transport | None = None,
    seed: int | None = None,
) -> Any:
    """Return the orchestrator's FastAPI app (``app.state.orchestrator`` is the service)."""
    orchestrator = Orchestrator(
        terms, key, endpoints, balance, now, journal, transport=transport, seed=seed
    )
    app = make_app(orchestrator.routes(), "mercato orchestrator")
    app.state.orchestrator = orchestrator
    return app


def serve_orchestrator(
    host: str,
    port: int,
    terms: ApiTerms,
    key: bytes,
    endpoints: Mapping[int, str],
    balance: Balance,
    now: Clock,
    journal: Path | str,
    *,
    seed: int | None = None,
    announce: Callable[[str], None] = print_line,
) -> None:
    """Serve an orchestrator with uvicorn (port 0: a free port).

    ``announce`` gets the bound URL once the socket listens (by default it is printed on a
    line of its own); then this blocks until SIGINT or SIGTERM.
    """
    app = orchestrator_app(terms, key, endpoints, balance, now, journal, seed=seed)
    sock, url = bind(host, port)
    announce(url)
    serve(app, sock)


def main(argv: Sequence[str] | None = None) -> int:
    """Run an orchestrator from a JSON config: the entry of ``python -m ...orchestrator``.

    The config holds ``host``, ``port``, ``key`` (hex), ``terms`` (:meth:`ApiTerms.to_json`),
    ``endpoints`` (slot -> URL), ``deposits`` (consumer -> wei, standing in for the chain's
    view until the services are wired to it), ``journal`` and optionally ``now`` (a fixed
    chain time; the system clock otherwise) and ``seed``.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        if len(args) != 1:
            raise InputError(
                "usage: python -m mercato.protocols.apimarket.orchestrator CONFIG.json"
            )
        config = json.loads(Path(args[0]).read_text())
        deposits = {str(who).lower(): int(wei) for who, wei in config.get("deposits", {}).items()}
        fixed = config.get("now")
        serve_orchestrator(
            str(config.get("host", LOOPBACK)),
            int(config.get("port", 0)),
            ApiTerms.from_json(config["terms"]),
            bytes.fromhex(str(config["key"]).removeprefix("0x")),
            {int(slot): str(url) for slot, url in config["endpoints"].items()},
            lambda consumer: deposits.get(consumer.lower(), 0),
            (lambda: int(fixed)) if fixed is not None else (lambda: int(time.time())),
            config["journal"],
            seed=config.get("seed"),
        )
    except MercatoError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except (KeyError, ValueError, TypeError, OSError, AttributeError) as exc:
        print(f"error: bad orchestrator config: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
