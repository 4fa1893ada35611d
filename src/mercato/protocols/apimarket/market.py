"""Typed wrapper of the ApiMarket contract (P5, split-execution API market).

Storage, for auditors (see the contract's docstring for the rules): per API its terms,
periods, shares, slots and progress; per (API, epoch) its batch (root, records file, counts
hash, total, steps per slot packed 32 bits each); per (API, consumer) its deposit; the
claims, challenges, disputes and base-mode calls by id. The call records themselves live in
the batches' records files (:mod:`~mercato.protocols.apimarket.records`), the endpoints in
sealed blobs, the model in its vendors' hands.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from eth_abi.abi import encode
from eth_utils.crypto import keccak

from mercato.chain.contract import TxResult
from mercato.protocols.apimarket.views import (
    Api,
    ApiStatus,
    BatchView,
    CallState,
    CallView,
    ChallengeState,
    ChallengeView,
    ClaimState,
    ClaimView,
    Deposit,
    DisputeState,
    DisputeView,
    Periods,
    SlotView,
)
from mercato.protocols.wrapper import ContractWrapper

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

    from mercato.protocols.apimarket.documents import Purchase
    from mercato.protocols.apimarket.messages import Assignment, Receipt, Request
    from mercato.protocols.apimarket.records import Batch

NO_PURCHASE = ("0x" + "00" * 20, 0, 0)


def output_commitment(dispute_id: int, replica: str, hash_out: bytes, salt: bytes) -> bytes:
    """What a replica commits to in a dispute: keccak256(abi_encode(dispute, replica,
    hash_out, salt)), as ``reveal_output`` recomputes it."""
    return keccak(
        encode(["uint256", "address", "bytes32", "bytes32"], [dispute_id, replica, hash_out, salt])
    )


class ApiMarket(ContractWrapper):
    """Calls and transactions of the API market, in Mercato's types."""

    CONTRACT = "ApiMarket"
    ITEM = "API"

    # provider ---------------------------------------------------------------------------
    def register_api(
        self,
        provider: LocalAccount,
        *,
        model_root: bytes,
        doc_hash: bytes,
        components: int,
        slot_components: Sequence[int],
        slot_vendors: Sequence[str],
        shares: Sequence[int],
        price: int,
        vendor_stake: int,
        orchestrator: str,
        orchestrator_stake: int,
        challenge_bond: int,
        dispute_bond: int,
        periods: Periods,
        purchase: Purchase | None = None,
    ) -> tuple[int, TxResult]:
        """Register an API; its id and the transaction."""
        pointer = (
            NO_PURCHASE
            if purchase is None
            else (purchase.market, purchase.request_id, purchase.index)
        )
        result = self.contract.transact(
            "register_api",
            model_root,
            doc_hash,
            components,
            list(slot_components),
            list(slot_vendors),
            list(shares),
            price,
            vendor_stake,
            orchestrator,
            orchestrator_stake,
            challenge_bond,
            dispute_bond,
            periods.as_tuple(),
            pointer,
            sender=provider,
        )
        return int(result.event("ApiRegistered")["api"]), result

    # vendors and the orchestrator -------------------------------------------------------
    def join(self, vendor: LocalAccount, api: int, slot: int, endpoint_hash: bytes) -> TxResult:
        stake = self.api(api).vendor_stake
        return self.contract.transact("join", api, slot, endpoint_hash, sender=vendor, value=stake)

    def accept(self, orchestrator: LocalAccount, api: int) -> TxResult:
        stake = self.api(api).orchestrator_stake
        return self.contract.transact("accept", api, sender=orchestrator, value=stake)

    def commit_batch(
        self, orchestrator: LocalAccount, batch: Batch, records_hash: bytes
    ) -> TxResult:
        return self.contract.transact(
            "commit_batch",
            batch.api,
            batch.epoch,
            batch.root,
            records_hash,
            list(batch.consumers),
            list(batch.calls),
            list(batch.steps),
            sender=orchestrator,
        )

    def answer_claim(
        self, orchestrator: LocalAccount, claim_id: int, index: int, hash_out: bytes,
        proof: Sequence[bytes],
    ) -> TxResult:  # fmt: skip
        return self.contract.transact(
            "answer_claim", claim_id, index, hash_out, list(proof), sender=orchestrator
        )

    def answer_challenge(
        self, orchestrator: LocalAccount, challenge_id: int, input_hash: bytes, request_sig: bytes
    ) -> TxResult:
        return self.contract.transact(
            "answer_challenge", challenge_id, input_hash, request_sig, sender=orchestrator
        )

    def claim(
        self,
        vendor: LocalAccount,
        request: Request,
        assignment: Assignment,
        request_sig: bytes,
        assignment_sig: bytes,
        counts: tuple[Sequence[str], Sequence[int], Sequence[int]],
    ) -> tuple[int, TxResult]:
        """Claim a step the vendor ran; ``counts`` are the epoch's batch's (consumers, calls,
        steps), or three empty lists when there is none."""
        consumers, calls, steps = counts
        result = self.contract.transact(
            "claim",
            request.api,
            request.epoch,
            request.consumer,
            request.seq,
            request.input_hash,
            assignment.component,
            assignment.slot,
            assignment.hash_in,
            request_sig,
            assignment_sig,
            list(consumers),
            list(calls),
            list(steps),
            sender=vendor,
        )
        return int(result.event("Claimed")["claim_id"]), result

    def commit_output(self, replica: LocalAccount, dispute_id: int, commitment: bytes) -> TxResult:
        return self.contract.transact("commit_output", dispute_id, commitment, sender=replica)

    def reveal_output(
        self, replica: LocalAccount, dispute_id: int, hash_out: bytes, salt: bytes
    ) -> TxResult:
        return self.contract.transact("reveal_output", dispute_id, hash_out, salt, sender=replica)

    def record_step(
        self, vendor: LocalAccount, call_id: int, component: int, hash_in: bytes, hash_out: bytes
    ) -> TxResult:
        return self.contract.transact(
            "record_step", call_id, component, hash_in, hash_out, sender=vendor
        )

    # consumers --------------------------------------------------------------------------
    def deposit(self, consumer: LocalAccount, api: int, amount: int) -> TxResult:
        return self.contract.transact("deposit", api, sender=consumer, value=amount)

    def request_withdrawal(self, consumer: LocalAccount, api: int) -> TxResult:
        return self.contract.transact("request_withdrawal", api, sender=consumer)

    def withdraw_deposit(self, consumer: LocalAccount, api: int) -> TxResult:
        return self.contract.transact("withdraw_deposit", api, sender=consumer)

    def challenge(
        self,
        consumer: LocalAccount,
        api: int,
        epoch: int,
        seq: int,
        counts: tuple[Sequence[str], Sequence[int], Sequence[int]],
    ) -> tuple[int, TxResult]:
        consumers, calls, steps = counts
        bond = self.api(api).challenge_bond
        result = self.contract.transact(
            "challenge", api, epoch, seq, list(consumers), list(calls), list(steps),
            sender=consumer, value=bond,
        )  # fmt: skip
        return int(result.event("Challenged")["challenge_id"]), result

    def dispute(
        self, consumer: LocalAccount, receipt: Receipt, receipt_sig: bytes, proof: Sequence[bytes]
    ) -> tuple[int, TxResult]:
        """Dispute a step's output with its vendor's signed receipt and the Merkle proof of
        the receipt's component hash under the model root."""
        bond = self.api(receipt.api).dispute_bond
        result = self.contract.transact(
            "dispute",
            receipt.api,
            receipt.epoch,
            receipt.seq,
            receipt.component,
            receipt.slot,
            receipt.component_hash,
            receipt.hash_in,
            receipt.hash_out,
            receipt_sig,
            list(proof),
            sender=consumer,
            value=bond,
        )
        return int(result.event("Disputed")["dispute_id"]), result

    def call_onchain(
        self, consumer: LocalAccount, api: int, input_hash: bytes
    ) -> tuple[int, TxResult]:
        result = self.contract.transact("call_onchain", api, input_hash, sender=consumer)
        return int(result.event("CallOpened")["call_id"]), result

    def acknowledge(self, consumer: LocalAccount, call_id: int, output_hash: bytes) -> TxResult:
        return self.contract.transact("acknowledge", call_id, output_hash, sender=consumer)

    # anyone -----------------------------------------------------------------------------
    def advance(self, caller: LocalAccount, api: int) -> TxResult:
        """Cancel an API whose join deadline passed without everyone in."""
        return self.contract.transact("advance", api, sender=caller)

    def finalize_batch(self, caller: LocalAccount, api: int, epoch: int) -> TxResult:
        return self.contract.transact("finalize_batch", api, epoch, sender=caller)

    def settle_claim(self, caller: LocalAccount, claim_id: int) -> TxResult:
        return self.contract.transact("settle_claim", claim_id, sender=caller)

    def settle_challenge(self, caller: LocalAccount, challenge_id: int) -> TxResult:
        return self.contract.transact("settle_challenge", challenge_id, sender=caller)

    def resolve(self, caller: LocalAccount, dispute_id: int) -> TxResult:
        return self.contract.transact("resolve", dispute_id, sender=caller)

    def cancel_call(self, caller: LocalAccount, call_id: int) -> TxResult:
        return self.contract.transact("cancel_call", call_id, sender=caller)

    def release(self, caller: LocalAccount, api: int) -> TxResult:
        return self.contract.transact("release", api, sender=caller)

    # views ------------------------------------------------------------------------------
    def next_api_id(self) -> int:
        return int(self.contract.call("next_api_id"))

    def api(self, api: int) -> Api:
        """The API's state (all zero, status none, if there is no such API)."""
        return self.read(Api, "api", api, status=ApiStatus)

    def slot(self, api: int, slot: int) -> SlotView:
        return SlotView(*self.contract.call("slot", api, slot))

    def slots(self, api: int) -> list[SlotView]:
        return [self.slot(api, index) for index in range(self.api(api).slots)]

    def batch(self, api: int, epoch: int) -> BatchView:
        return BatchView(*self.contract.call("batch", api, epoch))

    def deposit_of(self, api: int, consumer: str) -> Deposit:
        return Deposit(*self.contract.call("deposit_of", api, consumer))

    def component_at(
        self, api: int, index: int, component_hash: bytes, proof: Sequence[bytes]
    ) -> bool:
        return bool(self.contract.call("component_at", api, index, component_hash, list(proof)))

    def claim_of(self, claim_id: int) -> ClaimView:
        return self.read(ClaimView, "claim_of", claim_id, state=ClaimState)

    def challenge_of(self, challenge_id: int) -> ChallengeView:
        return self.read(ChallengeView, "challenge_of", challenge_id, state=ChallengeState)

    def dispute_of(self, dispute_id: int) -> DisputeView:
        return self.read(DisputeView, "dispute_of", dispute_id, state=DisputeState)

    def call(self, call_id: int) -> CallView:
        return self.read(CallView, "call", call_id, state=CallState)

    def epoch_close(self, api: int, epoch: int) -> int:
        return int(self.contract.call("epoch_close", api, epoch))

    def count(self) -> int:
        return self.next_api_id() - 1

    def state(self, item_id: int) -> str:
        return self.api(item_id).status.label

    def parties(self, item_id: int) -> list[str]:
        api = self.api(item_id)
        vendors = [slot.vendor for slot in self.slots(item_id)]
        consumers = [str(e["consumer"]) for e in self.events("Deposited", api=item_id)]
        return list(dict.fromkeys([api.provider, api.orchestrator, *vendors, *consumers]))
