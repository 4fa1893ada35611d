"""Live updates: a server-sent event stream of the markets' decoded chain events.

Filled by the read-model work of issue 14 (``/api/events``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi import FastAPI

    from mercato.web.app import Reader


def add_routes(app: FastAPI, reader: Reader) -> None:
    """Add the event stream's routes to ``app``."""
