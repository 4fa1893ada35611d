"""The command line starts fast: importing it, any help, and a command that only reads a node
load no heavy dependency.

Each check runs in a fresh interpreter, since this test process has long imported them all.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from .helpers import DEPLOYER, Cli

HEAVY = ["sklearn", "torch", "tenseal", "vyper", "rdflib", "web3"]
"""What only the commands that train, compile or talk to a node may load."""
READ_HEAVY = [*HEAVY, "eth_account", "boa"]
"""What a command that only reads a node may not load either: no keys to sign with, no EVM."""

PROGRAM = """
import json, sys
from mercato.cli.app import app
args = json.loads(sys.argv[1])
if args is not None:
    try:
        app(args, standalone_mode=False)
    except SystemExit:
        pass
loaded = {name.split(".")[0] for name in sys.modules}
print(json.dumps(sorted(loaded & set(json.loads(sys.argv[2])))))
"""


@pytest.mark.parametrize(
    "args",
    [
        None,
        ["--help"],
        ["auction", "--help"],
        ["auction", "create", "--help"],
        ["training", "dataset", "offer", "--help"],
        ["training", "model", "--help"],
        ["datamarket", "post", "--help"],
        ["agent", "run", "--help"],
        ["audit", "training", "--help"],
        ["bench", "datamarket", "--help"],
        ["demo", "--help"],
    ],
    ids=lambda args: "import" if args is None else " ".join(args),
)
def test_the_cli_loads_no_heavy_dependency(args: list[str] | None) -> None:
    # act
    result = subprocess.run(
        [sys.executable, "-c", PROGRAM, json.dumps(args), json.dumps(HEAVY)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )

    # assert
    assert json.loads(result.stdout.splitlines()[-1]) == []


@pytest.mark.rpc
@pytest.mark.parametrize(
    "args",
    [
        ["auction", "list", "--json"],
        ["training", "list", "--json"],
        ["training", "dataset", "list", "--json"],
        ["datamarket", "list", "--json"],
    ],
    ids=" ".join,
)
def test_reading_a_node_loads_no_heavy_dependency(cli: Cli, args: list[str]) -> None:
    # prepare: a market on the session's anvil; its contracts compiled, so cached on disk
    cli.ok("deploy", "--account", DEPLOYER)

    # act: settings and working directory come from the fixture, through the environment
    result = subprocess.run(
        [sys.executable, "-c", PROGRAM, json.dumps(args), json.dumps(READ_HEAVY)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )

    # assert: the command read the (empty) market from the node, with none of them loaded
    *output, loaded = result.stdout.splitlines()
    assert json.loads("\n".join(output)) == []
    assert json.loads(loaded) == []
