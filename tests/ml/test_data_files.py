"""Data files: the same table as CSV, Parquet or .npz reads to the same data set; a bad file
is refused in one line naming the problem; a recorded file that changed is refused."""

from __future__ import annotations

from pathlib import Path

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
TABLE = {
    "age": [40, 61, 35, 70],
    "bmi": [22.5, 31.0, 24.25, 29.5],
    "smoker": [False, True, False, True],
    "risk": ["low", "high", "low", "high"],
}


def write_csv(path: Path, table: dict[str, list[object]]) -> Path:
    pacsv.write_csv(pa.table(table), path)
    return path


@pytest.fixture(params=["csv", "parquet", "npz"])
def table_file(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """TABLE in each format the reader takes."""
    path = tmp_path / f"patients.{request.param}"
    if request.param == "csv":
        return write_csv(path, TABLE)
    if request.param == "parquet":
        pq.write_table(pa.table(TABLE), path)
        return path
    np.savez(path, **{name: np.array(values) for name, values in TABLE.items()})
    return path


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


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty.csv", b"", "empty"),
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
