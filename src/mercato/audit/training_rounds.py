"""Audit checks of P2's rounds: the models COs post, the draws, the MO's fraud reports.

Checks 5-7 and 9 of :mod:`mercato.audit.training`. :func:`check_draws` is the draw check as
a pure function of what the chain recorded (:class:`Draw`), so it can be tested apart.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from mercato.audit.report import CheckBuilder
from mercato.audit.training_ledger import TrainingLedger
from mercato.chain.contract import Event
from mercato.protocols.draws import select as select_subsets
from mercato.protocols.training.documents import (
    REASON_COPIED_HASH,
    REASON_HASH_MISMATCH,
    REASON_MISSING,
    REASON_OUTVOTED,
    Evidence,
    hash_hex,
)
from mercato.protocols.training.market import (
    BLOCKHASH_WINDOW,
    round_seed,
    subsets_of,
)

START_ROUND_INPUTS = ("training_id", "model_hash")
"""All start_round takes: nothing that bears on which subsets are drawn."""


def check_model_as_declared(ledger: TrainingLedger, check: CheckBuilder) -> None:
    """5. Is each downloaded model the one the CO declared?"""
    jobs = ledger.all_jobs
    if ledger.is_mo:
        mine = jobs
    else:
        own = set(ledger.own)
        mine = [job for job in jobs if int(job["instance_id"]) in own]
    for job in jobs:
        if job in mine:
            continue
        if not ledger.market.store.has(hash_hex(job["location_hash"])):
            instance_id = int(job["instance_id"])
            check.fail(
                ledger.against_co(
                    instance_id,
                    f"round {job['round']}: {ledger.describe(instance_id)} posted location "
                    f"{hash_hex(job['location_hash'])}; the store has no such blob",
                    int(job["round"]),
                )
            )
    if not mine:
        if jobs:
            check.skip("opening the sealed models needs the MO's key (or each job's CO's)")
        else:
            check.ran("no job was submitted")
        return
    for job in mine:
        opened = ledger.open_job(job)
        if opened.content is None:
            instance_id = int(job["instance_id"])
            check.fail(
                ledger.against_co(
                    instance_id,
                    f"round {job['round']}: the job of {ledger.describe(instance_id)} "
                    f"(model hash {hash_hex(job['model_hash'])}): {opened.problem}",
                    int(job["round"]),
                )
            )
    whose = "the MO's key" if ledger.is_mo else "this CO's key"
    check.ran(
        f"with {whose}, {len(mine)} sealed model(s) open and hash, with their nonces, to the "
        "declared model hashes"
    )
    if len(mine) < len(jobs):
        check.skip("the other jobs' models need the MO's key")


def check_no_copied_model_hash(ledger: TrainingLedger, check: CheckBuilder) -> None:
    """6. Did a CO copy another CO's model hash or nonce?"""
    first: dict[bytes, Event] = {}
    for job in ledger.all_jobs:
        model_hash = bytes(job["model_hash"])
        if model_hash in first:
            earlier = first[model_hash]
            instance_id = int(job["instance_id"])
            check.fail(
                ledger.against_co(
                    instance_id,
                    f"round {job['round']}: {ledger.describe(instance_id)} posted model hash "
                    f"{hash_hex(model_hash)}, posted before by instance "
                    f"{earlier['instance_id']} in round {earlier['round']}",
                    int(job["round"]),
                )
            )
        else:
            first[model_hash] = job
    nonces: dict[bytes, Event] = {}
    for event in ledger.events:  # nonces are unique across the whole contract
        if event.name not in ("InstanceJoined", "JobSubmitted"):
            continue
        nonce = bytes(event["nonce"])
        if nonce in nonces and event.get("training_id") == ledger.training_id:
            instance_id = int(event["instance_id"])
            check.fail(
                ledger.against_co(
                    instance_id,
                    f"round {event['round']}: {ledger.describe(instance_id)} reused nonce "
                    f"{hash_hex(nonce)} (the contract should have refused it)",
                    int(event["round"]),
                )
            )
        nonces.setdefault(nonce, event)
    check.ran(
        f"the {len(ledger.all_jobs)} job(s) posted distinct model hashes and nonces never "
        "used before in the contract"
    )


@dataclass(frozen=True)
class Draw:
    """What the chain recorded of one round's draw, for :func:`check_draws`."""

    round: int
    requested_block: int
    """Block of the RoundRequested transaction."""
    requested_target: int
    """RoundRequested.target_block."""
    retargets: tuple[tuple[int, int], ...]
    """(block of each DrawRetargeted transaction, its target_block), in order."""
    drawn_block: int
    """Block of the RoundStarted transaction."""
    target_block: int
    block_hash: bytes
    chain_hash: bytes | None
    """The chain's hash of ``target_block`` (None: no longer readable)."""
    subsets: int
    """RoundStarted.subsets: the mask drawn."""


def check_draws(
    training_id: int, subsets: int, per_round: int, draws: Sequence[Draw]
) -> list[tuple[int, str]]:
    """Problems with a training's draws, as (round, what is wrong); empty if every draw is
    the one the contract must make: from the hash of the block that recorded the request
    (or its last re-target), drawn in a later block within the block-hash window, and
    equal to :func:`select_subsets` of :func:`round_seed`, rounds chaining their cycle."""
    problems: list[tuple[int, str]] = []
    cycle = 0
    for draw in sorted(draws, key=lambda d: d.round):
        r = draw.round
        if draw.requested_target != draw.requested_block:
            problems.append(
                (
                    r,
                    f"the request's target block {draw.requested_target} is not its own block "
                    f"{draw.requested_block}",
                )
            )
        expected_target = draw.requested_block
        for block, target in draw.retargets:
            if target != block:
                problems.append((r, f"a re-target to block {target} was made in block {block}"))
            if block - expected_target <= BLOCKHASH_WINDOW:
                problems.append(
                    (
                        r,
                        f"re-targeted in block {block} while block {expected_target}'s hash "
                        "was still readable",
                    )
                )
            expected_target = block
        if draw.target_block != expected_target:
            problems.append(
                (r, f"drawn from block {draw.target_block}, not block {expected_target}")
            )
        if not 0 < draw.drawn_block - draw.target_block <= BLOCKHASH_WINDOW:
            problems.append(
                (
                    r,
                    f"drawn in block {draw.drawn_block}, not within {BLOCKHASH_WINDOW} blocks "
                    f"after its target {draw.target_block}",
                )
            )
        if draw.chain_hash is not None and draw.chain_hash != draw.block_hash:
            problems.append(
                (
                    r,
                    f"the logged hash {hash_hex(draw.block_hash)} of block {draw.target_block} "
                    f"is not the chain's {hash_hex(draw.chain_hash)}",
                )
            )
        seed = round_seed(draw.block_hash, training_id, r)
        expected, cycle = select_subsets(seed, subsets, per_round, cycle)
        if expected != draw.subsets:
            problems.append(
                (
                    r,
                    f"drew subsets {list(subsets_of(draw.subsets))}; its block hash gives "
                    f"{list(subsets_of(expected))}",
                )
            )
    return problems


def draws_of(ledger: TrainingLedger) -> list[Draw]:
    """The draws of a training's rounds, as the chain recorded them."""
    draws = []
    for round_ in ledger.rounds:
        started = round_.started
        if started is None:
            continue
        target = int(started["target_block"])
        chain_hash = ledger.market.chain.block_hash(target)
        draws.append(
            Draw(
                round=round_.number,
                requested_block=round_.requested.block_number,
                requested_target=int(round_.requested["target_block"]),
                retargets=tuple((e.block_number, int(e["target_block"])) for e in round_.retargets),
                drawn_block=started.block_number,
                target_block=target,
                block_hash=bytes(started["block_hash"]),
                chain_hash=chain_hash if any(chain_hash) else None,
                subsets=int(started["subsets"]),
            )
        )
    return draws


def check_mo_cannot_choose(ledger: TrainingLedger, check: CheckBuilder) -> None:
    """7. Did the MO control subset selection?"""
    abi = ledger.market.training_market.contract.abi.raw
    start = next((f for f in abi if f.get("name") == "start_round"), None)
    inputs = tuple(p["name"] for p in start["inputs"]) if start else ()
    if inputs != START_ROUND_INPUTS:
        check.fail(
            ledger.against_contract(
                f"start_round takes {list(inputs)}, not {list(START_ROUND_INPUTS)}"
            )
        )
    draws = draws_of(ledger)
    dataset = ledger.dataset
    for round_number, problem in check_draws(
        ledger.training_id, dataset.subsets, ledger.training.subsets_per_round, draws
    ):
        check.fail(ledger.against_contract(f"round {round_number}: {problem}", round_number))
    unreadable = [d.round for d in draws if d.chain_hash is None]
    if unreadable:
        check.note(f"the node no longer serves the target block hash of round(s) {unreadable}")
    for round_ in ledger.rounds:
        if round_.started is None:
            check.note(f"round {round_.number} is not drawn yet")
    check.ran(
        f"start_round takes only {list(START_ROUND_INPUTS)}; each of {len(draws)} draw(s) is "
        "recomputed from the hash of the block that recorded its request"
    )


def _public_problem(ledger: TrainingLedger, report: Event, evidence: Evidence) -> str:
    """Why the evidence contradicts the chain ("" if it does not)."""
    instance_id, round_number = int(report["instance_id"]), int(report["round"])
    named = (evidence.training_id, evidence.round, evidence.instance_id, evidence.co.lower())
    if named != (ledger.training_id, round_number, instance_id, str(report["co"]).lower()):
        return (
            f"its evidence names training {evidence.training_id} round {evidence.round} "
            f"instance {evidence.instance_id} of {evidence.co}"
        )
    jobs = ledger.rounds[round_number - 1].jobs if round_number <= len(ledger.rounds) else ()
    job = next((j for j in jobs if int(j["instance_id"]) == instance_id), None)
    if job is None:
        return f"instance {instance_id} submitted no job in round {round_number}"
    if evidence.reason == REASON_COPIED_HASH:
        earlier = [
            j for j in ledger.all_jobs
            if bytes(j["model_hash"]) == bytes(job["model_hash"])
            and (j.block_number, j.log_index) < (job.block_number, job.log_index)
        ]  # fmt: skip
        if not earlier:
            return f"no job posted model hash {hash_hex(job['model_hash'])} before it"
    if evidence.reason == REASON_OUTVOTED:
        subset = ledger.subset_of(instance_id)
        peers = {
            int(j["instance_id"]) for j in jobs if ledger.subset_of(int(j["instance_id"])) == subset
        }
        reported = {
            int(r["instance_id"]) for r in ledger.reports if int(r["round"]) == round_number
        }
        majority = set(evidence.majority)
        if not majority or not majority <= peers - reported:
            return (
                f"its majority {list(evidence.majority)} is not made of unreported replicas of "
                f"subset {subset} that submitted in round {round_number}"
            )
    return ""


def check_reports_justified(ledger: TrainingLedger, check: CheckBuilder) -> None:
    """9. Was every fraud report justified?"""
    if not ledger.reports:
        check.ran("no fraud was reported")
        return
    why_not = ledger.can_review()
    confirmed = 0
    for report in ledger.reports:
        instance_id, round_number = int(report["instance_id"]), int(report["round"])
        where = f"round {round_number}: the MO reported {ledger.describe(instance_id)}"
        evidence = ledger.evidence(report)
        if isinstance(evidence, str):
            check.fail(
                ledger.against_mo(f"{where} with evidence {evidence}", instance_id, round_number)
            )
            continue
        problem = _public_problem(ledger, report, evidence)
        if problem:
            check.fail(ledger.against_mo(f"{where}, but {problem}", instance_id, round_number))
            continue
        if evidence.reason == REASON_COPIED_HASH:
            confirmed += 1  # decided from the chain alone
            continue
        if not why_not:
            review = ledger.review(round_number)
            if isinstance(review, str):
                check.undecided(review)
                continue
            found = {e.instance_id: e for e in review.frauds}
            if instance_id not in found:
                check.fail(
                    ledger.against_mo(
                        f"{where} ({evidence.reason}: {evidence.detail}), but re-running the "
                        "review finds its job sound",
                        instance_id,
                        round_number,
                    )
                )
                continue
            if found[instance_id].reason != evidence.reason:
                check.note(
                    f"{where} as {evidence.reason}; the review re-run finds "
                    f"{found[instance_id].reason}"
                )
            confirmed += 1
        elif instance_id in ledger.own and evidence.reason in (
            REASON_MISSING,
            REASON_HASH_MISMATCH,
        ):
            job = next(
                j
                for j in ledger.rounds[round_number - 1].jobs
                if int(j["instance_id"]) == instance_id
            )
            if ledger.open_job(job).content is not None:
                check.fail(
                    ledger.against_mo(
                        f"{where} ({evidence.reason}), but its sealed model is in the store and "
                        "hashes, with its nonce, to the declared model hash",
                        instance_id,
                        round_number,
                    )
                )
                continue
            confirmed += 1
        else:
            check.undecided(f"{where} ({evidence.reason}); confirming it {why_not}")
    check.ran(
        f"the evidence of each of {len(ledger.reports)} report(s) is public and consistent "
        f"with the chain; {confirmed} confirmed"
    )
