"""Split a random forest into groups of trees whose summed votes give the forest's labels.

Each group (one component) returns, for each row, the sum of its trees' ``predict_proba``
(added tree by tree, in member order) and, in a last column, how many trees it holds. The
combiner (the last component) adds the groups' sums in member order, divides by the number
of trees and takes the argmax, as the forest does.

With every group answering, the labels equal the forest's ``predict`` on the rows tested
(digits, fully grown or depth-limited trees): each tree's probabilities are leaf fractions,
and a regrouped float sum differs from the forest's running sum only in its last bits, which
change the argmax only when two classes tie to within rounding.

A random subset of groups (:meth:`SplitModel.predict` with ``groups``) averages only their
trees: cheaper and harder for one vendor to be required, but the labels are those of a
smaller forest, whose accuracy is usually a little lower; measure it with
:func:`subset_accuracy` before allowing it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from mercato.errors import InputError
from mercato.ml.splitting.components import (
    Component,
    SplitModel,
    check_parts,
    numeric_classes,
    shares,
)
from mercato.ml.splitting.subtrees import leaf_nodes


def split_forest(forest: Any, parts: int) -> SplitModel:
    """Split a fitted ``RandomForestClassifier`` into ``parts`` groups of trees and a combiner."""
    trees = list(forest.estimators_)
    check_parts(parts, len(trees), "trees")
    if forest.n_outputs_ != 1:
        raise InputError("only single-output forests split")
    n_classes = int(forest.n_classes_)
    groups = [
        _group(index, [trees[member] for member in members], n_classes)
        for index, members in enumerate(shares(len(trees), parts))
    ]
    combiner = Component(
        index=parts, kind="vote", arrays={"classes": numeric_classes(forest.classes_)}
    )
    return SplitModel(technique="ensemble", flow="sum", components=(*groups, combiner))


def run_trees(component: Component, inputs: NDArray[Any]) -> NDArray[np.float64]:
    """Return each row's summed class probabilities over the group, then the tree count."""
    count = int(component.settings["trees"])
    total = np.zeros((len(inputs), int(component.settings["classes"])), dtype=np.float64)
    for tree in range(count):
        arrays = {name: component.arrays[f"{tree:04d}.{name}"] for name in TREE_ARRAYS}
        nodes = leaf_nodes(
            arrays["left"], arrays["right"], arrays["feature"], arrays["threshold"], inputs
        )
        total += arrays["proba"][nodes]
    return np.hstack([total, np.full((len(inputs), 1), float(count))])


def run_vote(component: Component, inputs: NDArray[Any]) -> NDArray[Any]:
    """Add the groups' sums in order, divide by the tree count and return the labels."""
    stacked = np.asarray(inputs, dtype=np.float64)
    if stacked.ndim != 3 or len(stacked) == 0:
        raise InputError("the combiner takes the groups' outputs stacked: groups x rows x classes")
    total = stacked[0, :, :-1].copy()
    for group in stacked[1:]:
        total += group[:, :-1]
    total /= stacked[:, 0, -1].sum() if stacked.shape[1] else 1.0
    labels: NDArray[Any] = np.asarray(component.arrays["classes"]).take(
        np.argmax(total, axis=1), axis=0
    )
    return labels


def subset_accuracy(
    model: SplitModel, groups: Sequence[int], inputs: NDArray[Any], labels: NDArray[Any]
) -> float:
    """Return the accuracy of the labels when only ``groups`` answer."""
    return float(np.mean(model.predict(inputs, groups=groups) == np.asarray(labels)))


TREE_ARRAYS = ("left", "right", "feature", "threshold", "proba")
"""The arrays one tree keeps in a group, each named ``<tree number>.<array>``."""


def _group(index: int, trees: list[Any], n_classes: int) -> Component:
    arrays: dict[str, NDArray[Any]] = {}
    for number, tree in enumerate(trees):
        structure = tree.tree_
        arrays[f"{number:04d}.left"] = np.asarray(structure.children_left, dtype=np.int64)
        arrays[f"{number:04d}.right"] = np.asarray(structure.children_right, dtype=np.int64)
        arrays[f"{number:04d}.feature"] = np.asarray(structure.feature, dtype=np.int64)
        arrays[f"{number:04d}.threshold"] = np.asarray(structure.threshold, dtype=np.float64)
        arrays[f"{number:04d}.proba"] = np.asarray(
            structure.value[:, 0, :n_classes], dtype=np.float64
        )
    return Component(
        index=index,
        kind="trees",
        arrays=arrays,
        settings={"trees": len(trees), "classes": n_classes},
    )
