"""The benchmark flow record: steps, totals, gas limits and progress, without a chain."""

from __future__ import annotations

from dataclasses import dataclass

from mercato.bench.flow import (
    Flow,
    ProgressCallback,
    Step,
    StepClock,
    Wave,
    gas_limits,
    phases,
    timed,
    with_margin,
)


@dataclass(frozen=True)
class Record(Flow):
    steps: tuple[Step, ...]


@dataclass(frozen=True)
class Outcome:
    gas_used: int


def test_a_flow_totals_its_steps_and_groups_them_by_name_in_order() -> None:
    # prepare
    record = Record((Step("join", "DO", 100, 0.25), Step("post", "MO", 40), Step("join", "DO", 51)))

    # act
    rows = record.by_name()

    # assert
    assert (record.transactions, record.gas, record.seconds) == (3, 191, 0.25)
    assert list(rows) == ["join", "post"]
    assert rows["join"] == {"count": 2, "gas": 151, "seconds": 0.25, "gas_each": 75}


def test_gas_limits_take_the_most_each_kind_used_plus_the_margin() -> None:
    # prepare
    steps = [Step("join", "DO", 100), Step("join", "DO", 120), Step("post", "MO", 10)]

    # act
    limits = gas_limits(steps, 50)

    # assert
    assert limits == {"join": 180, "post": 15}
    assert with_margin(120, 50) == 180


def test_the_step_clock_records_gas_role_round_and_returns_the_outcome() -> None:
    # prepare
    record = StepClock()
    outcome = Outcome(21_000)

    # act
    returned = record("post", "MO", outcome, round=2)

    # assert
    assert returned is outcome
    (step,) = record.steps
    assert (step.name, step.role, step.gas, step.round) == ("post", "MO", 21_000, 2)
    assert step.seconds >= 0


def test_phases_without_a_listener_report_nowhere() -> None:
    # prepare
    seen: list[tuple[str, int, int]] = []

    def start(description: str, total: int) -> ProgressCallback:
        return lambda units: seen.append((description, total, units))

    # act
    phases(None)("quiet", 3)(1)
    phases(start)("loud", 3)(2)

    # assert
    assert seen == [("loud", 3, 2)]


def test_timed_returns_the_result_and_a_duration() -> None:
    # act
    result, seconds = timed(lambda: 42)

    # assert
    assert result == 42 and seconds >= 0


def test_a_wave_reports_its_seconds_rounded() -> None:
    # act
    row = Wave("join", 10, 1, 0.123456).as_dict()

    # assert
    assert row == {"step": "join", "transactions": 10, "blocks": 1, "seconds": 0.1235}
