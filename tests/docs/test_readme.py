"""README.md is executed: its walk-throughs run against a node, and every command it shows
parses, so the documentation cannot drift from the commands.

The walk-throughs (the ``sh`` blocks between the ``readme-test`` markers) run in order in
one bash, as a reader with ``.venv`` activated would run them in one terminal: ``mercato``
on ``PATH`` from this interpreter's environment, a temporary folder as the working folder
(and the home of every ``MERCATO_*`` setting), and a node started here with the options of
the README's own ``mercato chain up`` line (the reader starts it in another terminal).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest

from mercato.config import Settings
from mercato.protocols.catalog import units

from .readme import (
    README,
    REPO,
    blocks,
    commands_in,
    inline_commands,
    make_targets,
    walkthrough_blocks,
    words,
)
from .shell import Failure, Shell

BLOCK_TIMEOUT_S = 360.0
"""Bound on one block; the README's `wait` commands give up after 300 s."""
PYTHON_TIMEOUT_S = 120.0
DEV_ACCOUNTS = 20
"""Accounts `mercato chain up` funds (anvil's default); the walk-throughs use 0 to 18."""
KEPT_MERCATO_ENV = ("MERCATO_ANVIL", "MERCATO_CACHE_DIR")
"""Where anvil and the compiled contracts are: the machine's, not the reader's settings."""
PROTOCOL_GROUPS = tuple(u.command for u in units())


def _readme() -> str:
    return README.read_text()


# the walk-throughs ---------------------------------------------------------------------
def _node_options(text: str) -> dict[str, Any]:
    """Anvil's options from the README's `mercato chain up` line (outside the walk-throughs)."""
    lines = [
        c for b in blocks(text) if b.language == "sh" and not b.walkthrough
        for c in commands_in(b.text) if words(c)[:2] == ["chain", "up"]
    ]  # fmt: skip
    assert len(lines) == 1, f"the README should start its node with one `mercato chain up`: {lines}"
    args = words(lines[0])
    options: dict[str, Any] = {}
    if "--block-time" in args:
        options["block_time"] = int(args[args.index("--block-time") + 1])
    return options


def _reader_env(folder: Path, url: str) -> dict[str, str]:
    env = {
        name: value
        for name, value in os.environ.items()
        if not (name.startswith("MERCATO_") and name not in KEPT_MERCATO_ENV)
        and name != "ETH_RPC_URL"
    }
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.update(
        MERCATO_RPC_URL=url,
        MERCATO_DEPLOYMENT=str(folder / ".mercato" / "deployment.json"),
        MERCATO_STORE=str(folder / ".mercato" / "blobs"),
        MERCATO_AGENT_DIR=str(folder / ".mercato" / "agents"),
        MERCATO_CONFIG=str(folder / "absent.toml"),
        # the README sets it before leaving the repository's folder: the shipped example data
        examples=str(REPO / "examples"),
    )
    return env


def _waits(text: str) -> dict[str, tuple[int, str]]:
    """``{group: (id, state)}`` of each walk-through's ``mercato <group> wait ID --until S``."""
    found = {}
    for block in walkthrough_blocks(text):
        for command in commands_in(block.text):
            args = words(command)
            if len(args) > 2 and args[1] == "wait" and "--until" in args:
                found[args[0]] = (int(args[2]), args[args.index("--until") + 1])
    return found


def _start_node(options: dict[str, Any]) -> Any:
    from mercato.chain.anvil import Anvil
    from mercato.errors import ConfigError

    try:
        return Anvil(**options).start()
    except ConfigError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the rpc tier, but anvil is missing: {exc}", pytrace=False)
        pytest.skip(f"anvil not installed: {exc}")


def _run_walkthroughs(folder: Path, url: str, text: str) -> list[str]:
    """Run every walk-through block; one message per failed block (and what it skipped)."""
    problems: list[str] = []
    shell = Shell(folder, _reader_env(folder, url))
    failed: Failure | None = None
    skipped: list[str] = []
    try:
        for block in walkthrough_blocks(text):
            if failed is not None and block.section == failed.block.section:
                skipped.append(f"line {block.line}")
                continue
            if failed is not None:
                problems.append(_report(failed, skipped))
                failed, skipped = None, []
            failed = shell.run(block, BLOCK_TIMEOUT_S)
        if failed is not None:
            problems.append(_report(failed, skipped))
    finally:
        shell.kill()
        for block, seconds in shell.timings:  # shown with -s, or when the test fails
            print(f"{seconds:6.1f} s  {block.where()}")
    return problems


def _report(failure: Failure, skipped: list[str]) -> str:
    after = f"\n(then skipped the section's blocks at {', '.join(skipped)})" if skipped else ""
    return f"{failure}{after}"


def _unpaid(folder: Path, url: str, waits: dict[str, tuple[int, str]]) -> list[str]:
    """What the chain shows against the README's promise: each wait's state, nothing owed."""
    from mercato.chain.accounts import dev_account
    from mercato.chain.rpc import RpcChain
    from mercato.protocols.deployment import Deployment
    from mercato.protocols.marketplace import Marketplace
    from mercato.storage.base import open_store

    chain = RpcChain(url)
    try:
        deployment = Deployment.load(folder / ".mercato" / "deployment.json")
        market = Marketplace(chain, deployment, open_store(str(folder / ".mercato" / "blobs")))
        readers = {u.command: market.wrapper(u.field).state for u in units()}
        problems = [
            f"{group} {ident} is {readers[group](ident)}, not {state}"
            for group, (ident, state) in waits.items()
            if readers[group](ident) != state.replace("-", " ")
        ]
        payers = {u.payer: market.wrapper(u.field) for u in units()}
        for index in range(DEV_ACCOUNTS):
            address = dev_account(index).address
            problems += [
                f"the {name} still owes account {index} ({address}) {owed} wei"
                for name, payer in payers.items()
                if (owed := payer.owed(address))
            ]
        return problems
    finally:
        chain.close()


@pytest.mark.slow
@pytest.mark.rpc
def test_walkthroughs_run_to_everyone_paid(tmp_path: Path) -> None:
    text = _readme()
    waits = _waits(text)
    assert sorted(waits) == sorted(PROTOCOL_GROUPS), (
        f"each protocol's walk-through should end with `mercato <group> wait`: {waits}"
    )
    node = _start_node(_node_options(text))
    try:
        failures = _run_walkthroughs(tmp_path, node.url, text)
        assert not failures, "\n\n".join(["README walk-through blocks failed:", *failures])
        problems = _unpaid(tmp_path, node.url, waits)
    finally:
        node.stop()
    assert not problems, "after the walk-throughs:\n" + "\n".join(problems)
    _check_exports(tmp_path, text)


EXPORTS = {  # the model file each walk-through exports, and the agent log with its verdict
    "model.skops": ("logs/p1-client.log", r"accuracy (\d\.\d{3}) >= [\d.]+ required: confirm"),
    "clinic-model.safetensors": (
        "logs/p2-model-owner.log",
        r"training 1 round 2: .*; accuracy (\d\.\d{3}) on",
    ),
}
"""The issue's promise: the exported model scores on the buyer's held-out rows what the
protocol reported before it paid (the agents log accuracies with three decimals)."""
HOLDOUT_ROWS = 200
"""Rows of examples/clinic/holdout.csv, the buyers' held-out patients."""


def _check_exports(folder: Path, text: str) -> None:
    """Each export the README shows: its model and metrics files in the reader's folder, what
    `mercato model score` measures again from the file, and the accuracy its agent logged,
    agree."""
    import json

    holdout = REPO / "examples" / "clinic" / "holdout.csv"
    schema = REPO / "examples" / "clinic" / "patients.schema.json"
    for name, (log, pattern) in EXPORTS.items():
        assert f"--out {name}" in text, f"the README no longer exports {name}"
        model = folder / name
        metrics_file = model.with_name(model.stem + ".metrics.json")
        assert model.is_file(), f"the walk-through wrote no {name}"
        assert metrics_file.is_file(), f"the walk-through wrote no {metrics_file.name}"
        metrics = json.loads(metrics_file.read_text())
        scored = subprocess.run(
            [str(Path(sys.executable).parent / "mercato"), "model", "score", str(model), "--data",
             str(holdout), "--schema", str(schema), "--json"],
            capture_output=True, text=True, check=True, timeout=PYTHON_TIMEOUT_S,
        )  # fmt: skip
        rescored = json.loads(scored.stdout)
        logged = re.findall(pattern, (folder / log).read_text())
        accuracy = metrics["metrics"]["accuracy"]
        assert metrics["measured_on"]["rows"] == HOLDOUT_ROWS, metrics
        assert rescored["measured_on"] == metrics["measured_on"], (rescored, metrics)
        assert rescored["metrics"] == metrics["metrics"], (rescored, metrics)
        assert logged, f"{log} holds no line matching {pattern!r}"
        assert logged[-1] == f"{accuracy:.3f}", (name, accuracy, log, logged)


# every command the README shows ---------------------------------------------------------
def _options(command: Any) -> set[str]:
    return {"--help", *(opt for p in command.params for opt in (*p.opts, *p.secondary_opts))}


def check_command(args: list[str], *, full: bool) -> str | None:
    """Why ``mercato <args>`` is no valid command, or None. ``full`` parses the values too
    (types, required options); otherwise only the command path and option names count."""
    from typer.main import get_command

    from mercato.cli.app import app

    command: Any = get_command(app)
    name, index = "mercato", 0
    while hasattr(command, "commands"):  # a group: its options, then a subcommand
        while index < len(args) and args[index].startswith("-"):
            if args[index].split("=")[0] not in _options(command):
                return f"`{name}` has no option {args[index]}"
            index += 1
        if index == len(args) or args[index] == "...":  # prose: `mercato datamarket ...`
            return None
        sub = command.commands.get(args[index])
        if sub is None:
            known = ", ".join(sorted(command.commands))
            return f"`{name}` has no command '{args[index]}' (it has {known})"
        command, name, index = sub, f"{name} {args[index]}", index + 1
    rest = args[index:]
    if not full or "--help" in rest:
        allowed = _options(command)
        unknown = [a for a in rest if a.startswith("--") and a.split("=")[0] not in allowed]
        return f"`{name}` has no option {unknown[0]}" if unknown else None
    try:
        command.make_context(name, list(rest))
    except Exception as exc:  # click's or typer's own click: a usage error either way
        show = getattr(exc, "format_message", None)
        return f"`{name}`: {show() if show else exc}"
    return None


@pytest.mark.parametrize(
    "document", [README, *sorted((REPO / "docs").glob("*.md"))], ids=lambda p: p.name
)
def test_every_mercato_command_shown_parses(document: Path) -> None:
    text = document.read_text()
    problems = []
    for block in blocks(text):
        if block.language != "sh":
            continue
        for command in commands_in(block.text):
            problem = check_command(words(command), full=True)
            if problem:
                where = block.where().replace("README.md", document.name)
                problems.append(f"{where}: {command}\n    {problem}")
    for command in inline_commands(text):
        problem = check_command(words(command), full=False)
        if problem:
            problems.append(f"{document.name} prose: `{command}`\n    {problem}")
    assert not problems, f"commands {document.name} shows do not parse:\n" + "\n".join(problems)


def test_make_targets_exist() -> None:
    makefile = (REPO / "Makefile").read_text()
    targets = set(re.findall(r"^([\w.-]+):", makefile, flags=re.M))
    missing = [t for t in make_targets(_readme()) if t not in targets]
    assert not missing, f"the README runs make targets the Makefile lacks: {missing}"


def test_the_reader_activates_the_virtual_environment() -> None:
    before = _readme().split("<!-- readme-test: begin")[0]
    assert "source .venv/bin/activate" in before  # the test puts .venv/bin on PATH likewise


def test_configuration_shows_every_setting_and_variable() -> None:
    text = _readme()
    [toml] = [b for b in blocks(text) if b.language == "toml"]
    assert set(tomllib.loads(toml.text)) == {f.name for f in fields(Settings)}
    sources = "\n".join(p.read_text() for p in (REPO / "src" / "mercato").rglob("*.py"))
    variables = set(re.findall(r"\bMERCATO_[A-Z0-9_]*[A-Z0-9]\b", sources))
    variables |= {f"MERCATO_{f.name.upper()}" for f in fields(Settings)}
    missing = sorted(v for v in variables if v not in text)
    assert not missing, f"environment variables the README does not describe: {missing}"


def test_python_examples_run(tmp_path: Path) -> None:
    examples = [b for b in blocks(_readme()) if b.language == "python"]
    assert examples, "the README should show the Python API"
    for block in examples:
        script = tmp_path / f"example-{block.line}.py"
        script.write_text(block.text)
        env = {k: v for k, v in os.environ.items() if not k.startswith("MERCATO_")}
        result = subprocess.run(
            [sys.executable, str(script)],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=PYTHON_TIMEOUT_S,
        )
        assert result.returncode == 0, (
            f"{block.where()} failed ({result.returncode}):\n{block.text}\n"
            f"{result.stdout}{result.stderr}"
        )
