"""A live API for the adversary tests: the demo's cast, real vendor processes, an
orchestrator over HTTP and the agents doing every chain duty.

:class:`LiveApi` is the P5 demo's harness (:class:`~mercato.protocols.apimarket.scenario.
ApiMarketDemo`) on a fresh market, with one API of a digits MLP split into two layer blocks
over the vendors a test names (``vendor-5`` is the demo's cheater: every output it returns
is wrong). A test deploys its own market on the shared chain, so its money is its own: what
each party put in, what each withdrew, and the market's balance are the test's alone.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from mercato.agents.runner import RunReport
from mercato.chain.base import Chain
from mercato.chain.embedded import EmbeddedChain
from mercato.ml.splitting import SplitModel, split
from mercato.protocols.apimarket import provider
from mercato.protocols.apimarket.consumer import ApiClient, CallResult
from mercato.protocols.apimarket.endpoints import Transport, bind
from mercato.protocols.apimarket.orchestrator import Orchestrator
from mercato.protocols.apimarket.scenario import (
    CONSUMERS,
    DEPOSIT,
    OFFER,
    ORCHESTRATOR,
    PERIODS,
    PROVIDER,
    ApiMarketDemo,
)
from mercato.protocols.apimarket.serving import (
    document_for,
    start_vendor_process,
)
from mercato.protocols.apimarket.views import Api, ApiStatus
from mercato.storage.local import LocalBlobStore

ROWS_PER_CALL = 4
PAIR = {"vendor-1": 0, "vendor-3": 1}
"""One honest vendor of each block (two processes: the cheapest live API)."""
HONEST = {"vendor-1": 0, "vendor-2": 0, "vendor-3": 1, "vendor-4": 1}
"""Two replicas of each block, all honest."""
WITH_CHEATER = {"vendor-1": 0, "vendor-2": 0, "vendor-3": 1, "vendor-4": 1, "vendor-5": 1}
"""The demo's slots: the second block's third replica, vendor-5, returns wrong outputs."""


@dataclass(frozen=True)
class Digits:
    """Rows to call with, and the model served: whole and split into two layer blocks."""

    rows: NDArray[Any]
    whole: Any
    split: SplitModel

    def call_rows(self, number: int) -> NDArray[Any]:
        """The rows of the ``number``-th call (0, 1, ...)."""
        return self.rows[number * ROWS_PER_CALL : (number + 1) * ROWS_PER_CALL]


def digits_model() -> Digits:
    """A small MLP trained on the digits data set, split into two layer blocks."""
    from sklearn.datasets import load_digits
    from sklearn.neural_network import MLPClassifier

    inputs, labels = load_digits(return_X_y=True)
    model = MLPClassifier(hidden_layer_sizes=(24,), max_iter=400, random_state=0)
    model.fit(inputs[:800], labels[:800])
    return Digits(np.asarray(inputs[800:], dtype=np.float64), model, split(model, 2))


def embedded_chain() -> Iterator[EmbeddedChain]:
    """One embedded chain for a test module (each test deploys a market of its own on it);
    a module makes it its ``chain`` fixture."""
    chain = EmbeddedChain()
    try:
        yield chain
    finally:
        chain.close()


class LiveApi(ApiMarketDemo):
    """One API live on a fresh market: its vendors' processes, the orchestrator's service
    (an :class:`Orchestrator` or a dishonest subclass of it) and every member's agent."""

    def __init__(
        self,
        chain: Chain,
        work_dir: Path,
        model: Digits,
        slots: Mapping[str, int],
        *,
        orchestrator_class: type[Orchestrator] = Orchestrator,
        transport: Transport | None = None,
    ) -> None:
        super().__init__(chain, LocalBlobStore(work_dir / "blobs"), work_dir)
        self.model = model
        self.slot_names = list(slots)
        self.orchestrator_class = orchestrator_class
        self.port = int(self.url.rsplit(":", 1)[1])
        self.paid_in: Counter[str] = Counter()
        document = provider.prepare(
            model.split, model.rows.shape[1], classes=[str(d) for d in range(10)],
            orchestrator_url=self.url, description="handwritten digits",
        )  # fmt: skip
        self.api_id, self.document, _ = provider.register_api(
            self.market, self.identities[PROVIDER], model.split, document,
            [(self.identities[name].address, component) for name, component in slots.items()],
            self.identities[ORCHESTRATOR].address, OFFER,
        )  # fmt: skip
        self.run_agents()  # vendors start their services and join; the orchestrator accepts
        assert self.wrapper.state(self.api_id) == "live"
        self.serve(self.api_id, transport=transport)
        self.run_agents()  # the consumers deposit
        assert self.reads is not None
        self.reads.refresh()
        self.paid_in[ORCHESTRATOR] += OFFER.orchestrator_stake
        for name in slots:
            self.paid_in[name] += OFFER.vendor_stake
        for name in self.consumers:
            self.paid_in[name] += DEPOSIT

    # --- the services ----------------------------------------------------------------------

    def serve(
        self,
        api_id: int,
        *,
        orchestrator_class: type[Orchestrator] | None = None,
        transport: Transport | None = None,
    ) -> None:
        """The scenario's service, with the test's orchestrator class."""
        super().serve(
            api_id,
            orchestrator_class=orchestrator_class or self.orchestrator_class,
            transport=transport,
        )

    def restart_orchestrator(self) -> Orchestrator:
        """Stop the orchestrator's service and start it again from its journal, on the same
        port (the URL in the API document)."""
        assert self.server is not None and self.orchestrator is not None
        self.server.stop()
        self.orchestrator.close()
        self.sock, _ = bind("127.0.0.1", self.port)
        self.serve(self.api_id)
        assert self.orchestrator is not None
        return self.orchestrator

    def restart_vendor(self, name: str) -> None:
        """Start a stopped vendor's process again from its config and journal, on its port."""
        import json

        old = self.vendors[name]
        config = json.loads(old.config.read_text())
        config["port"] = int(old.url.rsplit(":", 1)[1])
        self.vendors[name] = start_vendor_process(config, old.config)

    def client(self, name: str, api_id: int | None = None) -> ApiClient:
        return super().client(name, self.api_id if api_id is None else api_id)

    def call(self, client: ApiClient, number: int) -> CallResult:
        """Make the ``number``-th call of the test (its rows are the model's call rows)."""
        return client.call(self.model.call_rows(number))

    # --- time ------------------------------------------------------------------------------

    def run_agents(self) -> RunReport:
        """Run the agents until idle; the escrow holds after every run (the market's balance
        is what the API locks plus what it owes)."""
        report = super().run_agents()
        assert self.escrow_gap() == 0
        return report

    def to_batch(self) -> None:
        """Epoch 0 over: its batch is committed; vendors check it and claim what it left out."""
        self.after(PERIODS.epoch)

    def to_end(self) -> None:
        """Past epoch 0's window: batches paid, claims and challenges settled, the API
        released and everyone's withdrawal made."""
        self.after(PERIODS.epoch + PERIODS.window)
        self.run_agents()

    # --- reading the chain -----------------------------------------------------------------

    @property
    def consumers(self) -> tuple[str, ...]:
        """The cast's consumers (each deposited into the API once it was live)."""
        return CONSUMERS

    @property
    def api(self) -> Api:
        return self.market.api_market.api(self.api_id)

    def slot_of(self, name: str) -> int:
        return self.slot_names.index(name)

    def name_of_slot(self, slot: int) -> str:
        return self.slot_names[slot]

    def escrow_gap(self) -> int:
        """The market's balance less what the API locks and what it owes everyone (0)."""
        am = self.market.api_market
        owed = sum(am.owed(identity.address) for identity in self.identities.values())
        balance: int = self.recording.balance(am.address)
        return balance - self.api.locked - owed

    def net(self) -> dict[str, int]:
        """What each member withdrew less what it put in (stakes, deposits, bonds)."""
        withdrawn = self.withdrawn()
        return {name: withdrawn.get(name, 0) - self.paid_in[name] for name in self.identities}

    def proof(self, component: int) -> list[bytes]:
        return document_for(self.market, self.api_id).component_proof(component)


def steps_by_slot(results: Iterable[CallResult]) -> Counter[int]:
    """How many steps each slot ran, as the consumers' receipts show."""
    return Counter(step.receipt.slot for result in results for step in result.steps)


def honest_net(live: LiveApi, results: Iterable[CallResult]) -> dict[str, int]:
    """Each member's net when every call of ``results`` is paid once and nothing else
    happens: consumers pay the price per call, each slot's vendor its component's share per
    step it ran, the provider the rest; stakes come back whole."""
    results = list(results)
    shares = OFFER.shares
    slot_components = _components(live)
    expected: Counter[str] = Counter()
    for result in results:
        expected[live.names[result.request.consumer]] -= OFFER.price
    vendor_total = 0
    for slot, steps in steps_by_slot(results).items():
        credit = steps * shares[slot_components[slot]]
        expected[live.name_of_slot(slot)] += credit
        vendor_total += credit
    expected[PROVIDER] += len(results) * OFFER.price - vendor_total
    return {name: expected[name] for name in live.identities}


def _components(live: LiveApi) -> list[int]:
    return [slot.component for slot in live.market.api_market.slots(live.api_id)]


def assert_ended_and_paid_out(live: LiveApi) -> None:
    """The API ended, locks nothing, owes nothing: every wei went back out."""
    api = live.api
    assert api.status is ApiStatus.ENDED
    assert api.locked == 0 and api.open == 0
    assert live.escrow_gap() == 0
    assert live.recording.balance(live.market.api_market.address) == 0
