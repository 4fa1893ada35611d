"""The data owner's steps: split, commit, hand out sealed replicas, verify joins, approve.

A :class:`Listing` is the DO's private view of one dataset: the subsets, their salts and who
holds which replica. It is rebuilt from the source data, the split parameters and the DO's
key alone (:func:`prepare_listing` is deterministic and the salts derive from the key), so a
restarted DO agent needs nothing stored but the dataset id.

What the chain learns: the manifest's commitments and sizes, which CO holds which slot, and
each CO's ``keccak(subset || nonce)``. What each CO learns: its own subset only. What the MO
learns: nothing about the data but the manifest.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from mercato.crypto.commit import commit, keccak
from mercato.errors import InputError
from mercato.ml.datasets import Dataset
from mercato.ml.split import (
    DEFAULT_MAX_CLASS_FRACTION,
    DEFAULT_MIN_MISSING_CLASSES,
    skewed_split,
    subset_bytes,
)
from mercato.protocols.identity import Identity
from mercato.protocols.marketplace import Marketplace
from mercato.protocols.roles import Role
from mercato.protocols.training import history
from mercato.protocols.training.documents import (
    SALT_BYTES,
    Manifest,
    hash_bytes,
    hash_hex,
    pack_replica,
    replica_context,
)
from mercato.protocols.training.rules import approve_problem, holders_problem, verify_problem
from mercato.storage.envelope import seal

SALT_INFO = b"mercato/p2/subset-salt/v1"


@dataclass(frozen=True)
class SplitPlan:
    """How the DO cuts a dataset: ``subsets`` x ``replicas`` and the skew rules."""

    subsets: int
    replicas: int
    seed: int = 0
    max_class_fraction: float = DEFAULT_MAX_CLASS_FRACTION
    min_missing_classes: int = DEFAULT_MIN_MISSING_CLASSES


@dataclass(frozen=True)
class Listing:
    """The DO's private view of one dataset."""

    manifest: Manifest
    subsets: tuple[Dataset, ...]
    salts: tuple[bytes, ...]
    dataset_id: int = 0

    def data(self, subset: int) -> bytes:
        """The bytes of a subset, as every replica holds them."""
        return subset_bytes(self.subsets[subset])

    def join_ok(self, subset: int, data_hash: bytes, nonce: bytes) -> bool:
        """Whether a CO's declared ``keccak(subset || nonce)`` is of the subset it was given."""
        return commit(self.data(subset), nonce) == bytes(data_hash)


def subset_salt(owner: Identity, data: Dataset, subset: int) -> bytes:
    """The salt of a subset's commitment, derived from the DO's key and the data."""
    hkdf = HKDF(
        algorithm=hashes.SHA256(),
        length=SALT_BYTES,
        salt=data.digest(),
        info=SALT_INFO + subset.to_bytes(4, "big"),
    )
    return hkdf.derive(owner.encryption_private)


def prepare_listing(owner: Identity, data: Dataset, plan: SplitPlan) -> Listing:
    """Split ``data`` by ``plan`` (skewed, checked) and commit to every subset."""
    parts = tuple(
        skewed_split(
            data, plan.subsets, plan.seed, plan.max_class_fraction, plan.min_missing_classes
        )
    )
    salts = tuple(subset_salt(owner, data, s) for s in range(plan.subsets))
    manifest = Manifest(
        name=data.name,
        ontology_class=data.ontology_class,
        n_features=int(data.X.shape[1]),
        classes=tuple(int(c) for c in data.classes),
        subsets=plan.subsets,
        replicas=plan.replicas,
        commitments=tuple(
            hash_hex(keccak(subset_bytes(part) + salt))
            for part, salt in zip(parts, salts, strict=True)
        ),
        sizes=tuple(len(part.y) for part in parts),
        features=data.features,
        labels=data.labels,
    )
    return Listing(manifest=manifest, subsets=parts, salts=salts)


def assign_holders(cos: Sequence[str], subsets: int, replicas: int) -> list[list[str]]:
    """``holders[subset][replica]``: round robin over ``cos``, so no CO holds two replicas
    of one subset (which needs at least ``replicas`` distinct COs)."""
    distinct = list(dict.fromkeys(cos))
    problem = holders_problem(distinct, replicas)
    if problem is not None:
        raise InputError(problem)
    return [
        [distinct[(s * replicas + r) % len(distinct)] for r in range(replicas)]
        for s in range(subsets)
    ]


def list_dataset(
    market: Marketplace,
    owner: Identity,
    data: Dataset,
    plan: SplitPlan,
    cos: Sequence[str],
    *,
    data_price: int,
    job_price: int,
) -> Listing:
    """Publish the manifest, list the dataset and hand every replica to its CO, sealed.

    Everything is checked before the first transaction (roles, keys, the split), so bad
    input changes nothing on chain.
    """
    registry = market.registry
    if not registry.has_role(owner.address, Role.DATA_OWNER):
        raise InputError(f"{owner.address} is not a registered data owner")
    holders = assign_holders(cos, plan.subsets, plan.replicas)
    keys = {}
    for co in {co for row in holders for co in row}:
        if not registry.has_role(co, Role.COMPUTE_PROVIDER):
            raise InputError(f"{co} is not a registered compute provider")
        keys[co] = registry.encryption_key(co)
    listing = prepare_listing(owner, data, plan)
    tm = market.training_market
    meta_hash = market.store.put(listing.manifest.to_bytes())
    dataset_id, _ = tm.create_dataset(
        owner.account,
        meta_hash=hash_bytes(meta_hash),
        subsets=plan.subsets,
        replicas=plan.replicas,
        data_price=data_price,
        job_price=job_price,
    )
    for s, row in enumerate(holders):
        content = pack_replica(listing.salts[s], listing.data(s))
        for r, co in enumerate(row):
            envelope = seal(
                content,
                [keys[co], owner.encryption_public],
                replica_context(tm.address, dataset_id, s),
            )
            tm.create_instance(
                owner.account, dataset_id, s, r, co, hash_bytes(market.store.put(envelope))
            )
    return Listing(listing.manifest, listing.subsets, listing.salts, dataset_id)


def verify_join(
    market: Marketplace,
    owner: Identity,
    listing: Listing,
    instance_id: int,
    data_hash: bytes,
    nonce: bytes,
) -> bool:
    """Verify a joined instance, or flag it if its hash is not ``keccak(subset || nonce)`` of
    the subset the DO gave (the CO declared data it did not receive, or lost it)."""
    subset = market.training_market.instance(instance_id).subset
    ok = listing.join_ok(subset, data_hash, nonce)
    market.training_market.verify_instance(owner.account, instance_id, ok)
    return ok


def verify_joins(market: Marketplace, owner: Identity, listing: Listing) -> list[tuple[int, bool]]:
    """Verify or flag every joined instance of the dataset: (instance id, verdict) each."""
    tm = market.training_market
    verdicts = []
    for row in history.instances_of(market, listing.dataset_id):
        for instance_id in row:
            if not instance_id or verify_problem(tm.instance(instance_id)) is not None:
                continue
            join = history.joined(market, instance_id)
            if join is None:
                continue
            ok = verify_join(
                market, owner, listing, instance_id, bytes(join["data_hash"]), bytes(join["nonce"])
            )
            verdicts.append((instance_id, ok))
    return verdicts


def approve_requests(market: Marketplace, owner: Identity, dataset_id: int) -> list[int]:
    """Approve every pending request on a ready dataset; returns the trainings approved."""
    tm = market.training_market
    dataset = tm.dataset(dataset_id)
    if not dataset.ready:
        return []
    approved = []
    for event in history.find(market, "TrainingRequested", dataset_id=dataset_id):
        training_id = int(event["training_id"])
        training = tm.training(training_id)
        now = market.chain.timestamp()
        if approve_problem(training, dataset, owner.address, now) is None:
            tm.approve_training(owner.account, training_id)
            approved.append(training_id)
    return approved
