"""``mercato agent run``: one participant's agent as its own process against a node.

Each process runs one agent over the deployment and blob store named in the settings, with
its cursor and state in a SQLite file under ``--state-dir``; restarted with the same name it
resumes where it stopped. The roles:

- P1, procurement auctions: ``client``, ``provider`` (of one ``--category``), ``arbiter``;
- P2, collaborative training: ``data-owner`` (verifies joins, approves requests; it rebuilds
  each dataset's private listing from the split plan ``mercato training dataset offer``
  recorded in the same ``--state-dir``), ``compute-provider`` (joins, trains each drawn
  job) and ``model-owner`` (runs the rounds, reviews every job, reports fraud, completes);
- P3, the secure data market: ``market-model-owner`` (aggregates every round of its tasks;
  fine-tunes the private head of each task ``mercato datamarket post`` recorded in the same
  ``--state-dir`` once it is over) and ``market-data-owner`` (joins the tasks that want its
  part ``--part`` of the cut of ``--dataset`` for ``--data-owners`` with ``--seed``, posts
  what each phase asks; ``--poison`` makes it an attacker, for demonstrations). Both move
  tasks past deadlines and withdraw what they earn.

The client (P1) and the model owner (P2) evaluate on the held-out part of a deterministic
split of a sample dataset; a data owner selling the same dataset sells the other part, so
the two never overlap. In P3 the cut of :func:`~mercato.ml.federated_sim.market_data` keeps
the model owner's slice, its test split and the data owners' parts apart.
"""

from __future__ import annotations

import difflib
import json
import logging
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, NamedTuple, cast

import typer

from mercato.agents.polling import DEFAULT_POLL_INTERVAL, MAX_POLL_INTERVAL
from mercato.cli.common import (
    AccountOption,
    KeystoreOption,
    RpcUrlOption,
    console,
    context,
    format_ether,
    identity,
    parse_amount,
)
from mercato.errors import InputError, MercatoError, ProtocolError
from mercato.ontology.category import Category, parse_category
from mercato.protocols.auction.rules import CATEGORY_ROLES
from mercato.protocols.registry import require_role
from mercato.protocols.roles import Role

# The agent runtime, the chain, the protocols and the machine learning are imported by the
# code that uses them, so that `mercato --help` loads none of them.
if TYPE_CHECKING:
    from mercato.agents.agent import Agent, AgentContext
    from mercato.agents.store import AgentStore
    from mercato.chain.base import Chain
    from mercato.chain.contract import Event
    from mercato.chain.recording import RecordingChain
    from mercato.ml.datasets import Dataset
    from mercato.ml.families import HyperValue
    from mercato.protocols.auction.provider import Offer
    from mercato.protocols.datamarket.data_owner import Contribution
    from mercato.protocols.identity import Identity
    from mercato.protocols.marketplace import Marketplace

app = typer.Typer(help="Run a participant's agent against a node.", no_args_is_help=True)

logger = logging.getLogger(__name__)

AGENT_ROLES: dict[str, Role | None] = {
    "client": Role.CLIENT,
    "provider": None,  # the role follows from --category
    "arbiter": Role.ARBITER,
    "data-owner": Role.DATA_OWNER,
    "compute-provider": Role.COMPUTE_PROVIDER,
    "model-owner": Role.MODEL_OWNER,
    "market-model-owner": Role.MODEL_OWNER,
    "market-data-owner": Role.DATA_OWNER,
}
TRAINING_ROLES = ("data-owner", "compute-provider", "model-owner")
"""The roles of P2 (the training market)."""
MARKET_ROLES = ("market-model-owner", "market-data-owner")
"""The roles of P3 (the data market); the others are P1's (the auction house)."""
DEFAULT_COMPUTE_CLASS = "mc:SoftwareAttestedCompute"
"""What Mercato's executor offers: training behind a software-signed execution report."""
MAX_ONCE_ROUNDS = 100
"""Steps ``--once`` allows before it reports the agent still busy."""
LOG_LEVELS = ("debug", "info", "warning", "error")

ParamOption = typer.Option(
    None, "--param", help="Algorithm provider: hyper-parameter KEY=VALUE (repeat)."
)
StateDirOption = typer.Option(
    None, "--state-dir", help="Folder of the agent's SQLite state (default: settings)."
)


class MarketCut(NamedTuple):
    """The cut of a sample dataset a P3 agent serves (see :func:`.datamarket_view.market_cut`)."""

    dataset: str
    data_owners: int
    seed: int


# building an offer --------------------------------------------------------------------
def parse_params(items: list[str]) -> dict[str, HyperValue]:
    """Hyper-parameters from ``KEY=VALUE`` items; values are JSON where they parse as JSON."""
    params: dict[str, HyperValue] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise InputError(f"--param '{item}' is not KEY=VALUE (e.g. --param C=0.5)")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        params[key.strip()] = tuple(value) if isinstance(value, list) else value
    return params


def build_offer(
    category: Category,
    *,
    asset_class: str | None,
    floor: int,
    dataset: str | None,
    algorithm: str | None,
    params: dict[str, HyperValue],
) -> Offer:
    """What a provider of ``category`` sells, checked against the ontology."""
    from mercato.ontology.match import load_ontology
    from mercato.ontology.requirements import AssetOffer
    from mercato.protocols.auction.provider import Offer

    needs = {
        Category.DATA: "--dataset",
        Category.ALGORITHM: "--algorithm",
        Category.INFRASTRUCTURE: None,
    }
    for option, given in (("--dataset", dataset), ("--algorithm", algorithm)):
        if given is not None and needs[category] != option:
            raise InputError(f"{option} does not apply to a {category.label} provider")
    if params and category is not Category.ALGORITHM:
        raise InputError("--param sets an algorithm's hyper-parameters: use it with --algorithm")
    if category is Category.DATA:
        if dataset is None:
            raise InputError("a data provider sells a dataset: pass --dataset NAME")
        from mercato.ml.datasets import seller_and_buyer_parts

        sold, _ = seller_and_buyer_parts(dataset)
        claimed = sold.ontology_class
        if asset_class is not None:
            claimed = AssetOffer(category, asset_class, dataset).asset_class
            if not load_ontology().is_subclass(sold.ontology_class, claimed):
                raise InputError(
                    f"--asset-class {claimed} does not describe dataset {dataset!r}, which is "
                    f"{sold.ontology_class}"
                )
        return Offer(category, claimed, floor, sold.to_bytes())
    if category is Category.ALGORITHM:
        if algorithm is None:
            raise InputError("an algorithm provider sells an algorithm: pass --algorithm FAMILY")
        from mercato.ml.algorithms import AlgorithmSpec

        spec = AlgorithmSpec(algorithm, ontology_class=asset_class or "", hyperparameters=params)
        return Offer(category, spec.ontology_class, floor, spec.to_json_bytes())
    offer = AssetOffer(category, asset_class or DEFAULT_COMPUTE_CLASS, "compute")
    return Offer(category, offer.asset_class, floor)


def _parse_role(text: str) -> str:
    word = text.strip().lower()
    if word in AGENT_ROLES:
        return word
    close = difflib.get_close_matches(word, list(AGENT_ROLES), n=1)
    hint = f" Did you mean '{close[0]}'?" if close else ""
    raise InputError(f"unknown agent role '{text}'.{hint} Roles: {', '.join(AGENT_ROLES)}")


# running ------------------------------------------------------------------------------
@contextmanager
def _stop_on_signals(stop: threading.Event, name: str) -> Iterator[None]:
    """Set ``stop`` on SIGTERM or SIGINT while inside (the main thread only can catch them)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handle(signum: int, frame: FrameType | None) -> None:
        logger.info("%s: %s received, stopping", name, signal.Signals(signum).name)
        stop.set()

    previous = {s: signal.signal(s, handle) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _configure_logging(ctx: typer.Context, level: str) -> None:
    """Log Mercato's records at ``level`` for this command (restored when it ends)."""
    if level not in LOG_LEVELS:
        raise InputError(f"--log-level must be one of {', '.join(LOG_LEVELS)}, got '{level}'")
    if not logging.getLogger().handlers:
        logging.basicConfig(format="%(levelname)s %(name)s: %(message)s")
    package = logging.getLogger("mercato")
    previous = package.level
    package.setLevel(level.upper())
    ctx.call_on_close(lambda: package.setLevel(previous))


class _TxLog:
    """Logs each transaction the agent sent since the last call, by function name."""

    def __init__(self, name: str, recording: RecordingChain, market: Marketplace) -> None:
        self._name = name
        self._recording = recording
        self._seen = 0
        contracts = (
            market.auction_house.contract,
            market.training_market.contract,
            market.data_market.contract,
            market.registry.contract,
        )
        self._functions = {f.selector: f.name for c in contracts for f in c.abi.functions.values()}

    def flush(self) -> int:
        records = self._recording.records[self._seen :]
        self._seen += len(records)
        for record in records:
            function = self._functions.get(record.selector, record.selector.hex())
            logger.info("%s: sent %s (gas %d)", self._name, function, record.gas_used)
        return len(records)


def _run_once(agent: Agent, txlog: _TxLog, stop: threading.Event) -> tuple[int, int]:
    """Step until a step handles nothing, sends nothing and reads to the head; (steps, events)."""
    events = 0
    for steps in range(1, MAX_ONCE_ROUNDS + 1):
        head = agent.chain.block_number()
        handled = agent.step()
        events += handled
        sent = txlog.flush()
        if stop.is_set():
            return steps, events
        if handled == 0 and sent == 0 and agent.caught_up and agent.chain.block_number() == head:
            return steps, events
    logger.warning("%s: still busy after %d steps", agent.name, MAX_ONCE_ROUNDS)
    return MAX_ONCE_ROUNDS, events


def _attach_training(
    agent: Agent,
    kind: str,
    market: Marketplace,
    me: Identity,
    folder: Path,
    evaluation: Dataset | None,
    lazy: bool,
) -> str:
    """Attach the P2 handlers of ``kind``; returns what the agent does, for the log."""
    from mercato.cli.listings import ListingBook, plan_file, read_plans
    from mercato.protocols.training import agents, compute
    from mercato.protocols.training.scenario import lazy_worker

    if kind == "data-owner":
        plans = read_plans(folder, me.address)  # a malformed file is refused now
        agents.attach_data_owner(agent, market, me, ListingBook(market, me, folder))
        return f" with {len(plans)} split plan(s) in {plan_file(folder, me.address)}"
    if kind == "compute-provider":
        agents.attach_compute(agent, market, me, lazy_worker if lazy else compute.honest_worker)
        return " (lazy: returns models untrained)" if lazy else ""
    assert evaluation is not None
    agents.attach_model_owner(agent, market, me, evaluation)
    return f" measuring rounds on {evaluation.name} ({len(evaluation.y)} examples)"


def _follow_heads(
    agent: Agent, market: Marketplace, me: Identity, folder: Path, cut: MarketCut, refused: set[int]
) -> int:
    """Tell the MO agent about each task whose private head ``datamarket post`` recorded in
    ``folder`` for this market; how many it follows now. A head of another cut or another
    deployment is logged once and added to ``refused``."""
    from mercato.cli.datamarket_view import read_heads, task_of
    from mercato.ml.trainers.weights import weights_from_bytes
    from mercato.protocols.datamarket import agents, history
    from mercato.protocols.datamarket.model_owner import OwnerModel, final_public
    from mercato.storage.base import hash_hex

    state = agent.context.state
    new = 0
    for key, head in read_heads(folder, me.address).items():
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


def _market_plan(
    kind: str,
    dataset: str | None,
    data_owners: int | None,
    part: int | None,
    seed: int | None,
    poison: str | None,
) -> tuple[MarketCut, Contribution | None]:
    """The cut a P3 agent serves and, for a data owner, what it contributes; checked before
    the chain is read."""
    from mercato.cli.datamarket import DEFAULT_SEED
    from mercato.cli.datamarket_view import market_cut
    from mercato.ml.poison import Poisoner
    from mercato.protocols.datamarket.data_owner import Contribution
    from mercato.protocols.datamarket.market import MAX_DATA_OWNERS, MIN_DATA_OWNERS

    if dataset is None:
        raise InputError(f"a {kind} agent needs the dataset the market's slices are cut from: "
                         "--dataset NAME")  # fmt: skip
    seed = DEFAULT_SEED if seed is None else seed
    if kind == "market-model-owner":
        # the MO's slice and test split do not depend on how many parts the DOs' share has
        cut = MarketCut(dataset, MIN_DATA_OWNERS, seed)
        market_cut(*cut)  # unknown dataset, bad seed
        return cut, None
    if part is None or data_owners is None:
        raise InputError(
            "a market-data-owner agent serves one part of a cut: --data-owners N --part K"
        )
    if not MIN_DATA_OWNERS <= data_owners <= MAX_DATA_OWNERS:
        raise InputError(
            f"--data-owners must be {MIN_DATA_OWNERS} to {MAX_DATA_OWNERS}, got {data_owners}"
        )
    if not 0 <= part < data_owners:
        raise InputError(f"--part must be 0 to {data_owners - 1}, got {part}")
    cut = MarketCut(dataset, data_owners, seed)
    data = market_cut(*cut)
    return cut, Contribution(data.parts[part], None if poison is None else Poisoner(poison))


def _attach_market(
    agent: Agent,
    market: Marketplace,
    me: Identity,
    folder: Path,
    cut: MarketCut,
    contribution: Contribution | None,
) -> str:
    """Attach the P3 handlers: a data owner's if ``contribution`` is given, else the model
    owner's; returns what the agent does, for the log."""
    from mercato.cli.datamarket_view import heads_file, market_cut
    from mercato.protocols.datamarket import agents, data_owner

    if contribution is None:
        data = market_cut(*cut)
        agents.attach_model_owner(agent, market, me, data.mo, data.test)
        refused: set[int] = set()
        # before the first step, so that a task finished meanwhile is fine-tuned on replay
        followed = _follow_heads(agent, market, me, folder, cut, refused)
        reported: set[str] = set()

        @agent.every_tick
        def follow_new_heads(ctx: AgentContext) -> None:
            _follow_heads(agent, market, me, folder, cut, refused)
            for key in ctx.state.keys(agents.ACCURACY_KEY):
                if key not in reported:
                    reported.add(key)
                    logger.info(
                        "%s: task %s: private head fine-tuned, %.1f%% right on the test split",
                        agent.name, key.removeprefix(agents.ACCURACY_KEY),
                        100 * float(ctx.state.get(key)),
                    )  # fmt: skip

        return f" following {followed} task(s) from {heads_file(folder, me.address)}"

    def same_cut(event: Event) -> bool:
        """Join only tasks whose cut gave this agent its part (same DO count and seed)."""
        if int(event["data_owners"]) != cut.data_owners:
            return False
        try:
            return data_owner.load_spec(market, int(event["task_id"])).seed == cut.seed
        except MercatoError as exc:
            logger.info("task %d not joined: %s", event["task_id"], exc)
            return False

    agents.attach_data_owner(agent, market, me, contribution, same_cut)
    part = contribution.data
    what = (
        f" with {part.name} ({len(part.y)} examples, seed {cut.seed}), joining tasks for "
        f"{cut.data_owners} data owners"
    )
    poisoner = contribution.poisoner
    if poisoner is not None:
        what += f" [ATTACK: poisons its updates with {poisoner.kind}, factor {poisoner.factor:g}]"
    return what


def _given_up(store: AgentStore, name: str) -> set[tuple[str, str, int]]:
    from mercato.agents.store import HandlerStatus

    return {
        (f.handler, f.tx_hash, f.log_index)
        for f in store.failures(name)
        if f.status is HandlerStatus.FAILED
    }


@app.command("run")
def run(
    ctx: typer.Context,
    role: str = typer.Option(
        ...,
        "--role",
        help="P1: client, provider or arbiter; P2: data-owner, compute-provider or "
        "model-owner; P3: market-model-owner or market-data-owner.",
    ),
    category: str = typer.Option(
        None, "--category", help="Provider: data, algorithm or infrastructure."
    ),
    asset_class: str = typer.Option(
        None,
        "--asset-class",
        help="Provider: ontology class of the asset (mc:...); default: the asset's own, "
        f"{DEFAULT_COMPUTE_CLASS} for compute.",
    ),
    floor: str = typer.Option(None, "--floor", help="Provider: lowest price to bid (default 0)."),
    dataset: str = typer.Option(
        None,
        "--dataset",
        help="Data provider: the dataset sold; model owner: the dataset whose held-out part "
        "measures each round; P3: the dataset cut into the market's slices (digits, "
        "breast_cancer, wine or iris).",
    ),
    part: int = typer.Option(
        None,
        "--part",
        min=0,
        help="Market data owner: its part of the cut, 0 to --data-owners - 1.",
    ),
    data_owners: int = typer.Option(
        None,
        "--data-owners",
        help="Market data owner: the cut's number of parts; it joins tasks for that many data "
        "owners.",
    ),
    seed: int = typer.Option(
        None, "--seed", help="P3: seed of the cut; tasks posted with it are served (default 0)."
    ),
    poison: str = typer.Option(
        None,
        "--poison",
        help="Market data owner, demonstrations only: ATTACK the tasks it joins by poisoning "
        "its updates (scale, noise or label_flip), to see robust aggregation exclude it.",
    ),
    algorithm: str = typer.Option(
        None,
        "--algorithm",
        help="Algorithm provider: logistic_regression, random_forest, gradient_boosting, "
        "mlp or svm.",
    ),
    params: list[str] = ParamOption,
    eval_dataset: str = typer.Option(
        None, "--eval-dataset", help="Client: dataset whose held-out part measures deliveries."
    ),
    lazy: bool = typer.Option(
        False,
        "--lazy",
        help="Compute provider (demo adversary): return each round's model untrained, to see "
        "the model owner's replica consensus outvote and report it.",
    ),
    name: str = typer.Option(None, "--name", help="Agent name (keys its state and cursor)."),
    state_dir: Path = StateDirOption,
    interval: float = typer.Option(
        DEFAULT_POLL_INTERVAL, "--interval", help="Seconds between polls once caught up."
    ),
    once: bool = typer.Option(False, "--once", help="Step until idle, then exit."),
    log_level: str = typer.Option("info", "--log-level", help="debug, info, warning, error."),
    rpc_url: str = RpcUrlOption,
    account: int = AccountOption,
    keystore: Path = KeystoreOption,
) -> None:
    """Run one agent until SIGTERM/SIGINT (or, with --once, until it has nothing to do)."""
    from mercato.agents.agent import Agent
    from mercato.agents.store import AgentStore
    from mercato.chain.recording import RecordingChain
    from mercato.protocols.auction.agents import attach_arbiter, attach_client, attach_provider
    from mercato.protocols.marketplace import Marketplace

    _configure_logging(ctx, log_level)
    kind = _parse_role(role)
    if not 0 < interval <= MAX_POLL_INTERVAL:
        raise InputError(f"--interval must be above 0 and at most {MAX_POLL_INTERVAL} s")
    provider_options = {
        "--category": category,
        "--asset-class": asset_class,
        "--dataset": None if kind in ("model-owner", *MARKET_ROLES) else dataset,
        "--algorithm": algorithm,
        "--param": params or None,
        "--floor": floor,
    }
    if kind != "provider":
        extra = [option for option, value in provider_options.items() if value is not None]
        if extra:
            raise InputError(f"{extra[0]} is a provider option; this agent is a {kind}")
    if kind != "client" and eval_dataset is not None:
        raise InputError("--eval-dataset is a client option")
    if kind != "compute-provider" and lazy:
        raise InputError("--lazy is a compute-provider option")
    market_options = {"--part": part, "--data-owners": data_owners, "--poison": poison}
    if kind != "market-data-owner":
        extra = [option for option, value in market_options.items() if value is not None]
        if extra:
            raise InputError(f"{extra[0]} is a market-data-owner option; this agent is a {kind}")
    if kind not in MARKET_ROLES and seed is not None:
        raise InputError("--seed is an option of the P3 agents (market-*)")

    offer: Offer | None = None
    evaluation: Dataset | None = None
    cut: MarketCut | None = None
    contribution: Contribution | None = None
    needed = AGENT_ROLES[kind]
    label = kind
    if kind == "provider":
        if category is None:
            raise InputError("a provider agent needs --category (data, algorithm, infrastructure)")
        sells = parse_category(category)
        offer = build_offer(
            sells,
            asset_class=asset_class,
            floor=parse_amount(floor or "0"),
            dataset=dataset,
            algorithm=algorithm,
            params=parse_params(params or []),
        )
        needed = CATEGORY_ROLES[sells]
        label = f"{sells.label}-provider"
    elif kind == "client":
        if eval_dataset is None:
            raise InputError("a client agent measures deliveries on its own data: --eval-dataset")
        from mercato.ml.datasets import seller_and_buyer_parts

        _, evaluation = seller_and_buyer_parts(eval_dataset)
    elif kind == "model-owner":
        if dataset is None:
            raise InputError(
                "a model-owner agent measures each round on its own data: --dataset NAME"
            )
        from mercato.ml.datasets import seller_and_buyer_parts

        _, evaluation = seller_and_buyer_parts(dataset)
    elif kind in MARKET_ROLES:
        cut, contribution = _market_plan(kind, dataset, data_owners, part, seed, poison)
    assert needed is not None

    me = identity(account, keystore)
    run_context = context(ctx)
    plain = run_context.market(rpc_url)
    recording = RecordingChain(plain.chain)
    # RecordingChain is a Chain in all but mypy's eyes (read-only backend/chain_id properties)
    chain = cast("Chain", recording)
    market = Marketplace(chain, plain.deployment, plain.store)
    require_role(market, me.address, needed, f"a {label} agent")
    agent_name = name or f"{label}-{me.address[2:10].lower()}"
    folder = state_dir or run_context.settings.agent_dir
    folder.mkdir(parents=True, exist_ok=True)
    state_file = folder / f"{agent_name}.sqlite"

    stop = threading.Event()
    try:
        with AgentStore(state_file) as store, _stop_on_signals(stop, agent_name):
            watched = (
                market.training_market.contract
                if kind in TRAINING_ROLES
                else market.data_market.contract
                if kind in MARKET_ROLES
                else market.auction_house.contract
            )
            agent = Agent(
                agent_name,
                chain,
                [watched],
                store,
                start_block=market.deployment.block,
            )
            what = ""
            if kind in TRAINING_ROLES:
                what = _attach_training(agent, kind, market, me, folder, evaluation, lazy)
            elif cut is not None:
                what = _attach_market(agent, market, me, folder, cut, contribution)
            elif offer is not None:
                attach_provider(agent, market, me, offer)
                what = f" selling {offer.asset_class} from {format_ether(offer.floor)}"
            elif evaluation is not None:
                attach_client(agent, market, me, evaluation)
            else:
                attach_arbiter(agent, market, me)
            logger.info(
                "%s: %s agent of %s%s; state %s; from block %d",
                agent_name, label, me.address, what, state_file, agent.cursor,
            )  # fmt: skip
            before = _given_up(store, agent_name)
            txlog = _TxLog(agent_name, recording, market)
            if once:
                steps, events = _run_once(agent, txlog, stop)
                console.print(
                    f"{agent_name}: idle after {steps} step(s), {events} event(s) handled, "
                    f"{len(recording.records)} transaction(s) sent; next block {agent.cursor}",
                    soft_wrap=True,
                )
            else:
                agent.run(stop, interval, after_step=txlog.flush)
            new = _given_up(store, agent_name) - before
    finally:
        recording.close()
    if new:
        raise ProtocolError(
            f"{agent_name} gave up on {len(new)} event(s); see the log above and "
            f"AgentStore.failures in {state_file}"
        )
