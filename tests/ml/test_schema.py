"""The data schema: read from JSON, written back the same, every bad field one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mercato.errors import InputError
from mercato.ml.schema import MAX_SCHEMA_BYTES, DataSchema, Feature

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


def test_a_schema_of_integer_classes_and_no_name_round_trips_through_json() -> None:
    # prepare
    schema = DataSchema(
        label="y",
        classes=(0, 1, 2),
        features=(Feature("a"), Feature("b", "integer"), Feature("c", "boolean")),
    )

    # act
    text = schema.to_json()
    back = DataSchema.parse(text)

    # assert
    assert back == schema and back.classes == (0, 1, 2)
    assert json.loads(text) == {
        "version": 1,
        "label": "y",
        "classes": [0, 1, 2],
        "features": [
            {"name": "a", "type": "number"},
            {"name": "b", "type": "integer"},
            {"name": "c", "type": "boolean"},
        ],
        "ontology": "mc:TabularData",
    }


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"label": 3}, "label must name a column"),
        ({"version": "1"}, "unsupported version '1'"),
        ({"version": True}, "unsupported version True"),
        ({"classes": [0.5, 1]}, "class 0.5 must be a string or an integer"),
        ({"classes": [True, False]}, "class True must be a string or an integer"),
        ({"classes": [1, "1"]}, "classes repeat a value"),
        ({"features": "age,bmi"}, "features must be a list"),
        ({"features": ["age"]}, "features must be a list"),
        ({"features": [{"name": ""}]}, "every feature needs a non-empty name"),
        ({"features": [{"name": "age", "type": 1}]}, "type 1"),
        ({"ontology": 7}, "ontology must name a data class"),
        ({"name": 5}, "name must be a string"),
    ],
)
def test_a_field_of_the_wrong_type_is_refused(changes: dict[str, object], message: str) -> None:
    # act
    with pytest.raises(InputError) as refused:
        DataSchema.parse(json.dumps(document(**changes)), where="s.json")

    # assert
    assert str(refused.value).startswith(("s.json: ", "schema: "))
    assert message in str(refused.value) and "\n" not in str(refused.value)


def test_a_feature_or_schema_built_in_code_is_checked_the_same() -> None:
    with pytest.raises(InputError, match="expected one of number, integer, boolean"):
        Feature("age", "float")
    with pytest.raises(InputError, match="need at least two classes"):
        DataSchema(label="risk", classes=("low",), features=(Feature("age"),))


def test_a_schema_document_too_large_is_refused_before_parsing() -> None:
    # prepare
    raw = b" " * (MAX_SCHEMA_BYTES + 1)

    # act / assert
    with pytest.raises(InputError, match=f"larger than {MAX_SCHEMA_BYTES} bytes"):
        DataSchema.parse(raw)
