"""Gas of P5's settlement: the paper's base mode against batches, and a claim and a dispute.

Each measure on an API of its own, three components of the benchmark's model:

- **base mode** (every step on chain): ``call_onchain``, ``record_step`` by the vendor of
  each component, ``acknowledge``: the gas of one call;
- **batched settlement** at each batch size: ``commit_batch`` after the epoch and
  ``finalize_batch`` after the window, divided by the calls (one consumer);
- **a claim** the orchestrator contests (``claim`` then ``answer_claim`` with the step's
  Merkle proof) and one paid at once (a call left out of the batch);
- **a dispute** of a wrong output, three replicas of the component: ``dispute``, two
  ``commit_output`` and ``reveal_output``, ``resolve`` (the liar slashed).

The batches are built with :class:`~mercato.protocols.apimarket.records.Batch` from calls
signed by real keys without HTTP: the consumer's request, the orchestrator's assignments
and each vendor's receipt (:mod:`~mercato.protocols.apimarket.messages`), the hashes
standing for the arrays. The serving part of the benchmark runs real calls.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from eth_utils.crypto import keccak

from mercato.bench.apimarket_chain import PRICE, BenchMarket
from mercato.errors import ProtocolError
from mercato.ml.splitting import SplitModel, component_hashes, signature_tree
from mercato.protocols.apimarket.market import output_commitment
from mercato.protocols.apimarket.messages import Assignment, Receipt, Request
from mercato.protocols.apimarket.records import Batch, StepRecord

if TYPE_CHECKING:
    from mercato.chain.contract import TxResult
    from mercato.protocols.identity import Identity

BATCH_SIZES = (10, 100, 1000)
GAS_PER_CALL_GOAL = 1_000
"""Issue 13's goal for a batch of 1,000 calls."""
CLAIM_CALLS = 8
"""Calls in the batch a claim is answered from."""
THREE = (0, 1, 2)
"""Slots of an API whose three components have one vendor each."""
REPLICATED = (0, 0, 0, 1, 2)
"""Slots of the dispute's API: three replicas of component 0, one vendor of 1 and of 2."""


@dataclass(frozen=True)
class SignedCall:
    """A call run off chain, every message signed: its records are a batch's leaves."""

    request: Request
    request_sig: bytes
    assignments: tuple[Assignment, ...]
    assignment_sigs: tuple[bytes, ...]
    receipts: tuple[Receipt, ...]
    receipt_sigs: tuple[bytes, ...]

    @property
    def records(self) -> list[StepRecord]:
        return [
            StepRecord(
                r.api, r.epoch, r.consumer, r.seq, r.component, r.slot, r.hash_in, r.hash_out
            )
            for r in self.receipts
        ]


@dataclass(frozen=True)
class BatchGas:
    """The gas of settling one batch of ``calls`` calls."""

    calls: int
    commit: int
    finalize: int

    @property
    def per_call(self) -> float:
        return round((self.commit + self.finalize) / self.calls, 1)

    def as_dict(self) -> dict[str, Any]:
        return {
            "calls": self.calls,
            "consumers": 1,
            "commit_batch": self.commit,
            "finalize_batch": self.finalize,
            "gas_per_call": self.per_call,
        }


@dataclass(frozen=True)
class GasReport:
    """The gas of each settlement, by transaction."""

    onchain: dict[str, int]
    batches: tuple[BatchGas, ...]
    claim: dict[str, int]
    dispute: dict[str, int]
    signed_messages: int
    """Requests, assignments and receipts signed for the batches, claims and dispute."""

    @property
    def onchain_per_call(self) -> int:
        return sum(self.onchain.values())

    @property
    def claim_gas(self) -> int:
        """A claim the orchestrator answers: ``claim`` and ``answer_claim``."""
        return self.claim["claim"] + self.claim["answer_claim"]

    @property
    def dispute_gas(self) -> int:
        """Every transaction of a dispute, from opening to resolution."""
        return sum(self.dispute.values())


def signed_call(
    bench: BenchMarket,
    model: SplitModel,
    api: int,
    seq: int,
    slots: Sequence[int],
    vendors: Sequence[Identity],
    lie: bool = False,
) -> SignedCall:
    """Sign call ``seq`` of the consumer in epoch 0: component ``j`` runs on ``slots[j]``
    (vendor ``vendors[j]``); with ``lie`` the first step's output is wrong."""
    market, cast = bench.market.api_market.address, bench.cast
    consumer, orchestrator = cast.consumer.address, cast.orchestrator.account.key
    hashes = component_hashes(model)
    input_hash = keccak(f"mercato bench: input {api} {seq}".encode())
    request = Request(api, 0, consumer, seq, input_hash, PRICE)
    assignments, receipts = [], []
    hash_in = input_hash
    for component, slot in enumerate(slots):
        hash_out = keccak(hash_in + bytes([component]))
        if lie and component == 0:
            hash_out = keccak(b"mercato bench: a wrong output")
        assignments.append(Assignment(api, 0, consumer, seq, component, slot, hash_in))
        receipts.append(
            Receipt(api, 0, consumer, seq, component, slot, hashes[component], hash_in, hash_out)
        )
        hash_in = hash_out
    return SignedCall(
        request,
        request.sign(market, cast.consumer.account.key),
        tuple(assignments),
        tuple(a.sign(market, orchestrator) for a in assignments),
        tuple(receipts),
        tuple(r.sign(market, v.account.key) for r, v in zip(receipts, vendors, strict=True)),
    )


def measure_gas(
    bench: BenchMarket,
    model: SplitModel,
    sizes: Sequence[int] = BATCH_SIZES,
    advance: Callable[[int], None] = lambda units: None,
) -> GasReport:
    """Measure base mode, a batch of each of ``sizes`` calls, a claim and a dispute."""
    am, cast = bench.market.api_market, bench.cast
    orchestrator, consumer = cast.orchestrator.account, cast.consumer.account
    onchain = _base_mode_call(bench, model)
    advance(1)

    pending: list[tuple[int, Batch]] = []
    signed = 0
    for size in sizes:
        api, _ = bench.live_api(model, THREE, deposit=size * PRICE)
        three = cast.vendors[: len(THREE)]
        calls = [signed_call(bench, model, api, seq, THREE, three) for seq in range(1, size + 1)]
        signed += 7 * size
        pending.append((api, Batch.build([r for c in calls for r in c.records], len(THREE))))
        advance(1)

    replicated, _ = bench.live_api(model, REPLICATED, deposit=(CLAIM_CALLS + 2) * PRICE)
    route = (1, 3, 4)
    vendors = [cast.vendors[slot] for slot in route]
    honest = [
        signed_call(bench, model, replicated, seq, route, vendors)
        for seq in range(1, CLAIM_CALLS + 1)
    ]
    left_out = signed_call(bench, model, replicated, CLAIM_CALLS + 1, route, vendors)
    liar = (0, 3, 4)
    lied = signed_call(
        bench, model, replicated, CLAIM_CALLS + 2, liar, [cast.vendors[s] for s in liar], lie=True
    )
    signed += 7 * (CLAIM_CALLS + 2)
    claimed = Batch.build([r for c in honest for r in c.records], len(REPLICATED))

    bench.travel_to(max(bench.epoch_start(api, 1) for api, _ in [*pending, (replicated, claimed)]))
    commits = [am.commit_batch(orchestrator, batch, batch.records_hash) for _, batch in pending]
    am.commit_batch(orchestrator, claimed, claimed.records_hash)
    claim = _claims(bench, replicated, claimed, honest[0], left_out)
    dispute = _dispute(bench, model, replicated, lied)
    advance(1)

    bench.travel_to(max(am.epoch_close(api, 0) for api, _ in pending) + 1)
    batches = []
    for (api, batch), commit in zip(pending, commits, strict=True):
        finalized = am.finalize_batch(consumer, api, 0)
        batches.append(BatchGas(sum(batch.calls), commit.gas_used, finalized.gas_used))
    advance(1)
    return GasReport(onchain, tuple(batches), claim, dispute, signed)


def _base_mode_call(bench: BenchMarket, model: SplitModel) -> dict[str, int]:
    """One call in the paper's base mode: every step a transaction."""
    am, cast = bench.market.api_market, bench.cast
    api, _ = bench.live_api(model, THREE, deposit=PRICE)
    hash_in = keccak(b"mercato bench: a base-mode input")
    call_id, opened = am.call_onchain(cast.consumer.account, api, hash_in)
    gas = {"call_onchain": opened.gas_used, "record_step": 0}
    for component in range(len(model.components)):
        hash_out = keccak(hash_in + bytes([component]))
        recorded = am.record_step(
            cast.vendors[component].account, call_id, component, hash_in, hash_out
        )
        gas["record_step"] += recorded.gas_used
        hash_in = hash_out
    gas["acknowledge"] = am.acknowledge(cast.consumer.account, call_id, hash_in).gas_used
    return gas


def _claims(
    bench: BenchMarket, api: int, batch: Batch, first: SignedCall, left_out: SignedCall
) -> dict[str, int]:
    """A claim of a step in the batch, answered with its proof; one of a step left out."""
    am, cast = bench.market.api_market, bench.cast
    counts = (batch.consumers, batch.calls, batch.steps)

    def claim(call: SignedCall) -> tuple[int, TxResult]:
        slot = call.assignments[0].slot
        return am.claim(
            cast.vendors[slot].account, call.request, call.assignments[0], call.request_sig,
            call.assignment_sigs[0], counts,
        )  # fmt: skip

    claim_id, opened = claim(first)
    index = batch.index_of(cast.consumer.address, first.request.seq, 0)
    answered = am.answer_claim(
        cast.orchestrator.account, claim_id, index, first.receipts[0].hash_out, batch.proof(index)
    )
    _, paid = claim(left_out)
    return {
        "claim": opened.gas_used,
        "answer_claim": answered.gas_used,
        "claim_left_out_paid_at_once": paid.gas_used,
    }


def _dispute(bench: BenchMarket, model: SplitModel, api: int, lied: SignedCall) -> dict[str, int]:
    """The consumer disputes slot 0's wrong output; slots 1 and 2 re-run it; resolved."""
    am, cast = bench.market.api_market, bench.cast
    proof = signature_tree(model).proof(0)
    dispute_id, opened = am.dispute(
        cast.consumer.account, lied.receipts[0], lied.receipt_sigs[0], proof
    )
    truth = keccak(lied.receipts[0].hash_in + bytes([0]))
    gas = {"dispute": opened.gas_used, "commit_output": 0, "reveal_output": 0}
    replicas = cast.vendors[1:3]
    for replica in replicas:
        salt = keccak(replica.address.encode())
        commitment = output_commitment(dispute_id, replica.address, truth, salt)
        gas["commit_output"] += am.commit_output(replica.account, dispute_id, commitment).gas_used
    for replica in replicas:
        salt = keccak(replica.address.encode())
        gas["reveal_output"] += am.reveal_output(replica.account, dispute_id, truth, salt).gas_used
    resolved = am.resolve(cast.consumer.account, dispute_id)
    gas["resolve"] = resolved.gas_used
    if int(resolved.event("DisputeResolved")["slashed"]) != 1:
        raise ProtocolError("the benchmark's dispute did not slash the lying vendor")
    return gas
