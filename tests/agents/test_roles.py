"""The roles of the catalog as ``mercato agent run`` plans them: each role's plan lives in its
protocol, each option a role takes is an option of the command, and an option of another role
is refused before anything is read."""

from __future__ import annotations

import pytest
import typer
from typer.testing import CliRunner

from mercato.cli.app import app
from mercato.errors import InputError
from mercato.protocols.catalog import roles
from mercato.protocols.unit import resolve


def test_every_role_is_planned_by_its_own_protocol() -> None:
    for unit, role in roles().values():
        plan = resolve(role.plan)

        assert callable(plan)
        assert plan.__module__ == f"mercato.protocols.{unit.key}.roles"


def test_every_option_a_role_takes_is_an_option_of_agent_run() -> None:
    command = typer.main.get_command(app)
    run = command.commands["agent"].commands["run"]  # type: ignore[attr-defined]
    names = {param.name for param in run.params}

    taken = {option for _, role in roles().values() for option in role.options}

    assert taken <= names


REFUSED = {
    "--lazy is a compute-provider or executor option; this agent is a client": ("client", "--lazy"),
    "--part is a market-data-owner option; this agent is a market-model-owner": (
        "market-model-owner",
        "--part",
        "1",
    ),
    "--seed is a market-model-owner or market-data-owner option; this agent is a data-owner": (
        "data-owner",
        "--seed",
        "3",
    ),
    "--algorithm is a provider option; this agent is a model-owner": (
        "model-owner",
        "--algorithm",
        "svm",
    ),
}
"""Each refusal, and the role given another role's option that draws it."""


@pytest.mark.parametrize(("message", "args"), REFUSED.items())
def test_an_option_of_another_role_is_refused(message: str, args: tuple[str, ...]) -> None:
    # act: no node, no deployment: the refusal comes before either is read
    role, *options = args
    result = CliRunner().invoke(app, ["agent", "run", "--once", "--role", role, *options])

    # assert
    assert isinstance(result.exception, InputError), result.output
    assert str(result.exception) == message
