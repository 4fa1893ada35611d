"""The auditor's view of a live API (tests/protocols/apimarket/live.py) for the adversary
tests: who it names, on which check, publicly and with each party's key."""

from __future__ import annotations

from mercato.audit.apimarket import CHECKS, audit_api
from mercato.audit.report import AuditReport, Verdict

from .live import LiveApi

CHECK = {spec.key: number for number, spec in enumerate(CHECKS, 1)}
"""Check number by key (``"disputes"`` -> 5)."""


def audit_live(live: LiveApi, viewer: str | None = None) -> AuditReport:
    """The audit of the live API, public or with the keys of cast member ``viewer``."""
    identity = None if viewer is None else live.identities[viewer]
    return audit_api(live.market, live.api_id, identity)


def assert_names(live: LiveApi, expected: dict[str, tuple[str, set[str]]]) -> None:
    """The public audit and each party's find exactly the ``expected`` cheaters:
    ``{member: (role, {check key, ...})}``; nobody else, and every check else passes."""
    wanted = {
        f"{role} {live.identities[name].address}": sorted(CHECK[key] for key in keys)
        for name, (role, keys) in expected.items()
    }
    for viewer in (None, *live.identities):
        report = audit_live(live, viewer)
        assert report.cheaters == wanted, (viewer, report.to_dict())
        failing = {c.number for c in report.checks if c.verdict is Verdict.FAIL}
        assert failing == {n for numbers in wanted.values() for n in numbers}
        assert all(c.verdict is Verdict.PASS for c in report.checks if c.number not in failing), [
            (c.key, c.verdict, c.detail) for c in report.checks if c.verdict is not Verdict.PASS
        ]
