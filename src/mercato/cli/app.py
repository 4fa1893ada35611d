"""The ``mercato`` command: one Typer sub-app per command group, registered here.

Each protocol brings its own group, found in the catalog (:mod:`mercato.protocols.catalog`).

:func:`main`, the installed script, reports every failure in one line: a usage error as click
formats it (usage, hint, ``Error: ...``; exit 2), a :class:`~mercato.errors.MercatoError` as
``error: ...`` and anything else as ``error: internal error: ...`` (exit 1). ``--debug`` or
``MERCATO_DEBUG=1`` adds the traceback.
"""

from __future__ import annotations

import logging
import os
import sys
import traceback
from importlib.metadata import PackageNotFoundError, version
from typing import Any, NoReturn

import typer
from rich.markup import escape

from mercato.cli import abi, agent, audit, bench, chain, data, demo, status, template
from mercato.cli.common import err_console
from mercato.errors import MercatoError
from mercato.protocols.catalog import units
from mercato.protocols.unit import resolve

DEBUG_ENV = "MERCATO_DEBUG"
INTERRUPTED = 130
"""The exit status after Ctrl-C (128 + SIGINT), as shells report it."""

# The click that typer runs on: typer 0.29 carries its own copy (``typer._click``) whose
# exceptions are not ``click``'s, so the class is taken from what typer raises (and any
# error that shows itself with an exit code is taken for one, should that ever change).
CLICK_ERRORS: tuple[type[Exception], ...] = tuple(
    c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException"
)


class _Run:
    """What the root options asked of this process (read by :func:`main` after a failure)."""

    debug = False


def _print_version(value: bool) -> None:
    if value:
        try:
            text = version("mercato")
        except PackageNotFoundError:  # a source tree that was never installed
            text = "unknown"
        typer.echo(f"mercato {text}")
        raise typer.Exit()


def root(
    debug: bool = typer.Option(
        False, "--debug", help=f"Print the traceback of any error (or set {DEBUG_ENV}=1)."
    ),
    show_version: bool = typer.Option(
        False,
        "--version",
        callback=_print_version,
        is_eager=True,
        help="Print the version and exit.",
    ),
) -> None:
    """A trust-minimised marketplace for AI assets on an EVM blockchain."""
    _Run.debug = _Run.debug or debug


app = typer.Typer(
    name="mercato",
    help="A trust-minimised marketplace for AI assets on an EVM blockchain.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.callback()(root)
app.command("demo")(demo.demo)
app.command("deploy")(chain.deploy_command)
app.command("register")(chain.register_command)
app.command("abi")(abi.abi_command)
app.command("status")(status.status_command)
app.command("serve")(resolve("mercato.cli.serve:serve_command"))
app.command("accounts")(status.accounts_command)
app.command("template")(template.template_command)
app.add_typer(chain.app, name="chain")
for _unit in units():  # each protocol's group: `mercato auction ...`, `mercato training ...`
    app.add_typer(resolve(_unit.cli), name=_unit.command)
    for _group, _reference in _unit.extra_cli:  # and any more it brings: `mercato vendor ...`
        app.add_typer(resolve(_reference), name=_group)
app.add_typer(data.data_app, name="data")
app.add_typer(data.model_app, name="model")
app.add_typer(agent.app, name="agent")
app.add_typer(bench.app, name="bench")
app.add_typer(audit.app, name="audit")


def main() -> None:
    """Entry point: run the app; every failure is one line and a non-zero exit status."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    _Run.debug = os.environ.get(DEBUG_ENV, "").strip().lower() not in ("", "0", "false", "no")
    try:
        # Not standalone: click would print its errors through rich panels and let ours pass
        # as tracebacks; here both are caught, and an Exit comes back as its status.
        code = app(standalone_mode=False)
    except SystemExit:
        raise
    except MercatoError as exc:
        _fail(exc, str(exc))
    except CLICK_ERRORS as exc:
        _show_usage_error(exc)
    except KeyboardInterrupt as exc:  # before click took over, or after
        _fail(exc, "interrupted", INTERRUPTED)
    except typer.Abort as exc:  # click before 8.2 turns Ctrl-C into Abort
        interrupted = isinstance(exc.__cause__, KeyboardInterrupt)
        _fail(exc, "interrupted" if interrupted else "aborted", INTERRUPTED if interrupted else 1)
    except Exception as exc:
        if callable(getattr(exc, "show", None)) and isinstance(
            getattr(exc, "exit_code", None), int
        ):
            _show_usage_error(exc)
        name = type(exc).__qualname__
        module = type(exc).__module__
        kind = name if module == "builtins" else f"{module}.{name}"
        hint = "" if _Run.debug else " (rerun with --debug for the traceback)"
        _fail(exc, f"internal error: {kind}: {exc}{hint}")
    if code == INTERRUPTED:  # typer turns Ctrl-C into Exit(130), which comes back as the code
        err_console.print("[red]error:[/red] interrupted", highlight=False)
    sys.exit(code if isinstance(code, int) else 0)


def _show_usage_error(exc: Any) -> NoReturn:
    """Click's own message (usage, hint, ``Error: ...``) and its exit status (2 for usage)."""
    if type(exc).__name__ == "NoSuchOption" and _is_number(exc.option_name):
        # `show -5`: click reads a negative number as an option
        exc.message = (
            f"No such option: {exc.option_name} (ids are positive integers; a leading '-' "
            "reads as an option)"
        )
    if type(exc).__name__ != "NoArgsIsHelpError" or exc.format_message():
        exc.show()  # typer has already printed a bare group's help
    sys.exit(exc.exit_code)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _fail(exc: BaseException, message: str, status: int = 1) -> NoReturn:
    if _Run.debug:
        traceback.print_exception(exc)
    line = escape(one_line(message))
    err_console.print(f"[red]error:[/red] {line}", highlight=False, soft_wrap=True)
    sys.exit(status)


def one_line(message: str) -> str:
    """``message`` as one line: each character that would break it or not show (a newline,
    a record separator in a file name the user typed) as its escape (``\\x1e``)."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in message)
