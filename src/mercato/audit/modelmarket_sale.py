"""Audit checks of a P4 request's sale: the winners and prices, the fair swap, the payments.

Checks 6-8 of :mod:`mercato.audit.modelmarket`. The rules are the protocol's own: the
schedule and winners of :func:`~mercato.protocols.modelmarket.rules.winners_of`, each
step's credits (``*_credits`` of :mod:`mercato.protocols.modelmarket.rules`), the buyer's
delivery check (:func:`mercato.protocols.modelmarket.buyer.delivery_check`) and FairSwap's
:func:`~mercato.crypto.fairswap.open_delivery`; for an open request, who may move it on
is what :func:`~mercato.protocols.modelmarket.rules.advance_problem`,
:func:`~mercato.protocols.modelmarket.rules.tally_problem` and
:func:`~mercato.protocols.modelmarket.rules.finish_problem` allow.
"""

from __future__ import annotations

from eth_utils.crypto import keccak

from mercato.audit.modelmarket_ledger import RequestLedger
from mercato.audit.report import CheckBuilder
from mercato.chain.contract import Event
from mercato.errors import InputError
from mercato.protocols.modelmarket import buyer, rules
from mercato.protocols.modelmarket.documents import read_delivery
from mercato.protocols.modelmarket.views import (
    TEST_FLAG,
    RequestStatus,
    SubmissionState,
    indices_of,
)
from mercato.timefmt import format_deadline
from mercato.units import format_ether


def check_winners(ledger: RequestLedger, check: CheckBuilder) -> None:
    """The winners are the best k the schedule prices, each at its score's price."""
    tallied = ledger.tallied
    if tallied is None:
        if ledger.request.status.final:
            check.ran(f"nothing was sold: the request ended {ledger.request.status.label}")
        else:
            check.undecided(f"no tally yet ({ledger.request.status.label})")
        return
    scores = [int(s) for s in tallied["scores"]]
    flags, winners = int(tallied["flags"]), int(tallied["winners"])
    prices = tuple(int(p) for p in tallied["prices"])
    if flags & TEST_FLAG:
        if winners:
            check.fail(ledger.against_contract("named winners though the test set was flagged"))
        check.ran("the test set was flagged: nothing is sold, the sellers share the bond")
        return
    live = ledger.live(tallied)
    expected, expected_prices = rules.winners_of(
        scores, flags, live, ledger.schedule, ledger.request.k
    )
    if winners != expected or prices != expected_prices:
        check.fail(
            ledger.against_contract(
                f"tallied winners {list(indices_of(winners))} at {list(prices)}; the schedule "
                f"gives {list(indices_of(expected))} at {list(expected_prices)}"
            )
        )
    for submission, score, price in zip(ledger.submissions, scores, expected_prices, strict=True):
        if live[submission.index] and (submission.score, submission.price) != (score, price):
            check.fail(
                ledger.against_contract(
                    f"records submission {submission.index} at score {submission.score} and "
                    f"price {submission.price}, not {score} and {price}"
                )
            )
    sold = ", ".join(
        f"{i} (score {scores[i]}) at {format_ether(expected_prices[i])}"
        for i in indices_of(expected)
    )
    check.ran(
        f"of {sum(live)} submission(s) in, the best {ledger.request.k} priced: {sold or 'none'}"
    )


def _check_rejections(ledger: RequestLedger, check: CheckBuilder) -> None:
    """Each rejected delivery: with the buyer's key, re-run the buyer's check of it."""
    for event in ledger.named("DeliveryRejected"):
        index = int(event["index"])
        submitted = ledger.named("Submitted", index=index)
        delivery = ledger.blob(bytes(submitted[0]["delivery_hash"])) if submitted else None
        if delivery is not None and delivery.content is None:
            check.fail(ledger.against_seller(index, f"its delivery is missing: {delivery.problem}"))
            continue
        if not ledger.is_buyer:
            check.undecided(
                f"the buyer rejected {ledger.seller_name(index)}'s delivery; only the buyer's "
                "key opens it to show whether rightly"
            )
            continue
        assert ledger.viewer is not None
        problem = buyer.delivery_check(ledger.market, ledger.viewer, ledger.request_id, index)
        if problem is None:
            check.fail(
                ledger.against_buyer(
                    f"rejected {ledger.seller_name(index)}'s delivery, which opens and matches "
                    "its commitments"
                )
            )
        else:
            check.fail(
                ledger.against_seller(index, f"its delivery was rightly rejected: {problem}")
            )


def _check_sale(ledger: RequestLedger, check: CheckBuilder, index: int) -> None:
    """Winner ``index``'s swap: its key, a complaint, a default; with the buyer's key, every
    chunk of the delivery decrypted with the revealed key."""
    submission, request = ledger.submissions[index], ledger.request
    keys = ledger.named("KeyRevealed", index=index)
    complaints = ledger.named("Complained", index=index)
    state = submission.state
    if state is SubmissionState.DEFAULTED:
        check.fail(ledger.against_seller(index, "won and never revealed its key by the deadline"))
        return
    if not keys:
        if state is SubmissionState.WON:
            check.undecided(
                f"{ledger.seller_name(index)} may reveal its key until "
                f"{format_deadline(request.deadline, ledger.now)}"
            )
        return
    key = bytes(keys[0]["key"])
    if keccak(key) != submission.key_hash:
        check.fail(ledger.against_contract(f"took a key of submission {index} not its key hash"))
    for complaint in complaints:
        check.fail(
            ledger.against_seller(
                index,
                f"chunk {complaint['chunk']} of its delivery does not decrypt to its committed "
                f"hash: the contract checked the buyer's proof (tx {complaint.tx_hash})",
            )
        )
    if not ledger.is_buyer:
        check.skip(f"decrypting {ledger.seller_name(index)}'s delivery: needs the buyer's key")
        return
    assert ledger.viewer is not None
    try:
        commitments, opened = buyer.delivery_of(
            ledger.market, ledger.viewer, ledger.request_id, index
        )
        from mercato.crypto.fairswap import open_delivery

        _, bad = open_delivery(commitments, read_delivery(opened), key)
    except (InputError, Exception) as exc:  # the envelope's own errors: the seller's delivery
        check.fail(ledger.against_seller(index, f"its delivery does not open: {exc}"))
        return
    if bad is not None and not complaints:
        check.fail(
            ledger.against_seller(
                index,
                f"chunk {bad.index} of its delivery does not decrypt to its committed hash "
                f"(the buyer did not complain; the submission is {state.label})",
            )
        )
    elif bad is None:
        check.ran(
            f"with the buyer's key, {ledger.seller_name(index)}'s delivery decrypts to its model"
        )


def check_swap(ledger: RequestLedger, check: CheckBuilder) -> None:
    """Every rejected delivery was bad; every winner revealed its key and delivered the
    model it committed to (a complaint the contract upheld is the seller's fault)."""
    _check_rejections(ledger, check)
    tallied = ledger.tallied
    winners = list(indices_of(int(tallied["winners"]))) if tallied is not None else []
    for index in winners:
        _check_sale(ledger, check, index)
    rejected = len(ledger.named("DeliveryRejected"))
    check.ran(f"{rejected} rejected delivery(s), {len(winners)} sale(s) looked at")


# payments ---------------------------------------------------------------------------------
def _expected(ledger: RequestLedger, event: Event, locked: int) -> rules.Credits | None:
    """What the step that emitted ``event`` must credit (None: the event moves no money)."""
    request, name = ledger.request, event.name
    volunteers = list(ledger.volunteers)
    sellers = [s.seller for s in ledger.submissions]
    live = ledger.live(event)
    if name == "ExecutorsDrawn":
        return rules.undrawn_credits(request, volunteers, int(event["drawn"]))
    if name == "DeliveryRejected":
        return {str(event["seller"]): request.seller_stake}
    if name == "Tallied":
        credits, _ = rules.tally_credits(
            request, volunteers, sellers, live, int(event["agreed"]),
            [int(s) for s in event["scores"]], int(event["flags"]), ledger.schedule,
        )  # fmt: skip
        return credits
    if name == "SwapSettled":
        index = int(event["index"])
        price = ledger.submissions[index].price
        return rules.settle_credits(
            request, sellers[index], price, SubmissionState(int(event["state"]))
        )
    if name == "RequestEnded":
        status = RequestStatus(int(event["status"]))
        alive = [s for s, on in zip(sellers, live, strict=True) if on]
        if status is RequestStatus.CANCELLED:
            return rules.cancel_credits(request, volunteers, alive, locked)
        if status is RequestStatus.FAILED:
            revealed = 0
            for reveal in ledger.named("ScoresRevealed"):
                revealed |= 1 << int(reveal["index"])
            return rules.fail_credits(request, volunteers, alive, revealed, locked)
    return None


def _who_moves_on(ledger: RequestLedger, check: CheckBuilder) -> None:
    """An open request: who may take its next step, as the rules say."""
    request, rid = ledger.request, ledger.request_id
    if request.status is RequestStatus.REVEALING:
        problem = rules.tally_problem(request, ledger.now)
        step = f"anyone may tally now (mercato modelmarket tally {rid})"
    elif request.status is RequestStatus.SWAPPING:
        waiting = []
        for submission in ledger.submissions:
            if submission.state in (SubmissionState.WON, SubmissionState.KEY_REVEALED):
                why = rules.finish_problem(request, submission, ledger.now)
                waiting.append(
                    why
                    or f"anyone may finish sale {submission.index} now "
                    f"(mercato modelmarket finish {rid} {submission.index})"
                )
        check.undecided(f"request {rid} is swapping: " + "; ".join(waiting))
        return
    else:
        problem = rules.advance_problem(request, ledger.now, ledger.block)
        step = f"anyone may advance it now (mercato modelmarket advance {rid})"
    check.undecided(f"request {rid} is {request.status.label}: {problem or step}")


def check_paid(ledger: RequestLedger, check: CheckBuilder) -> None:
    """Every credit of every step is what the rules give, to the wei; an ended request
    locks nothing."""
    request = ledger.request
    locked = int(ledger.posted["escrowed"])
    if locked != request.escrowed:
        check.fail(ledger.against_contract(f"took {locked} wei of escrow, not {request.escrowed}"))
    steps = 0
    for event in ledger.events:
        if event.name in ("Submitted", "Volunteered"):
            locked += int(event["stake"])
            continue
        expected = _expected(ledger, event, locked)
        if expected is None:
            continue
        actual: rules.Credits = {}
        for account, amount in ledger.credits.get(event.tx_hash, []):
            actual[account] = actual.get(account, 0) + amount
        if {a.lower(): v for a, v in actual.items()} != {a.lower(): v for a, v in expected.items()}:
            check.fail(
                ledger.against_contract(
                    f"{event.name} (tx {event.tx_hash}) credited {actual}; the rules give "
                    f"{expected}"
                )
            )
        locked -= sum(expected.values())
        steps += 1
    total_in = int(ledger.posted["escrowed"]) + sum(
        int(e["stake"]) for e in ledger.events if e.name in ("Submitted", "Volunteered")
    )
    credited = sum(amount for credits in ledger.credits.values() for _, amount in credits)
    if request.status.final:
        if locked != 0 or request.locked != 0:
            check.fail(
                ledger.against_contract(
                    f"ended with {request.locked} wei locked; the rules leave {locked}"
                )
            )
        check.ran(
            f"{steps} paying step(s) credited {format_ether(credited)} of the "
            f"{format_ether(total_in)} paid in, each credit to the wei as the rules give"
        )
        return
    if request.locked != locked:
        check.fail(ledger.against_contract(f"locks {request.locked} wei; the rules leave {locked}"))
    check.ran(f"{steps} paying step(s) so far credited as the rules give")
    _who_moves_on(ledger, check)
