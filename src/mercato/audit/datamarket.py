"""Audit of one P3 task (OmniLytics): was each rule of the data market kept, and by whom not.

:func:`audit` reads the task's events and the blob store and, where a sealed blob must be
opened, uses the viewer's key: the model owner (MO) opens every robust-mode update, a data
owner (DO) its own update and the secure-mode share bundles dealt to it. Each question is
one :class:`~mercato.audit.report.Check` (see :mod:`mercato.audit.report` for PASS, FAIL and
NOT CHECKABLE); a failure names who broke the rule.

1. Did every DO post in each phase, in time? Chain only: a DO still in a phase that did not
   post before its deadline dropped out (named; unpaid for the round).
2. Is every posted blob there and well formed? Public: each shares blob deals to every DO that
   posted keys, each masked update has the model's size, each reveal gives exactly one share
   per dealer, the seed share of a submitter and the key share of a dropout (never both).
   With a DO's key, the share bundles dealt to it open; with the MO's (a DO's for its own),
   the sealed robust updates open.
3. Do the revealed shares match the commitments? Public: every submitter's self seed and
   every dropout's private key is rebuilt from the revealed shares and checked against the
   seed commitment and public key on chain; a holder whose share is off its dealer's
   polynomial is named.
4. Was each round's aggregate what the rule gives? Public: the new model is the previous one
   plus the published aggregate; in secure mode the aggregate is recomputed from the masked
   updates and reveals (:func:`~mercato.protocols.datamarket.aggregation.secure_mean`). In
   robust mode, with the MO's key, the rule is re-run on the opened updates.
5. Were the scores and exclusions the rule's? Public: at most the task's bound excluded,
   all of them submitters, one score per submitter; with the MO's key the scores and the
   exclusions are recomputed (an honest DO excluded, or a poisoner kept, names the MO).
6. Did any DO submit a poisoned update? With the MO's key: each update the rule excludes
   (an outlier, or one that does not open) names its DO. Secure mode cannot tell (its
   threat model: secure aggregation does not resist poisoning).
7. Was each claim, cancellation and failed round justified? Chain only; a claim means the MO
   missed an aggregation deadline (named).
8. Was everyone paid by the rules? Every round's credits (:func:`~mercato.protocols.
   datamarket.rules.round_pay`), the claim's and the refund are replayed to the wei; before
   the end, who may move the task on, and when.
"""

from __future__ import annotations

from mercato.audit.datamarket_ledger import TaskLedger
from mercato.audit.datamarket_payment import check_paid_by_the_rules
from mercato.audit.datamarket_posts import (
    check_posted_in_time,
    check_posts_well_formed,
    check_reveals,
)
from mercato.audit.datamarket_rounds import (
    check_aggregates,
    check_claims,
    check_exclusions,
    check_no_poisoned_updates,
)
from mercato.audit.report import AuditReport, CheckSpec, audit_entry
from mercato.protocols.identity import Identity
from mercato.protocols.marketplace import Marketplace

CHECKS: tuple[CheckSpec[TaskLedger], ...] = (
    CheckSpec(
        "posted-in-time",
        "Did every data owner post in each phase, in time?",
        "",
        check_posted_in_time,
    ),
    CheckSpec(
        "posts-well-formed",
        "Is every posted blob there and well formed?",
        "",
        check_posts_well_formed,
    ),
    CheckSpec(
        "reveals-match-commitments",
        "Do the revealed shares match the commitments on chain?",
        "",
        check_reveals,
    ),
    CheckSpec(
        "aggregate-right",
        "Was each round's aggregate what the rule gives?",
        "",
        check_aggregates,
    ),
    CheckSpec(
        "exclusions-right",
        "Were the recorded scores and exclusions the rule's?",
        "",
        check_exclusions,
    ),
    CheckSpec(
        "no-poisoned-updates",
        "Did any data owner submit a poisoned update?",
        "",
        check_no_poisoned_updates,
    ),
    CheckSpec(
        "claims-justified",
        "Was each claim, cancellation and failed round justified?",
        "",
        check_claims,
    ),
    CheckSpec(
        "paid-by-the-rules",
        "Was everyone paid by the rules?",
        "",
        check_paid_by_the_rules,
    ),
)
"""Every question of a task's audit, in the order a task runs."""


def audit(market: Marketplace, task_id: int, viewer: Identity | None) -> AuditReport:
    """Every check of task ``task_id`` with ``viewer``'s keys (None: a public audit).
    InputError if there is no such task."""
    return audit_entry(
        "task",
        task_id,
        market.data_market.count(),
        lambda: TaskLedger(market, task_id, viewer),
        CHECKS,
        None if viewer is None else viewer.address,
    )
