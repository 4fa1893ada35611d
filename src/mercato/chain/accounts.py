"""Accounts: development keys from the standard test mnemonic, real keys from env or keystore."""

from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount

from mercato.errors import ConfigError

DEV_MNEMONIC = "test test test test test test test test test test test junk"
"""The mnemonic anvil, hardhat and foundry fund by default. Never use it for real money."""

DEV_PATH = "m/44'/60'/0'/0/{index}"
KEY_ENV = "MERCATO_PRIVATE_KEY"
KEYSTORE_PASSWORD_ENV = "MERCATO_KEYSTORE_PASSWORD"

Account.enable_unaudited_hdwallet_features()


@lru_cache(maxsize=256)
def dev_account(index: int) -> LocalAccount:
    """The development account at ``index`` of the test mnemonic."""
    account: LocalAccount = Account.from_mnemonic(
        DEV_MNEMONIC, account_path=DEV_PATH.format(index=index)
    )
    return account


def dev_accounts(count: int) -> list[LocalAccount]:
    """The first ``count`` development accounts."""
    return [dev_account(i) for i in range(count)]


def account_from_env(variable: str = KEY_ENV) -> LocalAccount:
    """The account whose hex private key is in the environment variable ``variable``."""
    key = os.environ.get(variable)
    if not key:
        raise ConfigError(f"no private key: set {variable} to a 0x-prefixed hex key")
    try:
        account: LocalAccount = Account.from_key(key)
    except ValueError as exc:
        raise ConfigError(f"{variable} does not hold a valid private key: {exc}") from exc
    return account


def account_from_keystore(path: Path, password: str | None = None) -> LocalAccount:
    """Decrypt an encrypted JSON keystore (password from the argument or the environment)."""
    password = password if password is not None else os.environ.get(KEYSTORE_PASSWORD_ENV)
    if password is None:
        raise ConfigError(f"keystore {path} needs a password: set {KEYSTORE_PASSWORD_ENV}")
    try:
        key = Account.decrypt(json.loads(path.read_text()), password)
    except FileNotFoundError as exc:
        raise ConfigError(f"no keystore file at {path}") from exc
    except ValueError as exc:
        raise ConfigError(f"cannot decrypt keystore {path}: {exc}") from exc
    account: LocalAccount = Account.from_key(key)
    return account
