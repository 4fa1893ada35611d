"""``mercato serve`` as a process against anvil: it prints its address, answers over HTTP,
stops on SIGTERM; without a deployment or a node it fails in one line."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from mercato.chain.accounts import dev_account
from mercato.chain.anvil import Anvil
from mercato.chain.rpc import RpcChain
from mercato.protocols.catalog import units
from mercato.protocols.identity import Identity
from mercato.protocols.marketplace import Marketplace
from mercato.protocols.roles import Role

pytestmark = pytest.mark.rpc

WAIT_S = 60
"""How long a process may take to print its address (a bound, never asserted on)."""
ADDRESS = re.compile(r"serving the market at (http://\S+)/api ")
CLIENT = 3


def mercato_binary() -> str:
    beside = Path(sys.executable).with_name("mercato")
    found = str(beside) if beside.is_file() else shutil.which("mercato")
    assert found, "the mercato script is not installed (pip install -e .)"
    return found


def settings(home: Path, url: str) -> dict[str, str]:
    """Every setting the CLI reads, inside ``home``."""
    env = {k: v for k, v in os.environ.items() if k not in ("MERCATO_BACKEND", "ETH_RPC_URL")}
    return {
        **env,
        "MERCATO_RPC_URL": url,
        "MERCATO_DEPLOYMENT": str(home / "deployment.json"),
        "MERCATO_STORE": str(home / "blobs"),
        "MERCATO_CONFIG": str(home / "absent.toml"),
    }


@pytest.fixture
def deployed(rpc_chain: RpcChain, tmp_path: Path) -> Iterator[Path]:
    """A market on the session's anvil with one registered client; its settings' folder."""
    market = Marketplace.create(rpc_chain, tmp_path / "blobs")
    market.registry.register(Identity(dev_account(CLIENT)), Role.CLIENT)
    market.deployment.save(tmp_path / "deployment.json")
    yield tmp_path


def start(home: Path, url: str) -> tuple[subprocess.Popen[str], str]:
    """``mercato serve --port 0`` and the address it prints (fail with its errors if none)."""
    process = subprocess.Popen(
        [mercato_binary(), "serve", "--port", "0"],
        cwd=home,
        env=settings(home, url),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    lines: list[str] = []
    stdout = process.stdout
    reader = threading.Thread(target=lambda: lines.append(stdout.readline()), daemon=True)
    reader.start()
    reader.join(WAIT_S)
    found = ADDRESS.search(lines[0]) if lines else None
    if found is None:
        process.kill()
        _, errors = process.communicate()
        pytest.fail(f"mercato serve printed no address: {lines} {errors}")
    return process, found.group(1)


def stop(process: subprocess.Popen[str], signum: int = signal.SIGTERM) -> int:
    """Send ``signum``; the exit status (killed if it lingers)."""
    if process.poll() is None:
        process.send_signal(signum)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    for stream in (process.stdout, process.stderr):
        if stream is not None:
            stream.close()
    return process.returncode


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["sigterm", "ctrl-c"])
def test_serve_answers_over_http_and_stops_cleanly(
    deployed: Path, anvil: Anvil, signum: int
) -> None:
    # prepare
    process, address = start(deployed, anvil.url)
    try:
        # act
        markets = requests.get(f"{address}/api/markets", timeout=WAIT_S)
        people = requests.get(f"{address}/api/participants", timeout=WAIT_S)
        missing = requests.get(f"{address}/api/auction/1", timeout=WAIT_S)
    finally:
        status = stop(process, signum)

    # assert: every protocol, none with entries yet; the registered client; a clean stop
    assert markets.status_code == 200, markets.text
    assert {k: v["count"] for k, v in markets.json().items()} == {u.key: 0 for u in units()}
    client = dev_account(CLIENT).address
    assert [p["roles"] for p in people.json() if p["address"] == client] == [["client"]]
    assert missing.status_code == 404
    assert missing.json() == {"detail": "no auction 1 (there are 0)"}
    assert status == 0


def run_serve(home: Path, url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [mercato_binary(), "serve", "--port", "0"],
        cwd=home,
        env=settings(home, url),
        capture_output=True,
        text=True,
        timeout=WAIT_S,
    )


def test_serve_without_a_deployment_fails_in_one_line(tmp_path: Path, anvil: Anvil) -> None:
    # act
    result = run_serve(tmp_path, anvil.url)

    # assert
    assert result.returncode == 1
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1
    assert "deployment" in result.stderr


def test_serve_with_the_node_down_fails_in_one_line(deployed: Path) -> None:
    # act: nothing listens on port 1
    result = run_serve(deployed, "http://127.0.0.1:1")

    # assert
    assert result.returncode == 1
    assert len(result.stderr.strip().splitlines()) == 1
    assert "cannot reach the node" in result.stderr
