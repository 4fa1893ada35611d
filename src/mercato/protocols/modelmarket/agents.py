"""P4 handlers for each role's agent: buyer, seller and executor of the model market.

Each ``attach_*`` function registers plain handlers on an :class:`~mercato.agents.Agent`.
Every agent also keeps its requests moving (:func:`request_deadlines`, kept by
:func:`~mercato.agents.deadlines.keep_deadlines`): it draws the sample and the executors
once their block exists, closes submissions and commitments past their deadlines, tallies
with the majority's vote once the reveals are in (or past their deadline), and settles each
sale whose key deadline or complaint window passed; then it withdraws what it is owed. So no
silent party can lock anybody's money.

Agents log what they decide in words and ether: the buyer the deliveries it checks, the
scores and prices, each model it takes (and its accuracy on the buyer's own rows) or the
chunk it complains about; a seller what it submits and what it is paid; an executor the
scores it commits to and any flag.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mercato.agents.agent import Agent, AgentContext
from mercato.agents.deadlines import Deadlines, keep_deadlines
from mercato.chain.contract import Event
from mercato.errors import MercatoError
from mercato.protocols.identity import Identity
from mercato.protocols.marketplace import Marketplace
from mercato.protocols.modelmarket import buyer, executor, history, rules, seller
from mercato.protocols.modelmarket.documents import HiddenTestSet
from mercato.protocols.modelmarket.evaluation import (
    load_model_bytes,
    model_suffix,
    score,
    stack_groups,
)
from mercato.protocols.modelmarket.views import (
    Request,
    RequestStatus,
    SubmissionState,
    indices_of,
    score_fraction,
)
from mercato.units import format_ether
from mercato.user_files import write_secret

logger = logging.getLogger(__name__)

REQUEST_KEY = "modelmarket-request:"
TEST_KEY = "modelmarket-test:"
OFFER_KEY = "modelmarket-offer:"
VOTE_KEY = "modelmarket-vote:"
BOUGHT_KEY = "modelmarket-bought:"
"""Buyer: ``<request>:<index>`` -> what became of that purchase (the model's accuracy)."""

ModelFor = Callable[[Event], tuple[bytes, bytes | None] | None]
"""A seller's choice: for a posted request, the model to offer (and, to cheat, the model to
deliver instead), or None to stay out."""


def request_deadlines(market: Marketplace, me: Identity) -> Deadlines[Request]:
    """The requests an agent takes part in, moved on when their time has come (whenever
    :mod:`~mercato.protocols.modelmarket.rules` finds nothing against the step)."""
    mm = market.model_market

    def move(request_id: int, request: Request, now: int) -> bool:
        block = market.chain.block_number() + 1  # the block the next transaction lands in
        if rules.advance_problem(request, now, block) is None:
            mm.advance(me.account, request_id)
        elif rules.tally_problem(request, now) is None:
            vote = history.majority(mm, request_id, request.executors)
            scores, flags = vote if vote is not None else ((), 0)
            mm.tally(me.account, request_id, scores, flags)
        elif request.status is RequestStatus.SWAPPING:
            for submission in mm.submissions(request_id):
                if rules.finish_problem(request, submission, now) is None:
                    mm.finish(me.account, request_id, submission.index)
        return not mm.request(request_id).status.final

    return Deadlines(REQUEST_KEY, mm.request, move)


def attach_buyer(
    agent: Agent, market: Marketplace, me: Identity, folder: Path | None = None
) -> None:
    """The buyer of the requests given to :func:`follow_request`: reveals the sample, checks
    every delivery, seals the hidden groups, takes each bought model or complains about a
    bad chunk. It measures each model it takes on its hidden groups, as the executors did
    (the score must be theirs), and writes it to ``<folder>/request-<id>/model-<i>`` if
    given."""
    mm = market.model_market
    deadlines = request_deadlines(market, me)

    def test_set(ctx: AgentContext, request_id: int) -> HiddenTestSet | None:
        stored = ctx.state.get(f"{TEST_KEY}{request_id}")
        return None if stored is None else HiddenTestSet.from_bytes(bytes.fromhex(str(stored)))

    @agent.on("SampleDrawn", contract=mm.contract)
    def reveal(event: Event, ctx: AgentContext) -> None:
        request_id = int(event["request_id"])
        tests = test_set(ctx, request_id)
        if tests is not None and buyer.reveal_sample(market, me, request_id, tests):
            logger.info("request %d: revealed sample groups %s", request_id, list(event["indices"]))

    @agent.on("Submitted", contract=mm.contract)
    def check(event: Event, ctx: AgentContext) -> None:
        request_id, index = int(event["request_id"]), int(event["index"])
        if test_set(ctx, request_id) is None:
            return
        problem = buyer.delivery_check(market, me, request_id, index)
        if problem is None:
            logger.info(
                "request %d: seller %d's delivery matches its commitments", request_id, index
            )
            return
        if mm.submission(request_id, index).state is SubmissionState.SUBMITTED:
            buyer.reject(market, me, request_id, index, problem)
            logger.info("request %d: rejected seller %d's delivery: %s", request_id, index, problem)

    @agent.on("ExecutorsDrawn", contract=mm.contract)
    def seal(event: Event, ctx: AgentContext) -> None:
        request_id = int(event["request_id"])
        tests = test_set(ctx, request_id)
        if tests is not None and buyer.seal_test(market, me, request_id, tests):
            logger.info(
                "request %d: hidden groups sealed to executors %s",
                request_id, ", ".join(a[:8] + ".." for a in event["executors"]),
            )  # fmt: skip

    @agent.on("Tallied", contract=mm.contract)
    def tallied(event: Event, ctx: AgentContext) -> None:
        request_id = int(event["request_id"])
        if test_set(ctx, request_id) is None:
            return
        scores = [f"{score_fraction(int(s)):.3f}" for s in event["scores"]]
        winners = indices_of(int(event["winners"]))
        prices = [format_ether(int(event["prices"][i])) for i in winners]
        logger.info(
            "request %d: agreed scores %s; bought %s at %s; %s refunded",
            request_id, ", ".join(scores), winners or "none", prices or "-",
            format_ether(int(event["refund"])),
        )  # fmt: skip

    @agent.on("KeyRevealed", contract=mm.contract)
    def take(event: Event, ctx: AgentContext) -> None:
        request_id, index = int(event["request_id"]), int(event["index"])
        done = f"{BOUGHT_KEY}{request_id}:{index}"
        if test_set(ctx, request_id) is None or done in ctx.state:
            return
        model, complaint, key = buyer.take_model(market, me, request_id, index)
        if complaint is not None:
            mm.complain(me.account, request_id, index, key, complaint)
            ctx.state.put(done, {"complained": complaint.index})
            logger.info(
                "request %d: seller %d's chunk %d is not the model benchmarked: complaint "
                "proved on chain, price and stake refunded",
                request_id, index, complaint.index,
            )  # fmt: skip
            return
        assert model is not None
        tests = test_set(ctx, request_id)
        assert tests is not None
        hidden = tests.hidden(history.sample_indices(mm, request_id) or [])
        measured = score(load_model_bytes(model), *stack_groups(hidden))
        agreed = mm.submission(request_id, index).score
        record: dict[str, Any] = {"score": measured, "agreed": agreed, "bytes": len(model)}
        if folder is not None:
            name = f"model-{index}{model_suffix(model)}"
            path = write_secret(folder / f"request-{request_id}" / name, model)  # bought: ours
            record["path"] = str(path)
        ctx.state.put(done, record)
        logger.info(
            "request %d: took seller %d's model (%d bytes): %.3f on our hidden groups, "
            "the executors agreed %.3f",
            request_id, index, len(model), score_fraction(measured), score_fraction(agreed),
        )  # fmt: skip

    keep_deadlines(agent, me, mm, deadlines)


def follow_request(ctx: AgentContext, request_id: int, test_set: HiddenTestSet) -> None:
    """Tell a buyer's agent about a request it posted and its hidden test set."""
    ctx.state.put(f"{REQUEST_KEY}{request_id}", True)
    ctx.state.put(f"{TEST_KEY}{request_id}", test_set.to_bytes().hex())


def attach_seller(
    agent: Agent, market: Marketplace, me: Identity, features: int, model_for: ModelFor
) -> None:
    """A seller: once a request's sample is revealed, checks it and submits the model that
    ``model_for`` picks; seals it to the executors; reveals its key if it won."""
    mm = market.model_market
    deadlines = request_deadlines(market, me)

    def offer(ctx: AgentContext, request_id: int) -> seller.Offer | None:
        stored = ctx.state.get(f"{OFFER_KEY}{request_id}")
        return None if stored is None else seller.Offer.from_record(stored)  # type: ignore[arg-type]

    @agent.on("SampleRevealed", contract=mm.contract)
    def submit(event: Event, ctx: AgentContext) -> None:
        request_id = int(event["request_id"])
        if offer(ctx, request_id) is not None:
            return
        posted = history.posted(mm, request_id)
        choice = model_for(posted)
        if choice is None:
            return
        _, problem = seller.sample_check(market, request_id, features)
        if problem is not None:
            logger.info("request %d not entered: %s", request_id, problem)
            return
        model, delivered = choice
        try:  # after a crash right after submitting, the offer is rebuilt from the chain
            made = seller.submitted_offer(market, me, request_id, model, delivered)
            made = made or seller.submit(market, me, request_id, model, delivered)
        except MercatoError as exc:
            logger.info("request %d not entered: %s", request_id, exc)
            return
        ctx.state.put(f"{OFFER_KEY}{request_id}", made.to_record())
        deadlines.follow(ctx, request_id)
        logger.info(
            "request %d: submitted a %d-byte model as seller %d (stake %s)",
            request_id, len(model), made.index, format_ether(mm.request(request_id).seller_stake),
        )  # fmt: skip

    @agent.on("ExecutorsDrawn", contract=mm.contract)
    def seal(event: Event, ctx: AgentContext) -> None:
        made = offer(ctx, int(event["request_id"]))
        if made is not None and seller.seal_model(market, me, made):
            logger.info("request %d: model sealed to the executors", made.request_id)

    @agent.on("Tallied", contract=mm.contract)
    def reveal_key(event: Event, ctx: AgentContext) -> None:
        made = offer(ctx, int(event["request_id"]))
        if made is None:
            return
        submission = mm.submission(made.request_id, made.index)
        if seller.reveal_key(market, me, made):
            logger.info(
                "request %d: won at score %.3f for %s; key revealed",
                made.request_id, score_fraction(submission.score), format_ether(submission.price),
            )  # fmt: skip
        else:
            logger.info(
                "request %d: %s (score %.3f)",
                made.request_id, submission.state.label, score_fraction(submission.score),
            )  # fmt: skip

    keep_deadlines(agent, me, mm, deadlines)


def attach_executor(agent: Agent, market: Marketplace, me: Identity, lazy: bool = False) -> None:
    """An executor: volunteers for every request; once drawn and once the buyer and every
    seller have sealed their blobs (or half the commit period passed), benchmarks and
    commits, then reveals. A ``lazy`` executor volunteers and never commits (the demo's,
    slashed for it)."""
    mm = market.model_market
    deadlines = request_deadlines(market, me)

    @agent.on("RequestPosted", contract=mm.contract)
    def offer(event: Event, ctx: AgentContext) -> None:
        request_id = int(event["request_id"])
        if deadlines.follows(ctx, request_id):
            return
        try:
            if executor.volunteer(market, me, request_id):
                deadlines.follow(ctx, request_id)
                logger.info(
                    "request %d: volunteered to benchmark (stake %s, fee %s)",
                    request_id, format_ether(int(event["executor_stake"])),
                    format_ether(int(event["executor_fee"])),
                )  # fmt: skip
            elif me.address in mm.volunteers(request_id):
                # the stake landed, then a crash or an outage came before we noted it: the
                # event is handled again, and we must still benchmark (or be slashed)
                deadlines.follow(ctx, request_id)
                logger.info("request %d: volunteered already; following it", request_id)
        except MercatoError as exc:
            logger.info("request %d: not volunteering: %s", request_id, exc)

    def work(ctx: AgentContext) -> None:
        for key in ctx.state.keys(REQUEST_KEY):
            request_id = int(key.removeprefix(REQUEST_KEY))
            request = mm.request(request_id)
            vote_key = f"{VOTE_KEY}{request_id}"
            if request.status is RequestStatus.COMMITTING and vote_key not in ctx.state:
                if lazy or me.address not in history.executors(mm, request_id):
                    continue
                started = request.deadline - request.commit_period
                half_gone = market.chain.timestamp() >= started + request.commit_period // 2
                if not (executor.ready(market, request_id) or half_gone):
                    continue

                def keep(vote: executor.Vote, _: object, key: str = vote_key) -> None:
                    ctx.state.put(key, vote.to_record())  # before the commitment is sent

                vote, _, _ = executor.commit(market, me, request_id, keep)
                said = ", ".join(f"{score_fraction(s):.3f}" for s in vote.scores)
                logger.info(
                    "request %d: benchmarked; committed to scores %s%s",
                    request_id, said, f", flags {vote.flags:#x}" if vote.flags else "",
                )  # fmt: skip
            elif request.status is RequestStatus.REVEALING and vote_key in ctx.state:
                vote = executor.Vote.from_record(ctx.state.get(vote_key))  # type: ignore[arg-type]
                if executor.reveal(market, me, request_id, vote):
                    logger.info("request %d: scores revealed", request_id)

    agent.every_tick(work)
    keep_deadlines(agent, me, mm, deadlines)
