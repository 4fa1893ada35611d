"""``mercato bench ...``: benchmarks beside the papers' figures."""

from __future__ import annotations

import typer

app = typer.Typer(help="Benchmarks against the papers.", no_args_is_help=True)
