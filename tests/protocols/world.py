"""The test world every protocol's tests stand on: a chain, a registry, a cast, a contract.

Each protocol's ``world.py`` extends :class:`ProtocolWorld` with its contract, its cast and
one short-hand per protocol step; what they all repeat lives here once:

- :func:`reverts`, the one way a test expects a contract to refuse;
- deploying a registry, registering an account or a whole cast with roles, stake and key;
- reading what a contract owes and holds, an account's stake, the registry's events of a
  transaction sent elsewhere; time travel past an entry's deadline; mining blocks;
- :func:`assert_balance_change`, an account's balance moved by an amount less its gas fee;
- for the escrow property tests (hypothesis), :class:`ProtocolMachine`, the base of their
  state machines, and the strategies that pick the actor and the entry of a step;
- for the off-chain worlds (agents, stores, real keys), :func:`open_marketplace`: every
  contract deployed and the cast's identities registered.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import count
from pathlib import Path
from typing import Any

import pytest
from eth_account.signers.local import LocalAccount
from eth_utils.crypto import keccak
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine

from mercato.chain.base import Chain, TxRequest
from mercato.chain.contract import Contract, Event, TxResult
from mercato.errors import ContractRevert
from mercato.protocols.deployment import deploy
from mercato.protocols.identity import Identity
from mercato.protocols.marketplace import Marketplace
from mercato.protocols.roles import Role
from mercato.storage.local import LocalBlobStore

ETHER = 10**18
HOUR = 3600
DAY = 86400
EXIT_DELAY = 7 * DAY
"""The registry's delay between asking to leave and taking the stake back."""
KEY = b"\x02" + bytes(range(1, 33))
"""Any 33 bytes that look like a compressed secp256k1 point."""
EMPTY = bytes(32)
ZERO_ADDRESS = "0x" + "00" * 20

Cast = Sequence[tuple[LocalAccount, Role]]
"""Accounts and the roles each registers with."""


@contextmanager
def reverts(reason: str) -> Iterator[None]:
    """Expect a ContractRevert carrying exactly ``reason``."""
    with pytest.raises(ContractRevert) as info:
        yield
    assert info.value.reason == reason


def address_of(account: LocalAccount | str) -> str:
    """The address of ``account`` (an address stays as it is)."""
    return account if isinstance(account, str) else account.address


# the registry ---------------------------------------------------------------------------------
def deploy_registry(chain: Chain, deployer: LocalAccount, exit_delay: int = EXIT_DELAY) -> Contract:
    """A fresh registry on its own; ``deployer`` is its admin."""
    registry, _ = Contract.deploy(chain, "Registry", exit_delay, sender=deployer)
    return registry


def register(
    registry: Contract, account: LocalAccount, roles: int, key: bytes = KEY, stake: int = 0
) -> TxResult:
    """Register ``account`` in the registry with ``roles``."""
    return registry.transact("register", int(roles), key, sender=account, value=stake)


def register_cast(
    registry: Contract, cast: Cast, key: Callable[[LocalAccount], bytes] = lambda _: KEY
) -> None:
    """Register every account of ``cast`` with its roles and ``key(account)``, pipelined."""
    registry.chain.send_many(
        [
            registry.tx("register", int(roles), key(account), sender=account)
            for account, roles in cast
        ]
    )


# balances -------------------------------------------------------------------------------------
def assert_balance_change(
    chain: Chain, before: int, after: int, amount: int, gas_used: int
) -> None:
    """An account's balance moved by ``amount`` (negative: it paid) less the fee of its tx.

    The embedded chain charges no gas; anvil charges gas_used times the block's gas price,
    so the fee must be an exact multiple of the gas used.
    """
    fee = before + amount - after
    assert fee >= 0
    assert fee % gas_used == 0
    if chain.backend == "embedded":
        assert fee == 0


# the world ------------------------------------------------------------------------------------
@dataclass(kw_only=True)
class ProtocolWorld:
    """A deployed registry and one protocol's contract, with the cast registered.

    A protocol's world adds its contract (``contract``), its cast (``cast``, everyone the
    tests may meet at an address) and how it reads one entry (``state``, which has a
    ``deadline``).
    """

    chain: Chain
    registry: Contract
    deployer: LocalAccount
    stranger: LocalAccount
    """An account registered for nothing."""
    _fresh: Iterator[int] = field(default_factory=count)

    @property
    def contract(self) -> Contract:
        """The protocol's contract."""
        raise NotImplementedError

    @property
    def cast(self) -> list[LocalAccount]:
        """Every account of the world."""
        raise NotImplementedError

    def state(self, item_id: int) -> Any:
        """Entry ``item_id`` of the contract (an auction, a training, a task)."""
        raise NotImplementedError

    # reading --------------------------------------------------------------------------------
    def owed(self, account: LocalAccount | str) -> int:
        """Wei the contract holds for ``account`` to withdraw."""
        return int(self.contract.call("owed", address_of(account)))

    def balance(self, account: LocalAccount | None = None) -> int:
        """The ether of ``account``, or of the contract if none is given."""
        return self.chain.balance(account.address if account else self.contract.address)

    def account_at(self, address: str) -> LocalAccount:
        """The account of the cast at ``address``."""
        return next(a for a in self.cast if a.address == address)

    def stake_of(self, account: LocalAccount) -> int:
        """Wei ``account`` has staked in the registry."""
        return int(self.registry.call("stake", account.address))

    def registry_events(self, result: TxResult) -> list[Event]:
        """The registry's events in a transaction sent to another contract."""
        return self.registry.decode_logs(result.receipt.logs)

    def fresh(self, label: bytes) -> bytes:
        """A fresh hash (``keccak(b"<label> <n>")``), never returned before in this world."""
        return keccak(b"%s %d" % (label, next(self._fresh)))

    # registering ----------------------------------------------------------------------------
    def register(
        self, account: LocalAccount, roles: int, key: bytes = KEY, stake: int = 0
    ) -> TxResult:
        """Register ``account`` with exactly ``roles`` (again: add ``stake`` to its stake)."""
        return register(self.registry, account, roles, key, stake)

    # the chain ------------------------------------------------------------------------------
    def pass_deadline(self, item_id: int, extra: int = 0) -> None:
        """Move chain time so that the next block is at or past the entry's ``deadline + extra``."""
        remaining = self.state(item_id).deadline + extra - self.chain.timestamp()
        if remaining > 0:
            self.chain.time_travel(remaining)

    def mine(self, blocks: int = 1) -> None:
        """Add ``blocks`` blocks (plain transfers on the embedded chain, anvil_mine on anvil)."""
        if self.chain.backend == "rpc":
            self.chain.rpc("anvil_mine", hex(blocks))  # type: ignore[attr-defined]
            return
        transfer = TxRequest(self.stranger, self.stranger.address, b"")
        self.chain.send_many([transfer] * blocks)


# random steps (the escrow property tests) ----------------------------------------------------
ACCOUNT_COUNT = 10
"""The development accounts a property test's steps are sent from."""
RIGHT = -1
"""Actor choice meaning "whoever the step expects" (the party the contract wants for it)."""

actors = st.one_of(st.just(RIGHT), st.integers(min_value=0, max_value=ACCOUNT_COUNT - 1))
picks = st.integers(min_value=0, max_value=2**16)
"""Which entry a step targets (see ``ProtocolMachine._pick``), or which slot of it."""


class ProtocolMachine(RuleBasedStateMachine):
    """What every protocol's escrow machine stands on: the chain of a world shared by every
    example and the accounts the steps are sent from; picking the actor and the entry of a
    step, sending a step that may revert; the test case and how long it runs."""

    def __init__(self, shared: ProtocolWorld) -> None:
        super().__init__()
        self.chain = shared.chain
        self.accounts = self.chain.dev_accounts(ACCOUNT_COUNT)

    @classmethod
    def test_case(cls, *, max_examples: int, steps: int) -> Any:
        """The machine's test case: ``max_examples`` runs of ``steps`` steps, no deadline."""
        cls.TestCase.settings = settings(
            max_examples=max_examples,
            stateful_step_count=steps,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        )
        return cls.TestCase

    @staticmethod
    def _pick(count: int, pick: int) -> int:
        """An existing id of ``1..count``, or (one pick in eight) one that does not exist."""
        if count == 0 or pick % 8 == 7:
            return count + 1 + pick % 3
        return 1 + pick % count

    def _account(self, actor: int, right: str | None) -> LocalAccount:
        """Account ``actor``, or for RIGHT the account at ``right`` (if it is one of ours)."""
        if actor == RIGHT:
            for account in self.accounts:
                if account.address == right:
                    return account
        return self.accounts[max(actor, 0)]

    def _send(
        self, contract: Contract, fn: str, *args: object, sender: LocalAccount, value: int = 0
    ) -> TxResult | None:
        """Send a step; None if the contract refused it (an invalid step changes nothing)."""
        try:
            return contract.transact(fn, *args, sender=sender, value=value)
        except ContractRevert:
            return None


# off-chain worlds: every contract, real identities, a blob store -------------------------------
def open_marketplace(
    chain: Chain, work: Path, cast: Sequence[tuple[Role, int]]
) -> tuple[Marketplace, list[Identity]]:
    """Deploy every contract from development account 0 and register the cast.

    Cast member ``i`` is development account ``i + 1`` with its roles and stake; the
    marketplace keeps its blobs in ``work``.
    """
    deployer, *accounts = chain.dev_accounts(1 + len(cast))
    market = Marketplace(chain, deploy(chain, deployer), LocalBlobStore(work / "blobs"))
    identities = [Identity(account) for account in accounts]
    for identity, (roles, stake) in zip(identities, cast, strict=True):
        market.registry.register(identity, roles, stake=stake)
    return market, identities
