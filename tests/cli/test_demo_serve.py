"""``mercato demo --serve`` as a process: the whole demo on its own anvil, then the dashboard
and API over its five markets until SIGTERM, which stops the server and anvil (exit 0).

One test: it runs a whole rpc demo (minutes)."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import pytest
import requests

from mercato.protocols.catalog import units

# the `anvil` fixture skips (or fails in CI) without the binary; the demo starts its own node
pytestmark = [pytest.mark.rpc, pytest.mark.slow, pytest.mark.usefixtures("anvil")]

DEMO_WAIT_S = 900
"""How long the whole demo may take before it prints its address (a bound, never asserted)."""
HTTP_WAIT_S = 60
STOP_WAIT_S = 60
ADDRESS = re.compile(r"^dashboard at (http://\S+)/ ")


def mercato_binary() -> str:
    beside = Path(sys.executable).with_name("mercato")
    found = str(beside) if beside.is_file() else shutil.which("mercato")
    assert found, "the mercato script is not installed (pip install -e .)"
    return found


@dataclass
class Output:
    """Everything a process wrote on one stream, read by a thread (no pipe ever fills)."""

    lines: list[str] = field(default_factory=list)
    address: str | None = None
    found: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)

    def read(self, stream: IO[str]) -> None:
        for line in stream:
            self.lines.append(line)
            match = ADDRESS.match(line)
            if match and self.address is None:
                self.address = match.group(1)
                self.found.set()
        self.found.set()  # the stream ended: no address will come
        self.done.set()


def anvils_of(pid: int) -> list[int]:
    """The anvil processes whose parent is ``pid`` (Linux /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid ...: comm may hold spaces, so split at its last ')'
        head, tail = stat.rsplit(")", 1)
        if head.split("(", 1)[1] == "anvil" and int(tail.split()[1]) == pid:
            found.append(int(entry.name))
    return found


@pytest.fixture
def demo_serving(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], Output, Output]]:
    """``mercato demo --serve --port 0 --json`` running, with its stdout and stderr read."""
    env = {k: v for k, v in os.environ.items() if k not in ("MERCATO_BACKEND", "ETH_RPC_URL")}
    env.pop("MERCATO_RPC_URL", None)
    env["MERCATO_CONFIG"] = str(tmp_path / "absent.toml")
    process = subprocess.Popen(
        [mercato_binary(), "demo", "--serve", "--port", "0", "--json"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    out, err = Output(), Output()
    readers = [
        threading.Thread(target=out.read, args=(process.stdout,), daemon=True),
        threading.Thread(target=err.read, args=(process.stderr,), daemon=True),
    ]
    for reader in readers:
        reader.start()
    yield process, out, err
    if process.poll() is None:
        process.kill()
        process.wait()
    for reader in readers:
        reader.join(STOP_WAIT_S)


def test_demo_serves_its_markets_until_sigterm(
    demo_serving: tuple[subprocess.Popen[str], Output, Output],
) -> None:
    # prepare: the whole demo, then its address on stderr (stdout is one JSON document)
    process, out, err = demo_serving
    err.found.wait(DEMO_WAIT_S)
    if err.address is None:
        process.kill()
        pytest.fail(f"mercato demo --serve printed no address: {''.join(err.lines)[-2000:]}")
    address = err.address
    nodes = anvils_of(process.pid)

    # act
    markets = requests.get(f"{address}/api/markets", timeout=HTTP_WAIT_S)
    overview = requests.get(f"{address}/", timeout=HTTP_WAIT_S)
    process.send_signal(signal.SIGTERM)
    status = process.wait(STOP_WAIT_S)
    out.done.wait(STOP_WAIT_S)

    # assert: each protocol's market holds the entry its part made; a clean stop, anvil gone
    assert markets.status_code == 200, markets.text
    assert {k: v["count"] for k, v in markets.json().items()} == {u.key: 1 for u in units()}
    assert overview.status_code == 200
    assert status == 0, "".join(err.lines)[-2000:]
    document = json.loads("".join(out.lines))
    assert document["backend"] == "rpc"
    assert document["dashboard"] == f"{address}/"
    assert nodes, "the demo started no anvil"
    assert [pid for pid in nodes if Path(f"/proc/{pid}").exists()] == []
