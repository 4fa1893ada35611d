"""What anyone may do with an API of ``mercato api``, and what the commands share.

Anyone reads the APIs (``list``, ``show``, ``batches``), moves an API on when its time has
come (``advance`` cancels one its parties did not all join, ``finalize`` pays out a batch
after its window, ``settle-claim`` and ``settle-challenge`` settle what the orchestrator left
unanswered, ``resolve`` decides a dispute, ``release`` ends the API) and checks a component
file against the on-chain model root (``verify-component``).

The helpers here serve every command: the acting party and the API, reports, model and row
files, and the evidence a consumer keeps of each call (for ``dispute``, ``challenge`` and
``call --retry``): everything signed about it (the request, each step's assignment and
receipt, the consumer's ack) as one JSON file under the state folder,
``<state>/apimarket/api-<id>/<consumer>/epoch-<e>-seq-<s>.json``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from mercato.cli import common
from mercato.cli.common import (
    MarketCall,
    compact_ether,
    console,
    emit_json,
    format_time,
    refuse,
    tx_note,
)
from mercato.errors import InputError, IntegrityError
from mercato.protocols.apimarket import rules, views

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

    from mercato.chain.contract import TxResult
    from mercato.ml.splitting import SplitModel
    from mercato.protocols.apimarket.consumer import CallResult, RejectedCall
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
    from mercato.ml.splitting.linear import as_linear_state_dict

    if path.suffix.lower() not in MODEL_SUFFIXES:
        raise InputError(
            f"--model {path}: expected a torch state dict (.safetensors) or a scikit-learn "
            "model (.skops)"
        )
    if not path.is_file():
        raise InputError(f"--model {path}: no such file")
    try:
        model = as_linear_state_dict(read_model(path))
    except InputError as exc:
        raise InputError(f"--model {path}: {exc}") from None
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


def read_schema_rows(path: Path, schema_path: Path, features: int) -> NDArray[Any]:
    """The rows of a data file that follows a schema, encoded as every data file is
    (:func:`mercato.ml.data_files.read_data`: the schema's features in its order, booleans
    0 or 1), without the label column; checked against the API's ``features``."""
    import numpy as np

    from mercato.ml import data_files
    from mercato.ml.schema import DataSchema

    schema = DataSchema.read(schema_path)
    if not path.is_file():
        raise InputError(f"--rows {path}: no such file")
    columns = data_files.read_columns(path)
    if columns is None:
        raise InputError(f"--rows {path}: a Mercato data set archive; pass a .csv with --schema")
    if schema.label not in columns:  # a caller's rows need no label: any class reads them
        count = len(next(iter(columns.values()), ()))
        columns = {**columns, schema.label: np.array([schema.class_names[0]] * count)}
    data = data_files.dataset_from_columns(path, columns, schema)  # read_data, label column added
    if data.X.shape[1] != features:
        raise InputError(
            f"--rows {path}: its schema has {data.X.shape[1]} features; the API takes {features}"
        )
    return np.asarray(data.X, dtype=np.float64)


def class_name(classes: Any, label: Any) -> str:
    """Label ``label``'s class name (the label itself if the API names no such class)."""
    index = int(label)
    return str(classes[index]) if 0 <= index < len(classes) else str(label)


def _csv_rows(path: Path) -> np.ndarray[Any, Any]:
    import numpy as np

    try:
        return np.loadtxt(path, delimiter=",", ndmin=2)
    except ValueError:
        return np.loadtxt(path, delimiter=",", ndmin=2, skiprows=1)


# a consumer's evidence -----------------------------------------------------------------
def evidence_folder(state: Path, api_id: int, consumer: str) -> Path:
    return state / EVIDENCE / f"api-{api_id}" / consumer


def keep_call(state: Path, result: CallResult | RejectedCall) -> Path:
    """Write everything signed about ``result`` into the state folder; its path (a rejected
    answer is kept the same way, without an ack and with the reason it was refused)."""
    from mercato.protocols.apimarket.consumer import RejectedCall
    from mercato.protocols.apimarket.endpoints import to_b64
    from mercato.protocols.apimarket.messages import encode_array, signature_to_json

    request = result.request
    folder = evidence_folder(state, request.api, request.consumer)
    folder.mkdir(parents=True, exist_ok=True)
    record: dict[str, Any] = {
        "request": request.to_json(),
        "request_sig": signature_to_json(result.request_sig),
        "output": None if result.output is None else to_b64(encode_array(result.output)),
        "steps": [
            {
                "assignment": step.assignment.to_json(),
                "assignment_sig": signature_to_json(step.assignment_sig),
                "receipt": step.receipt.to_json(),
                "receipt_sig": signature_to_json(step.receipt_sig),
            }
            for step in result.steps
        ],
    }
    if isinstance(result, RejectedCall):
        record["rejected"] = result.reason
    else:
        record["ack"] = result.ack.to_json()
        record["ack_sig"] = signature_to_json(result.ack_sig)
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


# reading an API -------------------------------------------------------------------------
def list_apis(call: MarketCall) -> None:
    """Every API with its status, provider, components, slots, price and calls settled."""
    market = call.market()
    am = market.api_market
    records = [views.api_record(am.api(i), am.slots(i)) for i in range(1, am.count() + 1)]
    if call.json_output:
        emit_json(records)
        return
    if not records:
        console.print("no APIs yet")
        return
    title = f"{len(records)} API(s); amounts in ETH"
    table = common.simple_table("id", "status", "provider", "components", "slots", "price",
                                "deposits", title=title)  # fmt: skip
    for r in records:
        table.add_row(
            str(r["api"]),
            r["status"],
            common.short_address(r["provider"]),
            str(r["components"]),
            str(r["slots"]),
            compact_ether(r["price"]),
            str(r["depositors"]),
        )
    console.print(table)


def show(call: MarketCall, api_id: int = ApiArgument) -> None:
    """One API: terms, slots (vendor, component, joined, out), batches and disputes."""
    market = call.market()
    document = views.detail_record(market, api_id)
    if call.json_output:
        emit_json(document)
        return
    console.print(
        f"API {document['api']}: {document['status']}; {document['components']} components "
        f"over {document['slots']} slots; price {compact_ether(document['price'])} ETH a call"
    )
    bought = document["purchase"]
    if bought is not None:
        console.print(
            f"the model was bought in request {bought['request_id']} of the model market "
            f"{bought['model_market']} (submission {bought['index']}), benchmarked at "
            f"{bought['score']:.4f}",
            soft_wrap=True,
            highlight=False,
        )
    table = common.simple_table("slot", "vendor", "component", "joined", "out")
    for s in document["slot_list"]:
        table.add_row(str(s["slot"]), s["vendor"], str(s["component"]), str(s["joined"]),
                      str(s["out"]))  # fmt: skip
    console.print(table)
    for b in document["batches"]:
        console.print(f"epoch {b['epoch']}: {b['calls']} calls of {b['consumers']} consumer(s), "
                      f"{compact_ether(b['total'])} ETH")  # fmt: skip
    for d in document["disputes"]:
        console.print(f"dispute {d['dispute_id']}: {d['state']}")


# anyone -------------------------------------------------------------------------------
def batches(call: MarketCall, api_id: int = ApiArgument) -> None:
    """An API's batches: per epoch the calls of each consumer, the steps of each slot, the
    total and whether it is paid out."""
    market = call.market()
    api = load_api(market, api_id)
    am = market.api_market
    records: list[dict[str, Any]] = []
    for event in am.events("BatchCommitted", api=api_id):
        epoch = int(event["epoch"])
        records.append({
            "epoch": epoch,
            "consumers": [str(c) for c in event["consumers"]],
            "calls": [int(c) for c in event["calls"]],
            "steps": [int(s) for s in event["steps"]],
            "total": int(event["total"]),
            "finalized": am.batch(api_id, epoch).finalized,
            "closes": api.close(epoch),
        })  # fmt: skip
    if call.json_output:
        emit_json(records)
        return
    if not records:
        console.print(f"API {api_id} has no batch yet")
        return
    title = f"API {api_id}: batches; amounts in ETH"
    table = common.simple_table("epoch", "calls", "consumers", "steps per slot", "total",
                                "paid out", title=title)  # fmt: skip
    for r in records:
        table.add_row(str(r["epoch"]), str(sum(r["calls"])), str(len(r["consumers"])),
                      ",".join(map(str, r["steps"])), compact_ether(r["total"]),
                      "yes" if r["finalized"] else f"after {format_time(r['closes'])}")  # fmt: skip
    console.print(table)


def advance(call: MarketCall, api_id: int = ApiArgument) -> None:
    """Cancel an API whose join deadline passed without every party in (stakes refunded)."""
    me, market, api = acting(call, api_id)
    refuse(rules.advance_problem(api, market.chain.timestamp()))
    result = market.api_market.advance(me.account, api_id)
    status = market.api_market.api(api_id).status.label
    text = f"API {api_id} is {status}: its stakes and deposits are credited back"
    report(call, market, api_id, result, text)


def finalize(call: MarketCall, api_id: int = ApiArgument,
             epoch: int = EpochArgument) -> None:  # fmt: skip
    """Pay out an epoch's batch once its window closed: each vendor per step, the provider
    the rest."""
    me, market, api = acting(call, api_id)
    am = market.api_market
    refuse(rules.finalize_problem(api, epoch, am.batch(api_id, epoch), market.chain.timestamp()))
    result = am.finalize_batch(me.account, api_id, epoch)
    total = compact_ether(am.batch(api_id, epoch).total)
    text = f"batch of epoch {epoch} of API {api_id} paid out ({total} ETH)"
    report(call, market, api_id, result, text)


def _by_id(call: MarketCall, what: str, count_event: str, read: Any, problem: Any, act: Any,
           item_id: int) -> None:  # fmt: skip
    """Settle or resolve claim, challenge or dispute ``item_id`` (one of ``count_event``'s)."""
    me = call.identity()
    market = call.market()
    am = market.api_market
    known = {int(e[f"{what}_id"]): int(e["api"]) for e in am.events(count_event)}
    if item_id not in known:
        raise InputError(f"no {what} {item_id} (there are {len(known)})")
    api = am.api(known[item_id])
    refuse(problem(read(item_id), api, market.chain.timestamp()))
    result = act(me.account, item_id)
    after = read(item_id)
    text = f"{what} {item_id} of API {api.api}: {after.state.label}"
    report(call, market, api.api, result, text, **{f"{what}_id": item_id,
                    "state": after.state.label})  # fmt: skip


ClaimArgument = typer.Argument(..., min=1, help="Claim id (from `claim`).")
ChallengeArgument = typer.Argument(..., min=1, help="Challenge id (from `challenge`).")
DisputeArgument = typer.Argument(..., min=1, help="Dispute id (from `dispute`).")


def settle_claim(call: MarketCall, claim_id: int = ClaimArgument) -> None:
    """Pay a claim the orchestrator did not answer in time, from its stake."""
    am = call.market().api_market
    _by_id(
        call,
        "claim",
        "Claimed",
        am.claim_of,
        lambda c, api, now: rules.settle_claim_problem(c, now),
        am.settle_claim,
        claim_id,
    )


def settle_challenge(call: MarketCall, challenge_id: int = ChallengeArgument) -> None:
    """Refund a challenge the orchestrator did not answer in time, from its stake."""
    am = call.market().api_market
    _by_id(call, "challenge", "Challenged", am.challenge_of,
           lambda c, api, now: rules.settle_challenge_problem(c, now), am.settle_challenge,
           challenge_id)  # fmt: skip


def resolve(call: MarketCall, dispute_id: int = DisputeArgument) -> None:
    """Decide a dispute by its committee's majority once the replicas revealed (or could)."""
    am = call.market().api_market
    _by_id(call, "dispute", "Disputed", am.dispute_of,
           lambda d, api, now: rules.resolve_problem(d, api.response_period, now), am.resolve,
           dispute_id)  # fmt: skip


def release(call: MarketCall, api_id: int = ApiArgument) -> None:
    """End an API after its last window with nothing open: stakes and deposits credited."""
    me, market, api = acting(call, api_id)
    refuse(rules.release_problem(api, market.chain.timestamp()))
    result = market.api_market.release(me.account, api_id)
    text = f"API {api_id} released: it is {market.api_market.api(api_id).status.label}"
    report(call, market, api_id, result, text)


def verify_component(
    call: MarketCall,
    api_id: int = ApiArgument,
    index: int = typer.Argument(..., min=0, help="The component's index."),
    component_file: Path = typer.Argument(..., help="The component's bytes."),
) -> None:
    """Check a component file against the model root the API registered (on chain): the
    provider cannot deny the model it serves."""
    from mercato.crypto.commit import keccak
    from mercato.protocols.apimarket.serving import document_for

    market = call.market()
    api = load_api(market, api_id)
    if index >= api.components:
        raise InputError(f"API {api_id} has {api.components} components, not {index + 1}")
    if not component_file.is_file():
        raise InputError(f"{component_file}: no such file")
    digest = keccak(component_file.read_bytes())
    proof = document_for(market, api_id).component_proof(index)
    holds = market.api_market.component_at(api_id, index, digest, proof)
    if call.json_output:
        emit_json({"api": api_id, "component": index, "hash": digest, "under_root": holds})
    elif holds:
        console.print(f"{component_file} is component {index} of API {api_id}: its hash "
                      f"0x{digest.hex()} is under the on-chain model root")  # fmt: skip
    if not holds:
        raise IntegrityError(f"{component_file} is not component {index} of API {api_id}: its "
                             "hash is not under the on-chain model root")  # fmt: skip


def add_anyone_commands(app: typer.Typer) -> None:
    """Give ``mercato api`` the commands anyone may run: reading APIs and moving them on."""
    for name, command, acts in (
        ("list", list_apis, False), ("show", show, False), ("batches", batches, False),
        ("advance", advance, True), ("finalize", finalize, True),
        ("settle-claim", settle_claim, True), ("settle-challenge", settle_challenge, True),
        ("resolve", resolve, True), ("release", release, True),
        ("verify-component", verify_component, False),
    ):  # fmt: skip
        common.market_command(app, name, acts=acts)(command)
