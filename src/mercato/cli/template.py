"""``mercato template <kind>``: an example of a file the command line reads, to edit."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from mercato.cli.common import console
from mercato.errors import InputError
from mercato.examples import EXAMPLES, example_bytes

_KINDS = "\n\n".join(f"{kind}: {example.summary}." for kind, example in EXAMPLES.items())


def template_command(
    kind: str = typer.Argument(..., help=f"One of: {', '.join(EXAMPLES)}.", show_default=False),
    out: Path = typer.Option(None, "--out", help="Write the example to this file."),
    force: bool = typer.Option(False, "--force", help="Overwrite --out if it exists."),
) -> None:
    """Print (or write with --out) a valid example document to start from."""
    document = example_bytes(kind)
    if out is None:
        sys.stdout.write(document.decode("utf-8"))
        return
    if out.is_dir():
        raise InputError(f"--out {out} is a folder; give a file name")
    if out.exists() and not force:
        raise InputError(f"{out} exists; pass --force to overwrite it")
    try:
        out.write_bytes(document)
    except OSError as exc:
        raise InputError(f"cannot write {out}: {exc.strerror or exc}") from None
    console.print(f"wrote the {kind} example to {out}", highlight=False, soft_wrap=True)


template_command.__doc__ = f"{template_command.__doc__}\n\n{_KINDS}"
