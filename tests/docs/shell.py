"""Run README blocks as a reader would: in order, in one bash, in one folder.

One ``bash`` process plays the reader's terminal: exported variables, the working folder
and background jobs carry from block to block (``kill $(jobs -p)`` sees the agents an
earlier block started). Each block is sourced from a file, with ``set -euo pipefail`` and
a trace of every command, and must end within its time bound. When a block fails, the
shell and everything it started are killed, and a fresh shell (with the environment the
last good block left) goes on with the next section, so one missing command does not hide
the state of the others.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from .readme import Block

FAILED = "readme-test: exit status"
POLL_S = 0.1
STOP_TIMEOUT_S = 10.0
LOG_TAIL_CHARS = 3_000
BASH_VARIABLES = frozenset({"_", "PWD", "OLDPWD", "SHLVL", "BASHOPTS", "SHELLOPTS"})
"""Variables bash sets itself: never carried into a new shell."""


@dataclass(frozen=True)
class Failure:
    """A block that did not end well."""

    block: Block
    command: str
    output: str
    logs: str

    def __str__(self) -> str:
        return (
            f"{self.block.where()}: {self.command}\n"
            f"--- the block\n{self.block.text}"
            f"--- its output\n{self.output or '(none)'}\n"
            f"--- the agents' logs\n{self.logs or '(none)'}"
        )


class Shell:
    """One bash session in ``folder`` with ``env``; every process it starts dies with it."""

    def __init__(self, folder: Path, env: dict[str, str]) -> None:
        self.folder = folder
        self.env = dict(env)
        self.work = folder / ".readme-test"
        self.work.mkdir(exist_ok=True)
        self._count = 0
        self.timings: list[tuple[Block, float]] = []
        """Seconds each block took, in order (failed blocks included)."""
        self._groups: list[int] = []
        self._process: subprocess.Popen[bytes] | None = None
        self._log = self.work / "shell.log"
        self._start()

    def _start(self) -> None:
        with self._log.open("ab") as log:
            self._process = subprocess.Popen(
                ["bash", "--noprofile", "--norc"],
                stdin=subprocess.PIPE,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.folder,
                env=self.env,
                start_new_session=True,  # its own process group: agents included
            )
        self._groups.append(self._process.pid)
        self._send(
            "set -euo pipefail\n"
            "PS4='+ '\n"
            f"""trap 'printf "{FAILED} %s: %s\\n" "$?" "$BASH_COMMAND" >&2' ERR\n"""
        )

    def _send(self, text: str) -> None:
        assert self._process is not None and self._process.stdin is not None
        self._process.stdin.write(text.encode())
        self._process.stdin.flush()

    def run(self, block: Block, timeout: float) -> Failure | None:
        """Run ``block``; None if it ended well within ``timeout`` seconds."""
        assert self._process is not None
        self._count += 1
        script = self.work / f"block-{self._count}.sh"
        done = self.work / f"block-{self._count}.done"
        env_file = self.work / f"block-{self._count}.env"
        script.write_text(block.text)
        offset = self._log.stat().st_size
        self._send(
            f"set -x\nsource {script} < /dev/null\nset +x\nenv -0 > {env_file}\ntouch {done}\n"
        )
        started = time.monotonic()
        try:
            while not done.exists():
                if self._process.poll() is not None:
                    return self._fail(block, offset, "")
                if time.monotonic() > started + timeout:
                    return self._fail(block, offset, f"no end after {timeout:g} s")
                time.sleep(POLL_S)
        finally:
            self.timings.append((block, time.monotonic() - started))
        self.env = _read_env(env_file)
        return None

    def _fail(self, block: Block, offset: int, why: str) -> Failure:
        self.kill()
        with self._log.open("rb") as log:
            log.seek(offset)
            output = log.read().decode(errors="replace")
        failed = [line for line in output.splitlines() if line.startswith(FAILED)]
        traced = [line[2:] for line in output.splitlines() if line.startswith("+ ")]
        if failed:
            command = failed[-1].removeprefix("readme-test: ")
        else:
            last = traced[-1] if traced else "(nothing ran)"
            command = f"{why or 'the shell exited'}; last command: {last}"
        failure = Failure(block, command, output.strip(), self.agent_logs())
        self._start()  # a fresh terminal for the next section
        return failure

    def agent_logs(self) -> str:
        """The end of every log file the blocks wrote (the agents' output)."""
        parts = []
        for path in sorted(self.folder.rglob("*.log")):
            if self.work in path.parents:
                continue
            text = path.read_text(errors="replace")
            parts.append(f"== {path.relative_to(self.folder)}\n{text[-LOG_TAIL_CHARS:]}")
        return "\n".join(parts)

    def kill(self) -> None:
        """Stop every process any of this session's shells started (SIGTERM, then SIGKILL)."""
        for group in self._groups:
            _signal_group(group, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._process is not None:
                self._process.poll()  # reap the shell, or its zombie keeps the group alive
            if not any(_alive(g) for g in self._groups):
                break
            time.sleep(POLL_S)
        for group in self._groups:
            _signal_group(group, signal.SIGKILL)
        if self._process is not None:
            self._process.wait()
            self._process = None
        self._groups.clear()


def _read_env(path: Path) -> dict[str, str]:
    env = {}
    for entry in path.read_bytes().decode().split("\0"):
        name, sep, value = entry.partition("=")
        if sep and name not in BASH_VARIABLES:
            env[name] = value
    return env


def _signal_group(group: int, signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(group, signum)


def _alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    return True
