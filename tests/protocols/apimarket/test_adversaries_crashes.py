"""P5's failing services (issue 13), whole flows with real processes: a vendor that stops
answering (the orchestrator fails over to a replica), an orchestrator that crashes in the
middle of a call and a vendor process killed mid-epoch, both restarted from their journals.

Every test checks that no call is lost or paid twice: the batch counts each call the
consumers signed once, each vendor ran each of its steps once and is paid once for it,
nobody claims, and every party's money and the escrow come out exact.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mercato.chain.embedded import EmbeddedChain
from mercato.errors import MercatoError
from mercato.protocols.apimarket.consumer import CallResult
from mercato.protocols.apimarket.endpoints import HttpTransport, Reply
from mercato.protocols.apimarket.scenario import OFFER, PROVIDER

from .audited import assert_names
from .live import (
    HONEST,
    PAIR,
    Digits,
    LiveApi,
    assert_ended_and_paid_out,
    embedded_chain,
    honest_net,
    steps_by_slot,
)

pytestmark = pytest.mark.slow  # vendor processes and a market per test

chain = pytest.fixture(scope="module", name="chain")(embedded_chain)

MAX_CALLS = 16
"""Calls a test makes at most while waiting for the random routing to do what it needs."""


class Crash(Exception):
    """Stands for the orchestrator's process dying."""


class CrashAfterStep:
    """An HTTP transport that delivers the ``at``-th step to its vendor, then dies before
    the orchestrator sees the answer."""

    def __init__(self, at: int) -> None:
        self.inner, self.at, self.seen = HttpTransport(), at, 0

    def request(
        self, method: str, url: str, path: str, body: Mapping[str, Any] | None = None
    ) -> Reply:
        reply = self.inner.request(method, url, path, body)
        if path == "/step":
            self.seen += 1
            if self.seen == self.at:
                raise Crash("killed")
        return reply


def vendor_steps(live: LiveApi) -> dict[str, int]:
    """How many steps each vendor's service journaled (a replayed step is not run again)."""
    transport = HttpTransport()
    try:
        return {
            name: int(transport.request("GET", process.url, "/health").unwrap()["steps"])
            for name, process in live.vendors.items()
            if process.process.poll() is None
        }
    finally:
        transport.close()


def assert_each_call_once(live: LiveApi, signed: Mapping[str, int]) -> None:
    """The batch counts exactly the calls each consumer signed, each with every step."""
    am = live.market.api_market
    batch = am.batch(live.api_id, 0)
    assert batch.committed
    counted = dict(zip(*_counts(live)[:2], strict=True))
    assert counted == {live.identities[name].address: n for name, n in signed.items()}
    steps = sum(batch.steps(slot) for slot in range(len(live.slot_names)))
    assert steps == 2 * sum(signed.values())
    assert am.events("Claimed", api=live.api_id) == []


def _counts(live: LiveApi) -> tuple[list[str], list[int], list[int]]:
    from mercato.protocols.apimarket import history

    am = live.market.api_market
    return history.counts_of(history.batch_event(am, live.api_id, 0))


def test_a_vendor_that_stops_answering_is_failed_over_with_identical_outputs(
    chain: EmbeddedChain, model: Digits, tmp_path: Path
) -> None:
    with LiveApi(chain, tmp_path, model, HONEST) as live:
        client = live.client("hospital-1")
        results = [live.call(client, n) for n in range(2)]
        killed = live.slot_of("vendor-1")
        live.vendors["vendor-1"].kill()
        assert live.orchestrator is not None
        while live.orchestrator.failovers == 0 and len(results) < MAX_CALLS:
            results.append(live.call(client, len(results)))
        more = [live.call(client, len(results) + n) for n in range(2)]
        served = [*results, *more]
        live.to_batch()
        live.to_end()

        assert live.orchestrator.failovers == 1  # marked down once, never asked again
        for number, result in enumerate(served):
            assert np.array_equal(result.output, model.split.predict(model.call_rows(number)))
            assert np.array_equal(result.output, model.whole.predict(model.call_rows(number)))
        assert all(r.step(0).receipt.slot != killed for r in served[2:])
        assert_each_call_once(live, {"hospital-1": len(served)})
        assert live.net() == honest_net(live, served)  # vendor-1 paid for what it ran
        assert_ended_and_paid_out(live)
        assert_names(live, {})  # a crash is no cheat: the auditor finds nobody


def test_an_orchestrator_crashing_mid_call_loses_no_call_and_runs_none_twice(
    chain: EmbeddedChain, model: Digits, tmp_path: Path
) -> None:
    crashing = CrashAfterStep(at=3)  # the second call's first step: delivered, not answered
    with LiveApi(chain, tmp_path, model, PAIR, transport=crashing) as live:
        client = live.client("hospital-1")
        results = [live.call(client, 0)]
        with pytest.raises(MercatoError):  # the crash reaches the consumer as a 500
            live.call(client, 1)

        live.restart_orchestrator()
        results.append(client.retry())  # the same signed request: the journaled call goes on
        results.append(live.call(client, 2))
        ran = vendor_steps(live)
        live.to_batch()
        live.to_end()

        assert [r.request.seq for r in results] == [1, 2, 3]
        assert np.array_equal(results[1].output, model.split.predict(model.call_rows(1)))
        assert sum(ran.values()) == 2 * 3  # the delivered step was replayed, not re-run
        assert_each_call_once(live, {"hospital-1": 3})
        assert live.net() == honest_net(live, results)
        assert_ended_and_paid_out(live)
        assert_names(live, {})  # a crash is no cheat: the auditor finds nobody


def test_a_restarted_orchestrator_finishes_a_crashed_call_for_its_batch(
    chain: EmbeddedChain, model: Digits, tmp_path: Path
) -> None:
    crashing = CrashAfterStep(at=1)
    with LiveApi(chain, tmp_path, model, PAIR, transport=crashing) as live:
        client = live.client("hospital-2")
        with pytest.raises(MercatoError):
            live.call(client, 0)  # the consumer never asks again

        restarted = live.restart_orchestrator()
        finished = restarted.finish_open_calls()
        evidence = restarted.evidence(0, client.address, 1)
        other = live.client("hospital-1")
        later = [live.call(other, n) for n in range(1, 3)]
        ran = vendor_steps(live)
        live.to_batch()
        live.to_end()

        assert finished == 1 and evidence is not None
        assert sum(ran.values()) == 2 * 3
        assert_each_call_once(live, {"hospital-1": 2, "hospital-2": 1})
        # the finished call is charged once and its vendors paid once
        expected = honest_net(live, later)
        expected["hospital-2"] -= OFFER.price
        for step in evidence["steps"]:
            component, slot = int(step["component"]), int(step["slot"])
            expected[live.name_of_slot(slot)] += OFFER.shares[component]
        expected[PROVIDER] += OFFER.price - sum(OFFER.shares)
        assert live.net() == expected
        assert_ended_and_paid_out(live)
        assert_names(live, {})  # a crash is no cheat: the auditor finds nobody


def test_a_vendor_killed_mid_epoch_and_restarted_loses_no_step_and_runs_none_twice(
    chain: EmbeddedChain, model: Digits, tmp_path: Path
) -> None:
    # one vendor of each block: no replica to fail over to
    with LiveApi(chain, tmp_path, model, PAIR) as live:
        client = live.client("hospital-1")
        results: list[CallResult] = [live.call(client, n) for n in range(2)]
        live.vendors["vendor-3"].kill()
        with pytest.raises(MercatoError):  # the second block has no vendor: the call waits
            live.call(client, 2)

        live.restart_vendor("vendor-3")  # from its config and journal, on its port
        results.append(client.retry())
        results.append(live.call(client, 3))
        ran = vendor_steps(live)
        live.to_batch()  # vendor-3's agent checks its journal against the batch: all there
        live.to_end()

        assert ran == {"vendor-1": 4, "vendor-3": 4}  # the third call's first step ran once
        assert steps_by_slot(results) == {0: 4, 1: 4}
        assert np.array_equal(results[2].output, model.split.predict(model.call_rows(2)))
        assert_each_call_once(live, {"hospital-1": 4})
        assert live.net() == honest_net(live, results)
        assert_ended_and_paid_out(live)
        assert_names(live, {})  # a crash is no cheat: the auditor finds nobody
