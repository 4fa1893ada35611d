"""The API document and the components sealed to vendors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mercato.errors import InputError, IntegrityError
from mercato.ml.splitting import SplitModel, model_root, split
from mercato.protocols.apimarket.documents import (
    ApiDocument,
    Purchase,
    document_of,
    open_component,
    seal_components,
)
from mercato.storage.envelope import generate_keypair
from mercato.storage.local import LocalBlobStore


@pytest.fixture(scope="module")
def model() -> SplitModel:
    from sklearn.datasets import load_iris
    from sklearn.neural_network import MLPClassifier

    X, y = load_iris(return_X_y=True)
    mlp = MLPClassifier((8, 6), max_iter=2000, random_state=0).fit(X, y)
    return split(mlp, 3)


def test_the_document_holds_the_model_root_and_round_trips(model: SplitModel) -> None:
    purchase = Purchase("0x" + "11" * 20, 3, 1)
    document = document_of(model, 4, classes=("a", "b", "c"), purchase=purchase)
    assert document.model_root == model_root(model)
    assert document.flow == "chain" and document.components == 3
    again = ApiDocument.from_bytes(document.to_bytes())
    assert again == document and again.hash == document.hash
    changed = document_of(model, 5, classes=("a", "b", "c"), purchase=purchase)
    assert changed.hash != document.hash


def test_each_vendor_opens_only_its_own_component(model: SplitModel, tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    keys = [generate_keypair() for _ in range(4)]
    slots = [0, 1, 1, 2]
    document = seal_components(
        document_of(model, 4), model, slots, [public for _, public in keys], store
    )
    assert len(document.sealed) == 4
    for slot, component in enumerate(slots):
        data = open_component(document, slot, component, store, keys[slot][0])
        assert data == model.components[component].to_bytes()
    with pytest.raises(IntegrityError):
        open_component(document, 1, 1, store, keys[0][0])
    with pytest.raises(InputError, match="not component 2"):
        open_component(document, 1, 2, store, keys[1][0])
    rows = np.zeros((1, 4))
    assert model.predict(rows).shape == (1,)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"flow": "star"}, "flow is one of"),
        ({"component_hashes": ()}, "1 to 8 components"),
        ({"component_hashes": ("0x12",)}, "blob hash"),
        ({"features": 0}, "at least one feature"),
        ({"subsets": True}, "only an ensemble"),
        ({"schema": "other"}, "not an API document"),
    ],
)
def test_a_bad_document_is_refused_in_one_line(
    model: SplitModel, change: dict[str, object], message: str
) -> None:
    fields = {
        name: getattr(document_of(model, 4), name) for name in ApiDocument.__dataclass_fields__
    }
    with pytest.raises(InputError, match=message):
        ApiDocument(**{**fields, **change})  # type: ignore[arg-type]


@pytest.mark.parametrize("data", [b"not json", b"[1]", b'{"flow": "chain"}'])
def test_a_damaged_document_blob_is_refused(data: bytes) -> None:
    with pytest.raises(InputError):
        ApiDocument.from_bytes(data)
