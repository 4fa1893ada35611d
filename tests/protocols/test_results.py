"""A buyer's result: a sealed model opened and checked against the chain's hash, measured,
and written as a model file with its metrics beside it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import skops.io
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score

from mercato.chain.accounts import dev_account
from mercato.crypto.commit import keccak
from mercato.errors import IntegrityError
from mercato.ml.datasets import load_dataset
from mercato.ml.model_files import read_model
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
