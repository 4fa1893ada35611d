"""``mercato data`` and ``mercato model``: a participant's own files, checked before they are sold.

``data schema`` writes the schema a file has, ``data check`` reads a file the way every
protocol will (and prints the hash its sealed bytes will have); ``model check`` and ``model
score`` open a model file the safe way and measure it on labelled rows.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from mercato.cli.common import (
    DataFileOption,
    HeldOutDatasetOption,
    JsonOption,
    LabelOption,
    SchemaOption,
    console,
    held_out_data,
    simple_table,
)
from mercato.errors import InputError

if TYPE_CHECKING:
    from mercato.ml.datasets import Dataset

data_app = typer.Typer(
    help="Your own data files (CSV, Parquet, .npz): infer a schema, check a file.",
    no_args_is_help=True,
)
model_app = typer.Typer(
    help="Model files (.skops, .safetensors): what one holds, how well it scores.",
    no_args_is_help=True,
)
FileArgument = typer.Argument(..., help="The file.", show_default=False)


@data_app.command("schema")
def schema(
    path: Path = FileArgument,
    label: str = typer.Option(..., "--label", help="The label column."),
    ontology: str = typer.Option(
        "mc:TabularData", "--ontology", help="Ontology data class of the data (mc:...)."
    ),
    name: str = typer.Option("", "--name", help="Name of the data set (default: file name)."),
    out: Path = typer.Option(None, "--out", help="Write the schema to this file."),
    force: bool = typer.Option(False, "--force", help="Overwrite --out if it exists."),
) -> None:
    """Print (or write with --out) the schema of a data file: every other column a feature."""
    from dataclasses import replace

    from mercato.ml.data_files import infer_schema, read_data
    from mercato.user_files import write_user_file

    inferred = replace(infer_schema(path, label=label, ontology=ontology), name=name)
    read_data(path, schema=inferred)  # the ontology class and every row, checked as sold
    if out is None:
        console.print(inferred.to_json(), end="", highlight=False, soft_wrap=True)
        return
    if out.exists() and not force:
        raise InputError(f"{out} exists; pass --force to overwrite it")
    write_user_file(out, inferred.to_json().encode())
    console.print(
        f"wrote the schema of {path} to {out}: {len(inferred.features)} features, label "
        f"{inferred.label!r} with classes {', '.join(inferred.class_names)}",
        highlight=False,
        soft_wrap=True,
    )


@data_app.command("check")
def check(
    path: Path = FileArgument,
    label: str = LabelOption,
    schema_file: Path = SchemaOption,
    as_json: bool = JsonOption,
) -> None:
    """Read a data file as a protocol will: its rows, classes and the hash of its bytes."""
    from mercato.ml.data_files import DataSource

    data = DataSource(path=path, label=label, schema=schema_file).load()
    summary = _summary(data)
    if as_json:
        console.print_json(json.dumps(summary))
        return
    console.print(
        f"{path}: {summary['rows']} rows, {summary['features']} features, "
        f"ontology class {data.ontology_class}; hash {summary['digest']}",
        highlight=False,
        soft_wrap=True,
    )
    table = simple_table("class", "rows")
    for name, count in summary["classes"].items():
        table.add_row(name, str(count))
    console.print(table)


@model_app.command("check")
def model_check(path: Path = FileArgument, as_json: bool = JsonOption) -> None:
    """Open a model file safely and say what it holds."""
    from mercato.ml.model_files import read_model

    described = _describe_model(read_model(path))
    if as_json:
        console.print_json(json.dumps(described))
        return
    console.print(f"{path}: {described['kind']}", highlight=False, soft_wrap=True)


@model_app.command("score")
def score(
    path: Path = FileArgument,
    data_file: Path = DataFileOption,
    label: str = LabelOption,
    schema_file: Path = SchemaOption,
    dataset: str = HeldOutDatasetOption,
    as_json: bool = JsonOption,
) -> None:
    """Measure a model file on labelled rows: accuracy, balanced accuracy, macro F1.

    A model that names its classes (a Mercato model trained on a file, a scikit-learn model
    fitted on text labels) is measured on the rows matched to its classes by name; a row
    class it lacks is refused. Otherwise the rows' labels count as they are: the output says
    their class order."""
    from mercato.ml.evaluate import evaluate_data
    from mercato.ml.model_files import read_model
    from mercato.protocols.results import describe_data

    model = read_model(path)
    if isinstance(model, dict):
        raise InputError(
            f"{path}: holds bare layer weights with no model family; nothing scores it"
        )
    data = held_out_data(data_file, label, schema_file, dataset)
    if data is None:
        raise InputError(
            "measure on what? pass --data FILE (with --label or --schema) or --dataset"
        )
    takes = _describe_model(model).get("n_features")
    if takes is not None and takes != data.X.shape[1]:
        raise InputError(f"{path} takes {takes} features; {data.name} has {data.X.shape[1]}")
    evaluation = evaluate_data(model, data, str(path))
    metrics = evaluation.metrics
    if as_json:
        measured_on = describe_data(data, evaluation)
        console.print_json(json.dumps({"metrics": metrics, "measured_on": measured_on}))
        return
    shown = ", ".join(f"{name} {value:.4f}" for name, value in metrics.items())
    order = (
        "matched by name to the model's"
        if evaluation.by_name
        else "the rows' own order; the model names no classes"
    )
    console.print(
        f"{path} on {data.name} ({len(data.y)} rows): {shown}; classes in label order "
        f"{', '.join(evaluation.classes)} ({order})",
        highlight=False,
        soft_wrap=True,
    )


def _summary(data: Dataset) -> dict[str, Any]:
    import numpy as np

    counts = np.bincount(data.y, minlength=len(data.labels) or int(data.y.max()) + 1)
    names = data.labels or tuple(str(i) for i in range(len(counts)))
    return {
        "name": data.name,
        "rows": len(data.y),
        "features": len(data.X[0]),
        "feature_names": list(data.features),
        "classes": {name: int(count) for name, count in zip(names, counts, strict=True)},
        "ontology_class": data.ontology_class,
        "digest": "0x" + data.digest().hex(),
    }


def _describe_model(model: Any) -> dict[str, Any]:
    from mercato.ml.model_files import WeightsModel

    if isinstance(model, WeightsModel):
        spec = dict(model.trainer.spec())
        return {
            "kind": f"Mercato {spec['kind']} model, {len(model.weights)} weights",
            "trainer": spec,
            "n_features": spec["n_features"],
        }
    if isinstance(model, dict):
        shapes = {name: list(array.shape) for name, array in model.items()}
        return {"kind": f"weights only ({len(shapes)} tensors)", "tensors": shapes}
    described: dict[str, Any] = {"kind": f"scikit-learn {type(model).__name__}"}
    if hasattr(model, "n_features_in_"):
        described["n_features"] = int(model.n_features_in_)
    if hasattr(model, "classes_"):
        described["classes"] = [getattr(c, "item", lambda c=c: c)() for c in model.classes_]
    return described
