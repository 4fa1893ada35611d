"""`mercato abi CONTRACT`: the JSON ABI that `deploy` writes beside the deployment file."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mercato.cli.app import app, main
from mercato.protocols.deployment import Deployment

NAMES = {
    "registry": "Registry",
    "auction-house": "AuctionHouse",
    "training-market": "TrainingMarket",
    "data-market": "DataMarket",
}
DEAD_NODE = "http://127.0.0.1:9"
"""Settings point here: a command that tried to reach a node would fail."""


@pytest.fixture
def no_node(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MERCATO_RPC_URL", DEAD_NODE)
    monkeypatch.setenv("MERCATO_DEPLOYMENT", str(tmp_path / "absent.json"))


@pytest.mark.parametrize("name", NAMES)
def test_abi_prints_the_file_deploy_writes(no_node: None, tmp_path: Path, name: str) -> None:
    # prepare: the ABI files a deployment writes
    deployment = Deployment(
        31337,
        1,
        "0x" + "11" * 20,
        {
            "auction_house": "0x" + "22" * 20,
            "training_market": "0x" + "33" * 20,
            "data_market": "0x" + "44" * 20,
        },
    )
    deployment.save(tmp_path / "deployment.json")

    # act
    result = CliRunner().invoke(app, ["abi", name])

    # assert: valid JSON, a whole ABI, byte for byte the published file
    assert result.exit_code == 0, result.output
    abi = json.loads(result.stdout)
    assert {"event", "function"} <= {item["type"] for item in abi}
    assert result.stdout == (tmp_path / "abi" / f"{NAMES[name]}.json").read_text()


def test_abi_help_lists_the_contracts() -> None:
    # act
    result = CliRunner().invoke(app, ["abi", "--help"])

    # assert
    assert result.exit_code == 0
    assert all(name in result.stdout for name in NAMES)


def test_an_unknown_contract_fails_with_one_line_listing_the_choices(
    no_node: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # prepare
    monkeypatch.setattr(sys, "argv", ["mercato", "abi", "AuctionHouse"])

    # act
    with pytest.raises(SystemExit) as exit_info:
        main()

    # assert
    captured = capsys.readouterr()
    assert exit_info.value.code == 1
    assert captured.out == ""
    assert captured.err.count("\n") == 1
    assert captured.err.startswith("error: no contract named 'AuctionHouse'")
    assert all(name in captured.err for name in NAMES)
