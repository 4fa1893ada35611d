"""``mercato bench soak``: markets kept open for minutes on one node, without faults.

One anvil, one moto S3 server and every participant's agent of each protocol that has a chaos
:class:`~mercato.chaos.scenarios.Scenario`, each as its own ``mercato agent run`` process
(:mod:`mercato.chaos.services`). A driver keeps ``K`` markets of each protocol open at once
for the run's minutes, opening a new one as each finishes; then it stops opening and waits
for the open ones to finish (the drain). Sampled every few seconds:

- each agent's *lag*: the chain's head block minus the last block it handled (its cursor in
  its SQLite store, read read-only);
- the resident memory (``VmRSS`` of ``/proc/<pid>/status``) of each agent and of anvil.

At the end the checks of :mod:`mercato.chaos.checks` are applied to every finished market:
each one ended and passes its auditor, no one-shot effect happened twice for it; and, summed
over all of a protocol's markets (the contract credits accounts, not markets), every credit
is what the rules give and the contract holds exactly what it owes, locking nothing.

The harness's private helpers for the agents' environment and the S3 store are reused
(:func:`mercato.chaos.harness.agent_env`, :func:`~mercato.chaos.harness.s3_store`).
"""

from __future__ import annotations

import json
import logging
import math
import sqlite3
import statistics
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mercato.chaos.checks import (
    CheckResult,
    check_credits,
    check_ended,
    check_money,
    check_once,
    finished,
    sent_to,
)
from mercato.chaos.scenarios import SCENARIOS, Scenario
from mercato.errors import InputError, MercatoError

logger = logging.getLogger(__name__)

DEFAULT_MINUTES = 10.0
DEFAULT_MARKETS = 2
"""Markets of each protocol open at once."""
MAX_MARKETS = 20
SAMPLE_S = 3.0
"""Seconds between two samples of lag and memory."""
TICK_S = 0.5
DRAIN_TIMEOUT_S = 180.0
"""After the run's minutes, how long the markets still open may take to finish."""
GROWTH_MB_PER_MIN = 2.0
"""Memory growing slower than this over the second half of the run counts as flat."""
KB = 1024
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: no proxy


@dataclass(frozen=True)
class Memory:
    """One process's resident memory over the run, in MB, and whether it keeps growing."""

    start_mb: float
    end_mb: float
    peak_mb: float
    first_half_mb_per_min: float
    second_half_mb_per_min: float

    @property
    def grows(self) -> bool:
        """Growing without bound: the second half still climbs, as fast as the first half."""
        late = self.second_half_mb_per_min
        return late > GROWTH_MB_PER_MIN and late >= 0.5 * self.first_half_mb_per_min

    def record(self) -> dict[str, Any]:
        return {
            "start_mb": round(self.start_mb, 1),
            "end_mb": round(self.end_mb, 1),
            "peak_mb": round(self.peak_mb, 1),
            "first_half_mb_per_min": round(self.first_half_mb_per_min, 2),
            "second_half_mb_per_min": round(self.second_half_mb_per_min, 2),
            "verdict": "grows" if self.grows else "bounded",
        }


@dataclass(frozen=True)
class Lag:
    """Blocks an agent stood behind the chain's head, over its samples."""

    samples: int
    p50: float
    p95: float
    max: int

    def record(self) -> dict[str, Any]:
        return {"samples": self.samples, "p50": self.p50, "p95": self.p95, "max": self.max}


@dataclass(frozen=True)
class ProtocolFigures:
    """One protocol's markets over the run."""

    protocol: str
    opened: int
    finished_in_window: int
    finished: int
    unfinished: tuple[int, ...]
    market_seconds: tuple[float, ...]
    """Open to finished (everyone withdrawn), for each finished market."""
    checks: tuple[CheckResult, ...]
    open_errors: tuple[str, ...] = ()

    def record(self, minutes: float) -> dict[str, Any]:
        seconds = sorted(self.market_seconds)
        return {
            "opened": self.opened,
            "finished": self.finished,
            "finished_in_window": self.finished_in_window,
            "markets_per_minute": round(self.finished_in_window / minutes, 2),
            "market_seconds_p50": round(statistics.median(seconds), 1) if seconds else None,
            "market_seconds_max": round(seconds[-1], 1) if seconds else None,
            "unfinished": list(self.unfinished),
            "open_errors": list(self.open_errors),
            "checks": [c.record() for c in self.checks],
        }


@dataclass(frozen=True)
class SoakReport:
    """What a soak run measured."""

    minutes: float
    markets: int
    seconds: float
    """Wall time of the run's window (the drain not included)."""
    drain_seconds: float
    blocks: int
    protocols: tuple[ProtocolFigures, ...]
    lag: dict[str, Lag]
    memory: dict[str, Memory]
    """By agent name, and ``anvil``."""
    exits: tuple[str, ...]
    """Agents that exited by themselves (each started again)."""

    def failures(self) -> list[str]:
        """Each failure in one line: a market not finished, an agent that exited, a check."""
        found = [f"{p.protocol} {e}: not finished" for p in self.protocols for e in p.unfinished]
        found += [error for p in self.protocols for error in p.open_errors]
        found += [f"agent {exit}" for exit in self.exits]
        found += [
            f"{p.protocol} {c.name}: {c.detail}"
            for p in self.protocols
            for c in p.checks
            if not c.passed
        ]
        return found

    def record(self) -> dict[str, Any]:
        return {
            "minutes": self.minutes,
            "markets_open": self.markets,
            "seconds": round(self.seconds, 1),
            "drain_seconds": round(self.drain_seconds, 1),
            "blocks": self.blocks,
            "protocols": {p.protocol: p.record(self.minutes) for p in self.protocols},
            "lag_blocks": {name: lag.record() for name, lag in self.lag.items()},
            "memory": {name: m.record() for name, m in self.memory.items()},
            "agent_exits": list(self.exits),
            "failures": self.failures(),
            "passed": not self.failures(),
        }


def protocols_of(names: Sequence[str]) -> list[str]:
    """The protocols named (each checked), else every one with a chaos scenario."""
    if not names:
        return list(SCENARIOS)
    for name in names:
        if name not in SCENARIOS:
            covered = ", ".join(SCENARIOS)
            raise InputError(f"soak covers no protocol '{name}'; covered: {covered}")
    return list(dict.fromkeys(names))


def check_input(minutes: float, markets: int) -> None:
    """Refuse a run that cannot measure anything, before anything starts."""
    if not minutes > 0:
        raise InputError(f"--minutes must be more than 0, not {minutes:g}")
    if not 1 <= markets <= MAX_MARKETS:
        raise InputError(f"--markets must be 1 to {MAX_MARKETS}, not {markets}")


# measuring -------------------------------------------------------------------------------
def rss_mb(pid: int) -> float | None:
    """The resident memory of process ``pid`` in MB (``VmRSS``), None if it is gone."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / KB
    return None


def cursor_of(state_file: Path, agent: str) -> int | None:
    """The next block the agent will read, from its store opened read-only (None if unset)."""
    if not state_file.exists():
        return None
    try:
        with sqlite3.connect(f"file:{state_file}?mode=ro", uri=True, timeout=1.0) as db:
            row = db.execute("SELECT next_block FROM cursors WHERE agent = ?", (agent,)).fetchone()
    except sqlite3.Error:
        return None
    return None if row is None else int(row[0])


def slope(points: Sequence[tuple[float, float]]) -> float:
    """Least-squares slope of (minutes, MB) points; 0 for fewer than two."""
    if len(points) < 2:
        return 0.0
    xs = [x for x, _ in points]
    mean_x = statistics.fmean(xs)
    mean_y = statistics.fmean(y for _, y in points)
    spread = sum((x - mean_x) ** 2 for x in xs)
    if spread == 0:
        return 0.0
    return sum((x - mean_x) * (y - mean_y) for x, y in points) / spread


def memory_of(points: Sequence[tuple[float, float]]) -> Memory:
    """Start, end, peak and the slopes of each half of (minutes, MB) samples."""
    if not points:
        return Memory(0.0, 0.0, 0.0, 0.0, 0.0)
    middle = (points[0][0] + points[-1][0]) / 2
    first = [p for p in points if p[0] <= middle]
    second = [p for p in points if p[0] >= middle]
    peak = max(y for _, y in points)
    return Memory(points[0][1], points[-1][1], peak, slope(first), slope(second))


def lag_of(samples: Sequence[int]) -> Lag:
    """p50, p95 and the maximum of lag samples (nearest rank)."""
    if not samples:
        return Lag(0, 0.0, 0.0, 0)
    ordered = sorted(samples)
    p95 = ordered[math.ceil(0.95 * len(ordered)) - 1]
    return Lag(len(ordered), float(statistics.median(ordered)), float(p95), ordered[-1])


# the run -----------------------------------------------------------------------------------
@dataclass
class _Open:
    protocol: str
    entry: int
    opened: float


@dataclass
class _Soak:
    """The live parts of one soak run (internal)."""

    folder: Path
    scenarios: dict[str, Scenario]
    agents: dict[str, Any] = field(default_factory=dict)
    """Agent name -> AgentProcess."""
    owner: dict[str, str] = field(default_factory=dict)
    """Agent name -> its name inside its own store."""
    lags: dict[str, list[int]] = field(default_factory=dict)
    rss: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    exits: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    """The agents' environment, for the services started with each market."""

    def start_services(self, scenario: Scenario, entry: int) -> None:
        """The services that run for market ``entry`` alone (P5's orchestrator)."""
        from mercato.chaos.services import AgentProcess

        for service in scenario.services:
            name = f"{scenario.protocol}-{service.name}-{entry}"
            log = self.folder / "logs" / f"{name}.log"
            command = service.command_for(entry)
            agent = AgentProcess(name, command, self.env, log, self.folder, whole=True)
            self.agents[name] = agent
            agent.start()

    def stop_services(self, scenario: Scenario, entry: int) -> None:
        """Stop market ``entry``'s services once it finished."""
        for service in scenario.services:
            agent = self.agents.pop(f"{scenario.protocol}-{service.name}-{entry}", None)
            if agent is not None:
                agent.stop()

    def sample(self, head: int, anvil_pid: int | None, minute: float) -> None:
        for name, agent in list(self.agents.items()):
            cursor = cursor_of(self.folder / "agents" / f"{name}.sqlite", name)
            if cursor is not None:
                self.lags.setdefault(name, []).append(max(0, head - (cursor - 1)))
            if agent.pid is not None and (mb := rss_mb(agent.pid)) is not None:
                self.rss.setdefault(name, []).append((minute, mb))
        if anvil_pid is not None and (mb := rss_mb(anvil_pid)) is not None:
            self.rss.setdefault("anvil", []).append((minute, mb))

    def supervise(self, now: float) -> None:
        """Record each agent that exited by itself and start it again."""
        for name, agent in list(self.agents.items()):
            code = agent.exited()
            if code is not None:
                self.exits.append(f"{name} exited {code} at {now:.0f} s")
                logger.warning("soak: %s", self.exits[-1])
                agent.start()


def head_block(url: str) -> int | None:
    """The node's head block number (``eth_blockNumber``), None if it does not answer."""
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber", "params": []})
    request = urllib.request.Request(
        url, data=body.encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with _DIRECT.open(request, timeout=5) as response:
            return int(json.loads(response.read())["result"], 16)
    except (OSError, ValueError, KeyError):
        return None


class _Sampler:
    """A thread that samples lag and memory every :data:`SAMPLE_S` seconds, so a driver busy
    opening a market (a training opens with three commands) does not space the samples out.
    It reads the head over its own HTTP requests: the driver's chain stays its own."""

    def __init__(self, live: _Soak, url: str, anvil_pid: int | None, start: float) -> None:
        self.live = live
        self.url = url
        self.anvil_pid = anvil_pid
        self.start = start
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="soak-sampler", daemon=True)

    def begin(self) -> _Sampler:
        self._thread.start()
        return self

    def end(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while True:
            head = head_block(self.url)
            if head is not None:
                minute = (time.monotonic() - self.start) / 60
                self.live.sample(head, self.anvil_pid, minute)
            if self._stop.wait(SAMPLE_S):
                return


def run_soak(
    minutes: float,
    markets: int,
    protocols: Sequence[str],
    *,
    progress: Callable[[float], None] = lambda _: None,
    drain_timeout: float = DRAIN_TIMEOUT_S,
) -> SoakReport:
    """Keep ``markets`` markets of each protocol open for ``minutes``; measure and check.

    ``progress`` is called with the fraction of the window gone, now and then.
    """
    check_input(minutes, markets)
    chosen = {p: SCENARIOS[p] for p in protocols_of(protocols)}
    with tempfile.TemporaryDirectory(prefix="mercato-soak-") as folder:
        return _soak_in(Path(folder), minutes, markets, chosen, progress, drain_timeout)


def _registrations(scenarios: Sequence[Scenario]) -> dict[int, Any]:
    """Each development account with every role the scenarios give it."""
    from mercato.protocols.roles import Role

    roles: dict[int, Role] = {}
    for scenario in scenarios:
        for account, role in scenario.registrations:
            roles[account] = roles.get(account, Role(0)) | role
    return roles


def _soak_in(
    folder: Path,
    minutes: float,
    markets: int,
    scenarios: dict[str, Scenario],
    progress: Callable[[float], None],
    drain_timeout: float,
) -> SoakReport:
    from mercato.chain.accounts import dev_account
    from mercato.chain.anvil import Anvil
    from mercato.chain.rpc import RpcChain
    from mercato.chaos.harness import agent_env, commands_in, s3_store
    from mercato.chaos.services import AgentProcess, BlockClock, S3Server, wait_ready
    from mercato.protocols.identity import Identity
    from mercato.protocols.marketplace import Marketplace

    (folder / "logs").mkdir()
    s3 = S3Server(folder / "logs" / "s3.log").start()
    anvil = Anvil(free_gas=True)
    live = _Soak(folder, scenarios)
    clock: BlockClock | None = None
    chain: RpcChain | None = None
    try:
        anvil.start()
        chain = RpcChain(anvil.url)
        market = Marketplace.create(chain, s3_store(s3.url))
        deployment = folder / "deployment.json"
        market.deployment.save(deployment)
        for account, roles in _registrations(list(scenarios.values())).items():
            market.registry.register(Identity(dev_account(account)), roles)
        env = agent_env(folder, anvil.url, s3.url, deployment)
        for protocol, scenario in scenarios.items():
            for spec in scenario.early:
                name = f"{protocol}-{spec.name}"
                log = folder / "logs" / f"{name}.log"
                live.agents[name] = AgentProcess(name, spec.command(), env, log, folder)
                live.agents[name].start()
        wait_ready(live.agents, "soak", TICK_S)
        live.env = env
        clock = BlockClock(anvil.url).start()
        anvil_pid = anvil.pid
        first_block = chain.block_number()
        commands = commands_in(env, folder)  # a scenario opens its market with them
        done, window, drain = _drive(
            live, market, commands, minutes, markets, anvil_pid, progress, drain_timeout
        )
        blocks = chain.block_number() - first_block
        for agent in live.agents.values():
            agent.stop()
        figures = tuple(_figures(market, scenario, done[p]) for p, scenario in scenarios.items())
        return SoakReport(
            minutes=minutes,
            markets=markets,
            seconds=window,
            drain_seconds=drain,
            blocks=blocks,
            protocols=figures,
            lag={name: lag_of(samples) for name, samples in live.lags.items()},
            memory={name: memory_of(points) for name, points in live.rss.items()},
            exits=tuple(live.exits),
        )
    finally:
        for agent in live.agents.values():
            agent.stop()
        if clock is not None:
            clock.stop()
        if chain is not None:
            chain.close()
        anvil.stop()
        s3.stop()


@dataclass
class _Done:
    """A protocol's markets as the driver saw them (internal)."""

    window_end: float
    """Seconds into the run when the window ends (finished after it: in the drain)."""
    opened: list[_Open] = field(default_factory=list)
    finished: dict[int, float] = field(default_factory=dict)
    """Entry -> seconds from open to finished."""
    in_window: int = 0
    open_errors: list[str] = field(default_factory=list)
    """Markets the driver could not open (it stops trying after ``markets`` of them)."""


def _drive(
    live: _Soak,
    market: Any,
    commands: Callable[..., Any],
    minutes: float,
    markets: int,
    anvil_pid: int | None,
    progress: Callable[[float], None],
    drain_timeout: float,
) -> tuple[dict[str, _Done], float, float]:
    """Keep ``markets`` open per protocol until the window ends, then drain; sample."""
    window = minutes * 60
    done = {protocol: _Done(window) for protocol in live.scenarios}
    start = time.monotonic()
    next_progress = 0.0
    drain_end: float | None = None
    sampler = _Sampler(live, market.chain.url, anvil_pid, start).begin()
    try:
        while True:
            now = time.monotonic() - start
            in_window = now < window
            if not in_window and drain_end is None:
                drain_end = now + drain_timeout
            open_count = 0
            for protocol, scenario in live.scenarios.items():
                open_count += _step(
                    live, market, scenario, done[protocol], commands,
                    markets if in_window else 0, start,
                )  # fmt: skip
            live.supervise(now)
            if now >= next_progress:
                next_progress = now + SAMPLE_S
                progress(min(1.0, now / window))
            if drain_end is not None and (open_count == 0 or now >= drain_end):
                return done, window, now - window
            time.sleep(TICK_S)
    finally:
        sampler.end()


def _step(
    live: _Soak,
    market: Any,
    scenario: Scenario,
    record: _Done,
    commands: Callable[..., Any],
    keep_open: int,
    start: float,
) -> int:
    """Note the protocol's markets that finished (their services stopped), open new ones up
    to ``keep_open`` (their services and traffic started); how many are open now."""
    from mercato.chaos.harness import start_traffic

    window = record.window_end
    for entry in record.opened:
        if entry.entry in record.finished:
            continue
        try:
            over = finished(market, scenario, entry.entry)
        except (MercatoError, OSError) as exc:
            logger.info("soak: cannot read %s %d yet: %s", scenario.protocol, entry.entry, exc)
            over = False
        if over:
            now = time.monotonic() - start
            record.finished[entry.entry] = now - entry.opened
            record.in_window += now < window
            live.stop_services(scenario, entry.entry)
    still = sum(1 for e in record.opened if e.entry not in record.finished)
    while still < keep_open and len(record.open_errors) < keep_open:
        try:
            entry_id = scenario.open_market(market, commands)
        except MercatoError as exc:
            record.open_errors.append(f"{scenario.protocol}: cannot open a market: {exc}")
            logger.warning("soak: %s", record.open_errors[-1])
            continue
        record.opened.append(_Open(scenario.protocol, entry_id, time.monotonic() - start))
        live.start_services(scenario, entry_id)
        start_traffic(scenario, commands, entry_id)
        still += 1
    return still


def _figures(market: Any, scenario: Scenario, done: _Done) -> ProtocolFigures:
    """The protocol's counts and the money checks over its finished markets.

    A check that cannot run at all is one failed check: the minutes measured stay reported.
    """
    ended = sorted(done.finished)
    unfinished = tuple(e.entry for e in done.opened if e.entry not in done.finished)
    try:
        checks = _checks(market, scenario, done, ended, unfinished)
    except Exception as exc:  # reported as a failed check, not a lost run
        logger.warning("soak: the checks of %s did not run", scenario.protocol, exc_info=True)
        checks = [CheckResult("checks", False, f"could not run: {type(exc).__name__}: {exc}")]
    return ProtocolFigures(
        protocol=scenario.protocol,
        opened=len(done.opened),
        finished_in_window=done.in_window,
        finished=len(ended),
        unfinished=unfinished,
        market_seconds=tuple(done.finished[e] for e in ended),
        checks=tuple(checks),
        open_errors=tuple(done.open_errors),
    )


def _checks(
    market: Any, scenario: Scenario, done: _Done, ended: list[int], unfinished: tuple[int, ...]
) -> list[CheckResult]:
    """The chaos checks over the protocol's finished markets (see the module's docstring)."""
    from mercato.audit import auditor_for
    from mercato.chain.accounts import dev_account
    from mercato.protocols.catalog import unit

    checks: list[CheckResult] = []
    auditor = auditor_for(scenario.protocol)
    senders = [dev_account(s.account).address for s in scenario.agents]
    sent = sent_to(market, scenario, senders)
    failed_end: list[str] = []
    failed_audit: list[str] = []
    failed_once: list[str] = []
    for entry in ended:
        if not (result := check_ended(market, scenario, entry)).passed:
            failed_end.append(result.detail)
        if auditor is not None and not (report := auditor.run(market, entry, None)).passed:
            failed_audit.append(f"{entry}: {report.summary()}")
        mine = [s for s in sent if s.key[:1] == (entry,)]
        if not (once := check_once(mine, scenario.one_shot)).passed:
            failed_once.append(f"{entry}: {once.detail}")
    count = f"{len(ended)} markets"
    checks.append(CheckResult("ended", not failed_end, "; ".join(failed_end) or count))
    if auditor is not None:
        checks.append(CheckResult("audit", not failed_audit, "; ".join(failed_audit) or count))
    checks.append(CheckResult("once", not failed_once, "; ".join(failed_once) or count))
    wrapper = market.wrapper(unit(scenario.protocol).field)
    # the contract credits accounts, not markets: sum the rules over every finished market,
    # once none is open (an open one may have credited someone already); a protocol
    # without rules of its own for the credits is judged by its auditor above
    if scenario.credits is not None and not unfinished:
        credited: Counter[str] = Counter()
        for event in wrapper.events("Credited", from_block=market.deployment.block):
            credited[str(event["account"])] += int(event["amount"])
        expected: Counter[str] = Counter()
        for entry in ended:
            expected.update(scenario.credits(market, entry))
        checks.append(check_credits(credited, expected))
    elif scenario.credits is None and auditor is None:
        checks.append(CheckResult("audit", False, f"no auditor of {scenario.protocol}"))
    parties = {p for entry in ended for p in wrapper.parties(entry)}
    owed = {party: wrapper.owed(party) for party in parties}
    locked = sum(scenario.locked(market, e.entry) for e in done.opened)
    checks.append(check_money(market.chain.balance(wrapper.address), locked, owed))
    return checks
