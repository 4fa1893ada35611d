"""``mercato.audit.datamarket`` and ``mercato audit datamarket`` on small P3 tasks: honest
secure and robust tasks, an MO that excludes an honest DO, a DO that reveals a wrong share,
an unfinished task.

Every task runs once on one module-scoped world (tests/protocols/datamarket/offchain.py: an
MO and seven DOs on the embedded chain); an audit only reads. The command line runs through
typer's runner over the same market (its settings' market is replaced by the world's).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from tests.protocols.datamarket.offchain import PER_UPDATE, P3World, build_world
from typer.testing import CliRunner

from mercato.audit.datamarket import CHECKS, audit
from mercato.audit.report import AuditReport, Verdict
from mercato.cli.app import app
from mercato.cli.common import Context
from mercato.config import load_settings
from mercato.crypto.secagg import SHARE_SIZE, reveal_share
from mercato.errors import InputError, IntegrityError
from mercato.ml.model_parts import apply_update
from mercato.ml.trainers.weights import weights_to_bytes
from mercato.protocols.datamarket import data_owner, history, model_owner
from mercato.protocols.datamarket.aggregation import secure_mean
from mercato.protocols.datamarket.documents import RevealBlob, SharesBlob, shares_context
from mercato.protocols.datamarket.market import Mode, Phase, mask_of
from mercato.protocols.datamarket.model_owner import TaskTerms
from mercato.protocols.marketplace import Marketplace
from mercato.storage.base import hash_bytes, hash_hex
from mercato.storage.envelope import open_envelope

DATA_OWNERS = 7
THRESHOLD = 4
MAX_EXCLUDED = 2
MO_ACCOUNT = 1
"""The world's MO is development account 1 (its DOs 2 to 8)."""
POSTED, WELL_FORMED, REVEALS, AGGREGATE, EXCLUSIONS, POISONED, CLAIMS, PAID = range(1, 9)
KEY_NEEDING = (EXCLUSIONS, POISONED)
"""Checks of a robust task whose answer needs the MO's key."""


@dataclass
class Tasks:
    world: P3World
    secure: int
    robust: int
    wrong_exclusion: int
    wrong_reveal: int
    wrong_revealer: int
    cancelled: int
    unfinished: int


def verdicts(report: AuditReport) -> dict[int, Verdict]:
    return {check.number: check.verdict for check in report.checks}


def run_to_end(world: P3World, task_id: int) -> None:
    """Every round: every DO posts in every phase, the MO aggregates."""
    while world.dm.task(task_id).status.label == "running":
        world.run_round(task_id)
        model_owner.aggregate(world.market, world.mo, task_id)


def exclude_honest_do(world: P3World) -> int:
    """A robust round in which the MO records a made-up outlier score for DO 0 and excludes
    it (the contract accepts: the exclusion is what the recorded scores give), and
    publishes a zero aggregate."""
    task_id = world.post(Mode.ROBUST, MAX_EXCLUDED)
    world.run_round(task_id)
    before = data_owner.load_model(world.market, history.model_before(world.dm, task_id, 1))
    aggregate = np.zeros_like(before)
    model_hash = world.market.store.put(weights_to_bytes(apply_update(before, aggregate)))
    world.dm.finalise_round(
        world.mo.account,
        task_id,
        model_hash=hash_bytes(model_hash),
        aggregate_hash=hash_bytes(world.market.store.put(weights_to_bytes(aggregate))),
        excluded=mask_of([0]),
        scores=[10**12] + [1_000] * (DATA_OWNERS - 1),
    )
    return task_id


def reveal_a_wrong_share(world: P3World, cheat: int) -> int:
    """A secure round in which DO ``cheat`` reveals a share of DO 0's seed with one byte
    flipped (the others reveal honestly); it waits for the MO, who cannot unmask it."""
    task_id = world.post(Mode.SECURE, THRESHOLD)
    world.run_phase(task_id)  # shares
    world.run_phase(task_id)  # masked updates
    world.run_phase(task_id, silent=[cheat])
    dm, me, shares = world.dm, world.dos[cheat], []
    for owner, event in sorted(history.posts(dm, task_id, 1, "shares").items()):
        blob = SharesBlob.from_bytes(world.market.store.get(hash_hex(event["shares_hash"])))
        context = shares_context(dm.address, task_id, 1, owner, cheat)
        bundle = open_envelope(blob.envelopes[cheat], me.encryption_private, context)
        share = reveal_share(bundle, owner_survived=True)
        if owner == 0:
            share = share[:-1] + bytes([share[-1] ^ 0xFF])
        shares.append(share)
    assert all(len(s) == SHARE_SIZE for s in shares)
    blob_hash = world.market.store.put(RevealBlob(cheat, tuple(shares)).to_bytes())
    dm.reveal(me.account, task_id, hash_bytes(blob_hash))
    assert dm.task(task_id).phase is Phase.AGGREGATE
    return task_id


def cancel_a_task(world: P3World) -> int:
    """A task that one DO joins before its join deadline passes; a DO cancels it."""
    terms = TaskTerms(
        DATA_OWNERS, 1, Mode.ROBUST, MAX_EXCLUDED, PER_UPDATE * DATA_OWNERS, join_period=60
    )
    task_id = model_owner.post_task(world.market, world.mo, world.spec, world.owner_model, terms)
    data_owner.join(world.market, world.dos[0], task_id, world.data.parts[0])
    world.chain.time_travel(61)
    world.dm.advance(world.dos[1].account, task_id)
    return task_id


@pytest.fixture(scope="module")
def tasks(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tasks]:
    world = build_world(tmp_path_factory.mktemp("audit-p3"), data_owners=DATA_OWNERS)
    try:
        secure = world.post(Mode.SECURE, THRESHOLD, rounds=2)
        run_to_end(world, secure)
        robust = world.post(Mode.ROBUST, MAX_EXCLUDED)
        run_to_end(world, robust)
        wrong_exclusion = exclude_honest_do(world)
        wrong_reveal = reveal_a_wrong_share(world, cheat=3)
        cancelled = cancel_a_task(world)
        unfinished = world.post(Mode.ROBUST, MAX_EXCLUDED)
        yield Tasks(world, secure, robust, wrong_exclusion, wrong_reveal, 3, cancelled, unfinished)
    finally:
        world.chain.close()


# honest tasks ------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["secure", "robust"])
def test_honest_task_passes_every_check_for_the_model_owner(tasks: Tasks, kind: str) -> None:
    report = audit(tasks.world.market, getattr(tasks, kind), tasks.world.mo)

    assert report.passed and report.cheaters == {}
    assert set(verdicts(report).values()) == {Verdict.PASS}, report.to_dict()
    assert report.viewer_roles == ("model owner",)
    assert report.status == "finished"


def test_honest_secure_task_passes_for_the_public(tasks: Tasks) -> None:
    report = audit(tasks.world.market, tasks.secure, None)

    assert report.passed and report.cheaters == {}
    assert set(verdicts(report).values()) == {Verdict.PASS}
    check = report.checks[AGGREGATE - 1]
    assert "the aggregate is the mean of the masked updates, byte for byte" in check.detail


def test_public_audit_of_a_robust_task_says_which_key_it_needs(tasks: Tasks) -> None:
    report = audit(tasks.world.market, tasks.robust, None)

    assert report.passed and report.cheaters == {}
    assert report.checks[POISONED - 1].verdict is Verdict.NOT_CHECKABLE
    assert "needs the MO's key" in report.checks[POISONED - 1].detail
    assert any("needs the MO's key" in u for u in report.checks[EXCLUSIONS - 1].unchecked)
    others = set(range(1, 9)) - {POISONED}
    assert {verdicts(report)[n] for n in others} == {Verdict.PASS}


def test_data_owner_opens_its_own_update_and_bundles(tasks: Tasks) -> None:
    world = tasks.world

    robust = audit(world.market, tasks.robust, world.dos[2])
    secure = audit(world.market, tasks.secure, world.dos[2])

    assert robust.viewer_roles == ("data owner",) and robust.passed
    assert "round 1: the viewer's own sealed update opens" in robust.checks[WELL_FORMED - 1].lines
    assert "round 2: the bundles dealt to the viewer open" in secure.checks[WELL_FORMED - 1].lines
    assert secure.passed and secure.cheaters == {}


# cheats the agents never commit ------------------------------------------------------------
def test_model_owner_that_excludes_an_honest_data_owner_is_named(tasks: Tasks) -> None:
    world = tasks.world

    report = audit(world.market, tasks.wrong_exclusion, world.mo)

    mo = f"model owner {world.mo.address}"
    assert report.cheaters == {mo: [AGGREGATE, EXCLUSIONS]}
    lines = report.checks[EXCLUSIONS - 1].lines
    assert lines[0].startswith("round 1: recorded scores [1000000000000, 1000, ")
    assert lines[1] == (
        f"round 1: excluded DO 0 ({world.dos[0].address}), whose update the rule keeps (it "
        "goes unpaid)"
    )
    assert report.checks[PAID - 1].verdict is Verdict.PASS  # the contract paid as recorded


def test_public_cannot_tell_an_unjustified_exclusion(tasks: Tasks) -> None:
    report = audit(tasks.world.market, tasks.wrong_exclusion, None)

    assert report.checks[EXCLUSIONS - 1].verdict is Verdict.PASS
    assert report.checks[EXCLUSIONS - 1].unchecked
    assert report.checks[POISONED - 1].verdict is Verdict.NOT_CHECKABLE
    assert "the MO excluded DO 0" in " ".join(report.checks[POISONED - 1].notes)


def test_data_owner_that_reveals_a_wrong_share_is_named_by_the_public(tasks: Tasks) -> None:
    world = tasks.world
    cheat = world.dos[tasks.wrong_revealer]

    report = audit(world.market, tasks.wrong_reveal, None)

    assert report.cheaters == {f"data owner {cheat.address}": [REVEALS]}
    (finding,) = report.checks[REVEALS - 1].findings
    assert finding.text == (
        f"round 1: DO 3 ({cheat.address}) revealed a share of DO 0's self seed that does not "
        "match its commitment on chain"
    )
    assert report.checks[AGGREGATE - 1].verdict is Verdict.NOT_CHECKABLE
    assert "waits for the MO's aggregate" in report.checks[AGGREGATE - 1].detail
    with pytest.raises(IntegrityError):  # the MO cannot unmask it either
        secure_mean(world.market, tasks.wrong_reveal, 1)


def test_unfinished_task_says_who_may_move_it_on(tasks: Tasks) -> None:
    report = audit(tasks.world.market, tasks.unfinished, None)

    paid = report.checks[PAID - 1]
    assert paid.verdict is Verdict.NOT_CHECKABLE
    assert "submit phase waits for DO 0" in paid.detail and "then anyone may advance" in paid.detail
    assert report.passed and report.status == "running"


def test_cancelled_task_refunds_the_whole_reward(tasks: Tasks) -> None:
    report = audit(tasks.world.market, tasks.cancelled, None)

    assert report.passed and report.status == "cancelled"
    assert set(verdicts(report).values()) == {Verdict.PASS}, report.to_dict()
    assert report.checks[PAID - 1].lines == (
        f"cancelled: the MO was refunded {PER_UPDATE * DATA_OWNERS} wei, the reward less what "
        "was paid",
    )


def test_unknown_task_is_bad_input(tasks: Tasks) -> None:
    count = tasks.world.dm.count()
    with pytest.raises(InputError, match=rf"no task 99 \(there are {count}\)"):
        audit(tasks.world.market, 99, None)


def test_every_check_is_numbered_in_order(tasks: Tasks) -> None:
    report = audit(tasks.world.market, tasks.secure, None)

    assert [c.key for c in report.checks] == [spec.key for spec in CHECKS]
    assert [c.number for c in report.checks] == list(range(1, 9))


# the command line --------------------------------------------------------------------------
class WorldContext(Context):
    """The CLI's settings, with the world's market in place of the deployment's."""

    def __init__(self, market: Marketplace) -> None:
        super().__init__(load_settings())
        self.world_market = market

    def market(self, rpc_url: str | None = None) -> Marketplace:
        return self.world_market


@pytest.fixture
def cli(tasks: Tasks, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> WorldContext:
    monkeypatch.setenv("MERCATO_CONFIG", str(tmp_path / "absent.toml"))
    monkeypatch.delenv("MERCATO_PRIVATE_KEY", raising=False)
    return WorldContext(tasks.world.market)


def test_cli_json_for_the_model_owner(tasks: Tasks, cli: WorldContext) -> None:
    args = ["audit", "datamarket", str(tasks.wrong_exclusion), "--json"]

    result = CliRunner().invoke(app, [*args, "--account", str(MO_ACCOUNT)], obj=cli)

    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["task_id"] == tasks.wrong_exclusion
    assert document["passed"] is False
    assert document["cheaters"] == [
        {"who": f"model owner {tasks.world.mo.address}", "checks": [AGGREGATE, EXCLUSIONS]}
    ]
    assert [c["key"] for c in document["checks"]] == [spec.key for spec in CHECKS]


def test_cli_table_for_the_public_names_the_wrong_revealer(tasks: Tasks, cli: WorldContext) -> None:
    args = ["audit", "datamarket", str(tasks.wrong_reveal), "--public"]

    result = CliRunner().invoke(app, args, obj=cli)

    assert result.exit_code == 0, result.output
    assert "FAIL" in result.stdout and "NOT CHECKABLE" in result.stdout
    cheat = tasks.world.dos[tasks.wrong_revealer].address
    assert (
        result.stdout.rstrip()
        .splitlines()[-1]
        .startswith(f"cheating found: data owner {cheat[:10]}")
    )


def test_cli_public_json_of_an_honest_task(tasks: Tasks, cli: WorldContext) -> None:
    args = ["audit", "datamarket", str(tasks.secure), "--public", "--json"]

    result = CliRunner().invoke(app, args, obj=cli)

    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["passed"] is True and document["cheaters"] == []
    assert document["viewer"] is None
    assert {c["verdict"] for c in document["checks"]} == {"pass"}
