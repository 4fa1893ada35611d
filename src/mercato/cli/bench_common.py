"""What the ``mercato bench`` commands share: the node to run on, progress bars, table marks.

The measuring lives in :mod:`mercato.bench`, imported by each command when it runs, so that
listing the commands loads none of it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from typing import TYPE_CHECKING

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from mercato.cli.common import context, err_console

if TYPE_CHECKING:
    from collections.abc import Callable

    from mercato.bench.flow import StartPhase

AnvilOption = typer.Option(
    False, "--anvil", help="Start a local anvil for this run (stopped and deleted after)."
)


def progress_bars(quiet: bool) -> Progress:
    """Progress bars on stderr that disappear when done (none at all if ``quiet``)."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
        disable=quiet,
    )


def _start(bars: Progress, description: str, total: int) -> Callable[[int], None]:
    return partial(bars.advance, bars.add_task(description, total=total))


@contextmanager
def bench_node(
    ctx: typer.Context, rpc_url: str | None, anvil: bool, *, quiet: bool, no_mining: bool = False
) -> Iterator[tuple[str | None, StartPhase]]:
    """The node to benchmark (``--rpc-url``, a fresh ``--anvil``, the settings' node, or None)
    and a :data:`~mercato.bench.flow.StartPhase` that shows each phase as a progress bar."""
    from mercato.bench.common import node_url

    url = rpc_url or (None if anvil else context(ctx).settings.rpc_url)
    with (
        node_url(url, anvil=anvil, no_mining=no_mining) as node,
        progress_bars(quiet) as bars,
    ):
        yield node, partial(_start, bars)


def mark(met: bool | None) -> str:
    """A table's verdict on a goal: met, missed, or not measured (blank)."""
    return "" if met is None else ("✓" if met else "✗")
