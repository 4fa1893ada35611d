"""Data files: the same table as CSV, Parquet or .npz reads to the same data set; a bad file
is refused in one line naming the problem; a recorded file that changed is refused."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from mercato.errors import InputError
from mercato.ml.data_files import DataSource, infer_schema, read_data
from mercato.ml.schema import DataSchema, Feature
from mercato.user_files import DataFile

SCHEMA = DataSchema(
    label="risk",
    classes=("low", "high"),
    features=(Feature("age", "integer"), Feature("bmi", "number"), Feature("smoker", "boolean")),
    ontology="mc:PatientRecords",
)
TABLE: dict[str, list[object]] = {
    "age": [40, 61, 35, 70],
    "bmi": [22.5, 31.0, 24.25, 29.5],
    "smoker": [False, True, False, True],
    "risk": ["low", "high", "low", "high"],
}


def write_csv(path: Path, table: dict[str, list[object]]) -> Path:
    pacsv.write_csv(pa.table(table), path)
    return path


def write_table(path: Path, table: dict[str, list[object]]) -> Path:
    """``table`` as the file its suffix names: CSV, Parquet, or one .npz array per column."""
    if path.suffix == ".csv":
        return write_csv(path, table)
    if path.suffix == ".parquet":
        pq.write_table(pa.table(table), path)
        return path
    arrays: dict[str, Any] = {name: np.array(values) for name, values in table.items()}
    np.savez(path, **arrays)
    return path


FORMATS = ["csv", "parquet", "npz"]


@pytest.fixture(params=FORMATS)
def table_file(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """TABLE in each format the reader takes."""
    return write_table(tmp_path / f"patients.{request.param}", TABLE)


def test_every_format_reads_to_the_same_data_set(table_file: Path) -> None:
    # act
    data = read_data(table_file, schema=SCHEMA)

    # assert
    assert data.features == ("age", "bmi", "smoker")
    assert data.labels == ("low", "high")
    assert data.y.tolist() == [0, 1, 0, 1]
    assert data.X.tolist() == [[40, 22.5, 0], [61, 31.0, 1], [35, 24.25, 0], [70, 29.5, 1]]
    assert data.ontology_class == "mc:PatientRecords"
    assert data.digest() == read_data(table_file, schema=SCHEMA).digest()


def test_every_format_reads_alike_with_a_label_and_no_schema(table_file: Path) -> None:
    # act
    data = read_data(table_file, label="risk")

    # assert: classes in sorted order, so high is 0 and low is 1
    assert data.features == ("age", "bmi", "smoker")
    assert data.labels == ("high", "low")
    assert data.y.tolist() == [1, 0, 1, 0]
    assert data.X.tolist() == read_data(table_file, schema=SCHEMA).X.tolist()
    assert data.name == "patients" and data.ontology_class == "mc:TabularData"


def test_a_label_alone_infers_the_schema(tmp_path: Path) -> None:
    # prepare
    path = write_csv(tmp_path / "p.csv", TABLE)

    # act
    inferred = infer_schema(path, label="risk")
    data = read_data(path, label="risk")

    # assert
    assert inferred.feature_names == ("age", "bmi", "smoker")
    assert [f.type for f in inferred.features] == ["integer", "number", "boolean"]
    assert set(inferred.class_names) == {"low", "high"}
    assert data.X.shape == (4, 3)


def test_columns_are_taken_in_the_schema_order_whatever_the_file_order(tmp_path: Path) -> None:
    # prepare
    shuffled = {name: TABLE[name] for name in ("risk", "smoker", "bmi", "age")}
    path = write_csv(tmp_path / "p.csv", shuffled)

    # act
    data = read_data(path, schema=SCHEMA)

    # assert
    assert data.X[:, 0].tolist() == TABLE["age"]


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({k: v for k, v in TABLE.items() if k != "bmi"}, "'bmi'"),
        ({**TABLE, "age": ["forty", "61", "35", "70"]}, "'age'"),
        ({**TABLE, "age": [40.5, 61.0, 35.0, 70.0]}, "'age'"),
        ({**TABLE, "bmi": [22.5, None, 24.25, 29.5]}, "'bmi'"),
        ({**TABLE, "bmi": [22.5, float("nan"), 24.25, 29.5]}, "'bmi'"),
        ({**TABLE, "risk": ["low", "high", "medium", "high"]}, "'medium'"),
        ({k: [] for k in TABLE}, "holds no rows"),
    ],
    ids=["missing column", "text", "decimal in integer", "empty cell", "NaN", "class", "no rows"],
)
def test_a_bad_file_is_one_line_naming_the_problem(
    tmp_path: Path, table: dict[str, list[object]], message: str
) -> None:
    # prepare
    path = write_csv(tmp_path / "bad.csv", table)

    # act
    with pytest.raises(InputError) as refused:
        read_data(path, schema=SCHEMA)

    # assert
    text = str(refused.value)
    assert text.startswith(str(path)) and message in text
    assert "\n" not in text


@pytest.mark.parametrize("suffix", FORMATS)
@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({k: v for k, v in TABLE.items() if k != "smoker"}, "missing column 'smoker'"),
        ({**TABLE, "bmi": ["thin", "31", "24", "29"]}, "column 'bmi' holds text"),
        ({**TABLE, "bmi": [22.5, 31.0, float("nan"), 29.5]}, "column 'bmi' has 1 "),
        ({**TABLE, "risk": ["low", "high", "low", "none"]}, "label 'none' is not one of"),
    ],
    ids=["missing column", "text", "NaN", "class"],
)
def test_every_format_refuses_the_same_problem_in_the_same_words(
    tmp_path: Path, suffix: str, table: dict[str, list[object]], message: str
) -> None:
    # prepare
    path = write_table(tmp_path / f"bad.{suffix}", table)

    # act
    with pytest.raises(InputError) as refused:
        read_data(path, schema=SCHEMA)

    # assert
    assert str(refused.value).startswith(f"{path}: ") and message in str(refused.value)
    assert "\n" not in str(refused.value)


def test_an_npz_of_x_and_y_names_its_columns_x0_x1(tmp_path: Path) -> None:
    # prepare
    path = tmp_path / "xy.npz"
    np.savez(path, X=np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]), y=np.array([2, 0, 2]))

    # act
    inferred = infer_schema(path, label="y")
    data = read_data(path, label="y")

    # assert
    assert inferred.feature_names == ("x0", "x1") and inferred.classes == (0, 2)
    assert data.y.tolist() == [1, 0, 1] and data.labels == ("0", "2")
    assert data.X.tolist() == [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]


def test_a_mercato_archive_reads_as_itself_and_must_match_a_given_schema(tmp_path: Path) -> None:
    # prepare
    original = read_data(write_csv(tmp_path / "p.csv", TABLE), schema=SCHEMA)
    path = tmp_path / "archive.npz"
    path.write_bytes(original.to_bytes())
    other = DataSchema(label="risk", classes=("no", "yes"), features=SCHEMA.features)

    # act
    data = read_data(path)

    # assert
    assert data.digest() == original.digest()
    assert read_data(path, schema=SCHEMA).digest() == original.digest()
    with pytest.raises(InputError, match="its classes \\['low', 'high'\\] are not the schema's"):
        read_data(path, schema=other)
    with pytest.raises(InputError, match="needs no schema"):
        infer_schema(path, label="risk")


@pytest.mark.parametrize("suffix", ["csv", "npz"])
def test_an_empty_label_is_refused_when_inferring_the_schema(tmp_path: Path, suffix: str) -> None:
    # prepare
    path = write_table(tmp_path / f"p.{suffix}", {**TABLE, "risk": ["low", "", "high", "low"]})

    # act / assert
    with pytest.raises(InputError, match="column 'risk' has 1 empty value"):
        infer_schema(path, label="risk")


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty.csv", b"", "the file is empty"),
        ("empty.parquet", b"", "cannot read it"),
        ("empty.npz", b"", "not a readable .npz"),
        ("data.txt", b"a,b\n1,2\n", "unknown data file type"),
        ("broken.parquet", b"PAR1 not really", "cannot read"),
        ("broken.npz", b"PK not a zip", "not a readable .npz"),
    ],
)
def test_an_unreadable_file_is_refused(
    tmp_path: Path, name: str, content: bytes, message: str
) -> None:
    # prepare
    path = tmp_path / name
    path.write_bytes(content)

    # act
    with pytest.raises(InputError) as refused:
        read_data(path, schema=SCHEMA)

    # assert
    assert message in str(refused.value) and "\n" not in str(refused.value)


def test_a_file_needs_a_label_or_a_schema_and_a_source_one_kind_of_data(tmp_path: Path) -> None:
    # prepare
    path = write_csv(tmp_path / "p.csv", TABLE)

    # act / assert
    with pytest.raises(InputError, match="--label COLUMN"):
        read_data(path)
    with pytest.raises(InputError, match="differs from the schema"):
        read_data(path, schema=SCHEMA, label="bmi")
    with pytest.raises(InputError, match="not both"):
        DataSource(sample="digits", path=path, label="risk").load()
    assert DataSource(sample="iris").load().name == "iris"


def test_a_recorded_file_that_changed_is_refused(tmp_path: Path) -> None:
    # prepare
    path = write_csv(tmp_path / "p.csv", TABLE)
    recorded, data = DataFile.read(path, label="risk")
    assert recorded.load("joined task 1").digest() == data.digest()
    write_csv(path, {**TABLE, "bmi": [22.5, 31.0, 24.25, 30.5]})

    # act
    with pytest.raises(InputError, match="changed since you joined task 1") as refused:
        recorded.load("joined task 1")

    # assert
    assert "\n" not in str(refused.value)
