"""A participant's own data set from a file: CSV, Parquet or NumPy ``.npz``, checked by a schema.

:func:`read_data` reads the file, checks it against a :class:`~mercato.ml.schema.DataSchema`
(given, or inferred from the file and the name of its label column) and returns a
:class:`~mercato.ml.datasets.Dataset` whose bytes are what gets sealed, hashed and sent.
Every problem is one line naming the file and what is wrong: a missing column, text in a
numeric feature, a decimal in an integer feature, NaN or empty cells, an empty file, a
label outside the declared classes.

CSV and Parquet are read with pyarrow; ``.npz`` archives with ``allow_pickle=False``, in one
of three forms: a Mercato data set (``Dataset.to_bytes``), ``X`` and ``y`` arrays (columns
named by the schema, or ``x0``, ``x1``, ...), or one 1-D array per column.

A command records a participant's file for later commands and agents as a
:class:`mercato.user_files.DataFile` (light: it reads the file with :class:`DataSource`).
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from mercato.errors import InputError
from mercato.ml.datasets import FORMAT, MAX_DATASET_BYTES, Dataset
from mercato.ml.schema import DEFAULT_ONTOLOGY_CLASS, DataSchema, Feature
from mercato.user_files import read_user_file

SUFFIXES = (".csv", ".parquet", ".pq", ".npz")


@dataclass(frozen=True)
class DataSource:
    """Where a participant's data comes from: a sample set by name, or a file with a schema.

    ``sample`` names one of scikit-learn's sets (the demo's default); otherwise ``path`` is
    the file, with ``schema`` (a schema file) or ``label`` (the label column; the schema is
    inferred). :meth:`load` reads and checks it.
    """

    sample: str | None = None
    path: Path | None = None
    label: str | None = None
    schema: Path | None = None

    @property
    def given(self) -> bool:
        return self.sample is not None or self.path is not None

    def describe(self) -> str:
        return str(self.path) if self.path is not None else f"sample {self.sample}"

    def load(self) -> Dataset:
        if self.sample is not None and self.path is not None:
            raise InputError("pass a sample dataset (--dataset) or a data file (--data), not both")
        if self.path is not None:
            schema = DataSchema.read(self.schema) if self.schema is not None else None
            return read_data(self.path, schema=schema, label=self.label)
        if self.label is not None or self.schema is not None:
            raise InputError("--label and --schema describe a data file: pass it with --data")
        if self.sample is None:
            raise InputError("no data: pass --data FILE (with --label or --schema) or --dataset")
        from mercato.ml.datasets import load_dataset

        return load_dataset(self.sample)


def read_data(
    path: Path | str, *, schema: DataSchema | None = None, label: str | None = None
) -> Dataset:
    """The data set in ``path``, checked against ``schema`` (or one inferred around ``label``)."""
    path = Path(path)
    columns = read_columns(path)
    if columns is None:  # a Mercato data set archive describes itself
        data = Dataset.from_bytes(read_user_file(path, MAX_DATASET_BYTES))
        if schema is not None:
            _check_archive(path, data, schema)
        return data
    if schema is None:
        if label is None:
            raise InputError(f"{path}: name the label column (--label COLUMN) or pass --schema")
        schema = infer_schema(path, columns, label)
    elif label is not None and label != schema.label:
        raise InputError(f"{path}: --label {label!r} differs from the schema's {schema.label!r}")
    return _dataset(path, columns, schema)


def infer_schema(
    path: Path | str,
    columns: Mapping[str, NDArray[Any]] | None = None,
    label: str = "",
    ontology: str = DEFAULT_ONTOLOGY_CLASS,
) -> DataSchema:
    """A schema that describes the file as it is: every other column a feature, the label's
    classes sorted (their label order; a model that names its classes is measured on rows
    matched to them by name, see :func:`mercato.ml.evaluate.evaluate_data`)."""
    path = Path(path)
    if columns is None:
        columns = read_columns(path)
        if columns is None:
            raise InputError(f"{path}: is a Mercato data set archive; it needs no schema")
    _check_rows(path, columns)
    if label not in columns:
        raise InputError(f"{path}: no label column {label!r}; columns: {_names(columns)}")
    values = columns[label]
    _check_present(path, label, values)
    if values.dtype.kind == "f":
        if not np.all(values == np.round(values)):
            raise InputError(f"{path}: label column {label!r} holds decimals; labels are classes")
        values = values.astype(np.int64)
    classes = sorted({v.item() if hasattr(v, "item") else v for v in values})
    features = tuple(
        Feature(name, _feature_type(path, name, array))
        for name, array in columns.items()
        if name != label
    )
    return DataSchema(label=label, classes=tuple(classes), features=features, ontology=ontology)


def read_columns(path: Path) -> dict[str, NDArray[Any]] | None:
    """The file's columns by name, in file order; None for a Mercato data set archive."""
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise InputError(
            f"{path}: unknown data file type {suffix or '(none)'!r}; "
            f"expected one of {', '.join(SUFFIXES)}"
        )
    if suffix == ".npz":
        return _npz_columns(path, read_user_file(path, MAX_DATASET_BYTES))
    import pyarrow as pa
    import pyarrow.csv as pa_csv
    import pyarrow.parquet as pq

    read_user_file(path, MAX_DATASET_BYTES, keep=False)  # readable, a file, not too large
    try:
        table = pa_csv.read_csv(path) if suffix == ".csv" else pq.read_table(path)
    except pa.ArrowInvalid as exc:
        message = str(exc).splitlines()[0]
        if "Empty CSV file" in message:
            raise InputError(f"{path}: the file is empty") from None
        raise InputError(f"{path}: cannot read it: {message}") from None
    except (OSError, pa.ArrowException) as exc:
        raise InputError(f"{path}: cannot read it: {str(exc).splitlines()[0]}") from None
    names = table.column_names
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise InputError(f"{path}: column {repeated[0]!r} appears more than once")
    return {name: _column_array(path, name, table.column(name)) for name in names}


def _column_array(path: Path, name: str, column: Any) -> NDArray[Any]:
    import pyarrow as pa

    kind = column.type
    if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind):
        if column.null_count:
            rows = np.flatnonzero(column.is_null().to_numpy(zero_copy_only=False))
            raise InputError(
                f"{path}: column {name!r} has {column.null_count} missing value(s) "
                f"(empty, NA or null; first at data row {rows[0] + 1})"
            )
        return np.asarray(column.to_numpy(zero_copy_only=False))
    if pa.types.is_null(kind):
        return np.full(len(column), np.nan)  # all empty: said as NaN by the checks
    return np.asarray(column.to_pylist(), dtype=object)


def _npz_columns(path: Path, data: bytes) -> dict[str, NDArray[Any]] | None:
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, MemoryError) as exc:
        raise InputError(f"{path}: not a readable .npz archive: {exc}") from None
    if "format" in arrays and arrays["format"].ndim == 0 and str(arrays["format"]) == FORMAT:
        return None
    if not arrays:
        raise InputError(f"{path}: the archive holds no arrays")
    if {"X", "y"} <= arrays.keys():
        X, y = arrays["X"], arrays["y"]
        if X.ndim != 2 or y.ndim != 1 or len(X) != len(y):
            raise InputError(
                f"{path}: X must be (rows, features) and y (rows,), got {X.shape} and {y.shape}"
            )
        columns = {f"x{i}": X[:, i] for i in range(X.shape[1])}
        columns["y"] = y
        return columns
    for name, array in arrays.items():
        if array.ndim != 1:
            raise InputError(f"{path}: array {name!r} is not one column (shape {array.shape})")
    lengths = {len(a) for a in arrays.values()}
    if len(lengths) != 1:
        raise InputError(f"{path}: the arrays have different lengths {sorted(lengths)}")
    return arrays


def dataset_from_columns(
    path: Path, columns: Mapping[str, NDArray[Any]], schema: DataSchema
) -> Dataset:
    """The rows of ``columns`` (read from ``path``, named in errors) encoded by ``schema`` as
    :func:`read_data` encodes a data file's rows; a one-line InputError for a missing column,
    a value of the wrong type or no rows."""
    return _dataset(path, columns, schema)


def _dataset(path: Path, columns: Mapping[str, NDArray[Any]], schema: DataSchema) -> Dataset:
    _check_rows(path, columns)
    if schema.label not in columns:
        raise InputError(f"{path}: no label column {schema.label!r}; columns: {_names(columns)}")
    features = []
    for number, feature in enumerate(schema.features, start=1):
        if feature.name not in columns:
            raise InputError(
                f"{path}: missing column {feature.name!r} (feature {number} of "
                f"{len(schema.features)} in the schema)"
            )
        values = columns[feature.name]
        found = _feature_type(path, feature.name, values)
        if not _fits(found, feature.type):
            raise InputError(
                f"{path}: column {feature.name!r} holds {found} values; "
                f"the schema declares {feature.type}"
            )
        features.append(values.astype(np.float32))
    raw = columns[schema.label]
    _check_present(path, schema.label, raw)
    y = np.empty(len(raw), dtype=np.int64)
    for row, value in enumerate(raw):
        plain = value.item() if hasattr(value, "item") else value
        if isinstance(plain, float) and plain.is_integer():
            plain = int(plain)
        index = schema.index_of(plain)
        if index is None:
            raise InputError(
                f"{path}: data row {row + 1}: label {plain!r} is not one of the declared "
                f"classes {', '.join(schema.class_names)}"
            )
        y[row] = index
    name = schema.name or path.stem
    return Dataset(
        name=name,
        ontology_class=schema.ontology,
        X=np.column_stack(features),
        y=y,
        features=schema.feature_names,
        labels=schema.class_names,
    )


def _check_archive(path: Path, data: Dataset, schema: DataSchema) -> None:
    if data.features and data.features != schema.feature_names:
        raise InputError(f"{path}: its features {list(data.features)} are not the schema's")
    if data.labels and data.labels != schema.class_names:
        raise InputError(f"{path}: its classes {list(data.labels)} are not the schema's")


def _check_rows(path: Path, columns: Mapping[str, NDArray[Any]]) -> None:
    if not columns or not len(next(iter(columns.values()))):
        raise InputError(f"{path}: the file holds no rows")


def _check_present(path: Path, name: str, values: NDArray[Any]) -> None:
    if values.dtype.kind == "f" and not np.isfinite(values).all():
        bad = np.flatnonzero(~np.isfinite(values))
        raise InputError(
            f"{path}: column {name!r} has {len(bad)} NaN or infinite value(s) "
            f"(first at data row {bad[0] + 1})"
        )
    if values.dtype.kind in ("O", "U"):
        empty = [i for i, v in enumerate(values) if v is None or v == ""]
        if empty:
            raise InputError(
                f"{path}: column {name!r} has {len(empty)} empty value(s) "
                f"(first at data row {empty[0] + 1})"
            )


def _feature_type(path: Path, name: str, values: NDArray[Any]) -> str:
    kind = values.dtype.kind
    if kind == "b":
        return "boolean"
    if kind in "iu":
        return "integer"
    if kind == "f":
        _check_present(path, name, values)
        return "number"
    raise InputError(
        f"{path}: column {name!r} holds text; features must be numbers "
        "(encode it as numbers, or leave the column out of the schema)"
    )


def _fits(found: str, declared: str) -> bool:
    return found == declared or (declared == "number" and found in ("integer", "boolean"))


def _names(columns: Mapping[str, Any]) -> str:
    names = list(columns)
    shown = ", ".join(repr(n) for n in names[:12])
    return shown + (f" and {len(names) - 12} more" if len(names) > 12 else "")
