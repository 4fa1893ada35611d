"""Sample datasets, their safe byte form and the seeded split."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest

from mercato.errors import InputError
from mercato.ml import DATASET_NAMES, Dataset, holdout_split, load_dataset
from mercato.ontology import Category, load_ontology

EXPECTED = {
    "digits": ((1797, 64), 10, "mc:HandwrittenDigitImages"),
    "breast_cancer": ((569, 30), 2, "mc:TumourDiagnosisRecords"),
    "wine": ((178, 13), 3, "mc:WineChemistryRecords"),
    "iris": ((150, 4), 3, "mc:IrisFlowerMeasurements"),
}


@pytest.mark.parametrize("name", DATASET_NAMES)
def test_load_dataset_gives_typed_arrays_and_a_data_class(name: str) -> None:
    shape, n_classes, ontology_class = EXPECTED[name]

    dataset = load_dataset(name)

    assert dataset.X.shape == shape and dataset.X.dtype == np.float32
    assert dataset.y.shape == shape[:1] and dataset.y.dtype == np.int64
    assert len(dataset.classes) == n_classes
    assert dataset.ontology_class == ontology_class
    assert load_ontology().category_of(ontology_class) is Category.DATA


def test_unknown_dataset_name_suggests_the_closest() -> None:
    with pytest.raises(InputError, match=r"^no dataset named 'digit'\. Did you mean 'digits'\?$"):
        load_dataset("digit")


def test_arrays_are_read_only() -> None:
    dataset = load_dataset("iris")

    with pytest.raises(ValueError, match="read-only"):
        dataset.X[0, 0] = 1.0


def test_bytes_round_trip_keeps_everything() -> None:
    dataset = load_dataset("wine")

    restored = Dataset.from_bytes(dataset.to_bytes())

    assert restored.name == "wine"
    assert restored.ontology_class == dataset.ontology_class
    np.testing.assert_array_equal(restored.X, dataset.X)
    np.testing.assert_array_equal(restored.y, dataset.y)


def test_equal_datasets_have_equal_bytes_and_digest() -> None:
    first, second = load_dataset("iris"), load_dataset("iris")

    assert first.to_bytes() == second.to_bytes()
    assert first.digest() == second.digest()
    assert len(first.digest()) == 32


def test_bytes_are_a_plain_npz_archive() -> None:
    raw = load_dataset("iris").to_bytes()

    with np.load(io.BytesIO(raw), allow_pickle=False) as archive:
        assert sorted(archive.files) == ["X", "format", "name", "ontology_class", "y"]


def test_archive_with_a_pickled_member_is_refused() -> None:
    dataset = load_dataset("iris")
    buffer = io.BytesIO()
    np.savez(
        buffer,
        format=np.array("mercato.dataset/1"),
        name=np.array([{"evil": 1}], dtype=object),
        ontology_class=np.array(dataset.ontology_class),
        X=dataset.X,
        y=dataset.y,
    )

    with pytest.raises(InputError, match=r"^dataset: not a readable \.npz archive: .*allow_pickle"):
        Dataset.from_bytes(buffer.getvalue())


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"not a zip", r"^dataset: not a readable \.npz archive"),
        (b"", r"^dataset: not a readable \.npz archive"),
    ],
)
def test_garbage_is_refused(raw: bytes, message: str) -> None:
    with pytest.raises(InputError, match=message):
        Dataset.from_bytes(raw)


def test_archive_with_missing_members_is_refused() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("X.npy", b"")

    with pytest.raises(InputError, match=r"^dataset: archive members \['X'\] are not "):
        Dataset.from_bytes(buffer.getvalue())


def test_dataset_with_a_non_data_class_is_refused() -> None:
    with pytest.raises(InputError, match=r"^dataset 'x': 'mc:SVM' is not a data class$"):
        Dataset(name="x", ontology_class="mc:SVM", X=np.zeros((2, 2)), y=np.zeros(2))


def test_mismatched_shapes_are_refused() -> None:
    with pytest.raises(InputError, match=r"^dataset 'x': need X of shape \(n, features\)"):
        Dataset(name="x", ontology_class="mc:TabularData", X=np.zeros((3, 2)), y=np.zeros(2))


def test_split_is_deterministic_for_a_seed() -> None:
    dataset = load_dataset("digits")

    first, second = holdout_split(dataset, seed=5), holdout_split(dataset, seed=5)
    other = holdout_split(dataset, seed=6)

    np.testing.assert_array_equal(first.X_train, second.X_train)
    np.testing.assert_array_equal(first.y_test, second.y_test)
    assert not np.array_equal(first.y_test, other.y_test)


def test_split_is_stratified_and_sized() -> None:
    dataset = load_dataset("iris")

    split = holdout_split(dataset, seed=0, test_fraction=0.2)

    assert len(split.y_test) == 30 and len(split.y_train) == 120
    assert np.bincount(split.y_test).tolist() == [10, 10, 10]


@pytest.mark.parametrize("seed", [-1, 2**32, 1.5, True])
def test_bad_seed_is_refused(seed: object) -> None:
    with pytest.raises(InputError, match=r"^seed must be an integer from 0 to 4294967295"):
        holdout_split(load_dataset("iris"), seed=seed)  # type: ignore[arg-type]
