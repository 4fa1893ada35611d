"""Audit of one P4 request (Golden Grain): the benchmark, the sale and the fair swap,
answered from the chain and the blob store alone.

:func:`audit_request` reads the request's events and blobs (:class:`RequestLedger`) and,
where a sealed blob must be opened, uses the viewer's key: a drawn executor opens the
hidden groups and every model sealed to the executors, the buyer every delivery. A seller's
key opens nothing more than the public's. Each question is one
:class:`~mercato.audit.report.Check` (see :mod:`mercato.audit.report` for PASS, FAIL and
NOT CHECKABLE); a failure names who broke a rule: the buyer, a seller, an executor, or the
contract itself.

1. Were the sample and the executors drawn from the block hash? Public: each draw's target
   block, its hash as the chain has it, and the groups and executors
   (:mod:`mercato.protocols.draws`) it gives.
2. Did the buyer reveal the drawn sample, and is it real? Public: a drawn sample never
   revealed is the buyer's; the sample blob holds the groups whose hashes the contract
   proved in the test root, each rows of the task's features and classes.
3. Were the hidden groups the ones the test root commits to? Public: the buyer sealed them
   to every drawn executor; with a drawn executor's key they open and, with the sample,
   give the test root (:func:`~mercato.protocols.modelmarket.evaluation.benchmark`).
4. Did each seller seal to the executors the model it committed to? Public: each seller
   still in sealed its model to every drawn executor; with a drawn executor's key each
   opens to its committed plaintext root.
5. Was each model's score its accuracy on the hidden groups? Public: every drawn executor
   committed and revealed, the tally is the majority's vote, and a revealed vote outvoted
   by the majority is evidence against its executor (unless it flags a blob not sealed to
   it); with a drawn executor's key the benchmark is re-run on the sealed blobs and every
   vote, the majority's included, is compared with it (a vote that differs only in flags
   on blobs not sealed to every executor is excused: the sender is named by 3 or 4).
6. Were the winners and prices those the schedule gives? Public: the best ``k`` of the
   agreed scores the schedule prices, each at its score's price
   (:func:`~mercato.protocols.modelmarket.rules.winners_of`).
7. Did the fair swap deliver the key and the model committed? Public: each winner revealed
   its key (a default is the seller's); a complaint the contract upheld (one bad chunk and
   two Merkle proofs) is evidence against the seller (an unjustified complaint cannot pass
   the contract); a missing delivery is the seller's. With the buyer's key each rejected
   delivery is re-checked (a sound one rejected is the buyer's) and each sold delivery is
   decrypted chunk by chunk with the revealed key.
8. Was everyone paid by the rules? Every credit of every step (the undrawn volunteers'
   stakes, a rejection, the tally, each settled sale, a cancellation or failure) is
   recomputed with :mod:`mercato.protocols.modelmarket.rules` and compared with the
   escrow's ``Credited`` events to the wei; an ended request locks nothing; an open one says
   who may move it on.
"""

from __future__ import annotations

from mercato.audit.modelmarket_benchmark import (
    check_draws,
    check_models,
    check_sample,
    check_scores,
    check_test_set,
)
from mercato.audit.modelmarket_ledger import RequestLedger
from mercato.audit.modelmarket_sale import check_paid, check_swap, check_winners
from mercato.audit.report import AuditReport, CheckSpec, audit_entry
from mercato.protocols.identity import Identity
from mercato.protocols.marketplace import Marketplace

CHECKS: tuple[CheckSpec[RequestLedger], ...] = (
    CheckSpec(
        "draws",
        "Were the sample and the executors drawn from the block hash?",
        "",
        check_draws,
    ),
    CheckSpec(
        "sample-revealed",
        "Did the buyer reveal the drawn sample, and is it real?",
        "",
        check_sample,
    ),
    CheckSpec(
        "test-set-committed",
        "Were the hidden groups the ones the test root commits to?",
        "",
        check_test_set,
    ),
    CheckSpec(
        "models-committed",
        "Did each seller seal to the executors the model it committed to?",
        "",
        check_models,
    ),
    CheckSpec(
        "scores-right",
        "Was each model's score its accuracy on the hidden groups?",
        "Transparent pricing based on authentic model performance.",
        check_scores,
    ),
    CheckSpec(
        "winners-by-schedule",
        "Were the winners and prices those the schedule gives?",
        "a blockchain-empowered model benchmarking process for transparently determining the "
        "model prices",
        check_winners,
    ),
    CheckSpec(
        "fair-swap",
        "Did the fair swap deliver the key and the model committed?",
        "enforces the fair model-money swapping process between individual developers and "
        "MLaaS providers",
        check_swap,
    ),
    CheckSpec(
        "paid-by-the-rules",
        "Was everyone paid by the rules?",
        "",
        check_paid,
    ),
)
"""Every question, in the order of the request's phases (the paper's words where its
abstract has them)."""


def audit_request(market: Marketplace, request_id: int, viewer: Identity | None) -> AuditReport:
    """Answer every question for request ``request_id``, with ``viewer``'s keys (None: a
    public audit). InputError if there is no such request."""
    return audit_entry(
        "request",
        request_id,
        market.model_market.count(),
        lambda: RequestLedger(market, request_id, viewer),
        CHECKS,
        None if viewer is None else viewer.address,
    )


def audit(market: Marketplace, request_id: int, viewer: Identity | None) -> AuditReport:
    """The audit of :data:`mercato.audit.AUDITORS`."""
    return audit_request(market, request_id, viewer)
