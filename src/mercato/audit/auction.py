"""Audit of one P1 auction (SAIaaS): each rule of the procurement auction, answered from the
ledger.

:func:`audit_auction` reads the auction house's and the registry's events and the blob store
and, where a sealed blob must be opened, uses the viewer's key: the infrastructure winner
opens the assets handed over to it, the client the delivered model. The rules are the
protocol's own (:mod:`mercato.protocols.auction.rules`), never restated here. Each question
is one :class:`~mercato.audit.report.Check` (see :mod:`mercato.audit.report` for PASS, FAIL
and NOT CHECKABLE); a failure names who broke the rule: the client, the arbiter, a data,
algorithm or infrastructure provider, the contract, or a slasher.

1. Was each bid valid? Public: every bid is replayed in chain order through the contract's
   rules (above 0, at or under the maximum, strictly under the best bid, references to
   earlier confirmed SLAs the bidder won in the category, the category's role in the
   registry at the time, before bidding closed). P1 asks no stake; the semantic match is
   each provider's check off chain.
2. Were the winners and their prices the ones the auction rule gives? Public: the lowest bid
   of each category (:func:`~mercato.protocols.auction.rules.lowest_bid`) against the SLA
   and the best bids on chain; pay-as-bid, no second price; who adjudicated, and when.
3. Did each winner deliver what it committed? Public: every sealed asset and the sealed
   model are in the store; the execution report is signed by the infrastructure winner and
   names the delivered model and the handed-over assets. With the infrastructure winner's
   key each sealed asset opens to the asset its hash names; with the client's the sealed
   model hashes to the model hash on chain. The model's quality needs the client's data.
4. Was each rejection and arbitration verdict justified? Public: the client's reason is
   stored; each reason the evidence can show (the report's faults) is re-checked, the
   model's hash with the client's key; the arbiter's verdict must pay exactly the duties the
   evidence shows (:func:`~mercato.protocols.auction.rules.evidenced_mask`).
5. Did each party do its part before its deadline? Public: a winner that did not hand over,
   an executor that did not deliver, a client silent past the review deadline, an arbiter
   silent past the arbitration deadline.
6. Was each slash justified? Public: P1 slashes nobody; a slash of a party while the
   auction ran is another market's matter, or, by a contract that is no market of the
   deployment, unjustified.
7. Was everyone paid by the rules? Public: every credit of the adjudication and the
   settlement, recomputed from the rule's SLA and the way the auction ended, to the wei;
   before the end, who may move the auction on and from when.
"""

from __future__ import annotations

from mercato.audit.auction_bids import check_bids_valid, check_winners
from mercato.audit.auction_delivery import check_deadlines, check_delivered, check_verdicts
from mercato.audit.auction_ledger import AuctionLedger
from mercato.audit.auction_payment import check_paid_by_the_rules, check_slashes
from mercato.audit.report import AuditReport, CheckSpec, audit_entry
from mercato.protocols.identity import Identity
from mercato.protocols.marketplace import Marketplace

CHECKS: tuple[CheckSpec[AuctionLedger], ...] = (
    CheckSpec(
        "bids-valid",
        "Was each bid valid?",
        "Each provider ... propose a price for an asset that semantically matches the "
        "client's request.",
        check_bids_valid,
    ),
    CheckSpec(
        "winners-by-the-rule",
        "Were the winners and their prices the ones the auction rule gives?",
        "the winning triplet comprised of the semantically matching lowest-price bids is made "
        "public through an Auction Service Level Agreement (SLA)",
        check_winners,
    ),
    CheckSpec(
        "delivered-as-committed",
        "Did each winner deliver what it committed?",
        "the DP and the AP will send their assets to the IP ... the IP will compute the model, "
        "and return it to the client",
        check_delivered,
    ),
    CheckSpec(
        "verdicts-justified",
        "Was each rejection and arbitration verdict justified?",
        "",
        check_verdicts,
    ),
    CheckSpec(
        "deadlines-kept",
        "Did each party do its part before its deadline?",
        "",
        check_deadlines,
    ),
    CheckSpec(
        "slashes-justified",
        "Was each slash justified?",
        "",
        check_slashes,
    ),
    CheckSpec(
        "paid-by-the-rules",
        "Was everyone paid by the rules?",
        "unlock the payments to the providers and retrieve the potential unspent resources "
        "from its reserve price",
        check_paid_by_the_rules,
    ),
)
"""One per rule of the auction, in the order the auction runs."""


def audit_auction(market: Marketplace, auction_id: int, viewer: Identity | None) -> AuditReport:
    """Every check of auction ``auction_id`` with ``viewer``'s keys (None: a public audit).
    InputError if there is no such auction."""
    return audit_entry(
        "auction",
        auction_id,
        market.auction_house.auction_count(),
        lambda: AuctionLedger(market, auction_id, viewer),
        CHECKS,
        None if viewer is None else viewer.address,
    )


def audit(market: Marketplace, ident: int, viewer: Identity | None) -> AuditReport:
    """The audit of :data:`mercato.audit.AUDITORS`: :func:`audit_auction`."""
    return audit_auction(market, ident, viewer)
