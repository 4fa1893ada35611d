"""Audit checks of P1's money: the slashes and every payment and refund, to the wei.

Checks 6 and 7 of :mod:`mercato.audit.auction`. P1 has no slashing rule, so a slash of an
auction's party while it ran is justified only by another Mercato market's rules (whose own
audit judges it). The payments are recomputed from the SLA the rule gives
(:func:`~mercato.protocols.auction.rules.lowest_bid` per category) and the way the auction
ended, and compared with every ``Credited`` and ``Settled`` event.
"""

from __future__ import annotations

from mercato.audit.auction_ledger import PROVIDER_ROLES, SLASHER, AuctionLedger
from mercato.audit.report import CheckBuilder, Finding
from mercato.chain.contract import Event
from mercato.ontology.category import Category
from mercato.protocols.auction.rules import adjudicate_problem, claim_problem
from mercato.protocols.auction.views import Status
from mercato.timefmt import format_time, same_address
from mercato.units import format_ether


def _role_of(ledger: AuctionLedger, address: str) -> str:
    if same_address(address, ledger.auction.client):
        return "client"
    if same_address(address, ledger.auction.arbiter):
        return "arbiter"
    for bid in ledger.bids:
        if same_address(address, str(bid["bidder"])):
            return PROVIDER_ROLES[Category(int(bid["category"]))]
    return "party"


def check_slashes(ledger: AuctionLedger, check: CheckBuilder) -> None:
    """6. Was each slash justified?"""
    start = ledger.created.block_number
    end = ledger.settled[-1].block_number if ledger.auction.status.final else None
    parties = {p.lower() for p in ledger.parties}
    markets = {a.lower(): name for name, a in ledger.market.deployment.markets.items()}
    house = ledger.market.auction_house.address
    slashes = [
        e
        for e in ledger.registry_events
        if e.name == "Slashed"
        and str(e["account"]).lower() in parties
        and e.block_number >= start
        and (end is None or e.block_number <= end)
    ]
    for slash in slashes:
        slasher, account = str(slash["slasher"]), str(slash["account"])
        taken = f"{format_ether(int(slash['amount']))} of {_role_of(ledger, account)} {account}"
        if same_address(slasher, house):
            check.fail(
                ledger.against_contract(
                    f"the auction house took {taken}'s stake: P1 has no slashing rule"
                )
            )
        elif slasher.lower() in markets:
            check.note(
                f"{markets[slasher.lower()]} took {taken}'s stake by its own rules: its audit "
                "judges that slash"
            )
        else:
            check.fail(
                Finding(
                    f"it took {taken}'s stake while the auction ran; it is no market of this "
                    "deployment, and no rule of the auction allows it",
                    slasher,
                    SLASHER,
                )
            )
    check.ran(
        f"{len(slashes)} slash(es) of the auction's {len(parties)} parties while it ran; P1 "
        "has no slashing rule and takes no stake"
    )


def _text(credits: list[tuple[str, int]]) -> str:
    return "[" + ", ".join(f"{who} {format_ether(amount)}" for who, amount in credits) + "]"


def _same_credits(a: list[tuple[str, int]], b: list[tuple[str, int]]) -> bool:
    return [(w.lower(), x) for w, x in a] == [(w.lower(), x) for w, x in b if x]


def _expect(
    ledger: AuctionLedger,
    check: CheckBuilder,
    event: Event,
    what: str,
    rule: list[tuple[str, int]],
) -> None:
    """The Credited events of ``event``'s transaction are ``rule`` (zero amounts aside)."""
    logged = ledger.credits(event)
    if not _same_credits(logged, rule):
        check.fail(
            ledger.against_contract(
                f"{what} credited {_text(logged)}; the rules give "
                f"{_text([r for r in rule if r[1]])}"
            )
        )


def _settlement(
    ledger: AuctionLedger, status: Status, reserve: int
) -> tuple[list[tuple[str, int]], int, int]:
    """(credits, paid, refunded) the rules give for a settlement as ``status``."""
    client = ledger.auction.client
    winners = [(w, p) for w, p in ledger.rule_bids.values() if w is not None]
    spent = sum(p for _, p in winners)
    if ledger.adjudicated is None:  # bidding closed without an SLA
        return [(client, reserve)], 0, reserve
    if status in (Status.CONFIRMED, Status.CLAIMED):
        return list(winners), spent, 0
    if status is Status.ARBITRATED:
        mask = int(ledger.arbitrated["paid_mask"]) if ledger.arbitrated else 0
        paid = [(w, p) for c, (w, p) in ledger.rule_bids.items() if w and mask & (1 << c)]
        refund = spent - sum(p for _, p in paid)
        return [*paid, (client, refund)], spent - refund, refund
    return [(client, spent)], 0, spent


def check_paid_by_the_rules(ledger: AuctionLedger, check: CheckBuilder) -> None:
    """7. Was everyone paid by the rules?"""
    reserve = sum(int(p) for p in ledger.created["max_prices"])
    credited = 0
    adjudicated = ledger.adjudicated
    if adjudicated is not None:
        spent = sum(p for _, p in ledger.rule_bids.values())
        refund = reserve - spent
        if int(adjudicated["refund"]) != refund:
            check.fail(
                ledger.against_contract(
                    f"the SLA refunds {format_ether(int(adjudicated['refund']))}"
                    f" of the reserve; the rules give {format_ether(refund)}"
                )
            )
        _expect(ledger, check, adjudicated, "the adjudication", [(ledger.auction.client, refund)])
        credited += sum(x for _, x in ledger.credits(adjudicated))
    for settled in ledger.settled:
        status = Status(int(settled["status"]))
        rule, paid, refunded = _settlement(ledger, status, reserve)
        _expect(ledger, check, settled, f"the settlement ({status.label})", rule)
        logged = (int(settled["paid"]), int(settled["refunded"]))
        if logged != (paid, refunded):
            check.fail(
                ledger.against_contract(
                    f"the settlement ({status.label}) says paid {format_ether(logged[0])}, "
                    f"refunded {format_ether(logged[1])}; the rules give {format_ether(paid)} and "
                    f"{format_ether(refunded)}"
                )
            )
        credited += sum(x for _, x in ledger.credits(settled))
    auction = ledger.auction
    if not auction.status.final:
        check.undecided(f"not settled yet: {who_moves_on(ledger)}")
        return
    if credited != reserve:
        check.fail(
            ledger.against_contract(
                f"the auction credited {format_ether(credited)} in "
                f"all; it locked {format_ether(reserve)}"
            )
        )
    check.ran(
        f"the reserve of {format_ether(reserve)} went, to the wei, where the rules send it "
        f"({auction.status.label}): {_text(_all_credits(ledger))}"
    )


def _all_credits(ledger: AuctionLedger) -> list[tuple[str, int]]:
    events = [ledger.adjudicated] if ledger.adjudicated else []
    return [c for e in [*events, *ledger.settled] for c in ledger.credits(e)]


def who_moves_on(ledger: AuctionLedger) -> str:
    """Which deadline lets whom move an unsettled auction on."""
    auction, now = ledger.auction, ledger.now
    at = format_time(auction.deadline)
    if auction.status is Status.OPEN:
        if adjudicate_problem(auction, "0x" + "00" * 20, now) is None:
            return f"bidding closed at {at}: anyone may adjudicate now"
        return (
            f"bidding is open until {at}: the client may adjudicate once every category has "
            "a bid, anyone from then"
        )
    anyone = (
        "anyone may claim now"
        if claim_problem(auction, now) is None
        else "from then anyone may claim"
    )
    if auction.status is Status.ADJUDICATED:
        executor = auction.bidders[Category.INFRASTRUCTURE]
        return (
            f"the infrastructure winner {executor} delivers until {at}; {anyone} the client's "
            "refund"
        )
    if auction.status is Status.DELIVERED:
        return f"the client confirms or rejects until {at}; {anyone} the winners' pay"
    return f"the arbiter {auction.arbiter} decides until {at}; {anyone} the client's refund"
