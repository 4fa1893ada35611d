"""``mercato bench serve --json``: a tiny run (3 entries of each protocol, 1 s per endpoint)
through the real command line app: its own anvil, ``mercato serve`` as a process, every
endpoint answered."""

from __future__ import annotations

import json
from typing import Any

import pytest
from typer.testing import CliRunner

from mercato.bench.serve import ENDPOINTS
from mercato.cli.app import app

# the `anvil` fixture skips (or fails in CI) without the binary; the bench starts its own node
pytestmark = [pytest.mark.rpc, pytest.mark.slow, pytest.mark.usefixtures("anvil")]

ENTRIES = 3
CLIENTS = 2


@pytest.fixture
def report(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    for name in ("MERCATO_RPC_URL", "MERCATO_BACKEND", "MERCATO_CONFIG", "ETH_RPC_URL"):
        monkeypatch.delenv(name, raising=False)
    args = ["bench", "serve", "--json", "--entries", str(ENTRIES), "--seconds", "1"]
    result = CliRunner().invoke(app, [*args, "--clients", str(CLIENTS)])
    assert result.exit_code == 0, result.output
    payload: dict[str, Any] = json.loads(result.stdout)
    return payload


def test_a_tiny_run_loads_every_endpoint_without_errors(report: dict[str, Any]) -> None:
    # assert: the run as asked
    assert (report["entries"], report["clients"], report["seconds_per_endpoint"]) == (
        ENTRIES, CLIENTS, 1.0,
    )  # fmt: skip
    # the deployment, 4 registrations, a model, a dataset and 3 entries of each protocol
    assert report["transactions"] >= 6 + 4 + 2 + 3 * ENTRIES
    # every endpoint loaded, each request answered 200, figures for each
    rows = report["endpoints"]
    assert [row["path"] for row in rows] == list(ENDPOINTS)
    for row in rows:
        assert row["requests"] > 0, row
        assert row["errors"] == 0, row
        assert row["first_error"] is None
        assert row["requests_per_s"] > 0
        assert 0 < row["p50_ms"] <= row["p99_ms"]
    assert set(report["warmup_ms"]) == set(ENDPOINTS)
    # the server's memory, read from /proc before and after
    memory = report["server_memory"]
    for moment in ("before", "after"):
        assert 0 < memory[moment]["rss_mb"] <= memory[moment]["peak_rss_mb"]
