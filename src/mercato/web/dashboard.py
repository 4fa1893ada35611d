"""The dashboard: server-rendered pages over the read model, beside the API.

``/`` shows every market with its entries, ``/<key>`` one protocol's entries, ``/<key>/<id>``
one entry (its facts, plots, payments, faults and the timeline of its events) and
``/participants`` everyone's roles, stake and what each contract owes them. The routes come
from the catalog; what an entry page shows is its protocol's template
(``templates/<key>.html``, or the generic ``templates/entry.html``), its overview columns
``templates/columns/<key>.html``. Assets are served from the package at ``/static``: no
page loads anything from another host, and ``static/live.js`` keeps a page current from
the event stream (``/api/events``).

A page that cannot be made is an HTML page too: 404 with ``<h1>Not found</h1>`` and one
line for an unknown protocol, entry or path, 503 when the node does not answer. Paths under
``/api`` keep the API's one-line JSON errors.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import Request  # at runtime: FastAPI reads the endpoints' parameter types
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from markupsafe import Markup
from starlette.exceptions import HTTPException

from mercato.errors import ChainError, ConfigError, InputError, MercatoError
from mercato.protocols import readmodel
from mercato.protocols.catalog import units
from mercato.protocols.modelmarket.limits import SCORE_SCALE
from mercato.timefmt import format_time
from mercato.units import compact_ether, to_ether
from mercato.web import plots

if TYPE_CHECKING:
    from fastapi import FastAPI
    from jinja2 import Environment

    from mercato.protocols.unit import ProtocolUnit
    from mercato.web.app import Reader

logger = logging.getLogger(__name__)

WEB_DIR = Path(__file__).parent
TEMPLATES_DIR = WEB_DIR / "templates"
"""The pages' Jinja2 templates (package data)."""
STATIC_DIR = WEB_DIR / "static"
"""The pages' stylesheet and script, served at :data:`STATIC_PATH` (package data)."""
STATIC_PATH = "/static"
API_PREFIX = "/api"
"""Paths the API answers, errors included (one-line JSON); the rest are pages."""
GENERIC_ENTRY = "entry.html"
GENERIC_COLUMNS = "columns/default.html"

Build = Callable[[], Mapping[str, Any]]


def add_routes(app: FastAPI, reader: Reader) -> None:
    """Add the dashboard's pages and assets to ``app`` (none in its OpenAPI document)."""
    templates = _templates()
    pages = _Pages(templates, reader)
    app.mount(STATIC_PATH, StaticFiles(directory=STATIC_DIR), name="static")
    _add_page(app, "/", pages.overview)
    _add_page(app, "/participants", pages.participants)
    for unit in units():
        _add_page(app, f"/{unit.key}", pages.lister(unit))
        _add_page(app, f"/{unit.key}/{{ident}}", pages.shower(unit))
        if readmodel.auditor(unit) is not None:
            _add_page(app, f"/{unit.key}/{{ident}}/audit", pages.auditor(unit))
    _add_html_errors(app, templates)


def _add_page(app: FastAPI, path: str, endpoint: Callable[..., Response]) -> None:
    app.add_api_route(
        path, endpoint, methods=["GET"], response_class=HTMLResponse, response_model=None,
        include_in_schema=False,
    )  # fmt: skip


class _Pages:
    """The page endpoints: each reads through the reader, then renders one template."""

    def __init__(self, templates: Jinja2Templates, reader: Reader) -> None:
        self.templates = templates
        self.reader = reader

    def overview(self, request: Request) -> Response:
        """Every market: its count of entries and their table."""

        def build() -> Mapping[str, Any]:
            found = self.reader.read_all(readmodel.market_summaries, kept_as="markets")
            return {"markets": [_market(u, found[u.key]["summaries"]) for u in units()]}

        return self.render(request, "overview.html", build)

    def participants(self, request: Request) -> Response:
        """Roles, stake and what each protocol owes, per address."""

        def build() -> Mapping[str, Any]:
            people = self.reader.read_all(readmodel.participants, kept_as="participants")
            return {"people": people}

        return self.render(request, "participants.html", build)

    def lister(self, unit: ProtocolUnit) -> Callable[[Request], Response]:
        """The endpoint of ``/<key>``: one protocol's entries."""
        pages = readmodel.pages(unit)

        def entries(request: Request) -> Response:
            def build() -> Mapping[str, Any]:
                summaries = self.reader.read(
                    unit.key, pages.summaries, kept_as=("summaries", unit.key)
                )
                return {"market": _market(unit, summaries), "protocol": unit.key}

            return self.render(request, "list.html", build)

        return entries

    def shower(self, unit: ProtocolUnit) -> Callable[[Request, str], Response]:
        """The endpoint of ``/<key>/<id>``: one entry in full."""
        template = self.templates.env.select_template([f"{unit.key}.html", GENERIC_ENTRY]).name
        assert template is not None

        def entry(request: Request, ident: str) -> Response:
            def build() -> Mapping[str, Any]:
                number = _entry_number(unit, ident)
                record = self.reader.detail(unit.key, number)
                return {
                    "unit": unit,
                    "protocol": unit.key,
                    "ident": number,
                    "record": record,
                    "events": record["events"],
                    "audited": readmodel.auditor(unit) is not None,
                }

            return self.render(request, template, build)

        return entry

    def auditor(self, unit: ProtocolUnit) -> Callable[[Request, str], Response]:
        """The endpoint of ``/<key>/<id>/audit``: the entry's public audit."""

        def audit(request: Request, ident: str) -> Response:
            def build() -> Mapping[str, Any]:
                number = _entry_number(unit, ident)
                report = self.reader.audit(unit.key, number)
                return {"unit": unit, "protocol": unit.key, "ident": number, "report": report}

            return self.render(request, "audit.html", build)

        return audit

    def render(self, request: Request, template: str, build: Build) -> Response:
        """``template`` over what ``build`` reads; an HTML error page if it cannot read."""
        try:
            context = build()
        except InputError as exc:
            return _error_page(self.templates, request, 404, str(exc))
        except (ChainError, ConfigError) as exc:
            return _error_page(self.templates, request, 503, f"the node cannot be read: {exc}")
        except MercatoError as exc:
            return _error_page(self.templates, request, 500, str(exc))
        return self.templates.TemplateResponse(request, template, {"units": units(), **context})


def _market(unit: ProtocolUnit, summaries: list[dict[str, Any]]) -> dict[str, Any]:
    """What the overview and a list page show of one protocol's market."""
    return {
        "unit": unit,
        "count": len(summaries),
        "rows": [{"id": entry_id(s), "summary": s} for s in summaries],
        "columns": _columns_template(unit),
    }


def _columns_template(unit: ProtocolUnit) -> str:
    own = TEMPLATES_DIR / "columns" / f"{unit.key}.html"
    return f"columns/{unit.key}.html" if own.exists() else GENERIC_COLUMNS


def entry_id(summary: Mapping[str, Any]) -> Any:
    """An entry's id in its summary: its ``id``, or else its first field (every summary
    starts with its id: ``request_id``, ``api``)."""
    if "id" in summary:
        return summary["id"]
    return next(iter(summary.values()))


def _entry_number(unit: ProtocolUnit, ident: str) -> int:
    if not ident.isascii() or not ident.isdigit() or int(ident) < 1:
        raise InputError(f"no {unit.item} {ident!r}: ids are 1, 2, 3, ...")
    return int(ident)


# errors --------------------------------------------------------------------------------------


def _is_api(path: str) -> bool:
    return path == API_PREFIX or path.startswith(API_PREFIX + "/") or path == "/openapi.json"


ERROR_TITLES = {404: "Not found", 503: "The node does not answer"}
"""An error page's heading by status (else :data:`ERROR_TITLE`)."""
ERROR_TITLE = "Cannot show this page"


def _error_page(templates: Jinja2Templates, request: Request, status: int, reason: str) -> Response:
    context = {
        "units": units(),
        "title": ERROR_TITLES.get(status, ERROR_TITLE),
        "reason": " ".join(reason.split()),
    }
    return templates.TemplateResponse(request, "error.html", context, status_code=status)


def _add_html_errors(app: FastAPI, templates: Jinja2Templates) -> None:
    """Pages' errors (an unknown path, a method not allowed, a bug) as HTML pages; the API's
    stay as its handlers answer them (one-line JSON)."""
    api_answers = {kind: app.exception_handlers.get(kind) for kind in (HTTPException, Exception)}

    async def on_error(request: Request, exc: Exception) -> Response:
        kind = HTTPException if isinstance(exc, HTTPException) else Exception
        api_answer = api_answers[kind]
        if _is_api(request.url.path) and api_answer is not None:
            answer = api_answer(request, exc)
            response: Response = await answer if inspect.isawaitable(answer) else answer
            return response
        if isinstance(exc, HTTPException):
            found = exc.status_code != 404
            reason = str(exc.detail) if found else f"nothing at {request.url.path}"
            return _error_page(templates, request, exc.status_code, reason)
        logger.exception("internal error on %s", request.url.path)
        return _error_page(templates, request, 500, f"internal error: {type(exc).__name__}")

    app.add_exception_handler(HTTPException, on_error)
    app.add_exception_handler(Exception, on_error)


# templates -----------------------------------------------------------------------------------


def _templates() -> Jinja2Templates:
    templates = Jinja2Templates(directory=TEMPLATES_DIR)
    templates.env.trim_blocks = True
    templates.env.lstrip_blocks = True
    _add_filters(templates.env)
    return templates


def _add_filters(env: Environment) -> None:
    """What the templates use beyond Jinja's own: amounts, scores, times, tests, plots."""
    env.filters.update({
        "eth": ether,
        "ether_value": ether_value,
        "score": score,
        "score_value": lambda millionths: int(millionths) / SCORE_SCALE,
        "when": when,
        "item_title": item_title,
        "nth": nth,
        "in_list": lambda value, items: value in items,
        "below": lambda value, floor: value is not None and value < floor,
    })  # fmt: skip
    env.tests.update({
        "contains": lambda items, value: value in (items or ()),
        # a dispute's ``slashed`` is a bit mask of the API's slots
        "slashed_by": lambda slot, mask: bool(int(mask or 0) >> int(slot) & 1),
    })  # fmt: skip
    drawers: dict[str, Callable[..., str]] = {
        "plot_bars": plots.bars, "plot_line": plots.line, "plot_points": plots.points,
    }  # fmt: skip
    env.globals.update({name: _inline(draw) for name, draw in drawers.items()})


def _inline(draw: Callable[..., str]) -> Callable[..., Markup]:
    """A plot function for templates: its SVG, marked safe to inline."""

    def inline(*args: Any, **kwargs: Any) -> Markup:
        return Markup(draw(*args, **kwargs))

    return inline


def ether(wei: Any) -> str:
    """Wei as ether for a person: ``0.397214318458218545 ETH`` (exact), ``-`` for nothing."""
    if wei is None or wei == "":
        return "-"
    return f"{compact_ether(int(wei))} ETH"


def ether_value(wei: Any) -> float:
    """Wei as a number of ether, for a plot's axis (not for reading: see :func:`ether`)."""
    return float(to_ether(int(wei)))


def nth(index: Any, names: Sequence[str]) -> str:
    """``names[index]`` (a category's name from its number), else the number as text."""
    position = int(index)
    return str(names[position]) if 0 <= position < len(names) else str(index)


def score(millionths: Any) -> str:
    """A chain score (millionths) as a fraction: ``923333`` is ``0.923333``."""
    if millionths is None:
        return "-"
    return f"{int(millionths) / SCORE_SCALE:.6f}".rstrip("0").rstrip(".")


def when(timestamp: Any) -> str:
    """A chain timestamp as every Mercato message writes it (UTC); ``-`` for none."""
    if not timestamp:
        return "-"
    return format_time(int(timestamp))


def item_title(unit: ProtocolUnit) -> str:
    """What one entry is called, capitalised for a heading: ``Auction``, ``API``."""
    return unit.item[:1].upper() + unit.item[1:]
