"""``audit_request`` and ``mercato audit modelmarket`` on small P4 runs (the agents' flow of
tests/protocols/modelmarket/offchain.py): an honest request and one left open, then a
request where every executor votes made-up scores and the buyer rejects a sound delivery,
two cheats the agents never commit but the chain accepts.

Each run is module-scoped (an audit only reads), on its own embedded chain.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from types import SimpleNamespace

import pytest
from tests.protocols.modelmarket.offchain import (
    BUYER,
    P4Flow,
    Step,
    hidden_test_set,
    made_up_commit,
    p4_flow,
    trained_models,
)
from typer.testing import CliRunner

from mercato.audit.modelmarket import CHECKS, audit_request
from mercato.audit.modelmarket_ledger import RequestLedger
from mercato.audit.report import AuditReport, Verdict, run_checks
from mercato.chain.accounts import dev_account
from mercato.cli.app import app
from mercato.errors import InputError
from mercato.protocols.identity import Identity
from mercato.protocols.marketplace import Marketplace
from mercato.protocols.modelmarket import buyer, rules
from mercato.protocols.modelmarket.views import RequestStatus, SubmissionState

DRAWS, SAMPLE, TEST_SET, MODELS, SCORES, WINNERS, SWAP, PAID = range(1, 9)
ALL = range(1, 9)
EXECUTORS = ("executor-1", "executor-2", "executor-3")


def verdicts(report: AuditReport) -> dict[int, Verdict]:
    return {check.number: check.verdict for check in report.checks}


def culprits(flow: P4Flow, role: str, *names: str) -> set[str]:
    return {f"{role} {flow.address(name)}" for name in names}


@pytest.fixture(scope="module")
def honest(tmp_path_factory: pytest.TempPathFactory) -> Iterator[P4Flow]:
    """Request 1: two sellers, both bought (k = 2), everyone honest, ended and withdrawn.
    Request 2: posted after, left taking submissions."""
    models = trained_models()
    sellers = {"seller-1": (models["best"], None), "seller-2": (models["good"], None)}
    with p4_flow(tmp_path_factory.mktemp("audit-p4"), sellers) as flow:
        assert flow.run_to_end(flow.post(hidden_test_set(), k=2)).status is RequestStatus.CLOSED
        flow.post(hidden_test_set())
        flow.run_agents()
        yield flow


@pytest.fixture(scope="module")
def colluding(tmp_path_factory: pytest.TempPathFactory) -> Iterator[P4Flow]:
    """Every executor commits to made-up scores (a majority the contract pays), and the
    buyer rejects the sound delivery of "victim"."""
    models = trained_models()
    sellers = {
        "seller-1": (models["best"], None),
        "seller-2": (models["good"], None),
        "victim": (models["best"], None),
    }

    def reject_victim(market: Marketplace, me: Identity, request_id: int, index: int) -> str | None:
        if market.model_market.submission(request_id, index).seller == victim:
            return "made up: the delivery is fine"
        problem: str | None = original(market, me, request_id, index)
        return problem

    original = buyer.delivery_check
    swaps: dict[str, dict[str, Step]] = {
        name: {"executor.commit": made_up_commit} for name in EXECUTORS
    }
    swaps[BUYER] = {"buyer.delivery_check": reject_victim}
    with p4_flow(tmp_path_factory.mktemp("audit-p4-cheats"), sellers, swaps=swaps) as flow:
        victim = flow.address("victim")
        request = flow.run_to_end(flow.post(hidden_test_set()))
        assert request.status is RequestStatus.CLOSED
        assert flow.state_of(1, "victim") is SubmissionState.REJECTED
        flow._patches.undo()  # the audit re-runs the buyer's own delivery check
        yield flow


# an honest request --------------------------------------------------------------------------
@pytest.mark.parametrize("viewer", [None, BUYER, "seller-1", "executor-1"])
def test_honest_request_passes_every_check(honest: P4Flow, viewer: str | None) -> None:
    report = audit_request(honest.market, 1, None if viewer is None else honest.me(viewer))

    assert verdicts(report) == dict.fromkeys(ALL, Verdict.PASS), report.to_dict()
    assert report.passed and report.cheaters == {} and report.summary() == "pass"
    expected_roles = {None: (), BUYER: ("buyer",), "seller-1": ("seller",)}
    assert report.viewer_roles == expected_roles.get(viewer, ("executor",))
    assert report.status == "closed"


def test_keys_open_what_the_public_cannot(honest: P4Flow) -> None:
    public = audit_request(honest.market, 1, None)
    executor = audit_request(honest.market, 1, honest.me("executor-2"))
    buyer_report = audit_request(honest.market, 1, honest.me(BUYER))

    for number in (TEST_SET, MODELS, SCORES):
        assert "needs a drawn executor's key" in " ".join(public.checks[number - 1].unchecked)
        assert "with an executor's key" in executor.checks[number - 1].detail
    assert "needs the buyer's key" in " ".join(public.checks[SWAP - 1].unchecked)
    assert buyer_report.checks[SWAP - 1].detail.count("decrypts to its model") == 2
    assert "each credit to the wei" in public.checks[PAID - 1].detail


def test_open_request_says_who_may_move_it_on(honest: P4Flow) -> None:
    report = audit_request(honest.market, 2, None)

    assert report.status == "submitting" and report.passed
    paid = report.checks[PAID - 1]
    assert paid.verdict is Verdict.NOT_CHECKABLE
    assert "the submissions of request 2 close at" in paid.detail
    assert verdicts(report)[SCORES] is Verdict.NOT_CHECKABLE
    assert "not drawn yet" in report.checks[SCORES - 1].detail
    assert verdicts(report)[SAMPLE] is Verdict.PASS


def test_unknown_request_is_bad_input(honest: P4Flow) -> None:
    with pytest.raises(InputError, match=r"no request 9 \(there are 2\)"):
        audit_request(honest.market, 9, None)


def test_a_credit_the_rules_do_not_give_is_the_contracts(honest: P4Flow) -> None:
    ledger = RequestLedger(honest.market, 1, None)
    tx, credits = next(iter(ledger.credits.items()))
    account, amount = credits[0]
    ledger.__dict__["credits"] = {**ledger.credits, tx: [(account, amount + 1), *credits[1:]]}

    checks = run_checks(CHECKS, ledger)

    paid = checks[PAID - 1]
    assert paid.verdict is Verdict.FAIL
    assert {f.culprit for f in paid.findings} == {f"contract {honest.mm.address}"}
    assert all(c.verdict is Verdict.PASS for c in checks[: PAID - 1])


def test_price_and_winners_rules() -> None:
    schedule = ((500_000, 10), (800_000, 20))

    assert [rules.price_for(schedule, s) for s in (499_999, 500_000, 799_999, 10**6)] == [
        0,
        10,
        10,
        20,
    ]
    # ties go to the earlier submission; a flagged, a rejected and an unpriced one never win
    scores, live = [900_000, 900_000, 950_000, 990_000, 100_000], [True, True, True, False, True]
    flags = 1 << (2 + 1)
    assert rules.winners_of(scores, flags, live, schedule, 2) == (0b11, (20, 20, 0, 0, 0))
    assert rules.winners_of(scores, flags, live, schedule, 8) == (0b11, (20, 20, 0, 0, 0))


# the command line -------------------------------------------------------------------------
@pytest.fixture
def cli_market(honest: P4Flow, monkeypatch: pytest.MonkeyPatch) -> P4Flow:
    """``mercato audit`` reads the honest flow's market (an embedded chain, in process)."""
    settings = SimpleNamespace(market=lambda rpc_url=None: honest.market)
    monkeypatch.setattr("mercato.cli.audit.context", lambda ctx: settings)
    return honest


def test_cli_json_public(cli_market: P4Flow) -> None:
    result = CliRunner().invoke(app, ["audit", "modelmarket", "1", "--json", "--public"])

    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["request_id"] == 1 and document["viewer"] is None
    assert document["passed"] is True and document["cheaters"] == []
    assert [c["verdict"] for c in document["checks"]] == ["pass"] * len(ALL)
    assert [c["key"] for c in document["checks"]] == [spec.key for spec in CHECKS]


def test_cli_table_for_the_buyer(cli_market: P4Flow) -> None:
    assert dev_account(1).address == cli_market.address(BUYER)

    result = CliRunner().invoke(app, ["audit", "modelmarket", "1", "--account", "1"])

    assert result.exit_code == 0, result.output
    assert f"audit of request 1 (closed) as {cli_market.address(BUYER)}" in result.stdout
    assert "PASS" in result.stdout and result.stdout.rstrip().splitlines()[-1] == "pass"


# cheats the chain accepts -----------------------------------------------------------------
def test_colluding_executors_are_named_with_an_executors_key(colluding: P4Flow) -> None:
    report = audit_request(colluding.market, 1, colluding.me("executor-1"))

    named = culprits(colluding, "executor", *EXECUTORS)
    assert report.cheaters == {who: [SCORES] for who in named}
    lines = report.checks[SCORES - 1].lines
    assert all("the benchmark of the sealed blobs gives" in line for line in lines)
    assert verdicts(report)[WINNERS] is verdicts(report)[PAID] is Verdict.PASS


def test_an_unjustified_rejection_is_the_buyers(colluding: P4Flow) -> None:
    report = audit_request(colluding.market, 1, colluding.me(BUYER))

    assert report.cheaters == {f"buyer {colluding.address(BUYER)}": [SWAP]}
    assert "which opens and matches its commitments" in report.checks[SWAP - 1].detail


def test_the_public_cannot_tell_either_cheat(colluding: P4Flow) -> None:
    report = audit_request(colluding.market, 1, None)

    assert report.passed
    assert verdicts(report)[SWAP] is Verdict.NOT_CHECKABLE
    assert "only the buyer's key opens it" in report.checks[SWAP - 1].detail
    assert verdicts(report)[SCORES] is Verdict.PASS
