"""The processes of a chaos run: moto's S3 server, one agent process, and a block clock.

moto's server keeps its buckets in memory only: a restarted server has lost every blob. An
S3 outage is therefore a *frozen* server (SIGSTOP, then SIGCONT): connections are accepted
and hang until it goes on, then every waiting request is answered with the data intact.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path

from mercato.errors import ConfigError, MercatoError

HOST = "127.0.0.1"
STARTUP_TIMEOUT_S = 30.0
PROBE_INTERVAL_S = 0.1
STOP_TIMEOUT_S = 10.0
CLOCK_INTERVAL_S = 1.0
"""The block clock mines one block a second, so deadlines pass while nobody sends."""
DUMMY_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "AWS_CONFIG_FILE": "/nonexistent/mercato-chaos-aws-config",
    "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/mercato-chaos-aws-credentials",
}
"""Credentials moto accepts; a developer's real AWS settings stay out of the run."""
_PR_SET_PDEATHSIG = 1
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: no proxy


def free_port() -> int:
    """A TCP port on loopback that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _die_with_parent() -> None:
    """In the child, before exec: get SIGTERM when the harness dies (Linux only), so a
    killed harness leaves no agent or server behind."""
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _tie_to_parent() -> Callable[[], None] | None:
    # the death signal follows the thread that forked: only tie it to the main one
    main = threading.current_thread() is threading.main_thread()
    return _die_with_parent if sys.platform == "linux" and main else None


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class S3Server:
    """moto's S3-compatible server as its own process on a free loopback port."""

    def __init__(self, log: Path) -> None:
        self.port = free_port()
        self.log = log
        self.paused = False
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self) -> S3Server:
        """Start the server and wait until it answers HTTP."""
        env = {**os.environ, **DUMMY_AWS_ENV}
        with open(self.log, "ab") as log:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "moto.server", "-H", HOST, "-p", str(self.port)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                preexec_fn=_tie_to_parent(),
            )
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise ConfigError(f"moto's server exited with code {self._process.returncode}")
            try:
                with _DIRECT.open(self.url, timeout=1):
                    return self
            except OSError:
                time.sleep(PROBE_INTERVAL_S)
        self.stop()
        raise ConfigError(f"moto's server did not answer on port {self.port}")

    def pause(self) -> None:
        """Freeze the server (SIGSTOP): requests hang until :meth:`resume`."""
        if self._process is not None and not self.paused:
            os.kill(self._process.pid, signal.SIGSTOP)
            self.paused = True

    def resume(self) -> None:
        if self._process is not None and self.paused:
            os.kill(self._process.pid, signal.SIGCONT)
            self.paused = False

    def stop(self) -> None:
        self.resume()
        if self._process is not None:
            _stop(self._process)
            self._process = None


class AgentProcess:
    """``mercato agent run ARGS`` as its own process in ``cwd``, its output appended to ``log``;
    with ``whole``, ``mercato ARGS`` (a service that runs its agent itself, such as
    ``orchestrator serve``)."""

    def __init__(
        self,
        name: str,
        args: tuple[str, ...],
        env: dict[str, str],
        log: Path,
        cwd: Path,
        *,
        whole: bool = False,
    ) -> None:
        self.name = name
        self.args = args if whole else ("agent", "run", "--name", name, *args)
        self.env = env
        self.log = log
        self.cwd = cwd
        self.starts = 0
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    def start(self) -> None:
        with open(self.log, "ab") as log:
            self._process = subprocess.Popen(
                [mercato_script(), *self.args],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
                cwd=self.cwd,
                preexec_fn=_tie_to_parent(),
            )
        self.starts += 1

    def exited(self) -> int | None:
        """The exit code if the process ended (by itself or killed), else None."""
        return None if self._process is None else self._process.poll()

    def kill(self) -> None:
        """SIGKILL, as a crash would: no handler runs, nothing is flushed."""
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait()

    def stop(self) -> None:
        if self._process is not None:
            _stop(self._process)


READY_MARK = b" agent of "
"""The line ``mercato agent run`` logs once attached (``<name>: client agent of 0x...``)."""
READY_TIMEOUT_S = 240.0
"""Time for every agent process to start and attach."""


def wait_ready(agents: Mapping[str, AgentProcess], run: str, tick_s: float = 0.2) -> None:
    """Until every agent has logged that it attached; MercatoError (naming ``run``, the
    chaos run or the soak) if one exits first or they are not all ready in time."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    waiting = set(agents)
    while waiting and time.monotonic() < deadline:
        for name in list(waiting):
            agent = agents[name]
            if agent.exited() is not None:
                tail = agent.log.read_bytes()[-2000:].decode(errors="replace")
                raise MercatoError(f"{run}: agent {name} exited at start:\n{tail}")
            if agent.log.exists() and READY_MARK in agent.log.read_bytes():
                waiting.discard(name)
        time.sleep(tick_s)
    if waiting:
        raise MercatoError(f"{run}: agents not ready after {READY_TIMEOUT_S:.0f} s: {waiting}")


def mercato_script() -> str:
    """The ``mercato`` script beside the running interpreter."""
    beside = Path(sys.executable).with_name("mercato")
    if not beside.is_file():
        raise ConfigError(f"no mercato script beside {sys.executable}: pip install -e .")
    return str(beside)


class BlockClock:
    """A thread that asks the node to mine a block every second (``evm_mine``), so that
    deadlines pass on an automining node; it shrugs off a node that is down."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="chaos-clock", daemon=True)

    def start(self) -> BlockClock:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "evm_mine", "params": []})
        while not self._stop.wait(CLOCK_INTERVAL_S):
            request = urllib.request.Request(
                self.url, data=body.encode(), headers={"Content-Type": "application/json"}
            )
            try:
                with _DIRECT.open(request, timeout=2) as response:
                    response.read()
            except OSError:
                continue  # the node is down for a while: the next tick tries again
