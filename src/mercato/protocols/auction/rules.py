"""P1's rules: whether a step on an auction is acceptable, as plain functions.

Each ``*_problem`` function returns why a step would fail (the contract's asserts, said
before anything is sent), or None when it is acceptable. The CLI raises the problem as an
InputError, the agents skip the step, an HTTP API answers it; nobody restates the contract.
Light: the functions judge views (:mod:`~mercato.protocols.auction.views`) and plain values,
and read nothing themselves.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import TYPE_CHECKING

from mercato.ontology.category import Category
from mercato.protocols.auction.views import DEADLINE_KINDS, Auction, Status
from mercato.protocols.roles import Role
from mercato.protocols.rules import funds_problem, party_problem, state_problem
from mercato.timefmt import format_time, same_address
from mercato.units import compact_ether, format_ether

if TYPE_CHECKING:
    from mercato.crypto.attestation import ExecutionReport

# Limits the contract enforces (AuctionHouse.vy).
MAX_REFERENCES = 8
MAX_DURATION = 366 * 86400
MAX_PRICE = 2**85 - 1  # three prices share one storage word
MAX_REASON_BYTES = 16 * 1024
"""The longest reason for a rejection that is stored as evidence."""

MODEL_MISMATCH = "the delivered model does not match the model hash on chain"
"""The client's complaint when the sealed model does not hash to the model hash on chain."""
HANDED_OVER = (Category.DATA, Category.ALGORITHM)
"""The categories whose winners hand an asset over to the infrastructure winner."""

CATEGORY_ROLES: dict[Category, Role] = {
    Category.DATA: Role.DATA_OWNER,
    Category.ALGORITHM: Role.MODEL_OWNER,
    Category.INFRASTRUCTURE: Role.COMPUTE_PROVIDER,
}
"""The role a provider needs to bid in each category."""


def status_problem(auction: Auction, wanted: Sequence[Status], action: str) -> str | None:
    """Unless the auction is in one of the ``wanted`` states (``action``: ``bid on``)."""
    return state_problem(auction.status, wanted, f"auction {auction.auction_id}", action)


def client_problem(auction: Auction, caller: str, action: str) -> str | None:
    """Unless ``caller`` is the auction's client."""
    return party_problem(auction.client, caller, "client", f"auction {auction.auction_id}", action)


# opening an auction ---------------------------------------------------------------------
def max_price_problem(category: Category, price: int) -> str | None:
    """Unless ``price`` may be the maximum price of ``category``."""
    if 0 < price <= MAX_PRICE:
        return None
    return (
        f"the {category.label} maximum price must be above 0 and at most "
        f"{compact_ether(MAX_PRICE)} ETH, got {compact_ether(price)} ETH"
    )


def duration_problem(duration: int, name: str = "duration") -> str | None:
    """Unless ``duration`` seconds of bidding are allowed (``name``: what the caller calls it)."""
    if 0 < duration <= MAX_DURATION:
        return None
    return f"{name} must be 1 to {MAX_DURATION} seconds, got {duration}"


def min_refs_problem(min_refs: int, name: str = "min_refs") -> str | None:
    """Unless each bid may be asked to cite ``min_refs`` references."""
    if 0 <= min_refs <= MAX_REFERENCES:
        return None
    return f"{name} must be 0 to {MAX_REFERENCES}, got {min_refs}"


def arbiter_problem(
    client: str, arbiter: str, registered: bool = True, name: str = "arbiter"
) -> str | None:
    """Unless ``arbiter`` (``registered`` with the arbiter role or not) may judge ``client``."""
    if same_address(arbiter, client):
        return f"the client cannot be its own arbiter: pass another {name}"
    if not registered:
        return (
            f"{name} {arbiter} is not a registered arbiter "
            "(it registers with: mercato register --roles arbiter)"
        )
    return None


def reserve_problem(client: str, balance: int, reserve: int) -> str | None:
    """Unless ``client``'s ``balance`` covers the ``reserve`` the auction locks."""
    return funds_problem(client, balance, reserve, "auction", "reserve")


# bidding ---------------------------------------------------------------------------------
def amount_problem(amount: int, name: str = "amount") -> str | None:
    """Unless a bid of ``amount`` wei is above nothing."""
    if amount <= 0:
        return f"{name} must be above 0"
    return None


def citations_problem(references: Sequence[int], name: str = "references") -> str | None:
    """Unless a bid may cite ``references`` (each once, at most MAX_REFERENCES)."""
    if len(set(references)) != len(references):
        return f"{name}: each reference may be cited once"
    if len(references) > MAX_REFERENCES:
        return f"a bid cites at most {MAX_REFERENCES} references"
    return None


def bidding_problem(auction: Auction, now: int) -> str | None:
    """Unless the auction takes bids at ``now``."""
    problem = status_problem(auction, [Status.OPEN], "bid on")
    if problem is None and now >= auction.deadline:
        return f"bidding on auction {auction.auction_id} closed at {format_time(auction.deadline)}"
    return problem


def price_problem(auction: Auction, category: Category, amount: int) -> str | None:
    """Unless ``amount`` is at most the maximum and strictly under the best bid."""
    maximum = auction.max_prices[category]
    if amount > maximum:
        return (
            f"the bid {format_ether(amount)} is above the {category.label} maximum "
            f"{format_ether(maximum)} of auction {auction.auction_id}"
        )
    leader, best = auction.best(category)
    if leader is not None and amount >= best:
        return (
            f"the bid {format_ether(amount)} is not below the best {category.label} bid "
            f"{format_ether(best)} of auction {auction.auction_id}"
        )
    return None


def references_needed_problem(auction: Auction, cited: int, how: str = "") -> str | None:
    """Unless ``cited`` references are as many as the auction requires (``how``: to cite)."""
    if cited >= auction.min_refs:
        return None
    return (
        f"auction {auction.auction_id} requires {auction.min_refs} references"
        f"{f' ({how})' if how else ''}, you cite {cited}"
    )


def confirmed_sla(auction: Auction, category: Category) -> bool:
    """Whether ``auction`` is a confirmed SLA of its ``category`` winner (one to cite)."""
    return auction.status is Status.CONFIRMED or bool(
        auction.status is Status.ARBITRATED and auction.paid_mask & (1 << category)
    )


def reference_problem(earlier: Auction, category: Category, bidder: str) -> str | None:
    """Unless ``bidder`` may cite ``earlier`` in a ``category`` bid."""
    ref = earlier.auction_id
    if not confirmed_sla(earlier, category):
        return f"auction {ref} is no confirmed {category.label} SLA"
    if not same_address(earlier.bidders[category], bidder):
        return f"you did not win {category.label} in auction {ref}"
    return None


# after bidding ---------------------------------------------------------------------------
def adjudicate_problem(auction: Auction, caller: str, now: int) -> str | None:
    """Unless ``caller`` may close bidding: its client once every category has a bid,
    anyone after the deadline."""
    problem = status_problem(auction, [Status.OPEN], "adjudicate")
    if problem is not None or now >= auction.deadline:
        return problem
    if not same_address(auction.client, caller):
        return (
            f"bidding on auction {auction.auction_id} runs until {format_time(auction.deadline)}; "
            "before that only its client may adjudicate"
        )
    if auction.unbid:
        missing = " or ".join(c.label for c in auction.unbid)
        return (
            f"auction {auction.auction_id} has no {missing} bid yet; adjudicate "
            f"once every category has one, or after {format_time(auction.deadline)}"
        )
    return None


def hand_over_problem(auction: Auction) -> str | None:
    """Unless the auction waits for the winners' assets."""
    executor = auction.bidders[Category.INFRASTRUCTURE]
    if executor is None or auction.status is not Status.ADJUDICATED:
        return f"auction {auction.auction_id} is not waiting for assets"
    return None


def deliver_problem(auction: Auction) -> str | None:
    """Unless the auction waits for its executor's delivery."""
    if auction.status is Status.ADJUDICATED:
        return None
    return f"auction {auction.auction_id} is {auction.status.label}, not adjudicated"


def review_problem(auction: Auction) -> str | None:
    """Unless the auction has a delivery to review."""
    if auction.status is Status.DELIVERED:
        return None
    return f"auction {auction.auction_id} is {auction.status.label}, not delivered"


def take_problem(auction: Auction, caller: str) -> str | None:
    """Unless ``caller`` may take the delivered model: the client, once a model was delivered."""
    problem = client_problem(auction, caller, "take the model")
    if problem is None and not any(auction.model_hash):
        return f"auction {auction.auction_id} is {auction.status.label}: no model was delivered"
    return problem


def confirm_problem(auction: Auction, caller: str) -> str | None:
    """Unless ``caller`` may accept the delivery."""
    return client_problem(auction, caller, "confirm") or status_problem(
        auction, [Status.DELIVERED], "confirm"
    )


def reason_problem(reason: str, name: str = "reason") -> str | None:
    """Unless ``reason`` says why a delivery is rejected, within MAX_REASON_BYTES."""
    text = reason.strip()
    if not text:
        return f"{name} must say why the delivery is rejected"
    if len(text.encode()) > MAX_REASON_BYTES:
        return f"{name} is longer than {MAX_REASON_BYTES} bytes"
    return None


def reject_problem(auction: Auction, caller: str, now: int) -> str | None:
    """Unless ``caller`` may reject the delivery at ``now`` (within the review period)."""
    problem = client_problem(auction, caller, "reject") or status_problem(
        auction, [Status.DELIVERED], "reject"
    )
    if problem is None and now >= auction.deadline:
        ended = format_time(auction.deadline)
        return f"the review period of auction {auction.auction_id} ended at {ended}"
    return problem


def arbitrate_problem(auction: Auction, caller: str, now: int) -> str | None:
    """Unless ``caller`` is the auction's arbiter and may still decide at ``now``."""
    if not same_address(auction.arbiter, caller):
        return f"only the auction's arbiter {auction.arbiter} decides auction {auction.auction_id}"
    problem = status_problem(auction, [Status.DISPUTED], "arbitrate")
    if problem is None and now >= auction.deadline:
        return (
            f"the arbitration deadline of auction {auction.auction_id} has passed: "
            "anyone may now `mercato auction claim` the client's refund"
        )
    return problem


def claim_problem(auction: Auction, now: int) -> str | None:
    """Unless a deadline has passed that lets anyone settle the auction at ``now``."""
    waiting = (Status.ADJUDICATED, Status.DELIVERED, Status.DISPUTED)
    problem = status_problem(auction, waiting, "claim")
    if problem is None and now < auction.deadline:
        return (
            f"the {DEADLINE_KINDS[auction.status]} deadline of auction {auction.auction_id} "
            f"is {format_time(auction.deadline)}; claim after it"
        )
    return problem


# the outcome -------------------------------------------------------------------------------
def lowest_bid(bids: Sequence[tuple[str, int]]) -> tuple[str | None, int]:
    """The winning (bidder, amount) of one category's ``bids`` in chain order: the lowest
    price, the earliest of equal ones; (None, 0) if nobody bid. Winners are paid their own
    bid (a first-price reverse auction: there is no second price)."""
    best: tuple[str | None, int] = (None, 0)
    for bidder, amount in bids:
        if best[0] is None or amount < best[1]:
            best = (bidder, amount)
    return best


def report_problems(
    auction: Auction, handed: Mapping[int, bytes], report: ExecutionReport, signer: str | None
) -> list[str]:
    """Why a delivery's execution report does not vouch for it ([] if it does).

    ``signer`` signed the report (None: the signature does not hold); ``handed`` maps each
    category handed over to the asset hash on chain. The report must be signed by the
    infrastructure winner, name the model hash on chain as its output and, as its inputs,
    the assets the data and algorithm winners handed over.
    """
    problems = []
    executor = auction.bidders[Category.INFRASTRUCTURE]
    if signer is None or executor is None or not same_address(signer, executor):
        problems.append("the execution report is not signed by the infrastructure winner")
    if report.output_hash != "0x" + bytes(auction.model_hash).hex():
        problems.append("the execution report names another model")
    for category in HANDED_OVER:
        expected = handed.get(int(category))
        if expected is None or report.inputs.get(category.label) != "0x" + bytes(expected).hex():
            problems.append(f"the report's {category.label} input is not the asset handed over")
    return problems


def claims_evidence(complaint: str) -> bool:
    """Whether a line of a client's complaint claims a fault the evidence can show (the
    model's hash, or :func:`report_problems`), rather than the model's quality."""
    return complaint == MODEL_MISMATCH or complaint.startswith(
        ("the execution report ", "the report's ")
    )


def evidenced_mask(handed: Collection[int], report_sound: bool) -> int:
    """The arbiter's rule for a rejected delivery (it cannot see the model, sealed to the
    client): pay each category whose duty is evidenced, the data and algorithm winners that
    handed their asset over and the executor if its report is sound (:func:`report_problems`
    finds nothing)."""
    mask = sum(1 << int(c) for c in HANDED_OVER if int(c) in handed)
    if report_sound:
        mask |= 1 << Category.INFRASTRUCTURE
    return mask
