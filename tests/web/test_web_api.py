"""The read-only HTTP API over the read model, after one embedded run of `mercato demo`.

The demo deploys one market per protocol (P1 ... P5, in catalog order); each test serves the
market of the protocol it reads, in this process, and fetches JSON over loopback. The JSON is
checked against the protocols' views read directly.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest
import requests
from tests.protocols.demo_run import DemoRun

from mercato.audit import AUDITORS, Auditor
from mercato.chain.base import Chain
from mercato.chain.rpc import RpcChain
from mercato.protocols import readmodel
from mercato.protocols.apimarket.endpoints import bind
from mercato.protocols.apimarket.serving import BackgroundServer
from mercato.protocols.catalog import units
from mercato.protocols.marketplace import Marketplace
from mercato.web.app import create_app

TIMEOUT_S = 60
"""Generous: a read of a whole market on a loaded machine (never asserted on)."""


@dataclass
class Served:
    """The demo's markets, one per protocol key, each served over HTTP on demand."""

    chain: Chain
    markets: dict[str, Marketplace]
    urls: dict[str, str] = field(default_factory=dict)
    servers: list[BackgroundServer] = field(default_factory=list)

    def serve(self, factory_: Callable[[], Marketplace]) -> str:
        sock, url = bind("127.0.0.1", 0)
        self.servers.append(BackgroundServer(create_app(factory_), sock))
        return url

    def url(self, key: str) -> str:
        """The API over the market the demo ran protocol ``key`` on."""
        if key not in self.urls:
            market = self.markets[key]
            self.urls[key] = self.serve(lambda: market)
        return self.urls[key]

    def get(self, key: str, path: str) -> requests.Response:
        return requests.get(self.url(key) + path, timeout=TIMEOUT_S)


@pytest.fixture(scope="module")
def served(demo_run: DemoRun) -> Iterator[Served]:
    """The markets of the one `mercato demo --json` run of this test process
    (tests/conftest.py's ``demo_run``), served on demand."""
    found = Served(demo_run.chain, demo_run.markets())
    yield found
    for server in found.servers:
        server.stop()


# every protocol --------------------------------------------------------------------------


@pytest.mark.parametrize("key", [u.key for u in units()])
def test_each_protocol_lists_and_shows_what_its_views_hold(served: Served, key: str) -> None:
    # prepare
    unit = next(u for u in units() if u.key == key)
    market = served.markets[key]
    pages = readmodel.pages(unit)

    # act
    listed = served.get(key, f"/api/{key}")
    shown = served.get(key, f"/api/{key}/1")
    markets = served.get(key, "/api/markets")

    # assert: the same records as the read model, the one entry the demo made
    assert listed.status_code == 200, listed.text
    assert listed.json() == pages.summaries(market)
    assert len(listed.json()) == market.wrapper(unit.field).count() == 1
    assert shown.status_code == 200, shown.text
    assert shown.json() == pages.detail(market, 1)
    assert markets.json()[key]["count"] == 1
    assert markets.json()[key]["summaries"] == listed.json()


@pytest.mark.parametrize("key", [u.key for u in units()])
def test_an_entrys_events_are_its_decoded_events_with_their_meaning(
    served: Served, key: str
) -> None:
    # prepare: the contract's events that name entry 1, read from the chain
    unit = next(u for u in units() if u.key == key)
    market = served.markets[key]
    arg = readmodel.pages(unit).ENTRY_ARG
    events = market.wrapper(unit.field).events(from_block=market.deployment.block)
    expected = [e for e in events if e.get(arg) == 1]

    # act
    shown = served.get(key, f"/api/{key}/1").json()["events"]

    # assert: the same events in chain order, each one record of the one shape
    assert expected, "the demo's entry has events"
    assert [(e["name"], e["block"], e["tx"]) for e in shown] == [
        (e.name, e.block_number, e.tx_hash) for e in expected
    ]
    assert all(set(e) == {"name", "block", "tx", "summary", "args"} for e in shown)
    assert all(e["summary"] != e["name"] and "\n" not in e["summary"] for e in shown)
    assert [e["args"] for e in shown] == [readmodel.jsonable(e.args) for e in expected]


# the numbers of each protocol --------------------------------------------------------------


def test_the_auction_shows_its_winners_paid_and_its_reserve(served: Served) -> None:
    # prepare
    auction = served.markets["auction"].auction_house.auction(1)

    # act
    record = served.get("auction", "/api/auction/1").json()

    # assert
    shown = record["auction"]
    assert shown["status"] == "confirmed" == auction.status.label
    assert shown["paid"] == [c.label for c in auction.paid] and len(shown["paid"]) == 3
    bidders = [b["bidder"] for b in shown["best_bids"].values()]
    assert bidders == list(auction.bidders)
    assert record["events"][0]["name"] == "AuctionCreated"
    assert "Confirmed" in {e["name"] for e in record["events"]}


def test_the_training_shows_its_rounds_and_the_lazy_providers_frauds(served: Served) -> None:
    # prepare
    tm = served.markets["training"].training_market
    training = tm.training(1)

    # act
    record = served.get("training", "/api/training/1").json()

    # assert
    assert record["training"]["status"] == "completed" == training.status.label
    assert len(record["rounds"]) == training.max_rounds
    assert record["frauds"], "the demo's lazy compute provider is caught"


def test_the_data_market_task_shows_rounds_scores_and_what_is_owed(served: Served) -> None:
    # prepare
    market = served.markets["datamarket"]
    dm = market.data_market
    task = dm.task(1)

    # act
    record = served.get("datamarket", "/api/datamarket/1").json()

    # assert
    assert record["task"]["status"] == task.status.label
    assert len(record["members"]) == len(dm.members(1))
    assert record["rounds"], "the demo's task ran rounds"
    assert record["owed"] == {a: dm.owed(a) for a in record["owed"]}


def test_the_model_market_request_shows_its_sales(served: Served) -> None:
    # prepare
    mm = served.markets["modelmarket"].model_market
    request = mm.request(1)

    # act
    summary = served.get("modelmarket", "/api/modelmarket").json()[0]
    record = served.get("modelmarket", "/api/modelmarket/1").json()

    # assert
    assert summary["status"] == record["status"] == request.status.label
    assert [s["state"] for s in record["submissions"]] == [s.state.label for s in mm.submissions(1)]


def test_the_api_shows_its_batches_and_the_p5_dispute(served: Served) -> None:
    # prepare
    am = served.markets["apimarket"].api_market
    resolved = am.events("DisputeResolved", api=1)
    committed = am.events("BatchCommitted", api=1)

    # act
    record = served.get("apimarket", "/api/apimarket/1").json()

    # assert
    assert record["status"] == am.api(1).status.label
    assert [b["epoch"] for b in record["batches"]] == [int(e["epoch"]) for e in committed]
    assert resolved, "the demo's API had a dispute"
    assert [d["dispute_id"] for d in record["disputes"]] == [int(e["dispute_id"]) for e in resolved]
    assert "DisputeResolved" in {e["name"] for e in record["events"]}


def test_participants_show_roles_stakes_and_what_each_contract_owes(served: Served) -> None:
    # prepare
    market = served.markets["training"]
    registry = market.registry

    # act
    answer = served.get("training", "/api/participants")

    # assert: the demo's cast, registered, each as the registry and the contracts say
    assert answer.status_code == 200
    people = answer.json()
    assert [p for p in people if p["registered"]], "the demo registered its cast"
    for person in people:
        address = person["address"]
        assert person["roles"] == registry.roles_of(address).labels
        assert person["stake"] == registry.stake_of(address)
        assert person["owed"] == {u.key: market.wrapper(u.field).owed(address) for u in units()}
    assert any(p["stake"] for p in people), "the compute providers staked"


# bad input and a node that is down -------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "status", "said"),
    [
        ("/api/auction/2", 404, "no auction 2"),
        ("/api/apimarket/7", 404, "no API 7"),
        ("/api/nothing", 404, "nothing at /api/nothing"),
        ("/api/auction/0", 422, "greater than or equal to 1"),
        ("/api/auction/x", 422, "valid integer"),
        ("/api/training/-3", 422, "greater than or equal to 1"),
    ],
)
def test_bad_input_gets_a_one_line_answer(
    served: Served, path: str, status: int, said: str
) -> None:
    # act
    answer = served.get("auction", path)

    # assert: one line, and the server still serves
    assert answer.status_code == status
    detail = answer.json()["detail"]
    assert said in detail and "\n" not in detail
    assert served.get("auction", "/api/health").status_code == 200


def test_a_node_that_is_down_is_a_503_and_the_server_keeps_serving(served: Served) -> None:
    # prepare: a market whose node answers only while `up`
    market = served.markets["auction"]
    up = {"now": False}

    def market_now() -> Marketplace:
        if up["now"]:
            return market
        dead = RpcChain("http://127.0.0.1:1")  # nothing listens on port 1
        return Marketplace(dead, market.deployment, market.store)

    url = served.serve(market_now)

    # act
    down = requests.get(url + "/api/auction", timeout=TIMEOUT_S)
    up["now"] = True
    back = requests.get(url + "/api/auction", timeout=TIMEOUT_S)

    # assert
    assert down.status_code == 503
    assert "cannot reach the node" in down.json()["detail"]
    assert "\n" not in down.json()["detail"]
    assert back.status_code == 200 and back.json()[0]["id"] == 1


def test_the_openapi_document_lists_every_route(served: Served) -> None:
    # act
    document = served.get("auction", "/openapi.json").json()

    # assert
    expected = {"/api/markets", "/api/participants", "/api/health", "/api/events"}
    for unit in units():
        expected |= {f"/api/{unit.key}", f"/api/{unit.key}/{{ident}}/audit"}
        expected.add(f"/api/{unit.key}/{{ident}}")
    assert set(document["paths"]) == expected
    assert all(set(methods) == {"get"} for methods in document["paths"].values())


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
def test_no_page_loads_scripts_from_elsewhere(served: Served, path: str) -> None:
    # FastAPI's own documentation pages fetch their scripts from a CDN: not served here
    assert served.get("auction", path).status_code == 404


def test_an_unknown_id_in_the_read_model_is_an_input_error(served: Served) -> None:
    from mercato.errors import InputError

    for unit in units():
        with pytest.raises(InputError):
            readmodel.pages(unit).detail(served.markets[unit.key], 5)


TRAINING = next(u for u in units() if u.key == "training")


def test_a_training_s_audit_is_its_public_audit_with_the_reported_fraud(
    served: Served,
) -> None:
    # prepare
    from mercato.audit.training import audit_training

    market = served.markets["training"]
    expected = audit_training(market, 1, None).to_dict()
    frauds = {str(f["co"]) for f in readmodel.pages(TRAINING).detail(market, 1)["frauds"]}

    # act
    answer = served.get("training", "/api/training/1/audit")
    missing = served.get("training", "/api/training/9/audit")

    # assert: the same report as `mercato audit training 1 --json`; without the model
    # owner's key the fraud it reported against the demo's lazy provider is named, but not
    # checkable; an unknown training is a one-line 404
    assert answer.status_code == 200
    assert answer.json() == readmodel.jsonable(expected)
    checks = {c["key"]: c for c in answer.json()["checks"]}
    reports = checks["fraud-reports-justified"]
    assert reports["verdict"] == "not checkable"
    assert frauds and all(address in reports["detail"] for address in frauds)
    assert missing.status_code == 404
    assert missing.json() == {"detail": "no training 9 (there are 1)"}


@pytest.mark.parametrize("auditor", AUDITORS, ids=lambda a: a.command)
def test_every_protocol_s_audit_is_its_public_audit(served: Served, auditor: Auditor) -> None:
    # prepare: what `mercato audit <command> 1 --public --json` reports
    expected = auditor.run(served.markets[auditor.protocol], 1, None).to_dict()

    # act
    answer = served.get(auditor.protocol, f"/api/{auditor.protocol}/1/audit")

    # assert
    assert answer.status_code == 200, answer.text
    assert answer.json() == readmodel.jsonable(expected)
    assert answer.json()["checks"], "an audit answers at least one question"
