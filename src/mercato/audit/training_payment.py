"""Audit check of P2's payments: the payout recomputed from the jobs and fraud reports.

Check 10 of :mod:`mercato.audit.training`. :func:`replay` runs the contract's pay rules over
the training's events: each accepted job earns the job price; a reported instance forfeits
all it holds (and its CO up to FRAUD_STAKE of stake) to the replicas of its subset that
submitted in that round and are not reported, split evenly with the remainder to the first,
or to the DO if there are none. Completion must then credit exactly that.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from mercato.audit.report import CheckBuilder, Finding
from mercato.audit.training_ledger import TrainingLedger
from mercato.protocols.training.market import TrainingStatus
from mercato.units import format_ether


@dataclass
class Payout:
    """What the pay rules give, from the events so far."""

    pending: dict[int, int] = field(default_factory=dict)
    """Wei each instance holds."""
    reported: set[int] = field(default_factory=set)
    to_owner: int = 0
    """Pay and stake forfeited with no honest replica: the DO's at completion."""
    slashed: int = 0
    """Stake slashed by the reports, paid out on top of the escrow."""

    def credit(self, instance_id: int, amount: int) -> None:
        self.pending[instance_id] = self.pending.get(instance_id, 0) + amount


def replay(ledger: TrainingLedger) -> tuple[Payout, list[Finding]]:
    """Run the pay rules over the training's jobs and reports, in chain order; with them,
    every report whose amounts or beneficiaries the contract got wrong."""
    payout, wrong = Payout(), []
    submitted: set[tuple[int, int]] = set()
    for event in ledger.events:
        if event.get("training_id") != ledger.training_id:
            continue
        if event.name == "JobSubmitted":
            payout.credit(int(event["instance_id"]), ledger.dataset.job_price)
            submitted.add((int(event["instance_id"]), int(event["round"])))
        if event.name != "FraudReported":
            continue
        instance_id, round_number = int(event["instance_id"]), int(event["round"])
        forfeited, slashed = int(event["forfeited"]), int(event.get("slashed", 0))
        held = payout.pending.get(instance_id, 0)
        if forfeited != held:
            wrong.append(
                ledger.against_contract(
                    f"round {round_number}: instance {instance_id} forfeited "
                    f"{format_ether(forfeited)}; it held {format_ether(held)}",
                    round_number,
                )
            )
        payout.pending[instance_id] = 0
        payout.reported.add(instance_id)
        subset = ledger.subset_of(instance_id)
        honest = [
            other
            for (s, _), other in ledger.slots.items()
            if s == subset and other not in payout.reported and (other, round_number) in submitted
        ]
        if [int(h) for h in event["honest"]] != honest:
            wrong.append(
                ledger.against_contract(
                    f"round {round_number}: instance {instance_id}'s pay went to "
                    f"{list(event['honest'])}, not to its honest replicas {honest}",
                    round_number,
                )
            )
        lost = forfeited + slashed
        payout.slashed += slashed
        if not honest:
            payout.to_owner += lost
            continue
        share = lost // len(honest)
        payout.credit(honest[0], lost - share * (len(honest) - 1))
        for other in honest[1:]:
            payout.credit(other, share)
    return payout, wrong


def check_paid_by_the_rules(ledger: TrainingLedger, check: CheckBuilder) -> None:
    """10. Was everyone paid by the rules?"""
    dataset, training = ledger.dataset, ledger.training
    escrowed = dataset.escrow_for(training.subsets_per_round, training.max_rounds)
    if int(ledger.request["escrowed"]) != escrowed:
        check.fail(
            ledger.against_contract(
                f"the MO locked {format_ether(int(ledger.request['escrowed']))}; the training "
                f"can cost {format_ether(escrowed)}"
            )
        )
    payout, wrong = replay(ledger)
    for finding in wrong:
        check.fail(finding)
    tm = ledger.market.training_market
    for instance_id in ledger.members:
        job = tm.job(ledger.training_id, instance_id)
        rules = (payout.pending.get(instance_id, 0), instance_id in payout.reported)
        if (job.pending, job.fraudulent) != rules:
            check.fail(
                ledger.against_contract(
                    f"instance {instance_id} holds {format_ether(job.pending)} (reported: "
                    f"{job.fraudulent}); the rules give {format_ether(rules[0])} "
                    f"(reported: {rules[1]})"
                )
            )

    if ledger.cancelled is not None:
        if int(ledger.cancelled["refund"]) != training.escrowed:
            check.fail(
                ledger.against_contract(
                    f"the cancelled training refunded "
                    f"{format_ether(int(ledger.cancelled['refund']))} of "
                    f"{format_ether(training.escrowed)}"
                )
            )
        check.ran("cancelled before approval: the MO was refunded all it locked")
    elif ledger.completed is None:
        check.undecided(f"not completed yet: {_who_moves_on(ledger)}")
    else:
        _check_completion(ledger, check, payout)


def _check_completion(ledger: TrainingLedger, check: CheckBuilder, payout: Payout) -> None:
    completed = ledger.completed
    assert completed is not None
    paid_owner = ledger.dataset.data_price + payout.to_owner
    paid_compute = sum(payout.pending.values())
    refund = ledger.training.escrowed + payout.slashed - paid_owner - paid_compute
    for what, logged, rule in (
        ("the DO", int(completed["paid_owner"]), paid_owner),
        ("the COs", int(completed["paid_compute"]), paid_compute),
        ("the MO's refund", int(completed["refund"]), refund),
    ):
        if logged != rule:
            check.fail(
                ledger.against_contract(
                    f"{what}: {format_ether(logged)}; the rules give {format_ether(rule)}"
                )
            )
    paid = [i for i in ledger.members if payout.pending.get(i, 0)]
    rules = [
        (ledger.dataset.owner, paid_owner),
        *((ledger.co_of(i), payout.pending[i]) for i in paid),
        (ledger.training.mo, refund),
    ]
    credits = [
        (str(e["account"]).lower(), int(e["amount"]))
        for e in ledger.events
        if e.name == "Credited" and e.tx_hash == completed.tx_hash
    ]
    if credits != [(who.lower(), amount) for who, amount in rules if amount]:
        check.fail(
            ledger.against_contract(
                f"completion credited {_credits_text(credits)}; the rules give "
                f"{_credits_text(rules)}"
            )
        )
    check.ran(
        f"the DO got the data price + {format_ether(payout.to_owner)} forfeited with no honest "
        f"replica; {len(paid)} instance(s) their accepted jobs plus their shares of forfeits; "
        f"the {len(payout.reported)} reported nothing; the MO the rest of its escrow "
        f"({format_ether(refund)})"
    )


def _credits_text(credits: list[tuple[str, int]]) -> str:
    return "[" + ", ".join(f"{who} {format_ether(amount)}" for who, amount in credits) + "]"


def _time(timestamp: int) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _who_moves_on(ledger: TrainingLedger) -> str:
    """Which deadline lets whom move an unfinished training on."""
    t = ledger.training
    if t.status is TrainingStatus.REQUESTED:
        return (
            f"waiting for the DO's approval until {_time(t.deadline)}; the MO may cancel it "
            "at any time to get its escrow back"
        )
    if t.status is TrainingStatus.APPROVED:
        return (
            "approved: the MO may start the first round or complete; anyone may complete "
            f"from {_time(t.deadline)}"
        )
    if t.status is TrainingStatus.DRAWING:
        return (
            f"round {t.round} asked for: anyone may draw it after block {t.target_block}; the "
            f"MO may complete, anyone from {_time(t.deadline)}"
        )
    if t.status is TrainingStatus.TRAINING:
        return (
            f"round {t.round} running: the drawn COs submit until {_time(t.deadline)}, then "
            "anyone may close the round"
        )
    idle = ledger.market.training_market.period("idle")
    return (
        f"round {t.round} under review until {_time(t.deadline)}: the MO may start the next "
        f"round or complete; anyone may complete from {_time(t.idle_deadline(idle))}"
    )
