"""``mercato abi CONTRACT``: print a contract's JSON ABI, compiled from the shipped sources.

The output is the file ``mercato deploy`` writes beside the deployment file
(``abi/<Contract>.json``), byte for byte; no node and no deployment are needed.
"""

from __future__ import annotations

import typer

from mercato.cli.common import emit_json
from mercato.errors import InputError
from mercato.protocols.deployment import contract_abi, contracts

NAMES = {field.replace("_", "-"): name for field, name in contracts().items()}
"""Contract names on the command line (``auction-house``) and the Vyper contract of each."""


def abi_command(
    contract: str = typer.Argument(..., help=f"One of {', '.join(NAMES)}."),
) -> None:
    """Print a contract's JSON ABI, for cast, a wallet or an explorer (no node needed)."""
    name = NAMES.get(contract)
    if name is None:
        raise InputError(f"no contract named {contract!r}; choose one of {', '.join(NAMES)}")
    emit_json(contract_abi(name))
