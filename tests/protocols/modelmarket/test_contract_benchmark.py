"""ModelMarket.vy, the benchmark: executors commit then reveal scores; the majority's tally.

Unless a test says otherwise a request here has three sellers, four volunteers and three
drawn executors; the honest executors score the sellers :data:`SCORES` (0.95, 0.70, 0.85:
sellers 0 and 2 win 0.03 and 0.02 ether, seller 1 loses). Every payout is checked to the
wei: each executor's, each seller's and the buyer's.
"""

from __future__ import annotations

import pytest

from mercato.protocols.modelmarket.limits import SCORE_SCALE
from mercato.protocols.modelmarket.market import score_commitment
from mercato.protocols.modelmarket.views import (
    TEST_FLAG,
    RequestStatus,
    SubmissionState,
    mask_of,
    model_flag,
)

from ..world import EMPTY, reverts
from .world import (
    BOND,
    ESCROWED,
    EXECUTOR_FEE,
    EXECUTOR_STAKE,
    PERIODS,
    REPORT_HASH,
    SELLER_STAKE,
    TOP_PRICE,
    K,
    World,
)

SCORES = [950_000, 700_000, 850_000]
SOLD = 3 * 10**16 + 2 * 10**16
"""What SCORES sell for: seller 0 at 0.95 (0.03 ether) and seller 2 at 0.85 (0.02)."""
HONEST_PAY = EXECUTOR_STAKE + EXECUTOR_FEE


def undrawn(world: World, request_id: int) -> str:
    """The address of the one volunteer (of four) that was not drawn."""
    drawn = world.state(request_id).drawn
    (index,) = [i for i in range(4) if not drawn >> i & 1]
    return world.market.volunteer_at(request_id, index)


def volunteer_index(world: World, request_id: int, address: str) -> int:
    return world.market.volunteers(request_id).index(address)


def assert_owed(world: World, expected: dict[str, int]) -> None:
    """Exactly these amounts are owed (every other account of the cast: nothing), and the
    market holds what it owes plus what its requests lock."""
    owed = world.owed_all()
    assert {a: v for a, v in owed.items() if v} == {a: v for a, v in expected.items() if v}
    world.assert_escrow_balances()


# committing ---------------------------------------------------------------------------------


def test_an_executor_commits_and_the_last_commitment_opens_the_reveals(world: World) -> None:
    # prepare
    request_id = world.committing()
    first, second, third = world.drawn(request_id)
    commitment = world.fresh(b"commitment")

    # act
    result = world.market.commit_scores(first, request_id, commitment)

    # assert
    index = volunteer_index(world, request_id, first.address)
    assert result.event("ScoresCommitted").args == {
        "request_id": request_id,
        "executor": first.address,
        "index": index,
        "commitment": commitment,
    }
    request = world.state(request_id)
    assert (request.status, request.committed) == (RequestStatus.COMMITTING, 1 << index)

    # act
    world.commit(request_id, second, SCORES)
    last = world.market.commit_scores(third, request_id, world.fresh(b"commitment"))

    # assert
    request = world.state(request_id)
    deadline = world.chain.timestamp() + PERIODS.reveal
    assert last.event("RevealStarted").args == {
        "request_id": request_id,
        "committed": request.drawn,
        "reveal_deadline": deadline,
    }
    assert (request.status, request.committed, request.deadline) == (
        RequestStatus.REVEALING,
        request.drawn,
        deadline,
    )


def test_committing_by_anyone_but_a_drawn_executor_reverts(world: World) -> None:
    # prepare
    request_id = world.committing()
    left_out = world.account_at(undrawn(world, request_id))

    for account in [left_out, world.buyer, world.sellers[0], world.stranger]:
        # act / assert
        with reverts("modelmarket: caller is not an executor"):
            world.market.commit_scores(account, request_id, world.fresh(b"commitment"))
    assert world.state(request_id).committed == 0


def test_committing_twice_reverts(world: World) -> None:
    # prepare
    request_id = world.committing()
    executor = world.drawn(request_id)[0]
    world.commit(request_id, executor, SCORES)

    # act / assert
    with reverts("modelmarket: already committed"):
        world.commit(request_id, executor, [0, 0, 0])


def test_committing_an_empty_hash_reverts(world: World) -> None:
    # prepare
    request_id = world.committing()

    # act / assert
    with reverts("modelmarket: empty hash"):
        world.market.commit_scores(world.drawn(request_id)[0], request_id, EMPTY)


def test_committing_after_the_deadline_or_once_all_committed_reverts(world: World) -> None:
    # prepare: one request past its commit deadline, one whose executors all committed
    late = world.committing()
    world.pass_deadline(late)
    done = world.committing()
    executors = world.drawn(done)
    for executor in executors:
        world.commit(done, executor, SCORES)

    for request_id, executor in [(late, world.drawn(late)[0]), (done, executors[0])]:
        # act / assert
        with reverts("modelmarket: not taking commitments"):
            world.market.commit_scores(executor, request_id, world.fresh(b"commitment"))


def test_committing_before_the_draw_reverts(world: World) -> None:
    # prepare
    request_id = world.submitting()
    world.submit(request_id, 0)
    for e in range(3):
        world.volunteer(request_id, e)
    world.close(request_id)

    # act / assert
    with reverts("modelmarket: not taking commitments"):
        world.market.commit_scores(world.executors[0], request_id, world.fresh(b"commitment"))


# revealing ----------------------------------------------------------------------------------


def test_an_executor_reveals_what_it_committed_to(world: World) -> None:
    # prepare
    request_id = world.committing()
    executors = world.drawn(request_id)
    for executor in executors:
        world.commit(request_id, executor, SCORES, model_flag(1))

    # act
    result = world.reveal(request_id, executors[1], SCORES, model_flag(1))

    # assert
    index = volunteer_index(world, request_id, executors[1].address)
    assert result.event("ScoresRevealed").args == {
        "request_id": request_id,
        "executor": executors[1].address,
        "index": index,
        "scores": SCORES,
        "flags": model_flag(1),
        "report_hash": REPORT_HASH,
    }
    assert world.state(request_id).revealed == 1 << index


def test_revealing_before_the_reveals_open_reverts(world: World) -> None:
    # prepare
    request_id = world.committing()
    executor = world.drawn(request_id)[0]
    world.commit(request_id, executor, SCORES)

    # act / assert
    with reverts("modelmarket: not taking reveals"):
        world.reveal(request_id, executor, SCORES)


def test_revealing_by_anyone_but_a_drawn_executor_reverts(world: World) -> None:
    # prepare
    request_id = world.committing()
    for executor in world.drawn(request_id):
        world.commit(request_id, executor, SCORES)
    left_out = world.account_at(undrawn(world, request_id))

    for account in [left_out, world.buyer, world.sellers[0], world.stranger]:
        # act / assert
        with reverts("modelmarket: caller is not an executor"):
            world.reveal(request_id, account, SCORES, salt=EMPTY)


def test_revealing_twice_or_without_a_commitment_reverts(world: World) -> None:
    # prepare: two executors committed, the third stayed silent
    request_id = world.committing()
    first, second, silent = world.drawn(request_id)
    world.commit(request_id, first, SCORES)
    world.commit(request_id, second, SCORES)
    world.pass_deadline(request_id)
    world.market.advance(world.stranger, request_id)
    world.reveal(request_id, first, SCORES)

    # act / assert
    with reverts("modelmarket: nothing to reveal"):
        world.reveal(request_id, first, SCORES)
    with reverts("modelmarket: nothing to reveal"):
        world.reveal(request_id, silent, SCORES, salt=EMPTY)


def test_revealing_after_the_deadline_reverts(world: World) -> None:
    # prepare
    request_id = world.committing()
    executors = world.drawn(request_id)
    for executor in executors:
        world.commit(request_id, executor, SCORES)
    world.pass_deadline(request_id)

    # act / assert
    with reverts("modelmarket: not taking reveals"):
        world.reveal(request_id, executors[0], SCORES)


def test_a_reveal_that_does_not_match_the_commitment_reverts(world: World) -> None:
    # prepare
    request_id = world.committing()
    executors = world.drawn(request_id)
    for executor in executors:
        world.commit(request_id, executor, SCORES)
    executor = executors[0]
    salt = world.salts[request_id, executor.address]
    wrong = [
        ([950_000, 700_000, 850_001], 0, REPORT_HASH, salt),
        (SCORES, model_flag(0), REPORT_HASH, salt),
        (SCORES, 0, world.fresh(b"report"), salt),
        (SCORES, 0, REPORT_HASH, world.fresh(b"salt")),
        (SCORES, 0, REPORT_HASH, world.salts[request_id, executors[1].address]),
    ]

    for scores, flags, report, salt_used in wrong:
        # act / assert
        with reverts("modelmarket: reveal does not match the commitment"):
            world.market.reveal_scores(executor, request_id, scores, flags, report, salt_used)
    assert world.state(request_id).revealed == 0


@pytest.mark.parametrize("scores", [[950_000, 700_000], [950_000, 700_000, 850_000, 1], []])
def test_revealing_the_wrong_number_of_scores_reverts(world: World, scores: list[int]) -> None:
    # prepare: the executor committed to exactly that vector
    request_id = world.committing()
    executors = world.drawn(request_id)
    for executor in executors:
        world.commit(request_id, executor, scores)

    # act / assert
    with reverts("modelmarket: one score per submission"):
        world.reveal(request_id, executors[0], scores)


def test_revealing_a_score_above_one_million_reverts(world: World) -> None:
    # prepare: the executor committed to exactly that vector
    request_id = world.committing()
    executors = world.drawn(request_id)
    too_high = [SCORE_SCALE, SCORE_SCALE + 1, 0]
    for executor in executors:
        world.commit(request_id, executor, too_high)

    # act / assert
    with reverts("modelmarket: a score exceeds 1,000,000"):
        world.reveal(request_id, executors[0], too_high)


def test_revealing_a_flag_that_names_no_submission_reverts(world: World) -> None:
    # prepare: three submissions, so flag bits 0 (test set) to 3 (seller 2) exist
    request_id = world.committing()
    executors = world.drawn(request_id)
    flags = [model_flag(3), 1 << 200, TEST_FLAG | model_flag(3)]
    for executor, flag in zip(executors, flags, strict=True):
        world.commit(request_id, executor, SCORES, flag)

    for executor, flag in zip(executors, flags, strict=True):
        # act / assert
        with reverts("modelmarket: a flag names no submission"):
            world.reveal(request_id, executor, SCORES, flag)


def test_every_flag_that_names_a_submission_is_revealed(world: World) -> None:
    # prepare
    request_id = world.committing()
    executor = world.drawn(request_id)[0]
    flags = TEST_FLAG | model_flag(0) | model_flag(1) | model_flag(2)
    world.benchmark(request_id, [(SCORES, flags), None, None])

    # act / assert: the reveal went through
    assert world.state(request_id).revealed == 1 << volunteer_index(
        world, request_id, executor.address
    )


# tallying: honest and dishonest executors ---------------------------------------------------


def test_a_made_up_score_is_outvoted_and_its_stake_goes_to_the_two_that_agree(
    world: World,
) -> None:
    # prepare: the third executor claims seller 1 is the best
    request_id = world.committing()
    honest_a, honest_b, liar = world.drawn(request_id)
    world.benchmark(request_id, [(SCORES, 0), (SCORES, 0), ([10**5, 999_999, 0], 0)])

    # act
    result = world.market.tally(world.stranger, request_id, SCORES, 0)

    # assert
    agreed = mask_of(volunteer_index(world, request_id, e.address) for e in (honest_a, honest_b))
    pay = HONEST_PAY + EXECUTOR_STAKE // 2
    refund = EXECUTOR_FEE + K * TOP_PRICE - SOLD + BOND
    key_deadline = world.chain.timestamp() + PERIODS.key
    assert result.event("Tallied").args == {
        "request_id": request_id,
        "caller": world.stranger.address,
        "agreed": agreed,
        "scores": SCORES,
        "flags": 0,
        "winners": 0b101,
        "prices": [3 * 10**16, 0, 2 * 10**16],
        "executor_pay": pay,
        "slashed": EXECUTOR_STAKE,
        "refund": refund,
        "key_deadline": key_deadline,
    }
    assert_owed(
        world,
        {
            honest_a.address: pay,
            honest_b.address: pay,
            undrawn(world, request_id): EXECUTOR_STAKE,
            world.sellers[1].address: SELLER_STAKE,
            world.buyer.address: refund,
        },
    )
    request = world.state(request_id)
    assert (request.status, request.unsettled, request.deadline) == (
        RequestStatus.SWAPPING,
        0b101,
        key_deadline,
    )
    assert request.locked == SOLD + 2 * SELLER_STAKE
    assert [world.submission(request_id, i).score for i in range(3)] == SCORES
    assert world.owed(liar) == 0


def test_a_copied_commitment_cannot_be_revealed_and_the_copier_is_slashed(world: World) -> None:
    # prepare: the third executor commits to the first one's commitment, read from its event
    request_id = world.committing()
    first, second, copier = world.drawn(request_id)
    salt = world.commit(request_id, first, SCORES)
    world.commit(request_id, second, SCORES)
    copied = score_commitment(request_id, first.address, SCORES, 0, REPORT_HASH, salt)
    world.market.commit_scores(copier, request_id, copied)
    world.reveal(request_id, first, SCORES)
    world.reveal(request_id, second, SCORES)

    # act / assert: it reveals exactly what the first revealed, salt and all
    with reverts("modelmarket: reveal does not match the commitment"):
        world.market.reveal_scores(copier, request_id, SCORES, 0, REPORT_HASH, salt)
    with reverts("modelmarket: executors may still reveal"):
        world.market.tally(world.stranger, request_id, SCORES, 0)

    # act: after the reveal deadline, the tally
    world.pass_deadline(request_id)
    result = world.market.tally(world.stranger, request_id, SCORES, 0)

    # assert: the copier counts as silent and loses its stake to the two others
    pay = HONEST_PAY + EXECUTOR_STAKE // 2
    assert result.event("Tallied")["slashed"] == EXECUTOR_STAKE
    assert world.owed(first) == world.owed(second) == pay
    assert world.owed(copier) == 0
    assert world.owed(world.buyer) == EXECUTOR_FEE + K * TOP_PRICE - SOLD + BOND


def test_a_silent_executor_is_slashed(world: World) -> None:
    # prepare: the third executor never commits; the commit deadline passes
    request_id = world.committing()
    first, second, silent = world.drawn(request_id)
    world.benchmark(request_id, [(SCORES, 0), (SCORES, 0), None])

    # act: everyone who committed revealed, so the tally need not wait
    world.market.tally(world.stranger, request_id, SCORES, 0)

    # assert
    pay = HONEST_PAY + EXECUTOR_STAKE // 2
    assert_owed(
        world,
        {
            first.address: pay,
            second.address: pay,
            undrawn(world, request_id): EXECUTOR_STAKE,
            world.sellers[1].address: SELLER_STAKE,
            world.buyer.address: EXECUTOR_FEE + K * TOP_PRICE - SOLD + BOND,
        },
    )
    assert world.owed(silent) == 0


def test_slashed_stakes_that_do_not_divide_leave_the_dust_to_the_buyer(world: World) -> None:
    # prepare: an odd executor stake; one executor dissents, two agree
    stake = 10**15 + 1
    request_id = world.committing(executor_stake=stake)
    world.benchmark(request_id, [(SCORES, 0), (SCORES, 0), ([1, 2, 3], 0)])

    # act
    result = world.market.tally(world.stranger, request_id, SCORES, 0)

    # assert: stake // 2 each, stake % 2 (1 wei) to the buyer
    assert result.event("Tallied")["executor_pay"] == stake + EXECUTOR_FEE + stake // 2
    assert result.event("Tallied")["refund"] == EXECUTOR_FEE + 1 + K * TOP_PRICE - SOLD + BOND
    world.assert_escrow_balances()


# tallying: failures -------------------------------------------------------------------------


def test_three_different_vectors_fail_the_request_with_exact_refunds(world: World) -> None:
    # prepare
    request_id = world.committing()
    executors = world.drawn(request_id)
    world.benchmark(request_id, [(SCORES, 0), ([1, 2, 3], 0), (SCORES, TEST_FLAG)])

    # act: no majority, so the arguments do not matter
    result = world.market.tally(world.stranger, request_id, [7], 5)

    # assert
    refund = ESCROWED
    assert result.event("RequestEnded").args == {
        "request_id": request_id,
        "status": int(RequestStatus.FAILED),
        "refund": refund,
        "caller": world.stranger.address,
    }
    request = world.state(request_id)
    assert (request.status, request.locked) == (RequestStatus.FAILED, 0)
    assert all(s.state is SubmissionState.RETURNED for s in world.market.submissions(request_id))
    assert_owed(
        world,
        {
            **{e.address: EXECUTOR_STAKE for e in executors},
            undrawn(world, request_id): EXECUTOR_STAKE,
            **{s.address: SELLER_STAKE for s in world.sellers[:3]},
            world.buyer.address: refund,
        },
    )


def test_without_a_majority_the_revealers_share_the_silent_ones_stake(world: World) -> None:
    # prepare: two disagree, one is silent
    request_id = world.committing()
    first, second, silent = world.drawn(request_id)
    world.benchmark(request_id, [(SCORES, 0), ([1, 2, 3], 0), None])

    # act
    world.market.tally(world.stranger, request_id, SCORES, 0)

    # assert
    assert world.state(request_id).status is RequestStatus.FAILED
    assert_owed(
        world,
        {
            first.address: EXECUTOR_STAKE + EXECUTOR_STAKE // 2,
            second.address: EXECUTOR_STAKE + EXECUTOR_STAKE // 2,
            undrawn(world, request_id): EXECUTOR_STAKE,
            **{s.address: SELLER_STAKE for s in world.sellers[:3]},
            world.buyer.address: ESCROWED,
        },
    )
    assert world.owed(silent) == 0


def test_nobody_committing_fails_the_request_after_the_commit_deadline(world: World) -> None:
    # prepare
    request_id = world.committing()
    with reverts("modelmarket: commit deadline not reached"):
        world.market.advance(world.stranger, request_id)
    world.pass_deadline(request_id)

    # act
    result = world.market.advance(world.stranger, request_id)

    # assert: the silent executors' stakes go to the buyer
    refund = ESCROWED + 3 * EXECUTOR_STAKE
    assert result.event("RequestEnded")["status"] == RequestStatus.FAILED
    assert result.event("RequestEnded")["refund"] == refund
    assert world.state(request_id).locked == 0
    assert_owed(
        world,
        {
            undrawn(world, request_id): EXECUTOR_STAKE,
            **{s.address: SELLER_STAKE for s in world.sellers[:3]},
            world.buyer.address: refund,
        },
    )


def test_nobody_revealing_fails_the_request_after_the_reveal_deadline(world: World) -> None:
    # prepare
    request_id = world.committing()
    for executor in world.drawn(request_id):
        world.commit(request_id, executor, SCORES)
    with reverts("modelmarket: executors may still reveal"):
        world.market.tally(world.stranger, request_id, SCORES, 0)
    world.pass_deadline(request_id)

    # act
    world.market.tally(world.stranger, request_id, SCORES, 0)

    # assert
    assert world.state(request_id).status is RequestStatus.FAILED
    assert world.owed(world.buyer) == ESCROWED + 3 * EXECUTOR_STAKE
    world.assert_escrow_balances()


def test_a_tally_with_a_vector_other_than_the_majoritys_reverts(world: World) -> None:
    # prepare
    request_id = world.committing()
    world.benchmark(request_id, [(SCORES, 0), (SCORES, 0), ([1, 2, 3], 0)])

    for scores, flags in [([1, 2, 3], 0), (SCORES, model_flag(0)), (SCORES[:2], 0), ([], 0)]:
        # act / assert
        with reverts("modelmarket: not the majority's scores"):
            world.market.tally(world.stranger, request_id, scores, flags)
    assert world.state(request_id).status is RequestStatus.REVEALING


def test_a_tally_outside_the_reveal_phase_reverts(world: World) -> None:
    # prepare: one request still committing, one tallied already
    committing = world.committing()
    tallied = world.committing()
    world.tallied(tallied, SCORES)

    for request_id in [committing, tallied]:
        # act / assert
        with reverts("modelmarket: not waiting for a tally"):
            world.market.tally(world.stranger, request_id, SCORES, 0)


def test_advance_has_nothing_to_do_while_revealing(world: World) -> None:
    # prepare
    request_id = world.committing()
    for executor in world.drawn(request_id):
        world.commit(request_id, executor, SCORES)

    # act / assert
    with reverts("modelmarket: nothing to advance"):
        world.market.advance(world.stranger, request_id)


# tallying: flags ----------------------------------------------------------------------------


def test_a_majority_test_flag_rejects_the_test_set_and_the_sellers_share_the_bond(
    world: World,
) -> None:
    # prepare: three live sellers (a fourth was rejected), one executor dissents
    request_id = world.submitting()
    for s in range(4):
        world.submit(request_id, s)
    world.market.reject_delivery(world.buyer, request_id, 3, world.fresh(b"reason"))
    for e in range(4):
        world.volunteer(request_id, e)
    world.close(request_id)
    world.draw_executors(request_id)
    scores = [0, 0, 0, 0]
    first, second, third = world.drawn(request_id)
    world.benchmark(request_id, [(scores, TEST_FLAG), ([1, 1, 1, 1], 0), (scores, TEST_FLAG)])

    # act
    result = world.market.tally(world.stranger, request_id, scores, TEST_FLAG)

    # assert: a third of the bond each (it does not divide: 1 wei stays with the buyer)
    share = BOND // 3
    pay = HONEST_PAY + EXECUTOR_STAKE // 2
    refund = EXECUTOR_FEE + K * TOP_PRICE + BOND - 3 * share
    assert BOND - 3 * share == 1
    assert result.event("Tallied")["refund"] == refund
    assert result.event("Tallied")["winners"] == 0
    assert result.event("RequestEnded")["status"] == RequestStatus.TEST_REJECTED
    request = world.state(request_id)
    assert (request.status, request.locked) == (RequestStatus.TEST_REJECTED, 0)
    states = [s.state for s in world.market.submissions(request_id)]
    assert states == [SubmissionState.RETURNED] * 3 + [SubmissionState.REJECTED]
    assert_owed(
        world,
        {
            first.address: pay,
            third.address: pay,
            undrawn(world, request_id): EXECUTOR_STAKE,
            **{s.address: SELLER_STAKE + share for s in world.sellers[:3]},
            world.sellers[3].address: SELLER_STAKE,
            world.buyer.address: refund,
        },
    )
    assert world.owed(second) == 0


def test_a_majority_model_flag_throws_the_seller_out_and_its_stake_goes_to_the_buyer(
    world: World,
) -> None:
    # prepare: seller 1 scores best but its model does not match its plaintext root
    request_id = world.committing()
    scores = [950_000, 990_000, 850_000]
    world.tallied(request_id, scores, model_flag(1))

    # assert
    states = [s.state for s in world.market.submissions(request_id)]
    assert states == [SubmissionState.WON, SubmissionState.FLAGGED, SubmissionState.WON]
    assert world.submission(request_id, 1).price == 0
    assert world.state(request_id).unsettled == 0b101
    assert_owed(
        world,
        {
            **{e.address: HONEST_PAY for e in world.drawn(request_id)},
            undrawn(world, request_id): EXECUTOR_STAKE,
            world.buyer.address: K * TOP_PRICE - SOLD + BOND + SELLER_STAKE,
        },
    )


# winners and prices -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scores", "winners"),
    [
        ([850_000, 900_000, 950_000, 600_000], 0b0110),  # the best two
        ([700_000, 850_000, 850_000, 850_000], 0b0110),  # ties: the earlier submissions
        ([900_000, 900_000, 900_000, 900_000], 0b0011),
        ([499_999, 500_000, 0, 499_999], 0b0010),  # below the minimum: never bought
        ([499_999, 100, 0, 0], 0),
    ],
)
def test_the_winners_are_the_best_k_at_or_above_the_minimum(
    world: World, scores: list[int], winners: int
) -> None:
    # prepare
    request_id = world.committing(sellers=4)

    # act
    result = world.tallied(request_id, scores)

    # assert
    assert result.event("Tallied")["winners"] == winners
    for i, submission in enumerate(world.market.submissions(request_id)):
        won = winners >> i & 1
        assert submission.state is (SubmissionState.WON if won else SubmissionState.LOST)
        assert submission.price == (world.market.price_for(request_id, scores[i]) if won else 0)
        assert submission.score == scores[i]
        assert world.owed(world.sellers[i]) == (0 if won else SELLER_STAKE)
    world.assert_escrow_balances()


def test_no_winner_closes_the_request_with_everything_refunded(world: World) -> None:
    # prepare
    request_id = world.committing()

    # act
    result = world.tallied(request_id, [0, 499_999, 10])

    # assert
    assert result.event("RequestEnded")["status"] == RequestStatus.CLOSED
    request = world.state(request_id)
    assert (request.status, request.locked, request.unsettled) == (RequestStatus.CLOSED, 0, 0)
    assert world.owed(world.buyer) == K * TOP_PRICE + BOND
    assert [world.owed(s) for s in world.sellers[:3]] == [SELLER_STAKE] * 3


def test_prices_follow_the_schedule_as_a_step_function(world: World) -> None:
    # prepare: four models bought, scored at the schedule's boundaries
    scores = [500_000, 799_999, 800_000, 900_000]
    request_id = world.committing(sellers=4, k=4)

    # act
    result = world.tallied(request_id, scores)

    # assert
    prices = [10**16, 10**16, 2 * 10**16, 3 * 10**16]
    assert result.event("Tallied")["prices"] == prices
    assert [s.price for s in world.market.submissions(request_id)] == prices
    assert world.owed(world.buyer) == 4 * TOP_PRICE - sum(prices) + BOND


def test_price_for_at_the_schedules_boundaries(world: World) -> None:
    # prepare
    request_id = world.posted()
    boundaries = {
        0: 0,
        499_999: 0,
        500_000: 10**16,
        799_999: 10**16,
        800_000: 2 * 10**16,
        899_999: 2 * 10**16,
        900_000: 3 * 10**16,
        SCORE_SCALE: 3 * 10**16,
        2**256 - 1: 3 * 10**16,
    }

    # act
    prices = {score: world.market.price_for(request_id, score) for score in boundaries}

    # assert
    assert prices == boundaries
