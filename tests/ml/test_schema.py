"""The data schema: read from JSON, written back the same, every bad field one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mercato.errors import InputError
from mercato.ml.schema import DataSchema, Feature

CLINIC_SCHEMA = Path(__file__).parents[2] / "examples" / "clinic" / "patients.schema.json"


def document(**changes: object) -> dict[str, object]:
    base: dict[str, object] = {
        "version": 1,
        "label": "risk",
        "classes": ["low", "high"],
        "features": [{"name": "age", "type": "integer"}, {"name": "bmi", "type": "number"}],
        "ontology": "mc:PatientRecords",
    }
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def test_the_clinic_schema_reads_and_writes_back_the_same() -> None:
    # act
    schema = DataSchema.read(CLINIC_SCHEMA)

    # assert
    assert schema.label == "risk" and schema.class_names == ("low", "high")
    assert schema.feature_names[:3] == ("age", "bmi", "systolic_bp")
    assert schema.features[-1] == Feature("smoker", "boolean")
    assert (schema.name, schema.ontology) == ("clinic-patients", "mc:PatientRecords")
    assert DataSchema.parse(schema.to_json()) == schema
    assert json.loads(schema.to_json()) == json.loads(CLINIC_SCHEMA.read_text())


def test_class_values_map_to_label_indices_in_order() -> None:
    # prepare
    schema = DataSchema.parse(json.dumps(document(classes=[3, 7, 9])))

    # act
    indices = [schema.index_of(v) for v in (3, "7", 9, 4)]

    # assert
    assert indices == [0, 1, 2, None]
    assert schema.class_names == ("3", "7", "9")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"label": None}, "missing field 'label'"),
        ({"colour": "red"}, "unknown field 'colour'"),
        ({"version": 2}, "unsupported version 2"),
        ({"classes": ["only"]}, "at least two classes"),
        ({"classes": ["a", "a"]}, "classes repeat a value"),
        ({"classes": "low,high"}, "classes must be a list"),
        ({"features": []}, "at least one feature"),
        ({"features": [{"name": "age", "type": "text"}]}, "'text'"),
        ({"features": [{"name": "age"}, {"name": "age"}]}, "'age' appears more than once"),
        ({"features": [{"name": "risk"}]}, "also listed as a feature"),
        ({"features": [{"name": "age", "unit": "y"}]}, "a feature must be {name, type}"),
        ({"ontology": ""}, "ontology must name a data class"),
    ],
)
def test_a_bad_schema_is_one_line_naming_the_problem(
    changes: dict[str, object], message: str
) -> None:
    # act
    with pytest.raises(InputError) as refused:
        DataSchema.parse(json.dumps(document(**changes)))

    # assert
    assert message in str(refused.value)
    assert "\n" not in str(refused.value)


@pytest.mark.parametrize("raw", [b"not json", b"[1, 2]", b"\xff\xfe"])
def test_a_file_that_is_no_schema_is_refused(tmp_path: Path, raw: bytes) -> None:
    # prepare
    path = tmp_path / "s.json"
    path.write_bytes(raw)

    # act
    with pytest.raises(InputError, match=f"schema {path}") as refused:
        DataSchema.read(path)

    # assert
    assert "\n" not in str(refused.value)


def test_a_missing_schema_file_is_named() -> None:
    with pytest.raises(InputError, match="no such file"):
        DataSchema.read("/nonexistent/schema.json")
