"""Accounts: development keys from the standard test mnemonic, real keys from env or keystore.

eth_account is imported by the functions that make an account (0.7 s to import, most of it
its keyfile module's BLS curves): a command that needs only a development address
(:func:`dev_address`) or none never pays for it.
"""

from __future__ import annotations

import json
import os
import re
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from mercato.errors import ConfigError, InputError

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

DEV_MNEMONIC = "test test test test test test test test test test test junk"
"""The mnemonic anvil, hardhat and foundry fund by default. Never use it for real money."""

DEV_PATH = "m/44'/60'/0'/0/{index}"
DEV_INDEX_LIMIT = 2**31
"""The last path element is a non-hardened BIP-32 index: 0 to 2**31 - 1."""
SECP256K1_ORDER = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
"""A private key is a number from 1 to this order minus one."""
_HEX_KEY = re.compile(r"(0x)?[0-9a-fA-F]{64}")
KEY_ENV = "MERCATO_PRIVATE_KEY"
KEYSTORE_PASSWORD_ENV = "MERCATO_KEYSTORE_PASSWORD"

DEV_ADDRESSES = (
    "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
    "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
    "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC",
    "0x90F79bf6EB2c4f870365E785982E1f101E93b906",
    "0x15d34AAf54267DB7D7c367839AAf71A00a2C6A65",
    "0x9965507D1a55bcC2695C58ba16FB37d819B0A4dc",
    "0x976EA74026E726554dB657fA54763abd0C3a0aa9",
    "0x14dC79964da2C08b23698B3D3cc7Ca32193d9955",
    "0x23618e81E3f5cdF7f54C3d65f7FBc0aBf5B21E8f",
    "0xa0Ee7A142d267C1f36714E4a8F75612F20a79720",
    "0xBcd4042DE499D14e55001CcbB24a551F3b954096",
    "0x71bE63f3384f5fb98995898A86B02Fb2426c5788",
    "0xFABB0ac9d68B0B445fB7357272Ff202C5651694a",
    "0x1CBd3b2770909D4e10f157cABC84C7264073C9Ec",
    "0xdF3e18d64BC6A983f673Ab319CCaE4f1a57C7097",
    "0xcd3B766CCDd6AE721141F452C550Ca635964ce71",
    "0x2546BcD3c84621e976D8185a91A922aE77ECEc30",
    "0xbDA5747bFD65F08deb54cb465eB87D40e51B197E",
    "0xdD2FD4581271e230360230F9337D5c0430Bf44C0",
    "0x8626f6940E2eb28930eFb4CeF49B2d1F2C9C1199",
)
"""The first 20 addresses of the test mnemonic, those anvil funds and lists at start: derived
once and kept here (the tests derive them again), so showing one needs no key derivation."""


def dev_address(index: int) -> str:
    """The address of development account ``index``, derived only beyond :data:`DEV_ADDRESSES`."""
    if 0 <= index < len(DEV_ADDRESSES):
        return DEV_ADDRESSES[index]
    return str(dev_account(index).address)


@lru_cache(maxsize=256)
def dev_account(index: int) -> LocalAccount:
    """The development account at ``index`` of the test mnemonic."""
    from eth_account import Account

    if not 0 <= index < DEV_INDEX_LIMIT:
        raise InputError(
            f"{index} is no development account: indexes run from 0 to {DEV_INDEX_LIMIT - 1} "
            "(BIP-32, non-hardened)"
        )

    Account.enable_unaudited_hdwallet_features()
    account: LocalAccount = Account.from_mnemonic(
        DEV_MNEMONIC, account_path=DEV_PATH.format(index=index)
    )
    return account


def dev_accounts(count: int) -> list[LocalAccount]:
    """The first ``count`` development accounts."""
    return [dev_account(i) for i in range(count)]


def account_from_env(variable: str = KEY_ENV) -> LocalAccount:
    """The account whose hex private key is in the environment variable ``variable``."""
    from eth_account import Account

    key = os.environ.get(variable, "").strip()
    if not key:
        raise ConfigError(f"no private key: set {variable} to a 0x-prefixed hex key")
    # eth_account's own messages mislead ("must be exactly 32 bytes long, instead of 32
    # bytes" for zero), and never echo the key: say what a key is instead
    if not _HEX_KEY.fullmatch(key) or not 0 < int(key, 16) < SECP256K1_ORDER:
        raise ConfigError(
            f"{variable} is not a valid secp256k1 private key "
            "(0x + 64 hex digits, not zero, below the curve order)"
        )
    account: LocalAccount = Account.from_key(key)
    return account


def account_from_keystore(path: Path, password: str | None = None) -> LocalAccount:
    """Decrypt an encrypted JSON keystore (password from the argument or the environment)."""
    from eth_account import Account

    if path.is_dir():
        raise ConfigError(f"keystore {path} is a folder: pass the keystore's JSON file")
    if not path.is_file():
        raise ConfigError(f"no keystore file at {path}")
    try:
        encrypted = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path} is not a JSON keystore file: {exc}") from None
    not_keystore = ConfigError(
        f"{path} is JSON but no encrypted keystore (Web3 Secret Storage, as geth, "
        "cast wallet and eth_account write them)"
    )
    if not isinstance(encrypted, dict) or not {"crypto", "Crypto"} & encrypted.keys():
        raise not_keystore
    password = password if password is not None else os.environ.get(KEYSTORE_PASSWORD_ENV)
    if password is None:
        raise ConfigError(f"keystore {path} needs a password: set {KEYSTORE_PASSWORD_ENV}")
    try:
        key = Account.decrypt(encrypted, password)
    except ValueError as exc:
        raise ConfigError(f"cannot decrypt keystore {path}: {exc}") from exc
    except (KeyError, TypeError, AttributeError):
        raise not_keystore from None
    account: LocalAccount = Account.from_key(key)
    return account
