"""Datasets as traded assets: the scikit-learn sample sets, a safe byte form, a seeded split.

A dataset travels as a NumPy ``.npz`` archive read with ``allow_pickle=False``, so its bytes
can carry only plain arrays, never code. ``np.savez`` writes every member with a fixed
timestamp, so the same dataset always has the same bytes and the same hash.
"""

from __future__ import annotations

import difflib
import io
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from eth_utils.crypto import keccak
from numpy.typing import NDArray
from sklearn import datasets as sk_datasets
from sklearn.model_selection import train_test_split

from mercato.errors import InputError
from mercato.ml.seed import check_seed
from mercato.ontology import Category, load_ontology

FORMAT = "mercato.dataset/1"
DEFAULT_TEST_FRACTION = 0.25
MAX_DATASET_BYTES = 512 * 1024 * 1024
_MEMBERS = frozenset({"format", "name", "ontology_class", "X", "y"})
# written only when set, so a data set without names keeps the bytes (and hash) it had
_NAMED_MEMBERS = frozenset({"features", "labels"})

# name -> (scikit-learn loader, ontology class of the data)
_SOURCES: dict[str, tuple[Callable[..., Any], str]] = {
    "digits": (sk_datasets.load_digits, "mc:HandwrittenDigitImages"),
    "breast_cancer": (sk_datasets.load_breast_cancer, "mc:TumourDiagnosisRecords"),
    "wine": (sk_datasets.load_wine, "mc:WineChemistryRecords"),
    "iris": (sk_datasets.load_iris, "mc:IrisFlowerMeasurements"),
}
DATASET_NAMES: tuple[str, ...] = tuple(_SOURCES)


@dataclass(frozen=True, eq=False)
class Dataset:
    """Labelled examples: features ``X`` (float32, one row each) and integer labels ``y``.

    The arrays are made read-only; ``ontology_class`` must be a data class of the ontology.
    ``features`` names the columns of ``X`` and ``labels`` the classes (label ``i`` is
    ``labels[i]``) when the data came from a file with a schema; both are empty otherwise.
    """

    name: str
    ontology_class: str
    X: NDArray[np.float32]
    y: NDArray[np.int64]
    features: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise InputError("dataset: name must be a non-empty string")
        ontology = load_ontology()
        curie = ontology.curie(self.ontology_class)
        if ontology.category_of(curie) is not Category.DATA:
            raise InputError(f"dataset {self.name!r}: {curie!r} is not a data class")
        X = np.array(self.X, dtype=np.float32, order="C")
        y = np.array(self.y, dtype=np.int64)
        if X.ndim != 2 or y.ndim != 1 or len(X) != len(y) or len(y) == 0:
            raise InputError(
                f"dataset {self.name!r}: need X of shape (n, features) and y of shape (n,) "
                f"with n > 0, got {X.shape} and {y.shape}"
            )
        if not np.isfinite(X).all():
            raise InputError(f"dataset {self.name!r}: X holds NaN or infinite values")
        features, labels = tuple(map(str, self.features)), tuple(map(str, self.labels))
        if features and len(features) != X.shape[1]:
            raise InputError(
                f"dataset {self.name!r}: {len(features)} feature names for {X.shape[1]} columns"
            )
        if labels and (y.min() < 0 or y.max() >= len(labels)):
            raise InputError(
                f"dataset {self.name!r}: a label lies outside its {len(labels)} classes"
            )
        object.__setattr__(self, "features", features)
        object.__setattr__(self, "labels", labels)
        X.setflags(write=False)
        y.setflags(write=False)
        object.__setattr__(self, "ontology_class", curie)
        object.__setattr__(self, "X", X)
        object.__setattr__(self, "y", y)

    @property
    def classes(self) -> NDArray[np.int64]:
        """Distinct labels, sorted."""
        return np.unique(self.y)

    def to_bytes(self) -> bytes:
        """The dataset as an ``.npz`` archive; equal datasets give equal bytes."""
        buffer = io.BytesIO()
        members: dict[str, Any] = {  # Any: savez types its keyword arguments as flags
            "format": np.array(FORMAT),
            "name": np.array(self.name),
            "ontology_class": np.array(self.ontology_class),
            "X": self.X,
            "y": self.y,
        }
        for member, values in (("features", self.features), ("labels", self.labels)):
            if values:
                members[member] = np.array(values, dtype=np.str_)
        np.savez(buffer, **members)
        return buffer.getvalue()

    def digest(self) -> bytes:
        """keccak-256 of :meth:`to_bytes`: the dataset's commitment."""
        return bytes(keccak(self.to_bytes()))

    @classmethod
    def from_bytes(cls, data: bytes) -> Dataset:
        """Read :meth:`to_bytes` output; raises InputError on anything else. Never unpickles."""
        if len(data) > MAX_DATASET_BYTES:
            raise InputError(f"dataset: archive is larger than {MAX_DATASET_BYTES} bytes")
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as archive:
                members = set(archive.files)
                if not _MEMBERS <= members <= _MEMBERS | _NAMED_MEMBERS:
                    raise InputError(
                        f"dataset: archive members {sorted(archive.files)} are not "
                        f"{sorted(_MEMBERS)} (and optionally {sorted(_NAMED_MEMBERS)})"
                    )
                arrays = {name: archive[name] for name in members}
        except (ValueError, OSError, EOFError, zipfile.BadZipFile, MemoryError) as exc:
            raise InputError(f"dataset: not a readable .npz archive: {exc}") from None
        fmt = _text(arrays["format"], "format")
        if fmt != FORMAT:
            raise InputError(f"dataset: format {fmt!r} is not {FORMAT!r}")
        if arrays["X"].dtype != np.float32 or arrays["y"].dtype != np.int64:
            raise InputError("dataset: X must be float32 and y int64")
        return cls(
            name=_text(arrays["name"], "name"),
            ontology_class=_text(arrays["ontology_class"], "ontology_class"),
            X=arrays["X"],
            y=arrays["y"],
            features=_texts(arrays.get("features"), "features"),
            labels=_texts(arrays.get("labels"), "labels"),
        )

    def renamed(self, name: str, X: NDArray[Any], y: NDArray[Any]) -> Dataset:
        """Other rows of this data set (a part of it), keeping its class and names."""
        return Dataset(name, self.ontology_class, X, y, self.features, self.labels)


@dataclass(frozen=True, eq=False)
class Split:
    """A dataset cut into a training part and a held-out test part."""

    X_train: NDArray[np.float32]
    y_train: NDArray[np.int64]
    X_test: NDArray[np.float32]
    y_test: NDArray[np.int64]


def load_dataset(name: str) -> Dataset:
    """One of the sample datasets scikit-learn ships (no network): see :data:`DATASET_NAMES`."""
    if name not in _SOURCES:
        close = difflib.get_close_matches(str(name), DATASET_NAMES, n=1)
        hint = f"Did you mean {close[0]!r}?" if close else f"Known: {', '.join(DATASET_NAMES)}."
        raise InputError(f"no dataset named {name!r}. {hint}")
    loader, ontology_class = _SOURCES[name]
    bunch = loader()
    return Dataset(name=name, ontology_class=ontology_class, X=bunch.data, y=bunch.target)


def holdout_split(
    dataset: Dataset, seed: int, test_fraction: float = DEFAULT_TEST_FRACTION
) -> Split:
    """Stratified train/test split; the same dataset, seed and fraction give the same split."""
    if not 0.0 < test_fraction < 1.0:
        raise InputError(f"test fraction must lie strictly between 0 and 1, got {test_fraction}")
    try:
        X_train, X_test, y_train, y_test = train_test_split(
            dataset.X,
            dataset.y,
            test_size=test_fraction,
            random_state=check_seed(seed),
            stratify=dataset.y,
        )
    except ValueError as exc:
        raise InputError(f"dataset {dataset.name!r}: cannot split: {exc}") from None
    return Split(X_train=X_train, y_train=y_train, X_test=X_test, y_test=y_test)


def _texts(array: NDArray[Any] | None, member: str) -> tuple[str, ...]:
    if array is None:
        return ()
    if array.dtype.kind != "U" or array.ndim != 1:
        raise InputError(f"dataset: member {member!r} must be a list of texts")
    return tuple(str(v) for v in array)


def _text(array: NDArray[Any], member: str) -> str:
    if array.dtype.kind != "U" or array.ndim != 0:
        raise InputError(f"dataset: member {member!r} must be a text scalar")
    return str(array[()])


SELLER_SPLIT_SEED = 7
"""Seed of the split between the part of a sample dataset a data owner sells and the part
a client keeps to evaluate what it buys (the demo and `mercato agent run` share it)."""
BUYER_HOLDOUT_FRACTION = 0.2


def seller_and_buyer_parts(name: str) -> tuple[Dataset, Dataset]:
    """(part a data owner sells, part a client evaluates on) of a sample dataset; disjoint."""
    full = load_dataset(name)
    split = holdout_split(full, seed=SELLER_SPLIT_SEED, test_fraction=BUYER_HOLDOUT_FRACTION)
    sold = full.renamed(full.name, split.X_train, split.y_train)
    held_out = full.renamed(f"{full.name}-eval", split.X_test, split.y_test)
    return sold, held_out
