"""A buyer's result: a sealed model opened and checked against the chain's hash, measured,
and written as a model file with its metrics beside it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import skops.io
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score

from mercato.chain.accounts import dev_account
from mercato.crypto.commit import keccak
from mercato.errors import InputError, IntegrityError
from mercato.ml.datasets import load_dataset
from mercato.ml.model_files import WeightsModel, read_model
from mercato.ml.trainers import NumpyLogReg
from mercato.protocols.identity import Identity
from mercato.protocols.results import (
    Result,
    describe_data,
    export_result,
    measure,
    metrics_path,
    open_sealed,
)
from mercato.storage.envelope import seal
from mercato.storage.local import LocalBlobStore


@pytest.fixture(scope="module")
def model() -> LogisticRegression:
    X, y = load_iris(return_X_y=True)
    return LogisticRegression(max_iter=1000).fit(X[::2], y[::2])


def test_open_sealed_gives_the_bytes_the_chain_commits_to(
    tmp_path: Path, model: LogisticRegression
) -> None:
    # prepare
    buyer, other = Identity(dev_account(1)), Identity(dev_account(2))
    store = LocalBlobStore(tmp_path / "blobs")
    plaintext = skops.io.dumps(model)
    location = store.put(seal(plaintext, [buyer.encryption_public]))

    # act
    opened = open_sealed(store, location, buyer.encryption_private, keccak(plaintext), "model")

    # assert
    assert opened == plaintext
    with pytest.raises(IntegrityError, match="model: the opened bytes hash to"):
        open_sealed(store, location, buyer.encryption_private, keccak(b"another"), "model")
    with pytest.raises(IntegrityError):  # sealed to the buyer only
        open_sealed(store, location, other.encryption_private, keccak(plaintext), "model")


def test_measure_gives_scikit_learns_metrics_on_the_rows(model: LogisticRegression) -> None:
    # prepare
    data = load_dataset("iris")
    result = Result("auction", 3, model, "0x" + "ab" * 32)

    # act
    measured = measure(result, data)

    # assert
    assert measured.metrics["accuracy"] == accuracy_score(data.y, model.predict(data.X))
    assert set(measured.metrics) == {"accuracy", "balanced_accuracy", "f1_macro"}
    assert measured.measured_on == describe_data(data)
    assert measured.measured_on["rows"] == 150
    assert measured.measured_on["digest"] == "0x" + data.digest().hex()


def test_export_writes_the_model_and_its_metrics_beside_it(
    tmp_path: Path, model: LogisticRegression
) -> None:
    # prepare
    data = load_dataset("iris")
    result = measure(Result("training", 2, model, "0x" + "cd" * 32, reported={"rounds": []}), data)

    # act
    model_file, metrics_file = export_result(result, tmp_path / "out" / "final.skops")

    # assert
    assert metrics_file == metrics_path(model_file) == tmp_path / "out" / "final.metrics.json"
    written = json.loads(metrics_file.read_text())
    assert written == json.loads(json.dumps(result.record()))
    assert (written["protocol"], written["id"], written["reported"]) == (
        "training",
        2,
        {"rounds": []},
    )
    reloaded = read_model(model_file)
    assert accuracy_score(data.y, reloaded.predict(data.X)) == written["metrics"]["accuracy"]


def test_open_sealed_refuses_a_substitute_sealed_to_the_buyer(
    tmp_path: Path, model: LogisticRegression
) -> None:
    # prepare: the chain commits to one model; the store holds another, validly sealed
    buyer = Identity(dev_account(1))
    store = LocalBlobStore(tmp_path / "blobs")
    committed = skops.io.dumps(model)
    X, y = load_iris(return_X_y=True)
    substitute = skops.io.dumps(LogisticRegression(C=0.01, max_iter=1000).fit(X, y))
    location = store.put(seal(substitute, [buyer.encryption_public]))

    # act
    with pytest.raises(IntegrityError) as refused:
        open_sealed(store, location, buyer.encryption_private, keccak(committed), "auction 4 model")

    # assert
    assert str(refused.value) == (
        f"auction 4 model: the opened bytes hash to 0x{keccak(substitute).hex()}, "
        f"the chain holds 0x{keccak(committed).hex()}"
    )


@pytest.mark.parametrize(
    ("model_file", "metrics_file"),
    [
        ("out/final.skops", "out/final.metrics.json"),
        ("model.v2.safetensors", "model.v2.metrics.json"),
        ("m", "m.metrics.json"),
    ],
)
def test_metrics_go_beside_the_model_under_its_stem(model_file: str, metrics_file: str) -> None:
    assert metrics_path(Path(model_file)) == Path(metrics_file)


def test_weights_are_measured_and_exported_as_safetensors(tmp_path: Path) -> None:
    # prepare
    data = load_dataset("iris")
    trainer = NumpyLogReg(4, 3)
    weights = trainer.train(None, data, epochs=20, seed=0)
    result = Result("datamarket", 7, WeightsModel(trainer, weights), "0x" + "ef" * 32)

    # act
    measured = measure(result, data)
    model_file, metrics_file = export_result(measured, tmp_path / "task7.safetensors")

    # assert
    expected = accuracy_score(data.y, trainer.predict(weights, data.X))
    assert measured.metrics["accuracy"] == expected
    assert metrics_file == tmp_path / "task7.metrics.json"
    assert json.loads(metrics_file.read_text())["metrics"]["accuracy"] == expected
    reloaded = read_model(model_file)
    assert isinstance(reloaded, WeightsModel) and np.array_equal(reloaded.weights, weights)


def test_an_export_to_the_wrong_suffix_writes_nothing(
    tmp_path: Path, model: LogisticRegression
) -> None:
    # prepare
    result = Result("auction", 1, model, "0x" + "01" * 32)

    # act
    with pytest.raises(InputError, match=r"name it \*\.skops"):
        export_result(result, tmp_path / "model.safetensors")

    # assert
    assert list(tmp_path.iterdir()) == []
