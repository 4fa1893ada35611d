"""The model market's escrow under random sequences of operations (hypothesis).

Invariants, checked after every step that mined a block:

- the contract's balance equals what its requests lock plus what it owes the known
  accounts (``owed``); no ether appears or vanishes (accounts and market together);
- an ended request (closed, cancelled, test rejected, failed) locks nothing, and its status
  never changes again.

At the end of every run, anyone drives each request to its end with nothing but deadlines
and blocks (``advance``, ``tally`` with the vector the majority revealed, ``finish``),
everyone withdraws, and the market holds nothing: no money is ever stuck.

Every run starts with one request whose sample is revealed; then operations are drawn at
random: requests with random terms (k, executors, groups, sample, schedule, stakes, fees,
bonds, sometimes the wrong value) posted by two buyers, sample draws and reveals,
submissions of honest and cheating models, volunteers, rejected deliveries, seals,
commitments and reveals of agreeing or dissenting scores and flags, tallies, key reveals,
complaints, finishes, withdrawals by the right party or anyone, time travel and mining
(sometimes past the 256-block window); a ``progress`` rule takes the next honest steps of
one request (or lets its deadline pass) so that runs reach the later states. Invalid
operations revert and change nothing. ``--hypothesis-show-statistics`` shows how runs
ended. Runs on the embedded chain only, which it builds itself (one for all examples, with
a fresh market per example), as the other protocols' escrow machines do.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from functools import cache, partial

from eth_account.signers.local import LocalAccount
from hypothesis import event as statistic
from hypothesis import strategies as st
from hypothesis.stateful import initialize, invariant, precondition, rule

from mercato.chain.contract import Contract, TxResult
from mercato.chain.embedded import EmbeddedChain
from mercato.crypto import fairswap
from mercato.errors import ContractRevert
from mercato.protocols.draws import BLOCKHASH_WINDOW
from mercato.protocols.modelmarket.market import ModelMarket, score_commitment
from mercato.protocols.modelmarket.views import (
    TEST_FLAG,
    Periods,
    Request,
    RequestStatus,
    SubmissionState,
    indices_of,
    model_flag,
)
from mercato.protocols.roles import Role

from ..world import ACCOUNT_COUNT, EMPTY, HOUR, RIGHT, ProtocolMachine, actors, picks
from .world import (
    REPORT_HASH,
    Model,
    World,
    cheating_model,
    complaint_for,
    deploy_world,
    new_model,
)

MAX_REQUESTS = 3
PERIODS = Periods(2 * HOUR, 3 * HOUR, 2 * HOUR, 2 * HOUR, 2 * HOUR, 2 * HOUR)
"""Periods long beside most time travel steps, so that phases often end by their last
party; the honest steps let deadlines pass on purpose."""
SCHEDULES = (
    ((500_000, 10**16), (800_000, 2 * 10**16), (900_000, 3 * 10**16)),
    ((0, 7),),
    ((300_000, 5), (600_000, 5), (950_000, 11)),
)
WAITS = (60, 600, HOUR, 3 * HOUR)
MINED = (1, 2, 3, BLOCKHASH_WINDOW + 1)
OPERATIONS = (
    "advance",
    "reveal_sample",
    "submit",
    "volunteer",
    "reject_delivery",
    "seal",
    "commit_scores",
    "reveal_scores",
    "tally",
    "reveal_key",
    "complain",
    "finish",
    "withdraw",
    "wait",
    "mine",
)
Vote = tuple[tuple[int, ...], int]
"""Scores and flags, as an executor commits to them."""


@cache
def shared_world() -> World:
    """One embedded chain and registry with the cast registered, shared by every example.

    The stranger is registered with every role, so that requests have two possible buyers
    (refunds go to two addresses) and one account sells, executes or buys by turns.
    """
    chain = EmbeddedChain()
    world = deploy_world(chain, chain.dev_accounts(ACCOUNT_COUNT))
    world.register(world.stranger, int(Role.CLIENT | Role.MODEL_OWNER | Role.COMPUTE_PROVIDER))
    return world


def majority(votes: dict[int, Vote], executors: int) -> Vote | None:
    """The vector more than half of the drawn executors revealed, as the contract finds it
    (volunteer index order), or None."""
    needed = executors // 2 + 1
    for index in sorted(votes):
        if sum(1 for other in votes.values() if other == votes[index]) >= needed:
            return votes[index]
    return None


class EscrowMachine(ProtocolMachine):
    """Random operations on one fresh model market; the escrow must always balance."""

    def __init__(self) -> None:
        shared = shared_world()
        super().__init__(shared)
        contract, _ = Contract.deploy(
            self.chain, "ModelMarket", shared.registry.address, sender=shared.buyer
        )
        self.world = replace(
            shared,
            market=ModelMarket(self.chain, contract.address),
            test_sets={},
            models={},
            salts={},
            _terms={},
        )
        self.market = self.world.market
        self.buyers = [self.world.buyer, self.world.stranger]
        self.sellers = [*self.world.sellers, self.world.stranger]
        self.providers = [*self.world.executors, self.world.stranger]
        self.request_count = 0
        self.requests: dict[int, Request] = {}
        """Every request as read at the last check, which follows every step."""
        self.owed: dict[str, int] = {a.address: 0 for a in self.accounts}
        """What the market owes every account, as read at the last check."""
        self.touched: set[str] = set()
        """Accounts credited or paid since the last check."""
        self.volunteers: dict[int, dict[int, str]] = {}
        self.submitters: dict[int, dict[int, str]] = {}
        self.commitments: dict[tuple[int, str], tuple[Vote, bytes]] = {}
        """What each executor committed to (and its salt), to reveal it later."""
        self.revealed: dict[int, dict[int, Vote]] = {}
        """What each executor revealed, by volunteer index, from ScoresRevealed events."""
        self.truth: dict[int, Vote] = {}
        """The vote honest executors commit to, per request."""
        self.ether = self._ether()
        self.checked_block = self.chain.block_number()
        self.fully_checked_block = self.checked_block

    # helpers --------------------------------------------------------------------------------
    def _ether(self) -> int:
        return self.world.balance() + sum(self.chain.balance(a.address) for a in self.accounts)

    def _try(self, step: Callable[[], TxResult]) -> TxResult | None:
        """Send a step; None if the contract refused it. Records what its events tell."""
        try:
            result = step()
        except ContractRevert:
            return None
        for event in result.events:
            args = event.args
            if event.name in ("Credited", "Withdrawn"):
                self.touched.add(args["account"])
            elif event.name == "Volunteered":
                self.volunteers.setdefault(args["request_id"], {})[args["index"]] = args["executor"]
            elif event.name == "Submitted":
                self.submitters.setdefault(args["request_id"], {})[args["index"]] = args["seller"]
            elif event.name == "ScoresRevealed":
                vote = (tuple(args["scores"]), args["flags"])
                self.revealed.setdefault(args["request_id"], {})[args["index"]] = vote
            elif event.name == "RequestEnded":
                statistic(f"ended {RequestStatus(args['status']).label}")
            elif event.name == "SwapSettled":
                statistic(f"swap {SubmissionState(args['state']).label}")
            elif event.name == "Retargeted":
                statistic("retargeted")
        return result

    def _account_of(self, address: str | None, fallback: int) -> LocalAccount:
        return self._account(RIGHT if address else fallback, address)

    def _models(self, request_id: int) -> dict[int, Model]:
        return {i: m for (r, i), m in self.world.models.items() if r == request_id}

    def _is_cheat(self, model: Model) -> bool:
        return fairswap.open_delivery(model.commitments, model.delivery, model.key)[0] is None

    def _complaint(self, model: Model) -> fairswap.Complaint:
        """The buyer's complaint about the model: its bad chunk, or else chunk 0 (valid
        proofs, but the chunk decrypts to its hash)."""
        complaint = fairswap.open_delivery(model.commitments, model.delivery, model.key)[1]
        return complaint or complaint_for(model.delivery, 0)

    def _vote(self, request_id: int, sellers: int, decision: int) -> Vote:
        """The honest vote of a request (drawn once), or a dissenting one (decision)."""
        if request_id not in self.truth:
            scores = tuple(min((decision >> (3 * i)) % 8 * 150_000, 10**6) for i in range(sellers))
            flags = 0
            if decision % 17 == 0:
                flags = TEST_FLAG
            elif decision % 11 == 0 and sellers:
                flags = model_flag(decision % sellers)
            self.truth[request_id] = (scores, flags)
        scores, flags = self.truth[request_id]
        if decision % 9 == 2 and scores:
            return ((scores[0] + 1) % 10**6, *scores[1:]), flags
        return scores, flags

    def _commit(self, request_id: int, executor: LocalAccount, vote: Vote) -> TxResult | None:
        salt = self.world.fresh(b"salt")
        commitment = score_commitment(
            request_id, executor.address, vote[0], vote[1], REPORT_HASH, salt
        )
        result = self._try(lambda: self.market.commit_scores(executor, request_id, commitment))
        if result is not None:
            self.commitments[request_id, executor.address] = (vote, salt)
        return result

    def _reveal(self, request_id: int, executor: LocalAccount) -> TxResult | None:
        (scores, flags), salt = self.commitments.get(
            (request_id, executor.address), (((), 0), EMPTY)
        )
        return self._try(
            lambda: self.market.reveal_scores(
                executor, request_id, scores, flags, REPORT_HASH, salt
            )
        )

    def _majority(self, request_id: int) -> Vote:
        votes = self.revealed.get(request_id, {})
        request = self.requests.get(request_id)
        return majority(votes, request.executors if request else 1) or ((), 0)

    def _tally(self, request_id: int, sender: LocalAccount) -> TxResult | None:
        scores, flags = self._majority(request_id)
        return self._try(lambda: self.market.tally(sender, request_id, scores, flags))

    def _let_pass(self, request_id: int, step: Callable[[], TxResult]) -> TxResult | None:
        """Let the request's deadline pass; then send ``step``."""
        self.world.pass_deadline(request_id)
        return self._try(step)

    def _advance(self, request_id: int) -> Callable[[], TxResult]:
        return lambda: self.market.advance(self.world.stranger, request_id)

    # rules ------------------------------------------------------------------------------------
    @initialize(executors=st.integers(min_value=1, max_value=3), k=st.integers(1, 2))
    def first_request(self, executors: int, k: int) -> None:
        """Every run starts with a valid request open for submissions, so that most runs
        get to its benchmark and swap."""
        self.post(0, k, executors, 64, 4, 0, 10**15, 10**14, 4 * 10**15, 0)
        assert self.request_count == 1
        assert self._try(lambda: self.world.draw_sample(1)) is not None
        assert self._try(lambda: self.world.reveal_sample(1)) is not None

    @precondition(lambda self: self.request_count < MAX_REQUESTS)
    @rule(
        buyer=st.integers(min_value=0, max_value=1),
        k=st.integers(min_value=1, max_value=2),
        executors=st.integers(min_value=1, max_value=3),
        groups=st.sampled_from([32, 64]),
        sample=st.integers(min_value=1, max_value=8),
        schedule=st.integers(min_value=0, max_value=len(SCHEDULES) - 1),
        stake=st.sampled_from([0, 10**15, 10**15 + 1]),
        fee=st.sampled_from([0, 7, 10**14]),
        bond=st.sampled_from([0, 5, 4 * 10**15]),
        value_error=st.sampled_from([0, 0, 0, 0, 1]),
    )
    def post(
        self,
        buyer: int,
        k: int,
        executors: int,
        groups: int,
        sample: int,
        schedule: int,
        stake: int,
        fee: int,
        bond: int,
        value_error: int,
    ) -> None:
        top = SCHEDULES[schedule][-1][1]
        escrowed = k * top + executors * fee + bond
        result = self._try(
            lambda: self.world.post(
                sender=self.buyers[buyer],
                k=k,
                executors=executors,
                groups=groups,
                sample=sample,
                schedule=SCHEDULES[schedule],
                seller_stake=stake,
                executor_stake=2 * stake,
                executor_fee=fee,
                bond=bond,
                periods=PERIODS,
                value=escrowed + value_error,
            )[1]
        )
        if result is not None:
            self.request_count = result.event("RequestPosted")["request_id"]

    @rule(
        fn=st.sampled_from(OPERATIONS),
        pick=picks,
        slot=picks,
        actor=actors,
        zero=st.booleans(),
    )
    def anything(self, fn: str, pick: int, slot: int, actor: int, zero: bool) -> None:
        """Any call on any request (or an unknown one) by the party it expects (RIGHT) or
        by anyone, a withdrawal, time passing or blocks mined.

        ``slot`` picks the submission, volunteer or account a call is about; ``zero`` makes
        it wrong: empty hashes, a wrong stake, key or vote, a complaint about a good chunk.
        """
        if fn == "wait":
            self.chain.time_travel(WAITS[slot % len(WAITS)])
            return
        if fn == "mine":
            self.world.mine(MINED[slot % len(MINED)] if slot % 8 == 7 else 1 + slot % 3)
            return
        if fn == "withdraw":
            right = next((a for a, owed in self.owed.items() if owed), None)
            sender = self._account_of(right, actor)
            self._try(lambda: self.market.withdraw(sender))
            return
        request_id = self._pick(self.request_count, pick)
        request = self.requests.get(request_id)
        buyer = request.buyer if request else None
        volunteers = self.volunteers.get(request_id, {})
        volunteer = volunteers.get(slot % max(len(volunteers), 1))
        submitters = self.submitters.get(request_id, {})
        index = slot % (len(submitters) + 1)
        model = self.world.models.get((request_id, index))
        blob = EMPTY if zero else self.world.fresh(b"blob")
        if fn == "advance":
            sender = self.accounts[max(actor, 0)]
            self._try(lambda: self.market.advance(sender, request_id))
        elif fn == "reveal_sample":
            sender = self._account_of(buyer, actor)
            if request_id in self.world.test_sets and request and request.sample_seed != EMPTY:
                indices = self.world.sample_indices(request_id)
                self._try(
                    lambda: self.world.reveal_sample(
                        request_id, sender=sender, indices=indices[::-1] if zero else indices
                    )
                )
            else:
                self._try(lambda: self.market.reveal_sample(sender, request_id, [], [], blob))
        elif fn == "submit":
            seller = self._account_of(self.sellers[slot % len(self.sellers)].address, actor)
            stake = request.seller_stake + zero if request else 0
            new = cheating_model() if slot % 3 == 0 else new_model()
            self._try(lambda: self.world.submit(request_id, seller, new, stake))
        elif fn == "volunteer":
            provider = self._account_of(self.providers[slot % len(self.providers)].address, actor)
            stake = request.executor_stake + zero if request else 0
            self._try(lambda: self.world.volunteer(request_id, provider, stake))
        elif fn == "reject_delivery":
            sender = self._account_of(buyer, actor)
            self._try(lambda: self.market.reject_delivery(sender, request_id, index, blob))
        elif fn == "seal":
            sealer = buyer if slot % 2 else submitters.get(index)
            sender = self._account_of(sealer, actor)
            self._try(lambda: self.market.seal(sender, request_id, blob))
        elif fn == "commit_scores":
            sender = self._account_of(volunteer, actor)
            if zero:
                self._try(lambda: self.market.commit_scores(sender, request_id, EMPTY))
            else:
                sellers = request.sellers if request else 0
                self._commit(request_id, sender, self._vote(request_id, sellers, slot))
        elif fn == "reveal_scores":
            self._reveal(request_id, self._account_of(volunteer, actor))
        elif fn == "tally":
            sender = self.accounts[max(actor, 0)]
            if zero:
                self._try(lambda: self.market.tally(sender, request_id, [1], 0))
            else:
                self._tally(request_id, sender)
        elif fn == "reveal_key":
            sender = self._account_of(submitters.get(index), actor)
            key = fairswap.new_key() if zero or model is None else model.key
            self._try(lambda: self.market.reveal_key(sender, request_id, key))
        elif fn == "complain":
            sender = self._account_of(buyer, actor)
            if model is not None:
                complaint = complaint_for(model.delivery, 0) if zero else self._complaint(model)
                self._try(
                    lambda: self.market.complain(sender, request_id, index, model.key, complaint)
                )
        elif fn == "finish":
            sender = self.accounts[max(actor, 0)]
            self._try(lambda: self.market.finish(sender, request_id, index))

    @precondition(lambda self: self.request_count > 0)
    @rule(
        pick=picks,
        decisions=st.lists(st.integers(min_value=0, max_value=2**16), min_size=10, max_size=30),
    )
    def progress(self, pick: int, decisions: list[int]) -> None:
        """Take the next honest steps of one request, so that runs reach the later states."""
        open_requests = [r for r, request in self.requests.items() if not request.status.final]
        if not open_requests:
            return
        request_id = open_requests[pick % len(open_requests)]
        for decision in decisions:
            if self.requests[request_id].status.final:
                return
            self._honest_step(request_id, decision)
            self._check(focus=request_id)

    def _honest_step(self, request_id: int, decision: int) -> None:
        """The next step an honest party would take, or a deadline let pass (decision).

        Deadlines pass on residues away from 0, 1 and the top of the range, which
        hypothesis draws often."""
        request = self.requests[request_id]
        status = request.status
        buyer = self._account(RIGHT, request.buyer)
        if status is RequestStatus.SAMPLING:
            if decision % 11 == 5:
                self._let_pass(request_id, self._advance(request_id))
            elif request.sample_seed == EMPTY:
                self.world.mine()
                self._try(self._advance(request_id))
            else:
                self._try(lambda: self.world.reveal_sample(request_id))
        elif status is RequestStatus.SUBMITTING:
            self._submitting_step(request_id, request, decision)
        elif status is RequestStatus.DRAWING:
            self.world.mine()
            self._try(self._advance(request_id))
        elif status is RequestStatus.COMMITTING:
            waiting = indices_of(request.drawn & ~request.committed)
            if decision % 13 == 3 or not waiting:
                self._let_pass(request_id, self._advance(request_id))
                return
            executor = self._account(RIGHT, self.volunteers[request_id][waiting[0]])
            self._commit(request_id, executor, self._vote(request_id, request.sellers, decision))
        elif status is RequestStatus.REVEALING:
            waiting = indices_of(request.committed & ~request.revealed)
            if not waiting:
                self._tally(request_id, self.world.stranger)
            elif decision % 13 == 3:
                self.world.pass_deadline(request_id)
                self._tally(request_id, self.world.stranger)
            else:
                self._reveal(
                    request_id, self._account(RIGHT, self.volunteers[request_id][waiting[0]])
                )
        elif status is RequestStatus.SWAPPING:
            self._swapping_step(request_id, buyer, decision)

    def _submitting_step(self, request_id: int, request: Request, decision: int) -> None:
        taken = {request.buyer, *self.volunteers.get(request_id, {}).values()}
        taken |= set(self.submitters.get(request_id, {}).values())
        sellers = [s for s in self.sellers if s.address not in taken]
        providers = [p for p in self.providers if p.address not in taken]
        ready = request.volunteers >= request.executors and request.sellers > 0
        if (decision % 7 == 4 and (ready or decision % 29 == 11)) or not (sellers or providers):
            self._let_pass(request_id, self._advance(request_id))
        elif decision % 13 == 6 and request.sellers:
            buyer = self._account(RIGHT, request.buyer)
            blob = self.world.fresh(b"reason")
            index = decision % request.sellers
            self._try(lambda: self.market.reject_delivery(buyer, request_id, index, blob))
        elif providers and (request.volunteers < request.executors or decision % 2 or not sellers):
            provider = providers[decision % len(providers)]
            self._try(lambda: self.world.volunteer(request_id, provider))
        elif sellers:
            seller = sellers[decision % len(sellers)]
            model = cheating_model() if decision % 3 == 1 else new_model()
            self._try(lambda: self.world.submit(request_id, seller, model))

    def _swapping_step(self, request_id: int, buyer: LocalAccount, decision: int) -> None:
        submissions = self.market.submissions(request_id)
        models = self._models(request_id)
        won = [s for s in submissions if s.state is SubmissionState.WON]
        revealed = [s for s in submissions if s.state is SubmissionState.KEY_REVEALED]
        if won and decision % 6 != 5:
            s = won[decision % len(won)]
            seller = self._account(RIGHT, s.seller)
            self._try(lambda: self.market.reveal_key(seller, request_id, models[s.index].key))
        elif won:
            self.world.pass_deadline(request_id)
            self._try(lambda: self.market.finish(self.world.stranger, request_id, won[0].index))
        elif revealed:
            s = revealed[decision % len(revealed)]
            model = models[s.index]
            if self._is_cheat(model) and decision % 4:
                complaint = self._complaint(model)
                self._try(
                    lambda: self.market.complain(buyer, request_id, s.index, model.key, complaint)
                )
            else:
                self.world.travel_to(s.deadline)
                self._try(lambda: self.market.finish(self.world.stranger, request_id, s.index))

    # invariants -------------------------------------------------------------------------------
    @invariant()
    def escrow_balances(self) -> None:
        # A reverted step, time travel or an empty block changes no balance, so the
        # invariants (functions of state alone) hold as they did at the last check.
        self._check()

    def _check(self, focus: int | None = None, *, every_account: bool = False) -> None:
        """Check the invariants against the chain.

        Only the accounts that Credited and Withdrawn events named since the last check
        are read again (all of them with ``every_account``), and with ``focus``, between
        the honest steps of one request, only that request. Money moved without an event
        would still show: the balance would not add up.
        """
        block = self.chain.block_number()
        if block == (self.checked_block if focus else self.fully_checked_block):
            return
        self.checked_block = block
        if not focus:
            self.fully_checked_block = block
        ids: Sequence[int] = [focus] if focus else range(1, self.request_count + 1)
        requests = {**self.requests, **{r: self.market.request(r) for r in ids}}
        accounts = [a.address for a in self.accounts] if every_account else self.touched
        self.owed.update({a: self.world.owed(a) for a in accounts})
        self.touched = set()
        locked = sum(request.locked for request in requests.values())
        assert self.world.balance() == sum(self.owed.values()) + locked
        assert self._ether() == self.ether
        for request_id, request in requests.items():
            if request.status.final:
                assert request.locked == 0
                before = self.requests.get(request_id)
                if before is not None and before.status.final:
                    assert request.status is before.status
        self.requests = requests

    def teardown(self) -> None:
        """Deadlines and blocks alone end every request; then everyone withdraws and
        nothing is left."""
        self._check()
        for request_id in self.requests:
            for _ in range(12):
                request = self.market.request(request_id)
                if request.status.final:
                    break
                self._end_by_deadlines(request_id, request)
                self._check(focus=request_id)
            assert self.market.request(request_id).status.final, f"request {request_id} hangs"
        self.fully_checked_block = -1
        self._check(every_account=True)
        assert all(request.locked == 0 for request in self.requests.values())
        for account in self.accounts:
            if self.owed[account.address]:
                self.market.withdraw(account)
        assert self.world.balance() == 0
        assert self._ether() == self.ether

    def _end_by_deadlines(self, request_id: int, request: Request) -> None:
        """The step anyone takes once the request's time has come; it must go through."""
        stranger = self.world.stranger
        if request.status is RequestStatus.DRAWING:
            self.world.mine()
            assert self._try(self._advance(request_id)) is not None
        elif request.status is RequestStatus.REVEALING:
            self.world.pass_deadline(request_id)
            assert self._tally(request_id, stranger) is not None
        elif request.status is RequestStatus.SWAPPING:
            self.world.pass_deadline(request_id)
            for s in self.market.submissions(request_id):
                if s.state is SubmissionState.KEY_REVEALED:
                    self.world.travel_to(s.deadline)
                if s.state in (SubmissionState.WON, SubmissionState.KEY_REVEALED):
                    assert self._try(partial(self.market.finish, stranger, request_id, s.index))
        else:
            assert self._let_pass(request_id, self._advance(request_id)) is not None
        statistic(f"teardown from {request.status.label}")


def test_the_honest_vote_counts_like_the_contract() -> None:
    # prepare: votes of volunteers 0, 2 and 5 of three drawn executors
    a, b = ((1, 2), 0), ((1, 2), TEST_FLAG)

    # act / assert
    assert majority({0: a, 2: b, 5: a}, 3) == a
    assert majority({0: a, 2: b}, 3) is None
    assert majority({0: a}, 1) == a
    assert majority({3: b, 4: b, 0: a}, 3) == b


TestEscrowInvariant = EscrowMachine.test_case(max_examples=20, steps=25)
