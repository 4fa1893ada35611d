"""Audit checks of P1 after the SLA: the deliveries, the verdicts and the deadlines.

Checks 3 to 5 of :mod:`mercato.audit.auction`. The execution report is judged by the rule
the client and the arbiter use (:func:`~mercato.protocols.auction.rules.report_problems`),
the arbiter's verdict by its rule (:func:`~mercato.protocols.auction.rules.evidenced_mask`);
a party that let its deadline pass is named by the duty it left undone.
"""

from __future__ import annotations

from mercato.audit.auction_ledger import AuctionLedger
from mercato.audit.report import CheckBuilder
from mercato.chain.contract import Event
from mercato.errors import MercatoError
from mercato.ontology.category import Category
from mercato.protocols.auction.documents import requirements_of
from mercato.protocols.auction.rules import (
    HANDED_OVER,
    MODEL_MISMATCH,
    claims_evidence,
    evidenced_mask,
    reason_problem,
)
from mercato.protocols.auction.views import Status, categories_in
from mercato.timefmt import format_time, same_address


def _labels(mask: int) -> str:
    return ", ".join(c.label for c in categories_in(mask)) or "nobody"


def _check_hand_overs(ledger: AuctionLedger, check: CheckBuilder) -> None:
    executor = ledger.winner(Category.INFRASTRUCTURE)
    for event in ledger.handed:
        category = Category(int(event["category"]))
        provider = str(event["provider"])
        winner = ledger.winner(category)
        if winner is None or not same_address(provider, winner):
            check.fail(
                ledger.against_contract(
                    f"{provider} handed the {category.label} over; the winner is {winner}"
                )
            )
        if executor is None or not same_address(str(event["executor"]), executor):
            check.fail(
                ledger.against_contract(
                    f"the {category.label} went to "
                    f"{event['executor']}, not the infrastructure "
                    f"winner {executor}"
                )
            )
        sealed = ledger.blob(bytes(event["sealed_hash"]))
        if sealed.content is None:
            check.fail(
                ledger.against_provider(
                    category, f"its sealed {category.label} asset: {sealed.problem}", provider
                )
            )
        elif ledger.is_executor:
            opened = ledger.open_sealed(bytes(event["sealed_hash"]), bytes(event["asset_hash"]))
            if opened.content is None:
                check.fail(
                    ledger.against_provider(
                        category,
                        f"the {category.label} asset it handed over is not the one it recorded: "
                        f"{opened.problem}",
                        provider,
                    )
                )
    key = ", each opened with the executor's key to the asset it records" * ledger.is_executor
    check.ran(
        f"{len(ledger.handed)} hand-over(s) by the data and algorithm winners, each sealed "
        f"asset in the store{key}"
    )
    if ledger.handed and not ledger.is_executor:
        check.skip(
            "whether each sealed asset is the asset its hash names: needs the infrastructure "
            "winner's key"
        )


def _handed_over(ledger: AuctionLedger, event: Event) -> bool:
    """Whether a hand-over put its asset in the executor's reach: its sealed blob is in the
    store and, with the executor's key, opens to the asset its hash names."""
    if ledger.is_executor:
        sealed, asset = bytes(event["sealed_hash"]), bytes(event["asset_hash"])
        return ledger.open_sealed(sealed, asset).content is not None
    return ledger.blob(bytes(event["sealed_hash"])).content is not None


def check_delivered(ledger: AuctionLedger, check: CheckBuilder) -> None:
    """3. Did each winner deliver what it committed?"""
    if ledger.adjudicated is None:
        check.ran("no SLA was formed: nobody had anything to deliver")
        return
    _check_hand_overs(ledger, check)
    delivered, delivery = ledger.delivered, ledger.delivery
    if delivered is None or delivery is None:
        if ledger.auction.status is Status.ADJUDICATED and ledger.now < ledger.auction.deadline:
            check.undecided(
                "waiting for the infrastructure winner's delivery until "
                f"{format_time(ledger.auction.deadline)}"
            )
        else:
            check.ran("no model was delivered (check 5 says whose duty was left undone)")
        return
    for problem in delivery.problems:
        check.fail(ledger.against_provider(Category.INFRASTRUCTURE, problem))
    sealed = ledger.blob(bytes(delivered["sealed_hash"]))
    if sealed.content is None:
        check.fail(
            ledger.against_provider(Category.INFRASTRUCTURE, f"its sealed model: {sealed.problem}")
        )
    elif ledger.is_client:
        opened = ledger.open_sealed(bytes(delivered["sealed_hash"]), bytes(delivered["model_hash"]))
        if opened.content is None:
            check.fail(
                ledger.against_provider(
                    Category.INFRASTRUCTURE, f"{MODEL_MISMATCH}: {opened.problem}"
                )
            )
        check.ran(
            "opened with the client's key, the sealed model hashes to the model hash on chain"
        )
    else:
        check.skip("whether the sealed model is the model hash on chain: needs the client's key")
    check.ran(
        "the execution report is signed by the infrastructure winner and names the delivered "
        "model and the handed-over assets"
    )
    try:
        wanted = requirements_of(ledger.market, ledger.auction)
        quality = f"whether the model reaches {wanted.metric} >= {wanted.minimum}"
    except MercatoError:
        quality = "whether the model reaches the required metric"
    check.note(f"{quality} needs the client's own evaluation data: its review says")


def check_verdicts(ledger: AuctionLedger, check: CheckBuilder) -> None:
    """4. Was each rejection and arbitration verdict justified?"""
    rejected, delivery = ledger.rejected, ledger.delivery
    if rejected is None or delivery is None:
        check.ran("no delivery was rejected: no verdict to judge")
        return
    complaint = ledger.complaint
    if complaint.content is None:
        check.fail(
            ledger.against_client(
                f"it rejected the delivery without a stored reason: {complaint.problem}"
            )
        )
    else:
        _check_complaint(ledger, check, complaint.content.decode(errors="replace"))
    arbitrated = ledger.arbitrated
    rule = evidenced_mask(ledger.handed_assets(), delivery.sound)
    if arbitrated is not None:
        paid = int(arbitrated["paid_mask"])
        if paid != rule:
            check.fail(
                ledger.against_arbiter(
                    f"it paid {_labels(paid)}; the evidence (the hand-overs and the signed "
                    f"report) shows the duties of {_labels(rule)} done"
                )
            )
        check.ran(
            f"the arbiter paid the categories whose duty the evidence shows ({_labels(rule)})"
        )
    elif ledger.auction.status is Status.DISPUTED and ledger.now < ledger.auction.deadline:
        check.undecided(
            f"the arbiter decides until {format_time(ledger.auction.deadline)}; by the evidence "
            f"it should pay {_labels(rule)}"
        )
    else:
        check.ran("the arbiter gave no verdict (check 5)")


def _check_complaint(ledger: AuctionLedger, check: CheckBuilder, text: str) -> None:
    """The client's reasons: those the evidence can show are re-checked against it."""
    delivery = ledger.delivery
    assert delivery is not None and ledger.delivered is not None
    problem = reason_problem(text)
    if problem is not None:
        check.fail(ledger.against_client(f"its rejection gives no reason: {problem}"))
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    claimed = [line for line in lines if claims_evidence(line)]
    for line in claimed:
        if line != MODEL_MISMATCH:
            if line not in delivery.problems:
                check.fail(
                    ledger.against_client(
                        f"its complaint says {line!r}; the signed "
                        "report on chain shows no such fault"
                    )
                )
        elif ledger.is_client:
            opened = ledger.open_sealed(
                bytes(ledger.delivered["sealed_hash"]), bytes(ledger.delivered["model_hash"])
            )
            if opened.content is not None:
                check.fail(
                    ledger.against_client(
                        f"its complaint says {line!r}; with its key the "
                        "sealed model hashes to the model hash on "
                        "chain"
                    )
                )
        else:
            check.skip(f"the complaint {line!r}: needs the client's key to open the model")
    quality = [line for line in lines if not claims_evidence(line)]
    if quality:
        check.note(
            f"the complaint's other reasons ({'; '.join(quality)}) concern the model's "
            "quality: measuring it needs the client's evaluation data"
        )
    check.ran(
        f"the client rejected with a stored reason; {len(claimed)} reason(s) the evidence can "
        "show re-checked against it"
    )


def check_deadlines(ledger: AuctionLedger, check: CheckBuilder) -> None:
    """5. Did each party do its part before its deadline?"""
    auction, now = ledger.auction, ledger.now
    adjudicated = ledger.adjudicated
    if adjudicated is None:
        if auction.status is Status.OPEN and now < auction.deadline:
            check.undecided(f"bidding is open until {format_time(auction.deadline)}")
        elif auction.status is Status.OPEN:
            check.ran(f"bidding closed at {format_time(auction.deadline)}: anyone may adjudicate")
        else:
            check.ran("bidding closed without an SLA: nobody owed anything")
        return
    deadline = int(adjudicated["delivery_deadline"])
    if ledger.delivered is None:
        if auction.status is Status.ADJUDICATED and now < deadline:
            check.undecided(f"the winners hand over and deliver until {format_time(deadline)}")
            return
        handed = {int(e["category"]) for e in ledger.handed if _handed_over(ledger, e)}
        late = [c for c in HANDED_OVER if c not in handed]
        for category in late:
            check.fail(
                ledger.against_provider(
                    category,
                    f"it did not hand its {category.label} "
                    "asset over before the delivery deadline "
                    f"{format_time(deadline)}",
                )
            )
        if not late:
            check.fail(
                ledger.against_provider(
                    Category.INFRASTRUCTURE,
                    "it did not deliver before the delivery deadline "
                    f"{format_time(deadline)}, though both assets were handed over"
                    + (
                        ""
                        if ledger.is_executor
                        else " (only its key shows whether they open "
                        "to the assets their hashes name)"
                    ),
                )
            )
        return
    check.ran("the winners handed over and the infrastructure winner delivered in time")
    review = int(ledger.delivered["review_deadline"])
    if ledger.rejected is None:
        if auction.status is Status.CLAIMED or (
            auction.status is Status.DELIVERED and now >= review
        ):
            check.fail(
                ledger.against_client(
                    "it neither confirmed nor rejected the delivery "
                    f"before the review deadline {format_time(review)}"
                )
            )
        elif auction.status is Status.DELIVERED:
            check.undecided(f"the client reviews the delivery until {format_time(review)}")
        else:
            check.ran("the client confirmed the delivery before the review deadline")
        return
    check.ran("the client rejected the delivery before the review deadline")
    arbitration = int(ledger.rejected["arbitration_deadline"])
    if ledger.arbitrated is not None:
        check.ran("the arbiter decided before the arbitration deadline")
    elif auction.status is Status.REFUNDED or now >= arbitration:
        check.fail(
            ledger.against_arbiter(
                f"it gave no verdict before the arbitration deadline {format_time(arbitration)}"
            )
        )
    else:
        check.undecided(f"the arbiter decides until {format_time(arbitration)}")
