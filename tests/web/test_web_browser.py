"""The dashboard in a real browser (Debian's Chromium, driven by Playwright) over anvil.

The pages are those of tests/conftest.py's ``served_demo``: a whole ``mercato demo --serve
--json`` on its own anvil (about a minute and a half), shared with the report's checks. They
are checked against what the demo reported; the live test then sends transactions to the
node and watches a page change without a reload. Without
``/usr/bin/chromium`` the module is skipped locally and fails in CI (tests/web/browser.py).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest
from tests.served_demo import ServedDemo
from tests.web.browser import chromium, require_chromium

from mercato.chain.rpc import RpcChain
from mercato.ontology.category import Category
from mercato.protocols import readmodel
from mercato.protocols.catalog import units
from mercato.protocols.deployment import Deployment
from mercato.protocols.marketplace import Marketplace
from mercato.storage.base import BlobStore, open_store
from mercato.units import compact_ether
from mercato.web.app import Reader

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Page

pytestmark = [pytest.mark.rpc, pytest.mark.slow]

WAIT_MS = 60_000
"""How long a page may take to show something (a bound, never asserted on)."""
EVENT_ID = re.compile(r"^\d+-\d+$")
"""``<block>-<log index>``, the id of every server-sent event."""
HOUR = 3600
LIVE_PRICES = (10**15, 2 * 10**15, 3 * 10**15)
LIVE_BID = 5 * 10**14
LIVE_REQUIREMENTS_HASH = b"\x22" * 32
CLIENT, ARBITER, DATA_OWNER = 1, 2, 3
"""The auction part's cast: development accounts 1, 2, 3 are its client, its arbiter and its
first data owner (registered in that order on the auction's market)."""
PAGE_WAS_KEPT = "window.mercatoTestMark"
"""A variable set on a loaded page: still there means the page was not reloaded."""


@dataclass
class DemoSite:
    """The demo's five markets on anvil, what it reported, the dashboard it serves."""

    node: str
    url: str
    reader: Reader
    deployments: dict[str, Deployment]
    store: BlobStore
    reports: dict[str, Any]
    """The demo's JSON document (the auction's report at its top)."""

    def detail(self, key: str, ident: int = 1) -> dict[str, Any]:
        """What the read model says of entry ``ident`` of protocol ``key`` now."""
        pages = readmodel.pages(next(u for u in units() if u.key == key))
        record: dict[str, Any] = self.reader.read(key, lambda m: pages.detail(m, ident))
        return record

    def market(self, key: str, chain: RpcChain) -> Marketplace:
        """Protocol ``key``'s market, on a connection of the caller's own."""
        return Marketplace(chain, self.deployments[key], self.store)


@pytest.fixture(scope="module")
def site(request: pytest.FixtureRequest) -> Iterator[DemoSite]:
    """The served demo, and a read model of its markets in this process."""
    require_chromium()  # before minutes of demo
    demo: ServedDemo = request.getfixturevalue("served_demo")
    chain = RpcChain(demo.node)
    try:
        store = open_store(str(demo.store))
        deployments = {u.key: demo.deployment(u.key) for u in units()}
        markets = {key: Marketplace(chain, d, store) for key, d in deployments.items()}
        reader = Reader({key: (lambda market=market: market) for key, market in markets.items()})
        yield DemoSite(demo.node, demo.address, reader, deployments, store, demo.report)
    finally:
        chain.close()


@pytest.fixture(scope="module")
def browser(site: DemoSite) -> Iterator[BrowserContext]:
    """Chromium with a new empty profile, for this module."""
    with chromium() as context:
        context.set_default_timeout(WAIT_MS)
        yield context


@pytest.fixture
def page(browser: BrowserContext) -> Iterator[Page]:
    tab = browser.new_page()
    yield tab
    tab.close()


def open_page(page: Page, site: DemoSite, path: str) -> int:
    """Load ``path`` of the dashboard; its HTTP status."""
    answer = page.goto(site.url + path, wait_until="load")
    assert answer is not None
    return answer.status


def text(page: Page, selector: str) -> str:
    return " ".join(page.locator(selector).inner_text().split())


# the demo's numbers ------------------------------------------------------------------------


def test_the_overview_shows_each_markets_count(page: Page, site: DemoSite) -> None:
    # prepare: the entries on chain now, each demo part's one entry
    counts = {
        unit.key: site.reader.read(unit.key, lambda m, field=unit.field: m.wrapper(field).count())
        for unit in units()
    }

    # act
    status = open_page(page, site, "/")

    # assert: one section per protocol, in catalog order, with its count and its rows
    assert status == 200
    sections = page.locator("main#content section[data-market]")
    assert sections.evaluate_all("els => els.map(e => e.dataset.market)") == list(counts)
    for key, count in counts.items():
        section = page.locator(f'section[data-market="{key}"]')
        assert section.locator("[data-count]").inner_text().strip() == str(count)
        assert section.locator("tr[data-id]").count() == count
        assert section.locator('tr[data-id="1"] a').get_attribute("href") == f"/{key}/1"


def test_the_auction_page_shows_the_reported_winners_and_payments(
    page: Page, site: DemoSite
) -> None:
    # prepare: what the demo printed (the auction's report is at the document's top)
    report = site.reports

    # act
    status = open_page(page, site, f"/auction/{report['auction_id']}")

    # assert: one winner per category at the price the demo reported, each paid
    assert status == 200
    assert text(page, "main#content h1") == f"Auction {report['auction_id']}"
    assert text(page, '#facts dd[data-field="status"]') == report["status"] == "confirmed"
    rows = page.locator("#payments tr[data-party]")
    shown = {
        row.get_attribute("data-category"): (
            text_of(row.locator('[data-field="amount"]').inner_text()),
            text_of(row.locator('[data-field="paid"]').inner_text()),
        )
        for row in rows.all()
    }
    assert shown == {
        category: (f"{compact_ether(winner['price'])} ETH", "yes")
        for category, winner in report["winners"].items()
    }
    assert page.locator('figure[data-plot="bids"] svg').count() == 1
    bids = page.locator('#timeline li[data-event="BidPlaced"]').count()
    assert bids == len(report["bids"])


def text_of(raw: str) -> str:
    return " ".join(raw.split())


def test_the_training_page_shows_its_plot_and_the_reported_fraud(
    page: Page, site: DemoSite
) -> None:
    # prepare: what the demo printed; the plot the record allows (accuracy when measured)
    report = site.reports["training"]
    record = site.detail("training", report["training_id"])
    measured = any(r.get("accuracy") is not None for r in record.get("rounds") or [])

    # act
    status = open_page(page, site, f"/training/{report['training_id']}")

    # assert: the caught fraud as reported (round, forfeited pay, slashed stake), a plot
    assert status == 200
    assert report["frauds"], "the demo's lazy compute provider is caught"
    faults = page.locator("#faults tr[data-party]").all()
    assert [
        (
            row.get_attribute("data-round"),
            text_of(row.locator('[data-field="forfeited"]').inner_text()),
            text_of(row.locator('[data-field="slashed"]').inner_text()),
        )
        for row in faults
    ] == [
        (
            str(f["round"]),
            f"{compact_ether(f['forfeited'])} ETH",
            f"{compact_ether(f['slashed'])} ETH",
        )
        for f in report["frauds"]
    ]
    assert text(page, '#facts dd[data-field="frauds"]') == str(len(report["frauds"]))
    plot = page.locator("figure[data-plot]").first
    assert plot.get_attribute("data-plot") == ("accuracy" if measured else "jobs")
    assert plot.locator("svg").count() == 1


# live ----------------------------------------------------------------------------------------


def test_a_new_event_appears_without_a_reload(page: Page, site: DemoSite) -> None:
    # prepare: a second auction on the demo's market, its page open and listening
    chain = RpcChain(site.node)
    try:
        house = site.market("auction", chain).auction_house
        accounts = chain.dev_accounts(DATA_OWNER + 1)
        auction_id, _ = house.create(
            accounts[CLIENT],
            requirements_hash=LIVE_REQUIREMENTS_HASH,
            max_prices=LIVE_PRICES,
            duration=HOUR,
            min_refs=0,
            arbiter=accounts[ARBITER].address,
        )
        page.add_init_script(LISTENING_SCRIPT)
        assert open_page(page, site, f"/auction/{auction_id}") == 200
        page.evaluate(f"{PAGE_WAS_KEPT} = 'kept'")
        page.wait_for_function("window.mercatoTestSources.some(s => s.readyState === 1)")
        before = page.locator('#timeline li[data-event="BidPlaced"]').count()

        # act: a data owner bids on it
        result = house.bid(accounts[DATA_OWNER], auction_id, Category.DATA, LIVE_BID)

        # assert: the page shows the bid, in place
        page.wait_for_function("document.body.dataset.lastEvent !== undefined")
        bids = page.locator('#timeline li[data-event="BidPlaced"]')
        bids.nth(before).wait_for()
    finally:
        chain.close()
    last_event = page.evaluate("document.body.dataset.lastEvent")
    assert EVENT_ID.match(last_event), last_event
    assert int(last_event.split("-")[0]) == result.receipt.block_number
    assert bids.count() == before + 1
    assert page.evaluate(PAGE_WAS_KEPT) == "kept"
    assert text(page, '#facts dd[data-field="bids"]') == str(before + 1)


LISTENING_SCRIPT = """
(() => {
  const Original = window.EventSource;
  window.mercatoTestSources = [];
  window.EventSource = function (url, options) {
    const source = new Original(url, options);
    window.mercatoTestSources.push(source);
    return source;
  };
  window.EventSource.prototype = Original.prototype;
})();
"""
"""Keeps every EventSource the page opens, so that a test can wait until one is open."""


# errors --------------------------------------------------------------------------------------


def test_an_unknown_entry_is_a_clear_not_found_page(page: Page, site: DemoSite) -> None:
    # act
    status = open_page(page, site, "/auction/99")

    # assert
    assert status == 404
    assert text(page, "main#content h1") == "Not found"
    reason = page.locator("main#content p.reason").inner_text()
    assert "no auction 99" in reason and "\n" not in reason.strip()
