"""What ``mercato api ...`` commands share: the acting party, reports, model and row files,
and the evidence a consumer keeps of each call (for ``dispute`` and ``challenge``).

A call's evidence is everything signed about it (the request, each step's assignment and
receipt, the consumer's ack) as one JSON file under the state folder:
``<state>/apimarket/api-<id>/<consumer>/epoch-<e>-seq-<s>.json``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from mercato.cli import common
from mercato.cli.common import MarketCall, console, emit_json, tx_note
from mercato.errors import InputError
from mercato.protocols.apimarket import views

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

    from mercato.chain.contract import TxResult
    from mercato.ml.splitting import SplitModel
    from mercato.protocols.apimarket.consumer import CallResult
    from mercato.protocols.identity import Identity
    from mercato.protocols.marketplace import Marketplace

ApiArgument = typer.Argument(..., min=1, help="API id (see `mercato api list`).")
EpochArgument = typer.Argument(..., min=0, help="Epoch of the call (see `mercato api batches`).")
SeqArgument = typer.Argument(..., min=1, help="The call's seq in its epoch (1, 2, ...).")
StateDirOption = typer.Option(
    None,
    "--state-dir",
    help="Folder where a consumer's calls' evidence is kept (default: the agents' folder).",
)
EVIDENCE = "apimarket"
MODEL_SUFFIXES = (".safetensors", ".skops")
ROW_SUFFIXES = (".csv", ".npy")
PENDING = "pending.json"
PENDING_ROWS = "pending-rows.npy"
"""A call sent and not answered yet: its epoch and seq, and its rows."""


def load_api(market: Marketplace, api_id: int) -> views.Api:
    """The API ``api_id``, or a one-line InputError naming how many there are."""
    am = market.api_market
    count = am.count()
    if not 0 < api_id <= count:
        raise InputError(f"no API {api_id} (there are {count})")
    return am.api(api_id)


def acting(call: MarketCall, api_id: int) -> tuple[Identity, Marketplace, views.Api]:
    """Who acts, on which market, and the API as it stands (InputError if none)."""
    me = call.identity()
    market = call.market()
    return me, market, load_api(market, api_id)


def report(
    call: MarketCall, market: Marketplace, api_id: int, result: TxResult | None, text: str,
    **extra: Any,
) -> None:  # fmt: skip
    """A step's outcome: the API's record and ``extra`` as JSON, or ``text`` and its
    transaction."""
    if call.json_output:
        am = market.api_market
        emit_json({"api": views.api_record(am.api(api_id), am.slots(api_id)), **extra})
        return
    note = "" if result is None else f" {tx_note(result.receipt.tx_hash)}"
    console.print(f"{text}{note}", soft_wrap=True, highlight=False)


def state_folder(call: MarketCall, state_dir: Path | None) -> Path:
    """The state folder: ``--state-dir``, else the settings' agent folder."""
    return state_dir or common.context(call.ctx).settings.agent_dir


# files ---------------------------------------------------------------------------------
def read_split_model(path: Path, parts: int) -> tuple[SplitModel, int]:
    """The model in ``path`` split into ``parts`` components, and how many features it takes."""
    from mercato.ml.model_files import read_model
    from mercato.ml.splitting import split

    if path.suffix.lower() not in MODEL_SUFFIXES:
        raise InputError(
            f"--model {path}: expected a torch state dict (.safetensors) or a scikit-learn "
            "model (.skops)"
        )
    if not path.is_file():
        raise InputError(f"--model {path}: no such file")
    model = read_model(path)
    features = _features_of(model, path)
    try:
        return split(model, parts), features
    except (ValueError, KeyError) as exc:
        raise InputError(f"--model {path}: cannot split it into {parts}: {exc}") from None


def _features_of(model: Any, path: Path) -> int:
    if isinstance(model, dict):
        weights = [name for name in model if name.endswith(".weight")]
        if not weights:
            raise InputError(f"--model {path}: the state dict has no Linear layer")

        def order(name: str) -> tuple[int, str]:
            last = name.rsplit(".", 2)[-2] if name.count(".") >= 1 else name
            return (int(last), name) if last.isdigit() else (0, name)

        first = model[min(weights, key=order)]
        return int(first.shape[1]) if getattr(first, "ndim", 0) == 2 else 0
    features = getattr(model, "n_features_in_", None)
    if not isinstance(features, int):
        raise InputError(f"--model {path}: a {type(model).__name__} that does not say its features")
    return features


def read_rows(path: Path, features: int) -> NDArray[Any]:
    """The rows of a ``.csv`` (numbers, an optional header line) or ``.npy`` file, checked
    against the API's ``features``."""
    import numpy as np

    suffix = path.suffix.lower()
    if suffix not in ROW_SUFFIXES:
        raise InputError(f"--rows {path}: expected a .csv or .npy file")
    if not path.is_file():
        raise InputError(f"--rows {path}: no such file")
    try:
        rows = np.load(path, allow_pickle=False) if suffix == ".npy" else _csv_rows(path)
    except (ValueError, OSError) as exc:
        raise InputError(f"--rows {path}: not readable as numbers: {exc}") from None
    rows = np.atleast_2d(np.asarray(rows))
    if rows.ndim != 2 or rows.shape[0] == 0:
        raise InputError(f"--rows {path}: expected a table of rows, got shape {rows.shape}")
    if not np.issubdtype(rows.dtype, np.number):
        raise InputError(f"--rows {path}: holds {rows.dtype}, not numbers")
    if rows.shape[1] != features:
        raise InputError(f"--rows {path}: rows of {rows.shape[1]} values; the API takes {features}")
    if not np.isfinite(rows).all():
        raise InputError(f"--rows {path}: holds NaN or infinite values")
    return rows.astype(np.float64)


def _csv_rows(path: Path) -> np.ndarray[Any, Any]:
    import numpy as np

    try:
        return np.loadtxt(path, delimiter=",", ndmin=2)
    except ValueError:
        return np.loadtxt(path, delimiter=",", ndmin=2, skiprows=1)


# a consumer's evidence -----------------------------------------------------------------
def evidence_folder(state: Path, api_id: int, consumer: str) -> Path:
    return state / EVIDENCE / f"api-{api_id}" / consumer


def keep_call(state: Path, result: CallResult) -> Path:
    """Write everything signed about ``result`` into the state folder; its path."""
    from mercato.protocols.apimarket.endpoints import to_b64
    from mercato.protocols.apimarket.messages import encode_array, signature_to_json

    request = result.request
    folder = evidence_folder(state, request.api, request.consumer)
    folder.mkdir(parents=True, exist_ok=True)
    record = {
        "request": request.to_json(),
        "request_sig": signature_to_json(result.request_sig),
        "output": to_b64(encode_array(result.output)),
        "steps": [
            {
                "assignment": step.assignment.to_json(),
                "assignment_sig": signature_to_json(step.assignment_sig),
                "receipt": step.receipt.to_json(),
                "receipt_sig": signature_to_json(step.receipt_sig),
            }
            for step in result.steps
        ],
        "ack": result.ack.to_json(),
        "ack_sig": signature_to_json(result.ack_sig),
    }
    path = folder / f"epoch-{request.epoch}-seq-{request.seq}.json"
    path.write_text(json.dumps(record, sort_keys=True, indent=1))
    return path


def kept_calls(state: Path, api_id: int, consumer: str) -> dict[tuple[int, int], Path]:
    """(epoch, seq) -> the evidence file of each call ``consumer`` kept of the API."""
    folder = evidence_folder(state, api_id, consumer)
    kept = {}
    for path in folder.glob("epoch-*-seq-*.json") if folder.is_dir() else ():
        _, epoch, _, seq = path.stem.split("-")
        kept[(int(epoch), int(seq))] = path
    return kept


def kept_call(state: Path, api_id: int, consumer: str, epoch: int, seq: int) -> dict[str, Any]:
    """The evidence kept of call ``seq`` of ``epoch``; InputError if there is none."""
    path = kept_calls(state, api_id, consumer).get((epoch, seq))
    if path is None:
        raise InputError(
            f"no kept call {seq} of epoch {epoch} of API {api_id} in "
            f"{evidence_folder(state, api_id, consumer)}: pass the --state-dir you called with"
        )
    try:
        record: dict[str, Any] = json.loads(path.read_text())
    except ValueError as exc:
        raise InputError(f"{path}: not JSON: {exc}") from None
    return record


def keep_pending(state: Path, api_id: int, consumer: str, epoch: int, seq: int, rows: Any) -> None:
    """Note that call ``seq`` of ``epoch`` is being sent with ``rows`` (so that, unanswered,
    the very same request can be sent again: ``call --retry``)."""
    import numpy as np

    folder = evidence_folder(state, api_id, consumer)
    folder.mkdir(parents=True, exist_ok=True)
    np.save(folder / PENDING_ROWS, np.asarray(rows), allow_pickle=False)
    (folder / PENDING).write_text(json.dumps({"epoch": epoch, "seq": seq}))


def pending_call(state: Path, api_id: int, consumer: str) -> tuple[int, int, Any] | None:
    """The (epoch, seq, rows) of a call sent without an answer, or None."""
    import numpy as np

    folder = evidence_folder(state, api_id, consumer)
    if not (folder / PENDING).is_file():
        return None
    noted = json.loads((folder / PENDING).read_text())
    return int(noted["epoch"]), int(noted["seq"]), np.load(folder / PENDING_ROWS)


def drop_pending(state: Path, api_id: int, consumer: str) -> None:
    folder = evidence_folder(state, api_id, consumer)
    for name in (PENDING, PENDING_ROWS):
        (folder / name).unlink(missing_ok=True)
