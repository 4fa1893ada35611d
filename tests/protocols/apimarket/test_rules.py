"""P5's rules judge views alone: each says why a step would fail, or None when it would not."""

from __future__ import annotations

from dataclasses import replace

import pytest

from mercato.errors import InputError
from mercato.protocols.apimarket import rules
from mercato.protocols.apimarket.views import (
    Api,
    ApiStatus,
    BatchView,
    ChallengeState,
    ChallengeView,
    ClaimState,
    ClaimView,
    Deposit,
    DisputeState,
    DisputeView,
    Periods,
    SlotView,
)
from mercato.protocols.roles import Role

PROVIDER = "0x" + "11" * 20
ORCHESTRATOR = "0x" + "22" * 20
VENDOR_A = "0x" + "aa" * 20
VENDOR_B = "0x" + "bb" * 20
CONSUMER = "0x" + "cc" * 20
START = 10_000
L = 100
EMPTY = b"\x00" * 32


def _api(**changes: object) -> Api:
    """A live API of two components over two slots: epochs of 100 s from 10,000, term 200
    (epochs 0 and 1), windows of 50 s, answers within 30 s; price 10, shares 3 and 3."""
    fields: dict[str, object] = dict(
        api=1, provider=PROVIDER, orchestrator=ORCHESTRATOR, model_root=b"\x01" * 32,
        components=2, slots=2, shares=(3, 3), price=10, vendor_stake=100,
        orchestrator_stake=200, challenge_bond=5, dispute_bond=7, join_period=L,
        epoch_period=L, window_period=50, response_period=30, term=2 * L,
        status=ApiStatus.LIVE, join_deadline=START, start=START, ends=START + 2 * L,
        joined=3, accepted=True, out=0, open=0, stake_left=400, depositors=1, locked=50,
    )  # fmt: skip
    fields.update(changes)
    return Api(**fields)  # type: ignore[arg-type]


SLOTS = [SlotView(VENDOR_A, 0, True, False), SlotView(VENDOR_B, 1, True, False)]
NO_BATCH = BatchView(EMPTY, EMPTY, EMPTY, 0, 0, 0, False)
BATCH = BatchView(b"\x02" * 32, b"\x03" * 32, b"\x04" * 32, 20, 0, 0, False)
JOINING = _api(status=ApiStatus.JOINING, start=0, joined=0, accepted=False)


def test_slots_must_cover_every_component_with_distinct_other_parties() -> None:
    good = [(VENDOR_A, 0), (VENDOR_B, 1)]

    assert rules.slots_problem(good, 2, PROVIDER, ORCHESTRATOR) is None
    assert "component(s) 1 have no --slot" in str(
        rules.slots_problem(good[:1], 2, PROVIDER, ORCHESTRATOR)
    )
    assert "holds two slots" in str(
        rules.slots_problem([(VENDOR_A, 0), (VENDOR_A, 1)], 2, PROVIDER, ORCHESTRATOR)
    )
    assert "names no component" in str(
        rules.slots_problem([(VENDOR_A, 0), (VENDOR_B, 2)], 2, PROVIDER, ORCHESTRATOR)
    )
    assert "provider or the orchestrator" in str(
        rules.slots_problem([(VENDOR_A, 0), (ORCHESTRATOR, 1)], 2, PROVIDER, ORCHESTRATOR)
    )
    assert "another party" in str(rules.slots_problem(good, 2, PROVIDER, PROVIDER))


def test_a_model_owner_or_a_client_may_provide_as_the_contract_lets_them() -> None:
    # ApiMarket.vy register: has_role(MODEL_OWNER) or has_role(CLIENT)
    for roles in (Role.MODEL_OWNER, Role.CLIENT, Role.CLIENT | Role.ARBITER):
        assert rules.provider_problem(roles, PROVIDER) is None
    for roles in (Role(0), Role.DATA_OWNER, Role.COMPUTE_PROVIDER | Role.ARBITER):
        problem = rules.provider_problem(roles, PROVIDER)
        assert problem is not None and "model owner or client" in problem


def test_slot_and_purchase_options_parse_or_refuse() -> None:
    assert rules.slot_of(f"{VENDOR_A}:1") == (rules_checksum(VENDOR_A), 1)
    with pytest.raises(InputError, match="is not VENDOR:COMPONENT"):
        rules.slot_of("vendor:1")
    with pytest.raises(InputError, match="is not a number"):
        rules.slot_of(f"{VENDOR_A}:x")
    assert rules.purchase_of(f"{VENDOR_A}:3:0")[1:] == (3, 0)
    with pytest.raises(InputError, match="MARKET:REQUEST:INDEX"):
        rules.purchase_of(f"{VENDOR_A}:3")


def rules_checksum(address: str) -> str:
    from eth_utils.address import to_checksum_address

    return str(to_checksum_address(address))


def test_the_price_covers_one_share_per_component() -> None:
    assert rules.shares_problem([3, 3], 2, 6) is None
    assert "one --share per component (2), got 1" in str(rules.shares_problem([3], 2, 6))
    assert "more than the --price" in str(rules.shares_problem([3, 4], 2, 6))
    assert "--price must be above 0" in str(rules.shares_problem([0, 0], 2, 0))


def test_periods_are_bounded_and_the_term_holds_an_epoch() -> None:
    assert rules.periods_problem(Periods(1, 10, 1, 1, 10)) is None
    assert "--epoch must be 1 to" in str(rules.periods_problem(Periods(1, 0, 1, 1, 10)))
    assert "--term must be 10 to" in str(rules.periods_problem(Periods(1, 10, 1, 1, 9)))


def test_joining_is_for_a_slot_vendor_once_before_the_deadline() -> None:
    slots = [replace(SLOTS[0], joined=False), SLOTS[1]]

    assert rules.join_problem(JOINING, slots, VENDOR_A, START - 1) is None
    assert "anyone may cancel it now" in str(rules.join_problem(JOINING, slots, VENDOR_A, START))
    assert "hold no slot" in str(rules.join_problem(JOINING, slots, CONSUMER, START - 1))
    assert "already joined" in str(rules.join_problem(JOINING, slots, VENDOR_B, START - 1))
    assert "it is live" in str(rules.join_problem(_api(), slots, VENDOR_A, START - 1))


def test_only_the_orchestrator_accepts_once() -> None:
    assert rules.accept_problem(JOINING, ORCHESTRATOR, START - 1) is None
    assert "only the orchestrator" in str(rules.accept_problem(JOINING, VENDOR_A, START - 1))
    accepted = replace(JOINING, accepted=True)
    assert "already accepted" in str(rules.accept_problem(accepted, ORCHESTRATOR, START - 1))


def test_advance_cancels_only_a_joining_api_past_its_deadline() -> None:
    assert rules.advance_problem(JOINING, START) is None
    assert "advance after" in str(rules.advance_problem(JOINING, START - 1))
    assert "is live" in str(rules.advance_problem(_api(), START))


def test_deposits_and_withdrawals_follow_the_notice() -> None:
    api, held = _api(), Deposit(50, 0)

    assert rules.deposit_problem(api, held, 10, START) is None
    assert "its term is over" in str(rules.deposit_problem(api, held, 10, api.ends))
    assert "above 0" in str(rules.deposit_problem(api, held, 0, START))
    assert "give notice first" in str(rules.withdraw_deposit_problem(api, held, START))
    noticed = Deposit(50, START + 300)
    assert "withdraw after" in str(rules.withdraw_deposit_problem(api, noticed, START + 299))
    assert rules.withdraw_deposit_problem(api, noticed, START + 300) is None
    assert rules.withdraw_deposit_problem(JOINING, held, START) is None  # at once while joining
    assert "nothing deposited" in str(rules.request_withdrawal_problem(api, Deposit(0, 0)))


def test_a_call_needs_a_live_api_and_a_deposit_that_covers_it() -> None:
    api = _api()

    assert rules.call_problem(api, Deposit(50, 0), 40, START) is None
    assert "does not cover a call" in str(rules.call_problem(api, Deposit(50, 0), 41, START))
    assert "took calls until" in str(rules.call_problem(api, Deposit(50, 0), 0, api.ends))
    assert "gave notice" in str(rules.call_problem(api, Deposit(50, START), 0, START))
    assert "takes no calls" in str(rules.call_problem(JOINING, Deposit(50, 0), 0, START))


def test_a_challenge_names_a_counted_call_of_a_batch_within_its_window() -> None:
    api = _api()
    close = api.close(0)  # 10,000 + 200 + 50

    assert rules.challenge_problem(api, 0, 2, BATCH, 2, False, close - 1) is None
    assert "counts 2 call(s) of yours, not call 3" in str(
        rules.challenge_problem(api, 0, 3, BATCH, 2, False, START)
    )
    assert "no batch of epoch 0" in str(
        rules.challenge_problem(api, 0, 1, NO_BATCH, 2, False, START)
    )
    assert "challenged already" in str(rules.challenge_problem(api, 0, 1, BATCH, 2, True, START))
    assert "closed at" in str(rules.challenge_problem(api, 0, 1, BATCH, 2, False, close))
    assert "no epoch 2 (its last is 1)" in str(
        rules.challenge_problem(api, 2, 1, BATCH, 2, False, START)
    )


def test_a_dispute_names_a_slot_of_its_component_not_yet_out() -> None:
    api = _api()

    assert rules.dispute_problem(api, SLOTS, 0, 1, 1, START) is None
    assert "does not run component 0" in str(rules.dispute_problem(api, SLOTS, 0, 1, 0, START))
    out = [SLOTS[0], replace(SLOTS[1], out=True)]
    assert "already out" in str(rules.dispute_problem(api, out, 0, 1, 1, START))


def test_a_vendor_claims_once_the_batch_came_or_was_due() -> None:
    api = _api()

    assert "claim what it leaves out after" in str(
        rules.claim_problem(api, SLOTS, VENDOR_A, 0, NO_BATCH, api.due(0) - 1)
    )
    assert rules.claim_problem(api, SLOTS, VENDOR_A, 0, NO_BATCH, api.due(0)) is None
    assert rules.claim_problem(api, SLOTS, VENDOR_A, 0, BATCH, START + L) is None
    assert "hold no slot" in str(rules.claim_problem(api, SLOTS, CONSUMER, 0, BATCH, START + L))


def test_batches_pay_out_after_their_window() -> None:
    api = _api()

    assert "finalize after" in str(rules.finalize_problem(api, 0, BATCH, api.close(0) - 1))
    assert rules.finalize_problem(api, 0, BATCH, api.close(0)) is None
    assert "finalized already" in str(
        rules.finalize_problem(api, 0, replace(BATCH, finalized=True), api.close(0))
    )
    assert "no batch" in str(rules.finalize_problem(api, 0, NO_BATCH, api.close(0)))


def test_claims_challenges_and_disputes_settle_after_their_deadlines() -> None:
    claim = ClaimView(1, 1, VENDOR_A, 0, CONSUMER, 1, 0, 0, EMPTY, START, ClaimState.OPEN)
    challenge = ChallengeView(1, 1, CONSUMER, 0, 1, 5, START, ChallengeState.OPEN)
    dispute = DisputeView(1, 1, CONSUMER, 0, 1, 1, 1, EMPTY, 2, 2, 1, START, 0, 7,
                          DisputeState.OPEN)  # fmt: skip

    assert "settle after" in str(rules.settle_claim_problem(claim, START - 1))
    assert rules.settle_claim_problem(claim, START) is None
    paid = replace(claim, state=ClaimState.ANSWERED)
    assert "nothing to settle" in str(rules.settle_claim_problem(paid, START))
    assert "settle after" in str(rules.settle_challenge_problem(challenge, START - 1))
    assert rules.settle_challenge_problem(challenge, START) is None
    # one of two members revealed: resolvable once the reveals' time (commit + R) is over
    assert "resolve after" in str(rules.resolve_problem(dispute, 30, START + 29))
    assert rules.resolve_problem(dispute, 30, START + 30) is None
    assert rules.resolve_problem(replace(dispute, revealed=3, members=3), 30, START) is None


def test_release_waits_for_the_last_window_and_nothing_open() -> None:
    api = _api()
    last = api.close(api.last_epoch)

    assert api.last_epoch == 1
    assert "closes at" in str(rules.release_problem(api, last - 1))
    assert rules.release_problem(api, last) is None
    assert "settle or resolve them first" in str(rules.release_problem(replace(api, open=1), last))
    assert "release ends a live API" in str(rules.release_problem(JOINING, last))
