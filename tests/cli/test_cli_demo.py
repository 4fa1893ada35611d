"""`mercato demo`: the parts one at a time (``--only``), as people read them.

The whole demo, on both backends, is tested in tests/protocols/test_demo_on_chain.py: its
embedded run serves the chain's checks too, and its run on a node is scanned for secrets.
Here also: a bad private key is refused in one line that does not repeat it.
"""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from mercato.chain.accounts import KEY_ENV
from mercato.cli.app import app
from mercato.errors import InputError


def test_demo_prints_a_readable_report() -> None:
    result = CliRunner().invoke(app, ["demo", "--only", "auction"])

    assert result.exit_code == 0, result.output
    for heading in ("Requirements", "SLA (winners)", "Withdrawn", "Gas per operation"):
        assert heading in result.stdout
    assert "collaborative training" not in result.stdout


def test_demo_prints_the_training_report() -> None:
    result = CliRunner().invoke(app, ["demo", "--only", "training"])

    assert result.exit_code == 0, result.output
    for heading in ("Rounds", "Fraud reported on chain", "lazy-cloud", "completed"):
        assert heading in result.stdout
    assert "SLA (winners)" not in result.stdout


def test_demo_prints_the_data_market_report() -> None:
    result = CliRunner().invoke(app, ["demo", "--only", "datamarket"])

    assert result.exit_code == 0, result.output
    for heading in ("Rounds as recorded on chain", "data-owner-4", "accuracy", "finished"):
        assert heading in result.stdout
    assert "Fraud reported on chain" not in result.stdout


def test_demo_refuses_an_unknown_part() -> None:
    result = CliRunner().invoke(app, ["demo", "--only", "everything"])

    assert result.exit_code == 1
    assert isinstance(result.exception, InputError)
    assert "--only must be one of all, auction, training" in str(result.exception)


@pytest.mark.parametrize(
    "key",
    [
        "0x" + "ab" * 31 + "zz",  # one bad digit
        "0x" + "ab" * 31,  # a byte too short
        "0x" + "ff" * 32,  # above the curve order
        "0x" + "cd" * 33,  # a byte too long
    ],
)
def test_a_bad_private_key_is_refused_without_being_echoed(
    key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # prepare: a key-like value in the environment (no --account: the key is what it uses)
    monkeypatch.setenv(KEY_ENV, key)

    # act
    result = CliRunner().invoke(app, ["status", "--rpc-url", "http://127.0.0.1:1"])

    # assert: one line that names the variable, and neither the key nor a piece of it
    assert result.exit_code == 1
    said = f"{result.output}\n{result.exception}".lower()
    assert KEY_ENV in said.upper()
    body = key.lower().removeprefix("0x")
    pieces = {body[i : i + 16] for i in range(0, len(body) - 15)}
    assert not any(piece in said for piece in pieces), said
