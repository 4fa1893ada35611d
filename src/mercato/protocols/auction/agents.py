"""P1 handlers for each role's agent: client, provider (per category) and arbiter.

Each ``attach_*`` function registers plain handlers on an :class:`~mercato.agents.Agent`.
Handlers read the chain before acting, so a handler run twice (after a crash) does not act
twice: a bid is only placed while the provider does not lead, a hand-over only once, a
delivery only while the auction still waits for one.
"""

from __future__ import annotations

import logging
from pathlib import Path

from mercato.agents.agent import Agent, AgentContext
from mercato.agents.deadlines import Deadlines, keep_deadlines
from mercato.chain.contract import Event
from mercato.crypto.attestation import SignedReport, SoftwareAttestation
from mercato.errors import MercatoError
from mercato.ml.datasets import Dataset
from mercato.ontology.category import Category
from mercato.protocols.auction.client import Review, review_delivery, settle_review, take_model
from mercato.protocols.auction.documents import load_requirements
from mercato.protocols.auction.house import Auction, Status
from mercato.protocols.auction.provider import (
    Offer,
    execute,
    hand_over,
    next_bid,
    references_for,
)
from mercato.protocols.auction.rules import evidenced_mask, report_problems
from mercato.protocols.identity import Identity
from mercato.protocols.marketplace import Marketplace
from mercato.protocols.results import export_result
from mercato.units import format_ether

logger = logging.getLogger(__name__)

ALL_CATEGORIES_MASK = 0b111
AUCTION_KEY = "auction:"


def client_deadlines(market: Marketplace, me: Identity) -> Deadlines[Auction]:
    """The client's auctions past a deadline: it adjudicates once bidding is over, and takes
    its money back when nothing was delivered or the arbiter stayed silent."""
    house = market.auction_house

    def move(auction_id: int, auction: Auction, now: int) -> bool:
        if now < auction.deadline:
            return True
        if auction.status is Status.OPEN:
            house.adjudicate(me.account, auction_id)
        elif auction.status in (Status.ADJUDICATED, Status.DISPUTED):
            house.claim(me.account, auction_id)  # nothing delivered / arbiter silent
        return True

    return Deadlines(AUCTION_KEY, house.auction, move)


def provider_deadlines(market: Marketplace, me: Identity, offer: Offer) -> Deadlines[Auction]:
    """A provider's auctions past a deadline: it drops those it lost and claims its pay when
    the client stays silent about a delivery."""
    house = market.auction_house

    def move(auction_id: int, auction: Auction, now: int) -> bool:
        if now < auction.deadline:
            return True
        if auction.status is Status.OPEN:
            return auction.bidders[offer.category] == me.address
        if auction.status is Status.DELIVERED:
            house.claim(me.account, auction_id)  # the client stayed silent
        return True

    return Deadlines(AUCTION_KEY, house.auction, move)


def attach_client(
    agent: Agent,
    market: Marketplace,
    me: Identity,
    evaluation: Dataset,
    results: Path | None = None,
) -> None:
    """The client: reviews deliveries, settles, and moves its money after deadlines.

    Auctions are opened by the user (``client.open_auction`` or ``mercato auction create``);
    the agent follows every auction whose client is ``me``. An accepted model is written to
    ``results/auction-<id>/model.skops`` with its metrics beside it (when ``results`` is set).
    """
    house = market.auction_house
    deadlines = client_deadlines(market, me)
    mine = lambda e: e["client"] == me.address  # noqa: E731

    @agent.on("AuctionCreated", where=mine, contract=house.contract)
    def follow(event: Event, ctx: AgentContext) -> None:
        deadlines.follow(ctx, int(event["auction_id"]), "open")

    @agent.on("Delivered", contract=house.contract)
    def review(event: Event, ctx: AgentContext) -> None:
        auction_id = int(event["auction_id"])
        if not deadlines.follows(ctx, auction_id):
            return
        if house.auction(auction_id).status is not Status.DELIVERED:
            return  # already settled by an earlier run of this handler
        verdict = review_delivery(market, me, auction_id, evaluation)
        logger.info("%s: auction %d: %s", ctx.name, auction_id, _verdict_words(market, verdict))
        if verdict.accepted and results is not None:
            taken = take_model(market, me, auction_id, evaluation)
            model_file, _ = export_result(taken, results / f"auction-{auction_id}" / "model.skops")
            logger.info("%s: auction %d: model and metrics in %s", ctx.name, auction_id,
                        model_file.parent)  # fmt: skip
        ctx.state.put(
            f"review:{auction_id}",
            {
                "accepted": verdict.accepted,
                "metrics": verdict.metrics,
                "problems": verdict.problems,
            },
        )
        settle_review(market, me, verdict)

    keep_deadlines(agent, me, house, deadlines)


def _verdict_words(market: Marketplace, verdict: Review) -> str:
    """``accuracy 0.962 >= 0.900 required: confirm`` or ``reject: <the problems>``."""
    if not verdict.accepted:
        return "reject: " + "; ".join(verdict.problems)
    required = load_requirements(market, verdict.auction_id)
    achieved = verdict.metrics[required.metric]
    return f"{required.metric} {achieved:.3f} >= {required.minimum:.3f} required: confirm"


def attach_provider(agent: Agent, market: Marketplace, me: Identity, offer: Offer) -> None:
    """A provider of one category: matches, bids down to its floor, delivers, gets paid."""
    house = market.auction_house
    deadlines = provider_deadlines(market, me, offer)

    def place_bid(auction_id: int, ctx: AgentContext) -> None:
        auction = house.auction(auction_id)
        amount = next_bid(auction, offer, me.address, market.chain.timestamp())
        if amount is None:
            return
        refs = references_for(market, me.address, offer.category, auction.min_refs)
        house.bid(me.account, auction_id, offer.category, amount, refs)
        logger.info(
            "%s: auction %d: bid %s for %s (floor %s)",
            ctx.name, auction_id, format_ether(amount), offer.category.label,
            format_ether(offer.floor),
        )  # fmt: skip

    @agent.on("AuctionCreated", contract=house.contract)
    def consider(event: Event, ctx: AgentContext) -> None:
        auction_id = int(event["auction_id"])
        try:
            requirements = load_requirements(market, auction_id)
        except MercatoError as exc:
            logger.warning("%s skips auction %d: %s", ctx.name, auction_id, exc)
            return
        mismatch = offer.mismatch(requirements)
        if mismatch is not None:
            logger.info("%s: auction %d: not bidding: %s", ctx.name, auction_id, mismatch)
            return
        deadlines.follow(ctx, auction_id, "bidding")
        place_bid(auction_id, ctx)

    @agent.on("BidPlaced", where=lambda e: e["category"] == offer.category)
    def undercut(event: Event, ctx: AgentContext) -> None:
        auction_id = int(event["auction_id"])
        if event["bidder"] != me.address and deadlines.follows(ctx, auction_id):
            place_bid(auction_id, ctx)

    @agent.on("Adjudicated")
    def won(event: Event, ctx: AgentContext) -> None:
        auction_id = int(event["auction_id"])
        if event["winners"][offer.category] != me.address:
            return
        price = house.auction(auction_id).bids[offer.category]
        logger.info("%s: auction %d: won %s at %s", ctx.name, auction_id, offer.category.label,
                    format_ether(price))  # fmt: skip
        deadlines.follow(ctx, auction_id, "won")
        if offer.category is Category.INFRASTRUCTURE or ctx.state.get(f"handed:{auction_id}"):
            return
        hand_over(market, me, auction_id, offer)
        ctx.state.put(f"handed:{auction_id}", True)

    @agent.on("AssetHandedOver", where=lambda e: e["executor"] == me.address)
    def run_training(event: Event, ctx: AgentContext) -> None:
        auction_id = int(event["auction_id"])
        handed = {
            e["category"]
            for e in house.events(
                "AssetHandedOver", from_block=market.deployment.block, auction_id=auction_id
            )
        }
        if {Category.DATA, Category.ALGORITHM} <= handed and (
            house.auction(auction_id).status is Status.ADJUDICATED
        ):
            execute(market, me, auction_id)

    keep_deadlines(agent, me, house, deadlines)


def attach_arbiter(agent: Agent, market: Marketplace, me: Identity) -> None:
    """The arbiter: decides rejected deliveries from the evidence it can check.

    It cannot see the model (sealed to the client), so it pays each category whose duty is
    evidenced: data and algorithm winners that handed their asset over, and the executor if
    its signed report is valid, names the handed-over assets and the delivered model hash.
    """
    house = market.auction_house

    @agent.on("Rejected", where=lambda e: e["arbiter"] == me.address, contract=house.contract)
    def decide(event: Event, ctx: AgentContext) -> None:
        auction_id = int(event["auction_id"])
        auction = house.auction(auction_id)
        if auction.status is not Status.DISPUTED:
            return
        handed = {
            e["category"]: e["asset_hash"]
            for e in house.events(
                "AssetHandedOver", from_block=market.deployment.block, auction_id=auction_id
            )
        }
        try:
            signed = SignedReport.from_bytes(market.store.get("0x" + auction.report_hash.hex()))
            signer = SoftwareAttestation().verify(signed)
            executor_ok = not report_problems(auction, handed, signed.report, signer)
        except MercatoError:
            executor_ok = False
        mask = evidenced_mask(handed, executor_ok)
        paid = [c.label for c in Category if mask & (1 << c)]
        logger.info("%s: auction %d: rule for %s (evidenced duties)", ctx.name, auction_id,
                    ", ".join(paid) or "nobody")  # fmt: skip
        house.arbitrate(me.account, auction_id, mask & ALL_CATEGORIES_MASK)
        ctx.state.put(f"decided:{auction_id}", mask)
