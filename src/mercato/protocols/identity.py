"""A participant's keys: its Ethereum account and the encryption key others seal to."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from mercato.storage.envelope import public_key_of

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

ENCRYPTION_KEY_INFO = b"mercato/encryption-key/v1"
SECAGG_SECRET_INFO = b"mercato/secagg-secret/v1"


@dataclass(frozen=True)
class Identity:
    """An account plus an encryption key pair derived from it.

    The encryption key is derived from the account key with HKDF (a separate key, so the
    signing key is never used for key agreement), which lets an agent restart with nothing
    but its account key.
    """

    account: LocalAccount

    @property
    def address(self) -> str:
        return str(self.account.address)

    @cached_property
    def encryption_private(self) -> bytes:
        hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=ENCRYPTION_KEY_INFO)
        return hkdf.derive(bytes(self.account.key))

    @cached_property
    def secagg_secret(self) -> bytes:
        """Root of this participant's secure-aggregation keys (P3), one per task and round."""
        hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=SECAGG_SECRET_INFO)
        return hkdf.derive(bytes(self.account.key))

    @cached_property
    def encryption_public(self) -> bytes:
        """33-byte compressed secp256k1 key, as registered on chain."""
        return public_key_of(self.encryption_private)
