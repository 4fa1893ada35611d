"""Usage errors and bad input through ``main()``, as a user meets them: one line, never a traceback.

Every command of the app is found by walking the click tree typer builds, so commands added
later are covered without being named here. Nothing needs a node: each case fails while
parsing, or on its input before any chain is touched.
"""

from __future__ import annotations

import subprocess
import sys
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
import typer

from mercato.chain.accounts import KEY_ENV, SECP256K1_ORDER, account_from_env, dev_account
from mercato.chain.factory import check_rpc_url, connect
from mercato.cli.app import app, main
from mercato.cli.common import account, parse_amount
from mercato.config import load_settings
from mercato.errors import ConfigError, InputError

ADDRESS = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
NOT_A_NUMBER = "notanumber"
NUMERIC = (int, float)
NUMERIC_CLICK_TYPES = ("integer", "float", "integer range", "float range")


@dataclass(frozen=True)
class Run:
    """What one ``mercato ...`` printed and its exit status."""

    status: int
    out: str
    err: str

    @property
    def err_lines(self) -> list[str]:
        return [line for line in self.err.splitlines() if line.strip()]


@pytest.fixture(autouse=True)
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No setting from the machine running the tests: a folder of its own, no node, no key."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MERCATO_CONFIG", str(tmp_path / "absent.toml"))
    monkeypatch.setenv("MERCATO_DEPLOYMENT", str(tmp_path / "deployment.json"))
    monkeypatch.setenv("MERCATO_STORE", str(tmp_path / "blobs"))
    monkeypatch.setenv("MERCATO_AGENT_DIR", str(tmp_path / "agents"))
    for name in ("MERCATO_RPC_URL", "ETH_RPC_URL", "MERCATO_BACKEND", KEY_ENV, "MERCATO_DEBUG"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def mercato(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> typing.Callable[..., Run]:
    """Run ``mercato *args`` through the installed entry point, in this process."""

    def run(*args: object) -> Run:
        return run_mercato(monkeypatch, capsys, args)

    return run


def run_mercato(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    args: typing.Sequence[object],
) -> Run:
    """``mercato *args`` through the entry point, in this process."""
    capsys.readouterr()
    monkeypatch.setattr(sys, "argv", ["mercato", *(str(a) for a in args)])
    try:
        main()
    except SystemExit as exc:
        status = exc.code if isinstance(exc.code, int) else 1
    else:
        status = 0
    captured = capsys.readouterr()
    return Run(status, captured.out, captured.err)


# the command tree -------------------------------------------------------------------------


def _walk(command: Any, path: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], Any]]:
    yield path, command
    if hasattr(command, "list_commands"):
        ctx = typer.Context(command, info_name=path[-1] if path else "mercato")
        for name in command.list_commands(ctx):
            yield from _walk(command.get_command(ctx, name), (*path, name))


COMMANDS = dict(_walk(typer.main.get_command(app), ()))
GROUPS = [path for path, command in COMMANDS.items() if hasattr(command, "list_commands")]


def _numeric(param: Any) -> bool:
    """Whether ``param`` takes an int or a float (click's own types, or typer 0.29's)."""
    if getattr(param, "is_flag", False) or getattr(param, "count", False):
        return False
    click_type = getattr(getattr(param, "type", None), "name", "")
    if click_type in NUMERIC_CLICK_TYPES:
        return True
    descriptor = getattr(param, "type_descriptor", None)
    annotation = getattr(descriptor, "annotation", None)
    pending, seen = [annotation], set()
    while pending:  # through Optional, Annotated, list[...]
        kind = pending.pop()
        if kind in NUMERIC:
            return True
        if id(kind) not in seen:
            seen.add(id(kind))
            pending.extend(typing.get_args(kind))
    return False


def _filler(param: Any) -> str:
    """A value a positional argument before the one under test accepts while parsing."""
    return "1" if _numeric(param) else "x"


def _numeric_cases() -> Iterator[Any]:
    for path, command in COMMANDS.items():
        arguments = [p for p in command.params if p.param_type_name == "argument"]
        for param in command.params:
            if not _numeric(param):
                continue
            if param.param_type_name == "argument":
                before = [_filler(p) for p in arguments[: arguments.index(param)]]
                args = (*path, *before, NOT_A_NUMBER)
                named = param.name
            else:
                args = (*path, param.opts[0], NOT_A_NUMBER)
                named = param.opts[0]
            yield pytest.param(args, named, id=" ".join((*path, named)))


def _negative_argument_cases() -> Iterator[Any]:
    for path, command in COMMANDS.items():
        arguments = [p for p in command.params if p.param_type_name == "argument"]
        for index, param in enumerate(arguments):
            if _numeric(param):
                before = [_filler(p) for p in arguments[:index]]
                yield pytest.param((*path, *before, "-5"), id=" ".join((*path, param.name)))


def _is_usage_error(run: Run) -> bool:
    """Click's message: usage, the help hint, then one ``Error: ...`` line; exit status 2."""
    lines = run.err_lines
    return (
        run.status == 2
        and "Traceback" not in run.err + run.out
        and any(line.startswith("Usage: ") for line in lines)
        and [line for line in lines if line.startswith("Error: ")] == lines[-1:]
    )


def test_the_walk_finds_the_groups_and_their_commands() -> None:
    assert {("auction",), ("training",), ("datamarket",)} <= set(GROUPS)
    assert ("auction", "bid") in COMMANDS
    assert len(COMMANDS) > 2 * len(GROUPS)


@pytest.mark.parametrize("path", list(COMMANDS), ids=lambda p: " ".join(p) or "mercato")
def test_unknown_option_is_a_usage_error(path: tuple[str, ...], mercato: Any) -> None:
    run = mercato(*path, "--no-such-option")

    assert _is_usage_error(run), run
    assert run.err_lines[-1].startswith("Error: No such option: --no-such-option")


@pytest.mark.parametrize(("args", "named"), list(_numeric_cases()))
def test_badly_typed_number_is_a_usage_error(
    args: tuple[str, ...], named: str, mercato: Any
) -> None:
    run = mercato(*args)

    assert _is_usage_error(run), run
    assert "Invalid value for" in run.err_lines[-1] and named in run.err_lines[-1], run


@pytest.mark.parametrize("args", list(_negative_argument_cases()))
def test_negative_id_says_ids_are_positive(args: tuple[str, ...], mercato: Any) -> None:
    run = mercato(*args)

    assert _is_usage_error(run), run
    assert "positive integers" in run.err_lines[-1], run


@pytest.mark.parametrize("path", GROUPS, ids=lambda p: " ".join(p) or "mercato")
def test_bare_group_shows_its_help(path: tuple[str, ...], mercato: Any) -> None:
    run = mercato(*path)

    assert run.status == 2  # as click >= 8.2 does for no_args_is_help
    assert "Usage:" in run.out + run.err
    assert "Traceback" not in run.out + run.err


def test_unknown_command_and_missing_argument(mercato: Any) -> None:
    unknown = mercato("nosuchcmd")
    missing = mercato("auction", "show")

    assert _is_usage_error(unknown) and "No such command 'nosuchcmd'" in unknown.err
    assert _is_usage_error(missing) and "Missing argument" in missing.err


def test_usage_errors_of_a_click_main_does_not_know_by_class(
    mercato: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("mercato.cli.app.CLICK_ERRORS", ())  # another click than typer's

    run = mercato("auction", "--no-such-option")

    assert _is_usage_error(run), run


def test_the_installed_script_reports_usage_errors_in_one_line(tmp_path: Path) -> None:
    script = Path(sys.executable).with_name("mercato")
    if not script.is_file():
        pytest.skip("the mercato script is not installed beside this interpreter")

    done = subprocess.run(
        [str(script), "datamarket", "show", "-5"], capture_output=True, text=True, timeout=60
    )

    assert done.returncode == 2
    assert done.stderr.splitlines()[-1].startswith("Error: No such option: -5 (ids")
    assert "Traceback" not in done.stderr


# root options -------------------------------------------------------------------------


def test_version(mercato: Any) -> None:
    run = mercato("--version")

    assert (run.status, run.out) == (0, f"mercato {version('mercato')}\n")


def test_show_completion_for_bash() -> None:
    # the installed command as a reader runs it, from bash: typer shows the completion of
    # the shell it finds among the process's parents (run straight from a test process, it
    # finds none and says "Shell  not supported"). The `exit` keeps bash from exec-ing it.
    command = Path(sys.executable).with_name("mercato")
    run = subprocess.run(
        ["bash", "-c", '"$0" --show-completion; exit $?', str(command)],
        capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip

    assert run.returncode == 0, run
    assert "_MERCATO_COMPLETE" in run.stdout
    assert "Traceback" not in run.stderr


BAD_NODE = ("auction", "list", "--rpc-url", "ftp://x")


def test_errors_are_one_line_without_debug(mercato: Any) -> None:
    run = mercato(*BAD_NODE)

    assert run.status == 1
    assert len(run.err_lines) == 1
    assert run.err_lines[0].startswith("error: 'ftp://x' is not a node URL")


def test_debug_option_adds_the_traceback(mercato: Any) -> None:
    run = mercato("--debug", *BAD_NODE)

    assert run.status == 1
    assert "Traceback (most recent call last)" in run.err
    assert run.err_lines[-1].startswith("error: 'ftp://x' is not a node URL")


def test_debug_variable_adds_the_traceback(mercato: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MERCATO_DEBUG", "1")

    run = mercato(*BAD_NODE)

    assert run.status == 1
    assert "Traceback (most recent call last)" in run.err


def test_unexpected_exception_is_one_line(mercato: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(url: str) -> str:
        raise ZeroDivisionError("boom")

    monkeypatch.setattr("mercato.chain.factory.check_rpc_url", broken)

    run = mercato("auction", "list", "--rpc-url", "http://127.0.0.1:1")
    debug = mercato("--debug", "auction", "list", "--rpc-url", "http://127.0.0.1:1")

    assert (run.status, run.err_lines) == (
        1,
        ["error: internal error: ZeroDivisionError: boom (rerun with --debug for the traceback)"],
    )
    assert debug.status == 1 and "Traceback" in debug.err and "ZeroDivisionError" in debug.err


def test_ctrl_c_is_one_line_and_status_130(mercato: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(url: str) -> str:
        raise KeyboardInterrupt

    monkeypatch.setattr("mercato.chain.factory.check_rpc_url", interrupted)

    run = mercato("auction", "list", "--rpc-url", "http://127.0.0.1:1")

    assert (run.status, run.err_lines) == (130, ["error: interrupted"])


def test_debug_flag_does_not_outlive_its_run(mercato: Any) -> None:
    mercato("--debug", *BAD_NODE)

    run = mercato(*BAD_NODE)

    assert "Traceback" not in run.err


# amounts ------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["nan", "NaN", "snan", "inf", "-inf", "infinity", "1e999999"])
def test_non_finite_or_huge_amount_is_refused(text: str) -> None:
    with pytest.raises(InputError, match=f"'{text}' is (not an amount|more wei than)"):
        parse_amount(text)


@pytest.mark.parametrize(
    ("text", "wei"), [("0.5", 5 * 10**17), ("20gwei", 20 * 10**9), ("1000wei", 1000), ("0", 0)]
)
def test_amounts_still_parse(text: str, wei: int) -> None:
    assert parse_amount(text) == wei


@pytest.mark.parametrize(
    ("text", "problem"),
    [("-1", "negative"), ("1e-999999", "whole number of wei"), ("1e60", "uint256")],
)
def test_amount_out_of_range_is_refused(text: str, problem: str) -> None:
    with pytest.raises(InputError, match=problem):
        parse_amount(text)


@pytest.fixture
def requirements_file(tmp_path: Path) -> Path:
    from mercato.ontology.requirements import Requirements

    document = Requirements(
        data="mc:LabelledImages",
        algorithm="mc:ClassificationAlgorithm",
        infrastructure="mc:AttestedCompute",
        task="classify digits",
        metric="accuracy",
        minimum=0.9,
    )
    path = tmp_path / "req.json"
    path.write_bytes(document.to_json_bytes())
    return path


def _create(requirements: Path, max_prices: str) -> tuple[object, ...]:
    return ("auction", "create", "--requirements", requirements, "--max-prices", max_prices,
            "--arbiter", ADDRESS, "--account", 1)  # fmt: skip


def test_non_finite_amounts_on_the_command_line(mercato: Any, requirements_file: Path) -> None:
    prices = mercato(*_create(requirements_file, "1,1,nan"))
    bid = mercato("auction", "bid", 1, "--category", "data", "--amount", "inf", "--account", 1)

    assert (prices.status, prices.err_lines) == (
        1,
        ["error: 'nan' is not an amount (examples: 0.5, 0.5eth, 20gwei, 1000wei)"],
    )
    assert (bid.status, bid.err_lines) == (
        1,
        ["error: 'inf' is not an amount (examples: 0.5, 0.5eth, 20gwei, 1000wei)"],
    )


def test_price_cap_message_is_in_ether(mercato: Any, requirements_file: Path) -> None:
    run = mercato(*_create(requirements_file, "1,1,40000000"))

    assert (run.status, run.err_lines) == (
        1,
        [
            "error: the infrastructure maximum price must be above 0 and at most "
            "38685626.227668133590597631 ETH, got 40000000 ETH"
        ],
    )


# node URLs ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://[::1", "invalid IPv6 URL"),
        ("ftp://x", "over HTTP, not ftp://"),
        ("localhost:8545", "Did you mean 'http://localhost:8545'"),
        ("http://x:99999", "port out of range"),
        ("http://:8545", "no host"),
    ],
)
def test_bad_node_url_is_one_line(url: str, problem: str, mercato: Any) -> None:
    run = mercato("auction", "list", "--rpc-url", url)

    assert run.status == 1
    assert len(run.err_lines) == 1 and run.err_lines[0].startswith(f"error: '{url}' is not")
    assert problem in run.err and "http://127.0.0.1:8545" in run.err


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8545", "https://node.example/v3/k", "http://[::1]:1"]
)
def test_good_node_urls_pass(url: str) -> None:
    assert check_rpc_url(url) == url


def test_a_bad_url_is_refused_by_the_rpc_chain_itself() -> None:
    from mercato.chain.rpc import RpcChain

    with pytest.raises(ConfigError, match="is not a node URL"):
        RpcChain("http://[::1")


def test_eth_rpc_url_is_read_when_mercato_rpc_url_is_not(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ETH_RPC_URL", "http://eth.example:8545")
    alone = load_settings()
    monkeypatch.setenv("MERCATO_RPC_URL", "http://mercato.example:8545")
    both = load_settings()

    assert alone.rpc_url == "http://eth.example:8545"
    assert both.rpc_url == "http://mercato.example:8545"


def test_eth_rpc_url_reaches_the_rpc_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ETH_RPC_URL", "ftp://from-eth-rpc-url")

    with pytest.raises(ConfigError, match="'ftp://from-eth-rpc-url' is not a node URL"):
        connect("rpc")


def test_rpc_url_help_names_both_variables() -> None:
    helps = {
        param.help
        for command in COMMANDS.values()
        for param in command.params
        if "--rpc-url" in getattr(param, "opts", []) and "MERCATO_RPC_URL" in (param.help or "")
    }

    assert helps and all("ETH_RPC_URL" in h for h in helps)


# accounts -----------------------------------------------------------------------------


def test_huge_account_index_is_a_usage_error(mercato: Any) -> None:
    run = mercato("auction", "bid", 1, "--category", "data", "--amount", "1",
                  "--account", 1099511627776)  # fmt: skip

    assert _is_usage_error(run), run
    assert "0 to 2147483647 (BIP-32, non-hardened)" in run.err_lines[-1]


@pytest.mark.parametrize("index", [-1, 2**31, 1099511627776])
def test_account_index_out_of_range_is_refused(index: int) -> None:
    with pytest.raises(InputError, match="BIP-32"):
        account(index)
    with pytest.raises(InputError, match="BIP-32"):
        dev_account(index)


@pytest.mark.parametrize(
    "key", ["0x" + "00" * 32, hex(SECP256K1_ORDER), "0x" + "ff" * 32, "0x1234", "nothex"]
)
def test_invalid_private_key_says_what_a_key_is(key: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, key)

    with pytest.raises(ConfigError) as raised:
        account_from_env()

    assert str(raised.value) == (
        "MERCATO_PRIVATE_KEY is not a valid secp256k1 private key "
        "(0x + 64 hex digits, not zero, below the curve order)"
    )


def test_largest_private_key_is_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, f"0x{SECP256K1_ORDER - 1:064x}")

    assert account_from_env().address.startswith("0x")


def test_missing_keystore_says_the_file_is_missing(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^no keystore file at .*absent\.json$"):
        account(None, tmp_path / "absent.json")


def test_keystore_folder_or_other_json_is_named(tmp_path: Path) -> None:
    (tmp_path / "other.json").write_text('{"not": "a keystore"}')

    with pytest.raises(ConfigError, match="is a folder"):
        account(None, tmp_path)
    with pytest.raises(ConfigError, match="no encrypted keystore"):
        account(None, tmp_path / "other.json")
