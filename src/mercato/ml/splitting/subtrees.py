"""Split a decision tree into a top part that routes rows and subtrees that answer for them.

The top part holds the tree's first levels, expanded breadth first (shallowest nodes, left to
right) until ``parts`` nodes hang below it; it sends each row to the subtree rooted at the
node the row reaches. Each subtree predicts for the rows sent to it, so combining the answers
gives exactly the tree's ``predict``. A leaf reached by the top part is a subtree of one node.

Rows are compared as scikit-learn compares them: cast to float32, then to float64, against
float64 thresholds.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from mercato.errors import InputError
from mercato.ml.splitting.components import Component, SplitModel, check_parts, numeric_classes

LEAF = -1
"""scikit-learn's child index of a leaf."""


def split_tree(tree: Any, parts: int) -> SplitModel:
    """Split a fitted ``DecisionTreeClassifier`` into a top part and ``parts`` subtrees."""
    structure = tree.tree_
    if structure.n_outputs != 1:
        raise InputError("only single-output decision trees split")
    left = np.asarray(structure.children_left, dtype=np.int64)
    right = np.asarray(structure.children_right, dtype=np.int64)
    check_parts(parts, int(np.sum(left == LEAF)), "leaves")
    frontier = _frontier(left, right, parts)
    classes = numeric_classes(tree.classes_)
    labels = np.argmax(structure.value[:, 0, :], axis=1)
    feature = np.asarray(structure.feature, dtype=np.int64)
    threshold = np.asarray(structure.threshold, dtype=np.float64)
    top = _top(frontier, left, right, feature, threshold)
    subtrees = [
        _subtree(index + 1, root, left, right, feature, threshold, labels, classes)
        for index, root in enumerate(frontier)
    ]
    return SplitModel(technique="subtrees", flow="route", components=(top, *subtrees))


def run_tree_top(component: Component, inputs: NDArray[Any]) -> NDArray[np.int64]:
    """Return, for each row, the position of the subtree it is routed to."""
    arrays = component.arrays
    nodes = leaf_nodes(
        arrays["left"], arrays["right"], arrays["feature"], arrays["threshold"], inputs
    )
    return np.asarray(arrays["route"][nodes], dtype=np.int64)


def run_subtree(component: Component, inputs: NDArray[Any]) -> NDArray[Any]:
    """Return the subtree's labels for the rows routed to it."""
    arrays = component.arrays
    nodes = leaf_nodes(
        arrays["left"], arrays["right"], arrays["feature"], arrays["threshold"], inputs
    )
    return np.asarray(arrays["classes"][arrays["label"][nodes]])


def leaf_nodes(
    left: NDArray[Any],
    right: NDArray[Any],
    feature: NDArray[Any],
    threshold: NDArray[Any],
    inputs: NDArray[Any],
) -> NDArray[np.int64]:
    """Return the node each row ends in, walking from node 0 as scikit-learn does."""
    rows = np.asarray(inputs, dtype=np.float32).astype(np.float64)
    if rows.ndim != 2:
        raise InputError(f"rows must be a 2-D array, not {rows.ndim}-D")
    _check_tree(left, right, feature, rows.shape[1])
    nodes = np.zeros(len(rows), dtype=np.int64)
    active = np.flatnonzero(left[nodes] != LEAF)
    while active.size:
        at = nodes[active]
        goes_left = rows[active, feature[at]] <= threshold[at]
        nodes[active] = np.where(goes_left, left[at], right[at])
        active = active[left[nodes[active]] != LEAF]
    return nodes


def _check_tree(
    left: NDArray[Any], right: NDArray[Any], feature: NDArray[Any], columns: int
) -> None:
    """Refuse a tree that could loop or read past the rows: children come after parents."""
    nodes = np.arange(len(left))
    inner = left != LEAF
    if len(left) == 0 or not (len(right) == len(feature) == len(left)):
        raise InputError("a tree's node arrays are empty or of different lengths")
    children_ok = (
        (right[inner] > nodes[inner]).all()
        and (left[inner] > nodes[inner]).all()
        and (np.maximum(left, right) < len(left)).all()
        and (right[~inner] == LEAF).all()
    )
    if not children_ok:
        raise InputError("a tree's child indices do not each point forward to a node")
    if inner.any() and not ((feature[inner] >= 0) & (feature[inner] < columns)).all():
        raise InputError(f"a tree tests a feature outside the rows' {columns} columns")


def _frontier(left: NDArray[np.int64], right: NDArray[np.int64], parts: int) -> list[int]:
    """Expand nodes breadth first from the root until ``parts`` nodes hang below the top."""
    frontier = [0]
    while len(frontier) < parts:
        position = next(i for i, node in enumerate(frontier) if left[node] != LEAF)
        node = frontier[position]
        frontier[position : position + 1] = []
        frontier.extend([int(left[node]), int(right[node])])
    return frontier


def _top(
    frontier: list[int],
    left: NDArray[np.int64],
    right: NDArray[np.int64],
    feature: NDArray[np.int64],
    threshold: NDArray[np.float64],
) -> Component:
    """The routing nodes above the frontier, renumbered; a frontier node becomes a leaf."""
    kept, order = _reachable(0, left, right, stop=set(frontier))
    route = np.full(len(order), -1, dtype=np.int64)
    for position, node in enumerate(frontier):
        route[kept[node]] = position
    arrays = _renumbered(order, kept, left, right, feature, threshold, stop=set(frontier))
    return Component(index=0, kind="tree-top", arrays={**arrays, "route": route})


def _subtree(
    index: int,
    root: int,
    left: NDArray[np.int64],
    right: NDArray[np.int64],
    feature: NDArray[np.int64],
    threshold: NDArray[np.float64],
    labels: NDArray[Any],
    classes: NDArray[Any],
) -> Component:
    kept, order = _reachable(root, left, right, stop=set())
    arrays = _renumbered(order, kept, left, right, feature, threshold, stop=set())
    label = np.asarray(labels[order], dtype=np.int64)
    return Component(
        index=index, kind="subtree", arrays={**arrays, "label": label, "classes": classes}
    )


def _reachable(
    root: int, left: NDArray[np.int64], right: NDArray[np.int64], stop: set[int]
) -> tuple[dict[int, int], list[int]]:
    """Nodes under ``root`` in depth-first order, not descending below ``stop`` nodes."""
    order: list[int] = []
    pending = [root]
    while pending:
        node = pending.pop()
        order.append(node)
        if left[node] != LEAF and node not in stop:
            pending.extend([int(right[node]), int(left[node])])
    return {node: position for position, node in enumerate(order)}, order


def _renumbered(
    order: list[int],
    kept: dict[int, int],
    left: NDArray[np.int64],
    right: NDArray[np.int64],
    feature: NDArray[np.int64],
    threshold: NDArray[np.float64],
    stop: set[int],
) -> dict[str, NDArray[Any]]:
    def child(children: NDArray[np.int64], node: int) -> int:
        return LEAF if children[node] == LEAF or node in stop else kept[int(children[node])]

    return {
        "left": np.array([child(left, node) for node in order], dtype=np.int64),
        "right": np.array([child(right, node) for node in order], dtype=np.int64),
        "feature": np.asarray(feature[order], dtype=np.int64),
        "threshold": np.asarray(threshold[order], dtype=np.float64),
    }
