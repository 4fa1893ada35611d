"""The registry's wrapper: `enrol` adds roles (or replaces them) and sends nothing needless."""

from __future__ import annotations

import pytest
from eth_account.signers.local import LocalAccount

from mercato.chain.base import Chain
from mercato.protocols.identity import Identity
from mercato.protocols.registry import Registry
from mercato.protocols.roles import Role

from .world import deploy_registry


@pytest.fixture
def registry(chain: Chain, accounts: list[LocalAccount]) -> Registry:
    return Registry(chain, deploy_registry(chain, accounts[0]).address)


@pytest.fixture
def alice(accounts: list[LocalAccount]) -> Identity:
    return Identity(accounts[1])


def test_enrol_adds_the_roles_to_those_held(registry: Registry, alice: Identity) -> None:
    # prepare
    registry.enrol(alice, Role.CLIENT)

    # act
    result = registry.enrol(alice, Role.ARBITER | Role.DATA_OWNER)

    # assert
    assert result is not None
    assert result.event("Registered")["roles"] == Role.CLIENT | Role.ARBITER | Role.DATA_OWNER
    assert registry.roles_of(alice.address) == Role.CLIENT | Role.ARBITER | Role.DATA_OWNER
    assert registry.encryption_key(alice.address) == alice.encryption_public


def test_enrol_with_replace_holds_exactly_the_roles_given(
    registry: Registry, alice: Identity
) -> None:
    # prepare
    registry.enrol(alice, Role.CLIENT | Role.ARBITER)

    # act
    registry.enrol(alice, Role.MODEL_OWNER, replace=True)

    # assert
    assert registry.roles_of(alice.address) == Role.MODEL_OWNER


@pytest.mark.parametrize("replace", [False, True])
def test_enrol_sends_nothing_when_the_account_would_stay_as_it_is(
    chain: Chain, registry: Registry, alice: Identity, replace: bool
) -> None:
    # prepare
    registry.enrol(alice, Role.CLIENT)
    head = chain.block_number()

    # act
    result = registry.enrol(alice, Role.CLIENT, replace=replace)

    # assert
    assert result is None
    assert chain.block_number() == head


def test_enrol_adds_stake_to_roles_already_held(registry: Registry, alice: Identity) -> None:
    # prepare
    registry.enrol(alice, Role.CLIENT, stake=5)

    # act
    result = registry.enrol(alice, Role.CLIENT, stake=7)

    # assert
    assert result is not None
    assert registry.stake_of(alice.address) == 12
    assert registry.roles_of(alice.address) == Role.CLIENT


def test_role_labels_are_the_command_lines_names_in_bit_order() -> None:
    # act / assert
    assert (Role.ARBITER | Role.CLIENT | Role.COMPUTE_PROVIDER).labels == [
        "compute-provider",
        "client",
        "arbiter",
    ]
    assert Role(0).labels == []
    assert Role.parse(",".join(Role.ARBITER.labels + Role.DATA_OWNER.labels)) == (
        Role.ARBITER | Role.DATA_OWNER
    )
