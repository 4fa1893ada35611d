"""Waiting for a state: the rule, the loop and the ``mercato <protocol> wait`` command.

Each protocol's states form a small graph of what its contract allows next (the first key is
where everything starts). Waiting for a state ends well when the chain shows it, or shows a
state that can only come after it (the state was passed while nobody looked); it ends badly
as soon as the chain shows a state from which no path leads to it, or when time runs out.
"""

from __future__ import annotations

import difflib
import time
from collections.abc import Callable, Mapping
from enum import Enum
from typing import Any

import typer

from mercato.cli.common import (
    JsonOption,
    RpcUrlOption,
    compact_ether,
    console,
    context,
    emit_json,
    short_address,
)
from mercato.errors import InputError, ProtocolError
from mercato.protocols.unit import ProtocolUnit, StateGraph

DEFAULT_TIMEOUT_S = 600.0
DEFAULT_INTERVAL_S = 1.0
MAX_INTERVAL_S = 60.0


class Verdict(Enum):
    """Where a wait stands, given the state the chain shows now."""

    REACHED = "reached"
    WAITING = "waiting"
    UNREACHABLE = "unreachable"


def _reachable(graph: StateGraph, start: str, avoiding: str | None = None) -> set[str]:
    """The states reachable from ``start`` (itself included) without entering ``avoiding``."""
    seen = {start}
    todo = [start]
    while todo:
        for following in graph[todo.pop()]:
            if following != avoiding and following not in seen:
                seen.add(following)
                todo.append(following)
    return seen


def verdict(graph: StateGraph, current: str, target: str) -> Verdict:
    """Has ``target`` been reached (or passed), can it still come, or never?"""
    if current == target:
        return Verdict.REACHED
    start = next(iter(graph))
    if current not in _reachable(graph, start, avoiding=target):
        return Verdict.REACHED  # every way to ``current`` goes through ``target``
    if target in _reachable(graph, current):
        return Verdict.WAITING
    return Verdict.UNREACHABLE


def parse_state(graph: StateGraph, text: str) -> str:
    """The state ``text`` names (``round-done`` and ``round_done`` mean ``round done``)."""
    word = " ".join(text.strip().lower().replace("-", " ").replace("_", " ").split())
    if word in graph:
        return word
    close = difflib.get_close_matches(word, list(graph), n=1)
    hint = f" Did you mean '{close[0]}'?" if close else ""
    raise InputError(f"--until: unknown state '{text}'.{hint} States: {', '.join(graph)}")


def until_help(graph: StateGraph) -> str:
    return "State to wait for: " + ", ".join(graph) + "."


TimeoutOption = typer.Option(
    DEFAULT_TIMEOUT_S, "--timeout", help="Seconds to wait before giving up (exit 1)."
)
IntervalOption = typer.Option(DEFAULT_INTERVAL_S, "--interval", help="Seconds between polls.")


def _owed_text(unpaid: Mapping[str, int]) -> str:
    return ", ".join(f"{short_address(a)} {compact_ether(w)} ETH" for a, w in unpaid.items())


def wait_for(
    name: str,
    graph: StateGraph,
    target: str,
    read_state: Callable[[], str],
    read_owed: Callable[[], Mapping[str, int]] | None = None,
    *,
    timeout: float = DEFAULT_TIMEOUT_S,
    interval: float = DEFAULT_INTERVAL_S,
    json_output: bool = False,
) -> None:
    """Poll ``read_state`` until ``target`` is reached and, when ``read_owed`` is given, until
    it reports nothing owed; ProtocolError on timeout or once ``target`` cannot come.

    ``name`` (``auction 1``) starts every message. On a terminal one line shows progress.
    """
    if not timeout > 0:
        raise InputError(f"--timeout must be above 0 seconds, got {timeout:g}")
    if not 0 < interval <= MAX_INTERVAL_S:
        raise InputError(f"--interval must be above 0 and at most {MAX_INTERVAL_S:g} seconds")
    started = time.monotonic()
    quiet = json_output or not console.is_terminal
    live = None if quiet else console.status(f"waiting for {name} to be {target}")
    if live is not None:
        live.start()
    state, outcome = "", Verdict.WAITING
    unpaid: dict[str, int] = {}
    try:
        while True:
            state = read_state()
            outcome = verdict(graph, state, target)
            if outcome is Verdict.REACHED and read_owed is not None:
                unpaid = {a: w for a, w in read_owed().items() if w}
            waited = time.monotonic() - started
            if outcome is Verdict.UNREACHABLE or (outcome is Verdict.REACHED and not unpaid):
                break
            if waited >= timeout:
                break
            if live is not None:
                owing = f"; still owed: {_owed_text(unpaid)}" if unpaid else ""
                live.update(f"{name} is {state}, waiting for {target}{owing} ({waited:.0f} s)")
            time.sleep(min(interval, max(0.0, timeout - waited)))
    finally:
        if live is not None:
            live.stop()
    waited = time.monotonic() - started
    done = outcome is Verdict.REACHED and not unpaid
    if json_output:
        record: dict[str, Any] = {
            "name": name,
            "until": target,
            "state": state,
            "reached": done,
            "waited": round(waited, 1),
        }
        if read_owed is not None:
            record["owed"] = unpaid
        emit_json(record)
    if outcome is Verdict.UNREACHABLE:
        raise ProtocolError(f"{name} is {state}: it will not become {target} from there")
    if not done:
        still = (
            f"is {state} but still owes {_owed_text(unpaid)}"
            if outcome is Verdict.REACHED
            else f"is still {state}, not {target}"
        )
        raise ProtocolError(f"{name} {still} after {timeout:g} s; gave up waiting")
    if not json_output:
        passed = "" if state == target else f" (past {target})"
        everyone = ", and nothing is owed to anyone in it" if read_owed is not None else ""
        console.print(f"{name} is {state}{passed}{everyone} (waited {waited:.0f} s)")


def add_wait_command(app: typer.Typer, unit: ProtocolUnit) -> None:
    """Give the protocol's group ``wait ID --until STATE [--paid]`` over its unit's states."""
    item, graph = unit.item, unit.states
    article = "an" if item[0].lower() in "aeiou" else "a"

    def wait(
        ctx: typer.Context,
        item_id: int = typer.Argument(
            ..., min=1, help=f"{item.capitalize()} id (see `mercato {unit.command} list`)."
        ),
        until: str = typer.Option(..., "--until", help=until_help(graph)),
        paid: bool = typer.Option(
            False,
            "--paid",
            help=f"Also wait until the {unit.payer} owes nothing to {unit.parties} (their "
            "agents withdrew).",
        ),
        timeout: float = TimeoutOption,
        interval: float = IntervalOption,
        rpc_url: str = RpcUrlOption,
        json_output: bool = JsonOption,
    ) -> None:
        target = parse_state(graph, until)
        wrapper = context(ctx).market(rpc_url).wrapper(unit.field)
        wrapper.check(item_id)

        def owed() -> dict[str, int]:
            return {party: wrapper.owed(party) for party in wrapper.parties(item_id)}

        wait_for(
            f"{item} {item_id}",
            graph,
            target,
            lambda: wrapper.state(item_id),
            owed if paid else None,
            timeout=timeout,
            interval=interval,
            json_output=json_output,
        )

    wait.__doc__ = (
        f"Wait until {article} {item} reaches a state; exit 1 on timeout or once it never can."
    )
    app.command("wait")(wait)
