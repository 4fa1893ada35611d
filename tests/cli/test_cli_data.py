"""``mercato data`` and ``mercato model``: own files checked, schemas written, models scored."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from mercato.ml.data_files import read_data
from mercato.ml.model_files import write_model
from mercato.ml.schema import DataSchema

from .helpers import run_main

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "clinic"
PATIENTS = EXAMPLES / "patients.csv"
HOLDOUT = EXAMPLES / "holdout.csv"
SCHEMA = EXAMPLES / "patients.schema.json"


@pytest.fixture(scope="module")
def fitted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, float]:
    """A logistic regression trained on the clinic rows, as .skops, and its held-out accuracy."""
    schema = DataSchema.read(SCHEMA)
    sold, held_out = read_data(PATIENTS, schema=schema), read_data(HOLDOUT, schema=schema)
    model = LogisticRegression(max_iter=2000).fit(sold.X, sold.y)
    path = write_model(tmp_path_factory.mktemp("model") / "risk.skops", model)
    return path, float(model.score(held_out.X, held_out.y))


def test_schema_writes_what_the_file_holds_and_check_reads_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # prepare
    out = tmp_path / "s.json"

    # act
    wrote = run_main(
        monkeypatch, capsys, "data", "schema", PATIENTS, "--label", "risk",
        "--ontology", "mc:PatientRecords", "--out", out,
    )  # fmt: skip
    checked = run_main(monkeypatch, capsys, "data", "check", PATIENTS, "--schema", out, "--json")

    # assert
    assert wrote[0] == 0, wrote
    schema = DataSchema.read(out)
    assert schema.label == "risk"
    assert schema.feature_names == ("age", "bmi", "systolic_bp", "glucose", "hba1c", "smoker")
    assert [f.type for f in schema.features][:3] == ["integer", "number", "integer"]
    assert schema.features[-1].type == "boolean"
    assert set(schema.class_names) == {"low", "high"}
    assert checked[0] == 0, checked
    summary = json.loads(checked[1])
    assert summary["rows"] == 600
    assert sum(summary["classes"].values()) == 600
    assert summary["ontology_class"] == "mc:PatientRecords"


def test_check_gives_the_hash_the_protocols_seal(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # act
    code, out, _ = run_main(monkeypatch, capsys, "data", "check", PATIENTS, "--schema", SCHEMA)

    # assert
    assert code == 0
    digest = read_data(PATIENTS, schema=DataSchema.read(SCHEMA)).digest().hex()
    assert f"0x{digest}" in out


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        ("age,bmi,risk\n", "no rows"),
        ("age,bmi,risk\n40,22.5,low\n50,,high\n", "column 'bmi' has 1 missing value(s)"),
        ("age,bmi,risk\n40,22.5,low\n50,heavy,high\n", "column 'bmi' holds text"),
        ("age,bmi,risk\n40,22.5,low\n50,27.0,maybe\n", "label 'maybe' is not one of the declared"),
        ("age,risk\n40,low\n50,high\n", "missing column 'bmi'"),
        ("age,bmi,risk\n40.5,22.5,low\n50,27.0,high\n", "column 'age' holds number values"),
    ],
)
def test_a_bad_file_is_one_line_naming_the_problem(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    rows: str,
    expected: str,
) -> None:
    # prepare
    schema = DataSchema(
        label="risk",
        classes=("low", "high"),
        features=({"name": "age", "type": "integer"}, {"name": "bmi", "type": "number"}),  # type: ignore[arg-type]
    )
    (tmp_path / "s.json").write_text(schema.to_json())
    (tmp_path / "rows.csv").write_text(rows)

    # act
    code, out, err = run_main(
        monkeypatch, capsys, "data", "check", tmp_path / "rows.csv", "--schema", tmp_path / "s.json"
    )

    # assert
    assert code == 1
    assert out == ""
    assert expected in err
    assert len(err.strip().splitlines()) == 1


def test_score_measures_a_model_file_on_held_out_rows(
    fitted: tuple[Path, float], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # prepare
    path, accuracy = fitted

    # act
    code, out, _ = run_main(
        monkeypatch, capsys, "model", "score", path, "--data", HOLDOUT, "--schema", SCHEMA, "--json"
    )

    # assert
    assert code == 0
    report = json.loads(out)
    assert report["metrics"]["accuracy"] == pytest.approx(accuracy, abs=1e-12)
    assert report["measured_on"]["rows"] == 200


def test_score_refuses_rows_of_another_width(
    fitted: tuple[Path, float], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # act
    code, _, err = run_main(monkeypatch, capsys, "model", "score", fitted[0], "--dataset", "iris")

    # assert
    assert code == 1
    assert "takes 6 features; iris-eval has 4" in err


def test_a_pickle_is_refused_unopened(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # prepare: a pickle that would create a file when unpickled
    marker = tmp_path / "owned"
    payload = (
        b"cos\nsystem\n(S'touch " + str(marker).encode() + b"'\ntR."
    )  # protocol 0: os.system("touch ...")
    path = tmp_path / "model.pkl"
    path.write_bytes(payload)

    # act
    code, _, err = run_main(monkeypatch, capsys, "model", "check", path)

    # assert
    assert code == 1
    assert "pickles" in err
    assert not marker.exists()


def test_check_names_a_mercato_weights_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # prepare
    from mercato.ml.model_files import WeightsModel
    from mercato.ml.trainers import NumpyLogReg

    trainer = NumpyLogReg(n_features=6, n_classes=2)
    path = write_model(tmp_path / "w.safetensors", WeightsModel(trainer, trainer.init_weights(1)))

    # act
    code, out, _ = run_main(monkeypatch, capsys, "model", "check", path, "--json")

    # assert
    assert code == 0
    described = json.loads(out)
    assert described["trainer"]["kind"] == "numpy-logreg"
    assert described["n_features"] == 6
    assert np.isfinite(trainer.init_weights(1)).all()


# a model that names its classes, scored on rows whose file orders them otherwise ------------
ROWS = "noise,x,risk\n" + "".join(
    f"{n},{x},{r}\n"
    for n, x, r in zip(
        (-5.0, -6.0, -5.5, -7.0, -5.0, -6.5, -8.0, -5.25),
        (-2.0, -1.0, -3.0, 1.0, 2.0, 3.0, 1.5, 4.0),
        ("low",) * 4 + ("high",) * 4,
        strict=True,
    )
)
"""Rows a model predicting ``high`` exactly when ``x > 0`` gets right but one: accuracy 0.875."""


@pytest.fixture
def named(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A Mercato model of the classes (low, high) over (x, noise); the rows; their schema as
    the model was trained with (an inferred one sorts the classes: high, low)."""
    from mercato.ml.columns import Inputs
    from mercato.ml.model_files import WeightsModel
    from mercato.ml.trainers import NumpyLogReg

    inputs = Inputs(("x", "noise"), ("low", "high"), (0.0, 0.0), (1.0, 1.0))
    weights = np.array([0.0, 1.0, 0.0, 0.0, 0.0, 0.0])  # class 1 (high) exactly when x > 0
    model = write_model(
        tmp_path / "m.safetensors", WeightsModel(NumpyLogReg(2, 2), weights, inputs)
    )
    rows = tmp_path / "rows.csv"
    rows.write_text(ROWS)
    schema = tmp_path / "s.json"
    schema.write_text(
        DataSchema(
            label="risk",
            classes=("low", "high"),
            features=({"name": "noise"}, {"name": "x"}),  # type: ignore[arg-type]
        ).to_json()
    )
    return model, rows, schema


@pytest.mark.parametrize("described", [("--label", "risk"), ("--schema", None)])
def test_score_matches_the_rows_to_the_classes_the_model_names(
    named: tuple[Path, Path, Path],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    described: tuple[str, Path | None],
) -> None:
    # prepare
    model, rows, schema = named
    option, value = described

    # act
    code, out, err = run_main(
        monkeypatch, capsys, "model", "score", model, "--data", rows, option, value or schema,
        "--json",
    )  # fmt: skip

    # assert
    assert code == 0, err
    report = json.loads(out)
    assert report["metrics"]["accuracy"] == 0.875
    assert report["measured_on"]["classes"] == ["low", "high"]
    assert report["measured_on"]["class_order"] == "model"


def test_score_refuses_a_row_class_the_model_lacks_in_one_line(
    named: tuple[Path, Path, Path],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # prepare
    model, rows, _ = named
    rows.write_text(ROWS.replace("4.0,high", "4.0,medium"))

    # act
    code, out, err = run_main(
        monkeypatch, capsys, "model", "score", model, "--data", rows, "--label", "risk"
    )

    # assert
    assert code == 1
    assert out == ""
    assert len(err.strip().splitlines()) == 1
    assert "predicts the classes low, high; 'rows' holds the classes high, low, medium" in err


def test_score_of_a_model_of_integer_classes_says_the_rows_class_order(
    fitted: tuple[Path, float], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # act
    code, out, _ = run_main(
        monkeypatch, capsys, "model", "score", fitted[0], "--data", HOLDOUT, "--schema", SCHEMA
    )
    as_json = run_main(
        monkeypatch, capsys, "model", "score", fitted[0], "--data", HOLDOUT, "--schema", SCHEMA,
        "--json",
    )  # fmt: skip

    # assert
    assert code == 0
    assert "classes in label order low, high (the rows' own order" in out
    measured_on = json.loads(as_json[1])["measured_on"]
    assert measured_on["classes"] == ["low", "high"]
    assert measured_on["class_order"] == "rows"
