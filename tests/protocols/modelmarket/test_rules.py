"""P4's rules without a chain: each ``*_problem`` judges a request's view and plain values as
ModelMarket.vy's asserts would, so a step the contract refuses is refused before it is sent."""

from __future__ import annotations

from dataclasses import replace

import pytest

from mercato.errors import InputError
from mercato.protocols.modelmarket import rules
from mercato.protocols.modelmarket.limits import MAX_AMOUNT, MAX_SELLERS, MAX_VOLUNTEERS
from mercato.protocols.modelmarket.views import (
    Request,
    RequestStatus,
    Submission,
    SubmissionState,
    mask_of,
)

BUYER = "0x" + "b1" * 20
SELLER = "0x" + "5e" * 20
OTHER = "0x" + "07" * 20
DEADLINE = 1_000_000
BEFORE, AFTER = DEADLINE - 1, DEADLINE
MILLI = 10**15

SAMPLING = Request(
    request_id=1, buyer=BUYER, test_root=b"\x01" * 32, k=2, executors=3, groups=64, sample=4,
    seller_stake=MILLI, executor_stake=2 * MILLI, executor_fee=MILLI // 10, bond=MILLI,
    top_price=30 * MILLI, min_score=500_000, sample_period=60, submit_period=60,
    commit_period=60, reveal_period=60, key_period=60, complaint_period=60,
    status=RequestStatus.SAMPLING, deadline=DEADLINE, target_block=10, sellers=0,
    volunteers=0, drawn=0, committed=0, revealed=0, unsettled=0, locked=61 * MILLI,
    sample_seed=bytes(32),
)  # fmt: skip
DRAWN = replace(SAMPLING, sample_seed=b"\x02" * 32)
SUBMITTING = replace(DRAWN, status=RequestStatus.SUBMITTING, sellers=2, volunteers=4)
DRAWING = replace(SUBMITTING, status=RequestStatus.DRAWING, target_block=20)
COMMITTING = replace(SUBMITTING, status=RequestStatus.COMMITTING, drawn=mask_of([0, 1, 3]))
REVEALING = replace(COMMITTING, status=RequestStatus.REVEALING, committed=mask_of([0, 1]))
SWAPPING = replace(REVEALING, status=RequestStatus.SWAPPING, revealed=mask_of([0, 1]))


def submission(state: SubmissionState, index: int = 0, deadline: int = 0) -> Submission:
    return Submission(
        request_id=1, index=index, seller=SELLER, plain_root=b"\x03" * 32,
        cipher_root=b"\x04" * 32, key_hash=b"\x05" * 32, size=4096, state=state,
        score=910_000, price=30 * MILLI, deadline=deadline,
    )  # fmt: skip


# posting -----------------------------------------------------------------------------------
def test_a_schedule_is_read_as_scores_in_ppm_and_prices_in_wei() -> None:
    assert rules.schedule_of("0.7:0.01, 0.9:30gwei,") == ((700_000, 10**16), (900_000, 3 * 10**10))
    assert rules.schedule_of("0.1234567:1wei") == ((123_457, 1),)
    assert rules.schedule_problem("0:0.01,1:0.02") is None
    with pytest.raises(InputError, match=r"'0\.7' is not SCORE:PRICE"):
        rules.schedule_of("0.7")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "--schedule needs 1 to 8 SCORE:PRICE points, got 0"),
        (",".join(f"0.{i}:1" for i in range(1, 10)), "--schedule needs 1 to 8"),
        ("0.7:0.02,0.7:0.03", "--schedule scores must increase"),
        ("0.8:0.02,0.7:0.03", "--schedule scores must increase"),
        ("0.7:0.03,0.8:0.02", "--schedule prices must not fall"),
        ("0.7:0", "--schedule prices must be above 0"),
        (f"0.7:{MAX_AMOUNT + 1}wei", "is more than 2^128 wei"),
        ("1.01:0.01", "--schedule score 1.01 is not between 0 and 1"),
        ("-0.1:0.01", "--schedule score -0.1 is not between 0 and 1"),
        ("nan:0.01", "is not between 0 and 1"),
        ("x:0.01", "--schedule score 'x' is not a number"),
        ("0.7:x", "'x' is not an amount"),
    ],
)
def test_a_schedule_the_contract_refuses_is_refused(text: str, problem: str) -> None:
    assert problem in str(rules.schedule_problem(text))


def test_equal_prices_at_rising_scores_are_a_schedule() -> None:
    assert rules.schedule_problem("0.7:0.01,0.8:0.01") is None
    assert rules.schedule_problem(f"0.7:{MAX_AMOUNT}wei") is None


def test_the_test_rows_come_from_one_place() -> None:
    assert rules.source_problem("digits", None, None, None) is None
    assert rules.source_problem(None, "rows.csv", "y", None) is None
    assert "no test rows" in str(rules.source_problem(None, None, None, None))
    assert "not both" in str(rules.source_problem("digits", "rows.csv", "y", None))
    assert "pass it with --data" in str(rules.source_problem("digits", None, None, "s.json"))


def test_the_terms_are_checked_against_the_contracts_limits() -> None:
    assert rules.groups_problem(32) is None and rules.groups_problem(2**32) is None
    assert rules.groups_problem(31) == "--groups must be 32 to 4294967296, got 31"
    assert rules.sample_problem(8, 32) is None
    assert rules.sample_problem(9, 64) == "--sample must be 1 to 8, got 9"
    assert rules.sample_problem(0, 64) == "--sample must be 1 to 8, got 0"
    assert rules.amount_problem(MAX_AMOUNT, "--bond") is None
    assert "--bond" in str(rules.amount_problem(MAX_AMOUNT + 1, "--bond"))
    assert rules.rows_problem(64, 10, 64, "rows") is None
    assert "63 rows, too few for 64 test groups" in str(rules.rows_problem(63, 10, 64, "rows"))
    assert "1 class(es)" in str(rules.rows_problem(640, 1, 64, "rows"))


def test_posting_needs_the_whole_escrow() -> None:
    assert rules.post_funds_problem(BUYER, 61 * MILLI, 61 * MILLI) is None
    assert rules.post_funds_problem(BUYER, 61 * MILLI - 1, 61 * MILLI) == (
        f"{BUYER} holds 0.060999999999999999 ETH, less than the 0.061000 ETH the request locks"
    )


# the buyer ---------------------------------------------------------------------------------
def test_only_the_buyer_reveals_a_drawn_sample_in_time() -> None:
    assert rules.reveal_sample_problem(DRAWN, BUYER.upper().replace("0X", "0x"), BEFORE) is None
    assert "only the buyer of request 1" in str(rules.reveal_sample_problem(DRAWN, OTHER, BEFORE))
    assert "is not drawn yet" in str(rules.reveal_sample_problem(SAMPLING, BUYER, BEFORE))
    assert "anyone may cancel it now" in str(rules.reveal_sample_problem(DRAWN, BUYER, AFTER))
    assert "it is submitting" in str(rules.reveal_sample_problem(SUBMITTING, BUYER, BEFORE))


def test_the_kept_test_set_must_be_the_requests() -> None:
    assert rules.test_file_problem(DRAWN, DRAWN.test_root, "f") is None
    assert "no hidden test set of request 1 in f" in str(rules.test_file_problem(DRAWN, None, "f"))
    assert "its root differs" in str(rules.test_file_problem(DRAWN, b"\x09" * 32, "f"))


def test_a_delivery_is_rejected_only_before_the_executors_are_drawn() -> None:
    live = submission(SubmissionState.SUBMITTED)
    assert rules.reject_problem(SUBMITTING, BUYER, live) is None
    assert rules.reject_problem(DRAWING, BUYER, live) is None
    assert "too late to reject" in str(rules.reject_problem(COMMITTING, BUYER, live))
    assert "only the buyer" in str(rules.reject_problem(SUBMITTING, SELLER, live))
    rejected = submission(SubmissionState.REJECTED)
    assert (
        rules.reject_problem(SUBMITTING, BUYER, rejected) == "submission 0 of request 1 is rejected"
    )
    assert rules.submission_problem(SUBMITTING, 1) is None
    assert rules.submission_problem(SUBMITTING, 2) == "request 1 has no submission 2 (it has 2)"


def test_the_buyer_and_live_sellers_seal_once_while_executors_benchmark() -> None:
    live, lost = submission(SubmissionState.SUBMITTED), submission(SubmissionState.REJECTED)
    assert rules.seal_problem(COMMITTING, BUYER, None, False) is None
    assert rules.seal_problem(COMMITTING, SELLER, live, False) is None
    assert "already sealed" in str(rules.seal_problem(COMMITTING, SELLER, live, True))
    assert "it is out" in str(rules.seal_problem(COMMITTING, SELLER, lost, False))
    assert "only the buyer and the sellers" in str(
        rules.seal_problem(COMMITTING, OTHER, None, False)
    )
    assert "not committing" in str(rules.seal_problem(REVEALING, BUYER, None, False))


def test_a_model_is_taken_once_its_key_is_revealed() -> None:
    for state in (SubmissionState.KEY_REVEALED, SubmissionState.PAID):
        assert rules.take_problem(SWAPPING, BUYER, submission(state), BEFORE) is None
    assert "has not revealed its key yet" in str(
        rules.take_problem(SWAPPING, BUYER, submission(SubmissionState.WON), BEFORE)
    )
    assert "was proved bad" in str(
        rules.take_problem(SWAPPING, BUYER, submission(SubmissionState.CHEATED), BEFORE)
    )
    assert "is lost: you did not buy it" in str(
        rules.take_problem(SWAPPING, BUYER, submission(SubmissionState.LOST), BEFORE)
    )
    assert "only the buyer" in str(
        rules.take_problem(SWAPPING, SELLER, submission(SubmissionState.PAID), BEFORE)
    )


def test_a_complaint_fits_in_its_window_only() -> None:
    window = submission(SubmissionState.KEY_REVEALED, deadline=DEADLINE)
    assert rules.complain_problem(SWAPPING, window, BEFORE) is None
    assert "complaint window is closed" in str(rules.complain_problem(SWAPPING, window, AFTER))
    paid = submission(SubmissionState.PAID, deadline=DEADLINE)
    assert rules.complain_problem(SWAPPING, paid, BEFORE) is not None


# the sellers -------------------------------------------------------------------------------
def test_a_seller_submits_once_before_the_deadline() -> None:
    assert rules.submit_problem(SUBMITTING, SELLER, False, False, BEFORE) is None
    cases = {
        "its sample is not revealed": (DRAWN, SELLER, False, False, BEFORE),
        "submissions to request 1 closed at": (SUBMITTING, SELLER, False, False, AFTER),
        "it is drawing, not submitting": (DRAWING, SELLER, False, False, BEFORE),
        "you cannot sell to yourself": (SUBMITTING, BUYER, False, False, BEFORE),
        "you already submitted": (SUBMITTING, SELLER, True, False, BEFORE),
        "an executor cannot sell": (SUBMITTING, SELLER, False, True, BEFORE),
        f"its {MAX_SELLERS} sellers already": (
            replace(SUBMITTING, sellers=MAX_SELLERS), SELLER, False, False, BEFORE
        ),
    }  # fmt: skip
    for problem, args in cases.items():
        assert problem in str(rules.submit_problem(*args)), problem


def test_a_stake_needs_its_funds_and_a_model_the_tasks_features() -> None:
    assert rules.stake_problem(SELLER, MILLI, MILLI, SUBMITTING, "seller stake") is None
    assert rules.stake_problem(SELLER, MILLI - 1, MILLI, SUBMITTING, "seller stake") == (
        f"{SELLER} holds 0.000999999999999999 ETH, less than the seller stake 0.001000 ETH "
        "the request locks"
    )
    assert rules.features_problem(SUBMITTING, 64, 64, "m.skops") is None
    assert rules.features_problem(SUBMITTING, 64, None, "m.skops") is None
    assert rules.features_problem(SUBMITTING, 64, 4, "m.skops") == (
        "m.skops takes 4 features; request 1's task has 64"
    )


def test_the_kept_key_must_be_the_committed_one() -> None:
    mine = submission(SubmissionState.WON)
    assert rules.offer_problem(SWAPPING, SELLER, mine, mine.key_hash, "f") is None
    assert "did not submit" in str(rules.offer_problem(SWAPPING, OTHER, None, None, "f"))
    assert "no key of your submission" in str(
        rules.offer_problem(SWAPPING, SELLER, mine, None, "f")
    )
    assert "not the one you committed to" in str(
        rules.offer_problem(SWAPPING, SELLER, mine, b"\x00" * 32, "f")
    )


def test_a_winner_reveals_its_key_before_the_key_deadline() -> None:
    won = submission(SubmissionState.WON)
    assert rules.reveal_key_problem(SWAPPING, won, BEFORE) is None
    assert "the sale is lost" in str(rules.reveal_key_problem(SWAPPING, won, AFTER))
    assert "already revealed" in str(
        rules.reveal_key_problem(SWAPPING, submission(SubmissionState.KEY_REVEALED), BEFORE)
    )
    assert "your submission is lost" in str(
        rules.reveal_key_problem(SWAPPING, submission(SubmissionState.LOST), BEFORE)
    )


# the executors -----------------------------------------------------------------------------
def test_a_compute_provider_volunteers_once_until_the_submission_deadline() -> None:
    assert rules.volunteer_problem(SAMPLING, OTHER, False, False, AFTER) is None  # no deadline yet
    assert rules.volunteer_problem(SUBMITTING, OTHER, False, False, BEFORE) is None
    cases = {
        "took executors until": (SUBMITTING, OTHER, False, False, AFTER),
        "it is committing, not sampling or submitting": (COMMITTING, OTHER, False, False, BEFORE),
        "you cannot execute it": (SUBMITTING, BUYER, False, False, BEFORE),
        "you already volunteered": (SUBMITTING, OTHER, True, False, BEFORE),
        "a seller cannot execute": (SUBMITTING, OTHER, False, True, BEFORE),
        f"its {MAX_VOLUNTEERS} volunteers already": (
            replace(SUBMITTING, volunteers=MAX_VOLUNTEERS), OTHER, False, False, BEFORE
        ),
    }  # fmt: skip
    for problem, args in cases.items():
        assert problem in str(rules.volunteer_problem(*args)), problem


def test_only_a_drawn_executor_commits_once_before_the_deadline() -> None:
    assert rules.commit_problem(COMMITTING, 3, BEFORE) is None
    assert "not an executor" in str(rules.commit_problem(COMMITTING, 2, BEFORE))  # not drawn
    assert "not an executor" in str(rules.commit_problem(COMMITTING, None, BEFORE))
    assert "the commit deadline" in str(rules.commit_problem(COMMITTING, 3, AFTER))
    committed = replace(COMMITTING, committed=mask_of([3]))
    assert "already committed" in str(rules.commit_problem(committed, 3, BEFORE))
    assert "not committing" in str(rules.commit_problem(REVEALING, 3, BEFORE))
    assert rules.unsealed_problem(COMMITTING, []) is None
    assert "the buyer's groups of request 1 not sealed" in str(
        rules.unsealed_problem(COMMITTING, ["the buyer's groups"])
    )


def test_an_executor_reveals_what_it_committed_to_once() -> None:
    assert rules.reveal_problem(REVEALING, 1, BEFORE) is None
    assert "nothing to reveal" in str(rules.reveal_problem(REVEALING, 3, BEFORE))  # silent
    assert "not an executor" in str(rules.reveal_problem(REVEALING, 2, BEFORE))
    assert "the reveals of request 1 closed" in str(rules.reveal_problem(REVEALING, 1, AFTER))
    revealed = replace(REVEALING, revealed=mask_of([1]))
    assert "already revealed" in str(rules.reveal_problem(revealed, 1, BEFORE))
    assert rules.vote_problem(REVEALING, True, True, "f") is None
    assert "no committed scores" in str(rules.vote_problem(REVEALING, False, False, "f"))
    assert "not the ones you committed to" in str(rules.vote_problem(REVEALING, True, False, "f"))


# anyone ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("request_view", "now", "block", "problem"),
    [
        (SAMPLING, BEFORE, 11, None),  # the sample's draw: its block has come
        (SAMPLING, BEFORE, 10, "waits for block 11"),
        (SAMPLING, AFTER, 10, None),  # no reveal in time: cancelled
        (DRAWN, BEFORE, 11, "is drawn and waits for the buyer"),
        (DRAWN, AFTER, 11, None),
        (SUBMITTING, BEFORE, 99, "the submissions of request 1 close at"),
        (SUBMITTING, AFTER, 99, None),
        (DRAWING, BEFORE, 20, "waits for block 21"),
        (DRAWING, BEFORE, 21, None),
        (COMMITTING, BEFORE, 99, "the commitments of request 1 close at"),
        (COMMITTING, AFTER, 99, None),
        (REVEALING, AFTER, 99, "waits for its tally (mercato modelmarket tally 1)"),
        (SWAPPING, AFTER, 99, "mercato modelmarket finish 1 INDEX"),
        (replace(SWAPPING, status=RequestStatus.CLOSED), AFTER, 99, "nothing to advance"),
    ],
)
def test_advance_moves_a_request_only_when_its_time_has_come(
    request_view: Request, now: int, block: int, problem: str | None
) -> None:
    found = rules.advance_problem(request_view, now, block)

    assert found is None if problem is None else problem in str(found)


def test_a_tally_waits_for_every_reveal_or_the_deadline() -> None:
    assert "may reveal until" in str(rules.tally_problem(REVEALING, BEFORE))
    assert rules.tally_problem(REVEALING, AFTER) is None
    assert rules.tally_problem(replace(REVEALING, revealed=REVEALING.committed), BEFORE) is None
    assert "not revealing" in str(rules.tally_problem(SWAPPING, AFTER))


def test_a_sale_is_settled_after_its_window_or_without_its_key() -> None:
    window = submission(SubmissionState.KEY_REVEALED, deadline=DEADLINE + 60)
    assert "may complain" in str(rules.finish_problem(SWAPPING, window, AFTER))
    assert rules.finish_problem(SWAPPING, window, DEADLINE + 60) is None
    won = submission(SubmissionState.WON)
    assert "may reveal its key until" in str(rules.finish_problem(SWAPPING, won, BEFORE))
    assert rules.finish_problem(SWAPPING, won, AFTER) is None
    assert "no sale to settle" in str(
        rules.finish_problem(SWAPPING, submission(SubmissionState.PAID), AFTER)
    )
    assert "not swapping" in str(rules.finish_problem(REVEALING, won, AFTER))
