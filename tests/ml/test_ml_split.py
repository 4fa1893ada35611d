"""The skewed, replicated split of P2: invariants, exactness of "impossible", determinism."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mercato.errors import InputError
from mercato.ml import Dataset, load_dataset
from mercato.ml.split import check_split, replicate, skewed_split, subset_bytes

ONTOLOGY_CLASS = "mc:HandwrittenDigitImages"
FRACTIONS = (1 / 3, 0.4, 0.5, 2 / 3, 1.0)


def labelled(counts: list[int], seed: int = 0) -> Dataset:
    """A dataset with ``counts[k]`` examples of class k, rows in a seeded random order."""
    y = np.repeat(np.arange(len(counts)), counts)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(y))
    X = rng.normal(size=(len(y), 3)).astype(np.float32)
    return Dataset(name="toy", ontology_class=ONTOLOGY_CLASS, X=X, y=y[order])


def compositions(total: int, parts: int) -> Iterator[tuple[int, ...]]:
    """Every way to write ``total`` as an ordered sum of ``parts`` non-negative integers."""
    for cuts in itertools.combinations_with_replacement(range(total + 1), parts - 1):
        bounds = (0, *cuts, total)
        yield tuple(bounds[i + 1] - bounds[i] for i in range(parts))


def brute_force_feasible(counts: list[int], subsets: int, fraction: float, missing: int) -> bool:
    """Whether any allocation of class counts to subsets meets the rules (exhaustive)."""
    share = Fraction(fraction).limit_denominator(1000)
    held_max = len(counts) - missing
    for combo in itertools.product(*(compositions(c, subsets) for c in counts)):
        allocation = np.array(combo).T  # subsets x classes
        sizes = allocation.sum(axis=1)
        if (sizes == 0).any() or ((allocation > 0).sum(axis=1) > held_max).any():
            continue
        if (allocation * share.denominator <= share.numerator * sizes[:, None]).all():
            return True
    return False


@settings(max_examples=150, deadline=None)
@given(
    counts=st.lists(st.integers(1, 4), min_size=2, max_size=4),
    subsets=st.integers(1, 3),
    fraction=st.sampled_from(FRACTIONS),
    missing=st.integers(0, 2),
    seed=st.integers(0, 2**32 - 1),
)
def test_split_exists_exactly_when_some_allocation_meets_the_rules(
    counts: list[int], subsets: int, fraction: float, missing: int, seed: int
) -> None:
    dataset = labelled(counts, seed)
    expected = brute_force_feasible(counts, subsets, fraction, missing)

    try:
        parts = skewed_split(dataset, subsets, seed, fraction, missing)
    except InputError:
        assert not expected
        return

    assert expected
    assert len(parts) == subsets
    assert check_split(dataset, parts, fraction, missing) == []


@settings(max_examples=40, deadline=None)
@given(
    subsets=st.integers(2, 12),
    fraction=st.sampled_from((0.3, 0.5, 0.75)),
    missing=st.integers(1, 4),
    seed=st.integers(0, 2**32 - 1),
)
def test_digits_split_keeps_every_invariant(
    subsets: int, fraction: float, missing: int, seed: int
) -> None:
    digits = load_dataset("digits")

    parts = skewed_split(digits, subsets, seed, fraction, missing)

    rows = np.concatenate([p.X for p in parts])
    labels = np.concatenate([p.y for p in parts])
    assert len(labels) == len(digits.y)  # every example once ...
    order = np.lexsort(np.column_stack([rows, labels]).T)
    expected = np.lexsort(np.column_stack([digits.X, digits.y]).T)
    assert np.array_equal(rows[order], digits.X[expected])  # ... and only the dataset's
    for part in parts:
        assert len(part.classes) <= 10 - missing  # no subset holds every class
        assert np.bincount(part.y).max() <= fraction * len(part.y)  # none dominated
    assert check_split(digits, parts, fraction, missing) == []


@pytest.mark.parametrize(
    ("counts", "subsets", "fraction", "missing", "message"),
    [
        ([5, 5], 2, 0.5, 1, r"holds at most 1, but keeping every class at or under 1/2"),
        ([3, 3, 3], 1, 0.5, 1, r"1 subsets of at most 2 classes each cannot hold all 3"),
        ([6, 1, 1], 2, 0.5, 1, r"largest class is 6 of 8 examples, above 1/2"),
        (
            [1, 1, 1],
            2,
            0.5,
            1,
            r"no split of class counts \{0: 1, 1: 1, 2: 1\} into 2 subsets that keeps",
        ),
        ([2, 2], 2, 0.5, 2, r"cannot miss 2 of them and still hold one"),
        ([2, 2], 5, 0.5, 0, r"cannot cut 4 examples into 5 non-empty subsets"),
        ([2, 2], 2, 0.0, 0, r"max_class_fraction must lie in \(0, 1\]"),
        ([2, 2], 0, 0.5, 0, r"subsets must be a positive integer"),
        ([2, 2], 2, 0.5, -1, r"min_missing_classes must be a non-negative integer"),
    ],
)
def test_impossible_configurations_raise_and_say_why(
    counts: list[int], subsets: int, fraction: float, missing: int, message: str
) -> None:
    dataset = labelled(counts)

    with pytest.raises(InputError, match=message):
        skewed_split(dataset, subsets, 1, fraction, missing)


def test_a_split_the_search_cannot_find_says_so_and_what_to_loosen() -> None:
    digits = load_dataset("digits")  # 5 subsets of 2 classes at exactly 1/2 each: pairs of
    # equal class counts, which digits does not have

    with pytest.raises(InputError, match=r"could not find a split .* exact search covers"):
        skewed_split(digits, 5, seed=0, max_class_fraction=0.5, min_missing_classes=8)


def test_two_class_dataset_cannot_be_skewed_with_the_paper_defaults() -> None:
    with pytest.raises(InputError, match="raise max_class_fraction or lower min_missing_classes"):
        skewed_split(load_dataset("breast_cancer"), 4, seed=0)


def test_unbalanced_classes_fall_back_to_the_exact_solver() -> None:
    wine = load_dataset("wine")  # 59 / 71 / 48: even windows of 2 classes give a majority

    parts = skewed_split(wine, 3, seed=5)

    assert check_split(wine, parts) == []
    assert all(len(p.classes) == 2 and np.bincount(p.y).max() * 2 == len(p.y) for p in parts)


def test_check_split_names_each_broken_rule() -> None:
    dataset = labelled([4, 4, 4])
    whole = skewed_split(dataset, 1, 0, max_class_fraction=1.0, min_missing_classes=0)[0]
    lopsided = Dataset("bad", ONTOLOGY_CLASS, dataset.X[dataset.y == 0], dataset.y[dataset.y == 0])

    problems = check_split(dataset, [whole, lopsided])

    assert "subset 0: misses 0 class(es), fewer than 1" in problems
    assert any(p.startswith("subset 1: class 0 is 4 of 4 examples") for p in problems)
    assert problems[-1] == "the subsets do not hold every example of the dataset exactly once"


def test_same_seed_gives_the_same_bytes_and_another_seed_another_split() -> None:
    digits = load_dataset("digits")

    first = [subset_bytes(p) for p in skewed_split(digits, 4, seed=11)]
    again = [subset_bytes(p) for p in skewed_split(digits, 4, seed=11)]
    other = [subset_bytes(p) for p in skewed_split(digits, 4, seed=12)]

    assert first == again
    assert first != other


def test_replicas_are_byte_identical_and_read_back_to_the_subset() -> None:
    subset = skewed_split(load_dataset("iris"), 3, seed=2)[1]

    copies = replicate(subset, 3)

    assert len(copies) == 3 and len(set(copies)) == 1
    restored = Dataset.from_bytes(copies[0])
    assert np.array_equal(restored.X, subset.X) and np.array_equal(restored.y, subset.y)
    with pytest.raises(InputError, match="replicas must lie between 1 and"):
        replicate(subset, 0)
