"""What ``mercato training`` prints: JSON-ready records of datasets and trainings, one line
per event, and the text view of one training. Amounts are in wei and hashes 0x-hex.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

from rich import box
from rich.table import Table

from mercato.cli.common import console, format_ether, format_time, relative_time
from mercato.protocols.training.limits import MAX_SUBSETS

# The protocol is imported where it is used, so that `mercato --help` does not load it.
if TYPE_CHECKING:
    from mercato.chain.contract import Event
    from mercato.protocols.marketplace import Marketplace
    from mercato.protocols.training.documents import Manifest
    from mercato.protocols.training.market import Dataset, Training, TrainingStatus


@cache
def deadline_kinds() -> dict[TrainingStatus, str]:
    """Which deadline a training's single deadline field means in each live status."""
    from mercato.protocols.training.market import TrainingStatus

    return {
        TrainingStatus.REQUESTED: "approval",
        TrainingStatus.APPROVED: "idle",
        TrainingStatus.DRAWING: "idle",
        TrainingStatus.TRAINING: "round",
        TrainingStatus.ROUND_DONE: "review",
    }


@cache
def completable() -> tuple[TrainingStatus, ...]:
    """The statuses in which a training can be completed (no round runs)."""
    from mercato.protocols.training.market import TrainingStatus

    return (TrainingStatus.APPROVED, TrainingStatus.DRAWING, TrainingStatus.ROUND_DONE)


# Events that belong to one training (they carry its id).
TRAINING_EVENTS = frozenset(
    {
        "TrainingRequested",
        "TrainingApproved",
        "TrainingCancelled",
        "RoundRequested",
        "DrawRetargeted",
        "RoundStarted",
        "JobSubmitted",
        "RoundDone",
        "FraudReported",
        "TrainingCompleted",
    }
)


def read_manifest(market: Marketplace, dataset: Dataset) -> Manifest:
    """The dataset's public manifest, from the blob store."""
    from mercato.protocols.training.documents import Manifest, hash_hex

    return Manifest.from_bytes(market.store.get(hash_hex(dataset.meta_hash)))


def dataset_record(dataset: Dataset) -> dict[str, Any]:
    """A dataset as the chain holds it."""
    return {
        "id": dataset.dataset_id,
        "owner": dataset.owner,
        "subsets": dataset.subsets,
        "replicas": dataset.replicas,
        "slots": dataset.slots,
        "verified": dataset.verified,
        "ready": dataset.ready,
        "data_price": dataset.data_price,
        "job_price": dataset.job_price,
        "meta_hash": dataset.meta_hash,
    }


def instance_slots(market: Marketplace, dataset: Dataset) -> list[dict[str, Any]]:
    """Every slot (subset, replica) with its current instance, holder and state."""
    from mercato.protocols.training import history

    tm = market.training_market
    slots = []
    for subset, row in enumerate(history.instances_of(market, dataset.dataset_id)):
        for replica, instance_id in enumerate(row):
            instance = tm.instance(instance_id) if instance_id else None
            slots.append(
                {
                    "subset": subset,
                    "replica": replica,
                    "instance_id": instance_id or None,
                    "co": None if instance is None else instance.co,
                    "status": "empty" if instance is None else instance.status.name.lower(),
                }
            )
    return slots


def manifest_record(manifest: Manifest) -> dict[str, Any]:
    return {
        "name": manifest.name,
        "ontology_class": manifest.ontology_class,
        "n_features": manifest.n_features,
        "classes": list(manifest.classes),
        "sizes": list(manifest.sizes),
        "commitments": list(manifest.commitments),
    }


def training_record(training: Training, idle_period: int) -> dict[str, Any]:
    """A training as the chain holds it, with what its deadline means now."""
    kind = deadline_kinds().get(training.status)
    live = training.status in completable()
    return {
        "id": training.training_id,
        "status": training.status.label,
        "mo": training.mo,
        "dataset_id": training.dataset_id,
        "model_id": training.model_id,
        "subsets_per_round": training.subsets_per_round,
        "max_rounds": training.max_rounds,
        "round": training.round,
        "drawn_subsets": list(training.selected_subsets),
        "remaining": training.remaining,
        "jobs": training.jobs,
        "deadline": training.deadline if kind else None,
        "deadline_kind": kind,
        "idle_deadline": training.idle_deadline(idle_period) if live else None,
        "target_block": training.target_block or None,
        "escrowed": training.escrowed,
        "locked": training.locked,
        "forfeited_to_owner": training.forfeited,
    }


def training_events(market: Marketplace, training_id: int) -> list[Event]:
    """The events of one training, in chain order."""
    return [
        e
        for e in market.training_market.events(from_block=market.deployment.block)
        if e.name in TRAINING_EVENTS and e["training_id"] == training_id
    ]


def round_records(
    events: list[Event], instances: dict[int, tuple[int, int]]
) -> list[dict[str, Any]]:
    """Per round: its model, the subsets drawn, the jobs submitted and the jobs missing.

    ``instances`` maps an instance id to its (subset, replica).
    """
    rounds: dict[int, dict[str, Any]] = {}
    for e in events:
        if e.name not in ("RoundRequested", "RoundStarted", "JobSubmitted", "RoundDone"):
            continue
        found = rounds.setdefault(
            int(e["round"]),
            {"round": int(e["round"]), "subsets": [], "jobs": [], "missing": None},
        )
        if e.name == "RoundRequested":
            found["model_hash"] = e["model_hash"]
            found["target_block"] = e["target_block"]
        elif e.name == "RoundStarted":
            found["subsets"] = [s for s in range(MAX_SUBSETS) if e["subsets"] >> s & 1]
            found["block_hash"] = e["block_hash"]
            found["round_deadline"] = e["round_deadline"]
        elif e.name == "JobSubmitted":
            subset, replica = instances.get(int(e["instance_id"]), (-1, -1))
            found["jobs"].append(
                {
                    "instance_id": e["instance_id"],
                    "co": e["co"],
                    "subset": subset,
                    "replica": replica,
                    "model_hash": e["model_hash"],
                    "location_hash": e["location_hash"],
                }
            )
        else:
            found["missing"] = e["missing"]
            found["review_deadline"] = e["review_deadline"]
    return [rounds[r] for r in sorted(rounds)]


def payments_record(
    events: list[Event], jobs: list[dict[str, Any]], owner: str
) -> dict[str, Any] | None:
    """What the training paid (or refunded) once final; None while it still runs.

    Each compute provider's pay is the pending pay of its jobs (its share of what reported
    replicas forfeited included), which completion credits in full.
    """
    for e in events:
        if e.name == "TrainingCancelled":
            return {"refund": e["refund"], "paid_owner": 0, "paid_compute": 0, "compute": {}}
        if e.name == "TrainingCompleted":
            compute: dict[str, int] = {}
            for job in jobs:
                if job["pending"]:
                    compute[job["co"]] = compute.get(job["co"], 0) + job["pending"]
            return {
                "data_owner": owner,
                "paid_owner": e["paid_owner"],
                "paid_compute": e["paid_compute"],
                "compute": compute,
                "refund": e["refund"],
            }
    return None


def describe(event: Event) -> str:
    """One line saying what a training event means."""
    name = event.name
    if name == "TrainingRequested":
        return (
            f"requested by {event['mo']}: model {event['model_id']}, "
            f"{event['subsets_per_round']} subset(s) a round for {event['max_rounds']} "
            f"round(s); {format_ether(event['escrowed'])} in escrow"
        )
    if name == "TrainingApproved":
        return f"approved by the data owner {event['owner']}"
    if name == "TrainingCancelled":
        return f"cancelled; {format_ether(event['refund'])} refundable to the model owner"
    if name == "RoundRequested":
        return f"round {event['round']} asked for; drawn from block {event['target_block']}"
    if name == "DrawRetargeted":
        return f"round {event['round']}: target expired, now block {event['target_block']}"
    if name == "RoundStarted":
        drawn = [s for s in range(MAX_SUBSETS) if event["subsets"] >> s & 1]
        return f"round {event['round']}: subsets {drawn} drawn, {event['remaining']} job(s) due"
    if name == "JobSubmitted":
        return f"round {event['round']}: instance {event['instance_id']} ({event['co']}) submits"
    if name == "RoundDone":
        missing = f", {event['missing']} job(s) missing" if event["missing"] else ""
        return f"round {event['round']} done{missing}; the model owner reviews"
    if name == "FraudReported":
        return (
            f"round {event['round']}: instance {event['instance_id']} ({event['co']}) "
            f"reported; forfeits {format_ether(event['forfeited'])}, stake slashed "
            f"{format_ether(event['slashed'])}"
        )
    if name == "TrainingCompleted":
        return (
            f"completed after {event['rounds']} round(s): data owner "
            f"{format_ether(event['paid_owner'])}, compute {format_ether(event['paid_compute'])}, "
            f"refund {format_ether(event['refund'])}"
        )
    return name


def deadline_text(training: Training, now: int) -> str:
    """``round in 5m``: which deadline the training waits for, and when."""
    kind = deadline_kinds().get(training.status)
    return "-" if kind is None else f"{kind} {relative_time(training.deadline, now)}"


def training_document(market: Marketplace, training: Training) -> dict[str, Any]:
    """Everything ``training show --json`` prints about one training.

    ``owed`` is what the training market owes each party now, over all its trainings: zero
    once everyone has withdrawn.
    """
    from mercato.protocols.training import history

    tm = market.training_market
    record = tm.dataset(training.dataset_id)
    events = training_events(market, training.training_id)
    instances: dict[int, tuple[int, int]] = {}
    jobs: list[dict[str, Any]] = []
    for subset, row in enumerate(history.instances_of(market, training.dataset_id)):
        for replica, instance_id in enumerate(row):
            if not instance_id:
                continue
            instances[instance_id] = (subset, replica)
            job = tm.job(training.training_id, instance_id)
            if job.round or job.pending or job.fraudulent:
                jobs.append(
                    {
                        "instance_id": instance_id,
                        "co": tm.instance(instance_id).co,
                        "subset": subset,
                        "replica": replica,
                        "pending": job.pending,
                        "last_round": job.round,
                        "fraudulent": job.fraudulent,
                    }
                )
    frauds = [
        {
            "round": e["round"],
            "instance_id": e["instance_id"],
            "co": e["co"],
            "evidence_hash": e["evidence_hash"],
            "forfeited": e["forfeited"],
            "slashed": e["slashed"],
            "honest": list(e["honest"]),
        }
        for e in events
        if e.name == "FraudReported"
    ]
    parties = [record.owner, training.mo, *(str(job["co"]) for job in jobs)]
    return {
        "training": training_record(training, tm.period("idle")),
        "dataset": dataset_record(record),
        "rounds": round_records(events, instances),
        "jobs": jobs,
        "frauds": frauds,
        "slashed": tm.slashed(training.training_id),
        "payments": payments_record(events, jobs, record.owner),
        "owed": {party: tm.owed(party) for party in dict.fromkeys(parties)},
        "events": [
            {
                "name": e.name,
                "block": e.block_number,
                "tx": e.tx_hash,
                "summary": describe(e),
                "args": e.args,
            }
            for e in events
        ],
    }


def print_training(market: Marketplace, document: dict[str, Any]) -> None:
    """The text view of :func:`training_document`."""
    t = document["training"]
    now = market.chain.timestamp()
    console.rule(f"[bold]training {t['id']}[/bold]: {t['status']}")
    console.print(f"model owner  {t['mo']} (model {t['model_id']})")
    d = document["dataset"]
    console.print(f"dataset      {d['id']}: {d['subsets']} x {d['replicas']}, owner {d['owner']}")
    console.print(
        f"rounds       {t['round']} of {t['max_rounds']}, {t['subsets_per_round']} subset(s) "
        f"each; drawn now {t['drawn_subsets'] or '-'}; {t['jobs']} job(s) accepted"
    )
    if t["deadline_kind"]:
        console.print(
            f"deadline     {t['deadline_kind']} {format_time(t['deadline'])} "
            f"({relative_time(t['deadline'], now)})"
        )
    console.print(f"escrow       {format_ether(t['escrowed'])}, locked {format_ether(t['locked'])}")
    rounds = Table(title="rounds", box=box.SIMPLE_HEAD, pad_edge=False)
    for column in ("round", "subsets", "jobs", "missing"):
        rounds.add_column(column)
    for r in document["rounds"]:
        missing = "-" if r["missing"] is None else str(r["missing"])
        rounds.add_row(str(r["round"]), str(r["subsets"]), str(len(r["jobs"])), missing)
    console.print(rounds)
    for f in document["frauds"]:
        console.print(
            f"[red]fraud[/red] round {f['round']}: instance {f['instance_id']} ({f['co']}) "
            f"forfeited {format_ether(f['forfeited'])} to "
            + (f"instances {f['honest']}" if f["honest"] else "the data owner")
        )
    payments = document["payments"]
    if payments:
        console.print(
            f"payments     data owner {format_ether(payments['paid_owner'])}, compute "
            f"{format_ether(payments['paid_compute'])}, refund {format_ether(payments['refund'])}"
        )
        for co, amount in payments["compute"].items():
            console.print(f"             {co} {format_ether(amount)}")
    console.print(f"[bold]{len(document['events'])} event(s)[/bold]")
    for e in document["events"]:
        console.print(f"  block {e['block']:>6}  {e['name']:<18} {e['summary']}", soft_wrap=True)
