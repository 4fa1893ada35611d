"""One whole `mercato demo --json` on a tapped embedded chain, for the tests that read what
it left: the chain scans and report checks (test_demo_on_chain.py) and the read model's HTTP
API (tests/web). The ``demo_run`` fixture of tests/conftest.py runs it once per test process;
those modules share an xdist group, so that one run serves them all.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, replace
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest
from eth_account.signers.local import LocalAccount
from typer.testing import CliRunner, Result

from mercato.chain import factory
from mercato.chain.base import Receipt, TxRequest
from mercato.cli import demo as demo_command
from mercato.cli.app import app
from mercato.protocols import demo as demo_harness
from mercato.protocols import deployment as deployment_module
from mercato.protocols.apimarket import scenario as apimarket_scenario
from mercato.protocols.apimarket.scenario import ApiMarketReport
from mercato.protocols.auction import scenario as auction_scenario
from mercato.protocols.auction.scenario import AuctionReport
from mercato.protocols.catalog import units
from mercato.protocols.datamarket import scenario as datamarket_scenario
from mercato.protocols.datamarket.scenario import DataMarketReport
from mercato.protocols.marketplace import Marketplace
from mercato.protocols.modelmarket import scenario as modelmarket_scenario
from mercato.protocols.modelmarket.scenario import ModelMarketReport
from mercato.protocols.training import scenario as training_scenario
from mercato.protocols.training.scenario import TrainingReport
from mercato.storage.base import BlobStore, open_store

from .onchain import TappedChain

SCENARIOS: tuple[ModuleType, ...] = (
    auction_scenario, training_scenario, datamarket_scenario, modelmarket_scenario,
    apimarket_scenario,
)  # fmt: skip
"""The demo's parts, in the command's order."""


class BlockTap(TappedChain):
    """The tapped chain, also keeping each transaction's input with its block (a reverted
    transaction's input is public too: it gets the block it would have had)."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[tuple[int, bytes]] = []

    def deploy(self, sender: LocalAccount, initcode: bytes, value: int = 0) -> Receipt:
        return self._kept(initcode, lambda: super(BlockTap, self).deploy(sender, initcode, value))

    def send(self, tx: TxRequest) -> Receipt:
        if tx.to is None:  # a creation goes on to deploy, which keeps it
            return super().send(tx)
        return self._kept(tx.data, lambda: super(BlockTap, self).send(tx))

    def _kept(self, data: bytes, send: Callable[[], Receipt]) -> Receipt:
        pending = self.block_number() + 1
        try:
            receipt = send()
        except Exception:
            self.sent.append((pending, bytes(data)))
            raise
        self.sent.append((receipt.block_number, bytes(data)))
        return receipt


@dataclass
class DemoRun:
    """The command's result, the chain after the five demos, the work folder the agents kept,
    the deployment file of each demo and what each reported."""

    command: Result
    chain: BlockTap
    work: Path
    store: BlobStore
    deployment_files: list[Path]
    deployments: list[deployment_module.Deployment]
    auction: AuctionReport
    training: TrainingReport
    market: DataMarketReport
    models: ModelMarketReport
    api: ApiMarketReport

    def markets(self) -> dict[str, Marketplace]:
        """The market each part ran on, by protocol key (one deployment per part, in
        catalog order)."""
        keys = [u.key for u in units()]
        pairs = zip(keys, self.deployments, strict=True)
        return {key: Marketplace(self.chain, d, self.store) for key, d in pairs}

    def agents_dir(self, scenario: ModuleType) -> Path:
        """Where the command ran the agents of ``scenario``'s part."""
        return self.work / f"{scenario.DEMO.key}-agents"


def run_demo(work: Path) -> DemoRun:
    """`mercato demo --json` on a tapped embedded chain: its work folder ``work`` kept, each
    deployment saved as `deploy` saves it, and each part's report kept as it returned it.
    The caller closes the chain (``TappedChain.close(run.chain)``: the command's close is a
    no-op, so that the tests read on)."""
    chain = BlockTap()
    saved: list[Path] = []
    deployments: list[deployment_module.Deployment] = []
    reports: dict[str, Any] = {}

    def deploy_and_save(*args: Any, **kwargs: Any) -> deployment_module.Deployment:
        deployment = deployment_module.deploy(*args, **kwargs)
        path = work / f"deployment-{len(saved) + 1}" / "deployment.json"
        deployment.save(path)
        saved.append(path)
        deployments.append(deployment)
        return deployment

    def reported(key: str, run: Callable[..., Any]) -> Callable[..., Any]:
        def run_and_keep(*args: Any) -> Any:
            reports[key] = run(*args)
            return reports[key]

        return run_and_keep

    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setattr(demo_harness, "deploy", deploy_and_save)
        monkeypatch.setattr(factory, "connect", lambda *_: chain)
        monkeypatch.setattr(chain, "close", lambda: None)  # the command closes it; we read on
        # the command's temporary folder is this one, kept for the tests to read
        folder = SimpleNamespace(TemporaryDirectory=lambda **_: nullcontext(str(work)))
        monkeypatch.setattr(demo_command, "tempfile", folder)
        for scenario in SCENARIOS:
            part = scenario.DEMO
            monkeypatch.setattr(scenario, "DEMO", replace(part, run=reported(part.key, part.run)))
        command = CliRunner().invoke(app, ["demo", "--json"])
    assert command.exit_code == 0, command.output
    parts = [reports[scenario.DEMO.key] for scenario in SCENARIOS]
    store = open_store(str(work / "blobs"))  # the local folder `mercato demo` uses
    return DemoRun(command, chain, work, store, saved, deployments, *parts)
