"""Mercato roles as the registry encodes them (one address may hold several)."""

from __future__ import annotations

from enum import IntFlag

from mercato.errors import InputError


class Role(IntFlag):
    """Role bits of the on-chain registry (must match contracts/utils/role_bits.vy)."""

    DATA_OWNER = 1
    MODEL_OWNER = 2
    COMPUTE_PROVIDER = 4
    CLIENT = 8
    ARBITER = 16

    @classmethod
    def parse(cls, names: str) -> Role:
        """Roles from a comma-separated list such as ``"client,arbiter"``."""
        role = cls(0)
        for name in filter(None, (n.strip() for n in names.split(","))):
            key = name.upper().replace("-", "_")
            if key not in cls.__members__:
                known = ", ".join(m.lower().replace("_", "-") for m in cls.__members__)
                raise InputError(f"unknown role '{name}'. Known roles: {known}")
            role |= cls[key]
        if not role:
            raise InputError("no role given")
        return role

    @property
    def labels(self) -> list[str]:
        """The roles held, as ``mercato register --roles`` spells them, in bit order."""
        return [label(r) for r in type(self) if r & self]


def label(role: Role) -> str:
    """One role as the command line spells it: ``compute-provider``."""
    return str(role.name).lower().replace("_", "-")
