"""P3 secure mode off chain: the sum survives dropouts, the MO sees only masked vectors,
a wrong aggregate is provable and stops the DOs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from mercato.audit.datamarket import audit
from mercato.crypto.secagg import max_abs, quantise, unmask
from mercato.errors import IntegrityError, ProtocolError
from mercato.ml.model_parts import apply_update
from mercato.ml.trainers.weights import weights_from_bytes, weights_to_bytes
from mercato.protocols.datamarket import data_owner, history, model_owner
from mercato.protocols.datamarket.aggregation import check_round, secure_mean
from mercato.protocols.datamarket.documents import (
    RevealBlob,
    SharesBlob,
    secagg_context,
    unpack_masked,
)
from mercato.protocols.datamarket.market import Mode, Phase, TaskStatus
from mercato.storage.base import hash_bytes, hash_hex
from mercato.storage.envelope import open_envelope

from .offchain import PER_UPDATE, P3World, build_world

THRESHOLD = 3
POSTED_IN_TIME, AGGREGATE_RIGHT = 1, 4
"""The auditor's checks (mercato.audit.datamarket) that name this file's cheaters."""


@pytest.fixture
def p3(tmp_path: Path) -> Iterator[P3World]:
    world = build_world(tmp_path, data_owners=5)
    try:
        yield world
    finally:
        world.chain.close()


def honest_updates(p3: P3World, task_id: int, round_number: int, who: list[int]) -> np.ndarray:
    """What each DO in ``who`` trains this round, recomputed apart from the protocol."""
    spec = data_owner.load_spec(p3.market, task_id)
    public = data_owner.load_model(p3.market, history.model_before(p3.dm, task_id, round_number))
    return np.stack(
        [
            p3.model.local_update(
                public, p3.data.parts[i], spec.local_epochs, spec.seed_of(round_number)
            )
            for i in who
        ]
    )


def test_secure_round_gives_the_mean_of_all_updates_and_pays_everyone(p3: P3World) -> None:
    # prepare
    task_id = p3.post(Mode.SECURE, THRESHOLD)
    p3.run_round(task_id)

    # act
    result = model_owner.aggregate(p3.market, p3.mo, task_id)

    # assert: the unmasked mean is the plain mean, to fixed-point precision
    expected = honest_updates(p3, task_id, 1, list(range(5))).mean(axis=0)
    finalised = history.finalised(p3.dm, task_id)[1]
    aggregate = weights_from_bytes(p3.market.store.get(hash_hex(finalised["aggregate_hash"])))
    assert np.abs(aggregate - expected).max() < 5 / 2**16
    assert result.used == (0, 1, 2, 3, 4)
    check_round(p3.market, task_id, 1)  # anyone can recompute it
    assert p3.dm.task(task_id).status is TaskStatus.FINISHED
    assert all(p3.dm.owed(do.address) == PER_UPDATE for do in p3.dos)


def test_dropout_after_masking_leaves_the_survivors_sum(p3: P3World) -> None:
    # prepare: DO 2 deals its shares, then drops before submitting its masked update
    task_id = p3.post(Mode.SECURE, THRESHOLD)
    task = p3.run_phase(task_id)  # shares
    assert task.phase is Phase.SUBMIT
    p3.run_phase(task_id, silent=[2])
    task = p3.expire_phase(task_id)
    assert task.phase is Phase.REVEAL and task.active_members == (0, 1, 3, 4)
    p3.run_phase(task_id)  # the survivors reveal DO 2's key share, the others' seed shares

    # act
    model_owner.aggregate(p3.market, p3.mo, task_id)

    # assert
    survivors = [0, 1, 3, 4]
    mean = secure_mean(p3.market, task_id, 1)
    assert mean.survivors == tuple(survivors) and mean.dropped == (2,)
    expected = honest_updates(p3, task_id, 1, survivors).mean(axis=0)
    assert np.abs(mean.mean - expected).max() < 5 / 2**16
    check_round(p3.market, task_id, 1)
    assert p3.dm.owed(p3.dos[2].address) == 0
    assert p3.dm.owed(p3.mo.address) == PER_UPDATE  # the dropped DO's share is refunded
    assert all(p3.dm.owed(p3.dos[i].address) == PER_UPDATE for i in survivors)
    # the public audit names the dropout, and nobody else
    report = audit(p3.market, task_id, None)
    assert report.cheaters == {f"data owner {p3.dos[2].address}": [POSTED_IN_TIME]}


def test_dropout_before_dealing_shares_is_left_out_of_the_masks(p3: P3World) -> None:
    # prepare: DO 4 joined with its key but never deals shares
    task_id = p3.post(Mode.SECURE, THRESHOLD)
    p3.run_phase(task_id, silent=[4])
    task = p3.expire_phase(task_id)
    assert task.phase is Phase.SUBMIT and task.active_members == (0, 1, 2, 3)

    # act
    p3.run_round(task_id)
    model_owner.aggregate(p3.market, p3.mo, task_id)

    # assert
    expected = honest_updates(p3, task_id, 1, [0, 1, 2, 3]).mean(axis=0)
    assert np.abs(secure_mean(p3.market, task_id, 1).mean - expected).max() < 5 / 2**16
    assert p3.dm.owed(p3.dos[4].address) == 0
    report = audit(p3.market, task_id, None)
    assert report.cheaters == {f"data owner {p3.dos[4].address}": [POSTED_IN_TIME]}


def test_too_many_dropouts_fail_the_round_unpaid(p3: P3World) -> None:
    # prepare: only 2 of 5 submit, below the threshold of 3
    task_id = p3.post(Mode.SECURE, THRESHOLD)
    p3.run_phase(task_id)
    p3.run_phase(task_id, silent=[0, 1, 2])

    # act
    task = p3.expire_phase(task_id)

    # assert
    assert task.status is TaskStatus.FINISHED
    assert p3.dm.events("RoundFailed", task_id=task_id)
    assert p3.dm.owed(p3.mo.address) == PER_UPDATE * 5
    assert all(p3.dm.owed(do.address) == 0 for do in p3.dos)
    report = audit(p3.market, task_id, None)
    assert report.cheaters == {
        f"data owner {p3.dos[i].address}": [POSTED_IN_TIME] for i in (0, 1, 2)
    }


def test_curious_model_owner_sees_only_masked_vectors(p3: P3World) -> None:
    # prepare
    task_id = p3.post(Mode.SECURE, THRESHOLD)
    p3.run_round(task_id)
    update_of_0 = honest_updates(p3, task_id, 1, [0])[0]
    posts = history.posts(p3.dm, task_id, 1, "update")
    masked = {
        i: unpack_masked(p3.market.store.get(hash_hex(e["update_hash"]))) for i, e in posts.items()
    }
    keys = history.round_keys(p3.dm, task_id, 1)
    revealed = [
        share
        for e in history.posts(p3.dm, task_id, 1, "reveal").values()
        for share in RevealBlob.from_bytes(p3.market.store.get(hash_hex(e["reveal_hash"]))).shares
    ]
    context = secagg_context(p3.dm.address, task_id, 1)

    # act / assert: the masked vector of DO 0 says nothing about its update
    plain = quantise(update_of_0, 5).astype(np.float64)
    assert abs(np.corrcoef(plain, masked[0].astype(np.float64))[0, 1]) < 0.1
    # what was revealed unmasks the sum only: DO 0's vector alone needs the others' private
    # keys, and only seed shares of the others were revealed (each holder reveals one half)
    own_seed = [r for r in revealed if int.from_bytes(r[1:3], "big") == 0]
    assert len(own_seed) == 5
    with pytest.raises(ProtocolError, match="private key"):
        unmask({0: masked[0]}, keys.public_keys, keys.commitments, own_seed, context)
    # and the share bundles are sealed to the DOs, not to the MO
    shares = history.posts(p3.dm, task_id, 1, "shares")[0]
    blob = SharesBlob.from_bytes(p3.market.store.get(hash_hex(shares["shares_hash"])))
    with pytest.raises(IntegrityError):
        open_envelope(blob.envelopes[1], p3.mo.encryption_private, b"")
    assert max_abs(5) > float(np.abs(update_of_0).max())


def test_wrong_aggregate_is_provable_and_stops_the_data_owners(p3: P3World) -> None:
    # prepare: round 1 runs; the MO finalises a shifted aggregate and the matching model
    task_id = p3.post(Mode.SECURE, THRESHOLD, rounds=2)
    p3.run_round(task_id)
    true_mean = secure_mean(p3.market, task_id, 1).mean
    wrong = (true_mean + np.float32(0.05)).astype(np.float32)
    before = data_owner.load_model(p3.market, history.model_before(p3.dm, task_id, 1))
    model_hash = p3.market.store.put(weights_to_bytes(apply_update(before, wrong)))
    aggregate_hash = p3.market.store.put(weights_to_bytes(wrong))
    p3.dm.finalise_round(
        p3.mo.account,
        task_id,
        model_hash=hash_bytes(model_hash),
        aggregate_hash=hash_bytes(aggregate_hash),
    )

    # act / assert: anyone proves it from the public blobs
    with pytest.raises(IntegrityError, match="wrong aggregate"):
        check_round(p3.market, task_id, 1)
    # the DOs post round 2's keys and shares, but refuse to train on the wrong model
    p3.run_phase(task_id)
    p3.run_phase(task_id)
    assert p3.dm.task(task_id).phase is Phase.SUBMIT
    with pytest.raises(IntegrityError, match="wrong aggregate"):
        p3.run_phase(task_id)
    assert not history.posts(p3.dm, task_id, 2, "update")
    # and the public audit names the MO on the aggregate's check, nobody else
    report = audit(p3.market, task_id, None)
    assert report.cheaters == {f"model owner {p3.mo.address}": [AGGREGATE_RIGHT]}


def test_acting_twice_posts_once(p3: P3World) -> None:
    # prepare
    task_id = p3.post(Mode.SECURE, THRESHOLD)
    contribution = p3.contribution(0, {})

    # act
    first = data_owner.act(p3.market, p3.dos[0], task_id, contribution)
    second = data_owner.act(p3.market, p3.dos[0], task_id, contribution)

    # assert
    assert (first, second) == (True, False)
    assert list(history.posts(p3.dm, task_id, 1, "shares")) == [0]
