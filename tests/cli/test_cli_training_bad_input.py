"""Bad ``training`` input: exit 1, one line saying what is wrong, nothing changed.

One market serves the whole module: dataset 1 is digits 2 x 2 over three compute providers,
nobody has joined it; model 1 is shaped for digits, model 2 for iris; training 1 asks for
model 1 on dataset 1 and waits for approval. The chain is reverted afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from mercato.chain import Anvil
from mercato.errors import MercatoError

from .helpers import COMPUTE, DATA, DATA_2, MODEL, STRANGER, Cli, address, module_market
from .training_helpers import (
    COMPUTE_2,
    COMPUTE_3,
    create_model,
    list_digits,
    register_computes,
)

pytestmark = pytest.mark.rpc


@pytest.fixture(scope="module")
def requested(anvil: Anvil, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cli]:
    with module_market(anvil.url, tmp_path_factory, "cli-training-bad-input") as cli:
        register_computes(cli)
        list_digits(cli, 2, 2)
        create_model(cli)
        cli.ok("training", "model", "--trainer", "torch-mlp", "--dataset-name", "iris",
               "--account", MODEL)  # fmt: skip
        cli.ok("training", "request", "--model", 1, "--dataset", 1, "--subsets-per-round", 1,
               "--rounds", 2, "--account", MODEL)  # fmt: skip
        yield cli


def _state(cli: Cli) -> tuple[Any, ...]:
    """Everything a bad command must leave as it was: head, records, money, plan files."""
    market = cli.market()
    tm = market.training_market
    plans = sorted((p.name, p.read_text()) for p in (cli.home / "agents").glob("*.json"))
    return (
        market.chain.block_number(),
        [tm.dataset(i) for i in range(1, tm.dataset_count() + 1)],
        [tm.model_owner(i) for i in range(1, tm.model_count() + 1)],
        [tm.training(i) for i in range(1, tm.training_count() + 1)],
        tm.instance_count(),
        [tm.owed(address(i)) for i in range(10)],
        plans,
    )


COS = tuple(
    arg for i in (COMPUTE, COMPUTE_2, COMPUTE_3) for arg in ("--compute-provider", address(i))
)
LIST = ("training", "dataset", "offer", "--dataset", "digits", "--data-price", "0.1",
        "--job-price", "0.01")  # fmt: skip
REQUEST = ("training", "request", "--dataset", 1)
AGENT = ("agent", "run", "--once")

CASES: dict[str, tuple[tuple[object, ...], str]] = {
    # reading
    "unknown dataset": (("training", "dataset", "show", 7), "no dataset 7 (there are 1)"),
    "dataset unknown": (("training", "dataset", "show", 9), "no dataset 9 (there are 1)"),
    "unknown training": (("training", "show", 5), "no training 5 (there are 1)"),
    # dataset offer
    "lister lacks the role": (
        (*LIST, "--subsets", 2, "--replicas", 2, *COS, "--account", MODEL),
        "offering a dataset needs the data-owner role",
    ),
    "holder not registered": (
        (
            *LIST,
            "--subsets",
            2,
            "--replicas",
            2,
            *COS[:4],
            "--compute-provider",
            address(STRANGER),
            "--account",
            DATA,
        ),
        f"--compute-provider {address(STRANGER)} is not a registered compute provider",
    ),
    "too few compute providers": (
        (*LIST, "--subsets", 2, "--replicas", 3, *COS[:4], "--account", DATA),
        "3 replicas of each subset need at least 3 distinct compute providers, got 2",
    ),
    "compute provider twice": (
        (*LIST, "--subsets", 2, "--replicas", 2, *COS, *COS[:2], "--account", DATA),
        "is given twice",
    ),
    "impossible split": (
        (
            *LIST,
            "--subsets",
            2,
            "--replicas",
            2,
            *COS,
            "--min-missing-classes",
            10,
            "--account",
            DATA,
        ),
        "a subset cannot miss 10 of them",
    ),
    "two-class dataset": (
        (
            "training",
            "dataset",
            "offer",
            "--dataset",
            "breast_cancer",
            "--subsets",
            2,
            "--replicas",
            2,
            *COS,
            "--data-price",
            "0.1",
            "--job-price",
            "0.01",
            "--account",
            DATA,
        ),
        "dataset 'breast_cancer' has 2 classes",
    ),
    "too many subsets": (
        (*LIST, "--subsets", 33, "--replicas", 2, *COS, "--account", DATA),
        "--subsets must be 1 to 32, got 33",
    ),
    "too many replicas": (
        (*LIST, "--subsets", 2, "--replicas", 9, *COS, "--account", DATA),
        "--replicas must be 1 to 8, got 9",
    ),
    "unknown dataset name": (
        (
            "training",
            "dataset",
            "offer",
            "--dataset",
            "digit",
            "--subsets",
            2,
            "--replicas",
            2,
            *COS,
            "--data-price",
            "0.1",
            "--job-price",
            "0.01",
            "--account",
            DATA,
        ),
        "Did you mean 'digits'?",
    ),
    "bad price": (
        (
            "training",
            "dataset",
            "offer",
            "--dataset",
            "digits",
            "--subsets",
            2,
            "--replicas",
            2,
            *COS,
            "--data-price",
            "lots",
            "--job-price",
            "0.01",
            "--account",
            DATA,
        ),
        "'lots' is not an amount",
    ),
    "holder not an address": (
        (*LIST, "--subsets", 2, "--replicas", 2, "--compute-provider", "0x1234", "--account", DATA),
        "--compute-provider '0x1234' is not an address",
    ),
    # model
    "unknown trainer": (
        (
            "training",
            "model",
            "--trainer",
            "sklearn-svm",
            "--dataset-name",
            "digits",
            "--account",
            MODEL,
        ),
        "--trainer must be one of numpy-logreg, torch-mlp",
    ),
    "model creator lacks the role": (
        (
            "training",
            "model",
            "--trainer",
            "numpy-logreg",
            "--dataset-name",
            "digits",
            "--account",
            DATA,
        ),
        "creating a model needs the model-owner role",
    ),
    "negative learning rate": (
        (
            "training",
            "model",
            "--trainer",
            "numpy-logreg",
            "--dataset-name",
            "digits",
            "--learning-rate",
            "-1",
            "--account",
            MODEL,
        ),
        "learning_rate must be a positive number",
    ),
    "zero epochs": (
        (
            "training",
            "model",
            "--trainer",
            "numpy-logreg",
            "--dataset-name",
            "digits",
            "--epochs",
            0,
            "--account",
            MODEL,
        ),
        "--epochs must be 1 to",
    ),
    # request
    "unknown model": (
        (*REQUEST, "--model", 9, "--subsets-per-round", 1, "--rounds", 1, "--account", MODEL),
        "no model 9 (there are 2)",
    ),
    "someone else's model": (
        (*REQUEST, "--model", 1, "--subsets-per-round", 1, "--rounds", 1, "--account", DATA),
        f"model 1 belongs to {address(MODEL)}",
    ),
    "more subsets a round than the dataset has": (
        (*REQUEST, "--model", 1, "--subsets-per-round", 3, "--rounds", 1, "--account", MODEL),
        "--subsets-per-round must be 1 to 2, got 3",
    ),
    "zero rounds": (
        (*REQUEST, "--model", 1, "--subsets-per-round", 1, "--rounds", 0, "--account", MODEL),
        "--rounds must be 1 to 255, got 0",
    ),
    "model of another shape": (
        (*REQUEST, "--model", 2, "--subsets-per-round", 1, "--rounds", 1, "--account", MODEL),
        "model 2 takes 4 features and 3 classes; dataset 1 (digits) has 64 features",
    ),
    "request on an unknown dataset": (
        (
            "training",
            "request",
            "--dataset",
            4,
            "--model",
            1,
            "--subsets-per-round",
            1,
            "--rounds",
            1,
            "--account",
            MODEL,
        ),
        "no dataset 4 (there are 1)",
    ),
    # the training's life
    "approve by another account": (
        ("training", "approve", 1, "--account", DATA_2),
        "only the owner of dataset 1",
    ),
    "approve before every slot is verified": (
        ("training", "approve", 1, "--account", DATA),
        "dataset 1 has 0 of 4 instances verified",
    ),
    "cancel by another account": (
        ("training", "cancel", 1, "--account", DATA),
        "only the model owner of training 1",
    ),
    "draw with no round asked for": (
        ("training", "draw", 1, "--account", STRANGER),
        "cannot draw a round of training 1: it is requested, not drawing",
    ),
    "close a round that is not running": (
        ("training", "close-round", 1, "--account", STRANGER),
        "cannot close a round of training 1: it is requested, not training",
    ),
    "complete a request": (
        ("training", "complete", 1, "--account", MODEL),
        "was never approved: its model owner cancels it instead",
    ),
    "approve an unknown training": (
        ("training", "approve", 3, "--account", DATA),
        "no training 3 (there are 1)",
    ),
    "withdraw with nothing owed": (
        ("training", "withdraw", "--account", DATA),
        f"the training market owes {address(DATA)} nothing",
    ),
    # agents
    "unknown agent role": (
        (*AGENT, "--role", "data-ownr", "--account", DATA),
        "Did you mean 'data-owner'?",
    ),
    "model owner agent without data": (
        (*AGENT, "--role", "model-owner", "--account", MODEL),
        "--dataset NAME",
    ),
    "lazy data owner": (
        (*AGENT, "--role", "data-owner", "--lazy", "--account", DATA),
        "--lazy is a compute-provider option",
    ),
    "compute agent lacks the role": (
        (*AGENT, "--role", "compute-provider", "--account", STRANGER),
        "a compute-provider agent needs the compute-provider role",
    ),
    "provider option on a P2 agent": (
        (*AGENT, "--role", "compute-provider", "--category", "data", "--account", COMPUTE),
        "--category is a provider option; this agent is a compute-provider",
    ),
}


@pytest.mark.parametrize(("args", "message"), CASES.values(), ids=CASES.keys())
def test_bad_input_changes_nothing(requested: Cli, args: tuple[object, ...], message: str) -> None:
    cli = requested
    before = _state(cli)

    result = cli(*args)

    assert result.exit_code == 1
    assert isinstance(result.exception, MercatoError), result.output
    assert message in str(result.exception)
    assert "\n" not in str(result.exception)
    assert _state(cli) == before


def test_json_outputs_parse(requested: Cli) -> None:
    cli = requested

    datasets = cli.json("training", "dataset", "list")
    dataset = cli.json("training", "dataset", "show", 1)
    trainings = cli.json("training", "list")
    shown = cli.json("training", "show", 1)

    assert [(d["id"], d["name"], d["slots"], d["verified"]) for d in datasets] == [
        (1, "digits", 4, 0)
    ]
    assert dataset["manifest"]["name"] == "digits"
    assert [(s["subset"], s["replica"], s["co"], s["status"]) for s in dataset["instances"]] == [
        (0, 0, address(COMPUTE), "free"),
        (0, 1, address(COMPUTE_2), "free"),
        (1, 0, address(COMPUTE_3), "free"),
        (1, 1, address(COMPUTE), "free"),
    ]
    assert dataset["trainings"] == [1]
    assert [(t["id"], t["status"], t["deadline_kind"]) for t in trainings] == [
        (1, "requested", "approval")
    ]
    assert shown["training"] == trainings[0]
    assert (shown["rounds"], shown["jobs"], shown["frauds"], shown["payments"]) == (
        [], [], [], None
    )  # fmt: skip
    assert [e["name"] for e in shown["events"]] == ["TrainingRequested"]


def test_text_outputs_run(requested: Cli) -> None:
    for args in (("dataset", "list"), ("dataset", "show", 1), ("list",), ("show", 1)):
        assert requested.ok("training", *args).stdout
