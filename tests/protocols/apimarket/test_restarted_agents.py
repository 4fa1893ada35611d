"""P5's one-shot calls whose receipt an outage lost (issue 15, faults): the call landed, the
node went away before the agent recorded it, and the agent handled the event again.

Before the fix the orchestrator's ``accept`` and a vendor's ``join`` were sent a second time,
reverted ("already ..."), and after the retries the event was given up: the orchestrator
never followed the API, the vendor kept no component for its claims and disputes. A
consumer's deposit did not revert: it was paid in twice.

And a vendor's ``agent run`` process killed after it joined came back without its HTTP
service (only the join handler started it): the orchestrator could not reach the slot again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from mercato.agents.agent import Agent
from mercato.chain.embedded import EmbeddedChain
from mercato.errors import NodeUnreachable
from mercato.protocols.apimarket import agents, provider, roles
from mercato.protocols.apimarket.endpoints import HttpTransport
from mercato.protocols.apimarket.scenario import (
    CONSUMERS,
    DEPOSIT,
    OFFER,
    ORCHESTRATOR,
    PROVIDER,
    ApiMarketDemo,
)
from mercato.protocols.apimarket.views import ApiStatus
from mercato.storage.local import LocalBlobStore

from .live import PAIR, Digits, embedded_chain

chain = pytest.fixture(scope="module", name="chain")(embedded_chain)

ONE_SHOT = ("accept", "join", "deposit")
"""The calls an outage follows once each, right after the first of them lands."""
MAX_OUTAGES = 10
"""Steps the test lets stop on an outage before it calls the agents stuck."""


class NowhereServed(ApiMarketDemo):
    """The P5 cast whose vendors start no service: the test needs their joins only."""

    def _starter(self, name: str) -> agents.StartService:
        return lambda api, slot, data: "http://127.0.0.1:9"


@pytest.fixture
def demo(chain: EmbeddedChain, tmp_path: Path) -> Iterator[NowhereServed]:
    with NowhereServed(chain, LocalBlobStore(tmp_path / "blobs"), tmp_path) as demo:
        yield demo


class VendorsServing(ApiMarketDemo):
    """The P5 cast whose vendors run as ``mercato agent run --role vendor`` does: each
    serves in its own process (here, threads of the test's) on a free loopback port."""

    def __init__(self, chain: EmbeddedChain, store: LocalBlobStore, work_dir: Path) -> None:
        self.services: dict[str, roles.VendorServices] = {}  # the agents start in super()
        super().__init__(chain, store, work_dir)

    def attach(self, agent: Agent, name: str) -> None:
        if name not in PAIR:
            super().attach(agent, name)
            return
        folder = self.work_dir / name
        self.services[name] = roles.VendorServices(self.market, self.identities[name], folder)
        roles.attach_vendor(agent, self.market, self.identities[name], self.services[name],
                            folder)  # fmt: skip

    def close(self) -> None:
        for services in self.services.values():
            services.close()
        super().close()


def register(demo: ApiMarketDemo, model: Digits) -> int:
    """An API of the digits model over :data:`PAIR`'s vendors; its id."""
    document = provider.prepare(
        model.split, model.rows.shape[1], orchestrator_url=demo.url, description="digits"
    )
    api_id, _, _ = provider.register_api(
        demo.market, demo.identities[PROVIDER], model.split, document,
        [(demo.identities[name].address, slot) for name, slot in PAIR.items()],
        demo.identities[ORCHESTRATOR].address, OFFER,
    )  # fmt: skip
    return api_id


def outage_after_first(demo: NowhereServed, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Make the node "go down" right after the first ``accept``, ``join`` and ``deposit``
    landed, before their sender sees the receipt; the names of those senders, in order."""
    am, names = demo.market.api_market, demo.names
    senders: list[str] = []

    def landing_then_outage(call: str, original: Callable[..., Any]) -> Callable[..., Any]:
        def send(account: Any, *args: Any, **kwargs: Any) -> Any:
            sent = original(account, *args, **kwargs)
            if not any(sender.startswith(f"{call}:") for sender in senders):
                senders.append(f"{call}:{names[account.address]}")
                raise NodeUnreachable(f"the node went down before {call}'s receipt came")
            return sent

        return send

    for call in ONE_SHOT:
        monkeypatch.setattr(am, call, landing_then_outage(call, getattr(am, call)))
    return senders


def run_through_outages(demo: NowhereServed) -> int:
    """Run the agents until idle; a step stopped by an outage is run again (as an agent
    process waits the outage out); how many outages stopped a step."""
    for stopped in range(MAX_OUTAGES):
        try:
            demo.run_agents()
        except NodeUnreachable:
            continue
        return stopped
    raise AssertionError(f"the agents still met an outage after {MAX_OUTAGES} runs")


def test_parties_whose_one_shot_call_landed_before_an_outage_follow_the_api(
    demo: NowhereServed, model: Digits, monkeypatch: pytest.MonkeyPatch
) -> None:
    # prepare: an API over two vendors; the node goes down after each kind of call lands
    senders = outage_after_first(demo, monkeypatch)
    api_id = register(demo, model)

    # act
    stopped = run_through_outages(demo)

    # assert: each outage hit once; every party handled its event and follows the API
    am = demo.market.api_market
    assert [s.split(":")[0] for s in senders] == list(ONE_SHOT)
    assert stopped == len(ONE_SHOT)
    assert am.api(api_id).status is ApiStatus.LIVE
    for name, store in demo.stores.items():
        assert store.failures(name) == [], name
    follows = f"{agents.API_KEY}{api_id}"
    assert follows in demo.agents[ORCHESTRATOR].context.state
    for name in PAIR:
        state = demo.agents[name].context.state
        assert follows in state
        assert f"{agents.COMPONENT_KEY}{api_id}" in state  # kept for claims and disputes
    for name in CONSUMERS:  # paid in once, never twice
        address = demo.identities[name].address
        assert len(am.events("Deposited", api=api_id, consumer=address)) == 1
        assert am.deposit_of(api_id, address).amount == DEPOSIT


def test_a_vendor_agent_started_again_serves_the_api_it_joined_where_it_joined(
    chain: EmbeddedChain, tmp_path: Path, model: Digits
) -> None:
    # prepare: both vendors serve and join; then vendor-1's process dies (its service too)
    with VendorsServing(chain, LocalBlobStore(tmp_path / "blobs"), tmp_path) as demo:
        api_id = register(demo, model)
        demo.run_agents()
        assert demo.market.api_market.api(api_id).status is ApiStatus.LIVE
        joined_at = demo.services["vendor-1"].url(api_id)
        assert joined_at is not None
        demo.services.pop("vendor-1").close()

        # act: its agent starts again over the same state
        demo.make_agent("vendor-1")
        demo.run_agents()

        # assert: it serves its slot again, at the URL it joined with
        assert demo.services["vendor-1"].url(api_id) == joined_at
        health = HttpTransport().request("GET", joined_at, "/health")
        assert health.status == 200, health
