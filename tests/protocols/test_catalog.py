"""The catalog of protocols: each unit names real parts, and nothing else lists protocols."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer

from mercato.errors import InputError
from mercato.protocols.catalog import roles, unit, units
from mercato.protocols.deployment import Periods, contracts
from mercato.protocols.unit import ProtocolUnit, resolve
from mercato.protocols.wrapper import ContractWrapper

CONTRACTS_DIR = Path(__file__).parents[2] / "src" / "mercato" / "contracts"


def test_units_are_numbered_in_order_with_unique_names() -> None:
    # act
    found = units()

    # assert
    assert [u.number for u in found] == list(range(1, len(found) + 1))
    for attribute in ("key", "field", "contract", "cli"):
        values = [getattr(u, attribute) for u in found]
        assert len(set(values)) == len(values), attribute


@pytest.mark.parametrize("protocol", units(), ids=lambda u: u.key)
def test_every_reference_of_a_unit_resolves(protocol: ProtocolUnit) -> None:
    # act
    wrapper = resolve(protocol.wrapper)
    group = resolve(protocol.cli)

    # assert
    assert issubclass(wrapper, ContractWrapper)
    assert protocol.contract == wrapper.CONTRACT
    assert (CONTRACTS_DIR / f"{protocol.contract}.vy").is_file()
    assert isinstance(group, typer.Typer)
    assert protocol.states and all(
        nxt in protocol.states for targets in protocol.states.values() for nxt in targets
    )
    args = protocol.constructor("0x" + "11" * 20, Periods(), 1)
    assert args[0] == "0x" + "11" * 20  # every protocol's contract reads the registry


def test_roles_are_unique_across_protocols() -> None:
    # act
    names = [r.name for u in units() for r in u.roles]

    # assert
    assert len(set(names)) == len(names)
    assert set(roles()) == set(names)


def test_deployment_fields_follow_the_catalog() -> None:
    # act
    fields = contracts()

    # assert
    assert list(fields) == ["registry", *(u.field for u in units())]


def test_an_unknown_protocol_is_refused_with_the_known_ones() -> None:
    # act / assert
    with pytest.raises(InputError, match="no protocol called 'auctoin'; Mercato has auction"):
        unit("auctoin")


def test_the_cli_has_a_group_per_protocol() -> None:
    # prepare
    from typer.main import get_command

    from mercato.cli.app import app

    # act
    commands = get_command(app).commands  # type: ignore[attr-defined]

    # assert
    for protocol in units():
        assert protocol.command in commands
        assert {"wait", "withdraw"} <= set(commands[protocol.command].commands)
