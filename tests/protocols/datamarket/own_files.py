"""Data files written from scikit-learn's digits, as a participant of P3 would hold them."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from mercato.ml.data_files import infer_schema
from mercato.ml.datasets import Dataset

LABEL = "digit"
DIGITS_CLASS = "mc:HandwrittenDigitImages"


def pixel_names(count: int) -> list[str]:
    return [f"pixel_{i // 8}_{i % 8}" for i in range(count)]


def write_csv(path: Path, X: np.ndarray, y: np.ndarray, names: list[str] | None = None) -> Path:
    """Rows ``X`` and labels ``y`` as a CSV with named columns (float32 kept exactly)."""
    names = names or pixel_names(X.shape[1])
    table = np.column_stack([np.asarray(X, dtype=np.float64), y])
    formats = ["%.9g"] * X.shape[1] + ["%d"]
    np.savetxt(path, table, delimiter=",", header=",".join([*names, LABEL]), comments="",
               fmt=formats)  # fmt: skip
    return path


def write_part(folder: Path, name: str, part: Dataset) -> tuple[Path, Path]:
    """A part of the digits cut as a CSV and a schema saying it is digit images."""
    csv = write_csv(folder / f"{name}.csv", part.X, part.y)
    schema = replace(infer_schema(csv, label=LABEL), ontology=DIGITS_CLASS)
    schema_path = folder / f"{name}.schema.json"
    schema_path.write_text(schema.to_json())
    return csv, schema_path
