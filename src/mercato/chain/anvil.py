"""Start and stop a local anvil node (the rpc backend's development chain).

anvil comes from the npm package ``@foundry-rs/anvil`` (``npm install`` in the repository).
Each node listens on a free loopback port and keeps its on-disk cache in a temporary folder
that is deleted on stop: by default anvil would grow ``~/.foundry/anvil/tmp`` without bound.
A node never outlives the Python process that started it (``stop``, ``atexit``, and on Linux
a parent-death signal).
"""

from __future__ import annotations

import atexit
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from types import TracebackType

from mercato.errors import ChainError, ConfigError

BINARY_ENV = "MERCATO_ANVIL"
HOST = "127.0.0.1"
HARDFORK = "prague"
"""The EVM rules of the embedded chain (py-evm) and of the compiler target (vyper 0.4.3)."""
DEV_ACCOUNT_COUNT = 20
STARTUP_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0
"""Time to exit cleanly after SIGTERM (it dumps ``--state`` then), before SIGKILL."""
START_ATTEMPTS = 3
PROBE_INTERVAL_S = 0.05
LOG_TAIL_CHARS = 2_000
WORKDIR_PREFIX = "mercato-anvil-"
OWNER_FILE = "owner.pid"

_REPO_ROOT = Path(__file__).resolve().parents[3]
_NPM_PLATFORM = {"Linux": "linux", "Darwin": "darwin", "Windows": "win32"}
_NPM_ARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}
_PR_SET_PDEATHSIG = 1
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: no proxy

_running: set[Anvil] = set()


def _npm_binary(root: Path) -> Path:
    """Where npm puts this platform's anvil binary under ``root``."""
    system = _NPM_PLATFORM.get(platform.system(), platform.system().lower())
    arch = _NPM_ARCH.get(platform.machine().lower(), platform.machine().lower())
    name = "anvil.exe" if system == "win32" else "anvil"
    return root / "node_modules" / "@foundry-rs" / f"anvil-{system}-{arch}" / "bin" / name


def find_anvil() -> Path:
    """The anvil binary: $MERCATO_ANVIL, else the repository's node_modules, else PATH."""
    configured = os.environ.get(BINARY_ENV)
    if configured:
        path = Path(configured).expanduser()
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise ConfigError(f"{BINARY_ENV}={configured} is not an executable anvil binary")
        return path
    # the real binary, not npm's node wrapper: one process fewer, and signals reach anvil
    for root in dict.fromkeys([_REPO_ROOT, Path.cwd()]):
        candidate = _npm_binary(root)
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    on_path = shutil.which("anvil")
    if on_path:
        return Path(on_path)
    raise ConfigError(
        "anvil is not installed: run `npm install` in the repository (or `make test`, which "
        f"does it), install foundry, or set {BINARY_ENV} to the anvil binary"
    )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _remove_orphaned_workdirs() -> None:
    """Delete the folders of nodes whose Python process was killed before it could clean."""
    for workdir in Path(tempfile.gettempdir()).glob(f"{WORKDIR_PREFIX}*"):
        try:
            owner = int((workdir / OWNER_FILE).read_text())
            os.kill(owner, 0)
        except ProcessLookupError:
            shutil.rmtree(workdir, ignore_errors=True)
        except (OSError, ValueError):
            continue  # not ours to judge: unreadable, foreign or still owned


def _die_with_parent() -> None:
    """In the child, before exec: get SIGTERM when the parent thread dies (Linux only)."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class Anvil:
    """A local anvil node: ``with Anvil() as node: RpcChain(node.url)``.

    ``port`` is picked free on 127.0.0.1 unless given; ``state`` persists the chain in a
    file (loaded at start if it exists, written at stop); ``block_time`` mines every that
    many seconds instead of once per transaction; ``no_mining`` mines only when asked
    (``evm_mine``), which takes bursts of thousands of transactions that automine stalls
    on; ``free_gas`` sets base fee and tip to zero, so balances move only by the values
    sent, as on the embedded chain (the test suite runs anvil this way).
    """

    def __init__(
        self,
        *,
        port: int | None = None,
        state: Path | None = None,
        block_time: float | None = None,
        no_mining: bool = False,
        accounts: int = DEV_ACCOUNT_COUNT,
        hardfork: str = HARDFORK,
        free_gas: bool = False,
        extra_args: tuple[str, ...] = (),
        binary: Path | None = None,
    ) -> None:
        self.state = state
        if no_mining and block_time is not None:
            raise ConfigError("anvil: pass either block_time or no_mining, not both")
        self.block_time = block_time
        self.no_mining = no_mining
        self.accounts = accounts
        self.hardfork = hardfork
        self.free_gas = free_gas
        self.extra_args = extra_args
        self.binary = binary
        self.fixed_port = port
        self.port = port or 0
        self._process: subprocess.Popen[bytes] | None = None
        self._workdir: Path | None = None

    @property
    def url(self) -> str:
        """The JSON-RPC endpoint (valid while running)."""
        if self._process is None:
            raise ChainError("anvil is not running: call start() or use it in a `with` block")
        return f"http://{HOST}:{self.port}"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        """The node's process id while it runs (None when stopped)."""
        return self._process.pid if self.running and self._process is not None else None

    def start(self) -> Anvil:
        """Start the node and wait until it answers JSON-RPC."""
        if self._process is not None:
            return self
        binary = self.binary or find_anvil()
        _remove_orphaned_workdirs()
        last_error = ""
        # a free port can be taken between choosing it and anvil binding it: choose again
        attempts = 1 if self.fixed_port else START_ATTEMPTS
        for _ in range(attempts):
            self._workdir = Path(tempfile.mkdtemp(prefix=WORKDIR_PREFIX))
            (self._workdir / OWNER_FILE).write_text(str(os.getpid()))
            self.port = self.fixed_port or _free_port()
            try:
                self._spawn(binary)
            except OSError as exc:
                self.stop()
                raise ChainError(f"cannot run anvil at {binary}: {exc}") from exc
            _running.add(self)
            error = self._wait_ready()
            if error is None:
                return self
            last_error = error
            self.stop()
        raise ChainError(f"anvil did not start ({binary}): {last_error}")

    def stop(self) -> None:
        """Stop the node (SIGTERM, then SIGKILL) and delete its temporary folder."""
        process, self._process = self._process, None
        if process is not None:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(STOP_TIMEOUT_S)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
            _running.discard(self)
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None

    def __enter__(self) -> Anvil:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        where = self.url if self._process is not None else "stopped"
        return f"Anvil({where})"

    # internals --------------------------------------------------------------------------
    def _command(self, binary: Path) -> list[str]:
        assert self._workdir is not None
        command = [
            str(binary),
            "--host",
            HOST,
            "--port",
            str(self.port),
            "--cache-path",
            str(self._workdir / "cache"),
            "--accounts",
            str(self.accounts),
            "--hardfork",
            self.hardfork,
            "--silent",
        ]
        if self.state is not None:
            command += ["--state", str(self.state)]
        if self.free_gas:
            command += ["--base-fee", "0", "--no-priority-fee"]
        if self.block_time is not None:
            command += ["--block-time", str(self.block_time)]
        if self.no_mining:
            command.append("--no-mining")
        return command + list(self.extra_args)

    def _spawn(self, binary: Path) -> None:
        assert self._workdir is not None
        in_main_thread = threading.current_thread() is threading.main_thread()
        with open(self._workdir / "anvil.log", "wb") as log:
            self._process = subprocess.Popen(
                self._command(binary),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                # the death signal follows the thread that forked: only tie it to the main one
                preexec_fn=_die_with_parent if sys.platform == "linux" and in_main_thread else None,
            )

    def _wait_ready(self) -> str | None:
        """``None`` once the node answers, else why it never did."""
        assert self._process is not None
        request = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []})
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                return f"exited with code {self._process.returncode}: {self._log_tail()}"
            try:
                with _DIRECT.open(
                    urllib.request.Request(
                        f"http://{HOST}:{self.port}",
                        data=request.encode(),
                        headers={"Content-Type": "application/json"},
                    ),
                    timeout=1,
                ) as response:
                    if "result" in json.loads(response.read()):
                        return None
            except (OSError, ValueError):
                pass  # not listening yet
            time.sleep(PROBE_INTERVAL_S)
        return f"no answer on port {self.port} within {STARTUP_TIMEOUT_S} s: {self._log_tail()}"

    def _log_tail(self) -> str:
        if self._workdir is None:
            return ""
        try:
            text = (self._workdir / "anvil.log").read_text(errors="replace")
        except OSError:
            return ""
        return text[-LOG_TAIL_CHARS:].strip() or "(no output)"


@atexit.register
def _stop_all() -> None:
    for node in list(_running):
        node.stop()
