"""P3 with the participants' own files: a data owner joins with a CSV, a model owner posts
from its own file, the final model is exported and loads back scoring what the MO measured;
files that do not fit, or changed since, are refused in one line."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_digits

from mercato.errors import InputError
from mercato.ml.model_files import WeightsModel, read_model
from mercato.ml.trainers.weights import weights_from_bytes
from mercato.protocols.datamarket import data_owner, history, model_owner, posting
from mercato.protocols.datamarket.data_owner import Contribution
from mercato.protocols.datamarket.documents import TaskSpec, update_context
from mercato.protocols.datamarket.final_model import take_model
from mercato.protocols.datamarket.market import Mode, Phase, TaskStatus
from mercato.protocols.datamarket.model_owner import TaskTerms
from mercato.protocols.datamarket.owner_data import of_cut, of_file
from mercato.protocols.datamarket.state_files import JoinedPart, read_heads, record_part, task_key
from mercato.protocols.identity import Identity
from mercato.protocols.results import export_result
from mercato.storage.base import hash_hex
from mercato.storage.envelope import open_envelope
from mercato.user_files import DataFile

from .offchain import PER_UPDATE, P3World, build_world
from .own_files import LABEL, pixel_names, write_csv, write_part

DATA_OWNERS = 5
FILE_OWNER = 2
"""The data owner that joins with its own CSV (its part of the cut, written to a file)."""


@pytest.fixture
def p3(tmp_path: Path) -> Iterator[P3World]:
    world = build_world(tmp_path, data_owners=DATA_OWNERS)
    try:
        yield world
    finally:
        world.chain.close()


def _post(p3: P3World, spec: TaskSpec, model: model_owner.OwnerModel, owners: int,
          rounds: int) -> int:  # fmt: skip
    """A robust task that excludes nobody (so every update is kept and paid)."""
    terms = TaskTerms(owners, rounds, Mode.ROBUST, 0, PER_UPDATE * owners * rounds)
    return model_owner.post_task(p3.market, p3.mo, spec, model, terms)


def _join_with_file(
    p3: P3World, do: Identity, task_id: int, folder: Path, csv: Path, **how: Path | str
) -> DataFile:
    """What ``datamarket join --data`` does: check the file against the task, join, record."""
    record, data = DataFile.read(csv, **how)  # type: ignore[arg-type]
    data_owner.join(p3.market, do, task_id, data)
    spec = data_owner.load_spec(p3.market, task_id)
    part = JoinedPart(None, None, p3.dm.task(task_id).data_owners, spec.seed, record)
    record_part(folder, do.address, task_key(p3.market, task_id), part)
    return record


def _run_round(
    p3: P3World, task_id: int, folder: Path, dos: list[Identity], fixed: dict[int, Contribution]
) -> model_owner.RoundResult:
    """Every DO posts its update, from ``fixed`` or from what it recorded; the MO aggregates."""
    task = p3.dm.task(task_id)
    for i, do in enumerate(dos):
        contribution = fixed.get(i) or data_owner.contribution_for(p3.market, do, task, folder)
        data_owner.act(p3.market, do, task_id, contribution)
    return model_owner.aggregate(p3.market, p3.mo, task_id)


def test_a_data_owner_with_its_own_csv_takes_part_to_the_end(p3: P3World, tmp_path: Path) -> None:
    # prepare: DO 2 holds its rows as a CSV with named columns and a schema, the others
    # their part of the cut; the MO keeps its head as `datamarket post` does
    folder = tmp_path / "state"
    csv, schema = write_part(tmp_path, "my-digits", p3.data.parts[FILE_OWNER])
    task_id = _post(p3, p3.spec, p3.owner_model, DATA_OWNERS, rounds=2)
    for i, do in enumerate(p3.dos):
        if i == FILE_OWNER:
            _join_with_file(p3, do, task_id, folder, csv, schema=schema)
        else:
            data_owner.join(p3.market, do, task_id, p3.data.parts[i])
    before = model_owner.accuracy(p3.spec, p3.owner_model, p3.data.test)
    model_owner.keep_head(p3.market, p3.mo, folder, task_id, "digits", 3, p3.owner_model, before)
    others = {i: p3.contribution(i, {}) for i in range(DATA_OWNERS) if i != FILE_OWNER}

    # act: two rounds, DO 2 training on the file its join recorded
    results = [_run_round(p3, task_id, folder, p3.dos, others) for _ in range(2)]
    result = take_model(p3.market, p3.mo, task_id, folder)
    model_file, metrics_file = export_result(result, tmp_path / "final.skops")
    weights_result = take_model(p3.market, p3.mo, task_id, folder, weights=True)
    weights_file, _ = export_result(weights_result, tmp_path / "final.safetensors")

    # assert: the file's update is the one its rows give, kept and paid in both rounds
    assert p3.dm.task(task_id).status is TaskStatus.FINISHED
    assert all(r.used == tuple(range(DATA_OWNERS)) and not r.excluded for r in results)
    assert p3.dm.owed(p3.dos[FILE_OWNER].address) == 2 * PER_UPDATE
    sealed = history.posts(p3.dm, task_id, 2, "update")[FILE_OWNER]
    context = update_context(p3.dm.address, task_id, 2, FILE_OWNER)
    envelope = p3.market.store.get(hash_hex(sealed["update_hash"]))
    update = weights_from_bytes(open_envelope(envelope, p3.mo.encryption_private, context))
    public = data_owner.load_model(p3.market, history.model_before(p3.dm, task_id, 2))
    from_part = p3.model.local_update(public, p3.data.parts[FILE_OWNER], 1, p3.spec.seed_of(2))
    assert np.array_equal(update, from_part)
    # the export loads back and scores what the MO measured when it tuned its head
    [head] = read_heads(folder, p3.mo.address).values()
    reloaded = read_model(model_file)
    test = of_cut("digits", 3).test
    assert head.accuracy_after is not None
    assert result.metrics["accuracy"] == pytest.approx(head.accuracy_after)
    assert float(np.mean(reloaded.predict(test.X) == test.y)) == result.metrics["accuracy"]
    assert isinstance(read_model(weights_file), WeightsModel)  # one hidden layer, no scaling
    assert np.array_equal(read_model(weights_file).predict(test.X), reloaded.predict(test.X))
    assert metrics_file.name == "final.metrics.json"
    rounds = result.reported["rounds"]
    assert [r["round"] for r in rounds] == [1, 2] and all(not r["excluded"] for r in rounds)
    assert all(0.0 < r["accuracy"] <= 1.0 for r in rounds)
    assert result.reported["accuracy_before"] == before


def test_a_file_that_does_not_fit_the_task_is_refused_before_joining(
    p3: P3World, tmp_path: Path
) -> None:
    # prepare: ten of the 64 pixels; and all of them, but with a class the model lacks
    task_id = _post(p3, p3.spec, p3.owner_model, DATA_OWNERS, rounds=1)
    part = p3.data.parts[0]
    narrow, narrow_schema = write_part(
        tmp_path, "narrow", part.renamed("n", part.X[:, :10], part.y)
    )
    odd, odd_schema = write_part(tmp_path, "odd", part.renamed("o", part.X, part.y + 3))

    # act
    refused = []
    for csv, schema in ((narrow, narrow_schema), (odd, odd_schema)):
        _, data = DataFile.read(csv, schema=schema)
        with pytest.raises(InputError) as caught:
            data_owner.join(p3.market, p3.dos[0], task_id, data)
        refused.append(str(caught.value))

    # assert: one line each, and nobody joined
    assert refused[0] == f"task {task_id}'s model takes 64 features; 'narrow' has 10"
    assert refused[1].startswith(f"task {task_id}'s model predicts the classes 0, 1, 2")
    assert re.search(r"'odd' holds class '1[0-2]', which it does not$", refused[1])
    assert not any("\n" in r for r in refused)
    assert p3.dm.task(task_id).joined == 0


def test_a_file_changed_after_joining_is_refused(p3: P3World, tmp_path: Path) -> None:
    # prepare: DO 0 joins with its file, then the file changes
    folder = tmp_path / "state"
    csv, schema = write_part(tmp_path, "mine", p3.data.parts[0])
    task_id = _post(p3, p3.spec, p3.owner_model, DATA_OWNERS, rounds=1)
    _join_with_file(p3, p3.dos[0], task_id, folder, csv, schema=schema)
    for i, do in enumerate(p3.dos[1:], start=1):
        data_owner.join(p3.market, do, task_id, p3.data.parts[i])
    lines = csv.read_text().splitlines()
    csv.write_text("\n".join(lines[:-1]) + "\n")  # one row fewer
    task = p3.dm.task(task_id)

    # act
    with pytest.raises(InputError) as caught:
        data_owner.contribution_for(p3.market, p3.dos[0], task, folder)

    # assert
    assert task.phase is Phase.SUBMIT
    message = str(caught.value)
    assert message.startswith(f"{csv.resolve()} changed since you joined task {task_id}: ")
    assert "put back the file you joined task" in message and "\n" not in message


def _raw_digits(tmp_path: Path, owners: int) -> tuple[Path, list[Path]]:
    """Raw digits (pixels 0 to 16): the MO's 400 rows, and each DO's share of the rest; the
    last DO's columns come in reverse order."""
    digits = load_digits()
    X, y = digits.data, digits.target
    names = pixel_names(X.shape[1])
    mo = write_csv(tmp_path / "mo.csv", X[:400], y[:400], names)
    dos = []
    for i in range(owners):
        rows = slice(400 + i, None, owners)
        order = list(range(X.shape[1]))[:: -1 if i == owners - 1 else 1]
        dos.append(write_csv(tmp_path / f"do-{i}.csv", X[rows][:, order], y[rows],
                             [names[k] for k in order]))  # fmt: skip
    return mo, dos


def test_a_task_posted_from_the_model_owners_own_file(p3: P3World, tmp_path: Path) -> None:
    # prepare: the MO posts from its raw rows; three DOs join with their raw rows
    folder = tmp_path / "state"
    mo_csv, do_csvs = _raw_digits(tmp_path, 3)
    own = DataFile.read(mo_csv, label=LABEL)
    prepared = posting.prepare(
        dataset=None, own=own, model_file=None, data_owners=3, local_epochs=1, seed=0,
        rule="multikrum",
    )  # fmt: skip
    before = posting.starting_point(prepared)
    accuracy_before = model_owner.accuracy(prepared.spec, before, prepared.data.test)
    task_id = _post(p3, prepared.spec, before, 3, rounds=1)
    model_owner.keep_head(p3.market, p3.mo, folder, task_id, own[0], 0, before, accuracy_before)
    for do, csv in zip(p3.dos, do_csvs, strict=False):
        _join_with_file(p3, do, task_id, folder, csv, label=LABEL)

    # act
    _run_round(p3, task_id, folder, p3.dos[:3], {})
    result = take_model(p3.market, p3.mo, task_id, folder)
    model_file, _ = export_result(result, tmp_path / "final.skops")

    # assert: the spec publishes the MO's columns, classes and scaling; the export scales
    # raw rows itself and scores what the MO measured on its held-out rows
    inputs = prepared.spec.inputs
    assert inputs is not None and inputs.features == tuple(pixel_names(64))
    assert inputs.classes == tuple(str(i) for i in range(10)) and inputs.scales
    reloaded = read_model(model_file)
    assert [name for name, _ in reloaded.steps] == ["scale", "mlp"]
    held_out = of_file(own[1], 0).test
    [head] = read_heads(folder, p3.mo.address).values()
    assert result.metrics["accuracy"] == pytest.approx(head.accuracy_after)
    assert float(np.mean(reloaded.predict(held_out.X) == held_out.y)) == pytest.approx(
        result.metrics["accuracy"]
    )
    assert result.metrics["accuracy"] > 0.85
    assert p3.dm.owed(p3.dos[2].address) == PER_UPDATE  # the reversed columns were aligned
