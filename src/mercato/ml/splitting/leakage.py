"""What a vendor, or a coalition of vendors, can predict with the components it holds.

:func:`protection` measures, on test rows, the accuracy of the whole split model beside the
best guess of an attacker who holds some of its components and a few labelled training rows
(``known``, a fraction of the training rows: model completion's assumption), and never the
other components' arrays. The attackers:

- **known rows only**: no component; a logistic regression and a 1-nearest-neighbour model
  trained on the known rows (the baseline each vendor's gain is read against);
- **each vendor** holding one component;
- **the largest coalition** short of all components: every component but one, trying each
  one missing and reporting the best (and which was missing). A coalition can do whatever
  one of its members can, so its guess is never below its members' own.

:func:`best_guess` asks the same of an attacker holding any set of components.

Each strategy is real training or real running of the held components, deterministic from
the seed; the best of an attacker's strategies is the one most accurate on the test rows,
which flatters the attacker (a real one must choose without the test labels).

By flow:

- ``chain`` (blocks of layers): the held blocks stay frozen and every run of missing blocks
  is replaced by a fresh one-hidden-layer network trained through them on the known rows
  (torch, Adam, full batch): a replacement front from the raw rows to a middle or last
  block's input width, a bridge over a missing middle block, a head after the last held
  block. When the attacker holds the first blocks, a logistic regression on their outputs is
  tried too (model completion).
- ``combine`` (groups of trees and a combiner): the held trees' probabilities averaged, with
  the combiner's labels if it is held, else columns matched to the known rows' labels
  (scikit-learn orders classes); and a logistic regression on those probabilities. The
  combiner alone holds only the class labels, so its guess is the known rows' model.
- ``combine`` with technique ``features`` (groups of a linear model's features): the held
  groups' partial scores added, their argmax (the combiner's labels if it is held, else
  columns matched to the known rows' labels); a logistic regression on those partial scores
  and the known rows' other features (model completion: the missing weights learnt around
  the held ones); and the known rows' model, which a holder can always fall back on.
- ``route`` (a tree's top part and subtrees): with the top, rows go to held subtrees, and a
  missing subtree's region gets the majority label of the known rows routed there (or the
  known rows' model); without it, each held subtree answers where a logistic regression
  learnt from the known rows trusts it (the known rows' majority label, or their model,
  elsewhere), or a logistic regression on the rows and the subtrees' labels decides.

What these numbers show and do not show: the accuracy these attacks reach on these rows with
this many labelled rows, a lower bound on what a holder can learn and no guarantee. A real
attacker may do better: UnSplit (Erdogan et al., 2022) inverts the inputs a vendor sees and
recovers the missing layers of a split network by optimisation; model completion (Fu et
al., 2022) fine-tunes a head on a bottom model with a few labelled rows, as here, and gains
with better training and more rows. What a vendor sees while serving is not measured and
adds to it: the activations passed to a middle block, every tree's vote at the combiner,
which rows reach a subtree. Read each vendor's accuracy against the known-rows baseline: the
gap is what holding the component is worth; where the baseline nears the whole model (an
easy task, many labelled rows), no split protects much. Each group of an ensemble is a
smaller ensemble, so its holder predicts nearly as the whole. Splits that limit the leak:
layers over trees, more and thinner blocks, the first block (completed with a head) and the
last (it holds the class labels) with vendors that do not collude, and no party holding all
components but one.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from mercato.errors import InputError
from mercato.ml.seed import check_seed
from mercato.ml.splitting.components import SplitModel

DEFAULT_KNOWN = 0.05
"""Fraction of the training rows the attacker holds with their labels."""
EPOCHS = 300
"""Full-batch passes when training stand-ins for missing blocks."""
LEARNING_RATE = 0.01
WEIGHT_DECAY = 1e-4
HIDDEN = 64
"""Width of the hidden layer of each stand-in for missing blocks."""
LOGISTIC_ITERATIONS = 2_000

Guess = tuple[str, NDArray[Any]]
"""A strategy's name and its labels for the test rows."""


@dataclass(frozen=True)
class Protection:
    """Test accuracy of the whole model beside what attackers holding parts of it reach."""

    technique: str
    accuracy_whole: float
    accuracy_known_only: float
    accuracy_vendor: tuple[float, ...]
    accuracy_coalition: float
    coalition_missing: int
    """Index of the component the reported coalition lacks."""
    known_rows: int
    strategy_known_only: str
    strategy_vendor: tuple[str, ...]
    strategy_coalition: str

    @property
    def accuracy_best_vendor(self) -> float:
        """The highest single vendor's accuracy."""
        return max(self.accuracy_vendor)

    def rows(self) -> list[tuple[str, float, str]]:
        """Every entry as ``(who, accuracy, strategy)``, whole model first."""
        vendors = [
            (f"vendor {index}", accuracy, strategy)
            for index, (accuracy, strategy) in enumerate(
                zip(self.accuracy_vendor, self.strategy_vendor, strict=True)
            )
        ]
        return [
            ("whole model", self.accuracy_whole, "every component"),
            ("known rows only", self.accuracy_known_only, self.strategy_known_only),
            *vendors,
            (
                f"all but {self.coalition_missing}",
                self.accuracy_coalition,
                self.strategy_coalition,
            ),
        ]


@dataclass(frozen=True)
class _Attack:
    """What every attacker is given: the known rows, and the test rows to label."""

    X_known: NDArray[Any]
    y_known: NDArray[Any]
    X_test: NDArray[Any]
    y_test: NDArray[Any]
    seed: int
    known_only: NDArray[Any]
    """The known-rows baseline's labels for the test rows, a fallback of other strategies."""
    known_only_accuracy: float
    known_only_strategy: str

    def accuracy(self, labels: NDArray[Any]) -> float:
        return float(np.mean(np.asarray(labels) == self.y_test))

    def best(self, guesses: Sequence[Guess]) -> tuple[float, str]:
        """The accuracy and name of the most accurate guess."""
        accuracy, name, _ = _best(guesses, self.y_test)
        return accuracy, name


def protection(
    model: SplitModel,
    X_train: NDArray[Any],
    y_train: NDArray[Any],
    X_test: NDArray[Any],
    y_test: NDArray[Any],
    *,
    known: float = DEFAULT_KNOWN,
    seed: int = 0,
) -> Protection:
    """Measure how well each vendor and the largest coalition predict, beside the whole model.

    The attackers get ``known`` of the training rows (drawn from ``seed``) with their labels.
    """
    X_train, y_train, X_test, y_test = _check(model, X_train, y_train, X_test, y_test, known, seed)
    with _one_thread():
        whole = model.predict(X_test)
        if whole.shape != y_test.shape:
            raise InputError(
                f"the model must predict one label per row, not outputs of shape {whole.shape}"
            )
        attack = _prepare(X_train, y_train, X_test, y_test, known, seed)
        guesses = GUESSES[model.flow]
        everything = frozenset(range(len(model.components)))
        vendors = [attack.best(guesses(model, frozenset({j}), attack)) for j in sorted(everything)]
        candidates = [
            (_coalition(model, everything - {missing}, dict(enumerate(vendors)), attack), missing)
            for missing in sorted(everything)
        ]
    coalition, missing = max(candidates, key=lambda candidate: candidate[0][0])
    return Protection(
        technique=model.technique,
        accuracy_whole=attack.accuracy(whole),
        accuracy_known_only=attack.known_only_accuracy,
        accuracy_vendor=tuple(accuracy for accuracy, _ in vendors),
        accuracy_coalition=coalition[0],
        coalition_missing=missing,
        known_rows=len(attack.y_known),
        strategy_known_only=attack.known_only_strategy,
        strategy_vendor=tuple(strategy for _, strategy in vendors),
        strategy_coalition=coalition[1],
    )


def best_guess(
    model: SplitModel,
    held: Collection[int],
    X_train: NDArray[Any],
    y_train: NDArray[Any],
    X_test: NDArray[Any],
    y_test: NDArray[Any],
    *,
    known: float = DEFAULT_KNOWN,
    seed: int = 0,
) -> tuple[float, str]:
    """Return the test accuracy and strategy of an attacker holding the components ``held``.

    The same attacker as in :func:`protection`, for any set of components (by index); an
    empty set is the known-rows baseline.
    """
    X_train, y_train, X_test, y_test = _check(model, X_train, y_train, X_test, y_test, known, seed)
    chosen = frozenset(held)
    if not all(isinstance(index, int) and 0 <= index < len(model.components) for index in chosen):
        raise InputError(f"held must name components 0..{len(model.components) - 1}, not {held}")
    with _one_thread():
        attack = _prepare(X_train, y_train, X_test, y_test, known, seed)
        guesses = GUESSES[model.flow]
        vendors = {j: attack.best(guesses(model, frozenset({j}), attack)) for j in chosen}
        return _coalition(model, chosen, vendors, attack)


def _coalition(
    model: SplitModel,
    held: frozenset[int],
    vendors: Mapping[int, tuple[float, str]],
    attack: _Attack,
) -> tuple[float, str]:
    """The best guess of the holders of ``held``: their joint strategies or one member's."""
    if not held:
        return attack.known_only_accuracy, f"no component: {attack.known_only_strategy}"
    if len(held) == 1:
        return vendors[next(iter(held))]
    joint = attack.best(GUESSES[model.flow](model, held, attack))
    members = [(vendors[j][0], f"as vendor {j}: {vendors[j][1]}") for j in sorted(held)]
    return max([joint, *members], key=lambda guess: guess[0])


def _check(
    model: SplitModel,
    X_train: Any,
    y_train: Any,
    X_test: Any,
    y_test: Any,
    known: float,
    seed: int,
) -> tuple[NDArray[np.float64], NDArray[Any], NDArray[np.float64], NDArray[Any]]:
    """The rows as arrays, after refusing anything malformed."""
    if not isinstance(model, SplitModel):
        raise InputError(f"protection measures a SplitModel, not a {type(model).__name__}")
    X_train, y_train = _rows(X_train, y_train, "training")
    X_test, y_test = _rows(X_test, y_test, "test")
    if X_train.shape[1] != X_test.shape[1]:
        raise InputError(
            f"training rows have {X_train.shape[1]} columns, test rows {X_test.shape[1]}"
        )
    if isinstance(known, bool) or not isinstance(known, int | float) or not 0 < known <= 1:
        raise InputError(f"known must be a fraction in (0, 1], not {known!r}")
    check_seed(seed)
    return X_train, y_train, X_test, y_test


def _prepare(
    X_train: NDArray[Any],
    y_train: NDArray[Any],
    X_test: NDArray[Any],
    y_test: NDArray[Any],
    known: float,
    seed: int,
) -> _Attack:
    """Draw the known rows from the seed and fit the known-rows baseline."""
    count = max(1, round(known * len(X_train)))
    picked = np.sort(np.random.default_rng(seed).permutation(len(X_train))[:count])
    X_known, y_known = X_train[picked], y_train[picked]
    baseline = _known_only_guesses(X_known, y_known, X_test, seed)
    accuracy, strategy, labels = _best(baseline, y_test)
    return _Attack(X_known, y_known, X_test, y_test, seed, labels, accuracy, strategy)


def _best(guesses: Sequence[Guess], y_test: NDArray[Any]) -> tuple[float, str, NDArray[Any]]:
    """The most accurate guess on the test rows (the first among equals)."""
    scored = [(float(np.mean(labels == y_test)), name, labels) for name, labels in guesses]
    top = max(accuracy for accuracy, _, _ in scored)
    return next(guess for guess in scored if guess[0] == top)


@contextmanager
def _one_thread() -> Iterator[None]:
    """Tiny matrices: BLAS threads only contend (and may reorder sums)."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        yield


def _known_only_guesses(
    X_known: NDArray[Any], y_known: NDArray[Any], X_test: NDArray[Any], seed: int
) -> list[Guess]:
    from sklearn.neighbors import KNeighborsClassifier

    nearest = KNeighborsClassifier(n_neighbors=1).fit(X_known, y_known)
    return [
        (
            f"logistic regression on {len(y_known)} known rows",
            _logistic(X_known, y_known, X_test, seed),
        ),
        (f"1-nearest neighbour of {len(y_known)} known rows", nearest.predict(X_test)),
    ]


# chain: blocks of layers ------------------------------------------------------------------


def _chain_guesses(model: SplitModel, held: frozenset[int], attack: _Attack) -> list[Guess]:
    blocks = model.components
    if len(held) == len(blocks):
        return [("holds every block: the whole model", model.predict(attack.X_test))]
    guesses = []
    prefix = 0
    while prefix in held:
        prefix += 1
    if prefix and not held - set(range(prefix)):
        known, test = attack.X_known, attack.X_test
        for block in blocks[:prefix]:
            known, test = block.run(known), block.run(test)
        guesses.append(
            (
                f"model completion: logistic regression on block {prefix - 1}'s outputs"
                f" ({len(attack.y_known)} known rows)",
                _logistic(known, attack.y_known, test, attack.seed),
            )
        )
    guesses.append(_stand_ins(model, held, attack))
    return guesses


def _stand_ins(model: SplitModel, held: frozenset[int], attack: _Attack) -> Guess:
    """Train a small network in place of each run of missing blocks, held blocks frozen."""
    import torch

    from mercato.ml.trainers.torch_mlp import _deterministic

    blocks = model.components
    last = len(blocks) - 1
    if last in held:
        labels = np.asarray(blocks[last].arrays["classes"])
    else:
        labels = np.unique(attack.y_known)
    position = {label: index for index, label in enumerate(labels.tolist())}
    keep = np.array([label in position for label in attack.y_known.tolist()])
    if not keep.any():
        return ("no known row has a label of the last block", attack.known_only)
    targets = np.array([position[label] for label in attack.y_known[keep].tolist()])
    X_known, X_test = attack.X_known[keep], attack.X_test
    if 0 not in held:  # a trained first stage sees standardised rows
        mean, spread = X_known.mean(axis=0), X_known.std(axis=0)
        spread[spread == 0] = 1.0
        X_known, X_test = (X_known - mean) / spread, (X_test - mean) / spread
    missing = [index for index in range(len(blocks)) if index not in held]
    with _deterministic(attack.seed):
        stages: list[Callable[[Any], Any]] = []
        trained: list[Any] = []
        width = X_known.shape[1]
        for index, block in enumerate(blocks):
            if index in held:
                stages.append(_frozen(block.arrays, block.settings))
                width = _width(block.arrays, block.settings, "out")
            elif index == last or index + 1 in held:  # the end of a run of missing blocks
                after = blocks[min(index + 1, last)]
                out = len(labels) if index == last else _width(after.arrays, after.settings, "in")
                net = torch.nn.Sequential(
                    torch.nn.Linear(width, HIDDEN), torch.nn.ReLU(), torch.nn.Linear(HIDDEN, out)
                )
                stages.append(net)
                trained.append(net)
                width = out

        def forward(rows: Any) -> Any:
            for stage in stages:
                rows = stage(rows)
            return rows

        inputs = torch.from_numpy(np.asarray(X_known, dtype=np.float32))
        wanted = torch.from_numpy(targets.astype(np.int64))
        parameters = [parameter for net in trained for parameter in net.parameters()]
        optimiser = torch.optim.Adam(parameters, lr=LEARNING_RATE, weight_decay=WEIGHT_DECAY)
        for _ in range(EPOCHS):
            optimiser.zero_grad()
            torch.nn.functional.cross_entropy(forward(inputs), wanted).backward()  # type: ignore[no-untyped-call]
            optimiser.step()
        with torch.no_grad():
            outputs = forward(torch.from_numpy(np.asarray(X_test, dtype=np.float32)))
            chosen = outputs.argmax(dim=1).numpy()
    return (
        f"stand-ins trained for {_blocks(missing)} around frozen {_blocks(sorted(held))}"
        f" ({len(targets)} known rows)",
        labels[chosen],
    )


def _blocks(indices: Sequence[int]) -> str:
    return ("blocks " if len(indices) > 1 else "block ") + ", ".join(map(str, indices))


def _frozen(arrays: Any, settings: Any) -> Callable[[Any], Any]:
    """A held block in torch, ending in logits (before the output activation) if final."""
    import torch

    activations = {
        "identity": lambda values: values,
        "relu": torch.relu,
        "tanh": torch.tanh,
        "logistic": torch.sigmoid,
    }
    layers = int(settings["layers"])
    weights = [
        (
            torch.from_numpy(np.asarray(arrays[f"{layer:04d}.weight"], dtype=np.float32)),
            torch.from_numpy(np.asarray(arrays[f"{layer:04d}.bias"], dtype=np.float32)),
        )
        for layer in range(layers)
    ]
    hidden = activations[settings["hidden"]]

    def run(rows: Any) -> Any:
        for layer, (weight, bias) in enumerate(weights):
            rows = rows @ weight + bias
            if layer < layers - 1 or not settings["final"]:
                rows = hidden(rows)
        if settings["final"] and rows.shape[1] == 1:  # one logistic output: two classes
            rows = torch.cat([torch.zeros_like(rows), rows], dim=1)
        return rows

    return run


def _width(arrays: Any, settings: Any, side: str) -> int:
    """A block's input width, or its output width (two for a single logistic output)."""
    if side == "in":
        return int(np.asarray(arrays["0000.weight"]).shape[0])
    width = int(np.asarray(arrays[f"{int(settings['layers']) - 1:04d}.weight"]).shape[1])
    return 2 if settings["final"] and width == 1 else width


# combine: groups of trees and a combiner --------------------------------------------------


def _combine_guesses(model: SplitModel, held: frozenset[int], attack: _Attack) -> list[Guess]:
    if model.technique == "features":
        return _feature_guesses(model, held, attack)
    combiner = len(model.components) - 1
    groups = sorted(held - {combiner})
    if not groups:
        return [("holds only the class labels: the known rows' model", attack.known_only)]
    known = np.concatenate([model.components[group].run(attack.X_known) for group in groups])
    test = np.concatenate([model.components[group].run(attack.X_test) for group in groups])
    trees = len(test)
    if combiner in held:
        vote = model.components[combiner].run(test)
        labelled = "the combiner's labels"
    else:
        columns = _column_labels(known.mean(axis=0), attack.y_known)
        vote = columns[np.argmax(test.mean(axis=0), axis=1)]
        labelled = "labels matched to the known rows"
    flat_known = known.transpose(1, 0, 2).reshape(len(attack.y_known), -1)
    flat_test = test.transpose(1, 0, 2).reshape(len(attack.y_test), -1)
    return [
        (f"vote of its {trees} trees, {labelled}", vote),
        (
            f"logistic regression on its {trees} trees' probabilities"
            f" ({len(attack.y_known)} known rows)",
            _logistic(flat_known, attack.y_known, flat_test, attack.seed),
        ),
    ]


def _feature_guesses(model: SplitModel, held: frozenset[int], attack: _Attack) -> list[Guess]:
    """Guesses of a holder of some groups of a linear model's features (and the combiner)."""
    combiner = len(model.components) - 1
    groups = sorted(held - {combiner})
    if not groups:
        return [("holds only the class labels: the known rows' model", attack.known_only)]
    known = sum(model.components[group].run(attack.X_known)[0] for group in groups)
    test = sum(model.components[group].run(attack.X_test)[0] for group in groups)
    if combiner in held:
        columns = np.asarray(model.components[combiner].arrays["classes"])
        labelled = "the combiner's labels"
    else:
        columns = _column_labels(known, attack.y_known)
        labelled = "labels matched to the known rows"
    features = np.concatenate([model.components[g].arrays["features"] for g in groups])
    others = np.setdiff1d(np.arange(attack.X_known.shape[1]), features)
    named = ("groups " if len(groups) > 1 else "group ") + ", ".join(map(str, groups))
    rows = len(attack.y_known)
    return [
        (f"argmax of the partial scores of {named}, {labelled}", columns[np.argmax(test, axis=1)]),
        (
            f"logistic regression on the partial scores of {named} and the"
            f" {len(others)} other features ({rows} known rows)",
            _logistic(
                np.hstack([known, attack.X_known[:, others]]),
                attack.y_known,
                np.hstack([test, attack.X_test[:, others]]),
                attack.seed,
            ),
        ),
        (f"the known rows' model: {attack.known_only_strategy}", attack.known_only),
    ]


def _column_labels(probabilities: NDArray[Any], y_known: NDArray[Any]) -> NDArray[Any]:
    """Which label each probability column stands for, from the known rows alone."""
    seen = np.unique(y_known)
    if len(seen) == probabilities.shape[1]:  # scikit-learn sorts its classes
        return seen
    scores = np.stack([probabilities[y_known == label].mean(axis=0) for label in seen])
    columns: NDArray[Any] = seen[np.argmax(scores, axis=0)]
    return columns


# route: a tree's top part and subtrees ----------------------------------------------------


def _route_guesses(model: SplitModel, held: frozenset[int], attack: _Attack) -> list[Guess]:
    subtrees = sorted(held - {0})
    if 0 in held:
        return _routed_guesses(model, subtrees, attack)
    answers_known = [model.components[part].run(attack.X_known) for part in subtrees]
    answers_test = [model.components[part].run(attack.X_test) for part in subtrees]
    trust = np.stack([_trust(attack, known == attack.y_known) for known in answers_known])
    chosen = np.argmax(trust, axis=0)
    trusted = np.stack(answers_test)[chosen, np.arange(len(attack.y_test))]
    believed = trust.max(axis=0) > 0.5
    labels, counts = np.unique(attack.y_known, return_counts=True)
    majority = np.where(believed, trusted, labels[np.argmax(counts)])
    modelled = np.where(believed, trusted, attack.known_only)
    values = np.unique(np.concatenate([*answers_known, *answers_test]))
    head_known = np.hstack([attack.X_known, *[_one_hot(a, values) for a in answers_known]])
    head_test = np.hstack([attack.X_test, *[_one_hot(a, values) for a in answers_test]])
    named = ("subtrees " if len(subtrees) > 1 else "subtree ") + ", ".join(map(str, subtrees))
    return [
        (
            f"{named} where a model of the known rows trusts it,"
            " the known rows' majority label elsewhere",
            majority,
        ),
        (
            f"{named} where a model of the known rows trusts it, the known rows' model elsewhere",
            modelled,
        ),
        (
            f"logistic regression on the rows and the labels of {named}",
            _logistic(head_known, attack.y_known, head_test, attack.seed),
        ),
    ]


def _routed_guesses(model: SplitModel, subtrees: list[int], attack: _Attack) -> list[Guess]:
    top = model.components[0]
    route_known, route_test = top.run(attack.X_known), top.run(attack.X_test)
    majority = np.empty(len(attack.y_test), dtype=attack.y_known.dtype)
    fallback = np.array(attack.known_only, dtype=attack.y_known.dtype)
    for route in np.unique(route_test):
        here = route_test == route
        if route + 1 in subtrees:
            answer = model.components[int(route) + 1].run(attack.X_test[here])
            majority[here] = answer
            fallback[here] = answer
            continue
        labels, counts = np.unique(attack.y_known[route_known == route], return_counts=True)
        majority[here] = labels[np.argmax(counts)] if len(labels) else attack.known_only[here]
    if not subtrees:  # the known rows' model on every route is the baseline, not the top's
        return [("top part routes, known rows' majority label per route", majority)]
    held = ("subtrees " if len(subtrees) > 1 else "subtree ") + ", ".join(map(str, subtrees))
    return [
        (f"top part and {held}; known rows' majority label on the other routes", majority),
        (f"top part and {held}; known rows' model on the other routes", fallback),
    ]


def _trust(attack: _Attack, right: NDArray[np.bool_]) -> NDArray[np.float64]:
    """Probability that an answer is right on each test row, learnt from the known rows."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    if right.all() or not right.any():
        return np.full(len(attack.y_test), float(right.mean()))
    scaler = StandardScaler().fit(attack.X_known)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        learnt = LogisticRegression(max_iter=LOGISTIC_ITERATIONS, random_state=attack.seed)
        learnt.fit(scaler.transform(attack.X_known), right)
    probabilities = learnt.predict_proba(scaler.transform(attack.X_test))
    return np.asarray(probabilities[:, 1], dtype=np.float64)


def _one_hot(values: NDArray[Any], known: NDArray[Any]) -> NDArray[np.float64]:
    matches: NDArray[np.bool_] = np.asarray(values)[:, np.newaxis] == known[np.newaxis, :]
    return matches.astype(np.float64)


GUESSES: dict[str, Callable[[SplitModel, frozenset[int], _Attack], list[Guess]]] = {
    "chain": _chain_guesses,
    "combine": _combine_guesses,
    "route": _route_guesses,
}
"""Each flow's strategies for an attacker holding a set of components (by index)."""


# shared -----------------------------------------------------------------------------------


def _logistic(
    features_known: NDArray[Any], y_known: NDArray[Any], features_test: NDArray[Any], seed: int
) -> NDArray[Any]:
    """Labels from a logistic regression on standardised features (one label: that label)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    labels = np.unique(y_known)
    if len(labels) == 1:
        return np.full(len(features_test), labels[0])
    scaler = StandardScaler().fit(features_known)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a few rows rarely converge exactly; the labels stand
        learnt = LogisticRegression(max_iter=LOGISTIC_ITERATIONS, random_state=seed)
        learnt.fit(scaler.transform(features_known), y_known)
    predicted: NDArray[Any] = learnt.predict(scaler.transform(features_test))
    return predicted


def _rows(X: Any, y: Any, what: str) -> tuple[NDArray[np.float64], NDArray[Any]]:
    """Numeric 2-D rows and as many labels, or InputError."""
    try:
        rows = np.asarray(X, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"{what} rows must be numbers in a 2-D array") from None
    labels = np.asarray(y)
    if rows.ndim != 2 or len(rows) == 0:
        raise InputError(f"{what} rows must be a non-empty 2-D array, not of shape {rows.shape}")
    if not np.isfinite(rows).all():
        raise InputError(f"{what} rows hold NaN or infinite values")
    if labels.shape != (len(rows),):
        raise InputError(f"{len(rows)} {what} rows need as many labels, not shape {labels.shape}")
    return rows, labels
