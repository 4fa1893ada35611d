"""One whole ``mercato demo --serve --port 0 --json`` as a process, for the tests that read a
demo on a node: its report (test_demo_on_chain.py), its dashboard in a browser
(tests/web/test_web_browser.py) and its stop on SIGTERM (tests/cli/test_demo_serve.py).

The demo starts its own anvil, as a reader's would; its blobs go to a folder of the test's
(``--store``). The ``served_demo`` fixture of tests/conftest.py runs it once per test process,
and the scheduler there gives those modules to one worker, the SIGTERM test last.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import pytest

from mercato.protocols.deployment import Deployment

DEMO_WAIT_S = 900
"""How long the whole demo may take before it prints its address (a bound, never asserted)."""
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

    @property
    def text(self) -> str:
        return "".join(self.lines)


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


@dataclass
class ServedDemo:
    """The demo serving its five markets: what it printed, where, and its anvil."""

    process: subprocess.Popen[str]
    out: Output
    err: Output
    readers: list[threading.Thread]
    address: str
    """The dashboard's root, without the trailing slash (``http://127.0.0.1:PORT``)."""
    report: dict[str, Any]
    """The JSON document on stdout: each part's report, the dashboard, node, deployments."""
    store: Path
    """The blob store's folder (``--store``)."""
    anvils: list[int]
    """The anvil processes the demo started (its children)."""

    @property
    def node(self) -> str:
        url: str = self.report["node"]
        return url

    def deployment(self, key: str) -> Deployment:
        """The market protocol ``key``'s part deployed."""
        return Deployment.parse(json.dumps(self.report["deployments"][key]))

    def stop(self) -> int | None:
        """SIGTERM, then its exit status (None if it had to be killed); idempotent."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(STOP_WAIT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                return None
        for reader in self.readers:
            reader.join(STOP_WAIT_S)
        return self.process.returncode


def serve_demo(work: Path) -> ServedDemo:
    """Start ``mercato demo --serve --port 0 --json`` in ``work`` and wait for its address."""
    env = {k: v for k, v in os.environ.items() if k not in ("MERCATO_BACKEND", "ETH_RPC_URL")}
    env.pop("MERCATO_RPC_URL", None)
    env["MERCATO_CONFIG"] = str(work / "absent.toml")
    store = work / "blobs"
    process = subprocess.Popen(
        [mercato_binary(), "demo", "--serve", "--port", "0", "--json", "--store", str(store)],
        cwd=work,
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
    err.found.wait(DEMO_WAIT_S)
    report = _report(out, process) if err.address is not None else None
    if err.address is None or report is None:
        process.kill()
        process.wait()
        pytest.fail(f"mercato demo --serve printed no address or report: {err.text[-2000:]}")
    return ServedDemo(
        process, out, err, readers, err.address, report, store, anvils_of(process.pid)
    )


def _report(out: Output, process: subprocess.Popen[str]) -> dict[str, Any] | None:
    """The JSON document the demo printed before its address line (read by a thread: it
    may lag behind stderr's line by a moment)."""
    for _ in range(STOP_WAIT_S * 10):
        try:
            document: dict[str, Any] = json.loads(out.text)
            return document
        except json.JSONDecodeError:
            if process.poll() is not None and out.done.is_set():
                return None
            out.done.wait(0.1)
    return None
