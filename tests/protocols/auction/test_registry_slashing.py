"""Registry.vy, slashing: the admin authorizes slasher contracts, which take stake."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from eth_account.signers.local import LocalAccount
from eth_utils import keccak

from mercato.audit.auction import audit_auction
from mercato.chain.base import Chain
from mercato.chain.contract import Contract, Event, TxResult
from mercato.ontology.category import Category
from mercato.protocols.registry import Registry
from mercato.protocols.roles import Role

from ..world import EXIT_DELAY, deploy_registry, open_marketplace, register, reverts

DeployTestContract = Callable[..., Contract]
STAKE = 10**16
SLASHES_JUSTIFIED = 6
"""The auction auditor's check of slashes (mercato.audit.auction.CHECKS)."""


@pytest.fixture
def admin(accounts: list[LocalAccount]) -> LocalAccount:
    return accounts[0]


@pytest.fixture
def alice(accounts: list[LocalAccount]) -> LocalAccount:
    return accounts[1]


@pytest.fixture
def registry(chain: Chain, admin: LocalAccount) -> Registry:
    """A fresh registry; ``admin`` deployed it."""
    return Registry(chain, deploy_registry(chain, admin).address)


@pytest.fixture
def slasher(
    deploy_test_contract: DeployTestContract, registry: Registry, admin: LocalAccount
) -> Contract:
    """A slasher contract that the admin authorized."""
    contract = deploy_test_contract("Slasher", registry.address, sender=admin)
    registry.authorize_slasher(admin, contract.address)
    return contract


def staked(registry: Registry, account: LocalAccount, stake: int = STAKE) -> None:
    register(registry.contract, account, Role.COMPUTE_PROVIDER, stake=stake)


def registry_events(registry: Registry, result: TxResult) -> list[Event]:
    """The registry's events in a transaction sent to another contract."""
    return registry.contract.decode_logs(result.receipt.logs)


# authorize_slasher / freeze_slashers --------------------------------------------------------


def test_the_deployer_is_the_admin(registry: Registry, admin: LocalAccount) -> None:
    # act / assert
    assert registry.admin() == admin.address
    assert not registry.contract.call("slashers_frozen")


def test_admin_authorizes_a_slasher(
    deploy_test_contract: DeployTestContract, registry: Registry, admin: LocalAccount
) -> None:
    # prepare
    contract = deploy_test_contract("Slasher", registry.address, sender=admin)
    assert not registry.is_slasher(contract.address)

    # act
    result = registry.authorize_slasher(admin, contract.address)

    # assert
    assert result.event("SlasherAuthorized").args == {
        "slasher": contract.address,
        "admin": admin.address,
    }
    assert registry.is_slasher(contract.address)


def test_only_the_admin_authorizes_slashers(
    deploy_test_contract: DeployTestContract,
    registry: Registry,
    admin: LocalAccount,
    alice: LocalAccount,
) -> None:
    # prepare
    contract = deploy_test_contract("Slasher", registry.address, sender=alice)

    # act / assert
    with reverts("registry: only the admin authorizes slashers"):
        registry.authorize_slasher(alice, contract.address)
    assert not registry.is_slasher(contract.address)


def test_a_slasher_is_authorized_once(
    registry: Registry, slasher: Contract, admin: LocalAccount
) -> None:
    # act / assert
    with reverts("registry: slasher already authorized"):
        registry.authorize_slasher(admin, slasher.address)


def test_an_account_without_code_cannot_be_a_slasher(
    registry: Registry, admin: LocalAccount, alice: LocalAccount
) -> None:
    # act / assert: a key could take every stake at will
    with reverts("registry: slasher is not a contract"):
        registry.authorize_slasher(admin, alice.address)
    assert not registry.is_slasher(alice.address)


def test_frozen_slashers_admit_no_new_one_and_keep_the_old(
    deploy_test_contract: DeployTestContract,
    registry: Registry,
    slasher: Contract,
    admin: LocalAccount,
    alice: LocalAccount,
) -> None:
    # prepare
    staked(registry, alice)
    late = deploy_test_contract("Slasher", registry.address, sender=admin)

    # act
    result = registry.freeze_slashers(admin)

    # assert
    assert result.event("SlashersFrozen").args == {"admin": admin.address}
    assert registry.contract.call("slashers_frozen")
    with reverts("registry: slashers are frozen"):
        registry.authorize_slasher(admin, late.address)
    with reverts("registry: slashers are frozen"):
        registry.freeze_slashers(admin)
    slasher.transact("slash", alice.address, STAKE, sender=alice)
    assert registry.stake_of(alice.address) == 0


def test_only_the_admin_freezes_slashers(registry: Registry, alice: LocalAccount) -> None:
    # act / assert
    with reverts("registry: only the admin freezes slashers"):
        registry.freeze_slashers(alice)
    assert not registry.contract.call("slashers_frozen")


# slash ----------------------------------------------------------------------------------------


def test_slash_takes_the_amount_and_sends_it_to_the_slasher(
    chain: Chain, registry: Registry, slasher: Contract, alice: LocalAccount
) -> None:
    # prepare
    staked(registry, alice, 3 * STAKE)

    # act
    result = slasher.transact("slash", alice.address, STAKE, sender=alice)

    # assert
    [slashed] = registry_events(registry, result)
    assert (slashed.name, slashed.args) == (
        "Slashed",
        {"account": alice.address, "slasher": slasher.address, "amount": STAKE},
    )
    assert slasher.call("taken") == slasher.call("received") == STAKE
    assert registry.stake_of(alice.address) == 2 * STAKE
    assert chain.balance(registry.address) == 2 * STAKE
    assert chain.balance(slasher.address) == STAKE


def test_slash_takes_at_most_the_stake(
    chain: Chain, registry: Registry, slasher: Contract, alice: LocalAccount
) -> None:
    # prepare
    staked(registry, alice)

    # act
    result = slasher.transact("slash", alice.address, 5 * STAKE, sender=alice)

    # assert
    assert [e["amount"] for e in registry_events(registry, result)] == [STAKE]
    assert slasher.call("taken") == STAKE
    assert registry.stake_of(alice.address) == 0
    assert chain.balance(registry.address) == 0


def test_slash_of_an_account_without_stake_takes_nothing(
    chain: Chain, registry: Registry, slasher: Contract, alice: LocalAccount
) -> None:
    # prepare
    register(registry.contract, alice, Role.COMPUTE_PROVIDER)

    # act
    result = slasher.transact("slash", alice.address, STAKE, sender=alice)

    # assert
    assert registry_events(registry, result) == []
    assert slasher.call("taken") == slasher.call("received") == 0
    assert chain.balance(slasher.address) == 0


def test_slash_reaches_a_stake_whose_exit_is_pending(
    chain: Chain, registry: Registry, slasher: Contract, alice: LocalAccount
) -> None:
    # prepare: alice asked to leave; her stake stays within reach for EXIT_DELAY
    staked(registry, alice, 3 * STAKE)
    registry.contract.transact("request_exit", sender=alice)
    chain.time_travel(EXIT_DELAY - 600)

    # act
    slasher.transact("slash", alice.address, STAKE, sender=alice)

    # assert: she leaves with the rest
    assert registry.stake_of(alice.address) == 2 * STAKE
    chain.time_travel(600)
    result = registry.contract.transact("withdraw_stake", sender=alice)
    assert result.event("StakeWithdrawn")["amount"] == 2 * STAKE
    assert chain.balance(registry.address) == 0


def test_slash_by_an_account_reverts(
    registry: Registry, alice: LocalAccount, accounts: list[LocalAccount]
) -> None:
    # prepare
    staked(registry, alice)

    # act / assert
    with reverts("registry: caller is not an authorized slasher"):
        registry.contract.transact("slash", alice.address, STAKE, sender=accounts[2])
    assert registry.stake_of(alice.address) == STAKE


def test_slash_by_an_unauthorized_contract_reverts(
    deploy_test_contract: DeployTestContract, registry: Registry, alice: LocalAccount
) -> None:
    # prepare
    staked(registry, alice)
    rogue = deploy_test_contract("Slasher", registry.address, sender=alice)

    # act / assert
    with reverts("registry: caller is not an authorized slasher"):
        rogue.transact("slash", alice.address, STAKE, sender=alice)
    assert registry.stake_of(alice.address) == STAKE


def test_stake_of_reads_the_stake(registry: Registry, alice: LocalAccount) -> None:
    # prepare
    staked(registry, alice, 2 * STAKE)

    # act / assert
    assert registry.stake_of(alice.address) == 2 * STAKE
    assert registry.stake_of(registry.address) == 0


def test_the_auction_auditor_names_a_slasher_that_is_no_market(
    chain: Chain, deploy_test_contract: DeployTestContract, tmp_path: Path
) -> None:
    # prepare: a staked data owner bids in an auction; the admin also authorized a contract
    # that is no market of the deployment
    market, (client, arbiter, alice) = open_marketplace(
        chain, tmp_path, [(Role.CLIENT, 0), (Role.ARBITER, 0), (Role.DATA_OWNER, STAKE)]
    )
    admin = chain.dev_accounts(1)[0]
    rogue = deploy_test_contract("Slasher", market.registry.address, sender=admin)
    market.registry.authorize_slasher(admin, rogue.address)
    house = market.auction_house
    auction_id, _ = house.create(
        client.account, requirements_hash=keccak(b"requirements"), max_prices=[STAKE] * 3,
        duration=3600, min_refs=0, arbiter=arbiter.address,
    )  # fmt: skip
    house.bid(alice.account, auction_id, Category.DATA, STAKE)

    # act: the rogue slasher takes the bidder's stake while the auction runs
    rogue.transact("slash", alice.address, STAKE, sender=alice.account)
    report = audit_auction(market, auction_id, None)

    # assert: the auditor names the slasher, and nobody else
    assert report.cheaters == {f"slasher {rogue.address}": [SLASHES_JUSTIFIED]}
    [finding] = report.checks[SLASHES_JUSTIFIED - 1].findings
    assert f"data provider {alice.address}" in finding.text
