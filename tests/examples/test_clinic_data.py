"""The walk-through's shipped data is what its generator writes, and reads as its schema says."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from mercato.ml.data_files import read_data
from mercato.ml.schema import DataSchema

FOLDER = Path(__file__).resolve().parents[2] / "examples" / "clinic"
FILES = ("patients.csv", "holdout.csv", "patients.schema.json")


def test_the_generator_writes_the_shipped_files_byte_for_byte(tmp_path: Path) -> None:
    # prepare
    spec = importlib.util.spec_from_file_location("generate", FOLDER / "generate.py")
    assert spec is not None and spec.loader is not None
    generate = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generate)

    # act
    generate.main(tmp_path)

    # assert
    for name in FILES:
        assert (tmp_path / name).read_bytes() == (FOLDER / name).read_bytes(), name


def test_the_shipped_rows_fit_the_schema_and_do_not_overlap() -> None:
    # act
    schema = DataSchema.read(FOLDER / "patients.schema.json")
    sold = read_data(FOLDER / "patients.csv", schema=schema)
    held_out = read_data(FOLDER / "holdout.csv", schema=schema)

    # assert
    assert (len(sold.y), len(held_out.y)) == (600, 200)
    assert sold.labels == held_out.labels == ("low", "high")
    assert sold.ontology_class == "mc:PatientRecords"
    rows = {row.tobytes() for row in sold.X}
    assert not any(row.tobytes() in rows for row in held_out.X)
    assert 0.3 < sold.y.mean() < 0.7
