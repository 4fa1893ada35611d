"""Generated arguments for every command (hypothesis): one error line, never a traceback, and
the chain unchanged.

The commands are those test_cli_usage.py finds by walking the app. For each, hypothesis
draws values for its arguments and some of its options, by type: ids and counts that are
negative, zero, huge or past uint256; floats that are NaN, infinite or negative; text that is
random unicode, a malformed address or hex string, or a number out of range; paths that are
missing, a folder, or a file of garbage; flags on or off; and sometimes a valid account, so
that a command that signs gets past choosing its signer. Each run must exit 1 with exactly
one ``error: ...`` line that is not an internal error, or 2 with click's usage message (or 0
for a command that only reads), and leave the chain as it was: the same block number and
the same balance of every contract of the market.

Commands that serve, poll or run for long (demo, serve, chain up, agents, benchmarks, wait)
and ``deploy`` (whose options are all optional, so that valid values deploy a market) also
get an unknown option, so click refuses them while parsing and nothing starts.

One market on the session's anvil serves the module (tests/cli/helpers.module_market); the
runs go through ``main()`` in this process.
"""

from __future__ import annotations

import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mercato.chain import Anvil
from mercato.chain.rpc import RpcChain
from mercato.protocols.deployment import Deployment

from .helpers import Cli, module_market
from .test_cli_usage import COMMANDS, GROUPS, Run, _is_usage_error, run_mercato

pytestmark = pytest.mark.rpc

EXAMPLES = 3
"""Generated runs per command (about 110 commands)."""
POISON = "--fuzz-no-such-option"
"""What keeps a long-running command from starting: click refuses it while parsing."""
LONG_RUNNING = {("demo",), ("serve",), ("chain", "up"), ("agent", "run"), ("deploy",)}
"""Commands refused while parsing; ``deploy`` too: every option of it is optional, so
generated values it accepts deploy a new market (a change of the chain it should make)."""
LONG_RUNNING_GROUPS = {"bench", "vendor", "orchestrator"}
READ_ONLY_SIGNERS = {"status", "audit"}
"""Commands that take an account only to read (what it may open), never to send."""
CAST = range(8)
"""Development accounts of the market's cast (tests/cli/helpers.py)."""

LEAVES = [path for path in COMMANDS if path not in GROUPS]


# what a run may print -------------------------------------------------------------------------
def is_one_error_line(run: Run) -> bool:
    """Exit status 1 and one ``error: ...`` line that names what was wrong."""
    lines = run.err_lines
    return (
        run.status == 1
        and len(lines) == 1
        and lines[0].startswith("error: ")
        and not lines[0].startswith("error: internal error")
    )


def long_running(path: tuple[str, ...]) -> bool:
    return path in LONG_RUNNING or path[0] in LONG_RUNNING_GROUPS or path[-1] == "wait"


def read_only(path: tuple[str, ...]) -> bool:
    """Whether ``path`` cannot send a transaction (it signs nothing, or signs only to read)."""
    options = {opt for param in COMMANDS[path].params for opt in getattr(param, "opts", [])}
    signs = "--account" in options or "--keystore" in options
    return not signs or path[0] in READ_ONLY_SIGNERS or path[-1] in READ_ONLY_SIGNERS


# values by type -------------------------------------------------------------------------------
def kinds(param: Any) -> set[Any]:
    """The Python types ``param``'s annotation names (through Optional, Annotated, list)."""
    descriptor = getattr(param, "type_descriptor", None)
    found: set[Any] = set()
    pending: list[Any] = [getattr(descriptor, "annotation", None)]
    seen: set[int] = set()
    while pending:
        kind = pending.pop()
        if id(kind) in seen:
            continue
        seen.add(id(kind))
        if isinstance(kind, type):
            found.add(kind)
        found.add(typing.get_origin(kind))
        pending.extend(typing.get_args(kind))
    return found


characters = st.characters(exclude_characters="\x00", exclude_categories=["Cs"])
unicode_text = st.text(characters, max_size=24)
bad_ints = st.one_of(
    st.integers(min_value=-(2**70), max_value=0),
    st.integers(min_value=2**31, max_value=2**300),
    st.sampled_from([2**63, 2**64, 2**256 - 1, 2**256]),
    st.integers(min_value=1, max_value=9),  # ids that exist or not, small counts
).map(str)
bad_floats = st.one_of(
    st.sampled_from(["nan", "inf", "-inf", "1e999", "-1e999", "-0.0", "1e-400"]),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
)
MALFORMED = [
    "0x", "0x123", "0x" + "zz" * 20, "0x" + "ab" * 21,
    "0x70997970c51812DC3a010C7d01b50e0d17dc79c8",  # a checksum gone wrong
    "0x" + "00" * 20, "-1", "1e999", "nan", "1" * 90, "0.1.2", "1,,2", "ünïcødé",
    "http://", "ftp://x", "data:x", "../..", "0", "",
]  # fmt: skip
bad_text = st.one_of(unicode_text, st.sampled_from(MALFORMED), bad_ints)
accounts = st.one_of(st.sampled_from([str(i) for i in CAST]), bad_ints)


def bad_paths(home: Path) -> st.SearchStrategy[str]:
    """Missing files, a folder, a file of garbage, odd names."""
    return st.one_of(
        st.just(str(home / "missing" / "file.json")),
        st.just(str(home)),
        st.just(str(home / "garbage.bin")),
        unicode_text.filter(lambda name: name.strip() != "").map(lambda n: f"absent-{n}"),
    )


def value_for(param: Any, home: Path) -> st.SearchStrategy[str]:
    """A generated value for one argument or option."""
    found = kinds(param)
    if "--account" in getattr(param, "opts", []):
        return accounts
    if Path in found:
        return bad_paths(home)
    if float in found:
        return bad_floats
    if int in found:
        return bad_ints
    return bad_text


@st.composite
def command_line(draw: st.DrawFn, path: tuple[str, ...], home: Path) -> list[str]:
    """Arguments and options for the command at ``path``."""
    args = list(path)
    command = COMMANDS[path]
    for param in command.params:
        if param.param_type_name == "argument":
            args.append(draw(value_for(param, home)))
            continue
        if not param.required and not draw(st.booleans()):
            continue
        option = param.opts[0]
        if param.is_flag:
            args.append(option)
            continue
        repeats = draw(st.integers(1, 2)) if param.multiple else 1
        for _ in range(repeats):
            args += [option, draw(value_for(param, home))]
    if long_running(path):
        args.append(POISON)
    return args


# the market -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def market(anvil: Anvil, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cli]:
    """A deployed market with its cast registered, and a file of garbage in its folder."""
    with module_market(anvil.url, tmp_path_factory, "cli-fuzz") as cli:
        (cli.home / "garbage.bin").write_bytes(bytes(range(256)) * 4)
        yield cli


def chain_state(cli: Cli) -> tuple[int, dict[str, int]]:
    """The head's number and the balance of every contract of the market."""
    deployment = Deployment.load(cli.home / "deployment.json")
    chain = RpcChain(cli.url)
    try:
        addresses = {"registry": deployment.registry, **deployment.markets}
        return chain.block_number(), {k: chain.balance(a) for k, a in addresses.items()}
    finally:
        chain.close()


# the test -------------------------------------------------------------------------------------
def test_every_command_is_walked() -> None:
    assert len(LEAVES) > 50
    assert ("auction", "bid") in LEAVES and ("api", "register") in LEAVES


@pytest.mark.parametrize("path", LEAVES, ids=" ".join)
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_generated_arguments_fail_in_one_line_and_change_nothing(
    path: tuple[str, ...],
    data: st.DataObject,
    market: Cli,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # prepare
    args = data.draw(command_line(path, market.home), label="args")
    before = chain_state(market)

    # act
    run = run_mercato(monkeypatch, capsys, args)

    # assert
    assert "Traceback" not in run.out + run.err, run
    if run.status == 2:
        assert _is_usage_error(run), run
    elif run.status == 0:
        assert read_only(path), run
    else:
        assert is_one_error_line(run), run
    assert chain_state(market) == before
