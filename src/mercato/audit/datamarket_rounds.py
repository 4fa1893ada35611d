"""The model owner's side of a P3 task: each round's aggregate, scores and exclusions, claims.

Four checks of :mod:`mercato.audit.datamarket`. The rules are the protocol's own: the secure
sum is :func:`~mercato.protocols.datamarket.aggregation.secure_mean` of the public blobs;
the robust aggregate, scores and exclusions are what the model owner's agent computes
(:func:`robust_outcome` opens the sealed updates with the MO's key and runs the task's rule
through :func:`~mercato.ml.federated_sim.aggregate_deltas`, as
:func:`~mercato.protocols.datamarket.model_owner.aggregate_round` does).
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from dataclasses import dataclass

from mercato.audit.datamarket_ledger import RoundRecord, TaskLedger
from mercato.audit.report import CheckBuilder
from mercato.errors import MercatoError
from mercato.ml.aggregate.krum import (
    MULTIPLE_SCALE,
    krum_outliers,
)
from mercato.ml.model_parts import apply_update
from mercato.ml.trainers.weights import Weights, weights_from_bytes, weights_to_bytes
from mercato.protocols.datamarket.aggregation import robust_round, secure_mean
from mercato.protocols.datamarket.views import SCORE_SCALE, Phase, members_of
from mercato.storage.base import blob_hash, hash_hex
from mercato.timefmt import format_time


@dataclass(frozen=True)
class RobustOutcome:
    """What the task's rule gives for a robust round, recomputed from the opened updates."""

    mean: Weights
    excluded: tuple[int, ...]
    scores: tuple[int, ...]
    """As the chain records them, one per submitter (empty when the rule has none)."""
    unreadable: tuple[int, ...]


def robust_outcome(ledger: TaskLedger, record: RoundRecord) -> RobustOutcome | str:
    """The rule's aggregate, exclusions and scores of a robust round (the MO's key), or why
    they cannot be recomputed."""
    spec = ledger.spec_or_problem()
    if isinstance(spec, str):
        return spec
    submitters = record.submitters
    updates: dict[int, Weights] = {}
    unreadable: list[int] = []
    for index in submitters:
        opened = ledger.open_update(record.number, index)
        try:
            if opened.content is None:
                raise MercatoError(opened.problem)
            updates[index] = weights_from_bytes(opened.content)
        except MercatoError:
            unreadable.append(index)
    task = ledger.task
    try:
        found = robust_round(
            spec.rule, submitters, updates, task.max_excluded, task.outlier_multiple
        )
    except MercatoError as exc:
        return f"the rule cannot run: {exc}"
    return RobustOutcome(found.mean, found.excluded, found.scores, tuple(unreadable))


def outliers(ledger: TaskLedger, record: RoundRecord, scores: Sequence[int]) -> tuple[int, ...]:
    """The submitters the exclusion rule excludes given their ``scores`` (none without):
    :func:`~mercato.ml.aggregate.krum.krum_outliers` with the task's multiple and bound."""
    if not scores:
        return ()
    task = ledger.task
    positions = krum_outliers(scores, task.outlier_multiple, task.max_excluded)
    return tuple(record.submitters[k] for k in positions)


def _outcome(ledger: TaskLedger, record: RoundRecord) -> RobustOutcome | str:
    """:func:`robust_outcome`, computed once per round and ledger."""
    cache: dict[int, RobustOutcome | str] = ledger.__dict__.setdefault("_robust", {})
    if record.number not in cache:
        cache[record.number] = robust_outcome(ledger, record)
    return cache[record.number]


def model_before(ledger: TaskLedger, number: int) -> bytes:
    """The public model round ``number`` trains: the last finalised before it, or the task's."""
    earlier = [r.finalised for n, r in sorted(ledger.rounds.items()) if n < number and r.finalised]
    source = earlier[-1] if earlier else ledger.posted
    return bytes(source["model_hash"])


# 4. aggregates -----------------------------------------------------------------------------
def check_aggregates(ledger: TaskLedger, check: CheckBuilder) -> None:
    """Each finalised round's aggregate is the rule's and its new model is the old plus it."""
    for record in ledger.rounds.values():
        event = record.finalised
        if event is None:
            _unfinalised(ledger, check, record)
            continue
        number = record.number
        aggregate = ledger.weights(bytes(event["aggregate_hash"]))
        before = ledger.weights(model_before(ledger, number))
        if isinstance(aggregate, str) or isinstance(before, str):
            problem = aggregate if isinstance(aggregate, str) else before
            check.fail(
                ledger.against_mo(
                    f"round {number}: the aggregate or the model it "
                    f"updates cannot be read: {problem}",
                    number,
                )
            )
            continue
        try:
            model = weights_to_bytes(apply_update(before, aggregate))
        except MercatoError as exc:
            check.fail(
                ledger.against_mo(
                    f"round {number}: the aggregate does not apply to the model: {exc}", number
                )
            )
            continue
        if not hmac.compare_digest(blob_hash(model), hash_hex(event["model_hash"])):
            check.fail(
                ledger.against_mo(
                    f"round {number}: the new public model {hash_hex(event['model_hash'])} is "
                    f"not the previous one plus the published aggregate ({blob_hash(model)})",
                    number,
                )
            )
        else:
            check.ran(f"round {number}: the new model is the previous one plus the aggregate")
        expected = _expected_aggregate(ledger, check, record)
        if expected is None:
            continue
        if hmac.compare_digest(weights_to_bytes(expected), weights_to_bytes(aggregate)):
            check.ran(f"round {number}: the aggregate is the {_rule(ledger)}, byte for byte")
        else:
            check.fail(
                ledger.against_mo(
                    f"round {number}: the published aggregate {hash_hex(event['aggregate_hash'])}"
                    f" is not the {_rule(ledger)} (recomputed: "
                    f"{blob_hash(weights_to_bytes(expected))}); the MO finalised a wrong "
                    "aggregate",
                    number,
                )
            )
    ledger.none_finalised(check)


def _rule(ledger: TaskLedger) -> str:
    """What the aggregate should be, in words."""
    if ledger.secure:
        return "mean of the masked updates"
    rule = "the task's rule" if ledger.spec is None else ledger.spec.rule
    return f"result of {rule} on the opened updates"


def _expected_aggregate(
    ledger: TaskLedger, check: CheckBuilder, record: RoundRecord
) -> Weights | None:
    if ledger.secure:
        try:
            return secure_mean(ledger.market, ledger.task_id, record.number).mean
        except MercatoError as exc:
            check.undecided(f"round {record.number}: the secure sum cannot be recomputed: {exc}")
            return None
    if not ledger.is_mo:
        check.skip(
            f"round {record.number}: the robust rule's aggregate: needs the MO's key "
            "to open the sealed updates"
        )
        return None
    outcome = _outcome(ledger, record)
    if isinstance(outcome, str):
        check.undecided(f"round {record.number}: {outcome}")
        return None
    return outcome.mean


def _unfinalised(ledger: TaskLedger, check: CheckBuilder, record: RoundRecord) -> None:
    number = record.number
    if record.failed is not None:
        check.ran(
            f"round {number} failed in its {Phase(int(record.failed['phase'])).label} "
            "phase: nothing to aggregate"
        )
    elif Phase.AGGREGATE in record.phases and ledger.expired is not None:
        check.ran(f"round {number} was never finalised: the data owners claimed")
    elif Phase.AGGREGATE in record.phases:
        deadline = int(record.phases[Phase.AGGREGATE]["deadline"])
        check.undecided(
            f"round {number} waits for the MO's aggregate until {format_time(deadline)}"
        )
    else:
        check.undecided(f"round {number} is under way: {ledger.task.waiting}")


# 5. scores and exclusions ------------------------------------------------------------------
def check_exclusions(ledger: TaskLedger, check: CheckBuilder) -> None:
    """The recorded scores and exclusions are what the rule gives for the submitted updates."""
    for record in ledger.rounds.values():
        event = record.finalised
        if event is None:
            continue
        number = record.number
        excluded = members_of(int(event["excluded"]))
        scores = tuple(int(s) for s in event["scores"])
        if ledger.secure:
            if excluded or scores:
                check.fail(
                    ledger.against_contract(
                        f"round {number}: a secure round recorded exclusions or scores", number
                    )
                )
            else:
                check.ran(f"round {number}: secure mode, no update excluded, no scores")
            continue
        _public_exclusions(ledger, check, record, excluded, scores)
        if not ledger.is_mo:
            check.skip(
                f"round {number}: the rule's scores and exclusions: needs the MO's key "
                "to open the sealed updates"
            )
            continue
        outcome = _outcome(ledger, record)
        if isinstance(outcome, str):
            check.undecided(f"round {number}: {outcome}")
            continue
        if scores != outcome.scores:
            check.fail(
                ledger.against_mo(
                    f"round {number}: recorded scores {list(scores)}, the "
                    f"rule gives {list(outcome.scores)}",
                    number,
                )
            )
        for index in excluded:
            if index not in outcome.excluded:
                check.fail(
                    ledger.against_mo(
                        f"round {number}: excluded {ledger.do(index)}, "
                        "whose update the rule keeps (it goes unpaid)",
                        number,
                    )
                )
        for index in outcome.excluded:
            if index not in excluded:
                check.fail(
                    ledger.against_mo(
                        f"round {number}: kept {ledger.do(index)}, whose update the rule excludes",
                        number,
                    )
                )
        check.ran(f"round {number}: the scores and exclusions recomputed from the opened updates")
    ledger.none_finalised(check)


def _public_exclusions(
    ledger: TaskLedger,
    check: CheckBuilder,
    record: RoundRecord,
    excluded: tuple[int, ...],
    scores: tuple[int, ...],
) -> None:
    number, submitters = record.number, record.submitters
    outside = [i for i in excluded if i not in submitters]
    if outside or len(excluded) > ledger.task.max_excluded:
        check.fail(
            ledger.against_contract(
                f"round {number}: excluded {list(excluded)} of the "
                f"submitters {list(submitters)}, at most "
                f"{ledger.task.max_excluded}",
                number,
            )
        )
    if scores and len(scores) != len(submitters):
        check.fail(
            ledger.against_contract(
                f"round {number}: {len(scores)} scores for {len(submitters)} submitters", number
            )
        )
        return
    if excluded != outliers(ledger, record, scores):
        check.fail(
            ledger.against_contract(
                f"round {number}: excluded {list(excluded)}; the outliers of the recorded "
                f"scores are {list(outliers(ledger, record, scores))}",
                number,
            )
        )
    check.ran(
        f"round {number}: the {len(excluded)} excluded of {len(submitters)} are the outliers "
        f"of the recorded scores (beyond {ledger.task.outlier_multiple / MULTIPLE_SCALE:g} x "
        f"the median, at most {ledger.task.max_excluded})"
    )


# 6. poisoned updates -----------------------------------------------------------------------
def check_no_poisoned_updates(ledger: TaskLedger, check: CheckBuilder) -> None:
    """No data owner submitted an update the rule excludes (an outlier, or one that does not
    open), as recomputed with the MO's key."""
    if ledger.secure:
        check.ran(
            "secure mode: updates stay masked, so none can be inspected (the threat "
            "model: secure aggregation does not resist poisoning)"
        )
        return
    for record in ledger.rounds.values():
        if record.finalised is None:
            continue
        number = record.number
        if not ledger.is_mo:
            excluded = members_of(int(record.finalised["excluded"]))
            if excluded:
                check.note(
                    f"round {number}: the MO excluded {', '.join(ledger.do(i) for i in excluded)}"
                )
            check.skip(
                f"round {number}: whether the excluded updates are outliers: needs the MO's key"
            )
            continue
        outcome = _outcome(ledger, record)
        if isinstance(outcome, str):
            check.undecided(f"round {number}: {outcome}")
            continue
        for index in outcome.excluded:
            position = record.submitters.index(index)
            why = (
                "does not open with the MO's key"
                if index in outcome.unreadable
                else f"is an outlier: its score {outcome.scores[position] / SCORE_SCALE:.4g} is "
                f"above {ledger.task.outlier_multiple / MULTIPLE_SCALE:g} x the median of the "
                "scores below it"
            )
            check.fail(
                ledger.against_do(
                    index,
                    f"round {number}: {ledger.do(index)}'s update {why}; excluded and unpaid",
                    number,
                )
            )
        check.ran(f"round {number}: the rule, re-run, excludes no update")
    ledger.none_finalised(check)


# 7. claims, cancellations and failed rounds ------------------------------------------------
def check_claims(ledger: TaskLedger, check: CheckBuilder) -> None:
    """Each claim, cancellation and failed round happened when the rules allow it."""
    task = ledger.task
    if ledger.cancelled is not None:
        joined = int(ledger.cancelled["joined"])
        if joined >= task.data_owners:
            check.fail(ledger.against_contract(f"cancelled with {joined} joined, though full"))
        else:
            check.ran(f"cancelled with {joined} of {task.data_owners} joined by the deadline")
    needed = task.threshold if ledger.secure else 1
    for record in ledger.rounds.values():
        if record.failed is None:
            continue
        remaining = int(record.failed["remaining"])
        phase = Phase(int(record.failed["phase"]))
        if remaining >= needed:
            check.fail(
                ledger.against_contract(
                    f"round {record.number} failed with {remaining} "
                    f"data owners left, {needed} needed",
                    record.number,
                )
            )
        else:
            check.ran(
                f"round {record.number} failed in its {phase.label} phase: {remaining} "
                f"data owner(s) left, fewer than {needed}"
            )
    if ledger.expired is not None:
        number = int(ledger.expired["round"])
        claimed = ledger.rounds.get(number)
        if claimed is None or Phase.AGGREGATE not in claimed.phases or claimed.finalised:
            check.fail(
                ledger.against_contract(
                    f"claimed in round {number}, which did not wait for the MO", number
                )
            )
        else:
            deadline = int(claimed.phases[Phase.AGGREGATE]["deadline"])
            check.fail(
                ledger.against_mo(
                    f"round {number}: the MO did not finalise before its deadline "
                    f"{format_time(deadline)}; {ledger.expired['caller']} claimed for the data "
                    "owners",
                    number,
                )
            )
    if not check.findings and not check.checked:
        if task.status.final:
            check.ran("no claim, cancellation or failed round")
        else:
            check.undecided(f"task {ledger.task_id} is {task.status.label}: {task.waiting}")
