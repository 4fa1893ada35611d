"""ModelMarket.vy, the public sample: drawn from a later block's hash, revealed with proofs.

The sample is ``distinct_indices(keccak(blockhash(target) || uint256(id) || b"sample"),
groups, sample)`` with the posting block as target: neither the buyer nor anyone else can
choose it, by calling the draw from another account or at another moment (within the
256 blocks whose hashes the EVM keeps; a later draw re-targets).
"""

from __future__ import annotations

from typing import Any

import pytest
from eth_account.signers.local import LocalAccount

from mercato.protocols.draws import BLOCKHASH_WINDOW, distinct_indices
from mercato.protocols.modelmarket.market import ADVANCE_GAS_LIMIT
from mercato.protocols.modelmarket.views import RequestStatus

from ..world import EMPTY, reverts
from .world import (
    ESCROWED,
    EXECUTOR_STAKE,
    PERIODS,
    SAMPLE,
    SAMPLE_BLOB,
    World,
    draw_seed,
    new_test_set,
)

# drawing ------------------------------------------------------------------------------------


def test_the_sample_cannot_be_drawn_in_the_posting_block(world: World) -> None:
    # prepare: a client contract that posts and draws in one transaction
    client = world.deploy_atomic_draw()

    # act / assert
    with reverts("modelmarket: draw must wait for a later block"):
        client.transact("post_and_draw", new_test_set().root, sender=world.deployer, value=1)
    assert world.market.count() == 0


def test_a_request_posted_by_a_contract_is_drawn_in_the_next_block(world: World) -> None:
    # prepare
    client = world.deploy_atomic_draw()
    client.transact("post", new_test_set().root, sender=world.deployer, value=1)
    target = world.chain.block_number()

    # act
    world.market.advance(world.stranger, 1)

    # assert
    request = world.state(1)
    assert request.buyer == client.address
    assert request.sample_seed == draw_seed(world.chain, target, 1, b"sample")


def test_the_sample_is_drawn_from_the_posting_blocks_hash(world: World) -> None:
    # prepare
    request_id = world.posted()
    target = world.chain.block_number()
    deadline = world.state(request_id).deadline

    # act
    result = world.draw_sample(request_id)

    # assert
    seed = draw_seed(world.chain, target, request_id, b"sample")
    expected = distinct_indices(seed, 64, SAMPLE)
    assert result.event("SampleDrawn").args == {
        "request_id": request_id,
        "caller": world.stranger.address,
        "target_block": target,
        "block_hash": world.chain.block_hash(target),
        "indices": expected,
    }
    assert world.chain.block_hash(target) != EMPTY
    request = world.state(request_id)
    assert (request.sample_seed, request.target_block) == (seed, target)
    assert (request.status, request.deadline) == (RequestStatus.SAMPLING, deadline)
    assert world.sample_indices(request_id) == expected
    assert len(set(expected)) == SAMPLE


@pytest.mark.parametrize(("caller", "blocks"), [("buyer", 0), ("seller", 9), ("stranger", 255)])
def test_neither_the_caller_nor_the_moment_change_the_sample(
    world: World, caller: str, blocks: int
) -> None:
    # prepare
    account: LocalAccount = {
        "buyer": world.buyer,
        "seller": world.sellers[0],
        "stranger": world.stranger,
    }[caller]
    request_id = world.posted()
    target = world.chain.block_number()
    if blocks:
        world.mine(blocks)

    # act: the draw runs in block target + blocks + 1, at most 256 blocks after the target
    result = world.market.advance(account, request_id)

    # assert: the posting block's hash, whoever draws and whenever
    assert result.receipt.block_number == target + blocks + 1
    assert result.event("SampleDrawn")["target_block"] == target
    assert world.sample_indices(request_id) == world.expected_sample(request_id, target)
    assert world.state(request_id).sample_seed == draw_seed(
        world.chain, target, request_id, b"sample"
    )


def test_two_histories_draw_the_same_sample(world: World) -> None:
    # prepare
    request_id = world.posted()
    target = world.chain.block_number()
    drawn = []

    # act: in one history the buyer draws at once; in another a seller, 40 blocks later
    with world.alternative():
        world.market.advance(world.buyer, request_id)
        drawn.append(world.sample_indices(request_id))
    world.mine(40)
    world.market.advance(world.sellers[1], request_id)
    drawn.append(world.sample_indices(request_id))

    # assert
    assert drawn[0] == drawn[1] == world.expected_sample(request_id, target)


def test_the_sample_of_a_small_test_set_is_distinct_groups(world: World) -> None:
    # prepare: 8 of 32 groups, where repeats are likely and move to the next free group
    for _ in range(4):
        request_id = world.posted(groups=32, sample=8)
        target = world.chain.block_number()

        # act
        world.draw_sample(request_id)

        # assert
        indices = world.sample_indices(request_id)
        assert indices == world.expected_sample(request_id, target)
        assert sorted(set(indices)) == sorted(indices)
        assert all(0 <= i < 32 for i in indices)


def test_a_draw_more_than_256_blocks_late_retargets(world: World) -> None:
    # prepare
    request_id = world.posted()
    posted = world.chain.block_number()
    world.mine(BLOCKHASH_WINDOW)

    # act: the draw would run 257 blocks after the target, whose hash the EVM forgot
    result = world.market.advance(world.stranger, request_id)

    # assert
    moved = result.receipt.block_number
    assert moved == posted + BLOCKHASH_WINDOW + 1
    assert result.event("Retargeted").args == {
        "request_id": request_id,
        "status": int(RequestStatus.SAMPLING),
        "target_block": moved,
    }
    assert not [e for e in result.events if e.name == "SampleDrawn"]
    request = world.state(request_id)
    assert (request.target_block, request.sample_seed) == (moved, EMPTY)
    assert request.status is RequestStatus.SAMPLING

    # act: the next block draws from the new target
    drawn = world.market.advance(world.stranger, request_id)

    # assert
    assert drawn.event("SampleDrawn")["target_block"] == moved
    assert world.sample_indices(request_id) == world.expected_sample(request_id, moved)


def test_a_retargeted_draw_also_waits_for_a_later_block(world: World) -> None:
    # prepare: a client contract posts; 258 blocks later it advances twice in one block
    # (one block more than needed: the rpc backend finds the reason of a mined revert by
    # replaying it on the block before, whose number would still let the first advance draw)
    client = world.deploy_atomic_draw()
    client.transact("post", new_test_set().root, sender=world.deployer, value=1)
    world.mine(BLOCKHASH_WINDOW + 1)

    # act / assert: the first advance re-targets to this block, the second may not draw
    # (gas given: a node would estimate on the latest block, one block too early)
    with reverts("modelmarket: draw must wait for a later block"):
        client.transact("advance_twice", 1, sender=world.deployer, gas=2 * ADVANCE_GAS_LIMIT)
    assert world.state(1).sample_seed == EMPTY


def test_a_drawn_sample_is_not_drawn_again(world: World) -> None:
    # prepare
    request_id = world.posted()
    world.draw_sample(request_id)
    seed = world.state(request_id).sample_seed

    # act / assert
    with reverts("modelmarket: the sample waits for the buyer"):
        world.draw_sample(request_id)
    assert world.state(request_id).sample_seed == seed


# revealing ----------------------------------------------------------------------------------


def test_the_buyer_reveals_the_drawn_groups_and_submissions_open(world: World) -> None:
    # prepare
    request_id = world.posted()
    world.draw_sample(request_id)
    indices = world.sample_indices(request_id)
    test_set = world.test_sets[request_id]

    # act
    result = world.reveal_sample(request_id)

    # assert
    deadline = world.chain.timestamp() + PERIODS.submit
    assert result.event("SampleRevealed").args == {
        "request_id": request_id,
        "buyer": world.buyer.address,
        "indices": indices,
        "group_hashes": [test_set.group_hash(i) for i in indices],
        "blob_hash": SAMPLE_BLOB,
        "submit_deadline": deadline,
    }
    request = world.state(request_id)
    assert (request.status, request.deadline) == (RequestStatus.SUBMITTING, deadline)
    assert request.locked == ESCROWED


def test_only_the_buyer_reveals_the_sample(world: World) -> None:
    # prepare
    request_id = world.posted()
    world.draw_sample(request_id)

    for sender in [world.sellers[0], world.executors[0], world.stranger]:
        # act / assert
        with reverts("modelmarket: only the buyer reveals the sample"):
            world.reveal_sample(request_id, sender=sender)
    assert world.state(request_id).status is RequestStatus.SAMPLING


def test_the_sample_cannot_be_revealed_before_it_is_drawn(world: World) -> None:
    # prepare
    request_id = world.posted()
    test_set = world.test_sets[request_id]
    indices = list(range(SAMPLE))

    # act / assert
    with reverts("modelmarket: the sample is not drawn yet"):
        world.reveal_sample(
            request_id,
            hashes=[test_set.group_hash(i) for i in indices],
            proofs=[test_set.tree.proof(i) for i in indices],
        )


def test_revealing_a_wrong_group_hash_reverts(world: World) -> None:
    # prepare
    request_id = world.posted()
    world.draw_sample(request_id)
    indices = world.sample_indices(request_id)
    test_set = world.test_sets[request_id]

    for position in [0, SAMPLE - 1]:
        hashes = [test_set.group_hash(i) for i in indices]
        hashes[position] = world.fresh(b"group")

        # act / assert
        with reverts("modelmarket: a group is not in the test set"):
            world.reveal_sample(request_id, hashes=hashes)


def test_revealing_a_wrong_proof_reverts(world: World) -> None:
    # prepare
    request_id = world.posted()
    world.draw_sample(request_id)
    indices = world.sample_indices(request_id)
    test_set = world.test_sets[request_id]
    other = next(i for i in range(64) if i not in indices)
    wrong = [
        test_set.tree.proof(other),  # another group's proof
        test_set.tree.proof(indices[0])[:-1],  # one sibling short
        [world.fresh(b"sibling"), *test_set.tree.proof(indices[0])[1:]],
    ]

    for proof in wrong:
        proofs = [test_set.tree.proof(i) for i in indices]
        proofs[0] = proof

        # act / assert
        with reverts("modelmarket: a group is not in the test set"):
            world.reveal_sample(request_id, proofs=proofs)


def test_revealing_groups_other_than_the_drawn_ones_reverts(world: World) -> None:
    # prepare: the buyer would like to show groups of its choosing, with valid proofs
    request_id = world.posted()
    world.draw_sample(request_id)
    drawn = world.sample_indices(request_id)
    chosen = [i for i in range(64) if i not in drawn][:SAMPLE]

    for indices in [chosen, list(reversed(drawn))]:
        # act / assert: other groups, or the drawn ones out of draw order
        with reverts("modelmarket: a group is not in the test set"):
            world.reveal_sample(request_id, indices=indices)


def test_revealing_the_wrong_number_of_groups_reverts(world: World) -> None:
    # prepare
    request_id = world.posted()
    world.draw_sample(request_id)
    indices = world.sample_indices(request_id)
    test_set = world.test_sets[request_id]
    hashes = [test_set.group_hash(i) for i in indices]
    proofs = [test_set.tree.proof(i) for i in indices]

    wrong: list[dict[str, Any]] = [
        {"hashes": hashes[:-1], "proofs": proofs[:-1]},
        {"hashes": [*hashes, hashes[0]], "proofs": [*proofs, proofs[0]]},
        {"hashes": hashes[:-1]},
        {"proofs": proofs[:-1]},
        {"hashes": [], "proofs": []},
    ]
    for overrides in wrong:
        # act / assert
        with reverts("modelmarket: one hash and proof per drawn group"):
            world.reveal_sample(request_id, **overrides)


def test_revealing_with_an_empty_blob_hash_reverts(world: World) -> None:
    # prepare
    request_id = world.posted()
    world.draw_sample(request_id)

    # act / assert
    with reverts("modelmarket: empty hash"):
        world.reveal_sample(request_id, blob=EMPTY)


def test_revealing_after_the_sample_deadline_reverts(world: World) -> None:
    # prepare
    request_id = world.posted()
    world.draw_sample(request_id)
    world.pass_deadline(request_id)

    # act / assert
    with reverts("modelmarket: no sample to reveal"):
        world.reveal_sample(request_id)


def test_revealing_twice_reverts(world: World) -> None:
    # prepare
    request_id = world.submitting()

    # act / assert
    with reverts("modelmarket: no sample to reveal"):
        world.reveal_sample(request_id)


# no reveal: cancelled -----------------------------------------------------------------------


def test_advance_before_the_sample_deadline_waits_for_the_buyer(world: World) -> None:
    # prepare
    request_id = world.posted()
    world.draw_sample(request_id)
    world.pass_deadline(request_id, extra=-10)

    # act / assert
    with reverts("modelmarket: the sample waits for the buyer"):
        world.market.advance(world.stranger, request_id)
    assert world.state(request_id).status is RequestStatus.SAMPLING


@pytest.mark.parametrize("drawn", [True, False])
def test_no_reveal_by_the_deadline_cancels_and_refunds_exactly(world: World, drawn: bool) -> None:
    # prepare: two compute providers volunteered while the sample was pending
    request_id = world.posted()
    world.volunteer(request_id, 0)
    world.volunteer(request_id, 3)
    if drawn:
        world.draw_sample(request_id)
    assert world.balance() == ESCROWED + 2 * EXECUTOR_STAKE
    world.pass_deadline(request_id)

    # act
    result = world.market.advance(world.stranger, request_id)

    # assert
    assert result.event("RequestEnded").args == {
        "request_id": request_id,
        "status": int(RequestStatus.CANCELLED),
        "refund": ESCROWED,
        "caller": world.stranger.address,
    }
    request = world.state(request_id)
    assert (request.status, request.locked) == (RequestStatus.CANCELLED, 0)
    owed = world.owed_all()
    assert owed[world.buyer.address] == ESCROWED
    assert owed[world.executors[0].address] == EXECUTOR_STAKE
    assert owed[world.executors[3].address] == EXECUTOR_STAKE
    assert sum(owed.values()) == world.balance()


def test_a_cancelled_request_takes_nothing_more(world: World) -> None:
    # prepare
    request_id = world.posted()
    world.draw_sample(request_id)
    world.pass_deadline(request_id)
    world.market.advance(world.stranger, request_id)

    # act / assert
    with reverts("modelmarket: nothing to advance"):
        world.market.advance(world.stranger, request_id)
    with reverts("modelmarket: no sample to reveal"):
        world.reveal_sample(request_id)
    with reverts("modelmarket: not taking executors"):
        world.volunteer(request_id, 0)
    with reverts("modelmarket: not taking submissions"):
        world.submit(request_id, 0)
    assert world.state(request_id).status is RequestStatus.CANCELLED
