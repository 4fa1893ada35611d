"""Split a random forest into groups of trees whose votes give exactly the forest's labels.

Each group (one component) returns its trees' ``predict_proba``, one slice per tree in
member order (``trees x rows x classes``). The combiner (the last component) takes the
groups' outputs joined in member order, adds them tree by tree from zero, divides by the
number of trees and takes the argmax: the very float operations, in the very order, of the
forest's ``predict`` (with ``n_jobs`` unset), so the labels are equal on every row.

Why not one sum per group: a group's sum added to the others regroups the float additions,
``(p1 + p2) + (p3 + p4)`` against the forest's ``((p1 + p2) + p3) + p4``, and a leaf fraction
such as 1/3 rounds differently in each; on 17,970 noisy digits rows, a 30-tree forest
(``min_samples_leaf=3``) in 3 summed groups disagreed with ``predict`` on one row, where two
classes tied to within rounding. The combiner therefore sees each tree's vote; the other
vendors see nothing of a group.

A random subset of groups (:meth:`SplitModel.predict` with ``groups``) averages only their
trees: the labels of a smaller forest, whose accuracy is usually a little lower (a few
trees fewer rarely changes a digits forest's accuracy by more than a point or two; measure
it with :func:`subset_accuracy` before allowing it), in exchange for calls that need not
reach every vendor.
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
    return SplitModel(technique="ensemble", flow="combine", components=(*groups, combiner))


def run_trees(component: Component, inputs: NDArray[Any]) -> NDArray[np.float64]:
    """Return each tree's class probabilities for the rows: ``trees x rows x classes``."""
    count = int(component.settings["trees"])
    votes = np.empty((count, len(inputs), int(component.settings["classes"])), dtype=np.float64)
    for tree in range(count):
        arrays = {name: component.arrays[f"{tree:04d}.{name}"] for name in TREE_ARRAYS}
        nodes = leaf_nodes(
            arrays["left"], arrays["right"], arrays["feature"], arrays["threshold"], inputs
        )
        votes[tree] = arrays["proba"][nodes]
    return votes


def run_vote(component: Component, inputs: NDArray[Any]) -> NDArray[Any]:
    """Add the trees' probabilities in member order, divide by their count, return labels."""
    votes = np.asarray(inputs, dtype=np.float64)
    if votes.ndim != 3 or len(votes) == 0:
        raise InputError("the combiner takes the trees' votes: trees x rows x classes")
    total = np.zeros(votes.shape[1:], dtype=np.float64)
    for vote in votes:
        total += vote
    total /= len(votes)
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
