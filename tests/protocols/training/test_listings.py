"""A data owner's listings: rebuilt from the recorded plans, few of them kept in memory."""

from __future__ import annotations

from pathlib import Path

from mercato.chain.embedded import EmbeddedChain
from mercato.protocols.training import data_owner
from mercato.protocols.training.data_owner import SplitPlan
from mercato.protocols.training.listings import (
    ListingBook,
    RecordedPlan,
    manifest_hash,
    record_plan,
)

from .offchain import DATA_PRICE, JOB_PRICE, build_world


def test_a_data_owner_keeps_its_latest_listings_and_rebuilds_the_others_alike(
    tmp_path: Path,
) -> None:
    # prepare: three datasets of the DO on chain, each offered with its own recorded plan
    chain = EmbeddedChain()
    world = build_world(chain, tmp_path)
    try:
        listed = []
        for seed in (1, 2, 3):
            recorded = RecordedPlan("digits", SplitPlan(2, 2, seed=seed))
            listing = data_owner.list_dataset(
                world.market, world.do, recorded.data(), recorded.plan,
                [co.address for co in world.cos], data_price=DATA_PRICE, job_price=JOB_PRICE,
            )  # fmt: skip
            record_plan(tmp_path, world.do.address, manifest_hash(listing.manifest), recorded)
            listed.append(listing)
        book = ListingBook(world.market, world.do, tmp_path, keep=2)

        # act: use each, then the first again (no longer in memory)
        first_use = [book[listing.dataset_id] for listing in listed]
        kept = sorted(book)
        again = book[listed[0].dataset_id]

        # assert: only the two latest stay; a dropped one is rebuilt equal to what was listed
        assert kept == [listed[1].dataset_id, listed[2].dataset_id]
        assert sorted(book) == [listed[0].dataset_id, listed[2].dataset_id]
        assert [u.manifest for u in first_use] == [listing.manifest for listing in listed]
        assert again is not first_use[0] and again.manifest == listed[0].manifest
        assert again.salts == listed[0].salts
    finally:
        world.close()
        chain.close()
