"""Registering an API, joining it, accepting it, and cancelling it at the join deadline."""

from __future__ import annotations

from typing import Any

import pytest
from eth_utils.crypto import keccak

from mercato.chain.contract import Contract
from mercato.errors import ContractRevert

from ..world import HOUR, ZERO_ADDRESS, reverts
from .world import (
    CANCELLED,
    COMPONENT_HASHES,
    JOINING,
    LIVE,
    MARGIN,
    MODEL_ROOT,
    MODEL_TREE,
    ORCHESTRATOR_STAKE,
    PERIODS,
    PRICE,
    VENDOR_STAKE,
    World,
)

YEAR = 365 * 86400


@pytest.mark.parametrize(
    ("options", "reason"),
    [
        ({"model_root": bytes(32)}, "empty hash"),
        ({"doc_hash": bytes(32)}, "empty hash"),
        ({"components": 0, "shares": []}, "components out of range"),
        ({"components": 9}, "components out of range"),
        ({"shares": [1]}, "one share per component"),
        ({"slot_components": [0, 0, 1], "slot_vendors": 4}, "one component per slot vendor"),
        ({"slot_components": [], "slot_vendors": []}, "one component per slot vendor"),
        ({"orchestrator": ZERO_ADDRESS}, "orchestrator must be another party"),
        ({"slot_components": [0, 0, 9, 1]}, "a slot names no component"),
        ({"slot_components": [0, 0, 0, 0]}, "a component has no slot"),
        ({"price": 0}, "price is 0 or below the shares"),
        ({"price": 5 * 10**14 - 1}, "price is 0 or below the shares"),
        ({"periods": (0, HOUR, HOUR, HOUR, HOUR)}, "a period is out of range"),
        ({"periods": (HOUR, HOUR, HOUR, YEAR + 1, HOUR)}, "a period is out of range"),
        ({"periods": (HOUR, HOUR, HOUR, HOUR, HOUR - 1)}, "term out of range"),
        ({"periods": (HOUR, HOUR, HOUR, HOUR, 11 * YEAR)}, "term out of range"),
    ],
)
def test_register_refuses_bad_terms(world: World, options: dict[str, Any], reason: str) -> None:
    with reverts(f"apimarket: {reason}"):
        world.register_api(**options)


def test_register_refuses_parties_in_two_roles(world: World) -> None:
    v = [x.address for x in world.vendors]
    with reverts("apimarket: orchestrator must be another party"):
        world.register_api(orchestrator=world.provider.address)
    with reverts("apimarket: a vendor must be another party"):
        world.register_api(slot_vendors=[v[0], v[1], world.provider.address, v[3]])
    with reverts("apimarket: a vendor must be another party"):
        world.register_api(slot_vendors=[v[0], world.orchestrator.address, v[2], v[3]])
    with reverts("apimarket: a vendor must be another party"):
        world.register_api(slot_vendors=[v[0], v[1], ZERO_ADDRESS, v[3]])
    with reverts("apimarket: a vendor holds one slot"):
        world.register_api(slot_vendors=[v[0], v[1], v[0], v[3]])


def test_register_needs_a_model_owner_or_client(world: World) -> None:
    with reverts("apimarket: caller is not a registered model owner or client"):
        world.register_api(sender=world.stranger)
    with reverts("apimarket: caller is not a registered model owner or client"):
        world.register_api(sender=world.vendors[5])
    api, result = world.register_api(sender=world.consumers[0])  # a P4 buyer is a client
    event = result.event("ApiRegistered")
    assert event["api"] == api and event["provider"] == world.consumers[0].address
    assert event["model_root"] == MODEL_ROOT and event["periods"] == PERIODS
    a = world.api(api)
    assert a.status == JOINING and a.join_deadline == event["join_deadline"]
    assert a.locked == 0 and a.provider == world.consumers[0].address


def test_register_with_a_purchase_shows_its_score(world: World) -> None:
    buyer = world.consumers[1]
    seller = world.vendors[5].address
    root = keccak(b"plain root")
    world.fake_p4.transact(
        "set_purchase", 7, 2, (buyer.address, seller, root, 912_000, True), sender=buyer
    )
    world.fake_p4.transact(
        "set_purchase", 7, 3, (buyer.address, seller, root, 1, False), sender=buyer
    )
    p4 = world.fake_p4.address

    with reverts("apimarket: provider did not buy that model"):
        world.register_api(purchase=(p4, 7, 2), sender=world.provider)
    with reverts("apimarket: that purchase is not paid"):
        world.register_api(purchase=(p4, 7, 3), sender=buyer)
    api, result = world.register_api(purchase=(p4, 7, 2), sender=buyer)

    shown = result.event("PurchaseShown")
    assert shown["api"] == api and shown["model_market"] == p4
    assert (shown["request_id"], shown["index"], shown["seller"]) == (7, 2, seller)
    assert shown["plain_root"] == root and shown["score"] == 912_000


def test_join_and_accept_rules(world: World) -> None:
    api = world.registered()
    with reverts("apimarket: caller is not that slot's vendor"):
        world.join(api, 0, sender=world.vendors[1])
    with reverts("apimarket: caller is not that slot's vendor"):
        world.join(api, 4, sender=world.vendors[4])
    with reverts("apimarket: send the vendor stake"):
        world.join(api, 0, value=VENDOR_STAKE - 1)
    with reverts("apimarket: empty hash"):
        world.join(api, 0, endpoint_hash=bytes(32))
    result = world.join(api, 0)
    joined = result.event("Joined")
    assert (joined["slot"], joined["component"], joined["stake"]) == (0, 0, VENDOR_STAKE)
    with reverts("apimarket: already joined"):
        world.join(api, 0)
    with reverts("apimarket: caller is not the orchestrator"):
        world.accept(api, sender=world.vendors[4])
    with reverts("apimarket: send the orchestrator stake"):
        world.accept(api, value=ORCHESTRATOR_STAKE + 1)
    world.accept(api)
    with reverts("apimarket: already accepted"):
        world.accept(api)
    assert world.api(api).status == JOINING
    for slot in (1, 2):
        world.join(api, slot)
    result = world.join(api, 3)  # the last one in starts the API
    live = result.event("ApiLive")
    a = world.api(api)
    assert a.status == LIVE and live["start"] == a.start and live["last_epoch"] == 1
    assert a.locked == 4 * VENDOR_STAKE + ORCHESTRATOR_STAKE
    with reverts("apimarket: not taking vendors"):
        world.join(api, 0)
    with reverts("apimarket: not taking the orchestrator"):
        world.accept(api)
    with reverts("apimarket: not joining"):
        world.market.transact("advance", api, sender=world.stranger)
    world.assert_escrow()


def test_roles_are_checked_when_joining(world: World) -> None:
    consumer = world.consumers[2]
    api = world.registered(
        slot_vendors=[
            world.vendors[0].address,
            world.vendors[1].address,
            consumer.address,
            world.vendors[3].address,
        ],
        orchestrator=world.consumers[1].address,
    )
    with reverts("apimarket: caller is not a compute provider"):
        world.join(api, 2, sender=consumer)
    with reverts("apimarket: caller is not a compute provider"):
        world.accept(api, sender=world.consumers[1])


def test_cancel_at_the_join_deadline_refunds_everyone(world: World) -> None:
    api = world.registered()
    world.join(api, 0)
    world.join(api, 3)
    world.accept(api)
    alice = world.consumers[0]
    world.deposit(api, alice, 3 * PRICE)
    owed = {a.address: world.owed(a) for a in world.cast}
    with reverts("apimarket: join deadline not reached"):
        world.market.transact("advance", api, sender=world.stranger)
    world.travel_to(world.api(api).join_deadline - MARGIN)
    with reverts("apimarket: join deadline not reached"):
        world.market.transact("advance", api, sender=world.stranger)

    world.travel_to(world.api(api).join_deadline)
    with reverts("apimarket: not taking vendors"):
        world.join(api, 1)
    result = world.market.transact("advance", api, sender=world.stranger)

    ended = result.event("ApiEnded")
    assert ended["status"] == CANCELLED
    assert (
        ended["stakes"] == 2 * VENDOR_STAKE + ORCHESTRATOR_STAKE and ended["deposits"] == 3 * PRICE
    )
    gained = {a.address: world.owed(a) - owed[a.address] for a in world.cast}
    assert gained[world.vendors[0].address] == VENDOR_STAKE
    assert gained[world.vendors[3].address] == VENDOR_STAKE
    assert gained[world.vendors[1].address] == 0
    assert gained[world.orchestrator.address] == ORCHESTRATOR_STAKE
    assert gained[alice.address] == 3 * PRICE
    a = world.api(api)
    assert a.status == CANCELLED and a.locked == 0
    with reverts("apimarket: not joining"):
        world.market.transact("advance", api, sender=world.stranger)
    with reverts("apimarket: not taking deposits"):
        world.deposit(api, alice, PRICE)
    world.assert_escrow()


def test_unknown_api(world: World) -> None:
    with reverts("apimarket: unknown api"):
        world.market.transact("advance", 10**6, sender=world.stranger)
    with reverts("apimarket: unknown api"):
        world.deposit(10**6, world.consumers[0], 1)


def test_component_at_proves_the_model_signature(world: World) -> None:
    api = world.registered()
    for j, component_hash in enumerate(COMPONENT_HASHES):
        assert world.market.call("component_at", api, j, component_hash, MODEL_TREE.proof(j))
    assert not world.market.call("component_at", api, 1, COMPONENT_HASHES[0], MODEL_TREE.proof(0))
    assert not world.market.call("component_at", api, 0, keccak(b"other"), MODEL_TREE.proof(0))
    assert not world.market.call("component_at", 10**6, 0, COMPONENT_HASHES[0], MODEL_TREE.proof(0))


def test_the_market_needs_a_registry(world: World) -> None:
    with pytest.raises(ContractRevert) as info:
        Contract.deploy(world.chain, "ApiMarket", ZERO_ADDRESS, sender=world.deployer)
    assert info.value.reason == "apimarket: registry is the zero address"
