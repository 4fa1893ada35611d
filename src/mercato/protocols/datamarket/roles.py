"""P3's agent roles as ``mercato agent run`` plans them: the data market's model and data
owners.

- ``market-model-owner`` aggregates every round of its tasks, logging whom it excluded and
  the accuracy of each new public model on its held-out rows; once a task is over it
  fine-tunes the private head that ``mercato datamarket post`` recorded in the agent's state
  folder and writes the final model there (``task-<id>/final.skops`` and its metrics). Its
  own rows are the cut of ``--dataset`` with ``--seed``, or its own file ``--data`` (with
  ``--label`` or ``--schema``) split with ``--seed``: it follows the tasks posted with the
  same;
- ``market-data-owner`` joins with its own file ``--data`` (used whole) every task that
  wants its data and whose model takes it, or with its part ``--part`` of the cut of
  ``--dataset`` for ``--data-owners`` with ``--seed`` the tasks of that cut; it posts what
  each phase asks and logs each update it submits and whether it was kept and paid.
  ``--poison`` makes it an attacker, for demonstrations.

Both move tasks past deadlines and withdraw what they earn. The cut of
:func:`~mercato.ml.federated_sim.market_data` keeps the model owner's slice, its test split
and the data owners' parts apart.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mercato.agents.roles import DATA_OPTIONS, AgentSetup, RolePlan
from mercato.errors import InputError, MercatoError
from mercato.ml.poison import Poisoner
from mercato.ml.trainers.weights import weights_from_bytes
from mercato.protocols.datamarket import agents, data_owner, history, rules
from mercato.protocols.datamarket.cut import DEFAULT_SEED, MarketCut, market_cut
from mercato.protocols.datamarket.data_owner import Contribution
from mercato.protocols.datamarket.market import MAX_DATA_OWNERS, MIN_DATA_OWNERS
from mercato.protocols.datamarket.model_owner import OwnerModel, final_public
from mercato.protocols.datamarket.owner_data import OwnerData, of_cut, of_file
from mercato.protocols.datamarket.state_files import OwnerHead, heads_file, read_heads, task_of
from mercato.protocols.roles import Role
from mercato.storage.base import hash_hex
from mercato.user_files import DataFile

if TYPE_CHECKING:
    from mercato.agents.agent import AgentContext
    from mercato.chain.contract import Event
    from mercato.ml.datasets import Dataset

logger = logging.getLogger(__name__)


def _source(role: str, options: Mapping[str, Any]) -> tuple[str, int]:
    """The dataset the market's slices are cut from, and the seed of the cut."""
    dataset = options.get("dataset")
    if dataset is None:
        raise InputError(
            f"a {role} agent needs its own data: --data FILE (with --label or --schema), or "
            "--dataset NAME, the sample set the market's slices are cut from"
        )
    return dataset, _seed(options)


def _seed(options: Mapping[str, Any]) -> int:
    seed = options.get("seed")
    return DEFAULT_SEED if seed is None else int(seed)


def _own_file(options: Mapping[str, Any]) -> tuple[DataFile, Dataset] | None:
    """The agent's own data file (``--data``), read and checked; None if not given."""
    path, label, schema = (options.get(name) for name in DATA_OPTIONS)
    if path is None:
        if label is not None or schema is not None:
            raise InputError("--label and --schema describe a data file: pass it with --data")
        return None
    if options.get("dataset") is not None:
        raise InputError("pass a sample dataset (--dataset) or a data file (--data), not both")
    return DataFile.read(path, label, schema)


@dataclass(frozen=True)
class OwnRows:
    """The MO agent's own rows, and where they come from: a cut's ``dataset`` or a file's
    data ``digest``, split with ``seed``."""

    data: OwnerData
    seed: int
    dataset: str | None = None
    digest: str | None = None

    def problem(self, head: OwnerHead) -> str | None:
        """Unless ``head`` was trained on these rows."""
        digest = None if head.data is None else head.data.digest
        if (head.dataset, digest, head.seed) == (self.dataset, self.digest, self.seed):
            return None
        return f"its head was trained on {head.source}, seed {head.seed}"


def plan_model_owner(options: Mapping[str, Any]) -> RolePlan:
    """The MO of the tasks it posted from this state folder with the same own data."""
    own = _own_file(options)
    if own is None:
        dataset, seed = _source("market-model-owner", options)
        rows = OwnRows(of_cut(dataset, seed), seed, dataset=dataset)  # unknown dataset, bad seed
    else:
        record, data = own
        seed = _seed(options)
        rows = OwnRows(of_file(data, seed), seed, digest=record.digest)
    return RolePlan("market-model-owner", Role.MODEL_OWNER, lambda setup: _attach_mo(setup, rows))


def plan_data_owner(options: Mapping[str, Any]) -> RolePlan:
    """A DO serving its own file (``--data``) or one part of a cut (``--data-owners N
    --part K``), maybe poisoning it."""
    own = _own_file(options)
    data_owners, part, poison = (options.get(k) for k in ("data_owners", "part", "poison"))
    poisoner = None if poison is None else Poisoner(poison)
    if own is not None:
        if part is not None or data_owners is not None:
            raise InputError(
                "--part and --data-owners choose a part of a sample set's cut; your own file "
                "(--data) is used whole"
            )
        contribution = Contribution(own[1], poisoner)
        return RolePlan(
            "market-data-owner",
            Role.DATA_OWNER,
            lambda setup: _attach_do_file(setup, own[0], contribution),
        )
    dataset, seed = _source("market-data-owner", options)
    if part is None or data_owners is None:
        raise InputError(
            "a market-data-owner agent serves one part of a cut: --data-owners N --part K "
            "(or its own file: --data FILE)"
        )
    problem = rules.range_problem(
        data_owners, MIN_DATA_OWNERS, MAX_DATA_OWNERS, "--data-owners"
    ) or rules.part_problem(part, data_owners)
    if problem:
        raise InputError(problem)
    cut = MarketCut(dataset, data_owners, seed)
    data = market_cut(*cut)
    contribution = Contribution(data.parts[part], poisoner)
    return RolePlan(
        "market-data-owner", Role.DATA_OWNER, lambda setup: _attach_do(setup, cut, contribution)
    )


def _attach_mo(setup: AgentSetup, rows: OwnRows) -> str:
    agent = setup.agent
    agents.attach_model_owner(
        agent, setup.market, setup.me, rows.data.train, rows.data.test, setup.folder
    )
    refused: set[int] = set()
    # before the first step, so that a task finished meanwhile is fine-tuned on replay
    followed = follow_heads(setup, rows, refused)

    @agent.every_tick
    def follow_new_heads(ctx: AgentContext) -> None:
        follow_heads(setup, rows, refused)

    return f" following {followed} task(s) from {heads_file(setup.folder, setup.me.address)}"


def follow_heads(setup: AgentSetup, rows: OwnRows, refused: set[int]) -> int:
    """Tell the MO agent about each task whose private head ``datamarket post`` recorded in
    the state folder for this market; how many it follows now. A head of other rows or
    another deployment is logged once and added to ``refused``."""
    agent, market = setup.agent, setup.market
    state = agent.context.state
    new = 0
    for key, head in read_heads(setup.folder, setup.me.address).items():
        task_id = task_of(market, key)
        if task_id is None or task_id in refused or f"{agents.PRIVATE_KEY}{task_id}" in state:
            continue
        problem = rows.problem(head)
        if problem is None and (
            hash_hex(history.posted(market.data_market, task_id)["model_hash"]) != head.model_hash
        ):
            problem = "its head belongs to another deployment at the same address"
        if problem:
            logger.warning("%s: not following task %d: %s", agent.name, task_id, problem)
            refused.add(task_id)
            continue
        private = weights_from_bytes(bytes.fromhex(head.pretrained))
        agents.follow_task(
            agent.context,
            task_id,
            OwnerModel(final_public(market, task_id), private),
            head.accuracy_before,
        )
        new += 1
    return new


def _attach_do_file(setup: AgentSetup, record: DataFile, contribution: Contribution) -> str:
    agents.attach_data_owner(setup.agent, setup.market, setup.me, contribution)
    what = (
        f" with its own file {record.path} ({len(contribution.data.y)} rows, data "
        f"{record.digest[:10]}..), joining the tasks that want it and whose model takes it"
    )
    return what + _attack(contribution)


def _attack(contribution: Contribution) -> str:
    poisoner = contribution.poisoner
    if poisoner is None:
        return ""
    return f" [ATTACK: poisons its updates with {poisoner.kind}, factor {poisoner.factor:g}]"


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
    return what + _attack(contribution)
