"""Bad ``datamarket`` input: exit 1, one line saying what is wrong, nothing changed.

One market serves the whole module: task 1 (robust, 3 data owners, median) has one member
and waits for two more; task 2 (robust, 3 data owners) is full, every member submitted and
round 1 waits for the model owner. The chain is reverted afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from mercato.chain import Anvil
from mercato.errors import MercatoError

from .datamarket_helpers import DATA_OWNERS, act_all, join_all, post, register_data_owners
from .helpers import MODEL, STRANGER, Cli, address, module_market

pytestmark = pytest.mark.rpc

DO_0, DO_1, DO_2, DO_3 = DATA_OWNERS[:4]


@pytest.fixture(scope="module")
def waiting(anvil: Anvil, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cli]:
    with module_market(anvil.url, tmp_path_factory, "cli-datamarket-bad-input") as cli:
        register_data_owners(cli)
        post(cli, 3, 1, "robust", "--rule", "median")
        cli.ok("datamarket", "join", 1, "--dataset", "digits", "--part", 0, "--account", DO_0)
        post(cli, 3, 1, "robust")
        join_all(cli, 2, 3)
        act_all(cli, 2, 3)
        yield cli


def _state(cli: Cli) -> tuple[Any, ...]:
    """Everything a bad command must leave as it was: head, tasks, money, local files."""
    market = cli.market()
    dm = market.data_market
    files = sorted((p.name, p.read_bytes()) for p in (cli.home / "agents").iterdir())
    return (
        market.chain.block_number(),
        [dm.task(i) for i in range(1, dm.next_task_id())],
        [dm.owed(address(i)) for i in (MODEL, STRANGER, *DATA_OWNERS)],
        files,
    )


POST = ("datamarket", "post", "--dataset", "digits", "--data-owners", 3, "--rounds", 1)
ROBUST = (*POST, "--mode", "robust", "--reward", "0.003")
SECURE = (*POST, "--mode", "secure", "--reward", "0.003")
JOIN = ("datamarket", "join", 1, "--dataset", "digits")
AGENT = ("agent", "run", "--once")
DO_AGENT = (*AGENT, "--role", "market-data-owner", "--dataset", "digits")
MO_AGENT = (*AGENT, "--role", "market-model-owner")

CASES: dict[str, tuple[tuple[object, ...], str]] = {
    # reading
    "unknown task": (("datamarket", "show", 9), "no task 9 (there are 2)"),
    "task unknown": ((*JOIN[:2], 9, *JOIN[3:], "--part", 1, "--account", DO_1), "no task 9"),
    # post: terms
    "unknown mode": (
        (*POST, "--mode", "fast", "--reward", "0.003", "--account", MODEL),
        "--mode must be secure or robust, got 'fast'",
    ),
    "secure mode with a robust rule": (
        (*SECURE, "--rule", "multikrum", "--account", MODEL),
        "--rule multikrum does not fit secure mode",
    ),
    "robust mode with the mean": (
        (*ROBUST, "--rule", "mean", "--account", MODEL),
        "--rule in robust mode must be one of multikrum, median, trimmed_mean, got 'mean'",
    ),
    "reward not divisible": (
        (*POST, "--mode", "robust", "--reward", "1000wei", "--account", MODEL),
        "--reward 1000wei (0.000000000000001 ETH) does not split into 3 equal shares "
        "(3 data owners x 1 rounds); try 0.000000000000000999 or 0.000000000000001002 ETH",
    ),
    "no reward": (
        (*POST, "--mode", "robust", "--reward", "0", "--account", MODEL),
        "--reward must be above 0",
    ),
    "reward not an amount": (
        (*POST, "--mode", "robust", "--reward", "lots", "--account", MODEL),
        "'lots' is not an amount",
    ),
    "threshold out of range": (
        (*SECURE, "--threshold", 1, "--account", MODEL),
        "--threshold must be 2 to 3, got 1",
    ),
    "threshold in robust mode": (
        (*ROBUST, "--threshold", 2, "--account", MODEL),
        "--threshold applies to secure mode",
    ),
    "exclusions in secure mode": (
        (*SECURE, "--max-excluded", 0, "--account", MODEL),
        "--max-excluded applies to robust mode",
    ),
    "outlier multiple in secure mode": (
        (*SECURE, "--outlier-multiple", 3, "--account", MODEL),
        "--outlier-multiple applies to robust mode",
    ),
    "outlier multiple below one": (
        (*ROBUST, "--outlier-multiple", 0.5, "--account", MODEL),
        "--outlier-multiple must be 1 to 655.35 (times the median), got 0.5",
    ),
    "outlier multiple too fine": (
        (*ROBUST, "--outlier-multiple", 2.345, "--account", MODEL),
        "--outlier-multiple takes at most two decimals, got 2.345",
    ),
    "too many exclusions": (
        (*ROBUST, "--max-excluded", 1, "--account", MODEL),
        "--max-excluded must be 0 to 0 for 3 data owners",
    ),
    "too few data owners": (
        (
            "datamarket",
            "post",
            "--dataset",
            "digits",
            "--data-owners",
            2,
            "--rounds",
            1,
            "--mode",
            "robust",
            "--reward",
            "0.002",
            "--account",
            MODEL,
        ),
        "--data-owners must be 3 to 32, got 2",
    ),
    "zero rounds": (
        (
            "datamarket",
            "post",
            "--dataset",
            "digits",
            "--data-owners",
            3,
            "--rounds",
            0,
            "--mode",
            "robust",
            "--reward",
            "0.003",
            "--account",
            MODEL,
        ),
        "--rounds must be 1 to 255, got 0",
    ),
    "zero phase period": (
        (*ROBUST, "--phase-period", 0, "--account", MODEL),
        "--phase-period must be 1 to 31536000, got 0",
    ),
    "zero local epochs": (
        (*ROBUST, "--local-epochs", 0, "--account", MODEL),
        "--local-epochs must be 1 to",
    ),
    # post: data, role, money
    "unknown dataset": (
        (
            "datamarket",
            "post",
            "--dataset",
            "digit",
            "--data-owners",
            3,
            "--rounds",
            1,
            "--mode",
            "robust",
            "--reward",
            "0.003",
            "--account",
            MODEL,
        ),
        "no dataset named 'digit'. Did you mean 'digits'?",
    ),
    "wanting another kind of data": (
        (*ROBUST, "--wants", "mc:WineChemistryRecords", "--account", MODEL),
        "--wants mc:WineChemistryRecords does not describe your own data",
    ),
    "unknown ontology class": (
        (*ROBUST, "--wants", "mc:Nothing", "--account", MODEL),
        "unknown ontology class 'mc:Nothing'",
    ),
    "poster lacks the role": (
        (*ROBUST, "--account", DO_0),
        "posting a task needs the model-owner role",
    ),
    "not enough money": (
        (*POST, "--mode", "robust", "--reward", "30000", "--account", MODEL),
        "less than the 30000.000000 ETH the task locks",
    ),
    # join
    "joiner not registered": (
        (*JOIN, "--part", 1, "--account", STRANGER),
        "joining a task needs the data-owner role",
    ),
    "joining twice": (
        (*JOIN, "--part", 1, "--account", DO_0),
        "you already joined task 1 as data owner 0",
    ),
    "model owner joins its own task": (
        (*JOIN, "--part", 1, "--account", MODEL),
        "you are the model owner of task 1",
    ),
    "part out of range": (
        (*JOIN, "--part", 3, "--account", DO_1),
        "--part must be 0 to 2, got 3",
    ),
    "data the task does not want": (
        ("datamarket", "join", 1, "--dataset", "iris", "--part", 1, "--account", DO_1),
        "task 1 wants data of mc:HandwrittenDigitImages",
    ),
    "joining a running task": (
        ("datamarket", "join", 2, "--dataset", "digits", "--part", 0, "--account", DO_3),
        "task 2 is not open for joining: it is running",
    ),
    # act
    "acting when nothing waits": (
        ("datamarket", "act", 2, "--account", DO_0),
        "nothing in task 2 waits for you: round 1 waits for the model owner to aggregate",
    ),
    "acting before the task runs": (
        ("datamarket", "act", 1, "--account", DO_0),
        "nothing in task 1 waits for you: it waits for 2 more data owner(s) to join",
    ),
    "acting without joining": (
        ("datamarket", "act", 2, "--account", DO_3),
        "did not join task 2",
    ),
    # the model owner's steps
    "aggregate by another account": (
        ("datamarket", "aggregate", 2, "--account", DO_0),
        "only the model owner of task 2",
    ),
    "aggregate with no round waiting": (
        ("datamarket", "aggregate", 1, "--account", MODEL),
        "task 1 has no round waiting for aggregation: it waits for 2 more data owner(s)",
    ),
    "finish a running task": (
        ("datamarket", "finish", 2, "--account", MODEL),
        "task 2 is running",
    ),
    "finish by another account": (
        ("datamarket", "finish", 1, "--account", DO_0),
        "only the model owner of task 1",
    ),
    # anyone
    "check an unfinalised round": (
        ("datamarket", "check", 2, 1),
        "round 1 of task 2 was not finalised, nothing to check",
    ),
    "check a round the task does not have": (
        ("datamarket", "check", 2, 2),
        "the round must be 1 to 1, got 2",
    ),
    "advance before the deadline": (
        ("datamarket", "advance", 1, "--account", STRANGER),
        "the join period of task 1 ends at",
    ),
    "advance a round waiting for the model owner": (
        ("datamarket", "advance", 2, "--account", STRANGER),
        "round 1 of task 2 waits for the model owner until",
    ),
    "claim before the deadline": (
        ("datamarket", "claim", 2, "--account", DO_0),
        "the model owner may still finalise round 1 of task 2 until",
    ),
    "claim with no round waiting": (
        ("datamarket", "claim", 1, "--account", DO_0),
        "no round of task 1 waits for aggregation",
    ),
    "withdraw with nothing owed": (
        ("datamarket", "withdraw", "--account", DO_0),
        f"the data market owes {address(DO_0)} nothing",
    ),
    # agents
    "market data owner without its part": (
        (*DO_AGENT, "--account", DO_1),
        "--data-owners N --part K",
    ),
    "part outside the cut": (
        (*DO_AGENT, "--data-owners", 3, "--part", 3, "--account", DO_1),
        "--part must be 0 to 2, got 3",
    ),
    "unknown poison": (
        (*DO_AGENT, "--data-owners", 3, "--part", 0, "--poison", "flip", "--account", DO_1),
        "no poison named 'flip'",
    ),
    "poisoning model owner": (
        (*MO_AGENT, "--dataset", "digits", "--poison", "scale", "--account", MODEL),
        "--poison is a market-data-owner option; this agent is a market-model-owner",
    ),
    "market agent without a dataset": ((*MO_AGENT, "--account", MODEL), "--dataset NAME"),
    "market model owner lacks the role": (
        (*MO_AGENT, "--dataset", "digits", "--account", DO_0),
        "a market-model-owner agent needs the model-owner role",
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


def test_json_outputs_parse(waiting: Cli) -> None:
    cli = waiting

    tasks = cli.json("datamarket", "list")
    shown = cli.json("datamarket", "show", 2)

    assert [(t["id"], t["status"], t["rule"], t["joined"], t["phase"]) for t in tasks] == [
        (1, "joining", "median", 1, None),
        (2, "running", "multikrum", 3, "aggregate"),
    ]
    assert shown["task"] == tasks[1]
    assert [m["state"] for m in shown["members"]] == ["submitted"] * 3
    [round_one] = shown["rounds"]
    assert (round_one["posts"], round_one["finalised"]) == ({"update": [0, 1, 2]}, None)
    assert shown["outcome"] is None
    assert [e["name"] for e in shown["events"]][:2] == ["TaskPosted", "Joined"]


def test_text_outputs_run(waiting: Cli) -> None:
    for args in (("list",), ("show", 1), ("show", 2)):
        assert waiting.ok("datamarket", *args).stdout
