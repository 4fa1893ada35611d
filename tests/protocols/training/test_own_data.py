"""P2 with a participant's own files: the data owner's CSV split, listed and trained on; the
model owner's own trained model as round 1; the trained model exported and re-scored."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from mercato.chain.embedded import EmbeddedChain
from mercato.errors import InputError
from mercato.ml.columns import Inputs, standardisation
from mercato.ml.data_files import read_data
from mercato.ml.datasets import Dataset
from mercato.ml.model_files import WeightsModel, read_model, write_model
from mercato.ml.schema import DataSchema
from mercato.ml.trainers import NumpyLogReg, weights_from_bytes
from mercato.protocols.results import export_result, metrics_path
from mercato.protocols.training.compute import open_round_model
from mercato.protocols.training.data_owner import SplitPlan
from mercato.protocols.training.documents import MODE_PLAINTEXT, Manifest, Method
from mercato.protocols.training.final_model import final_path, take_model
from mercato.protocols.training.listings import RecordedPlan, build_listing
from mercato.protocols.training.market import TrainingStatus
from mercato.protocols.training.starting import StartingFile, record_start
from mercato.protocols.training.views import read_manifest, read_training
from mercato.user_files import DataFile

from .offchain import P2World, build_world

CLINIC = Path(__file__).parents[3] / "examples" / "clinic"
SCHEMA = CLINIC / "patients.schema.json"
PLAN = SplitPlan(2, 3, seed=1, max_class_fraction=0.8, min_missing_classes=0)


def clinic_inputs() -> Inputs:
    """What a model shaped on the MO's hold-out publishes: its columns, classes, scaling."""
    rows = read_data(CLINIC / "holdout.csv", schema=DataSchema.read(SCHEMA))
    return Inputs(rows.features, rows.labels, *standardisation(rows.X))


def clinic_method() -> Method:
    trainer = NumpyLogReg(6, 2, learning_rate=0.001, batch_size=32)
    return Method(MODE_PLAINTEXT, dict(trainer.spec()), 2, 3, inputs=clinic_inputs())


@pytest.fixture
def clinic(tmp_path: Path) -> Iterator[tuple[P2World, DataFile]]:
    """The P2 world with the clinic's patients as the DO's file and its hold-out as the MO's."""
    patients = tmp_path / "patients.csv"
    shutil.copy(CLINIC / "patients.csv", patients)
    recorded, data = DataFile.read(patients, schema=SCHEMA)
    holdout = read_data(CLINIC / "holdout.csv", schema=DataSchema.read(SCHEMA))
    chain = EmbeddedChain()
    world = build_world(chain, tmp_path, (data, holdout))
    world.plan = PLAN
    try:
        yield world, recorded
    finally:
        world.close()
        chain.close()


def run_training(p2: P2World, folder: Path, method: Method, rounds: int = 2) -> int:
    p2.list_dataset()
    p2.runner().run_until_idle()  # joins verified
    training_id = p2.request(method, per_round=1, rounds=rounds)
    p2.runner(mo_folder=folder).run_until_idle()
    assert p2.tm.training(training_id).status is TrainingStatus.COMPLETED
    return training_id


def test_a_file_listing_publishes_its_columns_and_classes_and_rebuilds_from_its_record(
    clinic: tuple[P2World, DataFile],
) -> None:
    # prepare
    p2, recorded = clinic

    # act
    listing = p2.list_dataset()
    rebuilt = build_listing(p2.do, RecordedPlan(p2.data.name, PLAN, recorded))

    # assert
    manifest = read_manifest(p2.market, p2.tm.dataset(listing.dataset_id))
    assert manifest.features == ("age", "bmi", "systolic_bp", "glucose", "hba1c", "smoker")
    assert manifest.labels == ("low", "high")
    assert manifest.class_names == ("low", "high")
    assert manifest.ontology_class == "mc:PatientRecords"
    assert rebuilt.manifest == manifest  # the DO agent serves joins from the record
    assert RecordedPlan.from_json(RecordedPlan(p2.data.name, PLAN, recorded).to_json()).file == (
        recorded
    )


def test_a_changed_file_is_refused_when_the_listing_is_rebuilt(
    clinic: tuple[P2World, DataFile],
) -> None:
    # prepare
    p2, recorded = clinic
    path = Path(recorded.path)
    lines = path.read_text().splitlines()
    path.write_text("\n".join([lines[0], *lines[2:]]) + "\n")  # one patient fewer

    # act
    with pytest.raises(InputError, match="changed since you offered it") as refused:
        build_listing(p2.do, RecordedPlan(p2.data.name, PLAN, recorded))

    # assert
    assert "\n" not in str(refused.value)


def test_a_sample_set_manifest_keeps_its_bytes() -> None:
    # prepare
    manifest = Manifest("digits", "mc:HandwrittenDigits", 64, tuple(range(10)), 1, 1,
                        ("0x" + "ab" * 32,), (10,))  # fmt: skip

    # act
    text = manifest.to_bytes()

    # assert
    assert b'"features"' not in text and b'"labels"' not in text
    assert Manifest.from_bytes(text) == manifest
    with pytest.raises(InputError, match="features"):
        Manifest("x", "mc:HandwrittenDigits", 3, (0, 1), 1, 1, ("0x" + "ab" * 32,), (10,),
                 features=("a", "b"))  # fmt: skip


def test_the_model_owner_starts_from_its_own_model_and_exports_what_it_measured(
    clinic: tuple[P2World, DataFile], tmp_path: Path
) -> None:
    # prepare: the MO's own logistic regression, trained on its first 100 rows
    p2, _ = clinic
    own = LogisticRegression(max_iter=2000).fit(p2.evaluation.X[:100], p2.evaluation.y[:100])
    own_file = write_model(tmp_path / "own.skops", own)
    method = clinic_method()
    start, weights = StartingFile.read(own_file, method.build_trainer(), method.inputs)
    folder = tmp_path / "state"
    model_id = 1  # the first model the world's request creates
    record_start(folder, p2.market, p2.mo.address, model_id, start)

    # act
    training_id = run_training(p2, folder, method)

    # assert: round 1 trained the MO's own weights
    _, first = open_round_model(p2.market, p2.mo, training_id, 1)
    assert read_training(p2.tm, training_id).model_id == model_id
    assert np.array_equal(weights_from_bytes(first.payload), weights)
    # the agent's export is what it measured in the last round, and scores the same again
    exported = final_path(folder / "mo", training_id)
    metrics = json.loads(metrics_path(exported).read_text())
    last = p2.stores["mo"].get("mo", f"round:{training_id}:2")
    assert metrics["metrics"]["accuracy"] == pytest.approx(last["accuracy"], abs=1e-12)
    assert [r["round"] for r in metrics["reported"]["rounds"]] == [1, 2]
    assert metrics["reported"]["rounds"][-1]["accuracy"] == metrics["metrics"]["accuracy"]
    model = read_model(exported)
    assert isinstance(model, WeightsModel)
    rescored = float(np.mean(model.predict(p2.evaluation.X) == p2.evaluation.y))
    assert rescored == metrics["metrics"]["accuracy"]


def test_export_matches_columns_by_name_and_refuses_rows_that_do_not_fit(
    clinic: tuple[P2World, DataFile], tmp_path: Path
) -> None:
    # prepare
    p2, _ = clinic
    training_id = run_training(p2, tmp_path / "state", clinic_method(), rounds=1)
    rows = p2.evaluation
    order = [5, 4, 3, 2, 1, 0]
    shuffled = Dataset(rows.name, rows.ontology_class, rows.X[:, order], 1 - rows.y,
                       tuple(rows.features[i] for i in order), ("high", "low"))  # fmt: skip
    narrow = Dataset(rows.name, rows.ontology_class, rows.X[:, :5], rows.y, rows.features[:5],
                     rows.labels)  # fmt: skip

    # act
    straight = take_model(p2.market, p2.mo, training_id, rows)
    reordered = take_model(p2.market, p2.mo, training_id, shuffled)
    with pytest.raises(InputError, match="takes 6 features") as refused:
        take_model(p2.market, p2.mo, training_id, narrow)

    # assert
    assert reordered.metrics == straight.metrics
    assert reordered.model_hash == straight.model_hash
    assert "\n" not in str(refused.value)
    written, _ = export_result(straight, tmp_path / "final.safetensors")
    assert read_model(written).predict(rows.X).tolist() == straight.model.predict(rows.X).tolist()


def test_only_the_model_owner_takes_the_model_and_only_after_a_round(
    clinic: tuple[P2World, DataFile],
) -> None:
    # prepare
    p2, _ = clinic
    p2.list_dataset()
    p2.runner().run_until_idle()
    training_id = p2.request(clinic_method(), per_round=1, rounds=1)

    # act
    with pytest.raises(InputError, match="has run no round"):
        take_model(p2.market, p2.mo, training_id)
    p2.runner().run_until_idle()
    with pytest.raises(InputError, match="model owner"):
        take_model(p2.market, p2.do, training_id)
    taken = take_model(p2.market, p2.mo, training_id)

    # assert
    assert taken.metrics == {}  # nothing to measure on
    assert taken.reported["rounds"][0]["trained"] is True


def test_a_starting_model_changed_since_it_was_recorded_is_refused(tmp_path: Path) -> None:
    # prepare
    data = read_data(CLINIC / "holdout.csv", schema=DataSchema.read(SCHEMA))
    trainer = clinic_method().build_trainer()
    path = write_model(tmp_path / "own.skops", LogisticRegression().fit(data.X, data.y))
    start, _ = StartingFile.read(path, trainer)
    write_model(path, LogisticRegression(C=0.01).fit(data.X, data.y))

    # act
    with pytest.raises(InputError, match="changed since model 4 was created"):
        start.load(trainer, 4)

    # assert
    with pytest.raises(InputError, match="6 features and 2 classes; this training has 5"):
        StartingFile.read(path, NumpyLogReg(5, 2))


@pytest.mark.parametrize("scaled", [False, True])
def test_a_brought_model_is_re_expressed_exactly_for_the_published_scaling(
    tmp_path: Path, scaled: bool
) -> None:
    # prepare: a logistic regression on raw rows, or after its own StandardScaler
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rows = read_data(CLINIC / "holdout.csv", schema=DataSchema.read(SCHEMA))
    own = LogisticRegression(max_iter=5000)
    own = make_pipeline(StandardScaler(), own) if scaled else own
    own.fit(rows.X[:150], rows.y[:150])
    method = clinic_method()
    assert method.inputs is not None

    # act
    _, weights = StartingFile.read(write_model(tmp_path / "own.skops", own),
                                   method.build_trainer(), method.inputs)  # fmt: skip
    model = WeightsModel(method.build_trainer(), weights, method.inputs)
    written = read_model(write_model(tmp_path / "round1.safetensors", model))

    # assert: the same predictions from the rows as the file holds them
    assert model.predict(rows.X).tolist() == own.predict(rows.X).tolist()
    assert written.inputs == method.inputs
    assert written.predict(rows.X).tolist() == own.predict(rows.X).tolist()
