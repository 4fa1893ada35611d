"""``audit_training`` and ``mercato audit training`` on small P2 runs (see run.py): an honest
run, a lazy CO, forged fraud reports, a DO that lies about joins, an unfinished training.

The runs are module-scoped (an audit only reads); each is 2 subsets x 3 replicas with one
subset a round, on the embedded chain, except the CLI's, which runs on anvil.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mercato.audit.report import AuditReport, Verdict
from mercato.audit.training import audit_training
from mercato.audit.training_ledger import TrainingLedger
from mercato.audit.training_rounds import check_draws, draws_of
from mercato.chain import Anvil, EmbeddedChain, RpcChain
from mercato.cli.app import app, main
from mercato.crypto.commit import commit, new_nonce
from mercato.errors import InputError
from mercato.protocols.deployment import deploy
from mercato.protocols.training import compute, history
from mercato.protocols.training.documents import REASON_HASH_MISMATCH, Evidence, hash_bytes
from mercato.protocols.training.scenario import lazy_worker
from mercato.storage.local import LocalBlobStore

from .run import DEPLOYER, MO, SUBSETS, Run, approved_run, setup_run

CO_HOLDS_DATA, COPIED_DATA_HASH, RIGHT_DATA, DO_HONEST, MODEL_AS_DECLARED = 1, 2, 3, 4, 5
COPIED_MODEL_HASH, SELECTION, MO_READS_DATA, REPORTS_JUSTIFIED, PAID = 6, 7, 8, 9, 10
ALL = range(1, 11)
KEY_NEEDING = (CO_HOLDS_DATA, MODEL_AS_DECLARED, REPORTS_JUSTIFIED)
"""Checks whose answer, in a run with a fraud report, needs the MO's key."""


def verdicts(report: AuditReport) -> dict[int, Verdict]:
    return {check.number: check.verdict for check in report.checks}


def blamed(report: AuditReport, number: int) -> set[str | None]:
    """Addresses the findings of check ``number`` blame."""
    return {finding.who for finding in report.checks[number - 1].findings}


@pytest.fixture(scope="module")
def embedded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[EmbeddedChain, Path]]:
    """One embedded chain for the module's runs, each on its own deployment and store."""
    chain = EmbeddedChain()
    try:
        yield chain, tmp_path_factory.mktemp("audit")
    finally:
        chain.close()


def fresh_run(embedded: tuple[EmbeddedChain, Path], name: str) -> Run:
    chain, root = embedded
    return approved_run(chain, LocalBlobStore(root / name))


@pytest.fixture(scope="module")
def honest(embedded: tuple[EmbeddedChain, Path]) -> Run:
    run = fresh_run(embedded, "honest")
    run.run_rounds()
    return run


@pytest.fixture(scope="module")
def lazy(embedded: tuple[EmbeddedChain, Path]) -> Run:
    """The CO holding a replica of both subsets hands back the model it was sent."""
    run = fresh_run(embedded, "lazy")
    run.run_rounds(workers={run.cos[0].address: lazy_worker})
    return run


@dataclass
class Forged:
    run: Run
    made_up: int
    """Instance reported with evidence that is a proper document, but false."""
    no_evidence: int
    """Instance reported with an evidence hash that names no blob."""


@pytest.fixture(scope="module")
def forged(embedded: tuple[EmbeddedChain, Path]) -> Forged:
    """Honest COs; once round 1's jobs are in, the MO reports two of them itself."""
    reported: list[int] = []

    def report_honest_jobs(run: Run, round_number: int) -> None:
        if round_number != 1:
            return
        tm = run.market.training_market
        first, second = history.jobs(run.market, run.training_id, 1)[:2]
        made_up = Evidence(
            run.training_id, 1, first["instance_id"], first["co"], REASON_HASH_MISMATCH,
            "keccak(model || nonce) != declared",
        )  # fmt: skip
        evidence_hash = hash_bytes(run.market.store.put(made_up.to_bytes()))
        tm.report_fraud(run.mo.account, run.training_id, first["instance_id"], 1, evidence_hash)
        nowhere = commit(b"no such evidence", new_nonce())
        tm.report_fraud(run.mo.account, run.training_id, second["instance_id"], 1, nowhere)
        reported.extend([first["instance_id"], second["instance_id"]])

    run = fresh_run(embedded, "forged")
    run.run_rounds(after_round=report_honest_jobs)
    return Forged(run, reported[0], reported[1])


@dataclass
class LyingDo:
    run: Run
    flagged: int
    """Joined with keccak(subset || nonce) of the data it was given; the DO flagged it."""
    false_ok: int
    """Joined with the hash of other data; the DO verified it."""
    copied: int
    """Joined with ``flagged``'s data hash and its own nonce; the DO verified it."""


@pytest.fixture(scope="module")
def lying_do(embedded: tuple[EmbeddedChain, Path]) -> LyingDo:
    """Subset 0's three replicas join (one honestly, one falsely, one copying) and the DO
    gets every verdict wrong; the MO requests a training the DO cannot approve."""
    chain, root = embedded
    run = setup_run(chain, LocalBlobStore(root / "lying-do"))
    market, tm = run.market, run.market.training_market
    flagged, false_ok, copied = (tm.instance_at(run.dataset_id, 0, r) or 0 for r in range(3))
    holder = {i: run.co(tm.instance(i).co) for i in (flagged, false_ok, copied)}
    # each CO opens and checks its replica; only the first declares it truthfully
    data = {i: compute.receive_replica(market, co, i) for i, co in holder.items()}
    compute.join(market, holder[flagged], flagged, data[flagged])
    nonce = new_nonce()
    tm.join_instance(holder[false_ok].account, false_ok, commit(b"other data", nonce), nonce)
    join = history.joined(market, flagged)
    assert join is not None
    tm.join_instance(holder[copied].account, copied, bytes(join["data_hash"]), new_nonce())
    tm.verify_instance(run.do.account, flagged, False)
    tm.verify_instance(run.do.account, false_ok, True)
    tm.verify_instance(run.do.account, copied, True)
    run.request()
    return LyingDo(run, flagged, false_ok, copied)


@pytest.fixture(scope="module")
def unfinished(embedded: tuple[EmbeddedChain, Path]) -> Run:
    """One round trained and reviewed; the MO has neither started the next nor completed."""
    run = fresh_run(embedded, "unfinished")
    run.run_rounds(rounds=1, finish=False)
    return run


# honest run -----------------------------------------------------------------------------
def test_honest_run_passes_every_check_for_the_model_owner(honest: Run) -> None:
    report = audit_training(honest.market, honest.training_id, honest.mo)

    assert verdicts(report) == dict.fromkeys(ALL, Verdict.PASS), report.to_dict()
    assert report.summary() == "pass"
    assert report.viewer_roles == ("model owner",)


def test_honest_run_for_the_data_owner_opens_every_replica(honest: Run) -> None:
    report = audit_training(honest.market, honest.training_id, honest.do)

    assert report.passed
    assert verdicts(report)[RIGHT_DATA] is verdicts(report)[DO_HONEST] is Verdict.PASS
    assert "with the DO's key, 6 replica envelope(s) open" in report.checks[RIGHT_DATA - 1].detail
    assert verdicts(report)[MODEL_AS_DECLARED] is Verdict.NOT_CHECKABLE


def test_public_audit_cannot_open_the_models(honest: Run) -> None:
    report = audit_training(honest.market, honest.training_id, None)

    assert report.passed
    assert verdicts(report)[MODEL_AS_DECLARED] is Verdict.NOT_CHECKABLE
    assert "needs the MO's key" in report.checks[MODEL_AS_DECLARED - 1].detail
    assert {n for n, v in verdicts(report).items() if v is Verdict.PASS} == set(ALL) - {5}
    assert report.viewer is None and report.viewer_roles == ()


# lazy compute provider -------------------------------------------------------------------
def test_lazy_compute_provider_is_outvoted_and_its_report_justified(lazy: Run) -> None:
    lazy_co = lazy.cos[0].address

    report = audit_training(lazy.market, lazy.training_id, lazy.mo)

    assert verdicts(report)[CO_HOLDS_DATA] is Verdict.FAIL
    assert blamed(report, CO_HOLDS_DATA) == {lazy_co}
    assert "outvoted" in report.checks[CO_HOLDS_DATA - 1].detail
    assert verdicts(report)[REPORTS_JUSTIFIED] is Verdict.PASS
    assert verdicts(report)[PAID] is Verdict.PASS
    assert [n for n, v in verdicts(report).items() if v is Verdict.FAIL] == [CO_HOLDS_DATA]
    assert report.summary().startswith(f"cheating found: compute provider {lazy_co} (check 1)")


def test_public_audit_of_a_report_says_what_key_it_needs(lazy: Run) -> None:
    report = audit_training(lazy.market, lazy.training_id, None)

    assert report.passed
    for number in KEY_NEEDING:
        assert verdicts(report)[number] is Verdict.NOT_CHECKABLE, number
        assert "needs the MO's key" in report.checks[number - 1].detail
    assert verdicts(report)[PAID] is Verdict.PASS


# forged fraud reports --------------------------------------------------------------------
def test_forged_fraud_reports_are_evidence_against_the_model_owner(forged: Forged) -> None:
    run = forged.run

    report = audit_training(run.market, run.training_id, run.mo)

    check = report.checks[REPORTS_JUSTIFIED - 1]
    assert check.verdict is Verdict.FAIL
    assert blamed(report, REPORTS_JUSTIFIED) == {run.mo.address}
    assert {f.instance_id for f in check.findings} == {forged.made_up, forged.no_evidence}
    assert any("finds its job sound" in f.text for f in check.findings)
    assert verdicts(report)[CO_HOLDS_DATA] is verdicts(report)[PAID] is Verdict.PASS
    assert list(report.cheaters) == [f"model owner {run.mo.address}"]


def test_public_audit_catches_a_report_without_evidence(forged: Forged) -> None:
    run = forged.run

    report = audit_training(run.market, run.training_id, None)

    check = report.checks[REPORTS_JUSTIFIED - 1]
    assert check.verdict is Verdict.FAIL
    assert [f.instance_id for f in check.findings] == [forged.no_evidence]
    assert "the store has no blob" in check.findings[0].text


# data owner lying about joins ------------------------------------------------------------
def test_data_owner_verdicts_recomputed_with_its_key(lying_do: LyingDo) -> None:
    run = lying_do.run

    report = audit_training(run.market, run.training_id, run.do)

    check = report.checks[DO_HONEST - 1]
    assert check.verdict is Verdict.FAIL
    assert blamed(report, DO_HONEST) == {run.do.address}
    assert {f.instance_id for f in check.findings} >= {lying_do.flagged, lying_do.false_ok}
    assert any("a good join" in f.text for f in check.findings)
    # the COs that declared data they were not given are blamed too, the flagged one is not
    co_of = run.market.training_market.instance
    assert blamed(report, CO_HOLDS_DATA) == {
        co_of(lying_do.false_ok).co,
        co_of(lying_do.copied).co,
    }


def test_flagged_compute_provider_proves_the_flag_wrong(lying_do: LyingDo) -> None:
    run = lying_do.run
    me = run.co(run.market.training_market.instance(lying_do.flagged).co)

    report = audit_training(run.market, run.training_id, me)

    assert verdicts(report)[DO_HONEST] is Verdict.FAIL
    assert lying_do.flagged in {f.instance_id for f in report.checks[DO_HONEST - 1].findings}
    assert verdicts(report)[RIGHT_DATA] is Verdict.FAIL  # the cross-check of the paper
    assert blamed(report, RIGHT_DATA) == {run.do.address}


def test_public_audit_of_lying_data_owner(lying_do: LyingDo) -> None:
    run = lying_do.run
    copier = run.market.training_market.instance(lying_do.copied).co

    report = audit_training(run.market, run.training_id, None)

    assert blamed(report, COPIED_DATA_HASH) == {copier}
    assert [f.instance_id for f in report.checks[DO_HONEST - 1].findings] == [lying_do.copied]
    assert verdicts(report)[CO_HOLDS_DATA] is Verdict.NOT_CHECKABLE  # the flag stays open
    assert "flagged" in report.checks[CO_HOLDS_DATA - 1].detail
    assert verdicts(report)[PAID] is Verdict.NOT_CHECKABLE
    assert "waiting for the DO's approval" in report.checks[PAID - 1].detail


# selection and payment -------------------------------------------------------------------
def test_draws_recomputed_from_block_hashes(honest: Run) -> None:
    ledger = TrainingLedger(honest.market, honest.training_id, None)
    draws = draws_of(ledger)
    first, *rest = draws

    assert len(draws) == 2 and all(d.chain_hash == d.block_hash for d in draws)
    assert check_draws(honest.training_id, SUBSETS, 1, draws) == []
    tampered = [replace(first, subsets=first.subsets ^ 0b11), *rest]
    assert [r for r, _ in check_draws(honest.training_id, SUBSETS, 1, tampered)] == [1]
    forged_hash = [replace(first, block_hash=bytes(32)), *rest]
    problems = check_draws(honest.training_id, SUBSETS, 1, forged_hash)
    assert any("is not the chain's" in text for _, text in problems)
    chosen = [replace(first, target_block=first.target_block + 1), *rest]
    assert any("not block" in text for _, text in check_draws(honest.training_id, 2, 1, chosen))


def test_unfinished_training_says_who_may_move_it_on(unfinished: Run) -> None:
    report = audit_training(unfinished.market, unfinished.training_id, unfinished.mo)

    check = report.checks[PAID - 1]
    assert check.verdict is Verdict.NOT_CHECKABLE
    assert "under review until" in check.detail and "anyone may complete from" in check.detail
    assert report.passed and report.status == "round done"


def test_unknown_training_is_bad_input(honest: Run) -> None:
    with pytest.raises(InputError, match=r"no training 9 \(there are 1\)"):
        audit_training(honest.market, 9, None)


# the command line (anvil) ----------------------------------------------------------------
@dataclass
class CliRun:
    home: Path
    lazy_co: str


@pytest.fixture(scope="module")
def cli_run(anvil: Anvil, tmp_path_factory: pytest.TempPathFactory) -> Iterator[CliRun]:
    """One round with a lazy CO on anvil; the CLI's settings point at its deployment."""
    chain = RpcChain(anvil.url)
    snapshot = chain.rpc("evm_snapshot")
    home = tmp_path_factory.mktemp("audit-cli")
    try:
        deployment = deploy(chain, chain.dev_accounts(1)[DEPLOYER])
        deployment.save(home / "deployment.json")
        run = approved_run(chain, LocalBlobStore(home / "blobs"), deployment)
        run.run_rounds(rounds=1, workers={run.cos[0].address: lazy_worker})
        with pytest.MonkeyPatch.context() as env:
            env.chdir(home)
            env.setenv("MERCATO_RPC_URL", anvil.url)
            env.setenv("MERCATO_DEPLOYMENT", str(home / "deployment.json"))
            env.setenv("MERCATO_STORE", str(home / "blobs"))
            env.setenv("MERCATO_CONFIG", str(home / "absent.toml"))
            env.delenv("MERCATO_BACKEND", raising=False)
            env.delenv("MERCATO_PRIVATE_KEY", raising=False)
            yield CliRun(home, run.cos[0].address)
    finally:
        chain.rpc("evm_revert", snapshot)
        chain.close()


@pytest.mark.rpc
def test_cli_json_for_the_model_owner(cli_run: CliRun) -> None:
    result = CliRunner().invoke(app, ["audit", "training", "1", "--json", "--account", str(MO)])

    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert set(document) == {
        "training_id", "subject", "status", "viewer", "viewer_roles", "passed", "summary",
        "cheaters", "checks",
    }  # fmt: skip
    assert document["passed"] is False
    assert document["cheaters"] == [
        {"who": f"compute provider {cli_run.lazy_co}", "checks": [CO_HOLDS_DATA]}
    ]
    check = document["checks"][0]
    assert set(check) == {
        "number", "key", "question", "paper", "verdict", "detail", "findings", "unchecked",
        "notes",
    }  # fmt: skip
    assert check["verdict"] == "fail"
    assert set(check["findings"][0]) == {"text", "who", "role", "instance_id", "round"}
    assert [c["number"] for c in document["checks"]] == list(ALL)


@pytest.mark.rpc
def test_cli_table_for_the_public(cli_run: CliRun) -> None:
    result = CliRunner().invoke(app, ["audit", "training", "1", "--public"])

    assert result.exit_code == 0, result.output
    assert "NOT CHECKABLE" in result.stdout and "PASS" in result.stdout
    assert result.stdout.rstrip().splitlines()[-1].startswith("pass (")


@pytest.mark.rpc
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("7",), "no training 7 (there are 1)"),
        (("1", "--public", "--account", str(MO)), "either --public or --account"),
    ],
    ids=["unknown training", "public with a key"],
)
def test_cli_bad_input_is_one_line(
    cli_run: CliRun,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    args: tuple[str, ...],
    message: str,
) -> None:
    monkeypatch.setattr(sys, "argv", ["mercato", "audit", "training", *args])

    with pytest.raises(SystemExit) as exited:
        main()

    assert exited.value.code == 1
    error = capsys.readouterr().err.strip()
    assert message in error and "\n" not in error


@pytest.mark.rpc
def test_cli_without_deployment(cli_run: CliRun, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MERCATO_DEPLOYMENT", str(cli_run.home / "none.json"))

    result = CliRunner().invoke(app, ["audit", "training", "1"])

    assert result.exit_code == 1
    assert "no deployment file" in str(result.exception)
