"""P5's adversaries (issue 13), each a whole flow with real services: vendors as processes,
the orchestrator over HTTP, every chain duty done by the parties' agents.

Each test deploys its own market with one live API (tests/protocols/apimarket/live.py),
lets the adversary act, runs the API to its end, and checks the outcome on chain and every
party's money: what each withdrew less what it put in, and the escrow (the market's balance
is what the API locks plus what it owes; nothing locked at the end; everything withdrawn).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from mercato.chain.embedded import EmbeddedChain
from mercato.protocols.apimarket import agents
from mercato.protocols.apimarket.consumer import CallResult
from mercato.protocols.apimarket.messages import signature_to_json
from mercato.protocols.apimarket.scenario import CHEATER, OFFER, PERIODS
from mercato.protocols.apimarket.views import ApiStatus, DisputeState

from .live import HONEST, WITH_CHEATER, Digits, LiveApi, digits_model, honest_net

pytestmark = pytest.mark.slow  # vendor processes and a market per test

VENDOR_STAKE = OFFER.vendor_stake


@pytest.fixture(scope="module")
def chain() -> Iterator[EmbeddedChain]:
    """One embedded chain for the module; each test deploys a market of its own on it."""
    chain = EmbeddedChain()
    try:
        yield chain
    finally:
        chain.close()


@pytest.fixture(scope="module")
def model() -> Digits:
    return digits_model()


def assert_ended_and_paid_out(live: LiveApi) -> None:
    """The API ended, locks nothing, owes nothing: every wei went back out."""
    api = live.api
    assert api.status is ApiStatus.ENDED
    assert api.locked == 0 and api.open == 0
    assert live.escrow_gap() == 0
    assert live.recording.balance(live.market.api_market.address) == 0


def test_an_honest_api_pays_each_party_exactly(chain: EmbeddedChain, model: Digits,
                                               tmp_path: Path) -> None:  # fmt: skip
    with LiveApi(chain, tmp_path, model, HONEST) as live:
        clients = [live.client(name) for name in live.consumers]
        results = [live.call(clients[n % 2], n) for n in range(6)]
        assert live.escrow_gap() == 0

        live.to_batch()
        live.to_end()

        batch = live.market.api_market.batch(live.api_id, 0)
        assert sum(batch.steps(s) for s in range(4)) == 12
        assert live.net() == honest_net(live, results)
        assert_ended_and_paid_out(live)


def test_a_vendor_returning_wrong_outputs_is_slashed_by_the_replicas(
    chain: EmbeddedChain, model: Digits, tmp_path: Path
) -> None:
    with LiveApi(chain, tmp_path, model, WITH_CHEATER) as live:
        cheater = live.slot_of(CHEATER)
        client = live.client("hospital-1")
        results: list[CallResult] = []
        while not any(r.step(1).receipt.slot == cheater for r in results):
            results.append(live.call(client, len(results)))
        lie = results[-1].step(1)
        assert not (
            results[-1].output == model.split.predict(model.call_rows(len(results) - 1))
        ).all()

        # act: the consumer disputes the receipt; the two honest replicas re-run the step
        ctx = live.agents["hospital-1"].context
        agents.contest(ctx, lie.receipt, signature_to_json(lie.receipt_sig), live.proof(1))
        live.run_agents()  # disputed; replicas commit
        live.paid_in["hospital-1"] += OFFER.dispute_bond
        live.after(PERIODS.response)  # revealed and resolved
        assert live.escrow_gap() == 0
        after = live.call(client, len(results))  # the liar's slot is out: not routed to
        live.to_batch()
        live.to_end()

        am = live.market.api_market
        (resolved,) = am.events("DisputeResolved", api=live.api_id)
        dispute = am.dispute_of(int(resolved["dispute_id"]))
        assert dispute.state is DisputeState.LIAR
        assert int(resolved["slashed"]) == 1 << cheater
        assert after.step(1).receipt.slot != cheater
        expected = honest_net(live, [*results, after])
        expected["hospital-1"] += VENDOR_STAKE // 2  # half the liar's stake; the bond back
        expected["vendor-3"] += VENDOR_STAKE // 4  # the other half to the majority
        expected["vendor-4"] += VENDOR_STAKE // 4
        expected[CHEATER] -= VENDOR_STAKE
        assert live.net() == expected
        assert_ended_and_paid_out(live)
