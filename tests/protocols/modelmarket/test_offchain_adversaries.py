"""P4 against its adversaries, each a whole flow of agents on the embedded chain.

Every test names who misbehaves and how (a step swapped in its agent, see offchain.py),
runs the request to its end and checks the outcome on chain and every party's money: what
it owes, what it withdrew, and how much richer or poorer it ended than it began.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

from mercato.audit.modelmarket import CHECKS, audit_request
from mercato.crypto.commit import keccak
from mercato.crypto.fairswap import split_chunks
from mercato.protocols.draws import distinct_indices, select
from mercato.protocols.modelmarket import agents, buyer, executor, history, seller
from mercato.protocols.modelmarket.market import score_commitment
from mercato.protocols.modelmarket.views import (
    TEST_FLAG,
    RequestStatus,
    SubmissionState,
    indices_of,
    model_flag,
)
from mercato.storage.base import hash_hex

from ..world import reverts
from .offchain import (
    BOND,
    BUYER,
    EXECUTOR_FEE,
    EXECUTOR_STAKE,
    GROUPS,
    PERIOD,
    SAMPLE,
    SELLER_STAKE,
    BadDelivery,
    Forgery,
    P4Flow,
    corrupted,
    flipped_chunk,
    groups_to_some,
    hidden_score,
    hidden_test_set,
    last_byte_flipped,
    made_up_commit,
    missing_chunk,
    model_to_some,
    not_a_delivery,
    p4_flow,
    relabelled,
    sample_again,
    schedule_price,
    sealed_to_another,
    sealing,
    silent_key,
    silent_model,
    silent_sample,
    silent_seal,
    spoiling,
    task_document,
    terms,
    trained_models,
)

EXECUTORS = ("executor-1", "executor-2", "executor-3")
HONEST_PAY = EXECUTOR_FEE
"""What an executor earns when all three agree: its fee."""


def agreed_scores(flow: P4Flow, request_id: int) -> list[int]:
    return [s.score for s in flow.mm.submissions(request_id)]


def check_number(key: str) -> int:
    """The number of the audit's check ``key``."""
    return next(number for number, spec in enumerate(CHECKS, 1) if spec.key == key)


def assert_audit_names(
    flow: P4Flow,
    request_id: int,
    cheaters: Mapping[str, tuple[str, str]],
    viewer: str | None = None,
) -> None:
    """The audit with ``viewer``'s keys (None: the public's) names exactly the ``cheaters``
    (name: (role, key of the one check that finds it)), and nobody else."""
    report = audit_request(flow.market, request_id, None if viewer is None else flow.me(viewer))
    expected = {
        f"{role} {flow.address(name)}": [check_number(key)]
        for name, (role, key) in cheaters.items()
    }
    assert report.cheaters == expected, report.to_dict()


@pytest.mark.parametrize("corrupt", [corrupted, last_byte_flipped], ids=["middle", "last byte"])
def test_a_seller_that_delivers_another_model_is_caught_by_one_chunk(
    tmp_path: Path, corrupt: Callable[[bytes], bytes]
) -> None:
    # prepare: the cheater benchmarks its best model and delivers a corrupted copy; k = 2
    models = trained_models()
    fake = corrupt(models["best"])
    tests = hidden_test_set()
    sellers = {"cheater": (models["best"], fake), "honest": (models["good"], None)}
    with p4_flow(tmp_path, sellers) as flow:
        # act
        request_id = flow.post(tests, k=2)
        request = flow.run_to_end(request_id)

        # assert: both won on the benchmarked models' scores; the cheater's bad chunk proved
        sample = flow.sample(request_id)
        best, good = (hidden_score(models[m], tests, sample) for m in ("best", "good"))
        assert agreed_scores(flow, request_id) == [best, good]
        assert request.status is RequestStatus.CLOSED
        cheater, honest = flow.index_of(request_id, "cheater"), flow.index_of(request_id, "honest")
        assert flow.state_of(request_id, "cheater") is SubmissionState.CHEATED
        assert flow.state_of(request_id, "honest") is SubmissionState.PAID
        first_bad = next(
            i
            for i, (a, b) in enumerate(
                zip(split_chunks(models["best"]), split_chunks(fake), strict=True)
            )
            if a != b
        )
        complaint = flow.mm.first("Complained", request_id=request_id)
        assert (int(complaint["index"]), int(complaint["chunk"])) == (cheater, first_bad)
        assert int(complaint["refund"]) == schedule_price(best) + SELLER_STAKE
        bought = flow.stores[BUYER]
        assert bought.get(BUYER, f"{agents.BOUGHT_KEY}{request_id}:{cheater}") == {
            "complained": first_bad
        }
        taken = bought.get(BUYER, f"{agents.BOUGHT_KEY}{request_id}:{honest}")
        assert taken["score"] == taken["agreed"] == good
        assert Path(taken["path"]).read_bytes() == models["good"]
        flow.assert_settled(
            request_id,
            {
                BUYER: SELLER_STAKE - schedule_price(good) - 3 * EXECUTOR_FEE,
                "cheater": -SELLER_STAKE,
                "honest": schedule_price(good),
                **dict.fromkeys(EXECUTORS, HONEST_PAY),
            },
        )
        # the complaint the contract upheld names the cheater, for anyone and for the buyer
        for viewer in (None, BUYER):
            assert_audit_names(flow, request_id, {"cheater": ("seller", "fair-swap")}, viewer)


def test_a_winner_that_never_reveals_its_key_defaults(tmp_path: Path) -> None:
    # prepare: the best model's seller wins and keeps its key
    models = trained_models()
    sellers = {"silent": (models["best"], None), "other": (models["good"], None)}
    swaps = {"silent": {"seller.reveal_key": silent_key}}
    with p4_flow(tmp_path, sellers, swaps=swaps) as flow:
        # act
        request_id = flow.post(hidden_test_set())
        request = flow.run_to_end(request_id)

        # assert: after the key deadline the buyer has the price back and the stake
        assert request.status is RequestStatus.CLOSED
        assert flow.state_of(request_id, "silent") is SubmissionState.DEFAULTED
        assert flow.state_of(request_id, "other") is SubmissionState.LOST
        assert not flow.mm.events("KeyRevealed", request_id=request_id)
        settled = flow.mm.first("SwapSettled", request_id=request_id)
        price = flow.mm.submission(request_id, flow.index_of(request_id, "silent")).price
        assert price == schedule_price(agreed_scores(flow, request_id)[0]) > 0
        assert int(settled["paid"]) == price + SELLER_STAKE
        assert not flow.stores[BUYER].keys(BUYER, agents.BOUGHT_KEY)
        flow.assert_settled(
            request_id,
            {
                BUYER: SELLER_STAKE - 3 * EXECUTOR_FEE,
                "silent": -SELLER_STAKE,
                **dict.fromkeys(EXECUTORS, HONEST_PAY),
            },
        )
        assert_audit_names(flow, request_id, {"silent": ("seller", "fair-swap")})


def test_a_buyer_that_never_reveals_the_sample_is_cancelled(tmp_path: Path) -> None:
    # prepare: the sample is drawn; the buyer keeps it to itself
    models = trained_models()
    swaps = {BUYER: {"buyer.reveal_sample": silent_sample}}
    with p4_flow(tmp_path, {"seller": (models["best"], None)}, swaps=swaps) as flow:
        # act
        request_id = flow.post(hidden_test_set())
        request = flow.run_to_end(request_id)

        # assert: nobody could submit; everyone has exactly its money back
        assert request.status is RequestStatus.CANCELLED
        assert flow.mm.events("SampleDrawn", request_id=request_id)
        assert not flow.mm.events("SampleRevealed", request_id=request_id)
        assert not flow.mm.events("Submitted", request_id=request_id)
        assert len(flow.mm.volunteers(request_id)) == 3
        withdrawn = flow.withdrawn()
        assert withdrawn[BUYER] == request.escrowed
        assert all(withdrawn[name] == EXECUTOR_STAKE for name in EXECUTORS)
        flow.assert_settled(request_id, {})
        assert_audit_names(flow, request_id, {BUYER: ("buyer", "sample-revealed")})


@pytest.mark.parametrize("forgery", [relabelled, sample_again], ids=["relabelled", "sample again"])
def test_a_buyer_whose_hidden_groups_do_not_give_its_root_loses_its_bond(
    tmp_path: Path, forgery: Forgery
) -> None:
    # prepare: the buyer seals the executors other groups than those it committed to
    models = trained_models()
    sellers = {"seller-1": (models["best"], None), "seller-2": (models["good"], None)}
    swaps = {BUYER: {"buyer.seal_test": sealing(forgery)}}
    with p4_flow(tmp_path, sellers, swaps=swaps) as flow:
        # act
        request_id = flow.post(hidden_test_set())
        request = flow.run_to_end(request_id)

        # assert: every executor flagged the test set; the sellers share the bond
        assert request.status is RequestStatus.TEST_REJECTED
        votes = history.reveals(flow.mm, request_id)
        assert len(votes) == 3
        assert all(v.flags == TEST_FLAG and v.scores == (0, 0) for v in votes)
        assert all(flow.state_of(request_id, s) is SubmissionState.RETURNED for s in sellers)
        share = BOND // 2
        flow.assert_settled(
            request_id,
            {
                BUYER: -2 * share - 3 * EXECUTOR_FEE,
                "seller-1": share,
                "seller-2": share,
                **dict.fromkeys(EXECUTORS, HONEST_PAY),
            },
        )
        # an executor's key opens the forged groups; the public cannot tell
        test_set = ("buyer", "test-set-committed")
        assert_audit_names(flow, request_id, {BUYER: test_set}, "executor-1")
        assert_audit_names(flow, request_id, {})


def test_a_buyer_that_seals_nothing_loses_its_bond(tmp_path: Path) -> None:
    # prepare: the buyer never seals the hidden groups to the executors
    models = trained_models()
    sellers = {"seller-1": (models["best"], None), "seller-2": (models["good"], None)}
    swaps = {BUYER: {"buyer.seal_test": silent_seal}}
    with p4_flow(tmp_path, sellers, swaps=swaps) as flow:
        request_id = flow.post(hidden_test_set())
        flow.run_agents()
        flow.after()  # executors drawn; the sellers seal; the executors wait for the buyer
        assert flow.mm.request(request_id).status is RequestStatus.COMMITTING
        assert not flow.mm.events("ScoresCommitted", request_id=request_id)

        # act: half the commit period on, the executors benchmark without it
        flow.after(PERIOD // 2)
        request = flow.run_to_end(request_id)

        # assert
        assert request.status is RequestStatus.TEST_REJECTED
        votes = history.reveals(flow.mm, request_id)
        assert len(votes) == 3 and all(v.flags == TEST_FLAG for v in votes)
        share = BOND // 2
        flow.assert_settled(
            request_id,
            {
                BUYER: -2 * share - 3 * EXECUTOR_FEE,
                "seller-1": share,
                "seller-2": share,
                **dict.fromkeys(EXECUTORS, HONEST_PAY),
            },
        )
        assert_audit_names(flow, request_id, {BUYER: ("buyer", "test-set-committed")})


def test_a_seller_that_seals_nothing_is_flagged_and_loses_its_stake(tmp_path: Path) -> None:
    # prepare: the best model's seller never seals it to the executors
    models = trained_models()
    sellers = {"hider": (models["best"], None), "other": (models["good"], None)}
    swaps = {"hider": {"seller.seal_model": silent_model}}
    with p4_flow(tmp_path, sellers, swaps=swaps) as flow:
        request_id = flow.post(hidden_test_set())
        flow.run_agents()
        flow.after()  # executors drawn; they wait for the hider
        assert not flow.mm.events("ScoresCommitted", request_id=request_id)

        # act: half the commit period on, the executors benchmark without its model
        flow.after(PERIOD // 2)
        request = flow.run_to_end(request_id)

        # assert: flagged by all; its stake to the buyer; the other seller bought
        hider = flow.index_of(request_id, "hider")
        votes = history.reveals(flow.mm, request_id)
        assert len(votes) == 3 and all(v.flags == model_flag(hider) for v in votes)
        assert flow.state_of(request_id, "hider") is SubmissionState.FLAGGED
        assert flow.state_of(request_id, "other") is SubmissionState.PAID
        assert request.status is RequestStatus.CLOSED
        price = schedule_price(agreed_scores(flow, request_id)[1 - hider])
        assert price > 0
        flow.assert_settled(
            request_id,
            {
                BUYER: SELLER_STAKE - price - 3 * EXECUTOR_FEE,
                "hider": -SELLER_STAKE,
                "other": price,
                **dict.fromkeys(EXECUTORS, HONEST_PAY),
            },
        )
        for viewer in (None, "executor-2"):
            assert_audit_names(flow, request_id, {"hider": ("seller", "models-committed")}, viewer)


@pytest.mark.xfail(
    strict=True,
    raises=AssertionError,
    reason="an executor cannot show that a blob was not sealed to it: the buyer or a seller "
    "that seals to all but one drawn executor gets that honest executor outvoted and slashed",
)
@pytest.mark.parametrize("who", [BUYER, "seller"])
def test_sealing_to_all_but_one_executor_does_not_slash_it(tmp_path: Path, who: str) -> None:
    # prepare: the buyer (or the seller) leaves the last drawn executor out of its envelope
    models = trained_models()
    swap = (
        {"buyer.seal_test": groups_to_some}
        if who == BUYER
        else {"seller.seal_model": model_to_some}
    )
    with p4_flow(tmp_path, {"seller": (models["best"], None)}, swaps={who: swap}) as flow:
        # act
        request_id = flow.post(hidden_test_set())
        request = flow.run_to_end(request_id)

        # assert: the two others scored the model; the one left out could not open the blob
        left_out = flow.names[history.executors(flow.mm, request_id)[-1]]
        votes = {flow.names[v.executor]: v for v in history.reveals(flow.mm, request_id)}
        expected_flag = TEST_FLAG if who == BUYER else model_flag(0)
        assert votes[left_out].flags == expected_flag
        assert all(v.flags == 0 for name, v in votes.items() if name != left_out)
        assert request.status is RequestStatus.CLOSED
        # the executor that did its work honestly should not pay for the sender's omission
        assert flow.net(left_out) >= 0


@pytest.mark.parametrize("how", ["lies", "stays silent"])
def test_an_executor_that_lies_or_stays_silent_is_slashed(tmp_path: Path, how: str) -> None:
    # prepare: executor-3 commits to made-up scores, or never commits
    models = trained_models()
    tests = hidden_test_set()
    sellers = {"seller-1": (models["best"], None), "seller-2": (models["good"], None)}
    swaps = {"executor-3": {"executor.commit": made_up_commit}} if how == "lies" else {}
    lazy = ["executor-3"] if how == "stays silent" else []
    with p4_flow(tmp_path, sellers, swaps=swaps, lazy=lazy) as flow:
        # act
        request_id = flow.post(tests)
        request = flow.run_to_end(request_id)

        # assert: the honest two agree on the true scores and share the third's stake
        sample = flow.sample(request_id)
        best, good = (hidden_score(models[m], tests, sample) for m in ("best", "good"))
        assert agreed_scores(flow, request_id) == [best, good]
        votes = {flow.names[v.executor]: v for v in history.reveals(flow.mm, request_id)}
        assert votes["executor-1"].scores == votes["executor-2"].scores == (best, good)
        if how == "lies":
            assert votes["executor-3"].scores == (1_000_000, 1_000_000)
        else:
            assert "executor-3" not in votes
        tallied = flow.mm.first("Tallied", request_id=request_id)
        liar = flow.mm.volunteers(request_id).index(flow.address("executor-3"))
        assert not int(tallied["agreed"]) >> liar & 1
        assert int(tallied["slashed"]) == EXECUTOR_STAKE
        assert request.status is RequestStatus.CLOSED
        assert flow.state_of(request_id, "seller-1") is SubmissionState.PAID
        price = schedule_price(best)
        flow.assert_settled(
            request_id,
            {
                BUYER: -price - 2 * EXECUTOR_FEE,
                "seller-1": price,
                "executor-1": EXECUTOR_FEE + EXECUTOR_STAKE // 2,
                "executor-2": EXECUTOR_FEE + EXECUTOR_STAKE // 2,
                "executor-3": -EXECUTOR_STAKE,
            },
        )
        # outvoted (or silent) for anyone; with an honest executor's key, its vote re-run
        for viewer in (None, "executor-1"):
            assert_audit_names(
                flow, request_id, {"executor-3": ("executor", "scores-right")}, viewer
            )


def test_an_executor_cannot_copy_a_revealed_vote(tmp_path: Path) -> None:
    # prepare: executor-3 does no work; it must commit before anything is revealed
    models = trained_models()
    with p4_flow(tmp_path, {"seller": (models["best"], None)}, lazy=["executor-3"]) as flow:
        request_id = flow.post(hidden_test_set())
        flow.run_agents()
        flow.after()  # submissions close, executors drawn, the honest two commit
        request = flow.mm.request(request_id)
        assert request.status is RequestStatus.COMMITTING
        assert not history.reveals(flow.mm, request_id)  # nothing to copy yet
        copycat = flow.me("executor-3")
        salt = bytes(range(32))
        guess = score_commitment(request_id, copycat.address, [900_000], 0, bytes(32), salt)
        flow.mm.commit_scores(copycat.account, request_id, guess)
        flow.run_agents()  # every drawn executor committed: reveals open; the honest reveal
        victim = history.reveals(flow.mm, request_id)[0]
        victim_name = flow.names[victim.executor]
        victim_salt = flow.stores[victim_name].get(victim_name, f"{agents.VOTE_KEY}{request_id}")[
            "salt"
        ]

        # act / assert: the victim's vector matches neither the copycat's commitment with its
        # own salt nor with the victim's (the commitment binds the executor's address)
        for copied_salt in (salt, bytes.fromhex(victim_salt)):
            with reverts("modelmarket: reveal does not match the commitment"):
                flow.mm.reveal_scores(
                    copycat.account,
                    request_id,
                    victim.scores,
                    victim.flags,
                    bytes.fromhex(victim.report_hash[2:]),
                    copied_salt,
                )
        with reverts("modelmarket: not taking commitments"):
            flow.mm.commit_scores(copycat.account, request_id, keccak(b"another guess"))
        request = flow.run_to_end(request_id)

        # assert: the copycat revealed nothing and lost its stake to the two who worked
        assert request.status is RequestStatus.CLOSED
        assert len(history.reveals(flow.mm, request_id)) == 2
        price = schedule_price(agreed_scores(flow, request_id)[0])
        flow.assert_settled(
            request_id,
            {
                BUYER: -price - 2 * EXECUTOR_FEE,
                "seller": price,
                "executor-1": EXECUTOR_FEE + EXECUTOR_STAKE // 2,
                "executor-2": EXECUTOR_FEE + EXECUTOR_STAKE // 2,
                "executor-3": -EXECUTOR_STAKE,
            },
        )
        assert_audit_names(flow, request_id, {"executor-3": ("executor", "scores-right")})


def test_a_buyer_cannot_choose_the_sample_or_the_executors(tmp_path: Path) -> None:
    # prepare: four volunteers for three executors; the buyer posts, its agent not told yet
    models = trained_models()
    tests = hidden_test_set()
    volunteers = (*EXECUTORS, "executor-4")
    with p4_flow(tmp_path, {"seller": (models["best"], None)}, executors=volunteers) as flow:
        me, mm = flow.me(BUYER), flow.mm
        request_id = buyer.post_request(flow.market, me, task_document(), tests, terms())
        chosen = [0, 1, 2, 3]

        def reveal(indices: list[int]) -> None:
            mm.reveal_sample(
                me.account,
                request_id,
                [tests.group_hash(i) for i in indices],
                [tests.tree.proof(i) for i in indices],
                keccak(b"the buyer's choice"),
            )

        # act / assert: before the draw, nothing can be revealed
        with reverts("modelmarket: the sample is not drawn yet"):
            reveal(chosen)
        flow.run_agents()  # the executors volunteer and draw the sample from the block hash
        request = mm.request(request_id)
        seed = keccak(
            flow.chain.block_hash(request.target_block) + request_id.to_bytes(32, "big") + b"sample"
        )
        drawn = distinct_indices(seed, GROUPS, SAMPLE)
        assert request.sample_seed == seed
        assert [int(i) for i in mm.first("SampleDrawn", request_id=request_id)["indices"]] == drawn
        others = [i for i in range(GROUPS) if i not in drawn][:SAMPLE]
        for indices in (others, drawn[::-1], [*drawn[:-1], others[0]]):
            with reverts("modelmarket: a group is not in the test set"):
                reveal(indices)

        # act / assert: nor can it execute; its own agent's step does not even try
        with reverts("modelmarket: the buyer cannot execute"):
            mm.volunteer(me.account, request_id, EXECUTOR_STAKE)
        assert not executor.volunteer(flow.market, me, request_id)

        # act: the buyer reveals the drawn sample; the flow goes on
        agents.follow_request(flow.agents[BUYER].context, request_id, tests)
        assert buyer.reveal_sample(flow.market, me, request_id, tests)
        request = flow.run_to_end(request_id)

        # assert: the executors are those the block hash drew
        event = mm.first("ExecutorsDrawn", request_id=request_id)
        seed = keccak(
            flow.chain.block_hash(int(event["target_block"]))
            + request_id.to_bytes(32, "big")
            + b"executors"
        )
        assert int(event["drawn"]) == select(seed, 4, 3, 0)[0] == request.drawn
        drawn_names = {
            flow.names[mm.volunteer_at(request_id, i)] for i in indices_of(request.drawn)
        }
        assert len(drawn_names) == 3
        (left_out,) = set(volunteers) - drawn_names
        assert request.status is RequestStatus.CLOSED
        price = schedule_price(agreed_scores(flow, request_id)[0])
        flow.assert_settled(
            request_id,
            {
                BUYER: -price - 3 * EXECUTOR_FEE,
                "seller": price,
                **dict.fromkeys(drawn_names, HONEST_PAY),
            },
        )
        assert flow.withdrawn()[left_out] == EXECUTOR_STAKE
        assert_audit_names(flow, request_id, {})


def test_a_late_or_repeated_submission_is_refused(tmp_path: Path) -> None:
    # prepare: "late" stays out until the submissions closed
    models = trained_models()
    sellers = {"seller": (models["best"], None), "late": None}
    with p4_flow(tmp_path, sellers) as flow:
        request_id = flow.post(hidden_test_set())
        flow.run_agents()
        assert flow.state_of(request_id, "seller") is SubmissionState.SUBMITTED

        # act / assert: a second submission by the same seller
        with reverts("modelmarket: already submitted"):
            seller.submit(flow.market, flow.me("seller"), request_id, models["good"])

        # act / assert: past the deadline, before anyone closed the submissions
        request = flow.mm.request(request_id)
        flow.chain.time_travel(request.deadline - flow.chain.timestamp())
        assert flow.mm.request(request_id).status is RequestStatus.SUBMITTING
        with reverts("modelmarket: not taking submissions"):
            seller.submit(flow.market, flow.me("late"), request_id, models["best"])
        with reverts("modelmarket: not taking executors"):
            flow.mm.volunteer(flow.me("late").account, request_id, EXECUTOR_STAKE)
        request = flow.run_to_end(request_id)

        # assert: one submission counted; the late one paid nothing and got nothing
        assert request.sellers == 1
        assert flow.state_of(request_id, "late") is SubmissionState.NONE
        price = schedule_price(agreed_scores(flow, request_id)[0])
        flow.assert_settled(
            request_id,
            {
                BUYER: -price - 3 * EXECUTOR_FEE,
                "seller": price,
                **dict.fromkeys(EXECUTORS, HONEST_PAY),
            },
        )
        assert_audit_names(flow, request_id, {})


SPOILERS: dict[str, tuple[BadDelivery, str]] = {
    "flipped": (flipped_chunk, "the encrypted chunks do not give the committed ciphertext root"),
    "short": (missing_chunk, "were committed"),
    "junk": (not_a_delivery, "a delivery's length does not match its chunk count"),
    "misaddressed": (sealed_to_another, "the delivery does not open"),
}
"""Sellers that commit honestly to the best model but seal a spoilt delivery, and the
reason the buyer gives."""


def test_deliveries_that_do_not_match_their_commitments_are_rejected(tmp_path: Path) -> None:
    # prepare: four spoilers, each its own way, and one honest seller
    models = trained_models()
    sellers = {name: (models["best"], None) for name in SPOILERS}
    sellers["honest"] = (models["good"], None)
    swaps = {name: {"seller.submit": spoiling(spoil)} for name, (spoil, _) in SPOILERS.items()}
    with p4_flow(tmp_path, sellers, swaps=swaps) as flow:
        # act
        request_id = flow.post(hidden_test_set())
        request = flow.run_to_end(request_id)

        # assert: each rejected before the benchmark, its reason kept as evidence; nobody saw
        # its model, which was never benchmarked; the honest seller won
        rejections = flow.mm.events("DeliveryRejected", request_id=request_id)
        first_draw = flow.mm.first("ExecutorsDrawn", request_id=request_id)
        assert len(rejections) == len(SPOILERS)
        votes = history.reveals(flow.mm, request_id)
        assert len(votes) == 3
        for event in rejections:
            name = flow.names[event["seller"]]
            index = int(event["index"])
            assert index == flow.index_of(request_id, name)
            reason = flow.market.store.get(hash_hex(event["reason_hash"])).decode()
            assert SPOILERS[name][1] in reason
            assert event.block_number < first_draw.block_number
            assert history.sealed_by(flow.mm, request_id, flow.address(name)) is None
            assert flow.state_of(request_id, name) is SubmissionState.REJECTED
            assert all(v.scores[index] == 0 and v.flags == 0 for v in votes)
        assert flow.state_of(request_id, "honest") is SubmissionState.PAID
        assert request.status is RequestStatus.CLOSED
        price = schedule_price(agreed_scores(flow, request_id)[flow.index_of(request_id, "honest")])
        assert price > 0
        flow.assert_settled(
            request_id,
            {
                BUYER: -price - 3 * EXECUTOR_FEE,
                "honest": price,
                **dict.fromkeys(EXECUTORS, HONEST_PAY),
            },
        )
        # the buyer's key re-checks each rejected delivery; the public cannot open them
        spoilers = dict.fromkeys(SPOILERS, ("seller", "fair-swap"))
        assert_audit_names(flow, request_id, spoilers, BUYER)
        assert_audit_names(flow, request_id, {})
