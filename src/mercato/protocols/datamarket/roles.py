"""P3's agent roles as ``mercato agent run`` plans them: the data market's model and data
owners.

- ``market-model-owner`` aggregates every round of its tasks, and fine-tunes the private head
  of each task ``mercato datamarket post`` recorded in the agent's state folder once it is
  over;
- ``market-data-owner`` joins the tasks that want its part ``--part`` of the cut of
  ``--dataset`` for ``--data-owners`` with ``--seed``, and posts what each phase asks;
  ``--poison`` makes it an attacker, for demonstrations.

Both move tasks past deadlines and withdraw what they earn. The cut of
:func:`~mercato.ml.federated_sim.market_data` keeps the model owner's slice, its test split
and the data owners' parts apart.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from mercato.agents.roles import AgentSetup, RolePlan
from mercato.errors import InputError, MercatoError
from mercato.ml.poison import Poisoner
from mercato.ml.trainers.weights import weights_from_bytes
from mercato.protocols.datamarket import agents, data_owner, history, rules
from mercato.protocols.datamarket.cut import DEFAULT_SEED, MarketCut, market_cut
from mercato.protocols.datamarket.data_owner import Contribution
from mercato.protocols.datamarket.market import MAX_DATA_OWNERS, MIN_DATA_OWNERS
from mercato.protocols.datamarket.model_owner import OwnerModel, final_public
from mercato.protocols.datamarket.state_files import heads_file, read_heads, task_of
from mercato.protocols.roles import Role
from mercato.storage.base import hash_hex

if TYPE_CHECKING:
    from mercato.agents.agent import AgentContext
    from mercato.chain.contract import Event

logger = logging.getLogger(__name__)


def _source(role: str, options: Mapping[str, Any]) -> tuple[str, int]:
    """The dataset the market's slices are cut from, and the seed of the cut."""
    dataset, seed = options.get("dataset"), options.get("seed")
    if dataset is None:
        raise InputError(f"a {role} agent needs the dataset the market's slices are cut from: "
                         "--dataset NAME")  # fmt: skip
    return dataset, DEFAULT_SEED if seed is None else seed


def plan_model_owner(options: Mapping[str, Any]) -> RolePlan:
    """The MO of the tasks it posted from this state folder."""
    dataset, seed = _source("market-model-owner", options)
    # the MO's slice and test split do not depend on how many parts the DOs' share has
    cut = MarketCut(dataset, MIN_DATA_OWNERS, seed)
    market_cut(*cut)  # unknown dataset, bad seed
    return RolePlan("market-model-owner", Role.MODEL_OWNER, lambda setup: _attach_mo(setup, cut))


def plan_data_owner(options: Mapping[str, Any]) -> RolePlan:
    """A DO serving one part of a cut (``--data-owners N --part K``), maybe poisoning it."""
    dataset, seed = _source("market-data-owner", options)
    data_owners, part, poison = (options.get(k) for k in ("data_owners", "part", "poison"))
    if part is None or data_owners is None:
        raise InputError(
            "a market-data-owner agent serves one part of a cut: --data-owners N --part K"
        )
    problem = rules.range_problem(
        data_owners, MIN_DATA_OWNERS, MAX_DATA_OWNERS, "--data-owners"
    ) or rules.part_problem(part, data_owners)
    if problem:
        raise InputError(problem)
    cut = MarketCut(dataset, data_owners, seed)
    data = market_cut(*cut)
    contribution = Contribution(data.parts[part], None if poison is None else Poisoner(poison))
    return RolePlan(
        "market-data-owner", Role.DATA_OWNER, lambda setup: _attach_do(setup, cut, contribution)
    )


def _attach_mo(setup: AgentSetup, cut: MarketCut) -> str:
    agent = setup.agent
    data = market_cut(*cut)
    agents.attach_model_owner(agent, setup.market, setup.me, data.mo, data.test)
    refused: set[int] = set()
    # before the first step, so that a task finished meanwhile is fine-tuned on replay
    followed = follow_heads(setup, cut, refused)
    reported: set[str] = set()

    @agent.every_tick
    def follow_new_heads(ctx: AgentContext) -> None:
        follow_heads(setup, cut, refused)
        for key in ctx.state.keys(agents.ACCURACY_KEY):
            if key not in reported:
                reported.add(key)
                logger.info(
                    "%s: task %s: private head fine-tuned, %.1f%% right on the test split",
                    agent.name, key.removeprefix(agents.ACCURACY_KEY),
                    100 * float(ctx.state.get(key)),
                )  # fmt: skip

    return f" following {followed} task(s) from {heads_file(setup.folder, setup.me.address)}"


def follow_heads(setup: AgentSetup, cut: MarketCut, refused: set[int]) -> int:
    """Tell the MO agent about each task whose private head ``datamarket post`` recorded in
    the state folder for this market; how many it follows now. A head of another cut or
    another deployment is logged once and added to ``refused``."""
    agent, market = setup.agent, setup.market
    state = agent.context.state
    new = 0
    for key, head in read_heads(setup.folder, setup.me.address).items():
        task_id = task_of(market, key)
        if task_id is None or task_id in refused or f"{agents.PRIVATE_KEY}{task_id}" in state:
            continue
        problem = ""
        if (head.dataset, head.seed) != (cut.dataset, cut.seed):
            problem = f"its head was trained on the cut of {head.dataset}, seed {head.seed}"
        elif hash_hex(history.posted(market.data_market, task_id)["model_hash"]) != head.model_hash:
            problem = "its head belongs to another deployment at the same address"
        if problem:
            logger.warning("%s: not following task %d: %s", agent.name, task_id, problem)
            refused.add(task_id)
            continue
        private = weights_from_bytes(bytes.fromhex(head.pretrained))
        agents.follow_task(
            agent.context, task_id, OwnerModel(final_public(market, task_id), private)
        )
        new += 1
    return new


def _attach_do(setup: AgentSetup, cut: MarketCut, contribution: Contribution) -> str:
    market = setup.market

    def same_cut(event: Event) -> bool:
        """Join only tasks whose cut gave this agent its part (same DO count and seed)."""
        if int(event["data_owners"]) != cut.data_owners:
            return False
        try:
            return data_owner.load_spec(market, int(event["task_id"])).seed == cut.seed
        except MercatoError as exc:
            logger.info("task %d not joined: %s", event["task_id"], exc)
            return False

    agents.attach_data_owner(setup.agent, market, setup.me, contribution, same_cut)
    part = contribution.data
    what = (
        f" with {part.name} ({len(part.y)} examples, seed {cut.seed}), joining tasks for "
        f"{cut.data_owners} data owners"
    )
    poisoner = contribution.poisoner
    if poisoner is not None:
        what += f" [ATTACK: poisons its updates with {poisoner.kind}, factor {poisoner.factor:g}]"
    return what
