"""What a buyer takes away: its model as a file, checked against the chain, with its metrics.

Every protocol's buyer (P1's client, P2's and P3's model owner) gets its result the same way:
the protocol opens what is sealed to it with its key and checks it against the hashes the
chain holds (:func:`open_sealed` for one sealed model; P2 re-checks every job it averages);
the protocol turns the bytes into a model; :func:`export_result` writes
the model (``.skops`` for a scikit-learn estimator, ``.safetensors`` for weights, see
:mod:`mercato.ml.model_files`) and, beside it, a JSON file of what was measured and where the
model comes from.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mercato.errors import IntegrityError

if TYPE_CHECKING:
    from mercato.ml.datasets import Dataset
    from mercato.ml.evaluate import Evaluation
    from mercato.storage.base import BlobStore


@dataclass(frozen=True)
class Result:
    """A buyer's result: the model, where it comes from, and what was measured on it."""

    protocol: str
    """The protocol's key (``auction``, ``training``, ``datamarket``)."""
    entry: int
    """The auction, training or task id."""
    model: Any
    """A scikit-learn estimator or a :class:`~mercato.ml.model_files.WeightsModel`."""
    model_hash: str
    """0x-hex keccak-256 of the model bytes: as the chain holds it (P1's sealed model, P3's
    public part), or of the weights P2 rebuilds from the jobs the chain commits to."""
    metrics: Mapping[str, Any] = field(default_factory=dict)
    """What was measured (on ``measured_on``), e.g. ``{"accuracy": 0.96}``."""
    measured_on: Mapping[str, Any] = field(default_factory=dict)
    """The data the metrics come from (name, rows, digest), see :func:`describe_data`."""
    reported: Mapping[str, Any] = field(default_factory=dict)
    """What the protocol recorded (per-round accuracy, the executor's report, ...)."""

    def record(self) -> dict[str, Any]:
        """The metrics file's content."""
        return {
            "protocol": self.protocol,
            "id": self.entry,
            "model_hash": self.model_hash,
            "metrics": dict(self.metrics),
            "measured_on": dict(self.measured_on),
            "reported": dict(self.reported),
        }


def open_sealed(
    store: BlobStore, blob_hash: str, private_key: bytes, expected: bytes, what: str
) -> bytes:
    """The plaintext of a sealed blob, checked against ``expected`` (its keccak-256 on chain).

    Raises IntegrityError when it does not match: the bytes are not what the chain commits.
    """
    from mercato.crypto.commit import keccak
    from mercato.storage.envelope import open_envelope

    plaintext = open_envelope(store.get(blob_hash), private_key)
    actual = keccak(plaintext)
    if actual != expected:
        raise IntegrityError(
            f"{what}: the opened bytes hash to 0x{actual.hex()}, the chain holds 0x{expected.hex()}"
        )
    return plaintext


def describe_data(data: Dataset, evaluation: Evaluation | None = None) -> dict[str, Any]:
    """Name, rows and digest of the data a metric was measured on, and the class order its
    labels were scored in: ``classes`` (label ``i`` is ``classes[i]``) and ``class_order``,
    ``"model"`` when the rows were matched by name to the classes the model names (see
    :func:`mercato.ml.evaluate.evaluate_data`), ``"rows"`` when the model names none and
    the rows' own order was taken (the default)."""
    from mercato.ml.columns import row_classes

    by_name = evaluation is not None and evaluation.by_name
    classes = row_classes(data) if evaluation is None else evaluation.classes
    return {
        "name": data.name,
        "rows": len(data.y),
        "digest": "0x" + data.digest().hex(),
        "classes": list(classes),
        "class_order": "model" if by_name else "rows",
    }


def measure(result: Result, data: Dataset) -> Result:
    """``result`` with every metric of :mod:`mercato.ml.evaluate` measured on ``data``,
    matched to the model's classes by name where it names them (InputError if they do not
    match)."""
    from dataclasses import replace

    from mercato.ml.evaluate import evaluate_data

    evaluation = evaluate_data(result.model, data, f"{result.protocol} {result.entry}'s model")
    return replace(result, metrics=evaluation.metrics, measured_on=describe_data(data, evaluation))


def metrics_path(model_path: Path) -> Path:
    """Where the metrics of the model written to ``model_path`` go: ``<stem>.metrics.json``."""
    return model_path.with_name(model_path.stem + ".metrics.json")


def export_result(result: Result, out: Path) -> tuple[Path, Path]:
    """Write the model to ``out`` and its metrics beside it; returns both paths."""
    from mercato.ml.model_files import write_metrics, write_model

    model_file = write_model(out, result.model)
    return model_file, write_metrics(metrics_path(model_file), result.record())
