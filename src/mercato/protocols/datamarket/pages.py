"""P3's read model (:class:`~mercato.protocols.readmodel.Pages`): data-market tasks for a
page."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from mercato.errors import MercatoError
from mercato.protocols import readmodel

if TYPE_CHECKING:
    from mercato.chain.contract import Event
    from mercato.protocols.datamarket.documents import TaskSpec
    from mercato.protocols.marketplace import Marketplace

ENTRY_ARG = "task_id"


def summaries(market: Marketplace) -> list[dict[str, Any]]:
    """Every task as ``datamarket list --json`` prints it: the tasks by calls, their specs
    from one scan of the TaskPosted events."""
    from mercato.protocols.datamarket import views
    from mercato.protocols.datamarket.documents import TaskSpec
    from mercato.storage.base import hash_hex

    dm = market.data_market
    posted = {
        int(e["task_id"]): e for e in dm.events("TaskPosted", from_block=market.deployment.block)
    }
    records = []
    for task in views.read_tasks(dm):
        spec: TaskSpec | None = None
        event = posted.get(task.task_id)
        if event is not None:
            try:
                spec = TaskSpec.from_bytes(market.store.get(hash_hex(event["spec_hash"])))
            except MercatoError:
                spec = None  # the chain's side of the task still shows
        records.append(readmodel.json_record(task.record(spec)))
    return records


def detail(
    market: Marketplace, ident: int, events: Sequence[Event] | None = None
) -> dict[str, Any]:
    """Task ``ident`` as ``datamarket show --json`` prints it (members, rounds, exclusions,
    scores, outcome, events)."""
    from mercato.protocols.datamarket import views

    found = views.read_detail(market, views.read_task(market.data_market, ident), events)
    return readmodel.json_record(found.record())


def describe(event: Event) -> str:
    """One line saying what a task's event means (its views' ``describe``)."""
    from mercato.protocols.datamarket import views

    return views.describe(event)
