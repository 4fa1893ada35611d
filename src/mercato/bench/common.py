"""What the benchmarks share: the chain they run on, its accounts and the auction's cast.

How a benchmark records what it sent (steps, waves, progress) is :mod:`mercato.bench.flow`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils.crypto import keccak

from mercato.chain.base import Chain
from mercato.chain.factory import connect
from mercato.errors import ChainError, ConfigError
from mercato.ontology.category import Category
from mercato.protocols.identity import Identity
from mercato.protocols.roles import Role

if TYPE_CHECKING:
    from mercato.chain.contract import TxResult
    from mercato.chain.rpc import RpcChain
    from mercato.protocols.auction.house import AuctionHouse

REQUIREMENTS_HASH = keccak(b"mercato bench: tabular data, gradient boosting, 16 GB GPU")
AUCTION_DURATION = 86_400
MAX_PRICE = 10**18
"""The client's maximum price in every category of the benchmarks' auction (one ether)."""
CAST_SIZE = 9
"""Deployer, client, arbiter and six providers (two per category)."""
CATEGORY_ROLES = {
    Category.DATA: Role.DATA_OWNER,
    Category.ALGORITHM: Role.MODEL_OWNER,
    Category.INFRASTRUCTURE: Role.COMPUTE_PROVIDER,
}
"""The registry role a provider needs to bid in each category."""
PARTICIPANT_BALANCE_WEI = 10**18
"""What a benchmark gives each fresh participant: fees and escrows, many times over."""
ACCURACY_SKIPPED_NOTE = "accuracy skipped (--skip-accuracy)"


@contextmanager
def node_url(
    rpc_url: str | None = None, *, anvil: bool = False, no_mining: bool = False
) -> Iterator[str | None]:
    """The URL of the node to benchmark: ``rpc_url``, a fresh anvil (``anvil``), or None.

    ``no_mining``: the fresh anvil mines only when asked (``evm_mine``).
    """
    if rpc_url and anvil:
        raise ConfigError("pass either an RPC URL or --anvil, not both")
    if not anvil:
        yield rpc_url
        return
    from mercato.chain.anvil import Anvil

    with Anvil(no_mining=no_mining) as node:
        yield node.url


@contextmanager
def open_chain(backend: str, rpc_url: str | None = None) -> Iterator[Chain]:
    """A chain of ``backend`` (a fresh embedded EVM, or the node at ``rpc_url``), closed after."""
    chain = connect(backend, rpc_url)
    try:
        yield chain
    finally:
        chain.close()


@contextmanager
def chain_at(rpc_url: str | None) -> Iterator[Chain]:
    """The node at ``rpc_url`` (an :class:`RpcChain`), else a fresh embedded EVM; closed after."""
    if rpc_url is None:
        with open_chain("embedded") as chain:
            yield chain
        return
    from mercato.chain.rpc import RpcChain

    node = RpcChain(rpc_url)
    try:
        yield node
    finally:
        node.close()


@contextmanager
def chain_and_backend(rpc_url: str | None) -> Iterator[tuple[Chain, str]]:
    """:func:`chain_at` and its backend's name: "embedded", "anvil" or "rpc"."""
    from mercato.chain.rpc import RpcChain

    with chain_at(rpc_url) as chain:
        if not isinstance(chain, RpcChain):
            yield chain, "embedded"
            return
        try:
            client = str(chain.rpc("web3_clientVersion"))
        except ChainError:
            client = ""
        yield chain, "anvil" if client.lower().startswith("anvil") else "rpc"


@contextmanager
def automine(chain: RpcChain, enabled: bool) -> Iterator[None]:
    """Mine each transaction on arrival (``enabled``) or only on request, then as before."""
    try:
        previous = bool(chain.rpc("anvil_getAutomine"))
        chain.rpc("evm_setAutomine", enabled)
    except ChainError as exc:
        raise ConfigError(
            f"the training benchmark needs a development node that switches automine (anvil): {exc}"
        ) from None
    try:
        yield
    finally:
        chain.rpc("evm_setAutomine", previous)


def fresh_identities(
    count: int, chain: Chain | None = None, balance: int = PARTICIPANT_BALANCE_WEI
) -> tuple[Identity, ...]:
    """``count`` new random accounts, funded with ``balance`` on a development ``chain`` if
    given (``set_balance``); their encryption keys derived here, before any clock starts."""
    people = tuple(Identity(Account.create()) for _ in range(count))
    for who in people:
        if chain is not None:
            chain.set_balance(who.address, balance)
        _ = who.encryption_public
    return people


@dataclass(frozen=True)
class Cast:
    """The participants of the SAIaaS scenario, as development accounts."""

    deployer: LocalAccount
    client: LocalAccount
    arbiter: LocalAccount
    providers: tuple[tuple[LocalAccount, LocalAccount], ...]
    """Two providers per category, indexed by :class:`Category`."""

    @classmethod
    def of(cls, chain: Chain) -> Cast:
        deployer, client, arbiter, *providers = chain.dev_accounts(CAST_SIZE)
        pairs = zip(providers[::2], providers[1::2], strict=True)
        return cls(deployer, client, arbiter, tuple(pairs))

    def members(self, per_category: int = 2) -> list[tuple[str, LocalAccount, Role]]:
        """Whom the registry must know, in order: (name, account, role) of the client, the
        arbiter and the first ``per_category`` providers of each category."""
        members = [("client", self.client, Role.CLIENT), ("arbiter", self.arbiter, Role.ARBITER)]
        for category in Category:
            for index, provider in enumerate(self.providers[category][:per_category], start=1):
                members.append((f"{category.label}:{index}", provider, CATEGORY_ROLES[category]))
        return members


def open_auction(house: AuctionHouse, cast: Cast) -> tuple[int, TxResult]:
    """The benchmarks' auction: the client's, :data:`MAX_PRICE` in every category, its arbiter
    named; its id and the creation's outcome."""
    return house.create(
        cast.client,
        requirements_hash=REQUIREMENTS_HASH,
        max_prices=[MAX_PRICE] * len(Category),
        duration=AUCTION_DURATION,
        min_refs=0,
        arbiter=cast.arbiter.address,
    )
