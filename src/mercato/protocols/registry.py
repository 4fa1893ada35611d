"""Typed access to the participant registry."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mercato.chain.base import Chain
from mercato.chain.contract import Contract, TxResult
from mercato.errors import InputError, ProtocolError
from mercato.protocols.roles import Role, label

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

    from mercato.protocols.identity import Identity
    from mercato.protocols.marketplace import Marketplace


class Registry:
    """The on-chain registry of participants, their roles and encryption keys."""

    def __init__(self, chain: Chain, address: str) -> None:
        self.contract = Contract.at(chain, "Registry", address)

    @property
    def address(self) -> str:
        return self.contract.address

    def register(self, who: Identity, roles: Role, stake: int = 0) -> TxResult:
        """Register ``who`` with exactly ``roles`` (dropping any others) and its encryption key.

        See :meth:`enrol` to add roles to those held.
        """
        return self.contract.transact(
            "register", int(roles), who.encryption_public, sender=who.account, value=stake
        )

    def enrol(
        self, who: Identity, roles: Role, stake: int = 0, *, replace: bool = False
    ) -> TxResult | None:
        """Give ``who`` ``roles`` on top of those it holds (exactly ``roles`` if ``replace``).

        The contract stores whatever bitmask it is sent, so adding means sending the union
        with the roles held. Returns None, sending nothing, when the account would end up as
        it is: the same roles, the same encryption key and no stake to add.
        """
        held = self.roles_of(who.address)
        wanted = roles if replace else held | roles
        key = bytes(self.contract.call("encryption_key", who.address))
        if wanted == held and stake == 0 and key == who.encryption_public:
            return None
        return self.register(who, wanted, stake=stake)

    def authorize_slasher(self, admin: LocalAccount, slasher: str) -> TxResult:
        """Let the contract at ``slasher`` take stake; only the registry's admin may."""
        return self.contract.transact("authorize_slasher", slasher, sender=admin)

    def freeze_slashers(self, admin: LocalAccount) -> TxResult:
        """Close the list of slashers for good; only the registry's admin may."""
        return self.contract.transact("freeze_slashers", sender=admin)

    def roles_of(self, address: str) -> Role:
        return Role(self.contract.call("roles", address))

    def has_role(self, address: str, role: Role) -> bool:
        return bool(self.contract.call("has_role", address, int(role)))

    def stake_of(self, address: str) -> int:
        """Wei staked by ``address`` (less what slashers took; kept during an exit)."""
        return int(self.contract.call("stake", address))

    def is_slasher(self, address: str) -> bool:
        return bool(self.contract.call("slashers", address))

    def admin(self) -> str:
        """The account that authorizes slashers (the deployer)."""
        return str(self.contract.call("ADMIN"))

    def encryption_key(self, address: str) -> bytes:
        """The key to seal envelopes for ``address`` to."""
        key = bytes(self.contract.call("encryption_key", address))
        if not key:
            raise ProtocolError(f"{address} has registered no encryption key")
        return key


def role_problem(registry: Registry, address: str, role: Role, doing: str) -> str | None:
    """Why ``address`` may not be ``doing`` something that needs ``role``, or None."""
    if registry.has_role(address, role):
        return None
    name = label(role)
    return (
        f"{doing} needs the {name} role and {address} does not have it; "
        f"register it first: mercato register --roles {name} (same account)"
    )


def require_role(market: Marketplace, address: str, role: Role, doing: str) -> None:
    """InputError (:func:`role_problem`'s) unless ``address`` holds ``role``."""
    problem = role_problem(market.registry, address, role, doing)
    if problem is not None:
        raise InputError(problem)
