"""The model file a seller offers: read, loaded as the executors will load it, and the
number of features it takes.

``mercato modelmarket submit --model FILE`` and the ``seller`` agent (``--model FILE``) read
it the same way before anything is sent, so a file the executors could not score (a pickle,
a model of another shape) is refused in one line instead of losing the seller its stake.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mercato.errors import InputError
from mercato.protocols.modelmarket.evaluation import StateDictMLP, load_model_bytes, model_suffix


@dataclass(frozen=True)
class SellerModel:
    """A model file's bytes (what is committed and sold) and what it takes."""

    path: str
    data: bytes
    features: int | None
    """How many features a row has for it; None when the model does not say."""
    kind: str
    """What it is, for messages (``LogisticRegression``, ``torch MLP``)."""


def input_count(model: Any) -> int | None:
    """The number of features ``model`` takes, where it says."""
    if isinstance(model, StateDictMLP):
        return int(model.w1.shape[1])
    inputs = getattr(model, "inputs", None)
    if inputs is not None and getattr(inputs, "features", None):
        return len(inputs.features)
    for holder in (model, getattr(model, "trainer", None)):
        for name in ("n_features_in_", "n_features"):
            count = getattr(holder, name, None)
            if isinstance(count, int):
                return count
    return None


def read_seller_model(path: Path | str) -> SellerModel:
    """The model in ``path`` (.skops or .safetensors), loaded without running code;
    InputError in one line if it is no model the executors can score."""
    from mercato.ml.model_files import MAX_MODEL_BYTES, read_model
    from mercato.user_files import read_user_file

    path = Path(path)
    read_model(path)  # refuses pickles, unknown types and unsafe files, naming the path
    data = read_user_file(path, MAX_MODEL_BYTES)
    if model_suffix(data) != path.suffix.lower():
        raise InputError(
            f"{path}: the file holds a {model_suffix(data)} model, not a {path.suffix}"
        )
    try:
        model = load_model_bytes(data)
    except InputError as exc:
        raise InputError(f"{path}: {exc}") from None
    kind = "torch MLP" if isinstance(model, StateDictMLP) else type(model).__name__
    return SellerModel(str(path), data, input_count(model), kind)
