"""A random forest split into groups of trees votes exactly as the forest."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

from mercato.errors import InputError
from mercato.ml.splitting import split
from mercato.ml.splitting.ensemble import subset_accuracy


@pytest.mark.parametrize("parts", [1, 2, 5, 24])
def test_the_groups_vote_as_the_forest(
    digits: tuple[NDArray[Any], NDArray[Any]], forest: Any, parts: int
) -> None:
    # prepare
    inputs, _ = digits

    # act
    model = split(forest, parts)

    # assert
    assert len(model.components) == parts + 1
    assert np.array_equal(model.predict(inputs), forest.predict(inputs))


def test_fully_grown_trees_vote_as_their_forest(digits: tuple[NDArray[Any], NDArray[Any]]) -> None:
    # prepare
    from sklearn.ensemble import RandomForestClassifier

    inputs, labels = digits
    forest = RandomForestClassifier(n_estimators=15, random_state=1).fit(inputs[::2], labels[::2])

    # act
    model = split(forest, 4)

    # assert
    assert np.array_equal(model.predict(inputs), forest.predict(inputs))


def test_a_group_returns_its_trees_probabilities(
    digits: tuple[NDArray[Any], NDArray[Any]], forest: Any
) -> None:
    # prepare
    inputs, _ = digits
    model = split(forest, 3)

    # act
    votes = model.components[1].run(inputs)

    # assert
    expected = [tree.predict_proba(inputs.astype(np.float32)) for tree in forest.estimators_[8:16]]
    assert np.array_equal(votes, np.stack(expected))


def test_near_ties_on_many_rows_vote_as_the_forest(
    digits: tuple[NDArray[Any], NDArray[Any]],
) -> None:
    # prepare: leaves of three or more rows hold fractions such as 1/3, whose float sums
    # depend on their order; summing per group disagreed with the forest on one of these rows
    from sklearn.ensemble import RandomForestClassifier

    inputs, labels = digits
    noise = np.random.default_rng(0).integers(-3, 4, size=(len(inputs) * 10, inputs.shape[1]))
    many = np.clip(np.repeat(inputs, 10, axis=0) + noise, 0, 16)
    forest = RandomForestClassifier(n_estimators=30, min_samples_leaf=3, random_state=0)
    forest.fit(inputs[:600], labels[:600])

    # act
    model = split(forest, 3)

    # assert
    assert np.array_equal(model.predict(many), forest.predict(many))


def test_a_subset_of_groups_votes_as_a_smaller_forest(
    digits: tuple[NDArray[Any], NDArray[Any]], forest: Any
) -> None:
    # prepare
    inputs, labels = digits
    model = split(forest, 4)
    smaller = split(forest, 4)
    small_forest = _forest_of(forest, forest.estimators_[6:18])

    # act
    subset = model.predict(inputs, groups=[1, 2])

    # assert
    assert np.array_equal(subset, small_forest.predict(inputs))
    assert 0.0 < subset_accuracy(smaller, [1, 2], inputs, labels) <= 1.0


@pytest.mark.parametrize("groups", [[], [4], [1, 1]])
def test_a_bad_subset_is_refused(
    digits: tuple[NDArray[Any], NDArray[Any]], forest: Any, groups: list[int]
) -> None:
    inputs, _ = digits

    with pytest.raises(InputError, match="groups"):
        split(forest, 4).predict(inputs, groups=groups)


def test_more_parts_than_trees_is_refused(forest: Any) -> None:
    with pytest.raises(InputError, match="cannot split 24 trees into 25 parts"):
        split(forest, 25)


def _forest_of(forest: Any, trees: list[Any]) -> Any:
    from copy import copy

    smaller = copy(forest)
    smaller.estimators_ = list(trees)
    smaller.n_estimators = len(trees)
    return smaller
