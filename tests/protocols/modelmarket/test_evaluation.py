"""The executors' benchmark: torch state dicts predicted in numpy, integer scores, every flag,
and a model that learnt the revealed sample by heart gains nothing from it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

from mercato.crypto.fairswap import plain_root
from mercato.errors import InputError
from mercato.protocols.modelmarket import evaluation
from mercato.protocols.modelmarket.documents import HiddenTestSet, group_blob, read_group
from mercato.protocols.modelmarket.evaluation import (
    Benchmark,
    StateDictMLP,
    benchmark,
    load_model_bytes,
    score,
    stack_groups,
)
from mercato.protocols.modelmarket.limits import SCORE_SCALE
from mercato.protocols.modelmarket.views import TEST_FLAG, model_flag

from .offchain import GROUPS, corrupted, digits, hidden_test_set, trained_models

SAMPLE = [3, 17, 0, 25]


@dataclass(frozen=True)
class Fixed:
    """A "model" that predicts what it is told (or raises)."""

    labels: Sequence[int] | None

    def predict(self, X: NDArray[Any]) -> NDArray[np.int64]:
        if self.labels is None:
            raise ValueError("cannot predict")
        return np.asarray(self.labels, dtype=np.int64)


# torch state dicts ----------------------------------------------------------------------------
def test_a_state_dict_predicts_as_torch_does() -> None:
    # prepare: a random Sequential(Linear, ReLU, Linear), as torch initialises it
    import torch
    from safetensors.torch import save

    torch.manual_seed(11)
    net = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 10))
    X = np.random.default_rng(11).normal(scale=4.0, size=(500, 64)).astype(np.float32)
    with torch.no_grad():
        expected = net(torch.from_numpy(X)).argmax(dim=1).numpy()

    # act: from the arrays, and from the file an executor receives
    state = {name: value.detach().numpy() for name, value in net.state_dict().items()}
    direct = StateDictMLP.of(state).predict(X)
    loaded = load_model_bytes(save({k: v.contiguous() for k, v in net.state_dict().items()}))

    # assert
    assert isinstance(loaded, StateDictMLP)
    np.testing.assert_array_equal(direct, expected)
    np.testing.assert_array_equal(loaded.predict(X), expected)
    assert len(set(expected.tolist())) > 3  # the check compares varied labels


def test_a_state_dict_of_another_shape_is_refused() -> None:
    layer = {"weight": np.zeros((2, 2), np.float32), "bias": np.zeros(2, np.float32)}
    three = {f"{i}.{k}": v for i in (0, 2, 4) for k, v in layer.items()}
    with pytest.raises(InputError, match=r"Sequential\(Linear, ReLU, Linear\)"):
        StateDictMLP.of(three)
    with pytest.raises(InputError, match=r"Sequential\(Linear, ReLU, Linear\)"):
        StateDictMLP.of({"0.weight": np.zeros((2, 2), np.float32)})


def test_bytes_that_are_no_model_do_not_load() -> None:
    for data in (b"PK\x03\x04 not really a zip", b"not a model at all"):
        with pytest.raises(InputError):
            load_model_bytes(data)


# scores ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        ([0, 1, 2], SCORE_SCALE),
        ([0, 1, 0], 666_666),  # 2/3 rounds down, not to 666,667
        ([0, 0, 0], 333_333),
        ([2, 0, 1], 0),
        (None, 0),  # the model raises
        ([0, 1], 0),  # fewer labels than rows
        ([[0], [1], [2]], 0),  # labels of another shape
    ],
)
def test_a_score_is_accuracy_in_whole_parts_per_million(
    labels: list[Any] | None, expected: int
) -> None:
    X = np.zeros((3, 2), np.float32)
    y = np.array([0, 1, 2], np.int64)
    assert score(Fixed(labels), X, y) == expected


def test_a_score_over_seven_rows_is_floored() -> None:
    X = np.zeros((7, 1), np.float32)
    y = np.zeros(7, np.int64)
    for right in range(8):
        labels = [0] * right + [1] * (7 - right)
        assert score(Fixed(labels), X, y) == right * SCORE_SCALE // 7
    assert score(Fixed([0] * 6 + [1]), X, y) == 857_142


# benchmark ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tests() -> HiddenTestSet:
    return hidden_test_set()


@pytest.fixture(scope="module")
def models() -> Mapping[str, bytes]:
    return trained_models()


def run(
    tests: HiddenTestSet,
    models: Sequence[bytes | None],
    *,
    hidden: Mapping[int, bytes] | str | None = "honest",
    roots: Sequence[bytes] | None = None,
    live: Sequence[bool] | None = None,
) -> Benchmark:
    """The benchmark of ``models`` on ``tests`` with the module's sample revealed."""
    return benchmark(
        tests.root,
        GROUPS,
        tests.subset(SAMPLE),
        tests.hidden(SAMPLE) if hidden == "honest" else hidden,  # type: ignore[arg-type]
        models,
        roots if roots is not None else [plain_root(m) if m else bytes(32) for m in models],
        live if live is not None else [True] * len(models),
    )


def on_hidden(model: bytes, tests: HiddenTestSet) -> int:
    return score(load_model_bytes(model), *stack_groups(tests.hidden(SAMPLE)))


def test_an_honest_benchmark_scores_every_model_on_the_hidden_groups(
    tests: HiddenTestSet, models: Mapping[str, bytes]
) -> None:
    # act
    result = run(tests, [models["best"], models["good"], models["useless"]])

    # assert: an independent score of each model on the 28 hidden groups
    assert result.flags == 0 and result.problems == ()
    assert result.scores == tuple(
        on_hidden(models[name], tests) for name in ("best", "good", "useless")
    )
    assert result.scores[0] > result.scores[1] > result.scores[2] > 0


def _relabelled(tests: HiddenTestSet) -> dict[int, bytes]:
    hidden = tests.hidden(SAMPLE)
    X, y = read_group(hidden[1])
    hidden[1] = group_blob(hidden[1][:32], X, (y + 1) % 10)
    return hidden


@pytest.mark.parametrize(
    ("forge", "problem"),
    [
        (lambda t: None, "the buyer sealed no test groups to us"),
        (lambda t: {i: b for i, b in t.hidden(SAMPLE).items() if i != 1}, "lacks 1 of its 32"),
        (_relabelled, "do not give the request's test root"),
        (lambda t: {**t.hidden(SAMPLE), 1: t.blobs[SAMPLE[0]]}, "do not give the request's"),
        (lambda t: {**t.hidden(SAMPLE), SAMPLE[0]: t.blobs[SAMPLE[0]]}, "repeat 1 revealed"),
        (lambda t: dict(enumerate(t.blobs)), "repeat 4 revealed"),
        (lambda t: {**t.hidden(SAMPLE), 1: b"\0" * 40}, "do not give the request's"),
    ],
    ids=[
        "none sealed",
        "a group missing",
        "a group relabelled",
        "a sample group at a hidden index",
        "a sample group sealed again",
        "the whole set sealed",
        "a group that does not read",
    ],
)
def test_a_false_test_set_is_flagged_and_scores_nothing(
    tests: HiddenTestSet, models: Mapping[str, bytes], forge: Any, problem: str
) -> None:
    # act
    result = run(tests, [models["best"], models["good"]], hidden=forge(tests))

    # assert
    assert result.flags == TEST_FLAG
    assert result.scores == (0, 0)
    assert len(result.problems) == 1 and problem in result.problems[0]


def test_a_committed_group_that_holds_no_rows_is_flagged(
    tests: HiddenTestSet, models: Mapping[str, bytes]
) -> None:
    # prepare: the buyer committed its root over a hidden group of junk
    junk = HiddenTestSet((*tests.blobs[:1], b"\0" * 40, *tests.blobs[2:]))

    # act
    result = run(junk, [models["good"]], hidden=junk.hidden(SAMPLE))

    # assert: the root matches, the rows do not read
    assert result.flags == TEST_FLAG and result.scores == (0,)
    assert len(result.problems) == 1
    assert result.problems[0].startswith("a test group blob does not read")


def test_a_model_that_is_not_the_committed_one_is_flagged(
    tests: HiddenTestSet, models: Mapping[str, bytes]
) -> None:
    # prepare: seller 1 sealed a corrupted copy, seller 2 nothing, seller 3 an empty file
    good, best = models["good"], models["best"]
    roots = [plain_root(good), plain_root(best), plain_root(best), plain_root(best)]

    # act
    result = run(tests, [good, corrupted(best), None, b""], roots=roots)

    # assert: seller 0 is scored; the others are flagged and score nothing
    assert result.flags == model_flag(1) | model_flag(2) | model_flag(3)
    assert not result.flags & TEST_FLAG
    assert result.scores == (on_hidden(good, tests), 0, 0, 0)
    assert len(result.problems) == 3 and all("not the one committed" in p for p in result.problems)


def test_a_model_that_does_not_load_scores_nothing_unflagged(
    tests: HiddenTestSet, models: Mapping[str, bytes]
) -> None:
    # prepare: seller 0 committed to bytes that are no model file, and sealed them
    junk = b"PK\x03\x04" + bytes(range(256)) * 4

    # act
    result = run(tests, [junk, models["good"]])

    # assert: it is what was committed (no flag), it just scores 0
    assert result.flags == 0
    assert result.scores == (0, on_hidden(models["good"], tests))
    assert len(result.problems) == 1 and result.problems[0].startswith("submission 0:")


def test_a_model_for_other_rows_scores_nothing(tests: HiddenTestSet) -> None:
    import torch
    from safetensors.torch import save

    net = torch.nn.Sequential(torch.nn.Linear(5, 4), torch.nn.ReLU(), torch.nn.Linear(4, 10))
    wrong_inputs = save({k: v.contiguous() for k, v in net.state_dict().items()})

    result = run(tests, [wrong_inputs])

    assert result.flags == 0 and result.scores == (0,)


def test_a_rejected_submission_is_skipped(
    tests: HiddenTestSet, models: Mapping[str, bytes]
) -> None:
    # prepare: submission 0 was rejected by the buyer: nobody sealed its model
    roots = [plain_root(models["best"]), plain_root(models["good"])]

    # act
    result = run(tests, [None, models["good"]], roots=roots, live=[False, True])

    # assert: not flagged, not scored, not even mentioned
    assert result.flags == 0
    assert result.scores == (0, on_hidden(models["good"], tests))
    assert result.problems == ()


# the revealed sample never counts -------------------------------------------------------------
@dataclass(frozen=True)
class Lookup:
    """A model that answers the rows it memorised from its table, the rest from ``base``."""

    base: Any
    table: Mapping[bytes, int]

    def predict(self, X: NDArray[Any]) -> NDArray[np.int64]:
        guessed = np.asarray(self.base.predict(X), dtype=np.int64)
        remembered = [self.table.get(row.tobytes()) for row in np.asarray(X, np.float32)]
        return np.array(
            [g if r is None else r for g, r in zip(guessed, remembered, strict=True)], np.int64
        )


def test_learning_the_sample_by_heart_gains_nothing(
    tests: HiddenTestSet, models: Mapping[str, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    # prepare: "good" errs on some sample rows; its lookup twin answers them all right
    sample_X, sample_y = stack_groups(tests.subset(SAMPLE))
    base = load_model_bytes(models["good"])
    table = {row.tobytes(): int(label) for row, label in zip(sample_X, sample_y, strict=True)}
    twin = b"lookup twin of " + models["good"]  # its own file; the loader below knows it
    loaded = {models["good"]: base, twin: Lookup(base, table)}
    monkeypatch.setattr(evaluation, "load_model_bytes", lambda data: loaded[data])
    assert score(Lookup(base, table), sample_X, sample_y) == SCORE_SCALE
    assert score(base, sample_X, sample_y) < SCORE_SCALE

    # act
    result = run(tests, [models["good"], twin])

    # assert: the same score, that of the hidden rows
    assert result.scores[0] == result.scores[1] == on_hidden(models["good"], tests)


def test_a_model_trained_on_the_sample_is_scored_on_the_hidden_rows_only(
    tests: HiddenTestSet,
) -> None:
    # prepare: an unpruned tree fitted on other rows and the revealed sample: it knows the
    # sample by heart, and would gain if the sample counted
    import skops.io
    from sklearn.tree import DecisionTreeClassifier

    X, y = digits()
    sample_X, sample_y = stack_groups(tests.subset(SAMPLE))
    tree = DecisionTreeClassifier(random_state=0).fit(
        np.concatenate([X[:200], sample_X]), np.concatenate([y[:200], sample_y])
    )
    model = bytes(skops.io.dumps(tree))
    every_X, every_y = stack_groups(dict(enumerate(tests.blobs)))
    assert score(tree, sample_X, sample_y) == SCORE_SCALE

    # act
    result = run(tests, [model])

    # assert
    hidden_X, hidden_y = stack_groups(tests.hidden(SAMPLE))
    assert result.scores == (score(tree, hidden_X, hidden_y),)
    assert result.scores[0] < score(tree, every_X, every_y)
