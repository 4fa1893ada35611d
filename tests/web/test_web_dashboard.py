"""The dashboard's pages over HTTP, after one embedded run of `mercato demo`.

The demo deploys one market per protocol; the server here reads each protocol's own market
(a :class:`~mercato.web.app.Reader` by key), as ``mercato demo --serve`` would. Pages are
fetched with requests and parsed with the standard library; their numbers are checked
against the read model and the protocols' views. The browser tests (Playwright) check the
same DOM hooks live.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin, urlsplit

import pytest
import requests
from tests.protocols.demo_run import DemoRun

from mercato.chain.rpc import RpcChain
from mercato.protocols import readmodel
from mercato.protocols.apimarket.endpoints import bind
from mercato.protocols.apimarket.serving import BackgroundServer
from mercato.protocols.catalog import units
from mercato.protocols.marketplace import Marketplace
from mercato.units import compact_ether
from mercato.web.app import Reader, create_app

TIMEOUT_S = 60
"""Generous: a read of a whole market on a loaded machine (never asserted on)."""
VOID_TAGS = frozenset({"area", "base", "br", "col", "hr", "img", "input", "link", "meta", "source"})


# a small DOM over html.parser ----------------------------------------------------------------


@dataclass
class Node:
    """One element: its tag, attributes, children and the text right inside it."""

    tag: str
    attrs: dict[str, str]
    children: list[Node] = field(default_factory=list)
    parts: list[str] = field(default_factory=list)

    def text(self) -> str:
        """All the text inside, spaces collapsed."""
        found = " ".join([*self.parts, *(child.text() for child in self.children)])
        return " ".join(found.split())

    def walk(self) -> Iterator[Node]:
        yield self
        for child in self.children:
            yield from child.walk()

    def all(self, tag: str | None = None, **attrs: str | None) -> list[Node]:
        """The elements below (self included) with ``tag`` and ``attrs`` (None: present)."""
        return [
            node
            for node in self.walk()
            if (tag is None or node.tag == tag)
            and all(
                _attr(name) in node.attrs and (value is None or node.attrs[_attr(name)] == value)
                for name, value in attrs.items()
            )
        ]

    def one(self, tag: str | None = None, **attrs: str | None) -> Node:
        found = self.all(tag, **attrs)
        assert len(found) == 1, f"{len(found)} <{tag} {attrs}>"
        return found[0]


def _attr(name: str) -> str:
    """An attribute's name from a keyword: ``data_id`` is ``data-id``, ``class_`` ``class``."""
    return name.rstrip("_").replace("_", "-")


class _Builder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#document", {})
        self.open = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, {name: value or "" for name, value in attrs})
        self.open[-1].children.append(node)
        if tag not in VOID_TAGS:
            self.open.append(node)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.open[-1].children.append(Node(tag, {name: value or "" for name, value in attrs}))

    def handle_endtag(self, tag: str) -> None:
        for depth in range(len(self.open) - 1, 0, -1):
            if self.open[depth].tag == tag:
                del self.open[depth:]
                return

    def handle_data(self, data: str) -> None:
        self.open[-1].parts.append(data)


def parse(html: str) -> Node:
    builder = _Builder()
    builder.feed(html)
    builder.close()
    return builder.root


# the served demo -----------------------------------------------------------------------------


@dataclass
class Site:
    """The dashboard over the demo's markets, each protocol reading its own."""

    markets: dict[str, Marketplace]
    url: str
    servers: list[BackgroundServer]

    def get(self, path: str) -> requests.Response:
        return requests.get(urljoin(self.url, path), timeout=TIMEOUT_S)

    def page(self, path: str) -> Node:
        answer = self.get(path)
        assert answer.status_code == 200, answer.text
        assert answer.headers["content-type"].startswith("text/html")
        return parse(answer.text)

    def detail(self, key: str, ident: int = 1) -> dict[str, Any]:
        unit = next(u for u in units() if u.key == key)
        return readmodel.pages(unit).detail(self.markets[key], ident)


def serve(source: Reader | Callable[[], Marketplace], servers: list[BackgroundServer]) -> str:
    sock, url = bind("127.0.0.1", 0)
    servers.append(BackgroundServer(create_app(source), sock))
    return url + "/"


@pytest.fixture(scope="module")
def site(demo_run: DemoRun) -> Iterator[Site]:
    """The dashboard over the one `mercato demo --json` run of this test process."""
    markets = demo_run.markets()
    servers: list[BackgroundServer] = []
    reader = Reader({key: (lambda market=market: market) for key, market in markets.items()})
    found = Site(markets, serve(reader, servers), servers)
    yield found
    for server in servers:
        server.stop()


def cell(row: Node, name: str) -> str:
    return row.one(data_field=name).text()


# every page ----------------------------------------------------------------------------------


def test_the_overview_shows_every_market_and_its_entries(site: Site) -> None:
    # act
    page = site.page("/")

    # assert: one section per protocol, in catalog order, with its one demo entry linked
    main = page.one("main", id="content")
    sections = main.all("section", data_market=None)
    assert [s.attrs["data-market"] for s in sections] == [u.key for u in units()]
    for unit, section in zip(units(), sections, strict=True):
        assert section.one(data_count=None).text() == "1"
        row = section.one("tr", data_id="1")
        assert [a.attrs["href"] for a in row.all("a")] == [f"/{unit.key}/1"]
        status = readmodel.pages(unit).summaries(site.markets[unit.key])[0]["status"]
        assert cell(row, "status") == status


@pytest.mark.parametrize("key", [u.key for u in units()])
def test_a_protocol_page_lists_its_entries(site: Site, key: str) -> None:
    # act
    page = site.page(f"/{key}")

    # assert
    main = page.one("main", id="content")
    assert main.attrs["data-protocol"] == key
    assert main.one("section", data_market=key).one(data_count=None).text() == "1"
    assert main.all("tr", data_id=None) == main.all("tr", data_id="1")


@pytest.mark.parametrize("key", [u.key for u in units()])
def test_an_entry_page_shows_its_facts_plot_and_timeline(site: Site, key: str) -> None:
    # prepare
    unit = next(u for u in units() if u.key == key)
    record = site.detail(key)
    timeline = record["events"]

    # act
    page = site.page(f"/{key}/1")

    # assert: the heading, the hooks of the live script, one item per event in chain order
    main = page.one("main", id="content")
    assert (main.attrs["data-protocol"], main.attrs["data-id"]) == (key, "1")
    heading = main.one("h1").text()
    assert heading.lower() == f"{unit.item} 1".lower() and heading[0].isupper()
    facts = main.one("dl", id="facts")
    assert facts.all("dd", data_field="status")
    items = main.one("ol", id="timeline").all("li")
    assert [li.attrs["data-event"] for li in items] == [e["name"] for e in timeline]
    assert all(li.one(class_="summary").text() for li in items), "each event says what it means"
    figures = main.all("figure", data_plot=None)
    assert figures, "every entry page has a plot"
    assert all(len(f.all("svg")) == 1 for f in figures)
    assert main.one(id="payments").tag == "table"


# the numbers of each protocol ------------------------------------------------------------------


def test_the_auction_page_shows_its_winners_and_what_they_were_paid(site: Site) -> None:
    # prepare
    auction = site.markets["auction"].auction_house.auction(1)
    best = site.detail("auction")["auction"]["best_bids"]
    bids = site.markets["auction"].auction_house.events("BidPlaced", auction_id=1)

    # act
    main = site.page("/auction/1").one("main", id="content")

    # assert
    assert cell(main.one("dl", id="facts"), "status") == auction.status.label == "confirmed"
    rows = main.one("table", id="payments").all("tr", data_party=None)
    assert [r.attrs["data-party"] for r in rows] == list(auction.bidders)
    for row, bid in zip(rows, best.values(), strict=True):
        assert cell(row, "amount") == f"{compact_ether(bid['amount'])} ETH"
        assert cell(row, "paid") == "yes"
    assert cell(main.one("dl", id="facts"), "bids") == str(len(bids))
    assert main.one("figure", data_plot="bids").all("svg")


def test_the_training_page_shows_its_rounds_and_the_lazy_providers_fraud(site: Site) -> None:
    # prepare
    training = site.markets["training"].training_market.training(1)
    record = site.detail("training")
    cheats = [f["co"] for f in record["frauds"]]

    # act
    main = site.page("/training/1").one("main", id="content")

    # assert
    rounds = main.one("table", id="rounds").all("tr", data_round=None)
    assert len(rounds) == training.max_rounds == len(record["rounds"])
    assert cheats, "the demo's lazy compute provider is caught"
    faults = main.one("table", id="faults").all("tr", data_party=None)
    assert [r.attrs["data-party"] for r in faults] == cheats
    assert cell(main.one("dl", id="facts"), "frauds") == str(len(cheats))
    paid = {r.attrs["data-party"]: cell(r, "amount") for r in main.one(id="payments").all("tr")
            if "data-party" in r.attrs}  # fmt: skip
    for address, amount in record["payments"]["compute"].items():
        assert paid[address] == f"{compact_ether(amount)} ETH"
    assert main.all("figure", data_plot=None)[0].all("svg")


def test_the_training_s_audit_page_shows_every_check_and_who_broke_a_rule(site: Site) -> None:
    # prepare
    from mercato.audit.training import audit_training

    report = audit_training(site.markets["training"], 1, None)

    # act
    entry = site.page("/training/1").one("main", id="content")
    main = site.page("/training/1/audit").one("main", id="content")

    # assert: linked from the entry; one row per check with its verdict; the parties named
    assert entry.one("a", id="audit-link").attrs["href"] == "/training/1/audit"
    rows = main.one("table", id="checks").all("tr", data_check=None)
    assert [(r.attrs["data-check"], r.attrs["data-verdict"]) for r in rows] == [
        (c.key, c.verdict.value) for c in report.checks
    ]
    faults = main.all("tr", data_party=None)  # the public audit of the demo names nobody
    assert [r.attrs["data-party"] for r in faults] == list(report.cheaters)
    assert cell(main.one("dl", id="facts"), "summary") == report.summary()
    assert "not checkable" in [r.attrs["data-verdict"] for r in rows]


def test_the_data_market_page_shows_exclusions_and_earnings(site: Site) -> None:
    # prepare
    record = site.detail("datamarket")
    members = {m["index"]: m["address"] for m in record["members"]}
    finalised = [r["finalised"] for r in record["rounds"] if r["finalised"]]
    excluded = sorted({members[i] for f in finalised for i in f["excluded"]})

    # act
    main = site.page("/datamarket/1").one("main", id="content")

    # assert: the members robust aggregation left out, what each earned, the scores' plot
    faults = main.one("table", id="faults").all("tr", data_party=None)
    assert excluded and sorted(r.attrs["data-party"] for r in faults) == excluded
    for row in main.one("table", id="payments").all("tr", data_party=None):
        index = next(i for i, a in members.items() if a == row.attrs["data-party"])
        earned = sum(f["paid_each"] for f in finalised if index in f["used"])
        assert cell(row, "amount") == f"{compact_ether(earned)} ETH"
    assert main.one("figure", data_plot="scores").all("svg")


def test_the_model_market_page_shows_scores_swaps_and_the_cheat(site: Site) -> None:
    # prepare
    mm = site.markets["modelmarket"].model_market
    submissions = mm.submissions(1)
    record = site.detail("modelmarket")

    # act
    main = site.page("/modelmarket/1").one("main", id="content")

    # assert
    rows = main.one("table", id="submissions").all("tr", data_party=None)
    assert [cell(r, "state") for r in rows] == [s.state.label for s in submissions]
    assert [cell(r, "score") for r in rows] == [
        f"{s['score'] / 1_000_000:.6f}".rstrip("0").rstrip(".") for s in record["submissions"]
    ]
    cheats = {s["seller"] for s in record["submissions"] if s["state"] == "cheated"}
    faults = {r.attrs["data-party"] for r in main.one("table", id="faults").all("tr")
              if "data-party" in r.attrs}  # fmt: skip
    assert cheats and cheats <= faults
    swaps = mm.events("SwapSettled", request_id=1)
    assert len(main.one("table", id="swaps").all("tr", data_party=None)) == len(swaps)
    assert main.one("figure", data_plot="scores").all("svg")


def test_the_api_page_shows_calls_per_batch_and_the_dispute(site: Site) -> None:
    # prepare
    am = site.markets["apimarket"].api_market
    committed = am.events("BatchCommitted", api=1)
    resolved = am.events("DisputeResolved", api=1)
    record = site.detail("apimarket")
    liars = [s["vendor"] for d in record["disputes"] for s in record["slot_list"]
             if int(d["slashed"]) >> s["slot"] & 1]  # fmt: skip

    # act
    main = site.page("/apimarket/1").one("main", id="content")

    # assert: each batch's calls as its commitment counted them, the liar slashed
    batches = main.one("table", id="batches").all("tr", data_epoch=None)
    assert [int(cell(b, "calls")) for b in batches] == [sum(e["calls"]) for e in committed]
    assert cell(main.one("dl", id="facts"), "calls") == str(sum(sum(e["calls"]) for e in committed))
    assert resolved and liars, "the demo's API had a dispute that slashed a vendor"
    faults = main.one("table", id="faults").all("tr", data_party=None)
    assert [r.attrs["data-party"] for r in faults] == liars
    assert main.one("figure", data_plot="calls").all("svg")


def test_the_participants_page_shows_roles_stakes_and_what_is_owed(site: Site) -> None:
    # prepare
    people = readmodel.participants(site.markets)

    # act
    main = site.page("/participants").one("main", id="content")

    # assert
    rows = main.one("table", id="participants").all("tr", data_party=None)
    assert [r.attrs["data-party"] for r in rows] == [p["address"] for p in people]
    for row, person in zip(rows, people, strict=True):
        assert cell(row, "roles") == (", ".join(person["roles"]) or "-")
        assert cell(row, "stake") == f"{compact_ether(person['stake'])} ETH"
        for unit in units():
            assert cell(row, f"owed-{unit.key}") == f"{compact_ether(person['owed'][unit.key])} ETH"
    assert any(p["stake"] for p in people), "the compute providers staked"


# errors, assets, weight --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "said"),
    [
        ("/auction/2", "no auction 2"),
        ("/apimarket/7", "no API 7"),
        ("/training/x", "no training 'x'"),
        ("/auction/0", "no auction '0'"),
        ("/nothing", "nothing at /nothing"),
        ("/auction/1/more", "nothing at /auction/1/more"),
        ("/static/nothing.css", "nothing at /static/nothing.css"),
    ],
)
def test_an_unknown_page_is_a_404_page_with_one_line(site: Site, path: str, said: str) -> None:
    # act
    answer = site.get(path)

    # assert
    assert answer.status_code == 404
    assert answer.headers["content-type"].startswith("text/html")
    main = parse(answer.text).one("main", id="content")
    assert main.one("h1").text() == "Not found"
    reason = main.one("p", class_="reason").text()
    assert said in reason and "\n" not in reason


def test_api_paths_keep_their_json_errors(site: Site) -> None:
    # act
    answer = site.get("/api/nothing")

    # assert
    assert answer.status_code == 404
    assert "nothing at /api/nothing" in answer.json()["detail"]


def test_a_node_that_is_down_is_a_503_page(site: Site) -> None:
    # prepare: a market whose node does not answer
    market = site.markets["auction"]

    def dead() -> Marketplace:
        return Marketplace(RpcChain("http://127.0.0.1:1"), market.deployment, market.store)

    url = serve(dead, site.servers)

    # act
    answer = requests.get(url + "auction/1", timeout=TIMEOUT_S)

    # assert
    assert answer.status_code == 503
    main = parse(answer.text).one("main", id="content")
    assert "cannot reach the node" in main.one("p", class_="reason").text()


def test_a_bug_is_a_500_page_and_the_api_keeps_its_json(site: Site) -> None:
    # prepare: a market that cannot even be made
    def broken() -> Marketplace:
        raise RuntimeError("a bug")

    url = serve(broken, site.servers)

    # act
    page = requests.get(url + "auction", timeout=TIMEOUT_S)
    api = requests.get(url + "api/auction", timeout=TIMEOUT_S)

    # assert
    assert page.status_code == 500 == api.status_code
    main = parse(page.text).one("main", id="content")
    assert main.one("p", class_="reason").text() == "internal error: RuntimeError"
    assert api.json() == {"detail": "internal error: RuntimeError"}


def test_every_asset_a_page_uses_is_served_here(site: Site) -> None:
    # prepare
    paths = ["/", "/participants", "/nothing", *(f"/{u.key}" for u in units())]
    paths += [f"/{u.key}/1" for u in units()]

    # act: every src and href of every page
    referenced: set[str] = set()
    for path in paths:
        for node in parse(site.get(path).text).walk():
            referenced |= {node.attrs[a] for a in ("src", "href") if a in node.attrs}

    # assert: no other host, and each one answers
    assert {"/static/live.js", "/static/mercato.css", "/static/favicon.svg"} <= referenced
    for reference in sorted(referenced):
        parts = urlsplit(reference)
        assert not parts.scheme and not parts.netloc, f"{reference} is on another host"
        if reference.startswith("#"):
            continue
        answer = site.get(reference)
        assert answer.status_code == 200, reference


def test_the_stylesheet_and_script_are_served_with_their_types(site: Site) -> None:
    # act
    css = site.get("/static/mercato.css")
    script = site.get("/static/live.js")

    # assert
    assert css.headers["content-type"].startswith("text/css")
    assert "javascript" in script.headers["content-type"]
    assert "EventSource" in script.text and "/api/events" in script.text


def test_the_dashboard_is_not_in_the_openapi_document(site: Site) -> None:
    # act
    document = site.get("/openapi.json").json()

    # assert
    assert all(path.startswith("/api/") for path in document["paths"])


def test_importing_the_web_app_does_not_import_matplotlib() -> None:
    # act
    code = "import sys, mercato.web.app; print('matplotlib' in sys.modules)"
    found = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )

    # assert
    assert found.stdout.strip() == "False"
