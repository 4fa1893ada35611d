"""Findings of ``mercato bench chaos``, replayed in one process on the embedded chain.

P4, seed 0 (the node stopped 1.7 s after the request was posted): every executor's stake
landed while the node went down before its agent saw the receipt. The agent handled the
``RequestPosted`` event again once the node was back, found itself a volunteer already,
and stopped following the request: it never benchmarked, the request failed and all three
executors were slashed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tests.protocols.modelmarket.offchain import hidden_test_set, p4_flow, trained_models

from mercato.errors import NodeUnreachable
from mercato.protocols.identity import Identity
from mercato.protocols.marketplace import Marketplace
from mercato.protocols.modelmarket import executor
from mercato.protocols.modelmarket.views import RequestStatus

ORIGINAL_VOLUNTEER = executor.volunteer


def test_an_executor_whose_stake_landed_before_an_outage_still_benchmarks(
    tmp_path: Path,
) -> None:
    # prepare: executor-1's first volunteer lands on chain, then the node "goes down"
    outages: list[str] = []

    def volunteer_then_outage(market: Marketplace, me: Identity, request_id: int) -> Any:
        sent = ORIGINAL_VOLUNTEER(market, me, request_id)
        if not outages:
            outages.append(me.address)
            raise NodeUnreachable("the node went down before the receipt came")
        return sent

    models = trained_models()
    sellers = {"best": (models["best"], None), "good": (models["good"], None)}
    swaps = {"executor-1": {"executor.volunteer": volunteer_then_outage}}
    with p4_flow(tmp_path, sellers, swaps=swaps) as flow:
        # act: the outage stops the step (an agent process backs off), then all goes on
        request_id = flow.post(hidden_test_set())
        with pytest.raises(NodeUnreachable):
            flow.run_agents()
        request = flow.run_to_end(request_id)

        # assert: the retried handler follows the request; executor-1 commits and reveals
        assert outages == [flow.address("executor-1")]
        assert request.status is RequestStatus.CLOSED
        committed = {str(e["executor"]) for e in flow.mm.events("ScoresCommitted",
                                                                request_id=request_id)}  # fmt: skip
        assert flow.address("executor-1") in committed
        assert len(committed) == 3
        assert flow.net("executor-1") > 0  # its fee, never a slash
