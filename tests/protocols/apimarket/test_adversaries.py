"""P5's adversaries (issue 13), each a whole flow with real services: vendors as processes,
the orchestrator over HTTP, every chain duty done by the parties' agents.

Each test deploys its own market with one live API (tests/protocols/apimarket/live.py),
lets the adversary act, runs the API to its end, and checks the outcome on chain and every
party's money: what each withdrew less what it put in, and the escrow (the market's balance
is what the API locks plus what it owes; nothing locked at the end; everything withdrawn).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from mercato.chain.embedded import EmbeddedChain
from mercato.crypto.commit import keccak
from mercato.ml.splitting import model_root
from mercato.protocols.apimarket import agents, history
from mercato.protocols.apimarket.consumer import CallResult
from mercato.protocols.apimarket.messages import signature_to_json
from mercato.protocols.apimarket.scenario import CHEATER, OFFER, PERIODS, PROVIDER
from mercato.protocols.apimarket.views import ClaimState, DisputeState

from ..world import reverts
from .audited import assert_names
from .live import (
    HONEST,
    PAIR,
    WITH_CHEATER,
    Digits,
    LiveApi,
    assert_ended_and_paid_out,
    embedded_chain,
    honest_net,
)

pytestmark = pytest.mark.slow  # vendor processes and a market per test

VENDOR_STAKE = OFFER.vendor_stake


chain = pytest.fixture(scope="module", name="chain")(embedded_chain)


def test_an_honest_api_pays_each_party_exactly(chain: EmbeddedChain, model: Digits,
                                               tmp_path: Path) -> None:  # fmt: skip
    with LiveApi(chain, tmp_path, model, PAIR) as live:
        clients = [live.client(name) for name in live.consumers]
        results = [live.call(clients[n % 2], n) for n in range(6)]
        assert live.escrow_gap() == 0

        live.to_batch()
        live.to_end()

        batch = live.market.api_market.batch(live.api_id, 0)
        assert sum(batch.steps(s) for s in range(2)) == 12
        assert live.net() == honest_net(live, results)
        assert_ended_and_paid_out(live)
        assert_names(live, {})  # the auditor, public or with any key, finds nobody


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
        assert live.orchestrator is not None
        assert cheater in live.orchestrator.health({})["down"]  # excluded for good
        expected = honest_net(live, [*results, after])
        expected["hospital-1"] += VENDOR_STAKE // 2  # half the liar's stake; the bond back
        expected["vendor-3"] += VENDOR_STAKE // 4  # the other half to the majority
        expected["vendor-4"] += VENDOR_STAKE // 4
        expected[CHEATER] -= VENDOR_STAKE
        assert live.net() == expected
        assert_ended_and_paid_out(live)
        assert_names(live, {CHEATER: ("vendor", {"disputes"})})  # the majority's verdict


def test_a_vendor_over_reporting_calls_gets_nothing_for_them(
    chain: EmbeddedChain, model: Digits, tmp_path: Path
) -> None:
    with LiveApi(chain, tmp_path, model, PAIR) as live:
        client = live.client("hospital-1")
        results = [live.call(client, n) for n in range(3)]
        live.to_batch()
        am, api = live.market.api_market, live.api_id
        counts = history.counts_of(history.batch_event(am, api, 0))
        real = results[0].step(1)
        liar = live.name_of_slot(real.receipt.slot)
        key = bytes(live.identities[liar].account.key)
        vendor = live.identities[liar].account
        # a call that never happened: the vendor can sign neither the consumer's request...
        invented = replace(results[-1].request, seq=4, input_hash=keccak(b"never asked"))
        step = replace(real.assignment, seq=4)
        market = am.address

        with reverts("apimarket: request not signed by consumer"):
            am.claim(vendor, invented, step, invented.sign(market, key),
                     step.sign(market, key), counts)  # fmt: skip
        # ...nor the orchestrator's assignment of a real request's step to it
        with reverts("apimarket: assignment not from orchestrator"):
            am.claim(vendor, results[-1].request, replace(real.assignment, seq=3),
                     results[-1].request_sig, step.sign(market, key), counts)  # fmt: skip
        # a step it ran that is in the batch: the orchestrator answers with its leaf
        claim_id, _ = am.claim(vendor, results[0].request, real.assignment,
                               results[0].request_sig, real.assignment_sig, counts)  # fmt: skip
        live.run_agents()
        answered = am.claim_of(claim_id).state
        live.to_end()

        assert answered is ClaimState.ANSWERED
        assert len(am.events("Claimed", api=api)) == 1  # the honest vendors claimed nothing
        assert live.net() == honest_net(live, results)  # paid once, from the batch
        assert_ended_and_paid_out(live)
        assert_names(live, {liar: ("vendor", {"claims"})})  # it claimed a step already paid


def test_a_provider_cannot_deny_the_model_it_registered(
    chain: EmbeddedChain, model: Digits, tmp_path: Path
) -> None:
    with LiveApi(chain, tmp_path, model, HONEST) as live:
        client = live.client("hospital-1")
        results = [live.call(client, n) for n in range(2)]
        am, api = live.market.api_market, live.api_id
        hashes = [results[0].step(j).receipt.component_hash for j in range(2)]
        other = keccak(b"a block of another model")

        # the root is fixed at registration; each vendor's component hash is proved under it
        assert am.api(api).model_root == model_root(model.split)
        assert all(am.component_at(api, j, hashes[j], live.proof(j)) for j in range(2))
        assert not am.component_at(api, 1, hashes[0], live.proof(1))
        assert not am.component_at(api, 1, other, live.proof(1))

        # a vendor whose receipt names a hash outside the root is slashed at once
        real = results[1].step(1)
        runner = live.name_of_slot(real.receipt.slot)
        forged = replace(real.receipt, component_hash=other)
        signature = forged.sign(am.address, bytes(live.identities[runner].account.key))
        consumer = live.identities["hospital-1"].account
        dispute_id, _ = am.dispute(consumer, forged, signature, live.proof(1))
        live.paid_in["hospital-1"] += OFFER.dispute_bond
        state = am.dispute_of(dispute_id).state
        live.run_agents()  # the orchestrator excludes the slashed slot
        after = live.call(client, 2)
        live.to_batch()
        live.to_end()

        assert state is DisputeState.WRONG_COMPONENT
        assert am.api(api).is_out(real.receipt.slot)
        assert after.step(1).receipt.slot != real.receipt.slot
        expected = honest_net(live, [*results, after])
        expected["hospital-1"] += VENDOR_STAKE // 2  # the bond back and half the stake
        expected[PROVIDER] += VENDOR_STAKE // 2
        expected[runner] -= VENDOR_STAKE
        assert live.net() == expected
        assert_ended_and_paid_out(live)
        assert_names(live, {runner: ("vendor", {"disputes"})})  # it signed another component
