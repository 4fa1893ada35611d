"""A vendor: the HTTP service that holds one component of a split model and runs its steps.

``POST /step`` takes the consumer's signed request, the orchestrator's signed assignment and
the step's input; the vendor checks both signatures, that the slot is its own and the
component the one it holds, and that ``hash_in`` is the input's hash; it runs the component,
signs a :class:`~mercato.protocols.apimarket.messages.Receipt`, journals request, signatures,
receipt and output (its evidence for a claim) and only then answers. The same step asked
again gets the journaled answer without running again.

``POST /reexecute`` runs the component honestly on a disputed step's input for a dispute
committee and returns only ``hash_out``. ``GET /health`` says who the vendor is.

A vendor started with ``cheat`` > 0 (the demo's cheating vendor) perturbs that fraction of
its outputs and signs them all the same: its receipts then contradict an honest replica.

Run one as its own process with ``python -m mercato.protocols.apimarket.vendor CONFIG.json``
(see :func:`main`); it prints the URL it listens on.
"""

from __future__ import annotations

import hmac
import json
import random
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from eth_account import Account
from numpy.typing import NDArray

from mercato.crypto.commit import keccak
from mercato.errors import InputError, IntegrityError, MercatoError, ProtocolError
from mercato.ml.splitting import Component, load_component
from mercato.protocols.apimarket.endpoints import (
    LOOPBACK,
    Routes,
    bind,
    field_of,
    from_b64,
    make_app,
    print_line,
    serve,
    to_b64,
    to_hex,
)
from mercato.protocols.apimarket.journal import Journal
from mercato.protocols.apimarket.messages import (
    Assignment,
    Receipt,
    Request,
    array_hash,
    decode_array,
    encode_array,
    signature_from_json,
    signature_to_json,
)
from mercato.protocols.apimarket.terms import ApiTerms


class Vendor:
    """One vendor's service: its component, key, terms and journal of answered steps."""

    def __init__(
        self,
        component_bytes: bytes,
        component_hash: bytes,
        key: bytes,
        terms: ApiTerms,
        journal: Path | str,
        *,
        cheat: float = 0.0,
        seed: int | None = None,
    ) -> None:
        actual = keccak(component_bytes)
        if not hmac.compare_digest(actual, component_hash):
            raise IntegrityError(
                f"the component's bytes hash to {to_hex(actual)}, not the expected "
                f"{to_hex(component_hash)}: refusing to start"
            )
        if not 0.0 <= cheat <= 1.0:
            raise InputError(f"cheat is a fraction of calls from 0 to 1, not {cheat}")
        self.address = str(Account.from_key(key).address)
        slot = terms.slot_of(self.address)
        if slot is None:
            raise InputError(f"vendor {self.address} holds no slot in API {terms.api}")
        self.component: Component = load_component(component_bytes)
        if self.component.index != terms.slots[slot].component:
            raise InputError(
                f"slot {slot} holds component {terms.slots[slot].component}, "
                f"but these bytes are component {self.component.index}"
            )
        self.slot = slot
        self.component_hash = actual
        self.terms = terms
        self.cheat = cheat
        self._key = key
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self._busy: dict[str, threading.Lock] = {}
        self.journal = Journal(journal)
        self._answered: dict[str, dict[str, Any]] = {
            entry["key"]: entry for entry in self.journal if entry.get("kind") == "step"
        }

    def routes(self) -> Routes:
        """The vendor's HTTP routes."""
        return {
            ("POST", "/step"): self.step,
            ("POST", "/reexecute"): self.reexecute,
            ("GET", "/health"): self.health,
        }

    def step(self, body: dict[str, Any]) -> dict[str, Any]:
        """Run one assigned step and return the signed receipt and the output."""
        request = Request.from_json(field_of(body, "request"))
        request_sig = signature_from_json(field_of(body, "request_sig"))
        assignment = Assignment.from_json(field_of(body, "assignment"))
        assignment_sig = signature_from_json(field_of(body, "assignment_sig"))
        rows = decode_array(from_b64(field_of(body, "input"), "input"))
        self._check_step(request, request_sig, assignment, assignment_sig, rows)
        key = step_key(assignment)
        with self._step_lock(key):
            answered = self._answered.get(key)
            if answered is not None:
                return self._replay(answered, assignment)
            output = self._run(rows, perturb=self._cheats())
            receipt = Receipt(
                api=assignment.api,
                epoch=assignment.epoch,
                consumer=assignment.consumer,
                seq=assignment.seq,
                component=assignment.component,
                slot=assignment.slot,
                component_hash=self.component_hash,
                hash_in=assignment.hash_in,
                hash_out=array_hash(output),
            )
            receipt_sig = receipt.sign(self.terms.market, self._key)
            entry = {
                "kind": "step",
                "key": key,
                "request": request.to_json(),
                "request_sig": signature_to_json(request_sig),
                "assignment": assignment.to_json(),
                "assignment_sig": signature_to_json(assignment_sig),
                "receipt": receipt.to_json(),
                "receipt_sig": signature_to_json(receipt_sig),
                "output": to_b64(encode_array(output)),
            }
            self.journal.append(entry)  # evidence on disk before anyone sees the receipt
            self._answered[key] = entry
        return _answer(entry)

    def reexecute(self, body: dict[str, Any]) -> dict[str, Any]:
        """Run the component honestly on a disputed step's input; return ``hash_out`` only."""
        receipt = Receipt.from_json(field_of(body, "receipt"))
        rows = decode_array(from_b64(field_of(body, "input"), "input"))
        if receipt.api != self.terms.api:
            raise InputError(f"this vendor serves API {self.terms.api}, not {receipt.api}")
        if receipt.component != self.component.index:
            raise InputError(
                f"the disputed step ran component {receipt.component}; "
                f"this vendor holds component {self.component.index}"
            )
        if array_hash(rows) != receipt.hash_in:
            raise IntegrityError("the input does not hash to the disputed step's hash_in")
        output = self._run(rows, perturb=False)
        return {
            "hash_out": to_hex(array_hash(output)),
            "component_hash": to_hex(self.component_hash),
            "agrees": array_hash(output) == receipt.hash_out,
        }

    def health(self, body: dict[str, Any]) -> dict[str, Any]:
        """Who this vendor is and how many steps it answered."""
        return {
            "ok": True,
            "vendor": self.address,
            "api": self.terms.api,
            "slot": self.slot,
            "component": self.component.index,
            "component_hash": to_hex(self.component_hash),
            "steps": sum(1 for entry in self.journal if entry.get("kind") == "step"),
        }

    def receipts(self) -> list[dict[str, Any]]:
        """Every journaled step (request, signatures, receipt): the evidence for claims."""
        return [dict(entry) for entry in self.journal if entry.get("kind") == "step"]

    def close(self) -> None:
        """Close the journal."""
        self.journal.close()

    def _check_step(
        self,
        request: Request,
        request_sig: bytes,
        assignment: Assignment,
        assignment_sig: bytes,
        rows: NDArray[Any],
    ) -> None:
        terms = self.terms
        if request.api != terms.api or assignment.api != terms.api:
            raise InputError(f"this vendor serves API {terms.api}, not {assignment.api}")
        call = (request.epoch, request.consumer, request.seq)
        if call != (assignment.epoch, assignment.consumer, assignment.seq):
            raise InputError("the assignment is for another call than the request")
        if request.signer(terms.market, request_sig) != request.consumer:
            raise IntegrityError("the request is not signed by its consumer")
        if assignment.signer(terms.market, assignment_sig) != terms.orchestrator:
            raise IntegrityError("the assignment is not signed by the API's orchestrator")
        if assignment.slot != self.slot:
            raise InputError(f"the step is assigned to slot {assignment.slot}; this is {self.slot}")
        if assignment.component != self.component.index:
            raise InputError(
                f"the step is for component {assignment.component}; "
                f"this vendor holds component {self.component.index}"
            )
        if array_hash(rows) != assignment.hash_in:
            raise IntegrityError("the input does not hash to the assignment's hash_in")
        if (
            assignment.component in terms.first_components()
            and assignment.hash_in != request.input_hash
        ):
            raise IntegrityError("a first step's input must be the consumer's input")

    def _replay(self, answered: dict[str, Any], assignment: Assignment) -> dict[str, Any]:
        if Assignment.from_json(answered["assignment"]) != assignment:
            raise ProtocolError(
                f"step {assignment.seq} of component {assignment.component} was already "
                "answered for another input; its receipt stands"
            )
        return _answer(answered)

    def _run(self, rows: NDArray[Any], *, perturb: bool) -> NDArray[Any]:
        output = np.asarray(self.component.run(rows))
        if perturb and output.size:
            output = output.copy()
            flat = output.reshape(-1)
            flat[0] = not flat[0] if output.dtype.kind == "b" else flat[0] + 1
        return output

    def _cheats(self) -> bool:
        with self._lock:
            return self.cheat > 0 and self._random.random() < self.cheat

    def _step_lock(self, key: str) -> threading.Lock:
        with self._lock:
            return self._busy.setdefault(key, threading.Lock())


def step_key(assignment: Assignment) -> str:
    """The key a step is journaled under: the call and the component."""
    return f"{assignment.epoch}:{assignment.consumer}:{assignment.seq}:{assignment.component}"


def vendor_app(
    component_bytes: bytes,
    component_hash: bytes,
    key: bytes,
    terms: ApiTerms,
    journal: Path | str,
    *,
    cheat: float = 0.0,
    seed: int | None = None,
) -> Any:
    """Return the vendor's FastAPI app; refuse to build it if the component's hash is wrong."""
    vendor = Vendor(component_bytes, component_hash, key, terms, journal, cheat=cheat, seed=seed)
    app = make_app(vendor.routes(), "mercato vendor")
    app.state.vendor = vendor
    return app


def serve_vendor(
    host: str,
    port: int,
    component_bytes: bytes,
    component_hash: bytes,
    key: bytes,
    terms: ApiTerms,
    journal: Path | str,
    *,
    cheat: float = 0.0,
    seed: int | None = None,
    announce: Callable[[str], None] = print_line,
) -> None:
    """Serve a vendor with uvicorn (port 0: a free port).

    ``announce`` gets the bound URL once the socket listens (by default it is printed on a
    line of its own); then this blocks until SIGINT or SIGTERM.
    """
    app = vendor_app(component_bytes, component_hash, key, terms, journal, cheat=cheat, seed=seed)
    sock, url = bind(host, port)
    announce(url)
    serve(app, sock)


def main(argv: Sequence[str] | None = None) -> int:
    """Run a vendor from a JSON config file: the entry of ``python -m ...apimarket.vendor``.

    The config holds ``host``, ``port``, ``component`` (path of the component's bytes),
    ``component_hash`` and ``key`` (hex), ``terms`` (:meth:`ApiTerms.to_json`), ``journal``
    (path) and optionally ``cheat`` and ``seed``.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        if len(args) != 1:
            raise InputError("usage: python -m mercato.protocols.apimarket.vendor CONFIG.json")
        config = _read_config(Path(args[0]))
        serve_vendor(
            str(config.get("host", LOOPBACK)),
            int(config.get("port", 0)),
            Path(config["component"]).read_bytes(),
            bytes.fromhex(str(config["component_hash"]).removeprefix("0x")),
            bytes.fromhex(str(config["key"]).removeprefix("0x")),
            ApiTerms.from_json(config["terms"]),
            config["journal"],
            cheat=float(config.get("cheat", 0.0)),
            seed=config.get("seed"),
        )
    except MercatoError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except (KeyError, ValueError, OSError) as exc:
        print(f"error: bad vendor config: {exc}", file=sys.stderr)
        return 1
    return 0


def _read_config(path: Path) -> dict[str, Any]:
    try:
        config = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read the config {path}: {exc}") from None
    if not isinstance(config, dict):
        raise InputError(f"the config {path} must be a JSON object")
    return config


def _answer(entry: dict[str, Any]) -> dict[str, Any]:
    return {
        "receipt": entry["receipt"],
        "receipt_sig": entry["receipt_sig"],
        "output": entry["output"],
    }


if __name__ == "__main__":
    raise SystemExit(main())
