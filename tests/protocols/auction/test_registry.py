"""Registry.vy: role bitmasks, key checks, updates, and leaving with the stake after a delay."""

from __future__ import annotations

import pytest
from eth_account.signers.local import LocalAccount

from mercato.chain.base import Chain
from mercato.chain.contract import Contract
from mercato.errors import ContractRevert
from mercato.protocols.roles import Role

from ..world import EXIT_DELAY, KEY, assert_balance_change, deploy_registry, register, reverts

ALL_ROLES = 0b11111
STAKE = 10**16
OTHER_KEY = b"\x03" + bytes(range(100, 132))


@pytest.fixture
def registry(chain: Chain, accounts: list[LocalAccount]) -> Contract:
    """A fresh registry on its own."""
    return deploy_registry(chain, accounts[0])


@pytest.fixture
def alice(accounts: list[LocalAccount]) -> LocalAccount:
    return accounts[1]


def test_exit_delay_is_set_at_deployment(registry: Contract) -> None:
    # act / assert
    assert registry.call("EXIT_DELAY") == EXIT_DELAY


def test_register_records_roles_key_and_stake(
    chain: Chain, registry: Contract, alice: LocalAccount
) -> None:
    # prepare
    roles = Role.DATA_OWNER | Role.COMPUTE_PROVIDER

    # act
    result = register(registry, alice, roles, stake=STAKE)

    # assert
    assert result.event("Registered").args == {
        "account": alice.address,
        "roles": roles,
        "encryption_key": KEY,
        "stake": STAKE,
    }
    assert registry.call("roles", alice.address) == roles
    assert registry.call("encryption_key", alice.address) == KEY
    assert registry.call("stake", alice.address) == STAKE
    assert registry.call("exit_after", alice.address) == 0
    assert chain.balance(registry.address) == STAKE


def test_every_role_and_every_combination_is_accepted(
    registry: Contract, alice: LocalAccount
) -> None:
    for roles in [*Role, ALL_ROLES]:
        # act
        register(registry, alice, roles)

        # assert
        assert registry.call("roles", alice.address) == roles


def test_empty_or_unknown_roles_revert(registry: Contract, alice: LocalAccount) -> None:
    for roles in [0, 32, ALL_ROLES + 1, 64 | Role.CLIENT, 2**255, 2**256 - 1]:
        # act / assert
        with reverts("registry: unknown or empty roles"):
            register(registry, alice, roles)
    assert registry.call("roles", alice.address) == 0


def test_key_of_the_wrong_length_reverts(registry: Contract, alice: LocalAccount) -> None:
    for key in [b"", b"\x02", KEY[:32]]:
        # act / assert
        with reverts("registry: key must be 33 bytes"):
            register(registry, alice, Role.CLIENT, key)


def test_key_longer_than_33_bytes_is_refused(registry: Contract, alice: LocalAccount) -> None:
    # act / assert: the ABI decoder refuses it before any assert runs
    with pytest.raises(ContractRevert):
        register(registry, alice, Role.CLIENT, KEY + b"\x00")
    assert registry.call("roles", alice.address) == 0


def test_key_that_is_not_a_compressed_point_reverts(
    registry: Contract, alice: LocalAccount
) -> None:
    for prefix in [0x00, 0x01, 0x04, 0x06, 0xFF]:
        # act / assert
        with reverts("registry: key is not a compressed point"):
            register(registry, alice, Role.CLIENT, bytes([prefix]) + KEY[1:])


def test_both_compressed_prefixes_are_accepted(registry: Contract, alice: LocalAccount) -> None:
    for key in [KEY, OTHER_KEY]:
        # act
        register(registry, alice, Role.CLIENT, key)

        # assert
        assert registry.call("encryption_key", alice.address) == key


def test_registering_again_updates_roles_and_key_and_adds_to_the_stake(
    chain: Chain, registry: Contract, alice: LocalAccount
) -> None:
    # prepare
    register(registry, alice, Role.DATA_OWNER, KEY, stake=STAKE)

    # act
    result = register(registry, alice, Role.MODEL_OWNER | Role.CLIENT, OTHER_KEY, stake=STAKE)

    # assert
    assert result.event("Registered")["stake"] == 2 * STAKE
    assert registry.call("roles", alice.address) == Role.MODEL_OWNER | Role.CLIENT
    assert registry.call("encryption_key", alice.address) == OTHER_KEY
    assert registry.call("stake", alice.address) == 2 * STAKE
    assert not registry.call("has_role", alice.address, int(Role.DATA_OWNER))
    assert chain.balance(registry.address) == 2 * STAKE


def test_has_role_needs_every_bit_asked_for(
    registry: Contract, alice: LocalAccount, accounts: list[LocalAccount]
) -> None:
    # prepare
    register(registry, alice, Role.DATA_OWNER | Role.CLIENT)

    # act
    def has(account: LocalAccount, role: int) -> bool:
        return bool(registry.call("has_role", account.address, role))

    # assert
    assert has(alice, Role.DATA_OWNER)
    assert has(alice, Role.CLIENT)
    assert has(alice, Role.DATA_OWNER | Role.CLIENT)
    assert not has(alice, Role.DATA_OWNER | Role.MODEL_OWNER)
    assert not has(alice, Role.ARBITER)
    assert not has(alice, 0)
    assert not has(accounts[2], Role.CLIENT)
    assert not has(accounts[2], 0)


def test_request_exit_drops_every_role_and_keeps_the_stake(
    chain: Chain, registry: Contract, alice: LocalAccount
) -> None:
    # prepare
    register(registry, alice, Role.COMPUTE_PROVIDER, stake=STAKE)

    # act
    result = registry.transact("request_exit", sender=alice)

    # assert
    exit_after = chain.timestamp() + EXIT_DELAY
    assert result.event("ExitRequested").args == {
        "account": alice.address,
        "exit_after": exit_after,
    }
    assert registry.call("exit_after", alice.address) == exit_after
    assert registry.call("roles", alice.address) == 0
    assert not registry.call("has_role", alice.address, int(Role.COMPUTE_PROVIDER))
    assert registry.call("stake", alice.address) == STAKE


def test_request_exit_when_not_registered_reverts(registry: Contract, alice: LocalAccount) -> None:
    # act / assert
    with reverts("registry: not registered"):
        registry.transact("request_exit", sender=alice)


def test_requesting_exit_twice_reverts(registry: Contract, alice: LocalAccount) -> None:
    # prepare
    register(registry, alice, Role.CLIENT)
    registry.transact("request_exit", sender=alice)

    # act / assert
    with reverts("registry: not registered"):
        registry.transact("request_exit", sender=alice)


def test_register_during_an_exit_reverts(registry: Contract, alice: LocalAccount) -> None:
    # prepare
    register(registry, alice, Role.CLIENT, stake=STAKE)
    registry.transact("request_exit", sender=alice)

    # act / assert: re-registering cannot cancel the exit and keep the stake locked in roles
    with reverts("registry: exit in progress"):
        register(registry, alice, Role.CLIENT)


def test_withdraw_stake_without_an_exit_reverts(registry: Contract, alice: LocalAccount) -> None:
    # prepare
    register(registry, alice, Role.CLIENT, stake=STAKE)

    # act / assert
    with reverts("registry: no exit requested"):
        registry.transact("withdraw_stake", sender=alice)


def test_withdraw_stake_before_the_exit_delay_reverts(
    chain: Chain, registry: Contract, alice: LocalAccount
) -> None:
    # prepare
    register(registry, alice, Role.CLIENT, stake=STAKE)
    registry.transact("request_exit", sender=alice)
    chain.time_travel(EXIT_DELAY - 600)

    # act / assert
    with reverts("registry: exit delay not over"):
        registry.transact("withdraw_stake", sender=alice)
    assert registry.call("stake", alice.address) == STAKE


def test_withdraw_stake_after_the_exit_delay_pays_the_stake(
    chain: Chain, registry: Contract, alice: LocalAccount
) -> None:
    # prepare
    register(registry, alice, Role.CLIENT, stake=STAKE)
    registry.transact("request_exit", sender=alice)
    chain.time_travel(EXIT_DELAY)
    before = chain.balance(alice.address)

    # act
    result = registry.transact("withdraw_stake", sender=alice)

    # assert
    assert result.event("StakeWithdrawn").args == {"account": alice.address, "amount": STAKE}
    assert_balance_change(chain, before, chain.balance(alice.address), STAKE, result.gas_used)
    assert chain.balance(registry.address) == 0
    assert registry.call("stake", alice.address) == 0
    assert registry.call("exit_after", alice.address) == 0


def test_withdrawing_the_stake_twice_reverts(
    chain: Chain, registry: Contract, alice: LocalAccount
) -> None:
    # prepare
    register(registry, alice, Role.CLIENT, stake=STAKE)
    registry.transact("request_exit", sender=alice)
    chain.time_travel(EXIT_DELAY)
    registry.transact("withdraw_stake", sender=alice)

    # act / assert
    with reverts("registry: no exit requested"):
        registry.transact("withdraw_stake", sender=alice)


def test_exit_without_stake_completes(
    chain: Chain, registry: Contract, alice: LocalAccount
) -> None:
    # prepare
    register(registry, alice, Role.ARBITER)
    registry.transact("request_exit", sender=alice)
    chain.time_travel(EXIT_DELAY)

    # act
    result = registry.transact("withdraw_stake", sender=alice)

    # assert
    assert result.event("StakeWithdrawn")["amount"] == 0
    assert registry.call("exit_after", alice.address) == 0


def test_participant_may_register_again_after_leaving(
    chain: Chain, registry: Contract, alice: LocalAccount
) -> None:
    # prepare
    register(registry, alice, Role.CLIENT, stake=STAKE)
    registry.transact("request_exit", sender=alice)
    chain.time_travel(EXIT_DELAY)
    registry.transact("withdraw_stake", sender=alice)

    # act
    register(registry, alice, Role.MODEL_OWNER)

    # assert
    assert registry.call("has_role", alice.address, int(Role.MODEL_OWNER))
    assert registry.call("stake", alice.address) == 0


def test_stakes_of_participants_are_kept_apart(
    chain: Chain, registry: Contract, accounts: list[LocalAccount]
) -> None:
    # prepare
    alice, bob = accounts[1], accounts[2]
    register(registry, alice, Role.CLIENT, stake=STAKE)
    register(registry, bob, Role.ARBITER, stake=3 * STAKE)
    registry.transact("request_exit", sender=alice)
    chain.time_travel(EXIT_DELAY)

    # act
    registry.transact("withdraw_stake", sender=alice)

    # assert
    assert chain.balance(registry.address) == 3 * STAKE
    assert registry.call("stake", bob.address) == 3 * STAKE
    with reverts("registry: no exit requested"):
        registry.transact("withdraw_stake", sender=bob)
