"""Audit of one P5 API (Arya et al.'s split execution): registration, batches, claims,
challenges, disputes, slashes and pay, answered from the chain and the blob store.

:func:`audit_api` reads the API market's events and the blobs once
(:class:`~mercato.audit.apimarket_ledger.ApiLedger`) and asks the protocol's own rules
(:mod:`mercato.protocols.apimarket.rules`, the batch records of
:mod:`~mercato.protocols.apimarket.records`, the API document of
:mod:`~mercato.protocols.apimarket.documents`). Each question is one
:class:`~mercato.audit.report.Check` (see :mod:`mercato.audit.report` for PASS, FAIL and
NOT CHECKABLE); a failure names who broke a rule: the provider, the orchestrator, a vendor
(by slot), a consumer, or the contract itself.

1. Was the API's registration consistent? Public: the logged terms are the contract's and
   its rules' (slots, shares, periods); the API document is in the store, its component
   hashes give the registered model root, it seals a component to every slot and names the
   P4 purchase the registration showed; that sale's buyer is the provider and it is paid
   (read again from the model market). A vendor's key: its sealed component opens to its
   component of the root. The orchestrator's key: every vendor's endpoint opens.
2. Does every batch's records file give what the orchestrator committed? Public: the file
   is in the store, canonical, and rebuilds the Merkle root, the counts and their hash; each
   step ran on a slot of its component. A mismatch names the orchestrator.
3. Was every vendor's claim settled by the rules, and who caused it? Public: a claim paid
   for a missing batch, a batch counting too few of the consumer's signed calls, or a leaf
   the orchestrator never showed names the orchestrator; a claim answered with a leaf the
   records file holds in the vendor's own range names the vendor (it claimed a paid step).
4. Was every consumer's challenge justified? Public: answered with the consumer's own
   signed request names the consumer (it denied a call); refunded names the orchestrator
   (it charged a call it held no signed request for).
5. Was every dispute's verdict the rules'? Public: the receipt's component hash against the
   document's (a wrong component names the vendor; a slash for an honest component, by a
   false Merkle proof, names the consumer); the committee's majority recomputed from the
   revealed outputs (a liar and revealed dissenters name those vendors, an honest vendor's
   accuser names the consumer).
6. Was each slash justified? Public: the slots out are exactly the disputes' slashes, each
   one the rules give.
7. Was everyone paid by the rules? Public: every logged amount and every credit replayed
   from the events, to the wei (per step and share, fees to the provider, claims and
   refunds from the orchestrator's stake, bonds and slashed stakes, stakes and deposits
   back); before the end, who may move the API on.
"""

from __future__ import annotations

from mercato.audit.apimarket_checks import (
    check_batches,
    check_challenges,
    check_claims,
    check_disputes,
    check_registration,
    check_slashes,
)
from mercato.audit.apimarket_ledger import ApiLedger
from mercato.audit.apimarket_payment import check_paid_by_the_rules
from mercato.audit.report import AuditReport, CheckSpec, audit_entry
from mercato.protocols.identity import Identity
from mercato.protocols.marketplace import Marketplace

CHECKS: tuple[CheckSpec[ApiLedger], ...] = (
    CheckSpec(
        "registration",
        "Was the API's registration consistent (model root, components, P4 purchase)?",
        "The model owner commits to the model by the Merkle root of its components' hashes.",
        check_registration,
    ),
    CheckSpec(
        "batches",
        "Does every batch's records file give the Merkle root and counts committed?",
        "",
        check_batches,
    ),
    CheckSpec(
        "claims",
        "Was every vendor's claim settled by the rules?",
        "",
        check_claims,
    ),
    CheckSpec(
        "challenges",
        "Was every consumer's challenge justified?",
        "",
        check_challenges,
    ),
    CheckSpec(
        "disputes",
        "Was every dispute's verdict justified?",
        "",
        check_disputes,
    ),
    CheckSpec(
        "slashes",
        "Was each slash justified?",
        "",
        check_slashes,
    ),
    CheckSpec(
        "paid-by-the-rules",
        "Was everyone paid by the rules?",
        "",
        check_paid_by_the_rules,
    ),
)
"""Every question of a P5 audit, in the order an API lives them."""


def audit_api(market: Marketplace, api_id: int, viewer: Identity | None) -> AuditReport:
    """Every check of API ``api_id`` with ``viewer``'s keys (None: a public audit).
    InputError if there is no such API."""
    return audit_entry(
        "API",
        api_id,
        market.api_market.count(),
        lambda: ApiLedger(market, api_id, viewer),
        CHECKS,
        None if viewer is None else viewer.address,
    )


def audit(market: Marketplace, ident: int, viewer: Identity | None) -> AuditReport:
    """The audit of :data:`mercato.audit.AUDITORS`."""
    return audit_api(market, ident, viewer)
