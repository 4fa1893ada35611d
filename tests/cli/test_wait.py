"""The rule behind ``mercato auction|training|datamarket wait``, without a chain."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from mercato.cli.waiting import Verdict, parse_state, verdict, wait_for
from mercato.errors import InputError, ProtocolError
from mercato.protocols.catalog import unit

AUCTION_STATES = unit("auction").states
TRAINING_STATES = unit("training").states
TASK_STATES = unit("datamarket").states

REACHED, WAITING, UNREACHABLE = Verdict.REACHED, Verdict.WAITING, Verdict.UNREACHABLE


@pytest.mark.parametrize(
    ("graph", "current", "target", "expected"),
    [
        (AUCTION_STATES, "open", "confirmed", WAITING),
        (AUCTION_STATES, "confirmed", "confirmed", REACHED),
        (AUCTION_STATES, "confirmed", "delivered", REACHED),  # passed on the way
        (AUCTION_STATES, "arbitrated", "disputed", REACHED),
        (AUCTION_STATES, "refunded", "confirmed", UNREACHABLE),
        (AUCTION_STATES, "refunded", "delivered", UNREACHABLE),  # refunded need not pass it
        (AUCTION_STATES, "disputed", "confirmed", UNREACHABLE),
        (TRAINING_STATES, "round done", "drawing", REACHED),
        (TRAINING_STATES, "training", "completed", WAITING),
        (TRAINING_STATES, "completed", "approved", REACHED),
        (TRAINING_STATES, "cancelled", "completed", UNREACHABLE),
        (TASK_STATES, "joining", "finished", WAITING),
        (TASK_STATES, "expired", "running", REACHED),
        (TASK_STATES, "cancelled", "running", UNREACHABLE),
    ],
)
def test_verdict(graph: dict[str, tuple[str, ...]], current: str, target: str,
                 expected: Verdict) -> None:  # fmt: skip
    assert verdict(graph, current, target) is expected


def test_every_state_leads_only_to_known_states() -> None:
    for graph in (AUCTION_STATES, TRAINING_STATES, TASK_STATES):
        assert {s for following in graph.values() for s in following} <= set(graph)


def test_parse_state_accepts_dashes_and_suggests() -> None:
    assert parse_state(TRAINING_STATES, "Round-Done") == "round done"
    with pytest.raises(InputError, match="Did you mean 'confirmed'"):
        parse_state(AUCTION_STATES, "confirmd")


def _states(*states: str) -> Iterator[str]:
    yield from states
    while True:
        yield states[-1]


def test_wait_returns_once_reached_and_paid(capsys: pytest.CaptureFixture[str]) -> None:
    states = _states("open", "delivered", "confirmed")
    owed = iter([{"0xa": 5}, {"0xa": 0}])

    wait_for("auction 1", AUCTION_STATES, "confirmed", lambda: next(states),
             lambda: next(owed), interval=0.01)  # fmt: skip

    out = capsys.readouterr().out
    assert out.startswith("auction 1 is confirmed, and nothing is owed to anyone in it")


def test_wait_stops_when_the_state_cannot_come(capsys: pytest.CaptureFixture[str]) -> None:
    states = _states("delivered", "disputed")

    with pytest.raises(ProtocolError, match="auction 1 is disputed: it will not become confirmed"):
        wait_for("auction 1", AUCTION_STATES, "confirmed", lambda: next(states),
                 interval=0.01, json_output=True)  # fmt: skip

    record = json.loads(capsys.readouterr().out)
    assert (record["state"], record["reached"]) == ("disputed", False)


def test_wait_times_out_with_what_is_still_owed() -> None:
    with pytest.raises(ProtocolError, match=r"task 1 is finished but still owes 0xabcd…abcd"):
        wait_for("task 1", TASK_STATES, "finished", lambda: "finished",
                 lambda: {"0x" + "abcd" * 10: 10**18}, timeout=0.05, interval=0.01)  # fmt: skip


@pytest.mark.parametrize(("timeout", "interval"), [(0, 1), (float("nan"), 1), (1, 0), (1, 61)])
def test_bad_timing_is_refused(timeout: float, interval: float) -> None:
    with pytest.raises(InputError):
        wait_for("task 1", TASK_STATES, "finished", lambda: "joining",
                 timeout=timeout, interval=interval)  # fmt: skip
