"""``mercato agent run``: one participant's agent as its own process against a node.

Each process runs one agent over the deployment and blob store named in the settings, with
its cursor and state in a SQLite file under ``--state-dir``; restarted with the same name it
resumes where it stopped. ``--role`` names one of the roles the protocols of the catalog
declare (:func:`mercato.protocols.catalog.roles`): the role's plan checks its options before
the chain is read, names the registry roles the account must hold and attaches the handlers
(see :mod:`mercato.agents.roles` and each protocol's ``roles`` module). An option that the
role does not take is refused.
"""

from __future__ import annotations

import difflib
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import typer

from mercato.agents.polling import DEFAULT_POLL_INTERVAL, MAX_POLL_INTERVAL
from mercato.cli import common
from mercato.cli.common import AccountOption, KeystoreOption, RpcUrlOption
from mercato.errors import InputError, ProtocolError
from mercato.protocols.catalog import roles, units
from mercato.protocols.registry import require_role
from mercato.protocols.unit import AgentRole, ProtocolUnit, resolve

# The agent runtime, the chain, the protocols and the machine learning are imported by the
# code that uses them, so that `mercato --help` loads none of them.
if TYPE_CHECKING:
    from mercato.agents.roles import RolePlan
    from mercato.chain.base import Chain

app = typer.Typer(help="Run a participant's agent against a node.", no_args_is_help=True)

logger = logging.getLogger(__name__)

LOG_LEVELS = ("debug", "info", "warning", "error")
ROLE_HELP = {
    "category": "Provider: data, algorithm or infrastructure.",
    "asset_class": "Provider: ontology class of the asset (mc:...); default: the asset's own, "
    "mc:SoftwareAttestedCompute for compute.",
    "floor": "Provider: lowest price to bid (default 0).",
    "dataset": "Data provider: the dataset sold; model owner: the dataset whose held-out part "
    "measures each round; P3: the dataset cut into the market's slices (digits, breast_cancer, "
    "wine or iris).",
    "data": "Instead of --dataset: your own data file (CSV, Parquet or .npz), used whole: the "
    "rows a seller sells, or the held-out rows a buyer measures with.",
    "label": "With --data: the label column (the schema is inferred from the file).",
    "schema": "With --data: its schema file (`mercato data schema` writes one).",
    "part": "Market data owner: its part of the cut, 0 to --data-owners - 1.",
    "data_owners": "Market data owner: the cut's number of parts; it joins tasks for that many "
    "data owners.",
    "seed": "P3: seed of the cut; tasks posted with it are served (default 0).",
    "poison": "Market data owner, demonstrations only: ATTACK the tasks it joins by poisoning its "
    "updates (scale, noise or label_flip), to see robust aggregation exclude it.",
    "algorithm": "Algorithm provider: logistic_regression, random_forest, gradient_boosting, mlp "
    "or svm.",
    "params": "Algorithm provider: hyper-parameter KEY=VALUE (repeat).",
    "eval_dataset": "Client: dataset whose held-out part measures deliveries.",
    "lazy": "Compute provider (demo adversary): return each round's model untrained, to see the "
    "model owner's replica consensus outvote and report it; P4 executor: volunteer and never "
    "benchmark, to see it slashed.",
    "model": "P4 seller: the model file it offers to every request it fits (.skops or "
    ".safetensors).",
    "deposit": "P5 consumer: what it deposits into each live API (ETH, or 20gwei; default 0.01).",
}
"""The help of each option that roles take (which roles take which: their AgentRole.options)."""


def _either(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"


def _role_help() -> str:
    """``P1: client, provider or arbiter; P2: ...``, from the catalog."""
    return "; ".join(
        f"P{u.number}: {_either([r.name for r in u.roles])}" for u in units() if u.roles
    ) + "."  # fmt: skip


# the roles ----------------------------------------------------------------------------
def _find_role(text: str) -> tuple[ProtocolUnit, AgentRole]:
    known = roles()
    word = text.strip().lower()
    if word in known:
        return known[word]
    close = difflib.get_close_matches(word, list(known), n=1)
    hint = f" Did you mean '{close[0]}'?" if close else ""
    raise InputError(f"unknown agent role '{text}'.{hint} Roles: {', '.join(known)}")


def _role_options(ctx: typer.Context) -> tuple[dict[str, Any], dict[str, str]]:
    """Each option some role takes: its value where given (else None), and its flag."""
    takes = {option for _, role in roles().values() for option in role.options}
    given: dict[str, Any] = {}
    flags: dict[str, str] = {}
    for param in ctx.command.params:
        if param.name in takes:
            value = ctx.params[param.name]
            # a flag not set and a repeatable option not given are not given either
            unset = (
                value is None or value is False or (isinstance(value, list | tuple) and not value)
            )
            given[param.name] = None if unset else value
            flags[param.name] = param.opts[0]
    return given, flags


def _refuse_others(
    unit: ProtocolUnit, role: AgentRole, given: Mapping[str, Any], flags: Mapping[str, str]
) -> None:
    """InputError for the first option given that ``role`` does not take, naming the roles
    that do (those of its own protocol first)."""
    for name, value in given.items():
        if value is None or name in role.options:
            continue
        takers = [r.name for r in unit.roles if name in r.options] or [
            other for other, (_, r) in roles().items() if name in r.options
        ]
        raise InputError(
            f"{flags[name]} is {_a(' or '.join(takers))} option; this agent is {_a(role.name)}"
        )


def plan_role(ctx: typer.Context, unit: ProtocolUnit, role: AgentRole) -> RolePlan:
    """The role's plan from the options given, all checked before the chain is read."""
    given, flags = _role_options(ctx)
    _refuse_others(unit, role, given, flags)
    return cast("RolePlan", resolve(role.plan)(given))


# running ------------------------------------------------------------------------------
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


@app.command("run")
def run(
    ctx: typer.Context,
    role: str = typer.Option(..., "--role", help=_role_help()),
    category: str = typer.Option(None, "--category", help=ROLE_HELP["category"]),
    asset_class: str = typer.Option(None, "--asset-class", help=ROLE_HELP["asset_class"]),
    floor: str = typer.Option(None, "--floor", help=ROLE_HELP["floor"]),
    dataset: str = typer.Option(None, "--dataset", help=ROLE_HELP["dataset"]),
    data: Path = typer.Option(None, "--data", help=ROLE_HELP["data"]),
    label: str = typer.Option(None, "--label", help=ROLE_HELP["label"]),
    schema: Path = typer.Option(None, "--schema", help=ROLE_HELP["schema"]),
    part: int = typer.Option(None, "--part", min=0, help=ROLE_HELP["part"]),
    data_owners: int = typer.Option(None, "--data-owners", help=ROLE_HELP["data_owners"]),
    seed: int = typer.Option(None, "--seed", help=ROLE_HELP["seed"]),
    poison: str = typer.Option(None, "--poison", help=ROLE_HELP["poison"]),
    algorithm: str = typer.Option(None, "--algorithm", help=ROLE_HELP["algorithm"]),
    params: list[str] = typer.Option(None, "--param", help=ROLE_HELP["params"]),
    eval_dataset: str = typer.Option(None, "--eval-dataset", help=ROLE_HELP["eval_dataset"]),
    lazy: bool = typer.Option(False, "--lazy", help=ROLE_HELP["lazy"]),
    model: Path = typer.Option(None, "--model", help=ROLE_HELP["model"]),
    deposit: str = typer.Option(None, "--deposit", help=ROLE_HELP["deposit"]),
    name: str = typer.Option(None, "--name", help="Agent name (keys its state and cursor)."),
    state_dir: Path = typer.Option(
        None, "--state-dir", help="Folder of the agent's SQLite state (default: settings)."
    ),
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
    from mercato.agents.outages import until_reachable
    from mercato.agents.process import run_process
    from mercato.agents.roles import AgentSetup
    from mercato.agents.store import AgentStore
    from mercato.chain.recording import RecordingChain
    from mercato.protocols.marketplace import Marketplace

    _configure_logging(ctx, log_level)
    unit, agent_role = _find_role(role)
    if not 0 < interval <= MAX_POLL_INTERVAL:
        raise InputError(f"--interval must be above 0 and at most {MAX_POLL_INTERVAL} s")
    plan = plan_role(ctx, unit, agent_role)

    me = common.identity(account, keystore)
    run_context = common.context(ctx)
    agent_name = name or f"{plan.label}-{me.address[2:10].lower()}"

    def connect() -> tuple[RecordingChain, Marketplace]:
        plain = run_context.market(rpc_url)
        recording = RecordingChain(plain.chain)
        # RecordingChain is a Chain in all but mypy's eyes (read-only backend/chain_id)
        market = Marketplace(cast("Chain", recording), plain.deployment, plain.store)
        try:
            if plan.check is None:
                require_role(market, me.address, plan.needs, f"a {plan.label} agent")
            elif (
                problem := plan.check(market.registry.roles_of(me.address), me.address)
            ) is not None:
                raise InputError(problem)
        except BaseException:
            recording.close()
            raise
        return recording, market

    recording, market = until_reachable(agent_name, connect, interval)
    chain = market.chain
    folder = state_dir or run_context.settings.agent_dir
    folder.mkdir(parents=True, exist_ok=True)
    state_file = folder / f"{agent_name}.sqlite"

    try:
        with AgentStore(state_file) as store:
            watched = market.wrapper(unit.field).contract
            agent = Agent(agent_name, chain, [watched], store, start_block=market.deployment.block)
            what = plan.attach(AgentSetup(agent, market, me, folder))
            logger.info(
                "%s: %s agent of %s%s; state %s; from block %d",
                agent_name, plan.label, me.address, what, state_file, agent.cursor,
            )  # fmt: skip
            contracts = [w.contract for w in market.wrappers().values()]
            contracts.append(market.registry.contract)
            done = run_process(agent, recording, contracts, once=once, interval=interval)
            if done.once is not None:
                common.console.print(
                    f"{agent_name}: idle after {done.once.rounds} step(s), {done.once.events} "
                    f"event(s) handled, {len(recording.records)} transaction(s) sent; next "
                    f"block {agent.cursor}",
                    soft_wrap=True,
                )
    finally:
        recording.close()
    if done.given_up:
        raise ProtocolError(
            f"{agent_name} gave up on {done.given_up} event(s); see the log above and "
            f"AgentStore.failures in {state_file}"
        )


def _a(noun: str) -> str:
    """``noun`` with its indefinite article: ``an executor``, ``a seller``."""
    return f"{'an' if noun[:1] in 'aeiou' else 'a'} {noun}"
