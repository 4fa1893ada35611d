"""``mercato serve`` under load: requests per second, latency and memory of the HTTP API over
a market of thousands of entries.

A fresh anvil gets one deployment and ``entries`` auctions, trainings and data-market tasks,
each made by one transaction as cheaply as its contract allows (the smallest prices and
reward, one round, nothing joined; the trainings all on one free dataset and one model).
``mercato serve`` then runs as its own process on a free port, as in production, and each
endpoint in turn gets ``clients`` threads of this process (a ``requests.Session`` each)
sending requests one after another for ``seconds``; the server's resident memory is read
from ``/proc`` before and after the load. The server reads the chain one request at a time
(:class:`~mercato.web.app.Reader`), so more clients measure queueing, not parallelism; the
clients share this process's interpreter, so the figures are a floor.
"""

from __future__ import annotations

import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from eth_utils.crypto import keccak

from mercato.bench.flow import StartPhase, phases
from mercato.errors import ChainError

DEFAULT_ENTRIES = 1_000
"""Auctions, trainings and data-market tasks each."""
DEFAULT_SECONDS = 10.0
"""Seconds of load on each endpoint."""
DEFAULT_CLIENTS = 8
WARMUP_REQUESTS = 3
"""Requests to each endpoint before any timing (connections opened, caches and code warm)."""
REQUEST_TIMEOUT_S = 300.0
"""A bound on one request (a listing of thousands of entries takes seconds), never asserted."""
SERVER_START_S = 120.0
SERVER_STOP_S = 30.0
SEED = 7
ADDRESS = re.compile(r"serving the market at (http://\S+)/api ")

HASH = keccak(b"mercato bench serve")
"""The one hash every created entry names (no document behind it: nothing reads one)."""
AUCTION_DURATION = 7 * 86_400
MIN_PRICE = 1
"""Wei: the smallest maximum price of each category of an auction."""
DATA_OWNERS = 3
"""The fewest data owners a data-market task may want."""
TASK_PERIOD = 7 * 86_400

ENDPOINTS = (
    "/api/health",
    "/api/markets",
    "/api/participants",
    "/api/auction",
    "/api/auction/{id}",
    "/api/training/{id}",
    "/api/datamarket/{id}",
)
"""The endpoints loaded, in order; ``{id}`` is drawn among the entries for each request."""


@dataclass(frozen=True)
class EndpointLoad:
    """What ``clients`` threads got from one endpoint in ``seconds``."""

    path: str
    requests: int
    errors: int
    """Requests answered with another status than 200, or not answered."""
    seconds: float
    latencies: tuple[float, ...]
    """Seconds of each answered request."""
    first_error: str | None = None

    @property
    def requests_per_s(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def percentile_ms(self, fraction: float) -> float | None:
        if not self.latencies:
            return None
        ordered = sorted(self.latencies)
        return 1000 * ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]

    def as_dict(self) -> dict[str, Any]:
        p50, p99 = self.percentile_ms(0.5), self.percentile_ms(0.99)
        return {
            "path": self.path,
            "requests": self.requests,
            "errors": self.errors,
            "seconds": round(self.seconds, 3),
            "requests_per_s": round(self.requests_per_s, 1),
            "p50_ms": None if p50 is None else round(p50, 2),
            "p99_ms": None if p99 is None else round(p99, 2),
            "mean_ms": round(1000 * statistics.fmean(self.latencies), 2)
            if self.latencies
            else None,
            "first_error": self.first_error,
        }


@dataclass(frozen=True)
class Memory:
    """The server's resident memory (kB, from ``/proc/<pid>/status``)."""

    rss_kb: int
    peak_kb: int

    def as_dict(self) -> dict[str, float]:
        return {
            "rss_mb": round(self.rss_kb / 1024, 1),
            "peak_rss_mb": round(self.peak_kb / 1024, 1),
        }


@dataclass(frozen=True)
class ServeReport:
    """The whole run: the market's size, the load and what each endpoint gave."""

    entries: int
    clients: int
    seconds: float
    create_seconds: float
    """Chain time to create every entry, one transaction at a time."""
    transactions: int
    warmup_ms: dict[str, float]
    """Each endpoint's first answer (ms): a listing's cost without any queue."""
    before: Memory
    after: Memory
    endpoints: tuple[EndpointLoad, ...]
    cpus: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "entries": self.entries,
            "clients": self.clients,
            "seconds_per_endpoint": self.seconds,
            "create_seconds": round(self.create_seconds, 2),
            "transactions": self.transactions,
            "cpus": self.cpus,
            "warmup_ms": {k: round(v, 2) for k, v in self.warmup_ms.items()},
            "server_memory": {"before": self.before.as_dict(), "after": self.after.as_dict()},
            "endpoints": [e.as_dict() for e in self.endpoints],
        }


# the market ---------------------------------------------------------------------------------


def populate(url: str, home: Path, entries: int, start: StartPhase | None = None) -> int:
    """Deploy a market on the node at ``url``, save its deployment in ``home`` and create
    ``entries`` auctions, trainings and data-market tasks; the transactions sent."""
    from mercato.chain.recording import RecordingChain
    from mercato.chain.rpc import RpcChain
    from mercato.protocols.datamarket.views import Mode
    from mercato.protocols.identity import Identity
    from mercato.protocols.marketplace import Marketplace
    from mercato.protocols.roles import Role

    start = phases(start)
    node = RpcChain(url)
    chain = RecordingChain(node)
    try:
        market = Marketplace.create(chain, home / "blobs")
        market.deployment.save(home / "deployment.json")
        client, arbiter, owner, data_owner = chain.dev_accounts(5)[1:]
        cast = ((client, Role.CLIENT), (arbiter, Role.ARBITER), (owner, Role.MODEL_OWNER),
                (data_owner, Role.DATA_OWNER))  # fmt: skip
        for account, role in cast:
            market.registry.register(Identity(account), role)
        tm = market.training_market
        model_id, _ = tm.create_model(owner, model_type=HASH, method_hash=HASH, key_hash=HASH)
        dataset_id, _ = tm.create_dataset(
            data_owner, meta_hash=HASH, subsets=1, replicas=1, data_price=0, job_price=0
        )
        advance = start("auctions", entries)
        for _ in range(entries):
            market.auction_house.create(
                client,
                requirements_hash=HASH,
                max_prices=[MIN_PRICE] * 3,
                duration=AUCTION_DURATION,
                min_refs=0,
                arbiter=arbiter.address,
            )
            advance(1)
        advance = start("trainings", entries)
        for _ in range(entries):
            tm.request_training(
                owner, model_id, dataset_id, subsets_per_round=1, max_rounds=1, value=0
            )
            advance(1)
        advance = start("data-market tasks", entries)
        for _ in range(entries):
            market.data_market.post_task(
                owner,
                model_hash=HASH,
                spec_hash=HASH,
                data_owners=DATA_OWNERS,
                rounds=1,
                mode=Mode.ROBUST,
                bound=0,
                reward=DATA_OWNERS,
                join_period=TASK_PERIOD,
                phase_period=TASK_PERIOD,
                aggregate_period=TASK_PERIOD,
            )
            advance(1)
        return len(chain.records)
    finally:
        node.close()


# the server ---------------------------------------------------------------------------------


@dataclass
class ServerProcess:
    """``mercato serve`` running as its own process."""

    process: subprocess.Popen[str]
    url: str

    @property
    def memory(self) -> Memory:
        return read_memory(self.process.pid)


def read_memory(pid: int) -> Memory:
    """VmRSS and VmHWM of process ``pid`` (Linux)."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0])
    return Memory(fields["VmRSS"], fields["VmHWM"])


@contextmanager
def serving(url: str, home: Path) -> Iterator[ServerProcess]:
    """``mercato serve --port 0`` over the deployment saved in ``home``, on the node at
    ``url``; stopped with SIGTERM after."""
    env = {k: v for k, v in os.environ.items() if k not in ("MERCATO_BACKEND", "ETH_RPC_URL")}
    env.update(
        MERCATO_RPC_URL=url,
        MERCATO_DEPLOYMENT=str(home / "deployment.json"),
        MERCATO_STORE=str(home / "blobs"),
        MERCATO_CONFIG=str(home / "absent.toml"),
    )
    errors_path = home / "serve.log"
    with open(errors_path, "w") as errors:  # the child keeps its own descriptor
        process = subprocess.Popen(
            [sys.executable, "-c", "from mercato.cli.app import main; main()", "serve",
             "--port", "0"],
            cwd=home, env=env, stdout=subprocess.PIPE, stderr=errors, text=True,
        )  # fmt: skip
    try:
        assert process.stdout is not None
        found = _address(process.stdout)
        if found is None:
            last = errors_path.read_text().strip().splitlines()[-1:] or ["no address printed"]
            raise ChainError(f"mercato serve did not start: {last[0]}")
        yield ServerProcess(process, found)
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(SERVER_STOP_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if process.stdout is not None:
            process.stdout.close()


def _address(stdout: IO[str]) -> str | None:
    """The URL in the server's first line, waiting at most :data:`SERVER_START_S`."""
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.append(stdout.readline()), daemon=True)
    reader.start()
    reader.join(SERVER_START_S)
    found = ADDRESS.search(lines[0]) if lines else None
    return found.group(1) if found else None


# the load -----------------------------------------------------------------------------------


def _target(path: str, entries: int, rng: random.Random) -> str:
    return path.replace("{id}", str(rng.randint(1, entries))) if "{id}" in path else path


def warm_up(url: str, entries: int) -> dict[str, float]:
    """:data:`WARMUP_REQUESTS` requests to each endpoint, one at a time; each one's first
    answer in ms. ChainError unless every answer is a 200."""
    import requests

    rng = random.Random(SEED)
    first: dict[str, float] = {}
    with requests.Session() as session:
        for path in ENDPOINTS:
            for _ in range(WARMUP_REQUESTS):
                began = time.perf_counter()
                answer = session.get(url + _target(path, entries, rng), timeout=REQUEST_TIMEOUT_S)
                first.setdefault(path, 1000 * (time.perf_counter() - began))
                if answer.status_code != 200:
                    raise ChainError(
                        f"mercato serve answered {path} with {answer.status_code}: "
                        f"{answer.text[:200]}"
                    )
    return first


def load(url: str, path: str, entries: int, clients: int, seconds: float) -> EndpointLoad:
    """``clients`` threads requesting ``path`` one after another until ``seconds`` pass."""
    import requests

    results: list[tuple[list[float], int, str | None]] = []
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds

    def client(index: int) -> None:
        rng = random.Random(SEED + index)
        latencies: list[float] = []
        errors, first_error = 0, None
        with requests.Session() as session:
            while time.perf_counter() < deadline:
                began = time.perf_counter()
                try:
                    answer = session.get(
                        url + _target(path, entries, rng), timeout=REQUEST_TIMEOUT_S
                    )
                    problem = None if answer.status_code == 200 else f"{answer.status_code}"
                except requests.RequestException as exc:
                    problem = f"{type(exc).__name__}: {exc}"
                if problem is None:
                    latencies.append(time.perf_counter() - began)
                else:
                    errors += 1
                    first_error = first_error or problem
        with lock:
            results.append((latencies, errors, first_error))

    began = time.perf_counter()
    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    latencies = tuple(s for found, _, _ in results for s in found)
    errors = sum(e for _, e, _ in results)
    first_error = next((f for _, _, f in results if f), None)
    return EndpointLoad(path, len(latencies) + errors, errors, elapsed, latencies, first_error)


def run_serve_bench(
    entries: int = DEFAULT_ENTRIES,
    seconds: float = DEFAULT_SECONDS,
    clients: int = DEFAULT_CLIENTS,
    start: StartPhase | None = None,
) -> ServeReport:
    """The whole benchmark on a fresh anvil (stopped and deleted after)."""
    from mercato.chain.anvil import Anvil

    start = phases(start)
    with tempfile.TemporaryDirectory(prefix="mercato-bench-serve-") as folder, Anvil() as node:
        home = Path(folder)
        began = time.perf_counter()
        transactions = populate(node.url, home, entries, start)
        create_seconds = time.perf_counter() - began
        with serving(node.url, home) as server:
            warmup = warm_up(server.url, entries)
            before = server.memory
            advance = start("endpoints under load", len(ENDPOINTS))
            loads = []
            for path in ENDPOINTS:
                loads.append(load(server.url, path, entries, clients, seconds))
                advance(1)
            after = server.memory
    return ServeReport(
        entries=entries,
        clients=clients,
        seconds=seconds,
        create_seconds=create_seconds,
        transactions=transactions,
        warmup_ms=warmup,
        before=before,
        after=after,
        endpoints=tuple(loads),
        cpus=os.cpu_count() or 1,
    )
