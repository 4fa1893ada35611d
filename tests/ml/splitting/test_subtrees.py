"""A decision tree split into a top part and subtrees predicts exactly as the tree."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

from mercato.errors import InputError
from mercato.ml.splitting import split


@pytest.mark.parametrize("parts", [1, 2, 3, 8, 31])
def test_the_subtrees_predict_as_the_tree(
    digits: tuple[NDArray[Any], NDArray[Any]], tree: Any, parts: int
) -> None:
    # prepare
    inputs, _ = digits

    # act
    model = split(tree, parts)

    # assert
    assert len(model.components) == parts + 1
    assert np.array_equal(model.predict(inputs), tree.predict(inputs))


def test_every_leaf_its_own_subtree(digits: tuple[NDArray[Any], NDArray[Any]], tree: Any) -> None:
    # prepare
    inputs, _ = digits
    leaves = int(tree.get_n_leaves())

    # act
    model = split(tree, leaves)

    # assert
    assert np.array_equal(model.predict(inputs), tree.predict(inputs))
    assert all(len(part.arrays["left"]) == 1 for part in model.components[1:])


def test_the_top_routes_each_row_to_the_subtree_of_its_leaf(
    digits: tuple[NDArray[Any], NDArray[Any]], tree: Any
) -> None:
    # prepare
    inputs, _ = digits
    model = split(tree, 2)

    # act
    route = model.components[0].run(inputs)

    # assert: two subtrees are the root's two children, so the route is the root's test
    feature, threshold = tree.tree_.feature[0], tree.tree_.threshold[0]
    expected = (inputs[:, feature].astype(np.float32) > threshold).astype(np.int64)
    assert np.array_equal(route, expected)


def test_more_parts_than_leaves_is_refused(tree: Any) -> None:
    leaves = int(tree.get_n_leaves())

    with pytest.raises(InputError, match=f"cannot split {leaves} leaves"):
        split(tree, leaves + 1)
