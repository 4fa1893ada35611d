"""The chaos scenarios' pure parts: their casts, their one-shot lists, P4's seller models
and P5's service and consumer.

No market runs here (``mercato bench chaos --protocol P`` runs them live).
"""

from __future__ import annotations

import stat
from collections import Counter
from pathlib import Path

import pytest

from mercato.chain.accounts import dev_account
from mercato.chain.anvil import DEV_ACCOUNT_COUNT
from mercato.chain.compile import compile_contract
from mercato.chaos import SCENARIOS, scenarios_models, schedule
from mercato.chaos.scenarios import ENTRY
from mercato.chaos.scenarios_models import (
    API_ORCHESTRATOR,
    API_ROWS,
    APIMARKET,
    FUNDS,
    MODELMARKET,
    SellerSpec,
    api_rows,
    fund,
    seller_model,
)
from mercato.chaos.services import AgentProcess
from mercato.errors import MercatoError
from mercato.protocols.catalog import unit
from mercato.protocols.modelmarket.models import read_seller_model


@pytest.mark.parametrize("protocol", sorted(SCENARIOS))
def test_one_shot_names_are_functions_of_the_protocols_contract(protocol: str) -> None:
    scenario = SCENARIOS[protocol]
    functions = {item["name"] for item in compile_contract(unit(protocol).contract).abi
                 if item.get("type") == "function"}  # fmt: skip

    assert scenario.one_shot, protocol
    assert scenario.one_shot <= functions, sorted(scenario.one_shot - functions)


@pytest.mark.parametrize("protocol", sorted(SCENARIOS))
def test_every_agent_plays_a_role_of_its_protocol_from_a_registered_account(
    protocol: str,
) -> None:
    scenario = SCENARIOS[protocol]
    roles = {role.name for role in unit(protocol).roles}
    registered = {account for account, _ in scenario.registrations}

    assert set(scenario.early) | set(scenario.services) == set(scenario.agents)
    for spec in scenario.early:
        args = list(spec.args)
        assert args[args.index("--role") + 1] in roles, spec
        assert spec.account in registered, spec
    for service in scenario.services:
        assert service.account in registered, service


def test_p1_to_p4_start_every_agent_before_the_market_and_send_no_traffic() -> None:
    for protocol in ("auction", "training", "datamarket", "modelmarket"):
        scenario = SCENARIOS[protocol]

        assert scenario.services == () and scenario.traffic is None, protocol
        assert scenario.early == scenario.agents


def test_p5s_orchestrator_serves_the_api_opened_and_is_killed_as_any_agent() -> None:
    (orchestrator,) = APIMARKET.services
    planned = schedule(3, [a.name for a in APIMARKET.agents], 40)

    command = orchestrator.command_for(7)

    assert command[:4] == ("orchestrator", "serve", "--api", "7")
    assert command[command.index("--account") + 1] == str(API_ORCHESTRATOR)
    assert ENTRY not in " ".join(command)
    assert orchestrator.name in {f.target for f in planned if f.kind == "kill"}
    assert {a.account for a in APIMARKET.agents} == {a for a, _ in APIMARKET.registrations}


def test_a_service_process_runs_its_whole_command_an_agent_runs_agent_run(
    tmp_path: Path,
) -> None:
    agent = AgentProcess("vendor-23", ("--role", "vendor"), {}, tmp_path / "a.log", tmp_path)
    service = AgentProcess(
        "orchestrator", ("orchestrator", "serve", "--api", "1"), {}, tmp_path / "o.log", tmp_path,
        whole=True,
    )  # fmt: skip

    assert agent.args == ("agent", "run", "--name", "vendor-23", "--role", "vendor")
    assert service.args == ("orchestrator", "serve", "--api", "1")


class _Commands:
    """``mercato ARGS --json`` as the traffic sees it: each call's outcome in turn."""

    def __init__(self, outcomes: list[str]) -> None:
        self.outcomes = outcomes
        self.calls: list[tuple[str, ...]] = []

    def __call__(self, *args: str) -> dict[str, object]:
        self.calls.append(args)
        outcome = self.outcomes.pop(0)
        if outcome != "ok":
            raise MercatoError(outcome)
        return {}


def test_p5s_consumer_sends_an_unanswered_call_again_and_stops_after_its_calls(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(scenarios_models, "CALL_PAUSE_S", 0.0)
    monkeypatch.setattr(scenarios_models, "api_rows", lambda: tmp_path / "rows.npy")
    commands = _Commands([
        "API 4 is joining, not live", "ok",
        "call 1 of epoch 0 of API 4 got no answer: send it again first (mercato api call 4 "
        "--retry)", "node down", "ok", "ok", "never asked",
    ])  # fmt: skip

    assert APIMARKET.traffic is not None
    APIMARKET.traffic(commands, 4)

    sent = [c[3] for c in commands.calls]
    assert sent == ["--rows", "--rows", "--rows", "--retry", "--retry", "--rows"]
    assert all(c[:3] == ("api", "call", "4") for c in commands.calls)
    assert commands.outcomes == ["never asked"]


def test_p5s_rows_are_made_once(tmp_path: Path) -> None:
    import numpy as np

    path = api_rows(tmp_path)
    made = path.stat().st_mtime_ns

    assert api_rows(tmp_path) == path and path.stat().st_mtime_ns == made
    assert np.load(path).shape == (API_ROWS, 64)


def test_scenarios_share_no_account_so_a_soak_runs_them_on_one_node() -> None:
    uses = Counter(account for s in SCENARIOS.values() for account, _ in s.registrations)

    assert [account for account, n in uses.items() if n > 1] == []
    assert 0 not in uses  # the deployer's
    assert min(account for account, _ in MODELMARKET.registrations) >= 16


class _Chain:
    def __init__(self) -> None:
        self.balances: dict[str, int] = {}

    def balance(self, address: str) -> int:
        return self.balances.get(address, 0)

    def set_balance(self, address: str, wei: int) -> None:
        self.balances[address] = wei


class _Market:
    def __init__(self) -> None:
        self.chain = _Chain()


def test_only_accounts_the_node_does_not_fund_are_topped_up() -> None:
    market = _Market()
    funded, unfunded, rich = DEV_ACCOUNT_COUNT - 1, DEV_ACCOUNT_COUNT, DEV_ACCOUNT_COUNT + 1
    market.chain.balances[dev_account(rich).address] = 2 * FUNDS

    fund(market, (funded, unfunded, rich))  # type: ignore[arg-type]

    assert market.chain.balances == {
        dev_account(unfunded).address: FUNDS,
        dev_account(rich).address: 2 * FUNDS,
    }


def test_a_seller_model_is_made_once_readable_by_its_owner_only(tmp_path: Path) -> None:
    path = seller_model("decision_tree", tmp_path)
    made = path.stat()

    again = seller_model("decision_tree", tmp_path)
    offered = read_seller_model(again)

    assert again == path and again.stat().st_mtime_ns == made.st_mtime_ns
    assert stat.S_IMODE(made.st_mode) == 0o600
    assert offered.features == 64
    assert offered.kind == "DecisionTreeClassifier"


def test_a_seller_agent_is_told_its_model_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    made: list[str] = []

    def fake_model(kind: str) -> Path:
        made.append(kind)
        return tmp_path / f"{kind}.skops"

    monkeypatch.setattr(scenarios_models, "seller_model", fake_model)
    sellers = [s for s in MODELMARKET.agents if isinstance(s, SellerSpec)]

    assert len(sellers) == 2 and len({s.model for s in sellers}) == 2
    for spec in sellers:
        command = spec.command()
        assert command[command.index("--account") + 1] == str(spec.account)
        assert command[command.index("--model") + 1] == str(tmp_path / f"{spec.model}.skops")
    assert made == [s.model for s in sellers]
