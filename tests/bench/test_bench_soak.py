"""``mercato bench soak --json``: a tiny run (15 s of one auction at a time, then its drain)
through the real command line app: its own anvil, moto server and five agent processes;
markets finish, every figure is there and sane, the money checks pass. Bad input is refused
before anything starts. The growth verdict and the percentiles are checked on made-up
samples."""

from __future__ import annotations

import json
from typing import Any

import pytest
from typer.testing import CliRunner

from mercato.bench import soak
from mercato.bench.soak import lag_of, memory_of
from mercato.chaos.scenarios import AUCTION
from mercato.cli.app import app
from mercato.errors import InputError

MINUTES = 0.25
AGENTS = [f"auction-{a.name}" for a in AUCTION.agents]


@pytest.fixture(scope="module")
def report() -> dict[str, Any]:
    with pytest.MonkeyPatch.context() as patch:
        for name in ("MERCATO_RPC_URL", "MERCATO_BACKEND", "MERCATO_CONFIG", "ETH_RPC_URL"):
            patch.delenv(name, raising=False)
        args = ["bench", "soak", "--json", "--minutes", str(MINUTES), "--markets", "1"]
        result = CliRunner().invoke(app, [*args, "--protocol", "auction"])
    assert result.exit_code == 0, result.output
    payload: dict[str, Any] = json.loads(result.stdout)
    return payload


@pytest.mark.rpc
@pytest.mark.slow
@pytest.mark.usefixtures("anvil")  # skips (or fails in CI) without the binary
def test_a_tiny_soak_finishes_markets_and_reports_every_figure(report: dict[str, Any]) -> None:
    assert (report["minutes"], report["markets_open"]) == (MINUTES, 1)
    assert report["seconds"] >= MINUTES * 60
    assert report["blocks"] > 0
    assert report["passed"] is True
    assert report["failures"] == []
    assert report["agent_exits"] == []
    # markets: one open at a time, each finished, every check passed
    assert list(report["protocols"]) == ["auction"]
    auction = report["protocols"]["auction"]
    assert auction["opened"] == auction["finished"] >= 1
    assert auction["unfinished"] == []
    assert auction["markets_per_minute"] == round(auction["finished_in_window"] / MINUTES, 2)
    assert 0 < auction["market_seconds_p50"] <= auction["market_seconds_max"]
    checks = {c["name"]: c for c in auction["checks"]}
    assert set(checks) == {"ended", "audit", "once", "payments", "money"}
    assert all(c["passed"] for c in checks.values()), checks
    # lag: every agent sampled, percentiles ordered
    assert sorted(report["lag_blocks"]) == sorted(AGENTS)
    for name, lag in report["lag_blocks"].items():
        assert lag["samples"] > 1, name
        assert 0 <= lag["p50"] <= lag["p95"] <= lag["max"], name
    # memory: every agent and anvil, from /proc
    assert sorted(report["memory"]) == sorted([*AGENTS, "anvil"])
    for name, memory in report["memory"].items():
        assert 0 < memory["start_mb"] <= memory["peak_mb"], name
        assert 0 < memory["end_mb"] <= memory["peak_mb"], name
        assert memory["verdict"] in ("bounded", "grows"), name


BAD = {
    "no minutes": (["--minutes", "0"], "--minutes must be more than 0"),
    "negative minutes": (["--minutes", "-1"], "--minutes must be more than 0"),
    "no markets": (["--markets", "0"], "--markets must be 1 to"),
    "too many markets": (["--markets", "1000"], "--markets must be 1 to"),
    "unknown protocol": (["--protocol", "lottery"], "soak covers no protocol 'lottery'"),
}


@pytest.mark.parametrize(("args", "message"), BAD.values(), ids=BAD.keys())
def test_bad_input_is_one_line_and_starts_nothing(
    monkeypatch: pytest.MonkeyPatch, args: list[str], message: str
) -> None:
    def started(*_: object, **__: object) -> None:
        raise AssertionError("the soak started")

    monkeypatch.setattr(soak, "run_soak", started)

    result = CliRunner().invoke(app, ["bench", "soak", "--json", *args])

    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, InputError), repr(result.exception)
    assert message in str(result.exception)
    assert "\n" not in str(result.exception)


def test_memory_that_keeps_climbing_grows_and_a_plateau_is_bounded() -> None:
    climbing = [(minute, 100.0 + 10 * minute) for minute in range(10)]
    plateau = [(minute, 100.0 + 10 * min(minute, 3)) for minute in range(10)]

    assert memory_of(climbing).grows
    assert memory_of(climbing).second_half_mb_per_min == pytest.approx(10.0)
    assert not memory_of(plateau).grows
    assert memory_of(plateau).record()["verdict"] == "bounded"
    assert (memory_of(plateau).start_mb, memory_of(plateau).peak_mb) == (100.0, 130.0)


def test_lag_percentiles() -> None:
    lag = lag_of([0] * 18 + [5, 40])

    assert (lag.samples, lag.p50, lag.p95, lag.max) == (20, 0.0, 5.0, 40)
    assert lag_of([]).record() == {"samples": 0, "p50": 0.0, "p95": 0.0, "max": 0}
