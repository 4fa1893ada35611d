"""`mercato demo`: the parts one at a time (``--only``), as people read them.

The whole demo, on both backends, is tested in tests/protocols/test_demo_on_chain.py: its
embedded run serves the chain's checks too.
"""

from __future__ import annotations

from typer.testing import CliRunner

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
