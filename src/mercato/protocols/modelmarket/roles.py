"""P4's agent roles as ``mercato agent run`` plans them: the model market's buyer, sellers
and executors.

- ``buyer`` follows every request that ``mercato modelmarket post`` posted from the agent's
  state folder (it reads the hidden test set the command kept there, checked against the
  request's test root): it reveals the sample, checks each delivery (rejecting a bad one),
  seals the hidden groups to the executors, and takes each model it bought, writing it to
  ``<state folder>/<agent>/request-<id>/`` or complaining on chain about a bad chunk;
- ``seller`` offers its model file ``--model`` (.skops or .safetensors) to every request
  whose revealed sample it takes, seals it to the executors and reveals its key if it won;
  it also carries on the submissions that ``mercato modelmarket submit`` kept in the state
  folder;
- ``executor`` volunteers for every request, benchmarks and commits once drawn, then
  reveals (``--lazy``: volunteers and never benchmarks, a demonstration adversary slashed
  for it); it also reveals the scores ``mercato modelmarket benchmark`` kept.

All of them move requests past deadlines and withdraw what they earn.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mercato.agents.roles import AgentSetup, RolePlan
from mercato.errors import InputError, MercatoError
from mercato.protocols.modelmarket import agents, buyer, rules
from mercato.protocols.modelmarket.models import SellerModel, read_seller_model
from mercato.protocols.roles import Role

if TYPE_CHECKING:
    from mercato.agents.agent import AgentContext
    from mercato.chain.contract import Event

logger = logging.getLogger(__name__)


def plan_buyer(options: Mapping[str, Any]) -> RolePlan:
    """The buyer of the requests posted from this state folder."""
    return RolePlan("buyer", Role.CLIENT, _attach_buyer)


def plan_seller(options: Mapping[str, Any]) -> RolePlan:
    """A seller of the model in ``--model``, read and checked now."""
    path = options.get("model")
    if path is None:
        raise InputError("a seller agent offers a model: --model FILE (.skops or .safetensors)")
    offered = read_seller_model(Path(path))
    if offered.features is None:
        raise InputError(f"{offered.path}: the model does not say how many features it takes")
    return RolePlan("seller", Role.MODEL_OWNER, lambda setup: _attach_seller(setup, offered))


def plan_executor(options: Mapping[str, Any]) -> RolePlan:
    """An executor: honest, or lazy with ``--lazy``."""
    lazy = bool(options.get("lazy"))

    def attach(setup: AgentSetup) -> str:
        agents.attach_executor(setup.agent, setup.market, setup.me, lazy=lazy)
        _adopt(setup, "vote")
        return " (lazy: volunteers, never benchmarks)" if lazy else ""

    return RolePlan("executor", Role.COMPUTE_PROVIDER, attach)


# the buyer -------------------------------------------------------------------------------
def _attach_buyer(setup: AgentSetup) -> str:
    agent = setup.agent
    results = setup.folder / agent.name
    agents.attach_buyer(agent, setup.market, setup.me, results)
    refused: set[int] = set()
    # before the first step, so that the events of a request posted meanwhile find its tests
    followed = follow_posted(setup, refused)

    @agent.every_tick
    def follow_new(ctx: AgentContext) -> None:
        follow_posted(setup, refused)

    return (
        f" following {followed} request(s) posted from {setup.folder}; models bought go to "
        f"{results}"
    )


def follow_posted(setup: AgentSetup, refused: set[int]) -> int:
    """Tell the buyer's agent about each request whose test set ``modelmarket post`` kept in
    the state folder, and catch up on the steps it may have missed (the sample's reveal,
    the groups' seal); how many it follows now. A test set that is not the request's, or a
    request of another buyer, is logged once and added to ``refused``."""
    from mercato.protocols.modelmarket.state_files import kept_requests, read_test_set, test_path

    agent, market, me = setup.agent, setup.market, setup.me
    mm = market.model_market
    state = agent.context.state
    new = 0
    for request_id in kept_requests(setup.folder):
        if request_id in refused or f"{agents.TEST_KEY}{request_id}" in state:
            continue
        path = test_path(setup.folder, request_id)
        problem = None if request_id <= mm.count() else f"no request {request_id} on this market"
        test_set = read_test_set(setup.folder, request_id) if problem is None else None
        if problem is None and test_set is not None:
            request = mm.request(request_id)
            problem = rules.buyer_problem(request, me.address, "buy with") or (
                rules.test_file_problem(request, test_set.root, str(path))
            )
        if problem is not None or test_set is None:
            logger.warning("%s: not following request %d: %s", agent.name, request_id, problem)
            refused.add(request_id)
            continue
        agents.follow_request(agent.context, request_id, test_set)
        try:
            buyer.reveal_sample(market, me, request_id, test_set)
            buyer.seal_test(market, me, request_id, test_set)
        except MercatoError as exc:  # a deadline passed meanwhile: the keeper moves it on
            logger.info("request %d: %s", request_id, exc)
        new += 1
    return new


# the seller and the executor -------------------------------------------------------------
def _attach_seller(setup: AgentSetup, offered: SellerModel) -> str:
    def model_for(event: Event) -> tuple[bytes, bytes | None]:
        return offered.data, None

    assert offered.features is not None  # plan_seller: refused otherwise
    agents.attach_seller(setup.agent, setup.market, setup.me, offered.features, model_for)
    _adopt(setup, "offer")
    return (
        f" offering {offered.path} ({offered.kind}, {offered.features} features, "
        f"{len(offered.data)} bytes) to every request it fits"
    )


def _adopt(setup: AgentSetup, kind: str) -> None:
    """Take over, once per step, what the commands kept in the state folder for this
    account: the offers of ``submit`` (``kind`` ``offer``) or the votes of ``benchmark``
    (``vote``), so the agent seals, reveals its key or reveals its scores for them. A file
    that does not match the chain (another deployment's) is logged once and left alone."""
    from mercato.crypto.commit import keccak
    from mercato.protocols.modelmarket.market import score_commitment
    from mercato.protocols.modelmarket.state_files import kept_files, read_offer, read_vote

    agent, market, me = setup.agent, setup.market, setup.me
    mm = market.model_market
    prefix = agents.OFFER_KEY if kind == "offer" else agents.VOTE_KEY
    deadlines = agents.request_deadlines(market, me)
    refused: set[int] = set()

    def kept(request_id: int) -> dict[str, object] | None:
        """The file's record if it belongs to this request on this market, else None."""
        if kind == "offer":
            offer = read_offer(setup.folder, request_id, me.address)
            if offer is None or offer.index >= mm.request(request_id).sellers:
                return None
            submission = mm.submission(request_id, offer.index)
            mine = submission.seller.lower() == me.address.lower()
            return offer.to_record() if mine and submission.key_hash == keccak(offer.key) else None
        vote = read_vote(setup.folder, request_id, me.address)
        if vote is None:
            return None
        commitment = score_commitment(
            request_id, me.address, vote.scores, vote.flags, vote.report_hash, vote.salt
        )
        committed = mm.events("ScoresCommitted", request_id=request_id, executor=me.address)
        return (
            vote.to_record()
            if [bytes(e["commitment"]) for e in committed] == [commitment]
            else None
        )

    def adopt(ctx: AgentContext) -> None:
        for request_id in kept_files(setup.folder, kind, me.address):
            if request_id in refused or f"{prefix}{request_id}" in ctx.state:
                continue
            record = kept(request_id) if request_id <= mm.count() else None
            if record is None:
                logger.warning(
                    "%s: the %s kept for request %d is not this market's; left alone",
                    agent.name, kind, request_id,
                )  # fmt: skip
                refused.add(request_id)
                continue
            ctx.state.put(f"{prefix}{request_id}", record)
            deadlines.follow(ctx, request_id)

    adopt(agent.context)
    agent.every_tick(adopt)
