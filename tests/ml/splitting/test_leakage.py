"""What a vendor, or a coalition of vendors, predicts with the components it holds."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

from mercato.errors import InputError
from mercato.ml.splitting import Component, SplitModel, split
from mercato.ml.splitting.leakage import Protection, best_guess, protection

TRAIN = 900
"""The conftest models learnt from the first 900 digits; the rest are test rows."""
PARTS = {"mlp": 3, "forest": 3, "tree": 4}

Data = tuple[NDArray[Any], NDArray[Any], NDArray[Any], NDArray[Any]]
Measured = tuple[SplitModel, Protection]


@pytest.fixture(scope="session")
def data(digits: tuple[NDArray[Any], NDArray[Any]]) -> Data:
    inputs, labels = digits
    return inputs[:TRAIN], labels[:TRAIN], inputs[TRAIN:], labels[TRAIN:]


@pytest.fixture(scope="session")
def fitted(mlp: Any, forest: Any, tree: Any) -> dict[str, Any]:
    return {"mlp": mlp, "forest": forest, "tree": tree}


@pytest.fixture(scope="session")
def measure(fitted: dict[str, Any], data: Data) -> Callable[[str], Measured]:
    """Split a conftest model and measure it, once per session and model."""
    done: dict[str, Measured] = {}

    def measured(name: str) -> Measured:
        if name not in done:
            model = split(fitted[name], PARTS[name])
            done[name] = (model, protection(model, *data))
        return done[name]

    return measured


@pytest.mark.parametrize("name", sorted(PARTS))
def test_the_whole_model_and_every_attacker_get_an_accuracy(
    measure: Callable[[str], Measured], data: Data, name: str
) -> None:
    # prepare
    _, _, X_test, y_test = data

    # act
    model, result = measure(name)

    # assert
    rows = result.rows()
    assert result.accuracy_whole == float(np.mean(model.predict(X_test) == y_test))
    assert len(result.accuracy_vendor) == len(result.strategy_vendor) == len(model.components)
    assert result.known_rows == round(0.05 * TRAIN)
    assert 0 <= result.coalition_missing < len(model.components)
    assert len(rows) == len(model.components) + 3
    assert all(0.0 <= accuracy <= 1.0 and strategy for _, accuracy, strategy in rows)
    assert result.accuracy_best_vendor == max(result.accuracy_vendor)


def test_a_coalition_of_identical_groups_does_at_least_as_well_as_one(
    forest: Any, data: Data
) -> None:
    # prepare
    first, *_, combiner = split(forest, 3).components
    copies = tuple(dataclasses.replace(first, index=index) for index in range(3))
    model = SplitModel("ensemble", "combine", (*copies, dataclasses.replace(combiner, index=3)))

    # act
    result = protection(model, *data)

    # assert
    assert result.accuracy_vendor[0] == result.accuracy_vendor[1] == result.accuracy_vendor[2]
    assert result.accuracy_coalition >= result.accuracy_best_vendor


def test_the_combiner_alone_guesses_as_the_known_rows_do(forest: Any, data: Data) -> None:
    # prepare
    model = split(forest, 3)

    # act
    result = protection(model, *data)

    # assert
    assert result.accuracy_vendor[-1] == result.accuracy_known_only


@pytest.mark.parametrize("name", sorted(PARTS))
def test_a_vendor_never_reads_the_other_components(
    measure: Callable[[str], Measured],
    fitted: dict[str, Any],
    data: Data,
    name: str,
) -> None:
    # prepare
    model, base = measure(name)
    decoys = _decoys(model, fitted[name], data)
    others = [_keep_only(model, decoys, index) for index in range(len(decoys))]

    # act
    guesses = [best_guess(other, {index}, *data) for index, other in enumerate(others)]

    # assert
    X_test = data[2]
    assert all(not np.array_equal(o.predict(X_test), model.predict(X_test)) for o in others)
    assert guesses == list(zip(base.accuracy_vendor, base.strategy_vendor, strict=True))


@pytest.mark.parametrize("name", ["forest", "tree"])
def test_the_protection_entries_are_the_best_guesses_of_their_holders(
    measure: Callable[[str], Measured], data: Data, name: str
) -> None:
    # prepare
    model, result = measure(name)
    everything = set(range(len(model.components)))

    # act
    vendors = [best_guess(model, {index}, *data) for index in sorted(everything)]
    coalition = best_guess(model, everything - {result.coalition_missing}, *data)
    nobody = best_guess(model, set(), *data)

    # assert
    assert vendors == list(zip(result.accuracy_vendor, result.strategy_vendor, strict=True))
    assert coalition == (result.accuracy_coalition, result.strategy_coalition)
    assert nobody[0] == result.accuracy_known_only


def test_one_component_is_the_whole_model_and_no_coalition_is_left(mlp: Any, data: Data) -> None:
    # prepare
    model = split(mlp, 1)

    # act
    result = protection(model, *data, known=0.02)

    # assert
    assert result.accuracy_vendor == (result.accuracy_whole,)
    assert result.accuracy_coalition == result.accuracy_known_only
    assert result.known_rows == 18


def test_the_same_seed_gives_the_same_measures(tree: Any, data: Data) -> None:
    # prepare
    model = split(tree, 3)

    # act
    first, second = (protection(model, *data, known=0.1, seed=7) for _ in range(2))

    # assert
    assert first == second


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"known": 0}, "known must be a fraction"),
        ({"known": 1.5}, "known must be a fraction"),
        ({"known": True}, "known must be a fraction"),
        ({"seed": -1}, "seed must be an integer"),
        ({"X_train": np.zeros(TRAIN)}, "training rows must be a non-empty 2-D array"),
        ({"y_train": np.zeros(3)}, "need as many labels"),
        ({"X_test": np.zeros((897, 3))}, "columns"),
        ({"X_test": np.full((897, 64), np.nan)}, "NaN"),
        ({"X_train": [["a"] * 64] * TRAIN}, "must be numbers"),
        ({"model": "a model"}, "measures a SplitModel"),
    ],
)
def test_bad_inputs_get_one_line(
    tree: Any, data: Data, change: dict[str, Any], message: str
) -> None:
    # prepare
    X_train, y_train, X_test, y_test = data
    arguments: dict[str, Any] = {
        "model": split(tree, 3),
        "X_train": X_train,
        "y_train": y_train,
        "X_test": X_test,
        "y_test": y_test,
        **change,
    }

    # act
    with pytest.raises(InputError) as raised:
        protection(**arguments)

    # assert
    assert message in str(raised.value)
    assert "\n" not in str(raised.value)


@pytest.mark.parametrize("held", [{4}, {-1}, {"0"}])
def test_holding_a_component_the_model_lacks_is_refused(
    tree: Any, data: Data, held: set[Any]
) -> None:
    # prepare
    model = split(tree, 3)

    # act
    with pytest.raises(InputError) as raised:
        best_guess(model, held, *data)

    # assert
    assert "held must name components 0..3" in str(raised.value)


def test_a_model_that_predicts_outputs_not_labels_is_refused(mlp: Any, data: Data) -> None:
    # prepare
    from mercato.ml.splitting.layers import split_mlp

    model = split_mlp(mlp, 2, output="logits")

    # act
    with pytest.raises(InputError) as raised:
        protection(model, *data)

    # assert
    assert "one label per row" in str(raised.value)


def _decoys(model: SplitModel, fitted: Any, data: Data) -> tuple[Component, ...]:
    """Stand-ins for the model's components that still run: zero arrays of the same shapes,
    or (trees, which zeros would not let run) another model's, its class labels zeroed."""
    if model.flow == "chain":
        return tuple(_zeroed(part, set(part.arrays)) for part in model.components)
    from sklearn.base import clone

    X_train, y_train, _, _ = data
    shuffled = np.random.default_rng(1).permutation(y_train)
    other = split(clone(fitted).fit(X_train, shuffled), len(model.components) - 1)
    return tuple(_zeroed(part, {"classes"} & set(part.arrays)) for part in other.components)


def _zeroed(part: Component, names: set[str]) -> Component:
    arrays = {
        key: np.zeros_like(value) if key in names else value for key, value in part.arrays.items()
    }
    return dataclasses.replace(part, arrays=arrays)


def _keep_only(model: SplitModel, decoys: tuple[Component, ...], index: int) -> SplitModel:
    parts = tuple(
        part if position == index else decoys[position]
        for position, part in enumerate(model.components)
    )
    return dataclasses.replace(model, components=parts)
