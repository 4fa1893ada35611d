"""Bad ``modelmarket`` input: one line saying what is wrong, exit 1 (2 for what the command
line itself refuses), no traceback, nothing sent, no file written.

One market serves the whole module: request 1 takes submissions, its sample revealed, with
one model in (seller MODEL) and one volunteer (COMPUTE); request 2's sample is drawn and
waits for the buyer; request 3 has just been posted. The chain is reverted afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mercato.chain import Anvil
from mercato.errors import MercatoError

from .helpers import CLIENT, COMPUTE, MODEL, STRANGER, Cli, address, module_market
from .modelmarket_helpers import (
    EXECUTORS,
    SCHEDULE,
    SELLERS,
    model_files,
    open_submissions,
    post,
    register_cast,
)

pytestmark = pytest.mark.rpc

SELLER_2 = SELLERS[1]
MODELS = "models"


@pytest.fixture(scope="module")
def waiting(anvil: Anvil, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cli]:
    with module_market(anvil.url, tmp_path_factory, "cli-modelmarket-bad-input") as cli:
        register_cast(cli)
        folder = cli.home / MODELS
        folder.mkdir()
        digits = model_files(folder)[2]
        _iris_model(folder / "iris.skops")
        (folder / "model.pkl").write_bytes(b"\x80\x04not really a pickle")
        post(cli)
        open_submissions(cli, 1)
        cli.ok("modelmarket", "submit", 1, "--model", digits, "--account", MODEL)
        cli.ok("modelmarket", "volunteer", 1, "--account", COMPUTE)
        post(cli)
        cli.ok("modelmarket", "advance", 2, "--account", STRANGER)
        post(cli)
        yield cli


def _iris_model(path: Path) -> None:
    """A model of 4 features, which no request here takes."""
    import skops.io
    from sklearn.linear_model import LogisticRegression

    from mercato.ml.datasets import load_dataset

    iris = load_dataset("iris")
    skops.io.dump(LogisticRegression(max_iter=500).fit(iris.X, iris.y), path)


def _state(cli: Cli) -> tuple[Any, ...]:
    """Everything a bad command must leave as it was: head, requests, money, local files."""
    market = cli.market()
    mm = market.model_market
    files = sorted((p.name, p.read_bytes()) for p in (cli.home / "agents").iterdir())
    cast = (CLIENT, STRANGER, *SELLERS, *EXECUTORS)
    return (
        market.chain.block_number(),
        [(mm.request(i), mm.submissions(i), mm.volunteers(i)) for i in range(1, mm.count() + 1)],
        [mm.owed(address(i)) for i in cast],
        [market.chain.balance(address(i)) for i in cast],
        files,
    )


POST = ("modelmarket", "post", "--sample-data", "digits", "--account", CLIENT)
SCHEDULED = (*POST, "--schedule", SCHEDULE)
DIGITS_MODEL = f"{MODELS}/seller-2.skops"
SUBMIT = ("modelmarket", "submit")
AGENT = ("agent", "run", "--once")

CASES: dict[str, tuple[tuple[object, ...], str]] = {
    # reading
    "unknown request": (("modelmarket", "show", 9), "no request 9 (there are 3)"),
    "acting on an unknown request": (
        ("modelmarket", "volunteer", 9, "--account", COMPUTE),
        "no request 9 (there are 3)",
    ),
    # post: the test rows
    "no test rows": (
        ("modelmarket", "post", "--schedule", SCHEDULE, "--account", CLIENT),
        "no test rows: pass your own file (--data FILE with --label or --schema) or --sample-data",
    ),
    "two sources of rows": (
        (*SCHEDULED, "--data", "rows.csv", "--label", "y"),
        "pass --sample-data or --data, not both",
    ),
    "a label without a file": (
        ("modelmarket", "post", "--label", "y", "--schedule", SCHEDULE, "--account", CLIENT),
        "--label and --schema describe a data file: pass it with --data",
    ),
    "a missing data file": (
        (
            "modelmarket",
            "post",
            "--data",
            "absent.csv",
            "--label",
            "y",
            "--schedule",
            SCHEDULE,
            "--account",
            CLIENT,
        ),
        "absent.csv: no such file",
    ),
    "an unknown sample set": (
        (
            "modelmarket",
            "post",
            "--sample-data",
            "digit",
            "--schedule",
            SCHEDULE,
            "--account",
            CLIENT,
        ),
        "no dataset named 'digit'. Did you mean 'digits'?",
    ),
    "too few rows for the groups": (
        (*SCHEDULED, "--groups", 400, "--sample", 8),
        "digits-eval has 360 rows, too few for 400 test groups",
    ),
    # post: the schedule
    "a point without a price": (
        (*POST, "--schedule", "0.7"),
        "--schedule point '0.7' is not SCORE:PRICE (e.g. 0.7:0.01)",
    ),
    "a score above 1": ((*POST, "--schedule", "1.5:0.01"), "--schedule score 1.5 is not between"),
    "a score not a number": ((*POST, "--schedule", "high:0.01"), "--schedule score 'high' is not"),
    "scores not rising": (
        (*POST, "--schedule", "0.9:0.01,0.7:0.02"),
        "--schedule scores must increase from one point to the next",
    ),
    "prices falling": (
        (*POST, "--schedule", "0.7:0.02,0.9:0.01"),
        "--schedule prices must not fall as the score rises",
    ),
    "a free point": ((*POST, "--schedule", "0.7:0"), "--schedule prices must be above 0"),
    "a price not an amount": ((*POST, "--schedule", "0.7:lots"), "'lots' is not an amount"),
    "too many points": (
        (*POST, "--schedule", ",".join(f"0.{i}:0.01" for i in range(1, 10))),
        "--schedule needs 1 to 8 SCORE:PRICE points, got 9",
    ),
    # post: the terms
    "too few groups": ((*SCHEDULED, "--groups", 31), "--groups must be 32 to 4294967296, got 31"),
    "too big a sample": ((*SCHEDULED, "--sample", 9), "--sample must be 1 to 8, got 9"),
    "no sample": ((*SCHEDULED, "--sample", 0), "--sample must be 1 to 8, got 0"),
    "buying no model": ((*SCHEDULED, "--k", 0), "--k must be 1 to 8, got 0"),
    "too many executors": ((*SCHEDULED, "--executors", 8), "--executors must be 1 to 7, got 8"),
    "no period": ((*SCHEDULED, "--period", 0), "--period must be 1 to 31536000, got 0"),
    "a negative stake": ((*SCHEDULED, "--seller-stake", "-1"), "'-1' is negative"),
    "a bond above 2^128 wei": (
        (*SCHEDULED, "--bond", "10" + "0" * 21),
        "--bond 10000000000000000000000.000000 ETH is more than the contract takes",
    ),
    "poster lacks the role": (
        (
            "modelmarket",
            "post",
            "--sample-data",
            "digits",
            "--schedule",
            SCHEDULE,
            "--account",
            MODEL,
        ),
        "posting a request needs the client role",
    ),
    "not enough money": (
        (*POST, "--schedule", "0.7:30000"),
        "ETH, less than the 30000.001300 ETH the request locks",
    ),
    # the buyer's steps
    "reveal by another account": (
        ("modelmarket", "reveal-sample", 2, "--account", STRANGER),
        "only the buyer of request 2",
    ),
    "reveal before the draw": (
        ("modelmarket", "reveal-sample", 3, "--account", CLIENT),
        "the sample of request 3 is not drawn yet: draw it first (mercato modelmarket advance 3)",
    ),
    "reveal twice": (
        ("modelmarket", "reveal-sample", 1, "--account", CLIENT),
        "request 1 has no sample to reveal: it is submitting",
    ),
    "reveal without the test set": (
        ("modelmarket", "reveal-sample", 2, "--state-dir", "elsewhere", "--account", CLIENT),
        "no hidden test set of request 2 in elsewhere/modelmarket-request-2.test",
    ),
    "check by another account": (
        ("modelmarket", "check", 1, "--account", MODEL),
        "only the buyer of request 1",
    ),
    "seal before the draw": (
        ("modelmarket", "seal", 1, "--account", CLIENT),
        "cannot seal anything to request 1: it is submitting, not committing",
    ),
    "take into a pickle": (
        ("modelmarket", "take", 1, 0, "--out", "model.pkl", "--account", CLIENT),
        "--out model.pkl: name the model file *.skops or *.safetensors",
    ),
    "take what is not there": (
        ("modelmarket", "take", 1, 5, "--out", "m.skops", "--account", CLIENT),
        "request 1 has no submission 5 (it has 1)",
    ),
    "take what was not bought": (
        ("modelmarket", "take", 1, 0, "--out", "m.skops", "--account", CLIENT),
        "submission 0 of request 1 is submitted: you did not buy it",
    ),
    "take by another account": (
        ("modelmarket", "take", 1, 0, "--out", "m.skops", "--account", MODEL),
        "only the buyer of request 1",
    ),
    # the sellers' steps
    "submit a missing file": (
        (*SUBMIT, 1, "--model", "absent.skops", "--account", SELLER_2),
        "absent.skops: no such file",
    ),
    "submit a pickle": (
        (*SUBMIT, 1, "--model", f"{MODELS}/model.pkl", "--account", SELLER_2),
        "models/model.pkl: .pkl files are pickles",
    ),
    "submit a model of other features": (
        (*SUBMIT, 1, "--model", f"{MODELS}/iris.skops", "--account", SELLER_2),
        "models/iris.skops takes 4 features; request 1's task has 64",
    ),
    "submit before the sample": (
        (*SUBMIT, 2, "--model", DIGITS_MODEL, "--account", SELLER_2),
        "request 2 does not take submissions yet: its sample is not revealed",
    ),
    "submit twice": (
        (*SUBMIT, 1, "--model", DIGITS_MODEL, "--account", MODEL),
        "you already submitted to request 1",
    ),
    "the buyer submits": (
        (*SUBMIT, 1, "--model", DIGITS_MODEL, "--account", CLIENT),
        "you are the buyer of request 1: you cannot sell to yourself",
    ),
    "an executor submits": (
        (*SUBMIT, 1, "--model", DIGITS_MODEL, "--account", COMPUTE),
        "you volunteered to execute request 1: an executor cannot sell",
    ),
    "submitter lacks the role": (
        (*SUBMIT, 1, "--model", DIGITS_MODEL, "--account", STRANGER),
        "submitting a model needs the model-owner role",
    ),
    "reveal a key without a submission": (
        ("modelmarket", "reveal-key", 1, "--account", SELLER_2),
        f"you ({address(SELLER_2)}) did not submit to request 1",
    ),
    "reveal a key that did not win": (
        ("modelmarket", "reveal-key", 1, "--account", MODEL),
        "no sale of request 1 waits for your key: your submission is submitted",
    ),
    "reveal a key not kept": (
        ("modelmarket", "reveal-key", 1, "--state-dir", "elsewhere", "--account", MODEL),
        "no key of your submission to request 1 in elsewhere/modelmarket-offer-1-",
    ),
    # the executors' steps
    "volunteer twice": (
        ("modelmarket", "volunteer", 1, "--account", COMPUTE),
        "you already volunteered for request 1",
    ),
    "the buyer volunteers": (
        ("modelmarket", "volunteer", 1, "--account", CLIENT),
        "you are the buyer of request 1: you cannot execute it",
    ),
    "a seller volunteers": (
        ("modelmarket", "volunteer", 1, "--account", MODEL),
        "you submitted a model to request 1: a seller cannot execute",
    ),
    "volunteer lacks the role": (
        ("modelmarket", "volunteer", 1, "--account", STRANGER),
        "volunteering to execute needs the compute-provider role",
    ),
    "benchmark before the draw": (
        ("modelmarket", "benchmark", 1, "--account", COMPUTE),
        "cannot benchmark request 1: it is submitting, not committing",
    ),
    "reveal scores before the commitments": (
        ("modelmarket", "reveal", 1, "--account", COMPUTE),
        "cannot reveal scores of request 1: it is submitting, not revealing",
    ),
    # anyone
    "advance before the deadline": (
        ("modelmarket", "advance", 1, "--account", STRANGER),
        "the submissions of request 1 close at",
    ),
    "advance a sample waiting for the buyer": (
        ("modelmarket", "advance", 2, "--account", STRANGER),
        "the sample of request 2 is drawn and waits for the buyer to reveal it until",
    ),
    "tally too early": (
        ("modelmarket", "tally", 1, "--account", STRANGER),
        "cannot tally request 1: it is submitting, not revealing",
    ),
    "finish a sale not made": (
        ("modelmarket", "finish", 1, 0, "--account", STRANGER),
        "cannot finish a sale of request 1: it is submitting, not swapping",
    ),
    "finish what is not there": (
        ("modelmarket", "finish", 1, 3, "--account", STRANGER),
        "request 1 has no submission 3 (it has 1)",
    ),
    "withdraw with nothing owed": (
        ("modelmarket", "withdraw", "--account", STRANGER),
        f"the model market owes {address(STRANGER)} nothing",
    ),
    # agents
    "seller agent without a model": (
        (*AGENT, "--role", "seller", "--account", SELLER_2),
        "a seller agent offers a model: --model FILE (.skops or .safetensors)",
    ),
    "seller agent with a pickle": (
        (*AGENT, "--role", "seller", "--model", f"{MODELS}/model.pkl", "--account", SELLER_2),
        "models/model.pkl: .pkl files are pickles",
    ),
    "executor agent with a model": (
        (*AGENT, "--role", "executor", "--model", DIGITS_MODEL, "--account", COMPUTE),
        "--model is a seller option; this agent is an executor",
    ),
    "buyer agent lacks the role": (
        (*AGENT, "--role", "buyer", "--account", STRANGER),
        "a buyer agent needs the client role",
    ),
}


@pytest.mark.parametrize(("args", "message"), CASES.values(), ids=CASES.keys())
def test_bad_input_changes_nothing(waiting: Cli, args: tuple[object, ...], message: str) -> None:
    cli = waiting
    before = _state(cli)

    result = cli(*args)

    assert result.exit_code == 1
    assert isinstance(result.exception, MercatoError), result.output
    assert message in str(result.exception)
    assert "\n" not in str(result.exception)
    assert _state(cli) == before


USAGE = {
    "take without --out": ("modelmarket", "take", 1, 0, "--account", CLIENT),
    "a negative index": ("modelmarket", "finish", 1, "-1", "--account", STRANGER),
    "post without a schedule": ("modelmarket", "post", "--sample-data", "digits"),
    "request 0": ("modelmarket", "show", 0),
}


@pytest.mark.parametrize("args", USAGE.values(), ids=USAGE.keys())
def test_the_command_line_refuses_malformed_commands(
    waiting: Cli, args: tuple[object, ...]
) -> None:
    cli = waiting
    before = _state(cli)

    result = cli(*args)

    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert _state(cli) == before


def test_json_outputs_parse(waiting: Cli) -> None:
    cli = waiting

    requests = cli.json("modelmarket", "list")
    shown = cli.json("modelmarket", "show", 1)
    checked = cli.json("modelmarket", "check", 1, "--account", CLIENT)

    assert [(r["request_id"], r["status"], r["sellers"], r["volunteers"]) for r in requests] == [
        (1, "submitting", 1, 1), (2, "sampling", 0, 0), (3, "sampling", 0, 0)
    ]  # fmt: skip
    assert shown["sample_revealed"] and len(shown["sample_indices"]) == 4
    assert [s["state"] for s in shown["submissions"]] == ["submitted"]
    assert [(e["address"], e["drawn"], e["agreed"]) for e in shown["executors_detail"]] == [
        (address(COMPUTE), False, None)
    ]
    assert shown["task"]["features"] == 64
    assert checked["checked"] == [
        {"index": 0, "seller": address(MODEL), "problem": None, "rejected": False}
    ]


def test_text_outputs_run(waiting: Cli) -> None:
    for args in (("list",), ("show", 1), ("show", 2), ("show", 3)):
        assert waiting.ok("modelmarket", *args).stdout
