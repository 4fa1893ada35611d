"""Write the walk-through's data: a clinic's patient records, generated (no real person in them).

    python examples/clinic/generate.py

writes, beside this script, ``patients.csv`` (the rows a hospital sells), ``holdout.csv``
(rows a buyer keeps to measure what it buys; no seller has them) and ``patients.schema.json``.
A fixed seed makes the same bytes every time (tests/docs/test_examples.py checks it).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

SEED = 2026
SOLD_ROWS = 600
HELD_OUT_ROWS = 200
HERE = Path(__file__).resolve().parent
FEATURES = (
    ("age", "integer"),
    ("bmi", "number"),
    ("systolic_bp", "integer"),
    ("glucose", "number"),
    ("hba1c", "number"),
    ("smoker", "boolean"),
)
CLASSES = ("low", "high")
SCHEMA = {
    "version": 1,
    "name": "clinic-patients",
    "label": "risk",
    "classes": list(CLASSES),
    "features": [{"name": name, "type": kind} for name, kind in FEATURES],
    "ontology": "mc:PatientRecords",
}


def patients(rng: np.random.Generator, rows: int) -> list[dict[str, object]]:
    """Records whose risk of a cardiometabolic event follows a noisy logistic rule."""
    age = rng.integers(25, 86, rows)
    bmi = np.round(rng.normal(27.0, 4.5, rows).clip(16, 48), 1)
    systolic = np.round(rng.normal(118 + 0.45 * (age - 25), 14, rows)).astype(int)
    glucose = np.round(rng.normal(5.4 + 0.04 * (bmi - 27), 0.9, rows).clip(3.2, 15), 2)
    hba1c = np.round((4.1 + 0.32 * glucose + rng.normal(0, 0.35, rows)).clip(4, 13), 2)
    smoker = rng.random(rows) < 0.22
    score = (
        0.06 * (age - 55)
        + 0.12 * (bmi - 27)
        + 0.035 * (systolic - 135)
        + 0.9 * (hba1c - 6.0)
        + 0.8 * smoker
        + rng.normal(0, 0.6, rows)
    )
    risk = np.where(score > 0.0, "high", "low")
    return [
        {
            "age": int(age[i]),
            "bmi": f"{bmi[i]:.1f}",
            "systolic_bp": int(systolic[i]),
            "glucose": f"{glucose[i]:.2f}",
            "hba1c": f"{hba1c[i]:.2f}",
            "smoker": "true" if smoker[i] else "false",
            "risk": str(risk[i]),
        }
        for i in range(rows)
    ]


def write(path: Path, rows: list[dict[str, object]]) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=[*(n for n, _ in FEATURES), "risk"])
        writer.writeheader()
        writer.writerows(rows)


def main(folder: Path = HERE) -> None:
    rng = np.random.default_rng(SEED)
    records = patients(rng, SOLD_ROWS + HELD_OUT_ROWS)
    write(folder / "patients.csv", records[:SOLD_ROWS])
    write(folder / "holdout.csv", records[SOLD_ROWS:])
    (folder / "patients.schema.json").write_text(json.dumps(SCHEMA, indent=2) + "\n")


if __name__ == "__main__":
    main()
