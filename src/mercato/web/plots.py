"""The dashboard's plots: small SVG charts (matplotlib, drawn on the server) to inline in a page.

The only module that imports matplotlib, and only when a plot is drawn, so that importing
mercato (or the web app) stays light. Text stays text in the SVG (no embedded glyphs) and
the SVG carries no date or random ids, so a page is small and the same data draws the same
chart.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    _Draw = Callable[[Axes], None]

FIGURE_SIZE_IN = (6.0, 2.6)
"""Width and height of a plot, in inches (the page scales the SVG to its column)."""
COLOR = "#2f6f9f"
"""The one colour of bars and lines (the stylesheet's accent)."""
ALERT_COLOR = "#b3261e"
"""Bars that mark a fault (a fraud, an excluded member, a rejected call)."""
SVG_SALT = "mercato"
"""Seeds the SVG's element ids, so the same chart is the same text."""

_drawing = threading.Lock()  # matplotlib's rcParams are global: one chart at a time


def bars(
    labels: Sequence[str],
    values: Sequence[float],
    *,
    ylabel: str,
    xlabel: str = "",
    alerts: Sequence[bool] = (),
    log: bool = False,
) -> str:
    """A bar chart as SVG text: one bar per label, red where ``alerts`` says so (``log``: on
    a logarithmic axis, for values far apart)."""

    def draw(axes: Axes) -> None:
        colors = [ALERT_COLOR if alert else COLOR for alert in _padded(alerts, len(values))]
        positions = range(len(values))
        axes.bar(positions, [float(v) for v in values], color=colors)
        axes.set_xticks(list(positions), [str(label) for label in labels])
        axes.set_ylabel(ylabel)
        if xlabel:
            axes.set_xlabel(xlabel)
        if log:
            axes.set_yscale("log")

    return _svg(draw)


def line(
    xs: Sequence[float], ys: Sequence[float], *, xlabel: str, ylabel: str, integer_x: bool = True
) -> str:
    """A line with its points marked, as SVG text."""

    def draw(axes: Axes) -> None:
        from matplotlib.ticker import MaxNLocator

        axes.plot([float(x) for x in xs], [float(y) for y in ys], marker="o", color=COLOR)
        axes.set_xlabel(xlabel)
        axes.set_ylabel(ylabel)
        if integer_x:
            axes.xaxis.set_major_locator(MaxNLocator(integer=True))

    return _svg(draw)


def points(
    xs: Sequence[float],
    ys: Sequence[float],
    labels: Sequence[str],
    *,
    xlabel: str,
    ylabel: str,
) -> str:
    """Labelled points (one series per distinct label), as SVG text: e.g. bids over time."""

    def draw(axes: Axes) -> None:
        from matplotlib.ticker import MaxNLocator

        for name in dict.fromkeys(labels):
            mine = [i for i, label in enumerate(labels) if label == name]
            axes.plot([float(xs[i]) for i in mine], [float(ys[i]) for i in mine], "o", label=name)
        axes.set_xlabel(xlabel)
        axes.set_ylabel(ylabel)
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        if labels:
            axes.legend(fontsize="small", frameon=False)

    return _svg(draw)


def _padded(flags: Sequence[bool], count: int) -> list[bool]:
    return [*flags[:count], *([False] * (count - len(flags)))]


def _svg(draw: _Draw) -> str:
    """The chart ``draw`` makes on fresh axes, as an ``<svg>`` element (no XML prologue, no
    metadata)."""
    import matplotlib
    from matplotlib.figure import Figure

    with _drawing, matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": SVG_SALT}):
        figure: Figure = Figure(figsize=FIGURE_SIZE_IN, layout="constrained")
        axes = figure.add_subplot()
        axes.spines[["top", "right"]].set_visible(False)
        draw(axes)
        out = io.StringIO()
        figure.savefig(out, format="svg", metadata={"Date": None, "Creator": None})
    text = out.getvalue()
    svg = text[text.index("<svg") :]
    start, end = svg.find("<metadata>"), svg.find("</metadata>")
    return svg[:start] + svg[end + len("</metadata>") :] if 0 <= start < end else svg
