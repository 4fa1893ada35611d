"""Audits answered from the chain and the blob store alone, one module per protocol.

Each module offers ``audit(market, ident, viewer) -> AuditReport``: every check of one entry
(an auction, a training, a task, a request, an API) as the shared framework of
:mod:`.report` runs them (:func:`~mercato.audit.report.run_checks`), with the keys of
``viewer`` (an :class:`~mercato.protocols.identity.Identity`) or none (a public audit).
:data:`AUDITORS` lists them; ``mercato audit <command> ID`` and the read model's audit pages
are built from it. Importing this package is light: a protocol's checks load when run.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module
from importlib.util import find_spec
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mercato.audit.report import AuditReport
    from mercato.protocols.identity import Identity
    from mercato.protocols.marketplace import Marketplace


@dataclass(frozen=True)
class Auditor:
    """Where one protocol's audit lives and how the command line names it."""

    command: str
    """``mercato audit <command> ID``."""
    protocol: str
    """The protocol's catalog key (:mod:`mercato.protocols.catalog`)."""
    module: str
    """The module whose ``audit(market, ident, viewer)`` runs every check."""
    noun: str
    """What one entry is called (``"auction"``, ``"task"``, ...)."""
    help: str
    """What the audit answers, for ``--help``."""

    def available(self) -> bool:
        """Whether the protocol's checks are installed (a light test: nothing is imported)."""
        return find_spec(self.module) is not None

    def run(self, market: Marketplace, ident: int, viewer: Identity | None) -> AuditReport:
        """Every check of entry ``ident`` for ``viewer`` (None: public); InputError if
        there is no such entry."""
        report: AuditReport = import_module(self.module).audit(market, ident, viewer)
        return report


AUDITORS: tuple[Auditor, ...] = (
    Auditor(
        "auction",
        "auction",
        "mercato.audit.auction",
        "auction",
        "Check one P1 auction: the winners, their prices, the payments and the slashes.",
    ),
    Auditor(
        "training",
        "training",
        "mercato.audit.training",
        "training",
        "Answer each question of Somy et al. II-D for one P2 training: pass, or who cheated.",
    ),
    Auditor(
        "datamarket",
        "datamarket",
        "mercato.audit.datamarket",
        "task",
        "Check one P3 task: the aggregates, the exclusions, the reports and the payments.",
    ),
    Auditor(
        "modelmarket",
        "modelmarket",
        "mercato.audit.modelmarket",
        "request",
        "Check one P4 request: the benchmark scores, the sale, the fair swap and the payments.",
    ),
    Auditor(
        "api",
        "apimarket",
        "mercato.audit.apimarket",
        "API",
        "Check one P5 API: its registration, every batch, challenge and dispute, and the pay.",
    ),
)
"""Every protocol's audit, in the catalog's order."""


def auditor_for(protocol: str) -> Auditor | None:
    """The audit of the protocol with catalog key ``protocol``, if its checks exist yet."""
    for auditor in AUDITORS:
        if auditor.protocol == protocol and auditor.available():
            return auditor
    return None
