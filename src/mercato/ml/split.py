"""P2's data distribution: a dataset cut into m skewed private subsets, each replicated n times.

The paper (Somy et al., II-B) asks for a *skewed* split: no subset holds every class, and no
subset holds a majority of one class. Mercato makes both rules explicit and checks them:

- every subset misses at least ``min_missing_classes`` of the dataset's classes, so it holds at
  most ``K - min_missing_classes`` of the ``K`` classes;
- in every subset, no class makes up more than ``max_class_fraction`` of its examples
  (``0.5`` allows an exact half, never more). The fraction is read as the nearest fraction with
  a denominator of at most :data:`FRACTION_DENOMINATOR_LIMIT` (``1/3`` for ``0.3333333``) and
  every comparison is exact integer arithmetic;
- every example lands in exactly one subset, and no subset is empty.

The rule for "impossible". :func:`skewed_split` raises InputError, naming the rule, when
a split provably cannot exist for a reason it can name: a two-class dataset cannot miss a class
and also avoid a majority (``K - min_missing_classes < ceil(1 / max_class_fraction)``); ``m``
subsets of at most ``h`` classes cannot cover more than ``m * h`` classes; a class above the
fraction in the whole dataset is above it in some subset. Otherwise it searches, in order:

1. even windows: subset ``j`` holds the ``K - min_missing_classes`` classes from offset
   ``j * K // m`` round the class circle, each class shared evenly among its holders;
2. the same windows with shares from a linear program that leaves the most room under the
   fraction, rounded by largest remainder (unbalanced classes, like wine's 59 / 71 / 48);
3. an exact integer program over the class counts (``m x K`` counts and held flags, HiGHS
   through SciPy, smallest largest subset), for at most :data:`EXACT_MAX_CELLS` cells and
   :data:`EXACT_NODE_LIMIT` branch-and-bound nodes.

Each candidate is checked; the first that passes is used. InputError "no split ... that keeps"
means the exact search proved that none exists; "could not find a split" means the search
gave up (large ``m x K`` with a fraction close to ``1 / held``): loosen the rules. Which
classes go together and which examples go where follow from ``seed``: the same dataset,
``m``, rules and seed give the same subsets, and so the same bytes.

Replicas are byte-identical copies of a subset's :meth:`Dataset.to_bytes`, which is
deterministic, so ``hash(subset || nonce)`` is well-defined for every replica.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from fractions import Fraction

import numpy as np
from numpy.typing import NDArray

from mercato.errors import InputError
from mercato.ml.datasets import Dataset
from mercato.ml.seed import check_seed
from mercato.ml.split_rules import DEFAULT_MAX_CLASS_FRACTION as DEFAULT_MAX_CLASS_FRACTION
from mercato.ml.split_rules import DEFAULT_MIN_MISSING_CLASSES as DEFAULT_MIN_MISSING_CLASSES

FRACTION_DENOMINATOR_LIMIT = 1000
MAX_SUBSETS = 1024
MAX_REPLICAS = 1024
EXACT_MAX_CELLS = 24  # the exact search (an integer program) runs up to m * K cells
EXACT_NODE_LIMIT = 2_000  # a deterministic bound on its branch-and-bound work
MILP_INFEASIBLE = 2  # scipy.optimize.milp's status for a proven infeasible problem
SUBSET_NAME = "{name}/subset-{index}-of-{count}"


def skewed_split(
    dataset: Dataset,
    subsets: int,
    seed: int,
    max_class_fraction: float = DEFAULT_MAX_CLASS_FRACTION,
    min_missing_classes: int = DEFAULT_MIN_MISSING_CLASSES,
) -> list[Dataset]:
    """Cut ``dataset`` into ``subsets`` skewed subsets (see the module docstring for the rules).

    Raises InputError naming the rule that makes the split impossible, or saying that no split
    exists or that none was found.
    """
    seed = check_seed(seed)
    classes, counts = np.unique(dataset.y, return_counts=True)
    fraction = _check_rules(dataset, subsets, max_class_fraction, min_missing_classes)
    _check_feasible(dataset.name, counts, subsets, fraction, min_missing_classes)
    rng = np.random.default_rng(seed)
    # Solving a relabelled problem is how the seed picks which classes travel together.
    class_order = rng.permutation(len(classes))
    ordered = counts[class_order]
    allocation = _allocate(ordered, subsets, fraction, min_missing_classes)
    if isinstance(allocation, str):
        raise InputError(
            f"dataset {dataset.name!r}: {allocation} split of class counts "
            f"{_counts_text(classes, counts)} into {subsets} subsets that keeps every class at or "
            f"under {_fraction_text(fraction)} of its subset with at least "
            f"{min_missing_classes} class(es) missing from each"
            + (
                ""
                if allocation == "no"
                else f" (the exact search covers at most {EXACT_MAX_CELLS} subset x class "
                f"cells and {EXACT_NODE_LIMIT} branch-and-bound nodes)"
            )
            + ". Raise max_class_fraction, lower min_missing_classes or use fewer subsets."
        )
    members: list[list[NDArray[np.int64]]] = [[] for _ in range(subsets)]
    for column, class_index in enumerate(class_order):
        indices = rng.permutation(np.flatnonzero(dataset.y == classes[class_index]))
        cuts = np.cumsum(allocation[:, column])[:-1]
        for subset, part in enumerate(np.split(indices, cuts)):
            members[subset].append(part)
    result = [
        _subset(dataset, np.sort(np.concatenate(parts)), index, subsets)
        for index, parts in enumerate(members)
    ]
    problems = check_split(dataset, result, max_class_fraction, min_missing_classes)
    if problems:  # the solver's answer is checked like anyone else's
        raise InputError(f"dataset {dataset.name!r}: split failed its own check: {problems[0]}")
    return result


def check_split(
    dataset: Dataset,
    subsets: Sequence[Dataset],
    max_class_fraction: float = DEFAULT_MAX_CLASS_FRACTION,
    min_missing_classes: int = DEFAULT_MIN_MISSING_CLASSES,
) -> list[str]:
    """Every way ``subsets`` break the skewed-split rules for ``dataset``; empty when none.

    "Exactly one subset" is checked as multiset equality of ``(features, label)`` rows, so a
    dataset that holds the same example twice must have it twice across the subsets.
    """
    fraction = _fraction(max_class_fraction)
    problems: list[str] = []
    all_classes = set(dataset.classes.tolist())
    for index, subset in enumerate(subsets):
        if subset.X.shape[1] != dataset.X.shape[1]:
            problems.append(
                f"subset {index}: {subset.X.shape[1]} features, not {dataset.X.shape[1]}"
            )
            continue
        labels, counts = np.unique(subset.y, return_counts=True)
        missing = len(all_classes - set(labels.tolist()))
        if missing < min_missing_classes:
            problems.append(
                f"subset {index}: misses {missing} class(es), fewer than {min_missing_classes}"
            )
        extra = set(labels.tolist()) - all_classes
        if extra:
            problems.append(f"subset {index}: holds labels {sorted(extra)} not in the dataset")
        size = len(subset.y)
        for label, count in zip(labels.tolist(), counts.tolist(), strict=True):
            if not _within(count, size, fraction):
                problems.append(
                    f"subset {index}: class {label} is {count} of {size} examples, "
                    f"above {_fraction_text(fraction)}"
                )
    if Counter(_rows(dataset)) != Counter(row for subset in subsets for row in _rows(subset)):
        problems.append("the subsets do not hold every example of the dataset exactly once")
    return problems


def subset_bytes(subset: Dataset) -> bytes:
    """The bytes a data owner sends for ``subset``; equal subsets give equal bytes."""
    return subset.to_bytes()


def replicate(subset: Dataset, replicas: int) -> list[bytes]:
    """``replicas`` byte-identical copies of ``subset``, one per compute provider."""
    if isinstance(replicas, bool) or not isinstance(replicas, int):
        raise InputError(f"replicas must be an integer, got {replicas!r}")
    if not 1 <= replicas <= MAX_REPLICAS:
        raise InputError(f"replicas must lie between 1 and {MAX_REPLICAS}, got {replicas}")
    data = subset_bytes(subset)
    return [data] * replicas


def _check_rules(
    dataset: Dataset, subsets: int, max_class_fraction: float, min_missing_classes: int
) -> Fraction:
    if isinstance(subsets, bool) or not isinstance(subsets, int) or subsets < 1:
        raise InputError(f"subsets must be a positive integer, got {subsets!r}")
    if subsets > min(MAX_SUBSETS, len(dataset.y)):
        raise InputError(
            f"dataset {dataset.name!r}: cannot cut {len(dataset.y)} examples into {subsets} "
            f"non-empty subsets (at most {min(MAX_SUBSETS, len(dataset.y))})"
        )
    if (
        isinstance(min_missing_classes, bool)
        or not isinstance(min_missing_classes, int)
        or min_missing_classes < 0
    ):
        raise InputError(
            f"min_missing_classes must be a non-negative integer, got {min_missing_classes!r}"
        )
    return _fraction(max_class_fraction)


def _check_feasible(
    name: str, counts: NDArray[np.int64], subsets: int, fraction: Fraction, missing: int
) -> None:
    n_classes, total = len(counts), int(counts.sum())
    held = n_classes - missing
    if held < 1:
        raise InputError(
            f"dataset {name!r} has {n_classes} classes: a subset cannot miss "
            f"{missing} of them and still hold one; lower min_missing_classes"
        )
    needed = math.ceil(1 / fraction)
    if held < needed:
        raise InputError(
            f"dataset {name!r} has {n_classes} classes: a subset that misses {missing} holds at "
            f"most {held}, but keeping every class at or under {_fraction_text(fraction)} "
            f"needs at least {needed}; raise max_class_fraction or lower min_missing_classes"
        )
    if subsets * held < n_classes:
        raise InputError(
            f"dataset {name!r}: {subsets} subsets of at most {held} classes each cannot hold "
            f"all {n_classes} classes; use more subsets or lower min_missing_classes"
        )
    largest = int(counts.max())
    if not _within(largest, total, fraction):
        raise InputError(
            f"dataset {name!r}: its largest class is {largest} of {total} examples, above "
            f"{_fraction_text(fraction)}, so some subset would be above it too; "
            "raise max_class_fraction"
        )


def _allocate(
    counts: NDArray[np.int64], subsets: int, fraction: Fraction, missing: int
) -> NDArray[np.int64] | str:
    """Examples per (subset, class), or why none was found ("no" or "could not find a")."""
    holds = _windows(len(counts), subsets, len(counts) - missing)
    for attempt in (_even_shares(counts, holds), _balanced_shares(counts, holds, fraction)):
        if attempt is not None and _allocation_ok(attempt, counts, fraction):
            return attempt
    if subsets * len(counts) > EXACT_MAX_CELLS:
        return "could not find a"
    return _solve(counts, subsets, fraction, missing)


def _windows(n_classes: int, subsets: int, held: int) -> NDArray[np.bool_]:
    """Which classes each subset holds: ``held`` classes from ``j * K // m`` round the circle."""
    holds = np.zeros((subsets, n_classes), dtype=bool)
    for j in range(subsets):
        start = j * n_classes // subsets
        holds[j, [(start + step) % n_classes for step in range(held)]] = True
    return holds


def _even_shares(counts: NDArray[np.int64], holds: NDArray[np.bool_]) -> NDArray[np.int64]:
    """Every class shared evenly among the subsets that hold it."""
    allocation = np.zeros(holds.shape, dtype=np.int64)
    for c in range(len(counts)):
        holders = np.flatnonzero(holds[:, c])
        if len(holders):  # always, once _check_feasible has passed
            shares = np.array_split(np.arange(counts[c]), len(holders))
            allocation[holders, c] = [len(share) for share in shares]
    return allocation


def _balanced_shares(
    counts: NDArray[np.int64], holds: NDArray[np.bool_], fraction: Fraction
) -> NDArray[np.int64] | None:
    """Shares that leave the most room under the fraction (a linear program), rounded.

    Maximises ``mu`` subject to ``a[j, k] + mu <= fraction * size[j]`` for held pairs, every
    class fully placed and no subset empty; then rounds each class's shares to integers by
    largest remainder. The caller checks the rounded result.
    """
    from scipy.optimize import linprog

    m, k = holds.shape
    cells = m * k
    fraction_value = float(fraction)
    placed = np.zeros((k, cells + 1))
    for c in range(k):
        placed[c, c:cells:k] = 1.0
    room, non_empty = [], []
    for j in range(m):
        size = np.zeros(cells + 1)
        size[j * k : (j + 1) * k] = 1.0
        non_empty.append(-size)
        for held in np.flatnonzero(holds[j]):
            row = -fraction_value * size
            row[j * k + int(held)] += 1.0
            row[cells] = 1.0
            room.append(row)
    bounds = [(0.0, float(counts[c]) if holds[j, c] else 0.0) for j in range(m) for c in range(k)]
    result = linprog(
        c=np.concatenate([np.zeros(cells), [-1.0]]),
        A_ub=np.array(room + non_empty),
        b_ub=np.concatenate([np.zeros(len(room)), -np.ones(m)]),
        A_eq=placed,
        b_eq=counts.astype(float),
        bounds=[*bounds, (None, None)],
        method="highs",
    )
    if result.x is None:
        return None
    shares = np.clip(result.x[:cells].reshape(m, k), 0.0, None)
    allocation: NDArray[np.int64] = np.floor(shares).astype(np.int64)
    for c in range(k):
        short = int(counts[c] - allocation[:, c].sum())
        remainders = shares[:, c] - allocation[:, c]
        for j in sorted(range(m), key=lambda j: (-remainders[j], j))[:short]:
            allocation[j, c] += 1
    return allocation


def _allocation_ok(
    allocation: NDArray[np.int64], counts: NDArray[np.int64], fraction: Fraction
) -> bool:
    sizes = allocation.sum(axis=1)
    return bool(
        (sizes > 0).all()
        and (allocation.sum(axis=0) == counts).all()
        and (allocation * fraction.denominator <= fraction.numerator * sizes[:, None]).all()
    )


def _solve(
    counts: NDArray[np.int64], subsets: int, fraction: Fraction, missing: int
) -> NDArray[np.int64] | str:
    """Examples per (subset, class) meeting the rules, the largest subset small, or why not.

    Returns "no" when the solver proves that no split exists, and "could not find a" when
    it stops at :data:`EXACT_NODE_LIMIT` without an answer.

    Variables, in order: counts ``a[j, k]`` (integer), held flags ``h[j, k]`` (binary), and the
    largest subset size ``t``. Constraints: each class is fully placed; ``a <= count * h``;
    at most ``K - missing`` held classes per subset; ``den * a[j, k] <= num * size[j]``;
    ``1 <= size[j] <= t``.
    """
    from scipy.optimize import Bounds, LinearConstraint, milp
    from scipy.sparse import lil_matrix

    m, k = subsets, len(counts)
    cells = m * k
    n_vars = 2 * cells + 1
    t = 2 * cells

    def a(j: int, c: int) -> int:
        return j * k + c

    def h(j: int, c: int) -> int:
        return cells + j * k + c

    rows: list[tuple[dict[int, float], float, float]] = []
    for c in range(k):
        rows.append(({a(j, c): 1.0 for j in range(m)}, float(counts[c]), float(counts[c])))
    for j in range(m):
        for c in range(k):
            rows.append(({a(j, c): 1.0, h(j, c): -float(counts[c])}, -np.inf, 0.0))
            share = {a(j, o): -float(fraction.numerator) for o in range(k)}
            share[a(j, c)] += float(fraction.denominator)
            rows.append((share, -np.inf, 0.0))
        rows.append(({h(j, c): 1.0 for c in range(k)}, 0.0, float(k - missing)))
        size = {a(j, c): 1.0 for c in range(k)}
        rows.append((size, 1.0, np.inf))
        rows.append(({**size, t: -1.0}, -np.inf, 0.0))
    matrix = lil_matrix((len(rows), n_vars))
    lower, upper = np.empty(len(rows)), np.empty(len(rows))
    for r, (coefficients, low, high) in enumerate(rows):
        for column, value in coefficients.items():
            matrix[r, column] = value
        lower[r], upper[r] = low, high
    cost = np.zeros(n_vars)
    cost[t] = 1.0
    high_bounds = np.concatenate([np.tile(counts, m), np.ones(cells), [counts.sum()]])
    result = milp(
        cost,
        constraints=LinearConstraint(matrix.tocsr(), lower, upper),
        integrality=np.concatenate([np.ones(2 * cells), [0]]),
        bounds=Bounds(np.zeros(n_vars), high_bounds.astype(float)),
        options={"node_limit": EXACT_NODE_LIMIT},
    )
    if result.x is None:
        return "no" if result.status == MILP_INFEASIBLE else "could not find a"
    allocation: NDArray[np.int64] = np.rint(result.x[:cells]).astype(np.int64).reshape(m, k)
    return allocation


def _fraction(max_class_fraction: float) -> Fraction:
    if (
        isinstance(max_class_fraction, bool)
        or not isinstance(max_class_fraction, int | float)
        or not 0 < max_class_fraction <= 1
    ):
        raise InputError(f"max_class_fraction must lie in (0, 1], got {max_class_fraction!r}")
    fraction = Fraction(max_class_fraction).limit_denominator(FRACTION_DENOMINATOR_LIMIT)
    if fraction == 0:
        raise InputError(f"max_class_fraction {max_class_fraction!r} is too small")
    return fraction


def _within(count: int, size: int, fraction: Fraction) -> bool:
    return count * fraction.denominator <= fraction.numerator * size


def _fraction_text(fraction: Fraction) -> str:
    return f"{fraction.numerator}/{fraction.denominator} ({float(fraction):.4g})"


def _counts_text(classes: NDArray[np.int64], counts: NDArray[np.int64]) -> str:
    return "{" + ", ".join(f"{c}: {n}" for c, n in zip(classes, counts, strict=True)) + "}"


def _rows(dataset: Dataset) -> list[bytes]:
    return [
        x.tobytes() + int(label).to_bytes(8, "little", signed=True)
        for x, label in zip(dataset.X, dataset.y, strict=True)
    ]


def _subset(dataset: Dataset, indices: NDArray[np.int64], index: int, count: int) -> Dataset:
    return Dataset(
        name=SUBSET_NAME.format(name=dataset.name, index=index, count=count),
        ontology_class=dataset.ontology_class,
        X=dataset.X[indices],
        y=dataset.y[indices],
    )
