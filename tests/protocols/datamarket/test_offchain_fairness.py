"""P3 robust mode's fairness off chain: with nobody poisoning, Multi-Krum excludes nobody and
every honest DO is paid every round; an update the MO cannot open is the only exclusion
without a judged score (issue 15)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from mercato.ml.aggregate.krum import DEFAULT_MULTIPLE, UNOPENED_SCORE, krum_outliers
from mercato.protocols.datamarket import data_owner, history, model_owner
from mercato.protocols.datamarket.market import Mode, Phase
from mercato.protocols.datamarket.rules import aggregate_problem
from mercato.storage.base import hash_bytes

from .offchain import PER_UPDATE, P3World, build_world

DATA_OWNERS = 7
MAX_EXCLUDED = 2


@pytest.fixture
def p3(tmp_path: Path) -> Iterator[P3World]:
    world = build_world(tmp_path, data_owners=DATA_OWNERS)
    try:
        yield world
    finally:
        world.chain.close()


def test_with_no_poisoner_every_honest_data_owner_is_paid_every_round(p3: P3World) -> None:
    # prepare: a robust Multi-Krum task that may exclude two a round; everyone is honest
    task_id = p3.post(Mode.ROBUST, MAX_EXCLUDED, rounds=2)
    assert p3.dm.task(task_id).outlier_multiple == DEFAULT_MULTIPLE

    results = []
    for _ in range(2):
        p3.run_round(task_id)
        # act
        results.append(model_owner.aggregate(p3.market, p3.mo, task_id))

    # assert: nobody excluded, every score on chain, each DO paid its two shares
    assert [r.excluded for r in results] == [(), ()]
    for round_number, event in history.finalised(p3.dm, task_id).items():
        scores = list(event["scores"])
        assert len(scores) == DATA_OWNERS, round_number
        assert krum_outliers(scores, DEFAULT_MULTIPLE, MAX_EXCLUDED) == ()
        assert event["excluded"] == 0 and event["paid_each"] == PER_UPDATE
    assert all(p3.dm.owed(do.address) == 2 * PER_UPDATE for do in p3.dos)
    assert p3.dm.owed(p3.mo.address) == 0


def test_an_update_the_model_owner_cannot_open_is_excluded_as_unopened(p3: P3World) -> None:
    # prepare: DO 2 submits a blob that is no envelope sealed to the MO
    task_id = p3.post(Mode.ROBUST, MAX_EXCLUDED)
    for i, do in enumerate(p3.dos):
        if i == 2:
            junk = p3.market.store.put(b"not an update sealed to the model owner")
            p3.dm.submit(do.account, task_id, hash_bytes(junk))
        else:
            data_owner.act(p3.market, do, task_id, p3.contribution(i, {}))
    task = p3.dm.task(task_id)
    assert task.phase is Phase.AGGREGATE
    assert aggregate_problem(task, p3.mo.address) is None

    # act
    result = model_owner.aggregate(p3.market, p3.mo, task_id)

    # assert: DO 2 alone goes, recorded as unopened; the honest others are all kept
    assert result.excluded == (2,)
    event = history.finalised(p3.dm, task_id)[1]
    assert event["scores"][2] == UNOPENED_SCORE
    assert max(s for i, s in enumerate(event["scores"]) if i != 2) < UNOPENED_SCORE
    assert p3.dm.owed(p3.dos[2].address) == 0
    assert p3.dm.owed(p3.dos[0].address) == PER_UPDATE + PER_UPDATE // 6
