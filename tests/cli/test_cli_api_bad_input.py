"""Bad ``mercato api`` input: one line saying what is wrong, exit 1 (2 for what the command
line itself refuses), no traceback, nothing sent, no file written.

One market serves the whole module: API 1 has just been registered (joining, nobody in);
API 2 is live (both vendors joined, the orchestrator accepted, the consumer deposited), with
no call, batch, claim, challenge or dispute yet. The chain is reverted afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mercato.chain import Anvil
from mercato.errors import MercatoError

from .api_helpers import (
    CONSUMER,
    MODEL_FILE,
    ORCHESTRATOR,
    PROVIDER,
    VENDORS,
    digits_rows,
    register_api,
    register_args,
    register_cast,
)
from .helpers import DATA, STRANGER, Cli, address, module_market

pytestmark = pytest.mark.rpc

CLINIC = Path(__file__).resolve().parents[2] / "examples" / "clinic"
NOWHERE = "http://127.0.0.1:9"
"""An orchestrator and vendor URL nobody serves: no bad command may reach it."""


@pytest.fixture(scope="module")
def apis(anvil: Anvil, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cli]:
    with module_market(anvil.url, tmp_path_factory, "cli-api-bad-input") as cli:
        register_cast(cli)
        register_api(cli, NOWHERE)
        register_api(cli, NOWHERE)
        for account in VENDORS:
            cli.ok("api", "join", 2, "--url", NOWHERE, "--account", account)
        cli.ok("api", "accept", 2, "--account", ORCHESTRATOR)
        cli.ok("api", "deposit", 2, "--amount", "0.001", "--account", CONSUMER)
        rows, _ = digits_rows(cli.home)
        np.savetxt(cli.home / "rows.csv", rows[:3], delimiter=",")
        np.savetxt(cli.home / "narrow.csv", rows[:3, :5], delimiter=",")
        (cli.home / "words.csv").write_text("a,b\nc,d\n")
        (cli.home / "rows.txt").write_text("1,2\n")
        (cli.home / "model.pkl").write_bytes(b"\x80\x04not really a pickle")
        (cli.home / "journal").write_text("")
        _forest(cli.home / "forest.skops")
        clinic = (CLINIC / "patients.csv").read_text().splitlines()
        (cli.home / "patients.csv").write_text("\n".join(clinic[:4]) + "\n")
        (cli.home / "no-bmi.csv").write_text(
            "".join(
                ",".join(c for i, c in enumerate(line.split(",")) if i != 1) + "\n"
                for line in clinic[:4]
            )
        )
        (cli.home / "bad.schema.json").write_text('{"version": 1}')
        yield cli


def _forest(path: Path) -> None:
    """A random forest of digits: two groups of trees and their combiner, three components."""
    import skops.io
    from sklearn.ensemble import RandomForestClassifier

    from mercato.ml.datasets import load_dataset

    digits = load_dataset("digits")
    forest = RandomForestClassifier(n_estimators=4, max_depth=3, random_state=0)
    skops.io.dump(forest.fit(digits.X, digits.y), path)


def _state(cli: Cli) -> tuple[Any, ...]:
    """Everything a bad command must leave as it was: head, APIs, money, local files."""
    market = cli.market()
    am = market.api_market
    cast = (PROVIDER, *VENDORS, ORCHESTRATOR, CONSUMER, STRANGER)
    files = sorted(str(p.relative_to(cli.home)) for p in cli.home.rglob("*") if p.is_file())
    return (
        market.chain.block_number(),
        [(am.api(i), am.slots(i)) for i in range(1, am.count() + 1)],
        [am.deposit_of(2, address(i)) for i in cast],
        [am.owed(address(i)) for i in cast],
        [market.chain.balance(address(i)) for i in cast],
        files,
    )


def _register(**changes: object) -> tuple[object, ...]:
    """``api register`` of the cast's API with options replaced (None: dropped)."""
    args = [str(a) for a in register_args(NOWHERE, Path(MODEL_FILE))]
    for option, value in changes.items():
        flag = "--" + option.replace("_", "-")
        at = args.index(flag)
        while flag in args:
            where = args.index(flag)
            del args[where : where + 2]
        values = () if value is None else value if isinstance(value, tuple) else (value,)
        for one in reversed(values):
            args[at:at] = [flag, str(one)]
    return tuple(args)


V0, V1 = address(VENDORS[0]), address(VENDORS[1])
CASES: dict[str, tuple[tuple[object, ...], str]] = {
    # reading
    "an unknown API": (("api", "show", 9), "no API 9 (there are 2)"),
    "batches of an unknown API": (("api", "batches", 9), "no API 9 (there are 2)"),
    # register
    "too many parts": (_register(parts=9), "--parts must be 1 to 8, got 9"),
    "a slot without a component": (_register(slot=(V0, f"{V1}:1")), f"--slot '{V0}' is not"),
    "a slot of no component": (_register(slot=(f"{V0}:0", f"{V1}:2")), "names no component"),
    "a component without a slot": (_register(slot=f"{V0}:0"), "component(s) 1 have no --slot"),
    "a forest's combiner without a slot": (
        _register(model="forest.skops"),
        "component(s) 2 have no --slot: each of the model's 3 components needs a vendor",
    ),
    "a vendor twice": (_register(slot=(f"{V0}:0", f"{V0}:1")), "holds two slots"),
    "the provider as a vendor": (
        _register(slot=(f"{V0}:0", f"{address(PROVIDER)}:1")),
        "is the provider or the orchestrator",
    ),
    "the orchestrator not an address": (
        _register(orchestrator="0x1234"),
        "--orchestrator '0x1234' is not an address",
    ),
    "one share for two components": (_register(share="1000wei"), "pass one --share per component"),
    "a price below the shares": (_register(price="1000wei"), "more than the --price"),
    "a price not an amount": (_register(price="lots"), "'lots' is not an amount"),
    "an epoch of 0 s": (_register(epoch=0), "--epoch must be 1 to"),
    "a term shorter than an epoch": (
        (*_register(), "--term", 10),
        "--term must be 600 to",
    ),
    "a pickled model": (_register(model="model.pkl"), "expected a torch state dict"),
    "a missing model": (_register(model="absent.skops"), "absent.skops: no such file"),
    "a malformed purchase": ((*_register(), "--purchase", "1:2"), "is not MARKET:REQUEST:INDEX"),
    "a purchase of no model market": (
        (*_register(), "--purchase", f"{address(STRANGER)}:1:0"),
        "no such sale",
    ),
    "a bad orchestrator URL": (_register(orchestrator_url="ftp://x"), "ftp://x"),
    "a stranger registers": (
        (*_register(account=None), "--account", STRANGER),
        "is no registered model owner or client",
    ),
    "a stranger's provider agent": (
        ("agent", "run", "--role", "api-provider", "--once", "--account", STRANGER),
        "is no registered model owner or client",
    ),
    # join and accept
    "joining without a slot": (
        ("api", "join", 1, "--url", NOWHERE, "--account", DATA),
        "hold no slot of API 1",
    ),
    "joining twice": (
        ("api", "join", 2, "--url", NOWHERE, "--account", VENDORS[0]),
        "cannot join API 2: it is live",
    ),
    "joining an unknown API": (
        ("api", "join", 3, "--url", NOWHERE, "--account", VENDORS[0]),
        "no API 3 (there are 2)",
    ),
    "a stranger accepts": (
        ("api", "accept", 1, "--account", STRANGER),
        "only the orchestrator of API 1",
    ),
    "accepting twice": (("api", "accept", 2, "--account", ORCHESTRATOR), "it is live"),
    # consumers
    "a deposit of 0": (
        ("api", "deposit", 2, "--amount", 0, "--account", CONSUMER),
        "--amount must be above 0",
    ),
    "a deposit not an amount": (
        ("api", "deposit", 2, "--amount", "x", "--account", CONSUMER),
        "'x' is not an amount",
    ),
    "a deposit by a non-client": (
        ("api", "deposit", 2, "--account", STRANGER),
        "depositing into an API needs the client role",
    ),
    "notice without a deposit": (
        ("api", "request-withdrawal", 2, "--account", STRANGER),
        "you have nothing deposited in API 2",
    ),
    "notice on a joining API": (
        ("api", "request-withdrawal", 1, "--account", CONSUMER),
        "withdraw your deposit at once",
    ),
    "a withdrawal without notice": (
        ("api", "withdraw-deposit", 2, "--account", CONSUMER),
        "give notice first (mercato api request-withdrawal 2)",
    ),
    "a withdrawal of nothing": (
        ("api", "withdraw-deposit", 1, "--account", CONSUMER),
        "you have nothing deposited in API 1",
    ),
    "a call without rows": (("api", "call", 2, "--account", CONSUMER), "pass --rows"),
    "rows and a retry": (
        ("api", "call", 2, "--rows", "rows.csv", "--retry", "--account", CONSUMER),
        "pass --rows FILE.csv|.npy for a new call, or --retry (no rows)",
    ),
    "a retry of nothing": (
        ("api", "call", 2, "--retry", "--account", CONSUMER),
        "no unanswered call of API 2 in epoch 0 to retry",
    ),
    "calling a joining API": (
        ("api", "call", 1, "--rows", "rows.csv", "--account", CONSUMER),
        "API 1 takes no calls: it is joining",
    ),
    "calling without a deposit": (
        ("api", "call", 2, "--rows", "rows.csv", "--account", STRANGER),
        "does not cover a call",
    ),
    "rows of another width": (
        ("api", "call", 2, "--rows", "narrow.csv", "--account", CONSUMER),
        "rows of 5 values; the API takes 64",
    ),
    "rows not numbers": (
        ("api", "call", 2, "--rows", "words.csv", "--account", CONSUMER),
        "not readable as numbers",
    ),
    "rows of another kind": (
        ("api", "call", 2, "--rows", "rows.txt", "--account", CONSUMER),
        "expected a .csv or .npy file",
    ),
    "missing rows": (
        ("api", "call", 2, "--rows", "absent.npy", "--account", CONSUMER),
        "absent.npy: no such file",
    ),
    "rows with a schema of other features": (  # the clinic's 6 features, not the digits' 64
        (
            "api",
            "call",
            2,
            "--rows",
            "patients.csv",
            "--schema",
            CLINIC / "patients.schema.json",
            "--account",
            CONSUMER,
        ),
        "its schema has 6 features; the API takes 64",
    ),
    "rows missing a schema's column": (
        (
            "api",
            "call",
            2,
            "--rows",
            "no-bmi.csv",
            "--schema",
            CLINIC / "patients.schema.json",
            "--account",
            CONSUMER,
        ),
        "missing column 'bmi'",
    ),
    "a malformed schema": (
        (
            "api",
            "call",
            2,
            "--rows",
            "patients.csv",
            "--schema",
            "bad.schema.json",
            "--account",
            CONSUMER,
        ),
        "bad.schema.json",
    ),
    "a schema without rows": (
        (
            "api",
            "call",
            2,
            "--retry",
            "--schema",
            CLINIC / "patients.schema.json",
            "--account",
            CONSUMER,
        ),
        "--schema describes the --rows file: pass both",
    ),
    "a challenge without a batch": (
        ("api", "challenge", 2, 0, 1, "--account", CONSUMER),
        "no batch of epoch 0 of API 2",
    ),
    "a challenge of no epoch": (
        ("api", "challenge", 2, 5, 1, "--account", CONSUMER),
        "API 2 has no epoch 5 (its last is 0)",
    ),
    "a dispute of no kept call": (
        ("api", "dispute", 2, 0, 1, "--component", 0, "--account", CONSUMER),
        "no kept call 1 of epoch 0 of API 2",
    ),
    "a claim without a journal": (
        (
            "api",
            "claim",
            2,
            0,
            address(CONSUMER),
            1,
            "--journal",
            "absent",
            "--account",
            VENDORS[0],
        ),
        "--journal absent: no such file",
    ),
    "a claim of a step not journaled": (
        (
            "api",
            "claim",
            2,
            0,
            address(CONSUMER),
            1,
            "--journal",
            "journal",
            "--account",
            VENDORS[0],
        ),
        "journals no step of call 1 of epoch 0",
    ),
    "a claim naming no consumer": (
        ("api", "claim", 2, 0, "nobody", 1, "--journal", "journal", "--account", VENDORS[0]),
        "CONSUMER 'nobody' is not an address",
    ),
    # anyone
    "advancing a live API": (("api", "advance", 2, "--account", STRANGER), "API 2 is live"),
    "advancing before the join deadline": (
        ("api", "advance", 1, "--account", STRANGER),
        "takes its parties until",
    ),
    "finalizing no batch": (
        ("api", "finalize", 2, 0, "--account", STRANGER),
        "no batch of epoch 0 of API 2 to finalize",
    ),
    "settling no claim": (("api", "settle-claim", 1, "--account", STRANGER), "no claim 1"),
    "settling no challenge": (
        ("api", "settle-challenge", 1, "--account", STRANGER),
        "no challenge 1",
    ),
    "resolving no dispute": (("api", "resolve", 1, "--account", STRANGER), "no dispute 1"),
    "releasing early": (
        ("api", "release", 2, "--account", STRANGER),
        "the last window of API 2 closes at",
    ),
    "releasing a joining API": (("api", "release", 1, "--account", STRANGER), "API 1 is joining"),
    "verifying no component": (
        ("api", "verify-component", 2, 2, "rows.csv"),
        "API 2 has 2 components, not 3",
    ),
    "verifying a missing file": (
        ("api", "verify-component", 2, 0, "absent"),
        "absent: no such file",
    ),
    "verifying another file": (
        ("api", "verify-component", 2, 0, "rows.csv"),
        "is not component 0 of API 2",
    ),
    "withdrawing nothing": (("api", "withdraw", "--account", STRANGER), "owes"),
}


@pytest.mark.parametrize(("args", "message"), CASES.values(), ids=CASES.keys())
def test_bad_input_changes_nothing(apis: Cli, args: tuple[object, ...], message: str) -> None:
    cli = apis
    before = _state(cli)

    result = cli(*args)

    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, MercatoError), repr(result.exception)
    assert message in str(result.exception)
    assert "\n" not in str(result.exception)
    assert _state(cli) == before


USAGE = {
    "API 0": ("api", "show", 0),
    "a seq of 0": ("api", "challenge", 2, 0, 0, "--account", CONSUMER),
    "register without slots": ("api", "register", "--model", MODEL_FILE, "--account", PROVIDER),
    "a negative epoch": ("api", "finalize", 2, "-1", "--account", STRANGER),
}


@pytest.mark.parametrize("args", USAGE.values(), ids=USAGE.keys())
def test_the_command_line_refuses_malformed_commands(apis: Cli, args: tuple[object, ...]) -> None:
    cli = apis
    before = _state(cli)

    result = cli(*args)

    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert _state(cli) == before
