"""TrainingMarket.vy, data distribution: deployment, datasets, cloud instances, models.

Each test deploys a fresh market (see ``world.py``): a DO, an MO, six COs and a stranger.
"""

from __future__ import annotations

from eth_account.signers.local import LocalAccount
from eth_utils.crypto import keccak

from mercato.chain.base import Chain
from mercato.chain.contract import Contract
from mercato.crypto.commit import commit
from mercato.protocols.roles import Role
from mercato.protocols.training.market import (
    MAX_PRICE,
    MAX_REPLICAS,
    MAX_SUBSETS,
    InstanceStatus,
)

from ..world import EMPTY, KEY, ZERO_ADDRESS, reverts
from .world import (
    APPROVAL_PERIOD,
    DATA_PRICE,
    FRAUD_STAKE,
    IDLE_PERIOD,
    JOB_PRICE,
    META_HASH,
    METHOD_HASH,
    MO_KEY_HASH,
    MODEL_TYPE,
    PERIODS,
    REVIEW_PERIOD,
    ROUND_PERIOD,
    World,
    subset_bytes,
)

UNKNOWN_ID = 999
ENVELOPE = keccak(b"the replica, sealed to its compute provider")


# deployment ---------------------------------------------------------------------------------


def test_constructor_sets_registry_periods_and_counters(world: World) -> None:
    # act
    periods = [world.market.period(name) for name in ("approval", "round", "review", "idle")]

    # assert
    assert world.contract.call("REGISTRY") == world.registry.address
    assert periods == [APPROVAL_PERIOD, ROUND_PERIOD, REVIEW_PERIOD, IDLE_PERIOD]
    assert world.market.dataset_count() == 0
    assert world.market.instance_count() == 0
    assert world.market.model_count() == 0
    assert world.market.training_count() == 0


def test_constructor_rejects_the_zero_registry(chain: Chain, accounts: list[LocalAccount]) -> None:
    # act / assert
    with reverts("training: registry is the zero address"):
        Contract.deploy(
            chain, "TrainingMarket", ZERO_ADDRESS, *PERIODS, FRAUD_STAKE, sender=accounts[0]
        )


def test_constructor_rejects_a_zero_period(world: World) -> None:
    for position in range(len(PERIODS)):
        # prepare
        periods = list(PERIODS)
        periods[position] = 0

        # act / assert
        with reverts("training: zero period"):
            Contract.deploy(
                world.chain,
                "TrainingMarket",
                world.registry.address,
                *periods,
                FRAUD_STAKE,
                sender=world.deployer,
            )


# create_dataset -----------------------------------------------------------------------------


def test_create_dataset_records_it(world: World) -> None:
    # act
    result = world.create_dataset(4, 3)

    # assert
    assert result.event("DatasetCreated").args == {
        "dataset_id": 1,
        "owner": world.do.address,
        "meta_hash": META_HASH,
        "subsets": 4,
        "replicas": 3,
        "data_price": DATA_PRICE,
        "job_price": JOB_PRICE,
    }
    dataset = world.market.dataset(1)
    assert (dataset.owner, dataset.subsets, dataset.replicas) == (world.do.address, 4, 3)
    assert (dataset.data_price, dataset.job_price) == (DATA_PRICE, JOB_PRICE)
    assert dataset.meta_hash == META_HASH
    assert (dataset.verified, dataset.slots, dataset.ready) == (0, 12, False)
    assert world.market.dataset_count() == 1


def test_datasets_are_numbered_from_one(world: World) -> None:
    # act
    ids = [world.new_dataset() for _ in range(3)]

    # assert
    assert ids == [1, 2, 3]


def test_create_dataset_by_a_non_data_owner_reverts(world: World) -> None:
    for sender in [world.stranger, world.mo, world.cos[0]]:
        # act / assert
        with reverts("training: caller is not a registered data owner"):
            world.create_dataset(sender=sender)


def test_create_dataset_with_an_empty_metadata_hash_reverts(world: World) -> None:
    # act / assert
    with reverts("training: empty metadata hash"):
        world.contract.transact("create_dataset", EMPTY, 1, 1, 1, 1, sender=world.do)


def test_create_dataset_with_subsets_or_replicas_out_of_range_reverts(world: World) -> None:
    for subsets in [0, MAX_SUBSETS + 1]:
        # act / assert
        with reverts("training: subsets out of range"):
            world.create_dataset(subsets, 1)
    for replicas in [0, MAX_REPLICAS + 1]:
        # act / assert
        with reverts("training: replicas out of range"):
            world.create_dataset(1, replicas)


def test_create_dataset_with_a_price_out_of_range_reverts(world: World) -> None:
    # act / assert
    with reverts("training: price out of range"):
        world.create_dataset(data_price=MAX_PRICE + 1)
    with reverts("training: price out of range"):
        world.create_dataset(job_price=MAX_PRICE + 1)


def test_create_dataset_accepts_the_limits(world: World) -> None:
    # act
    dataset_id = world.new_dataset(
        MAX_SUBSETS, MAX_REPLICAS, data_price=MAX_PRICE, job_price=MAX_PRICE
    )

    # assert
    dataset = world.market.dataset(dataset_id)
    assert (dataset.subsets, dataset.replicas) == (MAX_SUBSETS, MAX_REPLICAS)
    assert (dataset.data_price, dataset.job_price) == (MAX_PRICE, MAX_PRICE)


def test_free_dataset_is_allowed(world: World) -> None:
    # act
    dataset_id = world.new_dataset(data_price=0, job_price=0)

    # assert
    assert world.market.dataset(dataset_id).escrow_for(1, 1) == 0


def test_unknown_dataset_reverts(world: World) -> None:
    # act / assert
    with reverts("training: unknown dataset"):
        world.market.dataset(UNKNOWN_ID)


# create_instance ----------------------------------------------------------------------------


def test_create_instance_assigns_a_slot(world: World) -> None:
    # prepare
    dataset_id = world.new_dataset(4, 3)
    co = world.cos[2]

    # act
    result = world.contract.transact(
        "create_instance", dataset_id, 3, 2, co.address, ENVELOPE, sender=world.do
    )

    # assert
    assert result.event("InstanceCreated").args == {
        "instance_id": 1,
        "dataset_id": dataset_id,
        "co": co.address,
        "subset": 3,
        "replica": 2,
        "envelope_hash": ENVELOPE,
    }
    instance = world.market.instance(1)
    assert (instance.co, instance.dataset_id, instance.subset, instance.replica) == (
        co.address,
        dataset_id,
        3,
        2,
    )
    assert instance.status is InstanceStatus.FREE
    assert world.market.instance_at(dataset_id, 3, 2) == 1
    assert world.market.instance_at(dataset_id, 3, 1) is None
    assert world.market.instance_count() == 1


def test_every_slot_gets_its_own_instance(world: World) -> None:
    # act
    setup = world.setup(4, 3, verify=False)

    # assert
    assert setup.all_instances() == list(range(1, 13))
    for subset in range(4):
        for replica in range(3):
            instance_id = setup.instances[subset][replica]
            assert world.market.instance_at(setup.dataset_id, subset, replica) == instance_id


def test_create_instance_by_someone_else_reverts(world: World) -> None:
    # prepare: the stranger is a data owner too, but not this dataset's
    dataset_id = world.new_dataset()
    world.registry.transact("register", int(Role.DATA_OWNER), KEY, sender=world.stranger)

    for sender in [world.stranger, world.mo, world.cos[0]]:
        # act / assert
        with reverts("training: only the dataset's owner creates instances"):
            world.create_instance(dataset_id, 0, 0, sender=sender)


def test_create_instance_of_an_unknown_dataset_reverts(world: World) -> None:
    # act / assert
    with reverts("training: unknown dataset"):
        world.create_instance(UNKNOWN_ID, 0, 0)


def test_create_instance_out_of_the_grid_reverts(world: World) -> None:
    # prepare
    dataset_id = world.new_dataset(2, 3)

    for subset, replica in [(2, 0), (0, 3), (MAX_SUBSETS, 0), (0, MAX_REPLICAS)]:
        # act / assert
        with reverts("training: no such subset or replica"):
            world.create_instance(dataset_id, subset, replica, world.cos[0])


def test_create_instance_for_a_non_compute_provider_reverts(world: World) -> None:
    # prepare
    dataset_id = world.new_dataset()

    holders: list[LocalAccount | str] = [world.stranger, world.mo, world.do, ZERO_ADDRESS]
    for holder in holders:
        # act / assert
        with reverts("training: instance holder is not a registered compute provider"):
            world.create_instance(dataset_id, 0, 0, holder)


def test_slot_with_an_instance_cannot_be_reassigned(world: World) -> None:
    # prepare
    dataset_id = world.new_dataset(1, 2)
    world.create_instance(dataset_id, 0, 1, world.cos[0])

    # act / assert
    with reverts("training: slot already has an instance"):
        world.create_instance(dataset_id, 0, 1, world.cos[1])


def test_one_compute_provider_cannot_hold_two_replicas_of_a_subset(world: World) -> None:
    # prepare: replicas of one subset must be trained independently for consensus to mean
    dataset_id = world.new_dataset(2, 2)
    world.create_instance(dataset_id, 0, 0, world.cos[0])

    # act / assert
    with reverts("training: compute provider already holds a replica of this subset"):
        world.create_instance(dataset_id, 0, 1, world.cos[0])


def test_one_compute_provider_may_hold_replicas_of_different_subsets(world: World) -> None:
    # prepare
    dataset_id = world.new_dataset(2, 2)
    world.create_instance(dataset_id, 0, 0, world.cos[0])

    # act
    instance_id = world.create_instance(dataset_id, 1, 0, world.cos[0])

    # assert
    assert world.market.instance(instance_id).co == world.cos[0].address


def test_flagged_slot_can_be_handed_to_another_compute_provider(world: World) -> None:
    # prepare
    dataset_id = world.new_dataset(1, 2)
    flagged = world.create_instance(dataset_id, 0, 0, world.cos[0])
    world.join(flagged)
    world.verify(flagged, ok=False)

    # act
    replacement = world.create_instance(dataset_id, 0, 0, world.cos[2])

    # assert
    assert world.market.instance_at(dataset_id, 0, 0) == replacement
    assert world.market.instance(flagged).status is InstanceStatus.FLAGGED
    assert world.market.instance(replacement).status is InstanceStatus.FREE


def test_flagged_compute_provider_may_take_another_replica_of_the_subset(world: World) -> None:
    # prepare: cos[0] was flagged on replica 0, which is handed to cos[1]
    dataset_id = world.new_dataset(1, 2)
    flagged = world.create_instance(dataset_id, 0, 0, world.cos[0])
    world.join(flagged)
    world.verify(flagged, ok=False)
    world.create_instance(dataset_id, 0, 0, world.cos[1])

    # act
    instance_id = world.create_instance(dataset_id, 0, 1, world.cos[0])

    # assert
    assert world.market.instance_at(dataset_id, 0, 1) == instance_id


# join_instance ------------------------------------------------------------------------------


def test_join_declares_the_data_hash_and_uses_the_nonce(world: World) -> None:
    # prepare
    dataset_id = world.new_dataset()
    instance_id = world.create_instance(dataset_id, 0, 0)
    nonce = world.nonce()
    data_hash = commit(subset_bytes(dataset_id, 0), nonce)

    # act
    result = world.market.join_instance(world.cos[0], instance_id, data_hash, nonce)

    # assert
    assert result.event("InstanceJoined").args == {
        "instance_id": instance_id,
        "dataset_id": dataset_id,
        "co": world.cos[0].address,
        "data_hash": data_hash,
        "nonce": nonce,
    }
    assert world.market.instance(instance_id).status is InstanceStatus.JOINED
    assert world.market.nonce_used(nonce)


def test_join_by_another_compute_provider_reverts(world: World) -> None:
    # prepare
    instance_id = world.create_instance(world.new_dataset(), 0, 0, world.cos[0])

    for sender in [world.cos[1], world.do, world.stranger]:
        # act / assert
        with reverts("training: caller is not the instance's compute provider"):
            world.join(instance_id, sender=sender)


def test_join_twice_reverts(world: World) -> None:
    # prepare
    instance_id = world.create_instance(world.new_dataset(), 0, 0)
    world.join(instance_id)

    # act / assert
    with reverts("training: instance already joined"):
        world.join(instance_id)


def test_join_with_an_empty_data_hash_reverts(world: World) -> None:
    # prepare
    instance_id = world.create_instance(world.new_dataset(), 0, 0)

    # act / assert
    with reverts("training: empty data hash"):
        world.market.join_instance(world.cos[0], instance_id, EMPTY, world.nonce())


def test_join_of_an_unknown_instance_reverts(world: World) -> None:
    # act / assert
    with reverts("training: unknown instance"):
        world.market.join_instance(world.cos[0], UNKNOWN_ID, META_HASH, world.nonce())


# verify_instance ----------------------------------------------------------------------------


def test_verify_marks_the_instance_verified_and_counts_it(world: World) -> None:
    # prepare
    dataset_id = world.new_dataset(1, 2)
    instance_id = world.create_instance(dataset_id, 0, 1)
    world.join(instance_id)

    # act
    result = world.verify(instance_id)

    # assert
    assert result.event("InstanceVerified").args == {
        "instance_id": instance_id,
        "owner": world.do.address,
        "co": world.cos[1].address,
        "dataset_id": dataset_id,
        "ok": True,
    }
    assert world.market.instance(instance_id).status is InstanceStatus.VERIFIED
    assert world.market.dataset(dataset_id).verified == 1


def test_dataset_is_ready_once_every_slot_is_verified(world: World) -> None:
    # act
    setup = world.setup(3, 2)

    # assert
    dataset = world.market.dataset(setup.dataset_id)
    assert (dataset.verified, dataset.ready) == (6, True)


def test_flag_marks_the_instance_flagged_and_does_not_count_it(world: World) -> None:
    # prepare
    dataset_id = world.new_dataset()
    instance_id = world.create_instance(dataset_id, 0, 0)
    world.join(instance_id)

    # act
    result = world.verify(instance_id, ok=False)

    # assert
    assert result.event("InstanceVerified")["ok"] is False
    assert world.market.instance(instance_id).status is InstanceStatus.FLAGGED
    assert world.market.dataset(dataset_id).verified == 0


def test_verify_by_someone_else_reverts(world: World) -> None:
    # prepare
    instance_id = world.create_instance(world.new_dataset(), 0, 0)
    world.join(instance_id)

    for sender in [world.cos[0], world.mo, world.stranger]:
        # act / assert
        with reverts("training: only the dataset's owner verifies"):
            world.verify(instance_id, sender=sender)


def test_verify_before_the_join_reverts(world: World) -> None:
    # prepare
    instance_id = world.create_instance(world.new_dataset(), 0, 0)

    # act / assert
    with reverts("training: instance not joined"):
        world.verify(instance_id)


def test_verify_twice_reverts(world: World) -> None:
    # prepare: once verified or flagged, the decision stands
    dataset_id = world.new_dataset(1, 2)
    verified = world.create_instance(dataset_id, 0, 0)
    flagged = world.create_instance(dataset_id, 0, 1)
    for instance_id, ok in [(verified, True), (flagged, False)]:
        world.join(instance_id)
        world.verify(instance_id, ok)

    for instance_id in [verified, flagged]:
        for ok in [True, False]:
            # act / assert
            with reverts("training: instance not joined"):
                world.verify(instance_id, ok)
    assert world.market.dataset(dataset_id).verified == 1


# create_model -------------------------------------------------------------------------------


def test_create_model_records_its_owner_and_emits_the_rest(world: World) -> None:
    # act
    model_id, result = world.market.create_model(
        world.mo, model_type=MODEL_TYPE, method_hash=METHOD_HASH, key_hash=MO_KEY_HASH
    )

    # assert
    assert result.event("ModelCreated").args == {
        "model_id": 1,
        "owner": world.mo.address,
        "model_type": MODEL_TYPE,
        "method_hash": METHOD_HASH,
        "key_hash": MO_KEY_HASH,
    }
    assert world.market.model_owner(model_id) == world.mo.address
    model = world.market.model(model_id)
    assert (model.owner, model.model_type) == (world.mo.address, MODEL_TYPE)
    assert (model.method_hash, model.key_hash) == (METHOD_HASH, MO_KEY_HASH)
    assert world.market.model_count() == 1
    assert world.market.model_owner(UNKNOWN_ID) is None


def test_create_model_by_a_non_model_owner_reverts(world: World) -> None:
    for sender in [world.stranger, world.do, world.cos[0]]:
        # act / assert
        with reverts("training: caller is not a registered model owner"):
            world.new_model(sender=sender)


def test_create_model_with_an_empty_hash_reverts(world: World) -> None:
    for method_hash, key_hash in [(EMPTY, MO_KEY_HASH), (METHOD_HASH, EMPTY)]:
        # act / assert
        with reverts("training: empty hash"):
            world.contract.transact(
                "create_model", MODEL_TYPE, method_hash, key_hash, sender=world.mo
            )


def test_create_instance_needs_an_envelope(world: World) -> None:
    # prepare
    dataset_id = world.new_dataset(1, 1)

    # act / assert
    with reverts("training: empty envelope hash"):
        world.contract.transact(
            "create_instance", dataset_id, 0, 0, world.cos[0].address, bytes(32), sender=world.do
        )
    assert world.market.instance_at(dataset_id, 0, 0) is None
