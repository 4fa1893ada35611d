"""P3 robust mode off chain: poisoners excluded and unpaid, scores on chain, a silent MO."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from mercato.audit.datamarket import audit
from mercato.errors import IntegrityError
from mercato.ml.model_parts import apply_update
from mercato.ml.poison import Poisoner
from mercato.ml.trainers.weights import weights_from_bytes, weights_to_bytes
from mercato.protocols.datamarket import agents, data_owner, history, model_owner
from mercato.protocols.datamarket.aggregation import check_round
from mercato.protocols.datamarket.market import SCORE_SCALE, Mode, Phase, TaskStatus, members_of
from mercato.storage.base import hash_bytes, hash_hex
from mercato.storage.envelope import open_envelope

from .offchain import PER_UPDATE, P3World, build_world

DATA_OWNERS = 7
MAX_EXCLUDED = 2
AGGREGATE_RIGHT, POISONED, CLAIMS = 4, 6, 7
"""The auditor's checks (mercato.audit.datamarket) that name this file's cheaters."""


@pytest.fixture
def p3(tmp_path: Path) -> Iterator[P3World]:
    world = build_world(tmp_path, data_owners=DATA_OWNERS)
    try:
        yield world
    finally:
        world.chain.close()


@pytest.mark.parametrize("kind", ["scale", "noise"])
def test_poisoners_are_excluded_on_chain_and_their_pay_goes_to_the_kept(
    p3: P3World, kind: str
) -> None:
    # prepare: DOs 1 and 5 poison their updates
    poisoners = {1: Poisoner(kind), 5: Poisoner(kind)}
    task_id = p3.post(Mode.ROBUST, MAX_EXCLUDED)
    p3.run_round(task_id, poisoners)

    # act
    result = model_owner.aggregate(p3.market, p3.mo, task_id)

    # assert
    assert result.excluded == (1, 5)
    event = history.finalised(p3.dm, task_id)[1]
    assert members_of(int(event["excluded"])) == (1, 5)
    scores = [s / SCORE_SCALE for s in event["scores"]]
    assert len(scores) == DATA_OWNERS
    assert min(scores[1], scores[5]) > max(s for i, s in enumerate(scores) if i not in (1, 5))
    paid_each = PER_UPDATE + 2 * PER_UPDATE // 5
    for i, do in enumerate(p3.dos):
        assert p3.dm.owed(do.address) == (0 if i in (1, 5) else paid_each)
    assert p3.dm.owed(p3.mo.address) == 0  # excluding gained the MO nothing
    check_round(p3.market, task_id, 1)
    # the audit with the MO's key re-runs the rule and names the poisoners, nobody else
    report = audit(p3.market, task_id, p3.mo)
    assert report.cheaters == {f"data owner {p3.dos[i].address}": [POISONED] for i in (1, 5)}


def test_updates_are_sealed_to_the_model_owner(p3: P3World) -> None:
    # prepare
    task_id = p3.post(Mode.ROBUST, MAX_EXCLUDED)
    p3.run_phase(task_id)
    event = history.posts(p3.dm, task_id, 1, "update")[0]
    envelope = p3.market.store.get(hash_hex(event["update_hash"]))

    # act / assert: another DO cannot open it
    with pytest.raises(IntegrityError):
        open_envelope(envelope, p3.dos[1].encryption_private, b"")


def test_wrong_model_is_provable_in_robust_mode(p3: P3World) -> None:
    # prepare: the MO publishes an aggregate and a model that is not old + aggregate
    task_id = p3.post(Mode.ROBUST, MAX_EXCLUDED, rounds=2)
    p3.run_round(task_id)
    before = data_owner.load_model(p3.market, history.model_before(p3.dm, task_id, 1))
    aggregate = (before * 0).astype(before.dtype)
    model_hash = p3.market.store.put(weights_to_bytes(apply_update(before, aggregate + 1)))
    p3.dm.finalise_round(
        p3.mo.account,
        task_id,
        model_hash=hash_bytes(model_hash),
        aggregate_hash=hash_bytes(p3.market.store.put(weights_to_bytes(aggregate))),
    )

    # act / assert
    with pytest.raises(IntegrityError, match="wrong model"):
        check_round(p3.market, task_id, 1)
    with pytest.raises(IntegrityError, match="wrong model"):
        p3.run_phase(task_id)  # no DO trains round 2 on it
    report = audit(p3.market, task_id, None)  # the public names the MO
    assert report.cheaters == {f"model owner {p3.mo.address}": [AGGREGATE_RIGHT]}


def test_silent_model_owner_cannot_keep_the_reward(p3: P3World) -> None:
    # prepare: every DO submits; the MO never aggregates
    task_id = p3.post(Mode.ROBUST, MAX_EXCLUDED, rounds=3)
    task = p3.run_round(task_id)
    assert task.phase is Phase.AGGREGATE
    p3.chain.time_travel(task.deadline - p3.chain.timestamp() + 1)

    # act: a DO's agent notices the missed deadline and claims
    live = agents.keep_moving(p3.market, p3.dos[3], task_id)

    # assert: every DO is paid for the round it worked, the MO gets the rounds never run
    assert not live
    assert p3.dm.task(task_id).status is TaskStatus.EXPIRED
    assert all(p3.dm.owed(do.address) == PER_UPDATE for do in p3.dos)
    assert p3.dm.owed(p3.mo.address) == PER_UPDATE * DATA_OWNERS * 2
    balance = p3.chain.balance(p3.dos[3].address)
    p3.dm.withdraw(p3.dos[3].account)
    assert p3.chain.balance(p3.dos[3].address) > balance
    report = audit(p3.market, task_id, None)  # the public names the MO, the claim's reason
    assert report.cheaters == {f"model owner {p3.mo.address}": [CLAIMS]}
    assert report.checks[-1].verdict.value == "pass"  # paid to the wei


def test_private_head_never_leaves_the_model_owner(p3: P3World) -> None:
    # prepare
    task_id = p3.post(Mode.ROBUST, MAX_EXCLUDED)
    p3.run_round(task_id)
    model_owner.aggregate(p3.market, p3.mo, task_id)

    # act
    tuned = model_owner.finish(p3.market, task_id, p3.spec, p3.owner_model, p3.data.mo, 3)

    # assert: no public model blob holds the private head's bytes
    head = weights_to_bytes(tuned.private)[16:]
    for event in (history.posted(p3.dm, task_id), history.finalised(p3.dm, task_id)[1]):
        public = weights_from_bytes(p3.market.store.get(hash_hex(event["model_hash"])))
        assert head not in weights_to_bytes(public)
    assert weights_to_bytes(tuned.private) != weights_to_bytes(p3.owner_model.private)
