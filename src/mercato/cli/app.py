"""The ``mercato`` command: one Typer sub-app per command group, registered here."""

from __future__ import annotations

import logging
import sys

import typer

from mercato.cli import abi, agent, auction, audit, bench, chain, datamarket, demo, training
from mercato.cli.common import err_console
from mercato.errors import MercatoError

app = typer.Typer(
    name="mercato",
    help="A trust-minimised marketplace for AI assets on an EVM blockchain.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.command("demo")(demo.demo)
app.command("deploy")(chain.deploy_command)
app.command("register")(chain.register_command)
app.command("abi")(abi.abi_command)
app.add_typer(chain.app, name="chain")
app.add_typer(auction.app, name="auction")
app.add_typer(training.app, name="training")
app.add_typer(datamarket.app, name="datamarket")
app.add_typer(agent.app, name="agent")
app.add_typer(bench.app, name="bench")
app.add_typer(audit.app, name="audit")


def main() -> None:
    """Entry point: run the app, turning Mercato errors into one line and exit status 1."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        app(standalone_mode=False)
    except MercatoError as exc:
        err_console.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
        sys.exit(1)
    except typer.Abort:
        sys.exit(130)
    except SystemExit:
        raise
    except Exception as exc:  # click usage errors arrive here in non-standalone mode
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        raise
