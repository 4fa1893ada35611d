"""Was everyone paid by the rules? Every credit and refund of a P3 task, replayed to the wei.

Each finalised round credits its kept data owners :func:`~mercato.protocols.datamarket.
rules.round_pay` each; a claim credits every submitter of the unfinalised round one share;
the end refunds the model owner what was not paid (a cancelled task: the whole reward).
What the contract still locks must be the reward less all of it. Before the end, the check
says who may move the task on and when.
"""

from __future__ import annotations

from mercato.audit.datamarket_ledger import TaskLedger
from mercato.audit.report import CheckBuilder
from mercato.protocols.datamarket.rules import round_pay
from mercato.protocols.datamarket.views import Phase, TaskStatus, members_of
from mercato.timefmt import format_time
from mercato.units import format_ether


def check_paid_by_the_rules(ledger: TaskLedger, check: CheckBuilder) -> None:
    """Replay every credit and refund of the task and compare them with its events."""
    reward, per_update = int(ledger.posted["reward"]), ledger.per_update
    paid = 0
    for record in ledger.rounds.values():
        event = record.finalised
        if event is None:
            continue
        number = record.number
        excluded = members_of(int(event["excluded"]))
        used = tuple(i for i in record.submitters if i not in excluded)
        recorded = members_of(int(event["used"]))
        if recorded != used:
            check.fail(
                ledger.against_contract(
                    f"round {number}: paid {list(recorded)}; the "
                    f"submitters less the excluded are {list(used)}",
                    number,
                )
            )
        each = round_pay(per_update, len(excluded), len(used)) if used else 0
        if int(event["paid_each"]) != each:
            check.fail(
                ledger.against_contract(
                    f"round {number}: paid {event['paid_each']} wei each, the rule gives {each}",
                    number,
                )
            )
        paid += int(event["paid_each"]) * len(recorded)
        check.ran(
            f"round {number}: {len(used)} data owner(s) credited {each} wei each "
            f"({len(excluded)} excluded share(s) shared among them)"
        )
    if ledger.expired is not None:
        paid += _check_claim(ledger, check, reward, paid)
    elif ledger.finished is not None:
        _check_refund(ledger, check, int(ledger.finished["refund"]), reward - paid, "finished")
    elif ledger.cancelled is not None:
        _check_refund(ledger, check, int(ledger.cancelled["refund"]), reward, "cancelled")
    else:
        locked = ledger.task.locked
        if locked != reward - paid:
            check.fail(
                ledger.against_contract(
                    f"locks {locked} wei; the reward less what was paid is {reward - paid}"
                )
            )
        else:
            check.ran(f"still locks {format_ether(locked)}: the reward less what was paid")
        check.undecided(who_moves_on(ledger))


def _check_claim(ledger: TaskLedger, check: CheckBuilder, reward: int, paid: int) -> int:
    """The claim credited every submitter of the unfinalised round one share, and refunded
    the rest; what it credited the data owners."""
    expired = ledger.expired
    assert expired is not None
    record = ledger.rounds.get(int(expired["round"]))
    submitters = () if record is None else record.submitters
    credited = int(expired["paid"]) * int(expired["paid_each"])
    if int(expired["paid"]) != len(submitters) or int(expired["paid_each"]) != ledger.per_update:
        check.fail(
            ledger.against_contract(
                f"the claim paid {expired['paid']} data owner(s) "
                f"{expired['paid_each']} wei each; the round's "
                f"{len(submitters)} submitter(s) are owed "
                f"{ledger.per_update} each"
            )
        )
    else:
        check.ran(
            f"the claim credited each of the round's {len(submitters)} submitter(s) one "
            f"share ({ledger.per_update} wei)"
        )
    _check_refund(ledger, check, int(expired["refund"]), reward - paid - credited, "expired")
    return credited


def _check_refund(
    ledger: TaskLedger, check: CheckBuilder, refund: int, owed: int, how: str
) -> None:
    if refund != owed:
        check.fail(
            ledger.against_contract(
                f"{how}: refunded the MO {refund} wei; the reward less what was paid is {owed}"
            )
        )
    else:
        check.ran(f"{how}: the MO was refunded {refund} wei, the reward less what was paid")
    if ledger.task.locked != 0:
        check.fail(ledger.against_contract(f"{how}, yet still locks {ledger.task.locked} wei"))


def who_moves_on(ledger: TaskLedger) -> str:
    """Which deadline lets whom move an open task on."""
    task = ledger.task
    deadline = format_time(task.deadline)
    if task.status is TaskStatus.JOINING:
        return (
            f"joining: {task.data_owners - task.joined} more data owner(s) may join until "
            f"{deadline}; then anyone may cancel it (advance) and the MO is refunded"
        )
    if task.phase is Phase.AGGREGATE:
        return (
            f"round {task.round} waits for the MO's aggregate until {deadline}; then anyone "
            "may claim, crediting each submitter one share"
        )
    waiting = ", ".join(ledger.do(i) for i in task.waiting_for) or "nobody"
    return (
        f"round {task.round}'s {task.phase.label} phase waits for {waiting} until {deadline}; "
        "then anyone may advance without them"
    )
