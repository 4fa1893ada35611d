"""Audit checks of P2's data distribution: joins, replicas and who may open them.

Checks 1-4 and 8 of :mod:`mercato.audit.training`; each takes the training's
:class:`~mercato.audit.training_ledger.TrainingLedger` and records its parts on a
:class:`~mercato.audit.report.CheckBuilder`.
"""

from __future__ import annotations

from mercato.audit.report import CheckBuilder
from mercato.audit.training_ledger import TrainingLedger, same
from mercato.errors import InputError, IntegrityError
from mercato.protocols.training.compute import cross_check
from mercato.protocols.training.documents import (
    REASON_OUTVOTED,
    Evidence,
    hash_hex,
)
from mercato.storage.envelope import recipient_count

REPLICA_RECIPIENTS = 2
"""A replica envelope is sealed to its CO and the DO, nobody else."""


def check_co_holds_data(ledger: TrainingLedger, check: CheckBuilder) -> None:
    """1. Does each CO hold the data it claims?"""
    members = ledger.members
    unverified = [i for i in members if ledger.verified_ok(i) is not True]
    trained = {int(job["instance_id"]) for job in ledger.all_jobs}
    for instance_id in unverified:
        if instance_id in trained:
            check.fail(
                ledger.against_contract(
                    f"{ledger.describe(instance_id)} trained without a verified join"
                )
            )
        else:
            check.note(f"{ledger.describe(instance_id)} has no verified join yet")
    if not unverified:
        check.ran(f"the DO verified the join of each of the {len(members)} instances")

    for instance_id in ledger.instances:
        verdict, right = ledger.verified_ok(instance_id), ledger.join_right(instance_id)
        if verdict is None:
            continue
        if right is False:
            join = ledger.joins[instance_id]
            check.fail(
                ledger.against_co(
                    instance_id,
                    f"{ledger.describe(instance_id)} declared data hash "
                    f"{hash_hex(join['data_hash'])}, which is not keccak(subset || its nonce): "
                    f"it claimed data it was not given (the DO "
                    f"{'verified' if verdict else 'flagged'} it)",
                )
            )
        elif right is None and not verdict:
            check.undecided(
                f"the DO flagged {ledger.describe(instance_id)}; whether rightly needs the "
                "DO's key or that of a CO of the same subset"
            )
        elif right and not verdict:
            check.note(
                f"{ledger.describe(instance_id)} declared the right data; the DO flagged "
                "it wrongly (check 4)"
            )
    if ledger.subset_data:
        check.ran(
            f"with {ledger.whose_key} key, recomputed the joins of subset(s) "
            f"{sorted(ledger.subset_data)}"
        )

    why = ledger.can_review()
    if why:
        check.skip(f"replica consensus {why}")
        for report in ledger.reports:
            evidence = ledger.evidence(report)
            if isinstance(evidence, Evidence) and evidence.reason == REASON_OUTVOTED:
                check.undecided(
                    f"the MO reported {ledger.describe(int(report['instance_id']))} as "
                    f"outvoted in round {report['round']}; confirming it {why} (check 9)"
                )
        return
    rounds = 0
    for round_ in ledger.rounds:
        if not round_.jobs:
            continue
        review = ledger.review(round_.number)
        if isinstance(review, str):
            check.undecided(review)
            continue
        rounds += 1
        for evidence in review.frauds:
            if evidence.reason == REASON_OUTVOTED:
                check.fail(
                    ledger.against_co(
                        evidence.instance_id,
                        f"round {round_.number}: the model of "
                        f"{ledger.describe(evidence.instance_id)} differs from the one its "
                        f"replicas {list(evidence.majority)} agree on (outvoted)",
                        round_.number,
                    )
                )
        for subset in review.ties:
            check.note(
                f"round {round_.number}: the replicas of subset {subset} tied; nobody blamed"
            )
    check.ran(f"with the MO's key, replica consensus held in each of {rounds} round(s)")


def check_no_copied_data_hash(ledger: TrainingLedger, check: CheckBuilder) -> None:
    """2. Did two COs copy each other's data hash or nonce?"""
    joins = sorted(ledger.joins.values(), key=lambda e: (e.block_number, e.log_index))
    first_hash: dict[bytes, int] = {}
    first_nonce: dict[bytes, int] = {}
    for join in joins:
        instance_id = int(join["instance_id"])
        for value, first, what in (
            (bytes(join["data_hash"]), first_hash, "data hash"),
            (bytes(join["nonce"]), first_nonce, "nonce"),
        ):
            if value in first:
                check.fail(
                    ledger.against_co(
                        instance_id,
                        f"{ledger.describe(instance_id)} declared {what} {hash_hex(value)}, "
                        f"first declared by {ledger.describe(first[value])}",
                    )
                )
            else:
                first[value] = instance_id
    check.ran(
        f"the {len(joins)} joins of dataset {ledger.dataset.dataset_id} declare distinct data "
        "hashes and nonces"
    )


def check_do_gave_right_data(ledger: TrainingLedger, check: CheckBuilder) -> None:
    """3. Did the DO give each CO the right data?"""
    if isinstance(ledger.manifest, str):
        check.fail(ledger.against_do(ledger.manifest))
    for instance_id, created in ledger.instances.items():
        if not ledger.market.store.has(hash_hex(created["envelope_hash"])):
            check.fail(
                ledger.against_do(
                    f"the DO named blob {hash_hex(created['envelope_hash'])} as the sealed "
                    f"replica of {ledger.describe(instance_id)}; the store has no such blob",
                    instance_id,
                )
            )
    pending = [i for i in ledger.members if i not in ledger.joins]
    for instance_id in pending:
        check.note(f"{ledger.describe(instance_id)} has not acknowledged its replica yet")
    check.ran(
        f"each of the {len(ledger.instances)} instances has its sealed replica in the store"
        + ("" if pending else ", and every CO acknowledged its own by joining")
    )

    openable = [i for i in ledger.instances if ledger.can_open_replica(i)]
    if not openable:
        check.skip("opening the replica envelopes needs the DO's key or a CO's")
        return
    for instance_id in openable:
        opened = ledger.replica(instance_id)
        if opened.content is None:
            check.fail(
                ledger.against_do(
                    f"the replica of {ledger.describe(instance_id)}: {opened.problem}",
                    instance_id,
                )
            )
        elif ledger.replica_matches(instance_id) is False:
            check.fail(
                ledger.against_do(
                    f"the DO gave {ledger.describe(instance_id)} data that is not subset "
                    f"{ledger.subset_of(instance_id)} as the manifest commits to it",
                    instance_id,
                )
            )
    check.ran(
        f"with {ledger.whose_key} key, {len(openable)} replica envelope(s) open to the "
        "subset the manifest commits to"
    )
    if ledger.is_do:
        return
    compared = 0
    for instance_id in ledger.own:
        data = ledger.subset_data.get(ledger.subset_of(instance_id))
        if data is None or not ledger.replica_matches(instance_id):
            continue
        for other, matches in cross_check(ledger.market, instance_id, data).items():
            compared += 1
            if not matches and ledger.verified_ok(other):
                check.fail(
                    ledger.against_do(
                        f"the DO verified {ledger.describe(other)}, whose declared hash is "
                        f"not of the data it gave {ledger.describe(instance_id)}: it gave "
                        "them different data or verified a false join",
                        other,
                    )
                )
    check.ran(f"the paper's cross-check: the data matches {compared} other replica join(s)")


def check_do_verified_honestly(ledger: TrainingLedger, check: CheckBuilder) -> None:
    """4. Did the DO verify joins honestly?"""
    first_hash: dict[bytes, int] = {}
    for join in sorted(ledger.joins.values(), key=lambda e: (e.block_number, e.log_index)):
        instance_id, data_hash = int(join["instance_id"]), bytes(join["data_hash"])
        if data_hash in first_hash and ledger.verified_ok(instance_id):
            check.fail(
                ledger.against_do(
                    f"the DO verified {ledger.describe(instance_id)}, whose data hash repeats "
                    f"that of {ledger.describe(first_hash[data_hash])}: with a fresh nonce "
                    "keccak(subset || nonce) cannot repeat",
                    instance_id,
                )
            )
        first_hash.setdefault(data_hash, instance_id)
    for instance_id, verdict in ledger.verdicts.items():
        if not same(str(verdict["owner"]), ledger.dataset.owner):
            check.fail(
                ledger.against_contract(
                    f"{verdict['owner']} gave the verdict on instance {instance_id}"
                )
            )
    check.ran(
        f"the {len(ledger.verdicts)} verdicts are the dataset owner's and none verifies a "
        "repeated data hash"
    )

    judged = [i for i in ledger.verdicts if ledger.join_right(i) is not None]
    for instance_id in ledger.verdicts:
        ok, right = ledger.verified_ok(instance_id), ledger.join_right(instance_id)
        join = ledger.joins[instance_id]
        subset = ledger.subset_of(instance_id)
        if right is None:
            if not ok:
                check.undecided(
                    f"the DO flagged {ledger.describe(instance_id)}; recomputing "
                    f"keccak(subset || nonce) needs the DO's key or that of a CO of subset {subset}"
                )
        elif ok and not right:
            check.fail(
                ledger.against_do(
                    f"the DO verified {ledger.describe(instance_id)}, whose declared hash "
                    f"{hash_hex(join['data_hash'])} is not keccak(subset {subset} || its nonce)",
                    instance_id,
                )
            )
        elif right and not ok:
            check.fail(
                ledger.against_do(
                    f"the DO flagged {ledger.describe(instance_id)}, whose declared hash "
                    f"{hash_hex(join['data_hash'])} is keccak(subset {subset} || its nonce): "
                    "a good join",
                    instance_id,
                )
            )
    if judged:
        check.ran(
            f"with {ledger.whose_key} key, recomputed keccak(subset || nonce) for "
            f"{len(judged)} join(s): each verdict is right"
        )
    if len(judged) < len(ledger.verdicts):
        check.skip(
            "recomputing keccak(subset || nonce) for the other joins needs the DO's key or "
            "that of a CO of their subset"
        )


def check_mo_cannot_read(ledger: TrainingLedger, check: CheckBuilder) -> None:
    """8. Can the MO read the data?"""
    mo = ledger.training.mo
    if same(mo, ledger.dataset.owner):
        check.note("the MO owns the dataset: it holds the data by right")
    counted = 0
    for instance_id, created in ledger.instances.items():
        envelope, _ = ledger.blob(bytes(created["envelope_hash"]))
        if envelope is None:
            continue  # check 3 reports it
        counted += 1
        try:
            recipients = recipient_count(envelope)
        except (IntegrityError, InputError) as exc:
            check.fail(
                ledger.against_do(
                    f"the replica of {ledger.describe(instance_id)}: {exc}", instance_id
                )
            )
            continue
        if recipients != REPLICA_RECIPIENTS:
            check.fail(
                ledger.against_do(
                    f"the DO sealed the replica of {ledger.describe(instance_id)} to "
                    f"{recipients} recipients, not its CO and itself",
                    instance_id,
                )
            )
        if same(str(created["co"]), mo):
            check.note(f"the MO itself holds {ledger.describe(instance_id)} as a CO")
    check.ran(
        f"each of {counted} replica envelope(s) is sealed to exactly {REPLICA_RECIPIENTS} "
        "recipients"
    )
    if not ledger.is_mo:
        check.skip("trying the MO's key on the replica envelopes needs the MO's key")
        return
    if ledger.is_do:
        return
    for instance_id in ledger.instances:
        if same(ledger.co_of(instance_id), mo):
            continue
        if ledger.replica(instance_id).content is not None:
            check.fail(
                ledger.against_do(
                    f"the replica of {ledger.describe(instance_id)} opens with the MO's key",
                    instance_id,
                )
            )
    check.ran("none opens with the MO's key")
