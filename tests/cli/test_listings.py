"""The data owner's recorded split plans and the listings its agent rebuilds from them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from mercato.chain import EmbeddedChain
from mercato.errors import ConfigError, ProtocolError
from mercato.ml.datasets import seller_and_buyer_parts
from mercato.protocols.deployment import deploy
from mercato.protocols.identity import Identity
from mercato.protocols.marketplace import Marketplace
from mercato.protocols.roles import Role
from mercato.protocols.training.data_owner import SplitPlan, list_dataset, prepare_listing
from mercato.protocols.training.listings import (
    ListingBook,
    RecordedPlan,
    manifest_hash,
    plan_file,
    read_plans,
    record_plan,
)
from mercato.storage.local import LocalBlobStore

PLAN = SplitPlan(2, 2, seed=5, max_class_fraction=0.4)


@pytest.fixture
def market(tmp_path: Path) -> Iterator[Marketplace]:
    chain = EmbeddedChain()
    try:
        yield Marketplace(
            chain, deploy(chain, chain.dev_accounts(1)[0]), LocalBlobStore(tmp_path / "blobs")
        )
    finally:
        chain.close()


@pytest.fixture
def cast(market: Marketplace) -> dict[str, Identity]:
    accounts = market.chain.dev_accounts(6)
    people = {
        "do": Identity(accounts[1]),
        "other-do": Identity(accounts[2]),
        "co-1": Identity(accounts[3]),
        "co-2": Identity(accounts[4]),
    }
    for name, person in people.items():
        role = Role.DATA_OWNER if name.endswith("do") else Role.COMPUTE_PROVIDER
        market.registry.register(person, role)
    return people


def _list(market: Marketplace, owner: Identity, cast: dict[str, Identity], plan: SplitPlan) -> int:
    data, _ = seller_and_buyer_parts("digits")
    cos = [cast["co-1"].address, cast["co-2"].address]
    return list_dataset(market, owner, data, plan, cos, data_price=1, job_price=1).dataset_id


def test_plans_round_trip_by_manifest_hash(tmp_path: Path) -> None:
    record_plan(tmp_path, "0xAbC", "0x" + "11" * 32, RecordedPlan("digits", PLAN))
    record_plan(tmp_path, "0xabc", "0x" + "22" * 32, RecordedPlan("iris", SplitPlan(1, 3)))

    plans = read_plans(tmp_path, "0xABC")

    assert plans == {
        "0x" + "11" * 32: RecordedPlan("digits", PLAN),
        "0x" + "22" * 32: RecordedPlan("iris", SplitPlan(1, 3)),
    }
    assert [p.name for p in tmp_path.iterdir()] == ["training-plans-0xabc.json"]


def test_a_malformed_plan_file_is_refused(tmp_path: Path) -> None:
    plan_file(tmp_path, "0xabc").write_text('{"version": 1, "plans": {"0x11": {"subsets": 2}}}')

    with pytest.raises(ConfigError, match="names its dataset"):
        read_plans(tmp_path, "0xabc")


def test_the_book_rebuilds_a_listing_from_its_recorded_plan(
    market: Marketplace, cast: dict[str, Identity], tmp_path: Path
) -> None:
    do = cast["do"]
    data, _ = seller_and_buyer_parts("digits")
    dataset_id = _list(market, do, cast, PLAN)
    unrecorded = ListingBook(market, do, tmp_path)
    with pytest.raises(ProtocolError, match="the default plan does not reproduce"):
        unrecorded[dataset_id]  # listed with seed 5 and a 0.4 class fraction

    meta_hash = manifest_hash(prepare_listing(do, data, PLAN).manifest)
    record_plan(tmp_path, do.address, meta_hash, RecordedPlan("digits", PLAN))
    rebuilt = ListingBook(market, do, tmp_path)[dataset_id]

    assert rebuilt.dataset_id == dataset_id
    assert manifest_hash(rebuilt.manifest) == meta_hash
    assert rebuilt.manifest.subsets == 2 and len(rebuilt.salts) == 2


def test_without_a_record_the_default_plan_is_tried(
    market: Marketplace, cast: dict[str, Identity], tmp_path: Path
) -> None:
    dataset_id = _list(market, cast["do"], cast, SplitPlan(2, 2))

    book = ListingBook(market, cast["do"], tmp_path)

    assert book[dataset_id].manifest.name == "digits"
    assert list(book) == [dataset_id]


def test_the_book_holds_only_its_owners_datasets(
    market: Marketplace, cast: dict[str, Identity], tmp_path: Path
) -> None:
    mine = _list(market, cast["do"], cast, SplitPlan(2, 2))
    theirs = _list(market, cast["other-do"], cast, SplitPlan(2, 2))

    book = ListingBook(market, cast["do"], tmp_path)

    assert (mine in book, theirs in book, 3 in book, 0 in book) == (True, False, False, False)
    with pytest.raises(KeyError):
        book[theirs]
