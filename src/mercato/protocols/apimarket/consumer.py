"""The consumer's client: signs calls, checks every receipt, acknowledges what it received.

:class:`ApiClient` signs each request with the next seq of the epoch, sends it with the
rows to the orchestrator, and before it acknowledges the output checks (:func:`verify_call`)
that every receipt is signed by its slot's vendor for this call, that the steps are the
flow's (for a chain, ``hash_in`` of each step is ``hash_out`` of the one before) and that the
output is what the last step signed for. It keeps every call's evidence for disputes: an
answer that fails those checks is not acknowledged but kept too (:class:`RejectedCall`, in
:attr:`ApiClient.rejected`), and the client goes on to its next call.

:func:`ask_input` and :func:`reexecute` are the two asks of a dispute committee member: the
disputed step's input from the orchestrator, then an honest run by a replica.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from eth_account import Account
from numpy.typing import ArrayLike, NDArray

from mercato.errors import IntegrityError, MercatoError, ProtocolError
from mercato.protocols.apimarket.endpoints import (
    HttpTransport,
    Transport,
    field_of,
    from_b64,
    from_hex,
    to_b64,
    to_hex,
)
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
from mercato.protocols.apimarket.orchestrator import sign_inputs_request
from mercato.protocols.apimarket.terms import ApiTerms

Clock = Callable[[], int]


@dataclass(frozen=True)
class StepEvidence:
    """One step of a call as the consumer received it: the signed assignment and receipt."""

    assignment: Assignment
    assignment_sig: bytes
    receipt: Receipt
    receipt_sig: bytes

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> StepEvidence:
        """Read a step of the orchestrator's answer."""
        return cls(
            assignment=Assignment.from_json(field_of(data, "assignment")),
            assignment_sig=signature_from_json(field_of(data, "assignment_sig")),
            receipt=Receipt.from_json(field_of(data, "receipt")),
            receipt_sig=signature_from_json(field_of(data, "receipt_sig")),
        )


def step_of(steps: Sequence[StepEvidence], component: int) -> StepEvidence:
    """The step of ``steps`` that ran ``component``; KeyError if none did."""
    for step in steps:
        if step.receipt.component == component:
            return step
    raise KeyError(component)


@dataclass(frozen=True)
class CallResult:
    """A call's output with everything signed about it: request, steps and the consumer's ack."""

    request: Request
    request_sig: bytes
    output: NDArray[Any]
    steps: tuple[StepEvidence, ...]
    ack: Ack
    ack_sig: bytes

    def step(self, component: int) -> StepEvidence:
        """Return the step that ran ``component``."""
        return step_of(self.steps, component)


@dataclass(frozen=True)
class RejectedCall:
    """An answer the orchestrator gave (so took, and may charge) that failed verification:
    everything it signed, kept for a dispute or a challenge, never acknowledged.

    ``output`` and ``steps`` are what could be read of the answer (None and () if nothing).
    """

    request: Request
    request_sig: bytes
    output: NDArray[Any] | None
    steps: tuple[StepEvidence, ...]
    reason: str
    """Why the answer was refused: the check it failed."""

    def step(self, component: int) -> StepEvidence:
        """Return the step that ran ``component``."""
        return step_of(self.steps, component)


class ApiClient:
    """A consumer's client of one API's orchestrator."""

    def __init__(
        self,
        url: str,
        key: bytes,
        terms: ApiTerms,
        *,
        now: Clock | None = None,
        transport: Transport | None = None,
    ) -> None:
        self.url = url
        self.terms = terms
        self.address = str(Account.from_key(key).address)
        self.results: list[CallResult] = []
        self.rejected: list[RejectedCall] = []
        """Answers that failed verification, kept as evidence (not acknowledged)."""
        self._key = key
        self._now = now if now is not None else lambda: int(time.time())
        self._transport: Transport = transport if transport is not None else HttpTransport()
        self._last_seq: dict[int, int] = {}
        self._pending: tuple[Request, bytes, NDArray[Any]] | None = None

    def call(self, rows: ArrayLike) -> CallResult:
        """Sign a request for ``rows`` with the next seq, send it, verify and acknowledge.

        If the orchestrator cannot be reached, the signed request stays pending: :meth:`retry`
        sends the very same request again (it is charged once). An answer that fails
        verification is not acknowledged: it is kept in :attr:`rejected` (the evidence for a
        dispute or a challenge), an IntegrityError says so, and the next call may follow.
        """
        if self._pending is not None:
            raise ProtocolError("a call is pending; retry() it before making another")
        data = encode_array(rows)
        array = decode_array(data)
        epoch = self.terms.epoch_at(self._now())
        request = Request(
            api=self.terms.api,
            epoch=epoch,
            consumer=self.address,
            seq=self._last_seq.get(epoch, 0) + 1,
            input_hash=array_hash(array),
            price=self.terms.price,
        )
        signature = request.sign(self.terms.market, self._key)
        self._last_seq[epoch] = request.seq
        self._pending = (request, signature, array)
        return self.retry()

    def retry(self) -> CallResult:
        """Send the pending request again (after a crash or timeout of the orchestrator)."""
        if self._pending is None:
            raise ProtocolError("no call is pending")
        request, signature, array = self._pending
        body = {
            "request": request.to_json(),
            "request_sig": signature_to_json(signature),
            "input": to_b64(encode_array(array)),
        }
        reply = self._transport.request("POST", self.url, "/call", body)
        if 400 <= reply.status < 500:
            # refused before it was taken: the seq is free again (a seq already used stays
            # refused until skip_to moves past it)
            self._pending = None
            self._last_seq[request.epoch] = request.seq - 1
        answer = reply.unwrap()  # a 5xx or an unreachable orchestrator keeps it pending
        output, steps = self._verified(request, signature, answer)
        ack = Ack(
            api=request.api,
            epoch=request.epoch,
            consumer=request.consumer,
            seq=request.seq,
            output_hash=array_hash(output),
        )
        ack_sig = ack.sign(self.terms.market, self._key)
        result = CallResult(request, signature, output, steps, ack, ack_sig)
        self.results.append(result)
        self._pending = None
        self._transport.request(
            "POST", self.url, "/ack", {"ack": ack.to_json(), "ack_sig": signature_to_json(ack_sig)}
        ).unwrap()
        return result

    def _verified(
        self, request: Request, signature: bytes, answer: Mapping[str, Any]
    ) -> tuple[NDArray[Any], tuple[StepEvidence, ...]]:
        """The answer's output and steps once verified; else the answer is kept as rejected,
        the request is no longer pending (the orchestrator took it), and IntegrityError."""
        output: NDArray[Any] | None = None
        steps: tuple[StepEvidence, ...] = ()
        try:
            output = decode_array(from_b64(field_of(answer, "output"), "output"))
            raw = field_of(answer, "steps")
            if not isinstance(raw, list) or not all(isinstance(step, dict) for step in raw):
                raise IntegrityError("the answer's steps are not a list of steps")
            steps = tuple(StepEvidence.from_json(step) for step in raw)
            verify_call(self.terms, request, output, steps)
        except MercatoError as exc:
            reason = str(exc)
            self.rejected.append(RejectedCall(request, signature, output, steps, reason))
            self._pending = None
            raise IntegrityError(
                f"call {request.seq} of epoch {request.epoch}: the orchestrator's answer fails "
                f"verification ({reason}); not acknowledged, its evidence kept for a dispute "
                "or a challenge"
            ) from None
        return output, steps

    def skip_to(self, epoch: int, last_seq: int) -> None:
        """Continue after ``last_seq`` in ``epoch`` (a client restarted with calls made)."""
        self._last_seq[epoch] = last_seq

    def health(self) -> dict[str, Any]:
        """The orchestrator's health answer."""
        return self._transport.request("GET", self.url, "/health").unwrap()


def verify_receipt(terms: ApiTerms, receipt: Receipt, signature: bytes) -> None:
    """Check that ``receipt`` is signed by the vendor of its slot, which holds its component."""
    if receipt.api != terms.api or not 0 <= receipt.slot < len(terms.slots):
        raise IntegrityError(f"the receipt names slot {receipt.slot} of API {receipt.api}")
    slot = terms.slots[receipt.slot]
    if slot.component != receipt.component:
        raise IntegrityError(
            f"slot {receipt.slot} holds component {slot.component}, not {receipt.component}"
        )
    if receipt.signer(terms.market, signature) != slot.vendor:
        raise IntegrityError(f"the receipt of component {receipt.component} is not its vendor's")


def verify_call(
    terms: ApiTerms, request: Request, output: ArrayLike, steps: Sequence[StepEvidence]
) -> None:
    """Check a call's answer against the request; raise IntegrityError naming what is wrong.

    Every receipt and assignment must be for this call, signed by the slot's vendor and by
    the orchestrator; the components must be the flow's; the inputs of the first steps must
    be the request's; for a chain each step starts where the one before ended and the last
    ends at the output; for a combine flow the combiner ends at the output.
    """
    if not steps:
        raise IntegrityError("the answer has no steps")
    call = (request.api, request.epoch, request.consumer, request.seq)
    for step in steps:
        receipt, assignment = step.receipt, step.assignment
        if (receipt.api, receipt.epoch, receipt.consumer, receipt.seq) != call:
            raise IntegrityError(
                f"the receipt of component {receipt.component} is for another call"
            )
        verify_receipt(terms, receipt, step.receipt_sig)
        assigned = (assignment.component, assignment.slot, assignment.hash_in)
        if (assignment.api, assignment.epoch, assignment.consumer, assignment.seq) != call or (
            assigned != (receipt.component, receipt.slot, receipt.hash_in)
        ):
            raise IntegrityError(f"the assignment of component {receipt.component} does not match")
        if assignment.signer(terms.market, step.assignment_sig) != terms.orchestrator:
            raise IntegrityError(
                f"the assignment of component {receipt.component} is not the orchestrator's"
            )
    components = [step.receipt.component for step in steps]
    if len(set(components)) != len(components):
        raise IntegrityError(f"a component ran twice: {components}")
    output_hash = array_hash(output)
    last = terms.components - 1
    if terms.flow == "chain":
        if components != list(range(terms.components)):
            raise IntegrityError(f"a chain runs components 0..{last} in order, not {components}")
        expected = request.input_hash
        for step in steps:
            if step.receipt.hash_in != expected:
                raise IntegrityError(
                    f"component {step.receipt.component} did not start where the last ended"
                )
            expected = step.receipt.hash_out
        if expected != output_hash:
            raise IntegrityError("the output is not what the last component signed for")
    elif terms.flow == "combine":
        *members, combiner = steps
        names = [step.receipt.component for step in members]
        if combiner.receipt.component != last or not members or not set(names) <= set(range(last)):
            raise IntegrityError(
                f"a combine flow runs members then component {last}, not {components}"
            )
        if not terms.subsets and len(members) != last:
            raise IntegrityError(f"every member must answer, only {names} did")
        if any(step.receipt.hash_in != request.input_hash for step in members):
            raise IntegrityError("a member did not run on the request's input")
        if combiner.receipt.hash_out != output_hash:
            raise IntegrityError("the output is not what the combiner signed for")
    else:
        top, *parts = steps
        if top.receipt.component != 0 or top.receipt.hash_in != request.input_hash:
            raise IntegrityError("a routed call starts with component 0 on the request's input")
        if not parts or not {step.receipt.component for step in parts} <= set(range(1, last + 1)):
            raise IntegrityError(f"a routed call runs component 0 then parts, not {components}")


def ask_input(
    transport: Transport, orchestrator_url: str, terms: ApiTerms, hash_in: bytes, key: bytes
) -> NDArray[Any]:
    """Ask the orchestrator, as a vendor of the step's component, for a step's input."""
    signature = sign_inputs_request(terms.market, terms.api, hash_in, key)
    path = f"/inputs/{to_hex(hash_in)}?sig={signature_to_json(signature)}"
    answer = transport.request("GET", orchestrator_url, path).unwrap()
    rows = decode_array(from_b64(field_of(answer, "input"), "input"))
    if array_hash(rows) != hash_in:
        raise IntegrityError("the orchestrator gave an input that does not hash to hash_in")
    return rows


def reexecute(transport: Transport, vendor_url: str, receipt: Receipt, rows: ArrayLike) -> bytes:
    """Have a replica run the disputed step honestly; return the ``hash_out`` it found."""
    body = {"receipt": receipt.to_json(), "input": to_b64(encode_array(rows))}
    answer = transport.request("POST", vendor_url, "/reexecute", body).unwrap()
    return from_hex(field_of(answer, "hash_out"), "hash_out", 32)
