"""Components serialise to stable bytes, load back without pickles, and sign the model."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

from mercato.crypto.commit import keccak
from mercato.crypto.merkle import MerkleTree, leaf_hash, verify_proof
from mercato.errors import InputError
from mercato.ml.splitting import (
    SplitModel,
    component_hashes,
    component_leaf,
    load_component,
    model_root,
    signature_tree,
    split,
)

MODELS = ["mlp", "forest", "tree"]


@pytest.fixture(params=MODELS)
def fitted(request: pytest.FixtureRequest) -> Any:
    return request.getfixturevalue(request.param)


def test_components_round_trip_through_their_bytes(
    digits: tuple[NDArray[Any], NDArray[Any]], fitted: Any
) -> None:
    # prepare
    inputs, _ = digits
    model = split(fitted, 3)

    # act
    loaded = SplitModel(
        technique=model.technique,
        flow=model.flow,
        components=tuple(load_component(part.to_bytes()) for part in model.components),
    )

    # assert
    for original, copy in zip(model.components, loaded.components, strict=True):
        assert copy.to_bytes() == original.to_bytes()
        assert (copy.index, copy.kind, dict(copy.settings)) == (
            original.index,
            original.kind,
            dict(original.settings),
        )
    assert np.array_equal(loaded.predict(inputs), fitted.predict(inputs))


def test_hashes_are_stable_across_two_splits(fitted: Any) -> None:
    # act
    first, second = split(fitted, 3), split(fitted, 3)

    # assert
    assert component_hashes(first) == component_hashes(second)
    assert model_root(first) == model_root(second)
    assert [part.hash for part in first.components] == [
        keccak(part.to_bytes()) for part in first.components
    ]


def test_hashes_are_the_same_in_another_process(forest: Any) -> None:
    # prepare
    data = split(forest, 2).components[0].to_bytes()
    program = (
        "import sys; from mercato.ml.splitting import load_component; "
        "sys.stdout.write(load_component(sys.stdin.buffer.read()).hash.hex())"
    )

    # act
    result = subprocess.run(
        [sys.executable, "-c", program], input=data, capture_output=True, check=True, timeout=60
    )

    # assert
    assert result.stdout.decode() == keccak(data).hex()


def test_the_root_is_the_merkle_root_of_indexed_component_hashes(tree: Any) -> None:
    # prepare
    model = split(tree, 4)
    hashes = component_hashes(model)

    # act
    root = model_root(model)

    # assert
    leaves = [index.to_bytes(8, "big") + digest for index, digest in enumerate(hashes)]
    assert root == MerkleTree(leaves).root
    proof = signature_tree(model).proof(2)
    assert verify_proof(root, leaf_hash(component_leaf(2, hashes[2])), proof)


@pytest.mark.parametrize("changed", [0, 1, 2, 3])
def test_the_root_changes_when_any_component_changes(forest: Any, changed: int) -> None:
    # prepare
    model = split(forest, 3)
    part = model.components[changed]
    name = sorted(part.arrays)[-1]
    arrays = dict(part.arrays)
    altered = arrays[name].copy()
    altered.flat[0] += 1
    arrays[name] = altered
    components = list(model.components)
    components[changed] = replace(part, arrays=arrays)

    # act
    root = model_root(replace(model, components=tuple(components)))

    # assert
    assert root != model_root(model)


def test_swapping_two_components_changes_the_root(tree: Any) -> None:
    model = split(tree, 3)
    top, first, second, third = model.components

    swapped = replace(model, components=(top, second, first, third))

    assert model_root(swapped) != model_root(model)


@pytest.mark.parametrize("parts", [0, -1, True, 1.5])
def test_a_bad_part_count_is_refused(fitted: Any, parts: Any) -> None:
    with pytest.raises(InputError, match="at least 1 part") as raised:
        split(fitted, parts)

    assert "\n" not in str(raised.value)


@pytest.mark.parametrize(
    "model", [object(), "model.skops", [np.zeros(3)]], ids=["object", "str", "list"]
)
def test_an_unsupported_model_is_refused(model: Any) -> None:
    with pytest.raises(InputError, match="cannot split a") as raised:
        split(model, 2)

    assert "\n" not in str(raised.value)


def test_an_unsupported_sklearn_model_is_refused(digits: tuple[NDArray[Any], NDArray[Any]]) -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.tree import DecisionTreeClassifier

    inputs, labels = digits
    linear = LogisticRegression(max_iter=50).fit(inputs[:100] / 16, labels[:100])

    with pytest.raises(InputError, match="cannot split a LogisticRegression"):
        split(linear, 1)
    with pytest.raises(InputError, match="not fitted"):
        split(DecisionTreeClassifier(), 1)


def test_string_labels_are_refused(digits: tuple[NDArray[Any], NDArray[Any]]) -> None:
    from sklearn.tree import DecisionTreeClassifier

    inputs, labels = digits
    named = DecisionTreeClassifier(max_depth=3).fit(inputs, np.array(["even", "odd"])[labels % 2])

    with pytest.raises(InputError, match="numeric class labels"):
        split(named, 2)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\xff" * 8 + b"{}",
        (2).to_bytes(8, "little") + b"{}",
        b"\x02\x00\x00\x00\x00\x00\x00\x00[]",
    ],
    ids=["empty", "huge header", "no metadata", "not an object"],
)
def test_bytes_that_are_not_a_component_are_refused(data: bytes) -> None:
    with pytest.raises(InputError, match="not a component") as raised:
        load_component(data)

    assert "\n" not in str(raised.value)


def test_an_unknown_kind_is_refused(tree: Any) -> None:
    from safetensors.numpy import save

    header = json.dumps({"index": 0, "kind": "pickle", "settings": {}})
    data = save({"x": np.zeros(1)}, metadata={"mercato.component": header})

    with pytest.raises(InputError, match="unknown kind 'pickle'"):
        load_component(data)


LIGHT_PROGRAM = """
import json, sys
import mercato.ml.splitting
heavy = {"torch", "vyper", "boa", "sklearn", "web3", "eth_account", "mercato.chain"}
loaded = {h for h in heavy for name in sys.modules if name == h or name.startswith(h + ".")}
print(json.dumps(sorted(loaded)))
"""


def test_importing_the_package_loads_no_heavy_dependency() -> None:
    # act
    result = subprocess.run(
        [sys.executable, "-c", LIGHT_PROGRAM],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )

    # assert
    assert json.loads(result.stdout) == []


def test_a_tree_whose_child_points_back_is_refused(
    digits: tuple[NDArray[Any], NDArray[Any]], tree: Any
) -> None:
    # prepare
    inputs, _ = digits
    subtree = split(tree, 2).components[1]
    left = subtree.arrays["left"].copy()
    left[0] = 0
    looping = load_component(replace(subtree, arrays={**subtree.arrays, "left": left}).to_bytes())

    # act, assert
    with pytest.raises(InputError, match="child indices"):
        looping.run(inputs)


def test_rows_of_the_wrong_width_are_refused(
    digits: tuple[NDArray[Any], NDArray[Any]], fitted: Any
) -> None:
    inputs, _ = digits

    with pytest.raises(InputError) as raised:
        split(fitted, 2).predict(inputs[:, :10])

    assert "\n" not in str(raised.value)
