"""Accounts: the development mnemonic, keys from the environment, encrypted keystores."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from eth_account import Account

from mercato.chain import account_from_env, account_from_keystore, dev_account, dev_accounts
from mercato.chain.accounts import DEV_ADDRESSES, KEY_ENV, KEYSTORE_PASSWORD_ENV, dev_address
from mercato.errors import ConfigError

# the well-known first two accounts of "test test ... junk" (anvil, hardhat, foundry)
FIRST_DEV_ADDRESSES = [
    "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
    "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
]
KEY = "0x" + "11" * 32


@pytest.fixture
def keystore(tmp_path: Path) -> Path:
    # pbkdf2 with few rounds: the default scrypt takes seconds, and strength is not tested here
    encrypted = Account.encrypt(KEY, "correct horse", kdf="pbkdf2", iterations=16)
    path = tmp_path / "key.json"
    path.write_text(json.dumps(encrypted))
    return path


def test_dev_accounts_are_the_standard_ones() -> None:
    assert [a.address for a in dev_accounts(2)] == FIRST_DEV_ADDRESSES
    assert dev_account(1).address == FIRST_DEV_ADDRESSES[1]


def test_known_dev_addresses_are_the_derived_ones() -> None:
    count = len(DEV_ADDRESSES)

    assert list(DEV_ADDRESSES) == [a.address for a in dev_accounts(count)]
    assert dev_address(1) == FIRST_DEV_ADDRESSES[1]
    assert dev_address(count) == dev_account(count).address  # past the list: derived


def test_keystore_round_trip(keystore: Path) -> None:
    account = account_from_keystore(keystore, "correct horse")

    assert account.address == Account.from_key(KEY).address
    assert account.key.hex().removeprefix("0x") == KEY[2:]


def test_keystore_password_from_environment(
    keystore: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEYSTORE_PASSWORD_ENV, "correct horse")

    assert account_from_keystore(keystore).address == Account.from_key(KEY).address


def test_keystore_wrong_password(keystore: Path) -> None:
    with pytest.raises(ConfigError, match="cannot decrypt"):
        account_from_keystore(keystore, "battery staple")


def test_keystore_without_password(keystore: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEYSTORE_PASSWORD_ENV, raising=False)

    with pytest.raises(ConfigError, match=KEYSTORE_PASSWORD_ENV):
        account_from_keystore(keystore)


def test_keystore_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no keystore file"):
        account_from_keystore(tmp_path / "absent.json", "x")


def test_key_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, KEY)

    assert account_from_env().address == Account.from_key(KEY).address


@pytest.mark.parametrize("value", ["", "0x1234", "not hex at all"])
def test_bad_or_missing_key_in_environment(value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, value)

    with pytest.raises(ConfigError, match=KEY_ENV):
        account_from_env()
