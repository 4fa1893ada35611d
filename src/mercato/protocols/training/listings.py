"""The data owner's split plans: recorded by ``training dataset offer``, read by its agent.

A DO's private view of a dataset (:class:`~mercato.protocols.training.data_owner.Listing`)
follows from the source data, the split plan and the DO's key alone, so the plan is all
that needs keeping. ``mercato training dataset offer`` records it in
``training-plans-<address>.json`` in the agent state folder, keyed by the blob hash of the
manifest it produces (the dataset's ``meta_hash`` on chain), with the DO's own data file
when it offered one (``--data``: where it is, how it is read, the digest of its data). The
DO agent rebuilds a listing the first time it meets one of its datasets and checks the
rebuilt manifest against that hash, so a wrong or edited plan, or a file changed since, is
refused, never served. A dataset with no recorded plan is tried with the default plan
(seed 0, default skew rules) of the sample dataset its manifest names.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from mercato.agents.files import EntryFile
from mercato.errors import InputError, MercatoError, ProtocolError
from mercato.ml.datasets import Dataset, seller_and_buyer_parts
from mercato.protocols.identity import Identity
from mercato.protocols.marketplace import Marketplace
from mercato.protocols.training.data_owner import Listing, SplitPlan, prepare_listing
from mercato.protocols.training.documents import Manifest, hash_hex
from mercato.storage.base import blob_hash
from mercato.user_files import DataFile

PLAN_FILE = "training-plans-{address}.json"
PLANS_VERSION = 1

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RecordedPlan:
    """How a DO cut one dataset: the data set's name, the split plan, and the DO's own file
    if the data came from one (else ``dataset`` names a sample set)."""

    dataset: str
    plan: SplitPlan
    file: DataFile | None = None

    def to_json(self) -> dict[str, Any]:
        own = {} if self.file is None else {"file": asdict(self.file)}
        return {"dataset": self.dataset, **asdict(self.plan), **own}

    @classmethod
    def from_json(cls, value: object) -> RecordedPlan:
        if not isinstance(value, dict):
            raise InputError("a recorded plan must be a JSON object")
        fields = dict(value)
        dataset = fields.pop("dataset", None)
        if not isinstance(dataset, str):
            raise InputError("a recorded plan names its dataset")
        own = fields.pop("file", None)
        try:
            file = None if own is None else DataFile(**own)
            return cls(dataset, SplitPlan(**fields), file)
        except TypeError as exc:
            raise InputError(f"a recorded plan has unknown fields: {exc}") from None

    def data(self) -> Dataset:
        """The data the DO sells: its file as it offered it (InputError if it changed since),
        or the seller part of the sample set."""
        if self.file is not None:
            return self.file.load(f"offered it as {self.dataset}")
        return seller_and_buyer_parts(self.dataset)[0]


def plan_file(folder: Path, address: str) -> Path:
    """Where the plans of the DO at ``address`` live."""
    return folder / PLAN_FILE.format(address=address.lower())


_PLANS: EntryFile[RecordedPlan] = EntryFile(
    "training plans", "plans", PLANS_VERSION, RecordedPlan.from_json, RecordedPlan.to_json
)


def read_plans(folder: Path, address: str) -> dict[str, RecordedPlan]:
    """The DO's recorded plans by manifest hash (empty if it recorded none)."""
    return _PLANS.read(plan_file(folder, address))


def record_plan(folder: Path, address: str, meta_hash: str, recorded: RecordedPlan) -> Path:
    """Add a plan to the DO's file (written whole to a temporary file, then renamed)."""
    return _PLANS.record(plan_file(folder, address), meta_hash, recorded)


def manifest_hash(manifest: Manifest) -> str:
    """The blob hash the manifest is stored under: the dataset's ``meta_hash``."""
    return blob_hash(manifest.to_bytes())


def build_listing(owner: Identity, recorded: RecordedPlan, dataset_id: int = 0) -> Listing:
    """The DO's listing of its data (:meth:`RecordedPlan.data`), cut by ``recorded.plan``."""
    listing = prepare_listing(owner, recorded.data(), recorded.plan)
    return Listing(listing.manifest, listing.subsets, listing.salts, dataset_id)


KEPT_LISTINGS = 8
"""Listings a DO agent keeps in memory, the most recently used; the others are rebuilt when
needed. A listing holds its data's subsets (0.6 MB for a sample set), and a DO that lists a
dataset per training would otherwise grow without bound (measured: 2-3 MB a minute in a
10-minute soak)."""


class ListingBook(Mapping[int, Listing]):
    """The listings of one DO's datasets by id, rebuilt on first use from recorded plans.

    ``dataset_id in book`` says whether the DO owns the dataset (so the agent handles its
    events); ``book[dataset_id]`` rebuilds the listing, or raises ProtocolError (a handler
    error, tried again and logged) if no plan reproduces the manifest on chain. The ``keep``
    most recently used listings stay in memory (iterating the book gives those).
    """

    def __init__(
        self, market: Marketplace, owner: Identity, folder: Path, keep: int = KEPT_LISTINGS
    ) -> None:
        self._market = market
        self._owner = owner
        self._folder = folder
        self._keep = keep
        self._owned: dict[int, bool] = {}
        self._listings: OrderedDict[int, Listing] = OrderedDict()

    def __contains__(self, dataset_id: object) -> bool:
        if not isinstance(dataset_id, int) or dataset_id <= 0:
            return False
        if dataset_id not in self._owned:
            tm = self._market.training_market
            if dataset_id > tm.dataset_count():
                return False  # not listed yet: ask again later
            owner = tm.dataset(dataset_id).owner
            self._owned[dataset_id] = owner.lower() == self._owner.address.lower()
        return self._owned[dataset_id]

    def __getitem__(self, dataset_id: int) -> Listing:
        if dataset_id in self._listings:
            self._listings.move_to_end(dataset_id)
            return self._listings[dataset_id]
        if dataset_id not in self:
            raise KeyError(dataset_id)
        listing = self._rebuild(dataset_id)
        self._listings[dataset_id] = listing
        while len(self._listings) > self._keep:
            self._listings.popitem(last=False)
        logger.info(
            "dataset %d: listing rebuilt (%s, %d x %d)",
            dataset_id, listing.manifest.name, listing.manifest.subsets,
            listing.manifest.replicas,
        )  # fmt: skip
        return listing

    def __iter__(self) -> Iterator[int]:
        return iter(self._listings)

    def __len__(self) -> int:
        return len(self._listings)

    def _rebuild(self, dataset_id: int) -> Listing:
        meta_hash = hash_hex(self._market.training_market.dataset(dataset_id).meta_hash)
        recorded = read_plans(self._folder, self._owner.address).get(meta_hash)
        source = f"the plan in {plan_file(self._folder, self._owner.address)}"
        try:
            if recorded is None:
                source = "the default plan"
                manifest = Manifest.from_bytes(self._market.store.get(meta_hash))
                recorded = RecordedPlan(
                    manifest.name, SplitPlan(manifest.subsets, manifest.replicas)
                )
            listing = build_listing(self._owner, recorded, dataset_id)
        except MercatoError as exc:
            raise ProtocolError(
                f"dataset {dataset_id}: cannot rebuild it from {source}: {exc}"
            ) from None
        if manifest_hash(listing.manifest) != meta_hash:
            raise ProtocolError(
                f"dataset {dataset_id}: {source} does not reproduce its manifest {meta_hash}; "
                "offer datasets with `mercato training dataset offer` and the same --state-dir"
            )
        return listing
