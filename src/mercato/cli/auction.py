"""``mercato auction ...``: the procurement auction (P1) from the command line."""

from __future__ import annotations

import typer

app = typer.Typer(help="Procurement auctions (SAIaaS, P1).", no_args_is_help=True)
