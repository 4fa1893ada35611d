"""Audit of one P2 training: each question of Somy et al. II-D, answered from the ledger.

:func:`audit_training` reads the training market's events and the blob store and, where a
sealed blob must be opened, uses the viewer's key: the DO is a recipient of every replica
envelope, a CO of its own replicas and jobs, the MO of every job's model. Each question is
one :class:`~mercato.audit.report.Check` (see :mod:`mercato.audit.report` for what PASS,
FAIL and NOT CHECKABLE mean); a failure names who cheated.

1. Does each CO hold the data it claims? The DO verified every join; with the MO's key,
   replica consensus held in every round (dissenters are the evidence); with the DO's or a
   CO's key, a flagged join is shown right or wrong.
2. Did two COs copy each other's data hash or nonce? Chain only.
3. Did the DO give each CO the right data? Public: every envelope is in the store and every
   CO acknowledged its replica by joining (a CO joins only after checking it against the
   manifest); with the DO's key every envelope, with a CO's its own, opens to the subset the
   manifest commits to, and a CO's data matches the joins of the other replicas (the paper's
   cross-check).
4. Did the DO verify joins honestly? Public: no verified join repeats another's hash; with
   the DO's (or a CO's) key, each verdict is ``keccak(subset || nonce) == declared hash``.
5. Is each downloaded model the one the CO declared? With the MO's key (a CO's for its own
   jobs): every sealed model opens and ``keccak(model || nonce)`` is the job's model hash.
6. Did a CO copy another CO's model hash or nonce? Chain only.
7. Did the MO control subset selection? Every draw is recomputed from its block hash
   (:func:`check_draws`); start_round takes no selection input.
8. Can the MO read the data? Every replica envelope has two recipients (the CO and the DO)
   and, with the MO's key, none opens.
9. Was every fraud report justified? Its evidence is public and consistent with the chain;
   with the MO's key the review is re-run; an unjustified report is evidence against the MO.
10. Was everyone paid by the rules? The payout of TrainingCompleted is recomputed from the
    jobs and reports, down to each credit; before completion, who may move the training on.
"""

from __future__ import annotations

from mercato.audit.report import AuditReport, CheckSpec, audit_entry
from mercato.audit.training_data import (
    check_co_holds_data,
    check_do_gave_right_data,
    check_do_verified_honestly,
    check_mo_cannot_read,
    check_no_copied_data_hash,
)
from mercato.audit.training_ledger import TrainingLedger
from mercato.audit.training_payment import check_paid_by_the_rules
from mercato.audit.training_rounds import (
    check_mo_cannot_choose,
    check_model_as_declared,
    check_no_copied_model_hash,
    check_reports_justified,
)
from mercato.crypto.ckks import CkksContext
from mercato.protocols.identity import Identity
from mercato.protocols.marketplace import Marketplace

CHECKS: tuple[CheckSpec[TrainingLedger], ...] = (
    CheckSpec(
        "co-holds-data",
        "Does each CO hold the data it claims?",
        "How does MO verify that CO has the dataset that it is claiming to have?",
        check_co_holds_data,
    ),
    CheckSpec(
        "no-copied-data-hash",
        "Did two COs copy each other's data hash or nonce?",
        "How can we ensure that 2 COs having same data subset do not copy each others hash?",
        check_no_copied_data_hash,
    ),
    CheckSpec(
        "do-gave-right-data",
        "Did the DO give each CO the right data?",
        "How does CO ensure that DO has given it the correct dataset?",
        check_do_gave_right_data,
    ),
    CheckSpec(
        "do-verified-honestly",
        "Did the DO verify joins honestly?",
        "How does DO verify that CO has got the correct dataset?",
        check_do_verified_honestly,
    ),
    CheckSpec(
        "model-as-declared",
        "Is each downloaded model the one the CO declared?",
        "How does an MO ensure that the partially trained model uploaded by the CO is the "
        "same that it has downloaded?",
        check_model_as_declared,
    ),
    CheckSpec(
        "no-copied-model-hash",
        "Did a CO copy another CO's model hash or nonce?",
        "How does MO ensure that CO simply doesn't copy the hash from another CO having same "
        "data subset?",
        check_no_copied_model_hash,
    ),
    CheckSpec(
        "mo-cannot-choose-subsets",
        "Did the MO control subset selection?",
        "How does DO ensure that the MO doesn't control which data subsets will be used in a "
        "training round?",
        check_mo_cannot_choose,
    ),
    CheckSpec(
        "mo-cannot-read-data",
        "Can the MO read the data?",
        "How does DO ensure that MO cannot access the data shared with CO?",
        check_mo_cannot_read,
    ),
    CheckSpec(
        "fraud-reports-justified",
        "Was every fraud report justified?",
        "",
        check_reports_justified,
    ),
    CheckSpec(
        "paid-by-the-rules",
        "Was everyone paid by the rules?",
        "",
        check_paid_by_the_rules,
    ),
)
"""One per question of II-D (the paper's wording; "" where it has none), in its order."""


def audit_training(
    market: Marketplace,
    training_id: int,
    viewer: Identity | None,
    ckks_context: CkksContext | None = None,
) -> AuditReport:
    """Answer every question of II-D for training ``training_id``, with ``viewer``'s keys
    (None: a public audit). ``ckks_context`` is the MO's secret context, needed to compare
    the models of a CKKS training. InputError if there is no such training."""
    return audit_entry(
        "training",
        training_id,
        market.training_market.training_count(),
        lambda: TrainingLedger(market, training_id, viewer, ckks_context),
        CHECKS,
        None if viewer is None else viewer.address,
    )


def audit(market: Marketplace, training_id: int, viewer: Identity | None) -> AuditReport:
    """The audit of :data:`mercato.audit.AUDITORS`: :func:`audit_training` without the MO's
    CKKS secret context."""
    return audit_training(market, training_id, viewer)
