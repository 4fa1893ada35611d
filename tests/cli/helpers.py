"""Drive the ``mercato`` CLI in-process (or as subprocesses) against one deployed market.

The cast, by development-account index: 0 deploys, 1 is the client, 2 the arbiter, 3 and 6
own data, 4 owns an algorithm, 5 provides compute, 7 is registered for nothing.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import pytest
from typer.testing import CliRunner, Result

from mercato.chain.accounts import dev_account
from mercato.chain.rpc import RpcChain
from mercato.cli.app import app, main
from mercato.ontology.requirements import Requirements
from mercato.protocols.auction.house import Auction
from mercato.protocols.deployment import Deployment
from mercato.protocols.marketplace import Marketplace
from mercato.storage.base import open_store

ETHER = 10**18
DEPLOYER, CLIENT, ARBITER, DATA, MODEL, COMPUTE, DATA_2, STRANGER = range(8)
ROLES = {
    CLIENT: "client",
    ARBITER: "arbiter",
    DATA: "data-owner",
    MODEL: "model-owner",
    COMPUTE: "compute-provider",
    DATA_2: "data-owner",
}
AGENT_TIMEOUT_S = 180


def address(index: int) -> str:
    return str(dev_account(index).address)


def requirements(minimum: float = 0.9) -> Requirements:
    """Digits classification on attested compute (what the agents of the cast can serve)."""
    return Requirements(
        data="mc:LabelledImages",
        algorithm="mc:ClassificationAlgorithm",
        infrastructure="mc:AttestedCompute",
        task="classify 8x8 handwritten digits",
        metric="accuracy",
        minimum=minimum,
    )


def mercato_binary() -> str:
    """The installed ``mercato`` script of the interpreter running the tests."""
    beside = Path(sys.executable).with_name("mercato")
    found = str(beside) if beside.is_file() else shutil.which("mercato")
    assert found, "the mercato script is not installed (pip install -e .)"
    return found


def point_settings_at(monkeypatch: pytest.MonkeyPatch, home: Path, url: str) -> None:
    """Every setting the CLI reads, inside ``home`` (also the working directory)."""
    monkeypatch.chdir(home)
    monkeypatch.setenv("MERCATO_RPC_URL", url)
    monkeypatch.setenv("MERCATO_DEPLOYMENT", str(home / "deployment.json"))
    monkeypatch.setenv("MERCATO_STORE", str(home / "blobs"))
    monkeypatch.setenv("MERCATO_AGENT_DIR", str(home / "agents"))
    monkeypatch.setenv("MERCATO_CONFIG", str(home / "absent.toml"))
    for name in ("MERCATO_BACKEND", "MERCATO_PRIVATE_KEY"):
        monkeypatch.delenv(name, raising=False)


@dataclass
class Cli:
    """The CLI of one test's market: settings come from MERCATO_* variables set by the fixture."""

    url: str
    home: Path
    _market: Marketplace | None = None

    def __call__(self, *args: object) -> Result:
        return CliRunner().invoke(app, [str(a) for a in args])

    def ok(self, *args: object) -> Result:
        result = self(*args)
        assert result.exit_code == 0, (
            f"mercato {' '.join(map(str, args))} failed ({result.exit_code}): "
            f"{result.output}{result.exception!r}"
        )
        return result

    def json(self, *args: object) -> Any:
        return json.loads(self.ok(*args, "--json").stdout)

    # reading the chain directly, to check what the CLI did ---------------------------------
    def market(self) -> Marketplace:
        """The market the CLI deployed (read once the deployment file exists)."""
        if self._market is None:
            deployment = Deployment.load(Path(os.environ["MERCATO_DEPLOYMENT"]))
            store = open_store(os.environ["MERCATO_STORE"])
            self._market = Marketplace(RpcChain(self.url), deployment, store)
        return self._market

    def close(self) -> None:
        if self._market is not None:
            self._market.chain.close()

    def auction(self, auction_id: int) -> Auction:
        return self.market().auction_house.auction(auction_id)

    def state(self) -> tuple[Any, ...]:
        """Everything a bad command must leave as it was: head, auctions, money owed."""
        market = self.market()
        house = market.auction_house
        count = house.auction_count()
        return (
            market.chain.block_number(),
            count,
            [house.auction(i) for i in range(1, count + 1)],
            [house.owed(address(i)) for i in range(8)],
        )

    # the story so far ------------------------------------------------------------------------
    def setup_market(self) -> None:
        """Deploy and register the cast."""
        self.ok("deploy", "--account", DEPLOYER)
        for index, role in ROLES.items():
            self.register(role, index)

    def register(self, role: str, *accounts: int) -> None:
        """``mercato register --roles <role>`` of each development account in ``accounts``."""
        for index in accounts:
            self.ok("register", "--roles", role, "--account", index)

    def create(self, minimum: float = 0.9, duration: int = 3600, *extra: object) -> int:
        path = self.home / f"requirements-{minimum}.json"
        path.write_bytes(requirements(minimum).to_json_bytes())
        created = self.json(
            "auction", "create", "--requirements", path, "--max-prices", "1,1,1",
            "--duration", duration, "--arbiter", address(ARBITER), "--account", CLIENT, *extra,
        )  # fmt: skip
        return int(created["id"])

    def agent(self, *args: object) -> Result:
        """``mercato agent run --once ...`` in-process."""
        return self.ok("agent", "run", "--once", "--log-level", "warning", *args)

    def spawn(
        self, *args: object, stdout: IO[str] | int = subprocess.PIPE
    ) -> subprocess.Popen[str]:
        """``mercato agent run ...`` as its own process (MERCATO_* come from os.environ)."""
        return subprocess.Popen(
            [mercato_binary(), "agent", "run", *map(str, args)],
            cwd=self.home,
            env={**os.environ, "MERCATO_RPC_URL": self.url},
            stdout=stdout,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def spawn_agent(self, *args: object) -> subprocess.Popen[str]:
        """``mercato agent run --once ...`` as its own process, its output piped."""
        return self.spawn("--once", *args)


DATA_AGENT = ("--role", "provider", "--category", "data", "--dataset", "digits",
              "--floor", "0.3", "--account", DATA)  # fmt: skip
MODEL_AGENT = ("--role", "provider", "--category", "algorithm", "--algorithm",
               "logistic_regression", "--floor", "0.2", "--account", MODEL)  # fmt: skip
COMPUTE_AGENT = ("--role", "provider", "--category", "infrastructure", "--floor", "0.3",
                 "--account", COMPUTE)  # fmt: skip


def wait_all(processes: list[subprocess.Popen[str]]) -> list[str]:
    """Wait for every process; fail with its output if one did not exit 0."""
    outputs = []
    for process in processes:
        try:
            out, _ = process.communicate(timeout=AGENT_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            out, _ = process.communicate()
        assert process.returncode == 0, f"agent exited {process.returncode}:\n{out}"
        outputs.append(out)
    return outputs


def run_main(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: object
) -> tuple[int, str, str]:
    """``mercato ARGS`` through the installed entry point: exit status, stdout, stderr."""
    monkeypatch.setattr(sys, "argv", ["mercato", *map(str, args)])
    with pytest.raises(SystemExit) as exit_info:
        main()
    captured = capsys.readouterr()
    code = exit_info.value.code
    return (code if isinstance(code, int) else 0), captured.out, captured.err


@contextmanager
def module_market(url: str, tmp_path_factory: pytest.TempPathFactory, name: str) -> Iterator[Cli]:
    """A CLI over the shared node at ``url`` with its market deployed and its cast
    registered, for one module's cases (settings in a folder ``name``); the chain goes back
    to where it was afterwards."""
    chain = RpcChain(url)
    snapshot = chain.rpc("evm_snapshot")
    home = tmp_path_factory.mktemp(name)
    with pytest.MonkeyPatch.context() as monkeypatch:
        point_settings_at(monkeypatch, home, url)
        cli = Cli(url, home)
        try:
            cli.setup_market()
            yield cli
        finally:
            cli.close()
            chain.rpc("evm_revert", snapshot)
            chain.close()
