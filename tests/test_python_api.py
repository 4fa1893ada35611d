"""The Python API a newcomer uses: one object for a market, amounts in ether, readable hashes."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

import mercato
import mercato.protocols.catalog
from mercato import Hash, Marketplace, ether, to_ether
from mercato.errors import ConfigError, InputError

ETH = 10**18


def test_ether_is_exact_and_refuses_what_is_no_amount() -> None:
    # act / assert
    assert ether(1) == ETH
    assert ether("1.5") == 3 * ETH // 2
    assert ether(0.1) == ETH // 10  # read as printed, not as the nearest binary fraction
    assert ether(Decimal("0.000000000000000001")) == 1
    assert to_ether(3 * ETH // 2) == Decimal("1.5")
    for bad in ("1e-19", "-1", "abc", "nan"):
        with pytest.raises(InputError):
            ether(bad)


def test_a_hash_prints_as_the_blob_store_names_it_and_equals_its_bytes() -> None:
    # prepare
    raw = bytes(range(32))

    # act
    value = Hash(raw)

    # assert
    assert str(value) == "0x" + raw.hex()
    assert value == raw and Hash(str(value)) == raw
    assert {raw: 1}[value] == 1
    for bad in ("0x12", "ab" * 32, b"short"):
        with pytest.raises(InputError):
            Hash(bad)


def test_create_then_attach_reach_the_same_market(tmp_path: Path) -> None:
    # prepare
    created = Marketplace.create(store=tmp_path / "blobs")
    path = tmp_path / "deployment.json"
    created.deployment.save(path)

    # act
    by_path = Marketplace.attach(created.chain, path, tmp_path / "blobs")
    by_text = Marketplace.attach(created.chain, path.read_text(), created.store)

    # assert
    for market in (by_path, by_text):
        assert market.deployment == created.deployment
        assert market.auction_house.address == created.auction_house.address
        assert set(market.wrappers()) == {u.key for u in mercato.protocols.catalog.units()}


def test_a_contract_call_takes_a_blob_hash_string_and_returns_a_hash(tmp_path: Path) -> None:
    # prepare
    market = Marketplace.create(store=tmp_path / "blobs")
    client, arbiter = market.chain.dev_accounts(3)[1:]
    for who, role in ((client, mercato.Role.CLIENT), (arbiter, mercato.Role.ARBITER)):
        market.registry.register(mercato.Identity(who), role)
    blob = market.store.put(b'{"task": "anything"}')

    # act
    auction_id, _ = market.auction_house.create(
        client,
        requirements_hash=blob,  # the store's "0x..." name, as the chain's bytes32
        max_prices=[ether(1)] * 3,
        duration=3600,
        min_refs=0,
        arbiter=arbiter.address,
    )

    # assert
    stored = market.auction_house.auction(auction_id).requirements_hash
    assert str(Hash(stored)) == blob


def test_attach_refuses_a_deployment_that_is_not_one(tmp_path: Path) -> None:
    # prepare
    market = Marketplace.create(store=tmp_path / "blobs")

    # act / assert
    with pytest.raises(ConfigError, match="the deployment is not valid JSON"):
        Marketplace.attach(market.chain, "{not json", tmp_path / "blobs")
    with pytest.raises(ConfigError, match="no deployment file at"):
        Marketplace.attach(market.chain, tmp_path / "absent.json", tmp_path / "blobs")
