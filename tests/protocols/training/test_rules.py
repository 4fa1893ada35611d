"""P2's rules and views, without a chain: each ``*_problem`` judges a view and plain values."""

from __future__ import annotations

from dataclasses import replace

from mercato.protocols.training import rules
from mercato.protocols.training.documents import Manifest
from mercato.protocols.training.views import (
    Dataset,
    Instance,
    InstanceStatus,
    Job,
    Training,
    TrainingStatus,
)

DO = "0x" + "d0" * 20
MO = "0x" + "a0" * 20
CO = "0x" + "c0" * 20
OTHER = "0x" + "e0" * 20
DEADLINE = 1_000_000
IDLE = 3600
ETHER = 10**18

DATASET = Dataset(1, DO, 2, 2, 4, ETHER, ETHER // 10, b"\x01" * 32)
REQUESTED = Training(
    training_id=1, mo=MO, dataset_id=1, model_id=1, subsets_per_round=1, max_rounds=2,
    status=TrainingStatus.REQUESTED, round=0, remaining=0, jobs=0, deadline=DEADLINE,
    target_block=0, selected=0, cycle=0, fraud=0, forfeited=0, escrowed=ETHER,
)  # fmt: skip
TRAINING = replace(REQUESTED, status=TrainingStatus.TRAINING, round=1, selected=0b10)
INSTANCE = Instance(3, CO, 1, 1, 0, InstanceStatus.VERIFIED)
NO_JOB = Job(0, 0, False)


def test_the_dataset_owner_approves_in_time_once_every_slot_is_verified() -> None:
    assert rules.approve_problem(REQUESTED, DATASET, DO.upper().replace("0X", "0x"), 0) is None
    assert "only the owner of dataset 1" in str(rules.approve_problem(REQUESTED, DATASET, MO, 0))
    assert "approval period of training 1 ended" in str(
        rules.approve_problem(REQUESTED, DATASET, DO, DEADLINE)
    )
    assert "has 3 of 4 instances verified" in str(
        rules.approve_problem(REQUESTED, replace(DATASET, verified=3), DO, 0)
    )
    assert "it is training, not requested" in str(rules.approve_problem(TRAINING, DATASET, DO, 0))


def test_a_split_needs_distinct_registered_holders_and_prices_that_fit() -> None:
    assert rules.split_problem(2, 2) is None
    assert rules.split_problem(33, 2) == "--subsets must be 1 to 32, got 33"
    assert rules.holders_problem([CO, OTHER], 2) is None
    assert "is given twice" in str(rules.holders_problem([CO, CO], 1))
    assert "need at least 3 distinct compute providers, got 2" in str(
        rules.holders_problem([CO, OTHER], 3)
    )
    assert rules.holder_problem(CO, registered=True) is None
    assert "not a registered compute provider" in str(rules.holder_problem(CO, registered=False))
    assert rules.price_problem(2**96, "huge", "--data-price") is not None


def test_a_request_fits_the_dataset_and_the_purse() -> None:
    assert rules.model_problem(1, MO, MO) is None
    assert rules.model_problem(1, MO, OTHER) == f"model 1 belongs to {MO}; you are {OTHER}"
    assert rules.request_problem(DATASET, 2, 1) is None
    assert rules.request_problem(DATASET, 3, 1) == "--subsets-per-round must be 1 to 2, got 3"
    manifest = Manifest(
        "digits", "Digits", 64, tuple(range(10)), 2, 2, ("0x" + "ab" * 32,) * 2, (9, 9)
    )
    assert rules.fits_problem(1, (64, 10), DATASET, manifest) is None
    assert "takes 64 features and 2 classes" in str(
        rules.fits_problem(1, (64, 2), DATASET, manifest)
    )
    assert rules.escrow_problem(MO, ETHER, ETHER + 1) is not None


def test_rounds_are_drawn_closed_and_completed_when_their_time_comes() -> None:
    drawing = replace(REQUESTED, status=TrainingStatus.DRAWING, round=1, target_block=10)
    assert rules.draw_problem(drawing, 10) is None
    assert "draws after block 10" in str(rules.draw_problem(drawing, 9))
    assert "it is requested, not drawing" in str(rules.draw_problem(REQUESTED, 99))
    assert rules.close_round_problem(TRAINING, DEADLINE) is None
    assert "close it after" in str(rules.close_round_problem(TRAINING, DEADLINE - 1))
    done = replace(TRAINING, status=TrainingStatus.ROUND_DONE)
    assert rules.complete_problem(done, MO, 0, IDLE) is None
    assert "before its idle deadline" in str(rules.complete_problem(done, OTHER, DEADLINE, IDLE))
    assert rules.complete_problem(done, OTHER, DEADLINE + IDLE, IDLE) is None
    assert "never approved" in str(rules.complete_problem(REQUESTED, MO, 0, IDLE))
    assert rules.cancel_problem(REQUESTED, MO) is None
    assert "only the model owner" in str(rules.cancel_problem(REQUESTED, OTHER))
    assert rules.start_round_problem(done, MO) is None
    assert "no round to start" in str(rules.start_round_problem(TRAINING, MO))


def test_instances_join_are_verified_and_owe_jobs_of_drawn_subsets() -> None:
    free = replace(INSTANCE, status=InstanceStatus.FREE)
    assert rules.join_problem(free, CO) is None
    assert "belongs to" in str(rules.join_problem(free, OTHER))
    assert "it is verified, not free" in str(rules.join_problem(INSTANCE, CO))
    assert rules.verify_problem(replace(INSTANCE, status=InstanceStatus.JOINED)) is None
    assert rules.verify_problem(INSTANCE) is not None
    assert rules.submit_problem(TRAINING, INSTANCE, NO_JOB, CO) is None
    assert "already submitted" in str(
        rules.submit_problem(TRAINING, INSTANCE, Job(ETHER, 1, False), CO)
    )
    assert "not drawn" in str(
        rules.submit_problem(TRAINING, replace(INSTANCE, subset=0), NO_JOB, CO)
    )
    assert "was reported" in str(rules.submit_problem(TRAINING, INSTANCE, Job(0, 0, True), CO))


def test_the_model_owner_reports_a_job_of_the_round_under_review() -> None:
    done = replace(TRAINING, status=TrainingStatus.ROUND_DONE)
    job = Job(ETHER, 1, False)
    assert rules.report_fraud_problem(done, 1, job, MO, DEADLINE - 1) is None
    assert "review of round 1 of training 1 ended" in str(
        rules.report_fraud_problem(done, 1, job, MO, DEADLINE)
    )
    assert "not under review" in str(rules.report_fraud_problem(TRAINING, 1, job, MO, 0))
    assert "already reported" in str(rules.report_fraud_problem(done, 1, Job(0, 1, True), MO, 0))
    assert "only the model owner" in str(rules.report_fraud_problem(done, 1, job, CO, 0))


def test_a_training_record_says_what_its_deadline_means() -> None:
    record = TRAINING.record(IDLE)
    assert record["deadline_kind"] == "round"
    assert record["idle_deadline"] is None
    done = replace(TRAINING, status=TrainingStatus.ROUND_DONE).record(IDLE)
    assert done["idle_deadline"] == DEADLINE + IDLE
    assert replace(TRAINING, status=TrainingStatus.COMPLETED).record(IDLE)["deadline"] is None
