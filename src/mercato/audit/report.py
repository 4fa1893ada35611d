"""What an audit reports: one :class:`Check` per question, each with a verdict and evidence.

A check runs in parts, each public (chain and blobs) or needing a participant's key to open
sealed blobs. Its verdict, for the viewer whose keys the audit holds:

- ``FAIL``: a part found cheating; every :class:`Finding` names who (address, role) and
  where (instance, round, hashes);
- ``PASS``: every part this viewer could run passed (``detail`` says which; ``unchecked``
  lists the parts that need a key the viewer lacks);
- ``NOT CHECKABLE``: no part could run, or something on chain stays open for this viewer (an
  accusation it cannot re-check, a training not yet completed); ``detail`` says why.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any, Generic, Protocol, TypeVar

from mercato.errors import InputError, MercatoError, node_unreachable_count
from mercato.storage.base import unreachable_count

Ledger = TypeVar("Ledger")
"""What a protocol's checks read: its entry's events, blobs and the viewer's keys."""


class EntryLedger(Protocol):
    """What :func:`audit_entry` needs of a ledger, beside what its checks read."""

    @property
    def status_label(self) -> str:
        """The entry's state as the CLI prints it (``confirmed``, ``completed``, ...)."""
        ...

    @property
    def roles(self) -> tuple[str, ...]:
        """The viewer's roles in the entry (empty for the public)."""
        ...


Entry = TypeVar("Entry", bound=EntryLedger)


class Verdict(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    NOT_CHECKABLE = "not checkable"

    @property
    def label(self) -> str:
        return self.value.upper()


@dataclass(frozen=True)
class Finding:
    """One piece of evidence of cheating: what is wrong and, when known, who is at fault."""

    text: str
    who: str | None = None
    """Address of the party at fault (None when the evidence cannot tell who)."""
    role: str | None = None
    """Its role in this run: "data owner", "compute provider", "model owner" or "contract"."""
    instance_id: int | None = None
    round: int | None = None

    @property
    def culprit(self) -> str | None:
        """``"role address"``, or None when the evidence cannot tell who."""
        if self.who is None:
            return None
        return f"{self.role} {self.who}" if self.role else self.who

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Check:
    """One question and its answer for one viewer."""

    number: int
    key: str
    question: str
    paper: str
    """The paper's wording of the question ("" where the paper has none)."""
    verdict: Verdict
    lines: tuple[str, ...]
    """What failed (FAIL), what was checked (PASS), or why it is not checkable."""
    findings: tuple[Finding, ...] = ()
    unchecked: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def detail(self) -> str:
        return "; ".join(self.lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "key": self.key,
            "question": self.question,
            "paper": self.paper,
            "verdict": self.verdict.value,
            "detail": self.detail,
            "findings": [f.to_dict() for f in self.findings],
            "unchecked": list(self.unchecked),
            "notes": list(self.notes),
        }


@dataclass
class CheckBuilder:
    """Collects the parts of one check as they run, then decides its verdict."""

    number: int
    key: str
    question: str
    paper: str = ""
    findings: list[Finding] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)
    unchecked: list[str] = field(default_factory=list)
    open: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def fail(self, finding: Finding) -> None:
        self.findings.append(finding)

    def ran(self, what: str) -> None:
        """A part ran (its failures, if any, were recorded with :meth:`fail`)."""
        self.checked.append(what)

    def skip(self, what: str) -> None:
        """A part this viewer cannot run: ``what`` says what it would check and which key."""
        self.unchecked.append(what)

    def undecided(self, what: str) -> None:
        """Something that keeps the question open for this viewer."""
        self.open.append(what)

    def note(self, text: str) -> None:
        self.notes.append(text)

    def build(self) -> Check:
        if self.findings:
            verdict, lines = Verdict.FAIL, [f.text for f in self.findings]
        elif self.open or not self.checked:
            verdict = Verdict.NOT_CHECKABLE
            lines = self.open or self.unchecked or ["nothing to check"]
        else:
            verdict, lines = Verdict.PASS, self.checked
        return Check(
            self.number,
            self.key,
            self.question,
            self.paper,
            verdict,
            tuple(lines),
            tuple(self.findings),
            tuple(self.unchecked),
            tuple(self.notes),
        )


@dataclass(frozen=True)
class CheckSpec(Generic[Ledger]):
    """One question of a protocol's audit and the function that answers it."""

    key: str
    question: str
    paper: str
    """The paper's wording of the question ("" where the paper has none)."""
    run: Callable[[Ledger, CheckBuilder], None]
    """Reads the ledger and records into the builder what it checked and what failed."""


def run_checks(specs: Sequence[CheckSpec[Ledger]], ledger: Ledger) -> tuple[Check, ...]:
    """Every check in order, numbered from 1, each answered from ``ledger``."""
    checks: list[Check] = []
    for number, spec in enumerate(specs, 1):
        builder = CheckBuilder(number, spec.key, spec.question, spec.paper)
        spec.run(ledger, builder)
        checks.append(builder.build())
    return tuple(checks)


@dataclass(frozen=True)
class AuditReport:
    """Every check of one audit, and who it found cheating."""

    subject: str
    """What was audited, e.g. ``"training 3"``."""
    status: str
    viewer: str | None
    """Address whose keys opened sealed blobs; None for a public audit."""
    viewer_roles: tuple[str, ...]
    checks: tuple[Check, ...]

    @property
    def passed(self) -> bool:
        """No check failed (some may not have been checkable)."""
        return all(c.verdict is not Verdict.FAIL for c in self.checks)

    @property
    def cheaters(self) -> dict[str, list[int]]:
        """Each party found at fault (``"role address"``, or ``"unattributed"``) and the
        checks that found it, in the order found."""
        found: dict[str, list[int]] = {}
        for check in self.checks:
            if check.verdict is not Verdict.FAIL:
                continue
            for finding in check.findings:
                checks = found.setdefault(finding.culprit or "unattributed", [])
                if check.number not in checks:
                    checks.append(check.number)
        return found

    def summary(self) -> str:
        """``"pass"`` or ``"cheating found: <who> (check n), ..."``."""
        if self.passed:
            open_checks = sum(c.verdict is Verdict.NOT_CHECKABLE for c in self.checks)
            if open_checks:
                return f"pass ({open_checks} of {len(self.checks)} checks not checkable)"
            return "pass"
        parts = [
            f"{who} (check{'s' if len(numbers) > 1 else ''} {', '.join(map(str, numbers))})"
            for who, numbers in self.cheaters.items()
        ]
        return "cheating found: " + "; ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "subject": self.subject,
            "status": self.status,
            "viewer": self.viewer,
            "viewer_roles": list(self.viewer_roles),
            "passed": self.passed,
            "summary": self.summary(),
            "cheaters": [{"who": who, "checks": numbers} for who, numbers in self.cheaters.items()],
            "checks": [c.to_dict() for c in self.checks],
        }


class OutageDuringAudit(MercatoError):
    """The node or the blob store could not be reached during an audit, so it gives no
    verdict rather than blame a party for what it could not read."""


def audit_entry(
    noun: str,
    ident: int,
    count: int,
    open_ledger: Callable[[], Entry],
    specs: Sequence[CheckSpec[Entry]],
    viewer: str | None,
) -> AuditReport:
    """Every check of entry ``ident`` (one of ``count``, called ``noun``: ``"auction"``) on the
    ledger ``open_ledger`` reads, for the viewer at address ``viewer`` (None: the public).
    InputError if there is no such entry."""
    if not 1 <= ident <= count:
        raise InputError(f"no {noun} {ident} (there are {count})")
    store_before, node_before = unreachable_count(), node_unreachable_count()
    ledger = open_ledger()
    report = AuditReport(
        subject=f"{noun} {ident}",
        status=ledger.status_label,
        viewer=viewer,
        viewer_roles=ledger.roles,
        checks=run_checks(specs, ledger),
    )
    # A check that caught an outage as "cannot be had" would blame a party for it: no
    # verdict at all then. Each outage error counts itself, even when a check caught it.
    for what, before, now in (
        ("the node", node_before, node_unreachable_count()),
        ("the blob store", store_before, unreachable_count()),
    ):
        if now != before:
            raise OutageDuringAudit(
                f"{what} could not be reached while auditing {noun} {ident}: no verdict; "
                "try again once it is back"
            )
    return report
