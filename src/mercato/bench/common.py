"""What the benchmarks share: the chain they run on and the cast of the auction marketplace."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from eth_account.signers.local import LocalAccount
from eth_utils.crypto import keccak

from mercato.chain.base import Chain
from mercato.chain.factory import connect
from mercato.errors import ConfigError
from mercato.ontology.category import Category
from mercato.protocols.roles import Role

REQUIREMENTS_HASH = keccak(b"mercato bench: tabular data, gradient boosting, 16 GB GPU")
AUCTION_DURATION = 86_400
CAST_SIZE = 9
"""Deployer, client, arbiter and six providers (two per category)."""
CATEGORY_ROLES = {
    Category.DATA: Role.DATA_OWNER,
    Category.ALGORITHM: Role.MODEL_OWNER,
    Category.INFRASTRUCTURE: Role.COMPUTE_PROVIDER,
}
"""The registry role a provider needs to bid in each category."""


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
        accounts = chain.dev_accounts(CAST_SIZE)
        return cls(
            deployer=accounts[0],
            client=accounts[1],
            arbiter=accounts[2],
            providers=tuple((accounts[3 + 2 * c], accounts[4 + 2 * c]) for c in Category),
        )
