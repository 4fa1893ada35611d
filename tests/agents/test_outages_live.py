"""Real outages: an agent process killed with SIGKILL and restarted, a real anvil stopped and
started again on its ``--state``, a real S3 server (moto) stopped for a while. Each handler's
effect happens exactly once, nothing is given up, and the agent says little about it.

The waits below poll for what must happen, with a generous safety limit; nothing asserts how
long anything took.
"""

from __future__ import annotations

import json
import logging
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_account.signers.local import LocalAccount

from mercato.agents import Agent, AgentContext, AgentStore
from mercato.chain.anvil import Anvil
from mercato.chain.contract import ABI, Contract, Event
from mercato.chain.embedded import EmbeddedChain
from mercato.chain.rpc import RpcChain
from mercato.storage.s3 import S3BlobStore

from ..conftest import DUMMY_AWS_ENV, LOOPBACK, UNSET_AWS_ENV, free_port

ECHO_AGENT = Path(__file__).with_name("echo_agent.py")
SAFETY_LIMIT_SECONDS = 60.0
"""How long a wait may take before the test gives up (a net, not a timing assertion)."""
POLL_SECONDS = 0.05
S3_OUTAGE_SECONDS = 1.0
BATCH = 16


def wait_for(what: str, condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + SAFETY_LIMIT_SECONDS
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(POLL_SECONDS)


class EchoProcess:
    """tests/agents/echo_agent.py as its own process, its log in a file."""

    def __init__(self, url: str, emitter: Contract, abi: Path, store: Path, log: Path) -> None:
        self.args = [sys.executable, str(ECHO_AGENT), url, emitter.address, str(abi), str(store)]
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen(self.args, stdout=out, stderr=subprocess.STDOUT)

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(SAFETY_LIMIT_SECONDS)
        return self.process.returncode

    def text(self) -> str:
        return self.log.read_text()


def pongs(emitter: Contract) -> Counter[int]:
    return Counter(int(e["amount"]) for e in emitter.events(name="Pong"))


def test_a_killed_agent_and_a_restarted_node_leave_each_effect_exactly_once(
    tmp_path: Path, emitter_artifact: dict[str, Any]
) -> None:
    # prepare: anvil keeping its chain in a file, an emitter, the echo agent as a process
    state = tmp_path / "anvil-state.json"
    node = Anvil(state=state, free_gas=True).start()
    echo: EchoProcess | None = None
    try:
        chain = RpcChain(node.url)
        owner = chain.dev_accounts(2)[1]
        bytecode = bytes.fromhex(emitter_artifact["bytecode"].removeprefix("0x"))
        address = chain.deploy(chain.dev_accounts(1)[0], bytecode).contract_address
        assert address is not None
        emitter = Contract(chain, address, ABI(emitter_artifact["abi"]))
        abi = tmp_path / "Emitter.json"
        abi.write_text(json.dumps(emitter_artifact["abi"]))
        echo = EchoProcess(node.url, emitter, abi, tmp_path / "echo.sqlite", tmp_path / "echo.log")
        for first in range(0, 3 * BATCH, BATCH):
            emitter.transact("ping_many", list(range(first, first + BATCH)), sender=owner)

        # act 1: kill -9 the agent in the middle of its work, then start it again
        echo.start()
        wait_for("some answers", lambda: sum(pongs(emitter).values()) >= BATCH // 2)
        echo.kill()
        answered_before_restart = sum(pongs(emitter).values())
        echo.start()
        wait_for("every answer", lambda: len(pongs(emitter)) == 3 * BATCH)

        # act 2: the node goes away (its chain saved), comes back on the same port, more pings
        port = node.port
        node.stop()
        wait_for("the outage line", lambda: "cannot reach the node" in echo.text())
        node = Anvil(port=port, state=state, free_gas=True).start()
        chain.close()
        chain = RpcChain(node.url)
        emitter = Contract(chain, address, ABI(emitter_artifact["abi"]))
        emitter.transact("ping_many", list(range(3 * BATCH, 4 * BATCH)), sender=owner)
        wait_for("the answers after the outage", lambda: len(pongs(emitter)) == 4 * BATCH)
        exit_code = echo.stop()

        # assert: each Ping answered once, across the kill and the outage
        assert answered_before_restart < 3 * BATCH  # the kill did land mid-run
        assert pongs(emitter) == Counter(range(4 * BATCH))
        log = echo.text()
        assert exit_code == 0 and "Traceback" not in log, log
        assert log.count("echo: cannot reach the node") == 1, log
        assert log.count("the node is back after") == 1, log
        with AgentStore(tmp_path / "echo.sqlite") as store:
            assert store.failures("echo") == []
    finally:
        if echo is not None and echo.process is not None and echo.process.poll() is None:
            echo.kill()
        node.stop()


def stop_server(server: Any) -> None:
    """Stop a ThreadedMotoServer and free its port (its stop() leaves the socket listening:
    clients would then hang instead of being refused)."""
    server.stop()
    server._server.server_close()


@pytest.fixture
def moto_env() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as env:
        for name, value in DUMMY_AWS_ENV.items():
            env.setenv(name, value)
        for name in UNSET_AWS_ENV:
            env.delenv(name, raising=False)
        yield


def test_an_agent_waits_out_a_stopped_s3_server_and_stores_each_blob_once(
    chain: EmbeddedChain,
    accounts: list[LocalAccount],
    emitter: Contract,
    store: AgentStore,
    moto_env: None,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from moto.server import ThreadedMotoServer

    # prepare: a moto server with a bucket, four Pings, an agent that uploads a blob per Ping
    port = free_port()
    servers = [ThreadedMotoServer(ip_address=LOOPBACK, port=port, verbose=False)]
    servers[0].start()
    blobs = S3BlobStore("outage-test", endpoint_url=f"http://{LOOPBACK}:{port}")
    blobs.ensure_bucket()
    emitter.transact("ping_many", [1, 2, 3, 4], sender=accounts[1])
    agent = Agent("uploader", chain, [emitter], store)
    uploads: Counter[int] = Counter()
    stop = threading.Event()
    went_down: list[bool] = []

    def restart() -> None:
        servers.append(ThreadedMotoServer(ip_address=LOOPBACK, port=port, verbose=False))
        servers[-1].start()

    @agent.on("Ping")
    def upload(event: Event, ctx: AgentContext) -> None:
        if event["amount"] == 2 and not went_down:
            went_down.append(True)
            stop_server(servers[0])  # the store goes away just when it is needed, for a while
            threading.Timer(S3_OUTAGE_SECONDS, restart).start()
        blob = blobs.put(f"blob {event['amount']}".encode())
        ctx.state.put(f"blob:{event['amount']}", blob)
        uploads[int(event["amount"])] += 1
        if sum(uploads.values()) == 4:
            stop.set()

    caplog.set_level(logging.INFO, logger="mercato.agents")
    safety = threading.Timer(SAFETY_LIMIT_SECONDS, stop.set)
    safety.start()

    # act
    try:
        agent.run(stop, POLL_SECONDS)
        kept = [blobs.has(store.get("uploader", f"blob:{n}")) for n in range(1, 5)]
    finally:
        safety.cancel()
        wait_for("the restarted server", lambda: len(servers) == 2)
        stop_server(servers[-1])

    # assert: each blob stored once, nothing given up, a line when it went and came back
    assert uploads == Counter({1: 1, 2: 1, 3: 1, 4: 1})
    assert store.failures("uploader") == []
    assert kept == [True] * 4
    lines = [r.getMessage() for r in caplog.records if "blob store" in r.getMessage()]
    assert len(lines) == 2, lines
    assert lines[0].startswith("uploader: cannot reach the blob store")
    assert lines[1].startswith("uploader: the blob store is back after")
