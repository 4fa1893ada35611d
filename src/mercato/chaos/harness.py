"""One chaos run: anvil, moto's S3 server and one process per agent, driven through faults.

:func:`run` starts the node (``--state`` in the run's folder, so a restarted node keeps its
chain) and the S3 server, deploys, registers the scenario's cast, starts every agent as
``mercato agent run`` (its own process, its state under the run's folder), opens one market,
starts the services that run their agent themselves for that market (P5's ``orchestrator
serve --api ID``) and the scenario's traffic (a consumer's calls), and injects the seed's
faults while the market runs. An agent that exits by itself is a
*crash*: it is recorded (with whether its log shows a traceback) and started again, as a
supervisor would. The run ends when the market has finished (final, everyone withdrawn) or
at the timeout; every fault in progress is healed, the agents are stopped and the checks of
:mod:`mercato.chaos.checks` read the chain.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mercato.chain.anvil import Anvil
from mercato.chaos.checks import CheckResult, check_all, finished
from mercato.chaos.faults import DEFAULT_FAULTS, Fault, describe, schedule
from mercato.chaos.scenarios import Commands, Scenario
from mercato.chaos.services import (
    DUMMY_AWS_ENV,
    AgentProcess,
    BlockClock,
    S3Server,
    mercato_script,
    wait_ready,
)
from mercato.errors import MercatoError

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 150.0
"""A market not finished this long after it opened has failed the run."""
TICK_S = 0.2
RESTART_DELAY_S = 1.0
"""A crashed agent is started again after this long (a supervisor's pause)."""
COMMAND_TIMEOUT_S = 120.0
BUCKET = "mercato-chaos"
TRACEBACK_MARK = b"Traceback (most recent call last)"
UNSET_ENV = ("MERCATO_BACKEND", "MERCATO_PRIVATE_KEY", "AWS_PROFILE", "AWS_SESSION_TOKEN",
             "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3")  # fmt: skip


@dataclass(frozen=True)
class Crash:
    """An agent that exited by itself during the run."""

    agent: str
    at: float
    code: int
    traceback: bool
    tail: str
    """The last lines of its log."""

    def describe(self) -> str:
        how = "with a traceback" if self.traceback else "without a traceback"
        return f"{self.agent} exited {self.code} at {self.at:.1f} s {how}"


@dataclass(frozen=True)
class RunResult:
    """What one seed did and what held afterwards."""

    seed: int
    protocol: str
    faults: tuple[Fault, ...]
    """The whole schedule of the seed."""
    injected: int
    """How many of them started before the market finished."""
    entry: int
    finished: bool
    seconds: float
    checks: tuple[CheckResult, ...]
    crashes: tuple[Crash, ...] = ()

    @property
    def passed(self) -> bool:
        return self.finished and all(c.passed for c in self.checks)

    def failures(self) -> list[str]:
        """Each failed check (and a market not finished) in one line."""
        failed = (
            [] if self.finished else [f"not finished within the timeout ({self.seconds:.0f} s)"]
        )
        return failed + [f"{c.name}: {c.detail}" for c in self.checks if not c.passed]

    def replay(self) -> str:
        """What a failure report needs to replay it."""
        return f"seed {self.seed} ({self.protocol}): {describe(self.faults)}"

    def record(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "protocol": self.protocol,
            "passed": self.passed,
            "finished": self.finished,
            "entry": self.entry,
            "seconds": round(self.seconds, 1),
            "faults": [f.record() for f in self.faults],
            "injected": self.injected,
            "checks": [c.record() for c in self.checks],
            "crashes": [c.describe() for c in self.crashes],
        }


@dataclass
class _Action:
    at: float
    do: Callable[[], None]
    starts_fault: bool = False
    done: bool = False


@dataclass
class _Run:
    """The live parts of one run (internal)."""

    folder: Path
    scenario: Scenario
    s3: S3Server
    anvil: Anvil
    state_file: Path
    agents: dict[str, AgentProcess] = field(default_factory=dict)
    killed: set[str] = field(default_factory=set)
    """Agents the harness killed and has not started again yet."""
    log_marks: dict[str, int] = field(default_factory=dict)
    crashes: list[Crash] = field(default_factory=list)
    respawn: dict[str, float] = field(default_factory=dict)

    # faults -------------------------------------------------------------------------------
    def kill(self, name: str) -> None:
        self.killed.add(name)
        self.agents[name].kill()

    def revive(self, name: str) -> None:
        self.killed.discard(name)
        self._start_agent(name)

    def stop_anvil(self) -> None:
        self.anvil.stop()  # SIGTERM: anvil writes its --state file before it exits

    def start_anvil(self) -> None:
        if not self.anvil.running:
            self.anvil = Anvil(state=self.state_file, port=self.anvil.port, free_gas=True)
            self.anvil.start()

    def actions(self, faults: Sequence[Fault]) -> list[_Action]:
        actions: list[_Action] = []
        for fault in faults:
            if fault.kind == "kill":
                name = fault.target
                actions.append(_Action(fault.at, lambda n=name: self.kill(n), True))  # type: ignore[misc]
                actions.append(_Action(fault.end, lambda n=name: self.revive(n)))  # type: ignore[misc]
            elif fault.kind == "anvil":
                actions.append(_Action(fault.at, self.stop_anvil, True))
                actions.append(_Action(fault.end, self.start_anvil))
            else:
                actions.append(_Action(fault.at, self.s3.pause, True))
                actions.append(_Action(fault.end, self.s3.resume))
        return sorted(actions, key=lambda a: a.at)

    # agents -------------------------------------------------------------------------------
    def _start_agent(self, name: str) -> None:
        agent = self.agents[name]
        self.log_marks[name] = agent.log.stat().st_size if agent.log.exists() else 0
        agent.start()

    def supervise(self, now: float) -> None:
        """Record and schedule a restart of each agent that exited by itself."""
        for name, agent in self.agents.items():
            if name in self.killed or name in self.respawn:
                continue
            code = agent.exited()
            if code is None:
                continue
            text = agent.log.read_bytes()[self.log_marks.get(name, 0) :]
            tail = b"\n".join(text.strip().splitlines()[-8:]).decode(errors="replace")
            self.crashes.append(Crash(name, now, code, TRACEBACK_MARK in text, tail))
            logger.warning("chaos: %s", self.crashes[-1].describe())
            self.respawn[name] = now + RESTART_DELAY_S
        for name, when in list(self.respawn.items()):
            if now >= when:
                del self.respawn[name]
                self._start_agent(name)

    def heal(self) -> None:
        """End every fault in progress: the node up, the store going, killed agents back."""
        self.s3.resume()
        self.start_anvil()


def agent_env(folder: Path, node: str, s3: str, deployment: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in UNSET_ENV}
    env.update(DUMMY_AWS_ENV)
    env.update(
        {
            "MERCATO_RPC_URL": node,
            "MERCATO_DEPLOYMENT": str(deployment),
            "MERCATO_STORE": f"s3://{BUCKET}/blobs",
            "MERCATO_S3_ENDPOINT": s3,
            "MERCATO_AGENT_DIR": str(folder / "agents"),
            "MERCATO_CONFIG": str(folder / "absent.toml"),
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
        }
    )
    return env


def commands_in(env: dict[str, str], cwd: Path) -> Callable[..., Any]:
    """``mercato ARGS --json`` in its own process, as a participant runs it; its JSON."""

    def command(*args: str) -> Any:
        done = subprocess.run(
            [mercato_script(), *args, "--json"],
            env=env,
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT_S,
            check=False,
        )
        if done.returncode != 0:
            raise MercatoError(
                f"chaos: mercato {' '.join(args)} exited {done.returncode}: "
                f"{(done.stdout + done.stderr).strip()[-2000:]}"
            )
        return json.loads(done.stdout)

    return command


def s3_store(endpoint: str) -> Any:
    import boto3
    from botocore.config import Config

    from mercato.storage.s3 import S3BlobStore

    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=DUMMY_AWS_ENV["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=DUMMY_AWS_ENV["AWS_SECRET_ACCESS_KEY"],
        region_name=DUMMY_AWS_ENV["AWS_DEFAULT_REGION"],
        config=Config(s3={"addressing_style": "path"}),
    )
    store = S3BlobStore(BUCKET, prefix="blobs", endpoint_url=endpoint, client=client)
    store.ensure_bucket()
    return store


def run(
    seed: int,
    scenario: Scenario,
    *,
    faults: Sequence[Fault] | None = None,
    fault_count: int = DEFAULT_FAULTS,
    timeout: float = DEFAULT_TIMEOUT_S,
    keep: Path | None = None,
) -> RunResult:
    """Run ``scenario`` through the faults of ``seed`` (or ``faults`` given) and check it.

    ``keep``: a folder to run in and leave behind (logs, agents' state, the node's state);
    by default a temporary one, deleted afterwards.
    """
    agent_names = [a.name for a in scenario.agents]
    planned = tuple(faults) if faults is not None else schedule(seed, agent_names, fault_count)
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        return _run_in(keep, seed, scenario, planned, timeout)
    with tempfile.TemporaryDirectory(prefix="mercato-chaos-") as folder:
        return _run_in(Path(folder), seed, scenario, planned, timeout)


def _run_in(
    folder: Path, seed: int, scenario: Scenario, faults: tuple[Fault, ...], timeout: float
) -> RunResult:
    from mercato.chain.accounts import dev_account
    from mercato.chain.rpc import RpcChain
    from mercato.protocols.identity import Identity
    from mercato.protocols.marketplace import Marketplace

    (folder / "logs").mkdir(exist_ok=True)
    state_file = folder / "anvil-state.json"
    s3 = S3Server(folder / "logs" / "s3.log").start()
    anvil = Anvil(state=state_file, free_gas=True)
    live = _Run(folder, scenario, s3, anvil, state_file)
    clock: BlockClock | None = None
    chain: RpcChain | None = None
    try:
        anvil.start()
        chain = RpcChain(anvil.url)
        market = Marketplace.create(chain, s3_store(s3.url))
        deployment = folder / "deployment.json"
        market.deployment.save(deployment)
        for account, roles in scenario.registrations:
            market.registry.register(Identity(dev_account(account)), roles)
        env = agent_env(folder, anvil.url, s3.url, deployment)
        for spec in scenario.early:
            log = folder / "logs" / f"{spec.name}.log"
            live.agents[spec.name] = AgentProcess(spec.name, spec.command(), env, log, folder)
            live._start_agent(spec.name)
        wait_ready(live.agents, "chaos")
        clock = BlockClock(anvil.url).start()
        commands = commands_in(env, folder)
        entry = scenario.open_market(market, commands)
        for service in scenario.services:
            log = folder / "logs" / f"{service.name}.log"
            command = service.command_for(entry)
            live.agents[service.name] = AgentProcess(
                service.name, command, env, log, folder, whole=True
            )
            live._start_agent(service.name)
        traffic = start_traffic(scenario, commands, entry)
        senders = [dev_account(s.account).address for s in scenario.agents]
        done, seconds, injected = _drive(live, market, scenario, entry, faults, timeout)
        if traffic is not None:
            traffic.join(COMMAND_TIMEOUT_S)
        live.heal()
        for agent in live.agents.values():
            agent.stop()
        checks = tuple(check_all(market, scenario, entry, senders))
        return RunResult(
            seed, scenario.protocol, faults, injected, entry, done, seconds, checks,
            tuple(live.crashes),
        )  # fmt: skip
    finally:
        for agent in live.agents.values():
            agent.stop()
        if clock is not None:
            clock.stop()
        if chain is not None:
            chain.close()
        live.anvil.stop()
        s3.stop()


def start_traffic(scenario: Scenario, commands: Commands, entry: int) -> threading.Thread | None:
    """The scenario's users at work beside the agents, in a thread (None: it has none)."""
    if scenario.traffic is None:
        return None
    traffic = scenario.traffic

    def work() -> None:
        try:
            traffic(commands, entry)
        except Exception:  # a bug of the scenario's users: logged, the run still checked
            logger.exception("%s %d: its traffic stopped", scenario.protocol, entry)

    thread = threading.Thread(target=work, name="chaos-traffic", daemon=True)
    thread.start()
    return thread


def _drive(
    live: _Run,
    market: Any,
    scenario: Scenario,
    entry: int,
    faults: Sequence[Fault],
    timeout: float,
) -> tuple[bool, float, int]:
    """Inject the faults until the market finishes; (finished, seconds, faults started)."""
    actions = live.actions(faults)
    start = time.monotonic()
    injected = 0
    next_look = 0.0
    while (now := time.monotonic() - start) < timeout:
        for action in actions:
            if not action.done and action.at <= now:
                action.do()
                action.done = True
                injected += action.starts_fault
        live.supervise(now)
        pending = [a for a in actions if not a.done]
        healed = not pending or pending[0].starts_fault
        if healed and now >= next_look:
            next_look = now + 1.0
            try:
                if finished(market, scenario, entry):
                    return True, now, injected
            except (MercatoError, OSError) as exc:
                logger.info("chaos: cannot read the market yet: %s", exc)
        time.sleep(TICK_S)
    return False, time.monotonic() - start, injected
