"""``mercato demo --serve`` as a process: the whole demo on its own anvil, then the dashboard
and API over its five markets until SIGTERM, which stops the server and anvil (exit 0).

The demo is tests/conftest.py's ``served_demo``, shared with the browser's tests and the
report's checks; this module runs last of them, as it stops the demo."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests
from tests.served_demo import ServedDemo

from mercato.protocols.catalog import units

pytestmark = [pytest.mark.rpc, pytest.mark.slow]

HTTP_WAIT_S = 60


def test_demo_serves_its_markets_until_sigterm(served_demo: ServedDemo) -> None:
    # prepare: the whole demo ran; its address is on stderr (stdout is one JSON document)
    address = served_demo.address
    nodes = served_demo.anvils

    # act
    markets = requests.get(f"{address}/api/markets", timeout=HTTP_WAIT_S)
    overview = requests.get(f"{address}/", timeout=HTTP_WAIT_S)
    status = served_demo.stop()

    # assert: each protocol's market holds the entry its part made (the browser's tests may
    # have added some); a clean stop, anvil gone
    assert markets.status_code == 200, markets.text
    counts = {k: v["count"] for k, v in markets.json().items()}
    assert list(counts) == [u.key for u in units()] and min(counts.values()) >= 1, counts
    assert overview.status_code == 200
    assert status == 0, served_demo.err.text[-2000:]
    document = served_demo.report
    assert document["backend"] == "rpc"
    assert document["dashboard"] == f"{address}/"
    assert set(document["deployments"]) == {u.key for u in units()}
    assert nodes, "the demo started no anvil"
    assert [pid for pid in nodes if Path(f"/proc/{pid}").exists()] == []
