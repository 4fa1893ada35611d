"""P5's adversaries around a batch (issue 13), whole flows with real services: an
orchestrator that drops calls from its batch (or commits none) or invents calls, a
consumer that denies a call or forges an output to ask for a refund.

The dishonest orchestrator is the real one with its batch records changed
(:meth:`Orchestrator.records_for`, which its agent commits); everything else is honest.
Every test runs its API to the end and checks every party's money and the escrow.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from mercato.chain.embedded import EmbeddedChain
from mercato.crypto.commit import keccak
from mercato.protocols.apimarket import agents, history
from mercato.protocols.apimarket.messages import signature_to_json
from mercato.protocols.apimarket.orchestrator import Orchestrator
from mercato.protocols.apimarket.records import StepRecord
from mercato.protocols.apimarket.scenario import OFFER, ORCHESTRATOR, PERIODS, PROVIDER
from mercato.protocols.apimarket.views import ChallengeState, ClaimState, DisputeState

from ..world import reverts
from .audited import assert_names
from .live import (
    HONEST,
    PAIR,
    Digits,
    LiveApi,
    assert_ended_and_paid_out,
    embedded_chain,
    honest_net,
)

pytestmark = pytest.mark.slow  # vendor processes and a market per test

chain = pytest.fixture(scope="module", name="chain")(embedded_chain)

PRICE = OFFER.price
SHARES = OFFER.shares


class DroppingOrchestrator(Orchestrator):
    """An orchestrator whose batches leave out the steps named in :attr:`left_out`."""

    left_out: frozenset[tuple[str, int, int]] = frozenset()
    """(consumer, seq, component) of each step to leave out."""

    def records_for(self, epoch: int) -> list[StepRecord]:
        return [
            r
            for r in super().records_for(epoch)
            if (r.consumer, r.seq, r.component) not in self.left_out
        ]


class SilentOrchestrator(Orchestrator):
    """An orchestrator that serves calls but never commits a batch of them."""

    def records_for(self, epoch: int) -> list[StepRecord]:
        return []


class InventingOrchestrator(Orchestrator):
    """An orchestrator whose batches hold one more call of :attr:`victim` than it made."""

    victim = ""

    def records_for(self, epoch: int) -> list[StepRecord]:
        records = super().records_for(epoch)
        seq = 1 + max((r.seq for r in records if r.consumer == self.victim), default=0)
        invented = [
            StepRecord(
                api=self.terms.api,
                epoch=epoch,
                consumer=self.victim,
                seq=seq,
                component=component,
                slot=self.terms.replicas(component)[0],
                hash_in=keccak(b"invented %d" % component),
                hash_out=keccak(b"invented %d" % (component + 1)),
            )
            for component in range(self.terms.components)
        ]
        return [*records, *invented]


def test_an_orchestrator_dropping_a_call_pays_its_vendors_from_its_stake(
    chain: EmbeddedChain, model: Digits, tmp_path: Path
) -> None:
    dishonest = DroppingOrchestrator
    with LiveApi(chain, tmp_path, model, PAIR, orchestrator_class=dishonest) as live:
        client = live.client("hospital-1")
        results = [live.call(client, n) for n in range(3)]
        dropped = results[-1]
        orchestrator = live.orchestrator
        assert isinstance(orchestrator, DroppingOrchestrator)
        orchestrator.left_out = frozenset((client.address, 3, j) for j in range(2))

        live.to_batch()  # the batch counts two calls; the vendors of the third claim its steps
        live.to_end()

        am = live.market.api_market
        assert am.batch(live.api_id, 0).committed
        claims = am.events("Claimed", api=live.api_id)
        assert sorted((int(c["seq"]), int(c["component"])) for c in claims) == [(3, 0), (3, 1)]
        assert {am.claim_of(int(c["claim_id"])).state for c in claims} == {
            ClaimState.PAID_UNREPORTED
        }
        ran = {(s.receipt.component, s.receipt.slot) for s in dropped.steps}
        assert {(int(c["component"]), int(c["slot"])) for c in claims} == ran
        assert {str(c["vendor"]) for c in claims} == {
            live.identities[live.name_of_slot(slot)].address for _, slot in ran
        }
        expected = honest_net(live, results)
        expected["hospital-1"] += PRICE  # the dropped call is not charged
        expected[PROVIDER] -= PRICE - sum(SHARES)
        expected[ORCHESTRATOR] -= sum(SHARES)  # its vendors paid from the stake
        assert live.net() == expected
        assert_ended_and_paid_out(live)
        assert_names(live, {ORCHESTRATOR: ("orchestrator", {"claims"})})


def test_an_orchestrator_dropping_a_step_of_a_counted_call_pays_it_from_its_stake(
    chain: EmbeddedChain, model: Digits, tmp_path: Path
) -> None:
    dishonest = DroppingOrchestrator
    with LiveApi(chain, tmp_path, model, PAIR, orchestrator_class=dishonest) as live:
        client = live.client("hospital-2")
        results = [live.call(client, n) for n in range(3)]
        orchestrator = live.orchestrator
        assert isinstance(orchestrator, DroppingOrchestrator)
        orchestrator.left_out = frozenset({(client.address, 1, 1)})

        live.to_batch()  # the vendor claims; the orchestrator has no leaf to answer with
        am = live.market.api_market
        (claim,) = am.events("Claimed", api=live.api_id)
        opened = am.claim_of(int(claim["claim_id"])).state
        live.to_end()  # unanswered: settled from the orchestrator's stake

        assert opened is ClaimState.OPEN
        assert (int(claim["seq"]), int(claim["component"])) == (1, 1)
        assert int(claim["slot"]) == results[0].step(1).receipt.slot
        assert am.claim_of(int(claim["claim_id"])).state is ClaimState.PAID_UNANSWERED
        expected = honest_net(live, results)
        expected[PROVIDER] += SHARES[1]  # the batch credited the provider the step's share
        expected[ORCHESTRATOR] -= SHARES[1]
        assert live.net() == expected
        assert_ended_and_paid_out(live)
        assert_names(live, {ORCHESTRATOR: ("orchestrator", {"claims"})})


def test_an_orchestrator_committing_no_batch_pays_every_step_from_its_stake(
    chain: EmbeddedChain, model: Digits, tmp_path: Path
) -> None:
    dishonest = SilentOrchestrator
    with LiveApi(chain, tmp_path, model, PAIR, orchestrator_class=dishonest) as live:
        clients = [live.client(name) for name in live.consumers]
        results = [live.call(clients[n % 2], n) for n in range(3)]

        live.to_batch()  # no batch comes
        live.after(PERIODS.epoch)  # it is overdue: each vendor claims each step it ran
        live.to_end()

        am = live.market.api_market
        assert not am.batch(live.api_id, 0).committed
        claims = am.events("Claimed", api=live.api_id)
        assert len(claims) == 2 * len(results)
        assert {am.claim_of(int(c["claim_id"])).state for c in claims} == {ClaimState.PAID_MISSED}
        expected = honest_net(live, results)
        for result in results:  # nobody is charged; the vendors are paid from the stake
            expected[live.names[result.request.consumer]] += PRICE
        expected[PROVIDER] -= len(results) * (PRICE - sum(SHARES))
        expected[ORCHESTRATOR] -= len(results) * sum(SHARES)
        assert live.net() == expected
        assert_ended_and_paid_out(live)
        assert_names(live, {ORCHESTRATOR: ("orchestrator", {"claims"})})


def test_an_orchestrator_inventing_a_call_refunds_it_and_the_bond_from_its_stake(
    chain: EmbeddedChain, model: Digits, tmp_path: Path
) -> None:
    dishonest = InventingOrchestrator
    with LiveApi(chain, tmp_path, model, PAIR, orchestrator_class=dishonest) as live:
        client = live.client("hospital-1")
        results = [live.call(client, n) for n in range(2)]
        orchestrator = live.orchestrator
        assert isinstance(orchestrator, InventingOrchestrator)
        orchestrator.victim = client.address
        live.to_batch()
        am, api = live.market.api_market, live.api_id
        event = history.batch_event(am, api, 0)
        consumers, calls, _ = counts = history.counts_of(event)
        charged = calls[consumers.index(client.address)]

        # act: the consumer made two calls; it challenges the third the batch charges it for
        challenge_id, _ = am.challenge(live.identities["hospital-1"].account, api, 0, 3, counts)
        live.paid_in["hospital-1"] += OFFER.challenge_bond
        live.run_agents()  # the orchestrator holds no signed request for it: no answer
        unanswered = am.challenge_of(challenge_id).state
        live.to_end()

        assert charged == 3
        assert unanswered is ChallengeState.OPEN
        assert am.challenge_of(challenge_id).state is ChallengeState.REFUNDED
        expected = honest_net(live, results)  # the consumer pays its two calls, and the bond
        expected[ORCHESTRATOR] -= PRICE  # back; the invented price came from the stake
        for component, share in enumerate(SHARES):  # the batch paid the invented steps
            expected[live.name_of_slot(orchestrator.terms.replicas(component)[0])] += share
        expected[PROVIDER] += PRICE - sum(SHARES)
        assert live.net() == expected
        assert_ended_and_paid_out(live)
        assert_names(live, {ORCHESTRATOR: ("orchestrator", {"challenges"})})


def test_a_consumer_denying_a_call_loses_its_bond_to_the_orchestrator(
    chain: EmbeddedChain, model: Digits, tmp_path: Path
) -> None:
    with LiveApi(chain, tmp_path, model, PAIR) as live:
        client = live.client("hospital-2")
        results = [live.call(client, n) for n in range(2)]
        live.to_batch()
        am, api = live.market.api_market, live.api_id
        counts = history.counts_of(history.batch_event(am, api, 0))

        challenge_id, _ = am.challenge(live.identities["hospital-2"].account, api, 0, 1, counts)
        live.paid_in["hospital-2"] += OFFER.challenge_bond
        live.run_agents()  # answered with the consumer's own signed request
        answered = am.challenge_of(challenge_id).state
        with reverts("apimarket: call already challenged"):
            am.challenge(live.identities["hospital-2"].account, api, 0, 1, counts)
        live.to_end()

        assert answered is ChallengeState.ANSWERED
        expected = honest_net(live, results)
        expected["hospital-2"] -= OFFER.challenge_bond
        expected[ORCHESTRATOR] += OFFER.challenge_bond
        assert live.net() == expected
        assert_ended_and_paid_out(live)
        assert_names(live, {"hospital-2": ("consumer", {"challenges"})})


def test_a_consumer_forging_an_output_gets_no_refund_and_loses_its_bond(
    chain: EmbeddedChain, model: Digits, tmp_path: Path
) -> None:
    with LiveApi(chain, tmp_path, model, HONEST) as live:
        client = live.client("hospital-1")
        results = [live.call(client, n) for n in range(2)]
        am = live.market.api_market
        consumer = live.identities["hospital-1"].account
        real = results[0].step(1)
        forged = replace(real.receipt, hash_out=keccak(b"an output it never got"))

        # a receipt it forged: neither the vendor's signature nor its own will do
        with reverts("apimarket: receipt not signed by the vendor"):
            am.dispute(consumer, forged, real.receipt_sig, live.proof(1))
        with reverts("apimarket: receipt not signed by the vendor"):
            am.dispute(consumer, forged, forged.sign(am.address, bytes(consumer.key)),
                       live.proof(1))  # fmt: skip
        # a real receipt, disputed all the same: the other replica re-runs it and agrees
        ctx = live.agents["hospital-1"].context
        agents.contest(ctx, real.receipt, signature_to_json(real.receipt_sig), live.proof(1))
        live.run_agents()
        live.paid_in["hospital-1"] += OFFER.dispute_bond
        live.after(PERIODS.response)
        live.to_batch()
        live.to_end()

        (resolved,) = am.events("DisputeResolved", api=live.api_id)
        assert am.dispute_of(int(resolved["dispute_id"])).state is DisputeState.HONEST
        assert int(resolved["slashed"]) == 0
        accused = live.name_of_slot(real.receipt.slot)
        replica = "vendor-4" if accused == "vendor-3" else "vendor-3"
        expected = honest_net(live, results)
        expected["hospital-1"] -= OFFER.dispute_bond
        expected[accused] += OFFER.dispute_bond // 2  # the majority: accused and replica
        expected[replica] += OFFER.dispute_bond // 2
        assert live.net() == expected
        assert_ended_and_paid_out(live)
        assert_names(live, {"hospital-1": ("consumer", {"disputes"})})  # an unjustified dispute
