"""Audit check of P5's money: every credit of an API replayed from its events (check 7 of
:mod:`mercato.audit.apimarket`).

:func:`replay` walks the API's events in chain order with the contract's pay rules
(:mod:`mercato.protocols.apimarket.rules`): stakes and deposits in; each batch debits its
consumers calls x price and, once finalized, pays each slot its steps x share and the
provider the rest; claims and refused challenges are paid from what is left of the
orchestrator's stake; disputes pay bonds and slashed stakes as their verdict says; base-mode
calls pay each step's share and the rest; the end returns the stakes left and the deposits.
Every amount an event logs and every ``Credited`` of its transaction must be the rules', to
the wei, and what the API still locks is what the replay leaves.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mercato.audit.apimarket_checks import dispute_rule
from mercato.audit.apimarket_ledger import ApiLedger
from mercato.audit.report import CheckBuilder
from mercato.chain.contract import Event
from mercato.protocols.apimarket import rules
from mercato.protocols.apimarket.views import ApiStatus, CallState, ClaimState, DisputeState
from mercato.timefmt import format_time
from mercato.units import format_ether


@dataclass
class Books:
    """What the rules say an API holds, after the events so far."""

    deposits: dict[str, int] = field(default_factory=dict)
    """Each consumer's deposit, in the order they first deposited."""
    locked: int = 0
    stake_left: int = 0
    out: int = 0
    claims: dict[int, Event] = field(default_factory=dict)
    challenges: dict[int, Event] = field(default_factory=dict)
    calls: dict[int, list[int | str]] = field(default_factory=dict)
    """Base-mode call id -> [consumer, what is left of its price]."""
    credits: dict[str, list[tuple[str, int]]] = field(default_factory=dict)
    """Transaction -> the credits the rules make in it, in the contract's order."""
    wrong: list[str] = field(default_factory=list)

    def credit(self, tx: str, who: str, amount: int) -> None:
        if amount:
            self.credits.setdefault(tx, []).append((who, amount))

    def expect(self, what: str, logged: int, rule: int) -> None:
        if logged != rule:
            self.wrong.append(
                f"{what}: {format_ether(logged)}; the rules give {format_ether(rule)}"
            )


def replay(ledger: ApiLedger) -> Books:
    """Run the pay rules over the API's events in chain order."""
    books = Books()
    for event in ledger.events:
        handler = _HANDLERS.get(event.name)
        if handler is not None:
            handler(ledger, books, event)
    return books


def _joined(ledger: ApiLedger, books: Books, e: Event) -> None:
    books.expect(f"slot {e['slot']}'s stake", int(e["stake"]), ledger.api.vendor_stake)
    books.locked += int(e["stake"])


def _accepted(ledger: ApiLedger, books: Books, e: Event) -> None:
    books.expect("the orchestrator's stake", int(e["stake"]), ledger.api.orchestrator_stake)
    books.stake_left = int(e["stake"])
    books.locked += int(e["stake"])


def _deposited(ledger: ApiLedger, books: Books, e: Event) -> None:
    consumer = str(e["consumer"])
    books.deposits[consumer] = books.deposits.get(consumer, 0) + int(e["amount"])
    books.expect(f"{consumer}'s deposit", int(e["deposit"]), books.deposits[consumer])
    books.locked += int(e["amount"])


def _withdrawn(ledger: ApiLedger, books: Books, e: Event) -> None:
    consumer = str(e["consumer"])
    held = books.deposits.get(consumer, 0)
    books.expect(f"{consumer}'s withdrawal", int(e["amount"]), held)
    books.deposits[consumer] = 0
    books.locked -= held
    books.credit(e.tx_hash, consumer, held)


def _committed(ledger: ApiLedger, books: Books, e: Event) -> None:
    price = ledger.api.price
    calls = [int(c) for c in e["calls"]]
    books.expect(f"epoch {e['epoch']}'s batch total", int(e["total"]), sum(calls) * price)
    for consumer, count in zip(e["consumers"], calls, strict=True):
        left = books.deposits.get(str(consumer), 0) - count * price
        if left < 0:
            books.wrong.append(
                f"epoch {e['epoch']}'s batch charged {consumer} "
                f"{count} call(s), more than its deposit"
            )
        books.deposits[str(consumer)] = left


def _finalized(ledger: ApiLedger, books: Books, e: Event) -> None:
    epoch = int(e["epoch"])
    committed = ledger.by_id("BatchCommitted", "epoch")[epoch]
    total = int(committed["total"])
    per_slot, provider = rules.batch_payments(
        [int(s) for s in committed["steps"]], ledger.slot_components, ledger.api.shares, total
    )
    books.expect(f"epoch {epoch}'s pay to the vendors", int(e["vendors_paid"]), sum(per_slot))
    books.expect(f"epoch {epoch}'s pay to the provider", int(e["provider_paid"]), provider)
    for slot, pay in enumerate(per_slot):
        books.credit(e.tx_hash, ledger.vendor(slot), pay)
    books.credit(e.tx_hash, ledger.provider, provider)
    books.locked -= total


def _from_stake(books: Books, amount: int) -> int:
    taken = rules.from_stake(amount, books.stake_left)
    books.stake_left -= taken
    books.locked -= taken
    return taken


def _claimed(ledger: ApiLedger, books: Books, e: Event) -> None:
    books.claims[int(e["claim_id"])] = e
    if ClaimState(int(e["state"])) is ClaimState.OPEN:
        return
    paid = _from_stake(books, ledger.api.shares[int(e["component"])])
    books.expect(f"claim {e['claim_id']}'s pay", int(e["paid"]), paid)
    books.credit(e.tx_hash, str(e["vendor"]), paid)


def _claim_settled(ledger: ApiLedger, books: Books, e: Event) -> None:
    claim = books.claims[int(e["claim_id"])]
    paid = _from_stake(books, ledger.api.shares[int(claim["component"])])
    books.expect(f"claim {e['claim_id']}'s pay", int(e["paid"]), paid)
    books.credit(e.tx_hash, str(claim["vendor"]), paid)


def _challenged(ledger: ApiLedger, books: Books, e: Event) -> None:
    books.challenges[int(e["challenge_id"])] = e
    books.expect(f"challenge {e['challenge_id']}'s bond", int(e["bond"]), ledger.api.challenge_bond)
    books.locked += int(e["bond"])


def _challenge_answered(ledger: ApiLedger, books: Books, e: Event) -> None:
    bond = int(books.challenges[int(e["challenge_id"])]["bond"])
    books.expect(
        f"challenge {e['challenge_id']}'s bond to the orchestrator", int(e["bond_paid"]), bond
    )
    books.locked -= bond
    books.credit(e.tx_hash, ledger.orchestrator, bond)


def _challenge_settled(ledger: ApiLedger, books: Books, e: Event) -> None:
    challenge = books.challenges[int(e["challenge_id"])]
    bond = int(challenge["bond"])
    refund = _from_stake(books, ledger.api.price) + bond
    books.locked -= bond
    books.expect(f"challenge {e['challenge_id']}'s refund", int(e["refund"]), refund)
    books.credit(e.tx_hash, str(challenge["consumer"]), refund)


def _disputed(ledger: ApiLedger, books: Books, e: Event) -> None:
    books.expect(f"dispute {e['dispute_id']}'s bond", int(e["bond"]), ledger.api.dispute_bond)
    books.locked += int(e["bond"])


def _resolved(ledger: ApiLedger, books: Books, e: Event) -> None:
    dispute_id = int(e["dispute_id"])
    disputed = ledger.by_id("Disputed", "dispute_id")[dispute_id]
    # the money follows the verdict the contract reached from what it was given (whether
    # that verdict was justified is check 5's question)
    wrong = DisputeState(int(e["state"])) is DisputeState.WRONG_COMPONENT
    rule = dispute_rule(ledger, disputed, e, wrong_component=wrong)
    assert not isinstance(rule, str)
    for what, logged, expected in (
        ("slashes", int(e["slashed"]), rule.slashed),
        ("majority", int(e["agreed"]), rule.agreed),
    ):
        if logged != expected:
            books.wrong.append(
                f"dispute {dispute_id}'s {what}: {logged:#b}; the rules give {expected:#b}"
            )
    books.expect(f"dispute {dispute_id} to the consumer", int(e["to_consumer"]), rule.to_consumer)
    books.expect(
        f"dispute {dispute_id} to each of the majority",
        int(e["to_each_in_majority"]),
        rule.to_each_in_majority,
    )
    books.expect(f"dispute {dispute_id} to the provider", int(e["to_provider"]), rule.to_provider)
    for slot in range(rule.agreed.bit_length()):
        if rule.agreed >> slot & 1:
            books.credit(e.tx_hash, ledger.vendor(slot), rule.to_each_in_majority)
    books.credit(e.tx_hash, str(disputed["consumer"]), rule.to_consumer)
    books.credit(e.tx_hash, ledger.provider, rule.to_provider)
    books.locked -= int(disputed["bond"]) + rule.slashed.bit_count() * ledger.api.vendor_stake
    books.out |= rule.slashed


def _call_opened(ledger: ApiLedger, books: Books, e: Event) -> None:
    consumer = str(e["consumer"])
    books.expect(f"call {e['call_id']}'s price", int(e["price"]), ledger.api.price)
    books.deposits[consumer] = books.deposits.get(consumer, 0) - ledger.api.price
    books.calls[int(e["call_id"])] = [consumer, ledger.api.price]


def _step_recorded(ledger: ApiLedger, books: Books, e: Event) -> None:
    share = ledger.api.shares[int(e["component"])]
    call = books.calls[int(e["call_id"])]
    books.expect(f"call {e['call_id']}'s step {e['component']}", int(e["paid"]), share)
    call[1] = int(call[1]) - share
    books.locked -= share
    books.credit(e.tx_hash, str(e["vendor"]), share)


def _call_closed(ledger: ApiLedger, books: Books, e: Event) -> None:
    consumer, held = books.calls[int(e["call_id"])]
    refunded = CallState(int(e["state"])) is CallState.CANCELLED
    to_consumer, to_provider = (int(held), 0) if refunded else (0, int(held))
    books.expect(f"call {e['call_id']} to the consumer", int(e["to_consumer"]), to_consumer)
    books.expect(f"call {e['call_id']} to the provider", int(e["to_provider"]), to_provider)
    books.credit(e.tx_hash, ledger.provider, to_provider)
    books.credit(e.tx_hash, str(consumer), to_consumer)
    books.locked -= int(held)


def _ended(ledger: ApiLedger, books: Books, e: Event) -> None:
    stake = ledger.api.vendor_stake
    joined = {int(j["slot"]) for j in ledger.named("Joined")}
    stakes = 0
    for slot in sorted(joined):
        if not books.out >> slot & 1:
            books.credit(e.tx_hash, ledger.vendor(slot), stake)
            stakes += stake
    books.credit(e.tx_hash, ledger.orchestrator, books.stake_left)
    stakes += books.stake_left
    deposits = 0
    for consumer, amount in books.deposits.items():
        books.credit(e.tx_hash, consumer, amount)
        deposits += amount
    books.expect("the stakes returned at the end", int(e["stakes"]), stakes)
    books.expect("the deposits returned at the end", int(e["deposits"]), deposits)
    books.locked -= stakes + deposits
    books.stake_left = 0
    books.deposits = dict.fromkeys(books.deposits, 0)


_HANDLERS = {
    "Joined": _joined,
    "Accepted": _accepted,
    "Deposited": _deposited,
    "DepositWithdrawn": _withdrawn,
    "BatchCommitted": _committed,
    "BatchFinalized": _finalized,
    "Claimed": _claimed,
    "ClaimSettled": _claim_settled,
    "Challenged": _challenged,
    "ChallengeAnswered": _challenge_answered,
    "ChallengeSettled": _challenge_settled,
    "Disputed": _disputed,
    "DisputeResolved": _resolved,
    "CallOpened": _call_opened,
    "StepRecorded": _step_recorded,
    "CallClosed": _call_closed,
    "ApiEnded": _ended,
}


def check_paid_by_the_rules(ledger: ApiLedger, check: CheckBuilder) -> None:
    """7. Was everyone paid by the rules, to the wei?"""
    books = replay(ledger)
    for text in books.wrong:
        check.fail(ledger.against_contract(text))
    for tx in sorted({*books.credits, *ledger.credits}):
        rule = [(who.lower(), amount) for who, amount in books.credits.get(tx, [])]
        logged = [(who.lower(), amount) for who, amount in ledger.credits.get(tx, [])]
        if rule != logged:
            check.fail(
                ledger.against_contract(
                    f"transaction {tx} credited {_text(logged)}; the rules give {_text(rule)}"
                )
            )
    api = ledger.api
    if api.locked != books.locked or api.stake_left != books.stake_left:
        check.fail(
            ledger.against_contract(
                f"the API locks {format_ether(api.locked)} (orchestrator's stake left "
                f"{format_ether(api.stake_left)}); the rules leave {format_ether(books.locked)} "
                f"({format_ether(books.stake_left)})"
            )
        )
    paid = sum(amount for credits in books.credits.values() for _, amount in credits)
    check.ran(
        f"{sum(map(len, books.credits.values()))} credit(s) ({format_ether(paid)}) in "
        f"{len(books.credits)} transaction(s) recomputed from the rules: batches per step and "
        "share, claims and refunds from the orchestrator's stake, bonds and slashed stakes by "
        f"each verdict, stakes and deposits back; the API locks {format_ether(books.locked)}"
    )
    if not api.status.final:
        check.undecided(f"not ended yet: {who_moves_on(ledger)}")


def _text(credits: list[tuple[str, int]]) -> str:
    return "[" + ", ".join(f"{who} {format_ether(amount)}" for who, amount in credits) + "]"


def who_moves_on(ledger: ApiLedger) -> str:
    """Which deadline lets whom move an API that has not ended on."""
    api, now = ledger.api, ledger.now
    if api.status is ApiStatus.JOINING:
        return (
            f"joining until {format_time(api.join_deadline)}: the vendors join and the "
            "orchestrator accepts; after it, anyone cancels the API (advance) and the stakes "
            "and deposits go back"
        )
    parts = []
    finalized = {int(e["epoch"]) for e in ledger.named("BatchFinalized")}
    for epoch in sorted(ledger.by_id("BatchCommitted", "epoch")):
        if epoch not in finalized:
            parts.append(
                f"anyone finalizes epoch {epoch}'s batch from {format_time(api.close(epoch))}"
            )
    for name, done, verb in (
        ("Claimed", ("ClaimAnswered", "ClaimSettled"), "claim"),
        ("Challenged", ("ChallengeAnswered", "ChallengeSettled"), "challenge"),
    ):
        key = f"{verb}_id"
        closed = {int(e[key]) for other in done for e in ledger.named(other)}
        for e in ledger.named(name):
            if int(e[key]) in closed or (name == "Claimed" and int(e["state"]) != 1):
                continue
            parts.append(
                f"the orchestrator answers {verb} {e[key]} until "
                f"{format_time(int(e['deadline']))}, then anyone settles it"
            )
    resolved = {int(e["dispute_id"]) for e in ledger.named("DisputeResolved")}
    for e in ledger.named("Disputed"):
        if int(e["dispute_id"]) not in resolved:
            parts.append(
                f"dispute {e['dispute_id']}'s committee commits until "
                f"{format_time(int(e['commit_deadline']))} and reveals; then anyone "
                "resolves it"
            )
    last = api.close(api.last_epoch)
    state = "" if now < api.ends else "calls are over; "
    parts.append(f"{state}anyone releases the API from {format_time(last)} once nothing is open")
    return "; ".join(parts)
