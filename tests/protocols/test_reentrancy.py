"""Re-entrancy: a participant contract re-enters from its receive function in every payout path.

Every wei a Mercato contract sends leaves through one of three ``raw_call``s (the contracts
use no ``send``):

- escrow.vy's ``withdraw``, exported by AuctionHouse, TrainingMarket, DataMarket,
  ModelMarket and ApiMarket: payouts are pull-based, so every credit of every protocol
  (pay, refund, returned stake or deposit) is paid here;
- Registry's ``withdraw_stake``: a participant takes its stake back after the exit delay;
- Registry's ``slash``: the registry pays the slasher. A participant cannot reach this path
  on its own: only a contract the registry's admin authorized may slash, and the admin
  authorizes only vetted protocol contracts (whose receive functions re-enter nothing).
  Here the admin authorizes the attacker, the worst case of a vetted slasher that turns
  hostile.

tests/contracts_for_tests/Reentrant.vy takes part in each protocol as an ordinary
participant (it registers and acts through ``execute``) until it is owed money, through the
cheapest credit of each protocol (and for the auction also a winner's pay). Then it takes
the money, and its ``__default__`` calls the paying function again, once. Whether it
swallows the failure of that re-entry or lets it revert the payment, it is paid exactly what
it was owed, at most once, and each contract's books balance afterwards (its balance equals
what it locks plus what it owes, or the stakes it holds).

One embedded chain serves the module; each test deploys its own contracts on it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from eth_account.signers.local import LocalAccount

from mercato.chain.base import Chain
from mercato.chain.contract import Contract, TxResult
from mercato.chain.embedded import EmbeddedChain
from mercato.errors import ContractRevert
from mercato.protocols.datamarket.market import Mode
from mercato.protocols.datamarket.rules import task_multiple
from mercato.protocols.roles import Role

from .apimarket import world as api_world
from .auction import world as auction_world
from .datamarket import world as data_world
from .modelmarket import world as model_world
from .training import world as training_world
from .world import EXIT_DELAY, KEY, deploy_registry, register

DeployTestContract = Callable[..., Contract]
"""The ``deploy_test_contract`` fixture of tests/conftest.py."""

STAKE = 5 * 10**15
DEPOSIT = 7 * 10**15
OPERATOR = 15
"""The development account that operates the attacker (no world's cast uses it)."""


@dataclass(frozen=True)
class Owed:
    """An attacker that a contract owes money, and how it takes it.

    ``payer`` pays ``amount`` when the attacker sends it ``pay`` (calldata); ``held()`` is
    what the payer still holds for this payout (drops by ``amount`` once paid), ``books()``
    asserts that the payer's balance is what it locks and owes.
    """

    chain: Chain
    operator: LocalAccount
    attacker: Contract
    payer: Contract
    pay: bytes
    amount: int
    held: Callable[[], int]
    books: Callable[[], None]


# the attacker ---------------------------------------------------------------------------------
def act(
    attacker: Contract,
    operator: LocalAccount,
    target: Contract,
    fn: str,
    *args: object,
    value: int = 0,
) -> TxResult:
    """The attacker calls ``target.fn(*args)`` with ``value``; returns the target's events."""
    data = target.abi.encode_call(fn, args)
    result = attacker.transact("execute", target.address, data, sender=operator, value=value)
    return TxResult(result.receipt, target)


def enrol(
    deploy: DeployTestContract, registry: Contract, roles: int, stake: int = 0
) -> tuple[Contract, LocalAccount]:
    """A fresh attacker registered with ``roles`` (and ``stake``), and its operator."""
    operator = registry.chain.dev_accounts(OPERATOR + 1)[OPERATOR]
    attacker = deploy("Reentrant", sender=operator)
    act(attacker, operator, registry, "register", int(roles), KEY, value=stake)
    return attacker, operator


def escrow_owed(
    chain: Chain,
    operator: LocalAccount,
    attacker: Contract,
    payer: Contract,
    books: Callable[[], None],
) -> Owed:
    """What ``payer`` owes the attacker in its escrow, taken by ``withdraw``."""
    amount = int(payer.call("owed", attacker.address))
    assert amount > 0
    return Owed(
        chain=chain,
        operator=operator,
        attacker=attacker,
        payer=payer,
        pay=payer.abi.encode_call("withdraw", []),
        amount=amount,
        held=lambda: int(payer.call("owed", attacker.address)),
        books=books,
    )


def owed_to(contract: Contract, accounts: list[str]) -> int:
    """The sum of what ``contract`` owes ``accounts``."""
    return sum(int(contract.call("owed", a)) for a in accounts)


# one way into each payout path ----------------------------------------------------------------
def auction_client_refund(chain: Chain, deploy: DeployTestContract) -> Owed:
    """The attacker opens an auction as the client; adjudicating credits its unspent reserve."""
    market = auction_world.deploy_world(chain, chain.dev_accounts(10))
    attacker, operator = enrol(deploy, market.registry, Role.CLIENT)
    created = act(
        attacker,
        operator,
        market.house,
        "create_auction",
        auction_world.REQUIREMENTS_HASH,
        list(auction_world.MAX_PRICES),
        auction_world.BIDDING,
        0,
        market.arbiter.address,
        value=sum(auction_world.MAX_PRICES),
    )
    auction_id = int(created.event("AuctionCreated")["auction_id"])
    market.bid_all(auction_id)
    act(attacker, operator, market.house, "adjudicate", auction_id)
    return escrow_owed(
        chain, operator, attacker, market.house, lambda: auction_books(market, attacker)
    )


def auction_winner_pay(chain: Chain, deploy: DeployTestContract) -> Owed:
    """The attacker wins an auction's data category; the client's confirmation credits it."""
    market = auction_world.deploy_world(chain, chain.dev_accounts(10))
    attacker, operator = enrol(deploy, market.registry, Role.DATA_OWNER)
    auction_id = market.open()
    data, price = auction_world.DATA, auction_world.BIDS[auction_world.DATA]
    act(attacker, operator, market.house, "bid", auction_id, data, price, [])
    market.bid(auction_id, auction_world.ALGORITHM, auction_world.BIDS[auction_world.ALGORITHM])
    infrastructure = auction_world.INFRASTRUCTURE
    market.bid(auction_id, infrastructure, auction_world.BIDS[infrastructure])
    market.house.transact("adjudicate", auction_id, sender=market.client)
    market.deliver(auction_id)
    market.house.transact("confirm", auction_id, sender=market.client)
    return escrow_owed(
        chain, operator, attacker, market.house, lambda: auction_books(market, attacker)
    )


def auction_books(market: auction_world.World, attacker: Contract) -> None:
    """The house holds what its auctions lock plus what it owes."""
    count = int(market.house.call("next_auction_id"))
    locked = sum(auction_world.locked(market.state(i)) for i in range(1, count))
    owed = owed_to(market.house, [a.address for a in market.cast] + [attacker.address])
    assert market.balance() == locked + owed


def training_model_owner_refund(chain: Chain, deploy: DeployTestContract) -> Owed:
    """The attacker requests a training as its model owner, then cancels it: a full refund."""
    world = training_world.deploy_world(chain, chain.dev_accounts(10))
    setup = world.setup()
    attacker, operator = enrol(deploy, world.registry, Role.MODEL_OWNER)
    contract = world.contract
    created = act(
        attacker,
        operator,
        contract,
        "create_model",
        training_world.MODEL_TYPE,
        training_world.METHOD_HASH,
        training_world.MO_KEY_HASH,
    )
    model_id = int(created.event("ModelCreated")["model_id"])
    escrowed = world.market.dataset(setup.dataset_id).escrow_for(1, 1)
    requested = act(
        attacker,
        operator,
        contract,
        "request_training",
        model_id,
        setup.dataset_id,
        1,
        1,
        value=escrowed,
    )
    training_id = int(requested.event("TrainingRequested")["training_id"])
    act(attacker, operator, contract, "cancel", training_id)

    def books() -> None:
        # the one training is cancelled: the market locks nothing, it only owes
        owed = owed_to(contract, [a.address for a in world.cast] + [attacker.address])
        assert world.balance() == owed

    return escrow_owed(chain, operator, attacker, contract, books)


def datamarket_model_owner_refund(chain: Chain, deploy: DeployTestContract) -> Owed:
    """The attacker posts a task nobody joins; advancing past the join deadline refunds it."""
    world = data_world.deploy_world(chain, chain.dev_accounts(10))
    attacker, operator = enrol(deploy, world.registry, Role.MODEL_OWNER)
    contract = world.contract
    data_owners, rounds = 3, 1
    posted = act(
        attacker,
        operator,
        contract,
        "post_task",
        data_world.MODEL_HASH,
        data_world.SPEC_HASH,
        data_owners,
        rounds,
        int(Mode.ROBUST),
        0,
        task_multiple(Mode.ROBUST),
        data_world.JOIN_PERIOD,
        data_world.PHASE_PERIOD,
        data_world.AGGREGATE_PERIOD,
        value=data_world.PER_UPDATE * data_owners * rounds,
    )
    task_id = int(posted.event("TaskPosted")["task_id"])
    world.pass_deadline(task_id)
    contract.transact("advance", task_id, sender=world.stranger)

    def books() -> None:
        # the one task is cancelled: the market locks nothing, it only owes
        owed = owed_to(contract, [a.address for a in world.cast] + [attacker.address])
        assert world.balance() == owed

    return escrow_owed(chain, operator, attacker, contract, books)


def modelmarket_buyer_refund(chain: Chain, deploy: DeployTestContract) -> Owed:
    """The attacker posts a request as the buyer and never reveals the sample: the request is
    cancelled at the sample deadline and everything it locked refunded."""
    world = model_world.deploy_world(chain, chain.dev_accounts(10))
    attacker, operator = enrol(deploy, world.registry, Role.CLIENT)
    contract = world.contract
    schedule = model_world.SCHEDULE
    posted = act(
        attacker,
        operator,
        contract,
        "post_request",
        model_world.TASK_HASH,
        model_world.new_test_set().root,
        model_world.GROUPS,
        model_world.SAMPLE,
        [score for score, _ in schedule],
        [price for _, price in schedule],
        model_world.K,
        model_world.EXECUTORS,
        model_world.SELLER_STAKE,
        model_world.EXECUTOR_STAKE,
        model_world.EXECUTOR_FEE,
        model_world.BOND,
        model_world.PERIODS.as_tuple(),
        value=model_world.ESCROWED,
    )
    request_id = int(posted.event("RequestPosted")["request_id"])
    world.pass_deadline(request_id)
    contract.transact("advance", request_id, sender=world.stranger)

    def books() -> None:
        owed = sum(world.owed_all().values()) + world.owed(attacker.address)
        assert world.balance() == world.locked() + owed

    return escrow_owed(chain, operator, attacker, contract, books)


def apimarket_deposit_back(chain: Chain, deploy: DeployTestContract) -> Owed:
    """The attacker deposits for calls to an API still joining, then takes the deposit back."""
    world = api_world.deploy_world(chain)
    api = world.registered()
    attacker, operator = enrol(deploy, world.registry, Role.CLIENT)
    act(attacker, operator, world.market, "deposit", api, value=DEPOSIT)
    act(attacker, operator, world.market, "withdraw_deposit", api)

    def books() -> None:
        owed = world.owed_all() + world.owed(attacker.address)
        assert chain.balance(world.market.address) == world.locked_all() + owed

    return escrow_owed(chain, operator, attacker, world.market, books)


def registry_stake_back(chain: Chain, deploy: DeployTestContract) -> Owed:
    """The attacker registers with a stake, asks to leave and waits out the exit delay."""
    deployer, honest = chain.dev_accounts(2)
    registry = deploy_registry(chain, deployer)
    register(registry, honest, Role.DATA_OWNER, stake=STAKE)
    attacker, operator = enrol(deploy, registry, Role.DATA_OWNER, stake=STAKE)
    act(attacker, operator, registry, "request_exit")
    chain.time_travel(EXIT_DELAY)
    stakers = [honest.address, attacker.address]
    return Owed(
        chain=chain,
        operator=operator,
        attacker=attacker,
        payer=registry,
        pay=registry.abi.encode_call("withdraw_stake", []),
        amount=STAKE,
        held=lambda: int(registry.call("stake", attacker.address)),
        books=lambda: registry_books(registry, stakers),
    )


def registry_slash(chain: Chain, deploy: DeployTestContract) -> Owed:
    """The admin authorizes the attacker as a slasher; it slashes an honest participant."""
    deployer, victim = chain.dev_accounts(2)
    registry = deploy_registry(chain, deployer)
    register(registry, victim, Role.COMPUTE_PROVIDER, stake=STAKE)
    attacker, operator = enrol(deploy, registry, Role.DATA_OWNER)
    registry.transact("authorize_slasher", attacker.address, sender=deployer)
    amount = STAKE // 2  # a re-entry that slipped through would find stake left to take
    stakers = [victim.address, attacker.address]
    return Owed(
        chain=chain,
        operator=operator,
        attacker=attacker,
        payer=registry,
        pay=registry.abi.encode_call("slash", [victim.address, amount]),
        amount=amount,
        held=lambda: int(registry.call("stake", victim.address)),
        books=lambda: registry_books(registry, stakers),
    )


def registry_books(registry: Contract, stakers: list[str]) -> None:
    """The registry holds exactly the stakes of ``stakers`` (everyone who ever staked)."""
    stakes = sum(int(registry.call("stake", a)) for a in stakers)
    assert registry.chain.balance(registry.address) == stakes


Path = Callable[[Chain, DeployTestContract], Owed]
"""One way into a payout path: the attacker ends up owed money."""
PATHS: list[Path] = [
    auction_client_refund,
    auction_winner_pay,
    training_model_owner_refund,
    datamarket_model_owner_refund,
    modelmarket_buyer_refund,
    apimarket_deposit_back,
    registry_stake_back,
    registry_slash,
]


# the module's chain ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def chain() -> Iterator[Chain]:
    """One embedded chain for the module; every test deploys its own contracts."""
    embedded = EmbeddedChain()
    try:
        yield embedded
    finally:
        embedded.close()


# the attack -----------------------------------------------------------------------------------
@pytest.mark.parametrize("path", PATHS, ids=[p.__name__ for p in PATHS])
def test_a_swallowed_reentry_changes_nothing_and_pays_once(
    chain: Chain, deploy_test_contract: DeployTestContract, path: Path
) -> None:
    # prepare: the attacker is owed money and re-enters the paying function when paid
    owed = path(chain, deploy_test_contract)
    attacker, payer = owed.attacker, owed.payer
    attacker.transact("arm", payer.address, owed.pay, False, sender=owed.operator)
    held = owed.held()
    attacker_before, payer_before = chain.balance(attacker.address), chain.balance(payer.address)

    # act
    attacker.transact("execute", payer.address, owed.pay, sender=owed.operator)

    # assert: paid exactly once what it was owed; the re-entry failed
    assert attacker.call("reentered") is True
    assert attacker.call("reentry_succeeded") is False
    assert attacker.call("payments") == 1
    assert chain.balance(attacker.address) == attacker_before + owed.amount
    assert chain.balance(payer.address) == payer_before - owed.amount
    assert owed.held() == held - owed.amount
    owed.books()


@pytest.mark.parametrize("path", PATHS, ids=[p.__name__ for p in PATHS])
def test_a_propagated_reentry_reverts_the_payment(
    chain: Chain, deploy_test_contract: DeployTestContract, path: Path
) -> None:
    # prepare: the failure of the re-entry reverts the payment that triggered it
    owed = path(chain, deploy_test_contract)
    attacker, payer = owed.attacker, owed.payer
    attacker.transact("arm", payer.address, owed.pay, True, sender=owed.operator)
    held = owed.held()
    attacker_before, payer_before = chain.balance(attacker.address), chain.balance(payer.address)

    # act / assert: the re-entry hits the reentrancy lock, which reverts without a reason
    with pytest.raises(ContractRevert) as info:
        attacker.transact("execute", payer.address, owed.pay, sender=owed.operator)
    assert info.value.reason == ""

    # assert: nothing moved; the money is still held for the attacker
    assert attacker.call("payments") == 0
    assert chain.balance(attacker.address) == attacker_before
    assert chain.balance(payer.address) == payer_before
    assert owed.held() == held
    owed.books()
