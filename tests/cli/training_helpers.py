"""The P2 cast on top of the CLI tests' market, and P2 agents as long-running processes.

Beside the cast of :mod:`.helpers` (3 owns data, 4 a model, 5 provides compute), accounts
8 and 9 provide compute too, so a dataset can have 3 replicas held by 3 providers.
"""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

from .helpers import COMPUTE, DATA, MODEL, Cli, address

COMPUTE_2, COMPUTE_3 = 8, 9
COMPUTES = (COMPUTE, COMPUTE_2, COMPUTE_3)
DATA_PRICE = 10**17
JOB_PRICE = 10**16
AGENT_INTERVAL = "0.2"
STOP_TIMEOUT_S = 30


def register_computes(cli: Cli) -> None:
    """Register the two extra compute providers."""
    cli.register("compute-provider", COMPUTE_2, COMPUTE_3)


def list_digits(cli: Cli, subsets: int, replicas: int, *extra: object) -> dict[str, object]:
    """``training dataset offer`` of digits by DATA over the three compute providers."""
    cos = [arg for index in COMPUTES for arg in ("--compute-provider", address(index))]
    listed: dict[str, object] = cli.json(
        "training", "dataset", "offer", "--dataset", "digits", "--subsets", subsets,
        "--replicas", replicas, *cos, "--data-price", "0.1", "--job-price", "0.01",
        "--account", DATA, *extra,
    )  # fmt: skip
    return listed


def create_model(cli: Cli, *extra: object) -> int:
    """``training model``: a softmax regression of digits by MODEL; returns its id."""
    created = cli.json(
        "training", "model", "--trainer", "numpy-logreg", "--dataset-name", "digits",
        "--epochs", 1, "--learning-rate", "0.01", "--batch-size", 32, "--account", MODEL, *extra,
    )  # fmt: skip
    return int(created["id"])


def spawn_daemon(cli: Cli, log: Path, *args: object) -> subprocess.Popen[str]:
    """``mercato agent run ...`` as its own long-running process, logging into ``log``."""
    with log.open("w") as out:  # the child keeps its own descriptor
        return cli.spawn("--interval", AGENT_INTERVAL, *args, stdout=out)


def stop_all(processes: dict[str, subprocess.Popen[str]]) -> dict[str, int]:
    """SIGTERM every process and wait for it; its exit status by name (killed: -9)."""
    for process in processes.values():
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    codes = {}
    for name, process in processes.items():
        try:
            codes[name] = process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            codes[name] = -9
    return codes


def agent_logs(logs: Path) -> str:
    return "\n".join(f"--- {p.name}\n{p.read_text()}" for p in sorted(logs.glob("*.log")))
