"""The P3 cast on top of the CLI tests' market: the model owner and six more data owners.

The model owner is the cast's MODEL (account 4). Accounts 10 to 15 register as data owners
here and join tasks in that order, so member ``i`` of a task is ``DATA_OWNERS[i]``, holding
part ``i`` of the task's cut. (Digits cannot be cut for 5 data owners: see market_data.)
"""

from __future__ import annotations

from typing import Any

from .helpers import MODEL, Cli

DATA_OWNERS = (10, 11, 12, 13, 14, 15)
PER_UPDATE = 10**15
"""Wei a task of these tests pays for one update (0.001 ETH)."""


def register_data_owners(cli: Cli) -> None:
    cli.register("data-owner", *DATA_OWNERS)


def post(cli: Cli, data_owners: int, rounds: int, mode: str, *extra: object) -> dict[str, Any]:
    """``datamarket post --json`` of digits by MODEL, PER_UPDATE for each update."""
    reward = f"{PER_UPDATE * data_owners * rounds}wei"
    posted: dict[str, Any] = cli.json(
        "datamarket", "post", "--dataset", "digits", "--data-owners", data_owners,
        "--rounds", rounds, "--mode", mode, "--reward", reward, "--account", MODEL, *extra,
    )  # fmt: skip
    return posted


def join_all(cli: Cli, task_id: int, data_owners: int) -> list[dict[str, Any]]:
    """The first ``data_owners`` of DATA_OWNERS join, each with its own part."""
    joined = []
    for part, account in enumerate(DATA_OWNERS[:data_owners]):
        joined.append(cli.json("datamarket", "join", task_id, "--dataset", "digits",
                               "--part", part, "--account", account))  # fmt: skip
    return joined


def act_all(cli: Cli, task_id: int, data_owners: int) -> list[dict[str, Any]]:
    """Every member posts what the current phase asks."""
    return [
        cli.json("datamarket", "act", task_id, "--account", account)
        for account in DATA_OWNERS[:data_owners]
    ]
