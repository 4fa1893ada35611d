"""Where a newcomer stands: `register` adds roles, `status`, `accounts`, `chain up`'s account
list, `deploy --out` checked before any transaction, and `template`'s example documents."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import tomllib
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from mercato.chain import Anvil, RpcChain
from mercato.chain.accounts import DEV_ADDRESSES, account_from_keystore, dev_account
from mercato.cli.app import app
from mercato.config import Settings
from mercato.examples import EXAMPLES, example_bytes
from mercato.ontology.requirements import Requirements
from mercato.protocols.roles import Role

from .helpers import ARBITER, CLIENT, DEPLOYER, ETHER, Cli, address, point_settings_at, run_main
from .test_cli_imports import PROGRAM, READ_HEAVY

CHAIN_UP_TIMEOUT_S = 60


@pytest.fixture
def no_node(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dead_endpoint: str) -> Path:
    """Settings in ``tmp_path`` pointing at a port on which nothing listens."""
    point_settings_at(monkeypatch, tmp_path, dead_endpoint)
    return tmp_path


# register -------------------------------------------------------------------------------------
@pytest.mark.rpc
def test_register_adds_roles_to_those_held(cli: Cli) -> None:
    # prepare
    cli.ok("deploy", "--account", DEPLOYER)
    cli.ok("register", "--roles", "client", "--account", CLIENT)

    # act
    result = cli.ok("register", "--roles", "arbiter", "--account", CLIENT)

    # assert
    assert result.stdout.startswith("0x7099…79C8 now holds client, arbiter (stake 0 ETH) (tx 0x")
    assert cli.market().registry.roles_of(address(CLIENT)) == Role.CLIENT | Role.ARBITER


@pytest.mark.rpc
def test_register_replace_drops_the_roles_not_listed(cli: Cli) -> None:
    # prepare
    cli.ok("deploy", "--account", DEPLOYER)
    cli.ok("register", "--roles", "client,data-owner", "--account", CLIENT)

    # act
    result = cli.ok("register", "--roles", "arbiter", "--replace", "--account", CLIENT)

    # assert
    assert "now holds arbiter (stake 0 ETH)" in result.stdout
    assert cli.market().registry.roles_of(address(CLIENT)) == Role.ARBITER


@pytest.mark.rpc
def test_register_with_roles_already_held_sends_nothing(cli: Cli) -> None:
    # prepare
    cli.ok("deploy", "--account", DEPLOYER)
    cli.ok("register", "--roles", "client,arbiter", "--account", CLIENT)
    head = cli.market().chain.block_number()

    # act
    result = cli.ok("register", "--roles", "arbiter", "--account", CLIENT)

    # assert
    assert (
        result.stdout == "0x7099…79C8 already holds client, arbiter (stake 0 ETH): nothing sent\n"
    )
    assert cli.market().chain.block_number() == head


@pytest.mark.rpc
def test_register_with_stake_sends_even_for_roles_held(cli: Cli) -> None:
    # prepare
    cli.ok("deploy", "--account", DEPLOYER)
    cli.ok("register", "--roles", "client", "--account", CLIENT)

    # act
    result = cli.ok("register", "--roles", "client", "--stake", "0.25", "--account", CLIENT)

    # assert
    assert "now holds client (stake 0.25 ETH)" in result.stdout
    assert cli.market().registry.stake_of(address(CLIENT)) == ETHER // 4


@pytest.mark.rpc
def test_register_json_gives_the_roles_held(cli: Cli) -> None:
    # prepare
    cli.ok("deploy", "--account", DEPLOYER)
    cli.ok("register", "--roles", "arbiter", "--account", CLIENT)

    # act
    added = cli.json("register", "--roles", "client", "--account", CLIENT)
    again = cli.json("register", "--roles", "client", "--account", CLIENT)

    # assert
    assert added["address"] == address(CLIENT)
    assert added["roles"] == ["client", "arbiter"]
    assert added["roles_mask"] == int(Role.CLIENT | Role.ARBITER)
    assert added["tx"].startswith("0x")
    assert again["roles"] == ["client", "arbiter"]
    assert again["tx"] is None


# status ---------------------------------------------------------------------------------------
def test_status_without_a_node_is_one_line_and_says_how_to_start_one(
    no_node: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # act
    code, out, err = run_main(monkeypatch, capsys, "status", "--account", CLIENT)

    # assert: every section still printed; the node's is one line
    assert code == 0
    assert err == ""
    node = [line for line in out.splitlines() if line.startswith("node")]
    assert len(node) == 1
    assert "cannot reach the node" in node[0]
    assert f"account     {address(CLIENT)} (development account 1)" in out
    assert "deployment.json: not found" in out
    assert "`mercato chain up`" in out
    assert "`mercato deploy --account 0`" in out


def test_status_without_any_node_url_says_how_to_set_one(
    no_node: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # prepare
    monkeypatch.delenv("MERCATO_RPC_URL")

    # act
    view = json.loads(CliRunner().invoke(app, ["status", "--json"]).stdout)

    # assert
    assert view["node"]["reachable"] is False
    assert "MERCATO_RPC_URL" in view["node"]["error"]
    assert view["account"] is None
    assert any("mercato chain up" in step for step in view["next"])
    assert any("--account N" in step for step in view["next"])


@pytest.mark.rpc
def test_status_without_a_deployment_says_to_deploy(cli: Cli) -> None:
    # act
    result = cli.ok("status")
    view = cli.json("status")

    # assert
    assert "deployment.json: not found" in result.stdout
    assert "`mercato deploy --account 0`" in result.stdout
    assert "pick an account with --account N" in result.stdout
    assert view["node"]["reachable"] is True
    assert view["node"]["chain_id"] == 31337
    assert view["deployment"]["found"] is False
    assert view["counts"] is None


@pytest.mark.rpc
def test_status_shows_the_accounts_roles_stake_balance_and_what_it_is_owed(
    cli: Cli, rpc_chain: RpcChain
) -> None:
    # prepare: a client with stake whose auction (created from the template) drew no bid,
    # so after the deadline the auction house owes it the whole 3 ETH reserve
    cli.ok("deploy", "--account", DEPLOYER)
    cli.ok("register", "--roles", "client", "--stake", "0.25", "--account", CLIENT)
    cli.ok("register", "--roles", "arbiter", "--account", ARBITER)
    cli.ok("template", "requirements", "--out", cli.home / "req.json")
    cli.ok("auction", "create", "--requirements", cli.home / "req.json", "--max-prices", "1,1,1",
           "--duration", 60, "--arbiter", address(ARBITER), "--account", CLIENT)  # fmt: skip
    rpc_chain.time_travel(120)
    cli.ok("auction", "adjudicate", 1, "--account", ARBITER)

    # act
    view = cli.json("status", "--account", CLIENT)
    text = cli.ok("status", "--account", CLIENT).stdout

    # assert
    account = view["account"]
    assert account["address"] == address(CLIENT)
    assert account["roles"] == ["client"]
    assert account["stake"] == ETHER // 4
    assert account["balance"] == rpc_chain.balance(address(CLIENT))
    assert account["owed"] == {
        "auction_house": 3 * ETHER,
        "training_market": 0,
        "data_market": 0,
        "model_market": 0,
        "api_market": 0,
    }
    assert view["counts"] == {
        "auctions": 1, "trainings": 0, "datasets": 0, "tasks": 0, "requests": 0, "APIs": 0
    }  # fmt: skip
    assert view["deployment"]["code"] is True
    assert view["next"] == []
    assert "  roles     client\n" in text
    assert "  stake     0.25 ETH\n" in text
    owed = (
        "auction house 3 ETH, training market 0 ETH, data market 0 ETH, model market 0 ETH, "
        "API market 0 ETH"
    )
    assert f"  owed      {owed}\n" in text
    assert "market      1 auction, 0 trainings, 0 datasets, 0 tasks, 0 requests, 0 APIs\n" in text
    assert "code at all 6 contracts" in text


@pytest.mark.rpc
def test_status_knows_a_deployment_the_node_does_not_hold(cli: Cli, rpc_chain: RpcChain) -> None:
    # prepare: a deployment file whose contracts are gone (as after a node restart)
    cli.ok("deploy", "--account", DEPLOYER)
    deployment = json.loads((cli.home / "deployment.json").read_text())
    rpc_chain.rpc("anvil_setCode", deployment["registry"], "0x")

    # act
    view = cli.json("status")

    # assert
    assert view["deployment"]["code"] is False
    assert "no code on the node at registry" in view["deployment"]["error"]
    assert view["counts"] is None
    assert any("mercato deploy" in step for step in view["next"])


def test_status_knows_a_keystores_address_without_its_password(no_node: Path) -> None:
    # prepare
    keystore = no_node / "keystore.json"
    keystore.write_bytes(example_bytes("keystore"))

    # act
    view = json.loads(
        CliRunner().invoke(app, ["status", "--keystore", str(keystore), "--json"]).stdout
    )

    # assert
    assert view["account"]["address"] == DEV_ADDRESSES[0]
    assert view["account"]["source"] == f"keystore {keystore}"


def test_status_knows_the_address_of_a_private_key_in_the_environment(
    no_node: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # prepare
    monkeypatch.setenv("MERCATO_PRIVATE_KEY", "0x" + bytes(dev_account(3).key).hex())

    # act
    view = json.loads(CliRunner().invoke(app, ["status", "--json"]).stdout)

    # assert
    assert view["account"]["address"] == DEV_ADDRESSES[3]


@pytest.mark.rpc
def test_status_loads_no_heavy_dependency(cli: Cli) -> None:
    # prepare: a deployed market (its contracts compiled, so cached on disk)
    cli.ok("deploy", "--account", DEPLOYER)
    cli.ok("register", "--roles", "client", "--account", CLIENT)

    # act
    result = subprocess.run(
        [sys.executable, "-c", PROGRAM, json.dumps(["status", "--account", "1", "--json"]),
         json.dumps(READ_HEAVY)],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip

    # assert: the account's roles were read, with none of them loaded
    *output, loaded = result.stdout.splitlines()
    assert json.loads("\n".join(output))["account"]["roles"] == ["client"]
    assert json.loads(loaded) == []


# accounts -------------------------------------------------------------------------------------
@pytest.mark.rpc
def test_accounts_lists_balances_and_roles(cli: Cli, rpc_chain: RpcChain) -> None:
    # prepare
    cli.ok("deploy", "--account", DEPLOYER)
    cli.ok("register", "--roles", "client,arbiter", "--account", CLIENT)

    # act
    text = cli.ok("accounts").stdout
    records = cli.json("accounts", "--count", 3)["accounts"]

    # assert
    lines = [line for line in text.splitlines() if line.startswith("(")]
    assert len(lines) == 10
    assert lines[1].startswith(f"(1) {address(CLIENT)}")
    assert lines[1].endswith("ETH  client, arbiter")
    assert lines[2].endswith("10000 ETH  no roles")
    assert [r["index"] for r in records] == [0, 1, 2]
    assert [r["address"] for r in records] == list(DEV_ADDRESSES[:3])
    assert records[1]["roles"] == ["client", "arbiter"]
    assert records[1]["balance"] == rpc_chain.balance(address(CLIENT))


@pytest.mark.rpc
def test_accounts_without_a_deployment_shows_balances_and_says_to_deploy(cli: Cli) -> None:
    # act
    text = cli.ok("accounts", "--count", 2).stdout

    # assert
    assert f"(0) {DEV_ADDRESSES[0]}  10000 ETH\n" in text
    assert "mercato deploy" in text


def test_accounts_without_a_node_lists_addresses_only(no_node: Path) -> None:
    # act
    result = CliRunner().invoke(app, ["accounts", "--count", "12"])

    # assert
    assert result.exit_code == 0, result.output
    assert f"(11) {DEV_ADDRESSES[11]}\n" in result.stdout
    assert "addresses only" in result.stdout
    listed = [line for line in result.stdout.splitlines() if line.startswith(("(", " ("))]
    assert all(line.endswith(DEV_ADDRESSES[i]) for i, line in enumerate(listed))  # no balance
    assert len(listed) == 12


# chain up -------------------------------------------------------------------------------------
@pytest.mark.rpc
def test_chain_up_lists_the_development_accounts_and_keys_as_anvil_does(
    anvil: Anvil, tmp_path: Path
) -> None:
    # act: a node on a free port, stopped once it printed how to reach it
    process = subprocess.Popen(
        [sys.executable, "-c", "from mercato.cli.app import main; main()",
         "chain", "up", "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=tmp_path,
        env={**os.environ, "COLUMNS": "200"},
    )  # fmt: skip
    lines: list[str] = []
    deadline = time.monotonic() + CHAIN_UP_TIMEOUT_S
    try:
        assert process.stdout is not None
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            lines.append(line.rstrip("\n"))
            if line.startswith("export MERCATO_RPC_URL="):
                break
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(CHAIN_UP_TIMEOUT_S)
    text = "\n".join(lines)

    # assert
    assert f"(0) {DEV_ADDRESSES[0]} (10000.000000 ETH)" in text
    assert f"(19) {DEV_ADDRESSES[19]} (10000.000000 ETH)" in text
    assert f"(1) 0x{bytes(dev_account(1).key).hex()}" in text
    assert "Mnemonic:          test test test test test test test test test test test junk" in text
    assert "Never send real money" in text
    assert lines[-1].startswith("export MERCATO_RPC_URL=http://127.0.0.1:")
    assert text.index("Private Keys") < text.index("anvil listening on")


# deploy ---------------------------------------------------------------------------------------
@pytest.mark.rpc
@pytest.mark.parametrize("where", ["proc", "folder", "under-a-file"])
def test_deploy_to_a_place_it_cannot_write_sends_nothing(
    cli: Cli,
    rpc_chain: RpcChain,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    where: str,
) -> None:
    # prepare
    (cli.home / "afile").write_text("")
    out = {
        "proc": Path("/proc/nope/d.json"),
        "folder": cli.home,
        "under-a-file": cli.home / "afile" / "d.json",
    }[where]
    head = rpc_chain.block_number()

    # act
    code, stdout, err = run_main(monkeypatch, capsys, "deploy", "--out", out, "--account", 0)

    # assert: one line, exit 1, no transaction
    assert code == 1
    assert stdout == ""
    assert err.count("\n") == 1
    assert err.startswith(f"error: cannot write {out}")
    assert "Nothing was deployed" in err
    assert rpc_chain.block_number() == head


@pytest.mark.rpc
def test_deploy_says_where_everything_went(cli: Cli) -> None:
    # act
    text = cli.ok("deploy", "--out", cli.home / "here" / "d.json", "--account", DEPLOYER).stdout

    # assert: one line per contract, then the files
    lines = text.splitlines()
    assert [line.split()[0] for line in lines[:5]] == [
        "Registry", "AuctionHouse", "TrainingMarket", "DataMarket", "ModelMarket"
    ]  # fmt: skip
    assert f"deployment file {cli.home / 'here' / 'd.json'}" in text
    assert f"ABI files in {cli.home / 'here' / 'abi'}/" in text
    assert (cli.home / "here" / "abi" / "Registry.json").is_file()


# template -------------------------------------------------------------------------------------
def test_the_requirements_template_is_valid_and_names_every_field() -> None:
    # act
    result = CliRunner().invoke(app, ["template", "requirements"])

    # assert
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    requirements = Requirements.parse(result.stdout)
    assert set(document) == {"classes", "constraints", "metric", "ontology", "task", "version"}
    assert document["constraints"]
    assert requirements.data == "mc:LabelledImages"  # what the demo agents serve


def test_template_out_writes_the_file_and_refuses_to_overwrite(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # prepare
    target = tmp_path / "req.json"

    # act
    first = run_main(monkeypatch, capsys, "template", "requirements", "--out", target)
    again = run_main(monkeypatch, capsys, "template", "requirements", "--out", target)
    forced = run_main(monkeypatch, capsys, "template", "config", "--out", target, "--force")

    # assert
    assert first[0] == 0
    assert again[0] == 1
    assert "exists; pass --force" in again[2]
    assert forced[0] == 0
    assert target.read_bytes() == example_bytes("config")


def test_the_config_template_names_every_setting() -> None:
    # act
    document = tomllib.loads(example_bytes("config").decode())

    # assert
    assert set(document) == {f.name for f in fields(Settings)}


def test_the_keystore_template_opens_with_its_documented_password(tmp_path: Path) -> None:
    # prepare
    path = tmp_path / "keystore.json"
    path.write_bytes(example_bytes("keystore"))

    # act
    account = account_from_keystore(path, password="mercato")

    # assert
    assert account.address == DEV_ADDRESSES[0]


def test_template_help_lists_every_kind() -> None:
    # act
    result = CliRunner().invoke(app, ["template", "--help"])

    # assert
    assert all(kind in result.stdout for kind in EXAMPLES)


def test_an_unknown_template_is_one_line_listing_the_kinds(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # act
    code, _, err = run_main(monkeypatch, capsys, "template", "requirement")

    # assert
    assert code == 1
    assert err == "error: no template 'requirement'. Did you mean 'requirements'? Templates: " \
        "requirements, schema, config, keystore\n"  # fmt: skip


def test_a_malformed_requirements_file_names_the_field_and_points_to_the_template(
    no_node: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # prepare: the template without its metric
    document: dict[str, Any] = json.loads(example_bytes("requirements"))
    del document["metric"]
    path = no_node / "req.json"
    path.write_text(json.dumps(document))

    # act
    code, _, err = run_main(monkeypatch, capsys, "auction", "create", "--requirements", path,
                            "--max-prices", "1,1,1", "--arbiter", address(ARBITER),
                            "--account", CLIENT)  # fmt: skip

    # assert
    assert code == 1
    assert err.count("\n") == 1
    assert "missing field 'metric'" in err
    assert "mercato template requirements" in err
