"""Typed wrapper of the ModelMarket contract (P4, Golden Grain).

Storage, for auditors (see the contract's docstring for the rules): per request its terms,
periods and progress (plain structs), the test root, the sample seed, the price schedule
(one word per point: ``score << 128 | price``); per submission its commitments, state,
agreed score, price and complaint deadline; the volunteers by index and ``index + 1`` by
address, each executor's commitment and the hash of the vector it revealed. Task
documents, group hashes, deliveries, scores of each executor and keys live in events.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import fields
from typing import TYPE_CHECKING

from eth_abi.abi import encode
from eth_utils.crypto import keccak

from mercato.chain.contract import TxResult
from mercato.protocols.modelmarket.views import (
    Periods,
    Request,
    RequestStatus,
    Submission,
    SubmissionState,
)
from mercato.protocols.wrapper import ContractWrapper

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

    from mercato.crypto.fairswap import Commitments, Complaint

ADVANCE_GAS_LIMIT = 600_000
"""Gas sent with ``advance`` for a request with nobody in it, instead of an estimate: a draw
must run in a block after its target, but a node estimates on the latest block, where it
would revert (see P2's draw)."""
ADVANCE_GAS_PER_PARTY = 35_000
"""And for each seller and volunteer, whom a cancellation or the executors' draw may refund
(a fresh ``owed`` slot each: about 25,000 gas)."""


def advance_gas(sellers: int, volunteers: int) -> int:
    """The gas sent with ``advance`` for a request with these sellers and volunteers."""
    return ADVANCE_GAS_LIMIT + ADVANCE_GAS_PER_PARTY * (sellers + volunteers)


def score_commitment(
    request_id: int,
    executor: str,
    scores: Sequence[int],
    flags: int,
    report_hash: bytes,
    salt: bytes,
) -> bytes:
    """What an executor commits to: keccak256(abi_encode(request, executor, scores, flags,
    report, salt)), as ``reveal_scores`` recomputes it."""
    return keccak(
        encode(
            ["uint256", "address", "uint256[]", "uint256", "bytes32", "bytes32"],
            [request_id, executor, list(scores), flags, report_hash, salt],
        )
    )


def vote_hash(scores: Sequence[int], flags: int) -> bytes:
    """The hash by which the contract compares executors' revealed vectors."""
    return keccak(encode(["uint256[]", "uint256"], [list(scores), flags]))


class ModelMarket(ContractWrapper):
    """Calls and transactions of the model market, in Mercato's types."""

    CONTRACT = "ModelMarket"
    ITEM = "request"

    # buyer ------------------------------------------------------------------------------
    def post_request(
        self,
        buyer: LocalAccount,
        *,
        task_hash: bytes,
        test_root: bytes,
        groups: int,
        sample: int,
        schedule: Sequence[tuple[int, int]],
        k: int,
        executors: int,
        seller_stake: int,
        executor_stake: int,
        executor_fee: int,
        bond: int,
        periods: Periods,
        value: int | None = None,
    ) -> tuple[int, TxResult]:
        """Post a request; ``schedule`` is (score in ppm, price in wei) points, increasing.
        Sends exactly what the contract locks unless ``value`` says otherwise."""
        top = schedule[-1][1] if schedule else 0
        escrowed = k * top + executors * executor_fee + bond
        result = self.contract.transact(
            "post_request",
            task_hash,
            test_root,
            groups,
            sample,
            [score for score, _ in schedule],
            [price for _, price in schedule],
            k,
            executors,
            seller_stake,
            executor_stake,
            executor_fee,
            bond,
            periods.as_tuple(),
            sender=buyer,
            value=escrowed if value is None else value,
        )
        return int(result.event("RequestPosted")["request_id"]), result

    def reveal_sample(
        self,
        buyer: LocalAccount,
        request_id: int,
        group_hashes: Sequence[bytes],
        proofs: Sequence[Sequence[bytes]],
        blob_hash: bytes,
    ) -> TxResult:
        return self.contract.transact(
            "reveal_sample",
            request_id,
            list(group_hashes),
            [list(proof) for proof in proofs],
            blob_hash,
            sender=buyer,
        )

    def reject_delivery(
        self, buyer: LocalAccount, request_id: int, index: int, reason_hash: bytes
    ) -> TxResult:
        return self.contract.transact(
            "reject_delivery", request_id, index, reason_hash, sender=buyer
        )

    def complain(
        self,
        buyer: LocalAccount,
        request_id: int,
        index: int,
        key: bytes,
        complaint: Complaint,
    ) -> TxResult:
        """Prove a bad chunk of winner ``index`` (mercato.crypto.fairswap.Complaint)."""
        words = [complaint.encrypted[i : i + 32] for i in range(0, len(complaint.encrypted), 32)]
        return self.contract.transact(
            "complain",
            request_id,
            index,
            key,
            complaint.index,
            words,
            list(complaint.cipher_proof),
            complaint.chunk_hash,
            list(complaint.plain_proof),
            sender=buyer,
        )

    # sellers and executors --------------------------------------------------------------
    def submit(
        self,
        seller: LocalAccount,
        request_id: int,
        commitments: Commitments,
        delivery_hash: bytes,
        stake: int,
    ) -> TxResult:
        return self.contract.transact(
            "submit",
            request_id,
            commitments.plain_root,
            commitments.cipher_root,
            commitments.key_hash,
            commitments.size,
            delivery_hash,
            sender=seller,
            value=stake,
        )

    def volunteer(self, executor: LocalAccount, request_id: int, stake: int) -> TxResult:
        return self.contract.transact("volunteer", request_id, sender=executor, value=stake)

    def seal(self, sender: LocalAccount, request_id: int, blob_hash: bytes) -> TxResult:
        return self.contract.transact("seal", request_id, blob_hash, sender=sender)

    def commit_scores(self, executor: LocalAccount, request_id: int, commitment: bytes) -> TxResult:
        return self.contract.transact("commit_scores", request_id, commitment, sender=executor)

    def reveal_scores(
        self,
        executor: LocalAccount,
        request_id: int,
        scores: Sequence[int],
        flags: int,
        report_hash: bytes,
        salt: bytes,
    ) -> TxResult:
        return self.contract.transact(
            "reveal_scores", request_id, list(scores), flags, report_hash, salt, sender=executor
        )

    def reveal_key(self, seller: LocalAccount, request_id: int, key: bytes) -> TxResult:
        return self.contract.transact("reveal_key", request_id, key, sender=seller)

    # anyone -----------------------------------------------------------------------------
    def advance(self, caller: LocalAccount, request_id: int) -> TxResult:
        """Draw the sample or the executors, or move past a deadline (see the contract)."""
        request = self.request(request_id)
        gas = advance_gas(request.sellers, request.volunteers)
        return self.contract.transact("advance", request_id, sender=caller, gas=gas)

    def tally(
        self, caller: LocalAccount, request_id: int, scores: Sequence[int], flags: int
    ) -> TxResult:
        return self.contract.transact("tally", request_id, list(scores), flags, sender=caller)

    def finish(self, caller: LocalAccount, request_id: int, index: int) -> TxResult:
        return self.contract.transact("finish", request_id, index, sender=caller)

    # views ------------------------------------------------------------------------------
    def next_request_id(self) -> int:
        return int(self.contract.call("next_request_id"))

    def request(self, request_id: int) -> Request:
        """The request's state; ContractRevert "modelmarket: unknown request" if none."""
        return self.read(Request, "request", request_id, status=RequestStatus)

    def submission(self, request_id: int, index: int) -> Submission:
        values = self.contract.call("submission", request_id, index)
        names = [f.name for f in fields(Submission)]
        record = dict(zip(names, (request_id, index, *values), strict=True))
        record["state"] = SubmissionState(record["state"])
        return Submission(**record)

    def submissions(self, request_id: int) -> tuple[Submission, ...]:
        """Every submission of the request, in submission order."""
        count = self.request(request_id).sellers
        return tuple(self.submission(request_id, i) for i in range(count))

    def volunteer_at(self, request_id: int, index: int) -> str:
        return str(self.contract.call("volunteer_at", request_id, index))

    def volunteers(self, request_id: int) -> tuple[str, ...]:
        count = self.request(request_id).volunteers
        return tuple(self.volunteer_at(request_id, i) for i in range(count))

    def purchase(self, request_id: int, index: int) -> tuple[str, str, bytes, int, bool]:
        """(buyer, seller, plaintext root, agreed score, paid) of a sale (P5 points at it)."""
        buyer, seller, root, score, paid = self.contract.call("purchase", request_id, index)
        return str(buyer), str(seller), bytes(root), int(score), bool(paid)

    def price_for(self, request_id: int, score: int) -> int:
        return int(self.contract.call("price_for", request_id, score))

    def count(self) -> int:
        return self.next_request_id() - 1

    def state(self, item_id: int) -> str:
        return self.request(item_id).status.label

    def parties(self, item_id: int) -> list[str]:
        request = self.request(item_id)
        sellers = [s.seller for s in self.submissions(item_id)]
        return list(dict.fromkeys([request.buyer, *sellers, *self.volunteers(item_id)]))
