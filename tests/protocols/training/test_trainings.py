"""TrainingMarket.vy, a training couple's life: request, approval, cancellation, completion.

Rounds (start, draw, jobs, fraud) are in test_rounds.py; the adversaries of the issue in
test_adversaries.py.
"""

from __future__ import annotations

from mercato.protocols.roles import Role
from mercato.protocols.training.market import MAX_ROUNDS, TrainingStatus, escrow_for

from ..world import KEY, reverts
from .world import APPROVAL_PERIOD, DATA_PRICE, IDLE_PERIOD, JOB_PRICE, REVIEW_PERIOD, World

UNKNOWN_ID = 999


# request_training ---------------------------------------------------------------------------


def test_request_locks_the_most_the_training_can_cost(world: World) -> None:
    # prepare
    setup = world.setup(4, 3)
    model_id = world.new_model()
    escrowed = DATA_PRICE + JOB_PRICE * 2 * 3 * 5

    # act
    result = world.request(setup.dataset_id, model_id, k=2, rounds=5, value=escrowed)

    # assert
    deadline = world.chain.timestamp() + APPROVAL_PERIOD
    assert result.event("TrainingRequested").args == {
        "training_id": 1,
        "mo": world.mo.address,
        "dataset_id": setup.dataset_id,
        "model_id": model_id,
        "subsets_per_round": 2,
        "max_rounds": 5,
        "escrowed": escrowed,
        "approval_deadline": deadline,
    }
    training = world.state(1)
    assert (training.mo, training.dataset_id, training.model_id) == (
        world.mo.address,
        setup.dataset_id,
        model_id,
    )
    assert (training.subsets_per_round, training.max_rounds) == (2, 5)
    assert (training.status, training.deadline) == (TrainingStatus.REQUESTED, deadline)
    assert (training.round, training.remaining, training.jobs) == (0, 0, 0)
    assert (training.escrowed, training.locked) == (escrowed, escrowed)
    assert world.balance() == escrowed
    assert world.market.dataset(setup.dataset_id).escrow_for(2, 5) == escrowed
    assert world.market.training_count() == 1


def test_request_with_the_wrong_value_reverts(world: World) -> None:
    # prepare
    setup = world.setup()
    model_id = world.new_model()
    escrowed = escrow_for(DATA_PRICE, JOB_PRICE, 1, 1, 1)

    for value in [0, escrowed - 1, escrowed + 1, DATA_PRICE]:
        # act / assert
        with reverts("training: value must equal the most the training can cost"):
            world.request(setup.dataset_id, model_id, value=value)
    assert world.balance() == 0


def test_request_for_someone_elses_model_reverts(world: World) -> None:
    # prepare: the stranger is a model owner too, but not of this model
    setup = world.setup()
    model_id = world.new_model()
    world.registry.transact("register", int(Role.MODEL_OWNER), KEY, sender=world.stranger)

    for sender, model in [(world.stranger, model_id), (world.do, model_id), (world.mo, UNKNOWN_ID)]:
        # act / assert
        with reverts("training: caller does not own the model"):
            world.request(setup.dataset_id, model, sender=sender)


def test_request_on_an_unknown_dataset_reverts(world: World) -> None:
    # act / assert
    with reverts("training: unknown dataset"):
        world.request(UNKNOWN_ID, value=0)


def test_request_with_subsets_per_round_out_of_range_reverts(world: World) -> None:
    # prepare
    setup = world.setup(3, 1)

    for k in [0, 4]:
        # act / assert
        with reverts("training: subsets per round out of range"):
            world.request(setup.dataset_id, k=k, value=0)


def test_request_with_rounds_out_of_range_reverts(world: World) -> None:
    # prepare
    setup = world.setup()

    for rounds in [0, MAX_ROUNDS + 1]:
        # act / assert
        with reverts("training: rounds out of range"):
            world.request(setup.dataset_id, rounds=rounds, value=0)


def test_request_accepts_every_subset_and_the_most_rounds(world: World) -> None:
    # prepare
    setup = world.setup(3, 2)

    # act
    result = world.request(setup.dataset_id, k=3, rounds=MAX_ROUNDS)

    # assert
    assert result.event("TrainingRequested")["escrowed"] == DATA_PRICE + JOB_PRICE * 3 * 2 * 255


def test_request_before_the_dataset_is_verified_is_accepted(world: World) -> None:
    # prepare: the DO cannot approve it until every instance is verified
    setup = world.setup(verify=False)

    # act
    training_id = world.requested(setup)

    # assert
    assert world.state(training_id).status is TrainingStatus.REQUESTED


def test_unknown_training_reverts(world: World) -> None:
    # act / assert
    with reverts("training: unknown training"):
        world.state(UNKNOWN_ID)


# approve_training ---------------------------------------------------------------------------


def test_approve_opens_the_training(world: World) -> None:
    # prepare
    training_id = world.requested(world.setup(2, 2))

    # act
    result = world.market.approve_training(world.do, training_id)

    # assert
    deadline = world.chain.timestamp() + IDLE_PERIOD
    assert result.event("TrainingApproved").args == {
        "training_id": training_id,
        "owner": world.do.address,
        "mo": world.mo.address,
        "idle_deadline": deadline,
    }
    training = world.state(training_id)
    assert (training.status, training.deadline) == (TrainingStatus.APPROVED, deadline)


def test_approve_by_someone_else_reverts(world: World) -> None:
    # prepare
    training_id = world.requested(world.setup())

    for sender in [world.mo, world.cos[0], world.stranger]:
        # act / assert
        with reverts("training: only the dataset's owner approves"):
            world.market.approve_training(sender, training_id)


def test_approve_after_the_approval_period_reverts(world: World) -> None:
    # prepare: a stale request cannot be approved out of the blue
    training_id = world.requested(world.setup())
    world.pass_deadline(training_id)

    # act / assert
    with reverts("training: approval period over"):
        world.market.approve_training(world.do, training_id)


def test_approve_twice_reverts(world: World) -> None:
    # prepare
    training_id = world.approved(world.setup())

    # act / assert
    with reverts("training: not waiting for approval"):
        world.market.approve_training(world.do, training_id)


def test_approve_with_an_instance_not_verified_reverts(world: World) -> None:
    # prepare: one slot joined but not verified, one flagged
    setup = world.setup(1, 3, verify=False)
    world.verify(setup.instances[0][0])
    world.verify(setup.instances[0][1], ok=False)
    training_id = world.requested(setup)

    # act / assert
    with reverts("training: dataset not fully verified"):
        world.market.approve_training(world.do, training_id)


def test_approve_after_a_flagged_slot_was_replaced_and_verified(world: World) -> None:
    # prepare
    setup = world.setup(1, 2, verify=False)
    world.verify(setup.instances[0][0])
    world.verify(setup.instances[0][1], ok=False)
    replacement = world.create_instance(setup.dataset_id, 0, 1, world.cos[3])
    world.join(replacement)
    world.verify(replacement)
    training_id = world.requested(setup)

    # act
    world.market.approve_training(world.do, training_id)

    # assert
    assert world.state(training_id).status is TrainingStatus.APPROVED


# cancel -------------------------------------------------------------------------------------


def test_model_owner_cancels_a_request_and_is_refunded(world: World) -> None:
    # prepare
    training_id = world.requested(world.setup(), rounds=2)
    escrowed = world.state(training_id).escrowed

    # act
    result = world.market.cancel(world.mo, training_id)

    # assert
    assert result.event("TrainingCancelled").args == {
        "training_id": training_id,
        "mo": world.mo.address,
        "refund": escrowed,
    }
    training = world.state(training_id)
    assert (training.status, training.locked) == (TrainingStatus.CANCELLED, 0)
    assert world.owed(world.mo) == escrowed
    assert world.balance() == escrowed


def test_cancel_by_someone_else_reverts(world: World) -> None:
    # prepare
    training_id = world.requested(world.setup())

    for sender in [world.do, world.stranger]:
        # act / assert
        with reverts("training: only the model owner cancels"):
            world.market.cancel(sender, training_id)


def test_cancel_after_approval_reverts(world: World) -> None:
    # prepare
    training_id = world.approved(world.setup())

    # act / assert
    with reverts("training: only an unapproved request can be cancelled"):
        world.market.cancel(world.mo, training_id)


def test_cancelled_request_cannot_be_approved_or_cancelled_again(world: World) -> None:
    # prepare
    training_id = world.requested(world.setup())
    world.market.cancel(world.mo, training_id)

    # act / assert
    with reverts("training: not waiting for approval"):
        world.market.approve_training(world.do, training_id)
    with reverts("training: only an unapproved request can be cancelled"):
        world.market.cancel(world.mo, training_id)
    assert world.owed(world.mo) == world.state(training_id).escrowed


# complete -----------------------------------------------------------------------------------


def test_complete_pays_everyone_what_they_earned(world: World) -> None:
    # prepare: 2 subsets x 3 replicas, one subset a round for at most 2 rounds, one round run
    setup = world.setup(2, 3)
    training_id = world.approved(setup, k=1, rounds=2)
    world.round_done(setup, training_id)
    drawn = world.drawn_instances(setup, training_id)
    escrowed = world.state(training_id).escrowed

    # act
    result = world.complete(training_id)

    # assert
    refund = escrowed - DATA_PRICE - 3 * JOB_PRICE
    assert result.event("TrainingCompleted").args == {
        "training_id": training_id,
        "caller": world.mo.address,
        "mo": world.mo.address,
        "rounds": 1,
        "paid_owner": DATA_PRICE,
        "paid_compute": 3 * JOB_PRICE,
        "refund": refund,
    }
    assert world.owed(world.do) == DATA_PRICE
    for instance_id in drawn:
        assert world.owed(world.co_of(instance_id)) == JOB_PRICE
    assert world.owed(world.mo) == refund
    training = world.state(training_id)
    assert (training.status, training.locked) == (TrainingStatus.COMPLETED, 0)
    assert world.balance() == escrowed


def test_complete_adds_up_pay_over_rounds(world: World) -> None:
    # prepare: 4 subsets x 3 replicas, 2 a round: after 2 rounds every CO trained twice
    setup = world.setup(4, 3)
    training_id = world.approved(setup, k=2, rounds=3)
    for _ in range(2):
        world.round_done(setup, training_id)

    # act
    world.complete(training_id)

    # assert: CO r holds replica r of the four subsets, each drawn once
    for co in world.cos[:3]:
        assert world.owed(co) == 4 * JOB_PRICE
    assert world.owed(world.mo) == JOB_PRICE * 2 * 3 * 1
    assert world.owed(world.do) == DATA_PRICE


def test_withdraw_pays_out_what_is_owed(world: World) -> None:
    # prepare
    setup = world.setup()
    training_id = world.approved(setup)
    world.round_done(setup, training_id)
    world.complete(training_id)
    before = world.chain.balance(world.do.address)

    # act
    result = world.market.withdraw(world.do)

    # assert
    assert result.event("Withdrawn").args == {"account": world.do.address, "amount": DATA_PRICE}
    assert world.owed(world.do) == 0
    fee = before + DATA_PRICE - world.chain.balance(world.do.address)
    assert fee >= 0 and fee % result.gas_used == 0
    with reverts("escrow: nothing to withdraw"):
        world.market.withdraw(world.do)


def test_model_owner_may_complete_right_after_approval(world: World) -> None:
    # prepare: the MO walks away before any round; the DO's data was committed to it
    training_id = world.approved(world.setup(), rounds=3)
    escrowed = world.state(training_id).escrowed

    # act
    world.complete(training_id)

    # assert
    assert world.owed(world.do) == DATA_PRICE
    assert world.owed(world.mo) == escrowed - DATA_PRICE


def test_model_owner_may_complete_during_the_review_window(world: World) -> None:
    # prepare: completing waives the MO's own right to report fraud, nobody else's
    setup = world.setup()
    training_id = world.approved(setup)
    world.round_done(setup, training_id)

    # act
    world.complete(training_id)

    # assert
    assert world.state(training_id).status is TrainingStatus.COMPLETED
    assert world.owed(world.cos[0]) == JOB_PRICE


def test_others_cannot_complete_before_the_idle_deadline(world: World) -> None:
    # prepare: approved, then a round done and its review window over, but not the idle period
    setup = world.setup()
    approved = world.approved(setup)
    reviewed = world.approved(setup, rounds=2)
    world.round_done(setup, reviewed)
    world.pass_deadline(reviewed)

    for training_id in [approved, reviewed]:
        for sender in [world.do, world.cos[0], world.stranger]:
            # act / assert
            with reverts("training: only the model owner may complete before the idle deadline"):
                world.complete(training_id, sender=sender)


def test_anyone_completes_an_approved_training_after_the_idle_period(world: World) -> None:
    # prepare
    training_id = world.approved(world.setup())
    world.pass_deadline(training_id)

    # act
    result = world.complete(training_id, sender=world.stranger)

    # assert
    assert result.event("TrainingCompleted")["caller"] == world.stranger.address
    assert world.owed(world.do) == DATA_PRICE
    assert world.owed(world.mo) == JOB_PRICE


def test_anyone_completes_after_the_review_window_and_the_idle_period(world: World) -> None:
    # prepare
    setup = world.setup()
    training_id = world.approved(setup, rounds=2)
    world.round_done(setup, training_id)
    assert world.state(training_id).idle_deadline(IDLE_PERIOD) == (
        world.chain.timestamp() + REVIEW_PERIOD + IDLE_PERIOD
    )
    world.pass_deadline(training_id, extra=IDLE_PERIOD)

    # act
    world.complete(training_id, sender=world.cos[0])

    # assert
    assert world.owed(world.cos[0]) == JOB_PRICE
    assert world.owed(world.do) == DATA_PRICE
    assert world.owed(world.mo) == JOB_PRICE


def test_anyone_completes_a_round_asked_for_and_never_drawn_after_the_idle_period(
    world: World,
) -> None:
    # prepare
    training_id = world.approved(world.setup(), rounds=2)
    world.start(training_id)
    world.pass_deadline(training_id)

    # act
    result = world.complete(training_id, sender=world.stranger)

    # assert: the round never ran, so no CO earned anything
    assert result.event("TrainingCompleted")["paid_compute"] == 0
    assert world.owed(world.mo) == 2 * JOB_PRICE


def test_complete_while_a_round_runs_reverts(world: World) -> None:
    # prepare: COs are training; the round must end first (jobs in, or close_round)
    setup = world.setup()
    training_id = world.approved(setup)
    world.started(training_id)

    # act / assert
    with reverts("training: cannot complete now"):
        world.complete(training_id)


def test_complete_a_request_or_a_final_training_reverts(world: World) -> None:
    # prepare
    setup = world.setup()
    requested = world.requested(setup)
    cancelled = world.requested(setup)
    world.market.cancel(world.mo, cancelled)
    completed = world.approved(setup)
    world.complete(completed)

    for training_id in [requested, cancelled, completed]:
        # act / assert
        with reverts("training: cannot complete now"):
            world.complete(training_id)
