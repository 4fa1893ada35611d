"""The training market's escrow invariant under random sequences of operations (hypothesis).

Invariants, checked after every step that mined a block:

- the contract's balance equals what it owes (``owed``) to the known accounts plus what
  its unfinished trainings lock (everything the MO escrowed, until completion or cancel)
  plus the stake slashed in them;
- the registry's balance equals the stakes of the known accounts;
- no ether appears or vanishes (accounts, market and registry together);
- in an unfinished training, the pay held for its instances plus what was forfeited to
  the DO equals job_price times the jobs accepted plus the stake slashed (fraud reports
  only move pay around and add the slashed stake);
- a fraud report slashes min(FRAUD_STAKE, stake) of the reported CO; completion pays
  exactly the data price, the jobs and the slashed stake, and refunds the MO the same as
  if nobody had been reported;
- a final status never changes; every draw is the one recomputed from its block hash.

Operations are drawn at random (requests with random k, rounds and values, approvals,
cancellations, rounds started and drawn, jobs by the right CO or anyone, closes, fraud
reports, completions by the MO or anyone, time travel, withdrawals, COs adding stake);
invalid ones revert and change nothing. At the end of every run, deadlines alone end every
training (the DO closes rounds and completes once the MO is silent; only the MO can end its
own unapproved request), everyone withdraws, and the market holds nothing: no money is ever
stuck. Runs on the embedded chain only, which it builds
itself (one for all examples, with a fresh market and datasets per example): it is fast
and gas-free, so ether is conserved exactly. The rpc tier is exercised by the example tests.
"""

from __future__ import annotations

from dataclasses import replace
from functools import cache

from eth_account.signers.local import LocalAccount
from hypothesis import strategies as st
from hypothesis.stateful import initialize, invariant, precondition, rule

from mercato.chain.contract import Event, TxResult
from mercato.chain.embedded import EmbeddedChain
from mercato.protocols.roles import Role
from mercato.protocols.training.market import Training, TrainingMarket, TrainingStatus

from ..world import ACCOUNT_COUNT, DAY, HOUR, KEY, RIGHT, ProtocolMachine, actors, picks
from .world import (
    CO_COUNT,
    EVIDENCE,
    FRAUD_STAKE,
    GLOBAL_MODEL,
    PERIODS,
    Setup,
    World,
    deploy_market,
    deploy_world,
)

MAX_TRAININGS = 4
LONGEST_WAIT = 2 * sum(PERIODS) + 1
"""Past any deadline of a training's present state (the idle one after a review window)."""
SHAPES = ((2, 2), (3, 1))
"""(subsets, replicas) of the two datasets of every example."""

stake_amounts = st.sampled_from([0, FRAUD_STAKE // 3, FRAUD_STAKE, 2 * FRAUD_STAKE])


@cache
def shared_world() -> World:
    """One embedded chain and registry with the cast registered, shared by every example.

    Each example deploys its own market against this registry (authorized to slash), where
    only COs' stakes change; the stranger is registered as a second model owner, so
    refunds go to two addresses.
    """
    chain = EmbeddedChain()
    world = deploy_world(chain, chain.dev_accounts(ACCOUNT_COUNT))
    world.registry.transact("register", int(Role.MODEL_OWNER), KEY, sender=world.stranger)
    return world


class EscrowMachine(ProtocolMachine):
    """Random operations on one fresh training market; the escrow must always balance."""

    def __init__(self) -> None:
        shared = shared_world()
        super().__init__(shared)
        contract = deploy_market(self.chain, shared.registry, shared.deployer)
        self.world = replace(shared, market=TrainingMarket(self.chain, contract.address))
        self.market = self.world.market
        self.setups: list[Setup] = []
        self.models: dict[str, int] = {}
        self.trainings: dict[int, Training] = {}
        """Every training as read at the last check, which follows every step."""
        self.stakes: dict[str, int] = {}
        """Every account's registry stake as read at the last check."""
        self.training_count = 0
        self.stakes = self._stakes()
        self.ether = self._ether()
        self.checked_block = -1

    # helpers --------------------------------------------------------------------------------
    def _ether(self) -> int:
        held = self.world.balance() + self.chain.balance(self.world.registry.address)
        return sum(self.chain.balance(a.address) for a in self.accounts) + held

    def _stakes(self) -> dict[str, int]:
        return {a.address: self.world.stake_of(a) for a in self.accounts}

    def _training(self, pick: int) -> int:
        """An existing training id, or (one pick in eight) one that does not exist."""
        return self._pick(self.training_count, pick)

    def _setup_of(self, training_id: int) -> Setup | None:
        training = self.trainings.get(training_id)
        if training is None:
            return None
        return next(s for s in self.setups if s.dataset_id == training.dataset_id)

    def _try(self, fn: str, *args: object, sender: LocalAccount, value: int = 0) -> TxResult | None:
        result = self._send(self.market.contract, fn, *args, sender=sender, value=value)
        if result is None:
            return None
        for event in result.events:
            if event.name == "RoundStarted":
                self._check_draw(event)
            elif event.name == "TrainingCompleted":
                self._check_payments(event)
            elif event.name == "FraudReported":
                self._check_slash(event)
        return result

    def _check_slash(self, event: Event) -> None:
        """The reported CO loses min(FRAUD_STAKE, its stake), whatever its pay was."""
        before = self.stakes[event["co"]]
        assert event["slashed"] == min(FRAUD_STAKE, before)
        assert self.world.registry.call("stake", event["co"]) == before - event["slashed"]

    def _check_payments(self, event: Event) -> None:
        """Completion pays every job accepted and refunds exactly the unused budget."""
        training = self.trainings[event["training_id"]]
        dataset = self.market.dataset(training.dataset_id)
        earned = dataset.job_price * training.jobs
        slashed = self.market.slashed(training.training_id)
        paid = event["paid_owner"] + event["paid_compute"]
        assert paid == dataset.data_price + earned + slashed
        assert event["paid_owner"] == dataset.data_price + training.forfeited
        assert event["refund"] == training.escrowed - dataset.data_price - earned

    def _check_draw(self, event: Event) -> None:
        """The draw is the one recomputed from its block hash and the previous cycle."""
        training = self.trainings[event["training_id"]]
        setup = self._setup_of(training.training_id)
        assert setup is not None
        k = training.subsets_per_round
        assert (
            event["subsets"] == self.world.expected_draw(event, setup.subsets, k, training.cycle)[0]
        )

    def _model_of(self, owner: LocalAccount) -> int:
        if owner.address not in self.models:
            self.models[owner.address] = self.world.new_model(sender=owner)
        return self.models[owner.address]

    # rules ------------------------------------------------------------------------------------
    @initialize(stakes=st.lists(stake_amounts, min_size=CO_COUNT, max_size=CO_COUNT))
    def list_datasets(self, stakes: list[int]) -> None:
        """Every run starts with two verified datasets, one model per model owner, and
        stake added by the COs (some too little for a whole FRAUD_STAKE, some none)."""
        self.setups = [self.world.setup(subsets, replicas) for subsets, replicas in SHAPES]
        for owner in (self.world.mo, self.world.stranger):
            self._model_of(owner)
        for co, amount in zip(self.world.cos, stakes, strict=True):
            if amount:
                self.world.stake(co, amount)

    @precondition(lambda self: self.training_count < MAX_TRAININGS)
    @rule(
        dataset=st.integers(min_value=0, max_value=len(SHAPES) - 1),
        k=st.integers(min_value=1, max_value=3),
        rounds=st.integers(min_value=1, max_value=3),
        value_error=st.sampled_from([0, 0, 0, 1, -1]),
        second_owner=st.booleans(),
    )
    def request(
        self, dataset: int, k: int, rounds: int, value_error: int, second_owner: bool
    ) -> None:
        owner = self.world.stranger if second_owner else self.world.mo
        setup = self.setups[dataset]
        escrowed = self.market.dataset(setup.dataset_id).escrow_for(k, rounds)
        result = self._try(
            "request_training",
            self._model_of(owner),
            setup.dataset_id,
            k,
            rounds,
            sender=owner,
            value=max(escrowed + value_error, 0),
        )
        if result is not None:
            self.training_count = result.event("TrainingRequested")["training_id"]

    @rule(
        fn=st.sampled_from(
            ["approve_training", "cancel", "start_round", "draw_round", "close_round", "complete"]
        ),
        pick=picks,
        actor=actors,
    )
    def step(self, fn: str, pick: int, actor: int) -> None:
        """Any other step of a training, by the caller it expects or by anyone."""
        training_id = self._training(pick)
        training = self.trainings.get(training_id)
        expected = None
        if training is not None:
            expected = self.world.do.address if fn == "approve_training" else training.mo
        args = (GLOBAL_MODEL,) if fn == "start_round" else ()
        self._try(fn, training_id, *args, sender=self._account(actor, expected))

    @rule(pick=picks, slot=picks, actor=actors, reuse_nonce=st.booleans())
    def submit(self, pick: int, slot: int, actor: int, reuse_nonce: bool) -> None:
        training_id = self._training(pick)
        setup = self._setup_of(training_id) or self.setups[0]
        instances = setup.all_instances()
        instance_id = instances[slot % len(instances)]
        co = self.market.instance(instance_id).co
        nonce = self.world.nonce() if not reuse_nonce else b"\x01" * 32
        self._try(
            "submit_job",
            training_id,
            instance_id,
            GLOBAL_MODEL,
            nonce,
            EVIDENCE,
            sender=self._account(actor, co),
        )

    @rule(pick=picks, slot=picks, actor=actors, round_offset=st.sampled_from([0, 0, 0, -1, 1]))
    def report(self, pick: int, slot: int, actor: int, round_offset: int) -> None:
        training_id = self._training(pick)
        training = self.trainings.get(training_id)
        setup = self._setup_of(training_id) or self.setups[0]
        instances = setup.all_instances()
        round_number = max((training.round if training else 1) + round_offset, 0)
        self._try(
            "report_fraud",
            training_id,
            instances[slot % len(instances)],
            round_number,
            EVIDENCE,
            sender=self._account(actor, training.mo if training else None),
        )

    @rule(slot=picks, amount=stake_amounts.filter(bool))
    def stake(self, slot: int, amount: int) -> None:
        """A CO adds to its registry stake (a fraud report may slash it)."""
        self.world.stake(self.world.cos[slot % len(self.world.cos)], amount)

    @rule(actor=actors)
    def withdraw(self, actor: int) -> None:
        """Withdraw by ``actor``, or for RIGHT by the first account that is owed something."""
        owed = [a for a in self.accounts if self.world.owed(a) > 0] if actor == RIGHT else []
        self._try("withdraw", sender=owed[0] if owed else self.accounts[max(actor, 0)])

    @rule(seconds=st.sampled_from([60, HOUR, HOUR, 3 * HOUR, DAY, 3 * DAY]))
    def time_travel(self, seconds: int) -> None:
        self.chain.time_travel(seconds)

    @precondition(lambda self: self.training_count > 0)
    @rule(
        pick=picks,
        decisions=st.lists(st.integers(min_value=0, max_value=15), min_size=4, max_size=12),
    )
    def progress(self, pick: int, decisions: list[int]) -> None:
        """Take the next honest steps of one training, so that runs reach the later states."""
        unfinished = [t for t, training in self.trainings.items() if not training.status.final]
        training_id = unfinished[pick % len(unfinished)] if unfinished else 1
        for decision in decisions:
            self._honest_step(training_id, decision)
            self.escrow_balances()

    def _honest_step(self, training_id: int, decision: int) -> None:
        """The next step an honest party would take, or a deadline let pass (decision)."""
        training = self.trainings[training_id]
        setup = self._setup_of(training_id)
        assert setup is not None
        mo = self._account(RIGHT, training.mo)
        status = training.status
        if status is TrainingStatus.REQUESTED:
            if decision % 8 == 7 or self.chain.timestamp() >= training.deadline:
                self._try("cancel", training_id, sender=mo)
            else:
                self._try("approve_training", training_id, sender=self.world.do)
        elif status in (TrainingStatus.APPROVED, TrainingStatus.ROUND_DONE):
            if status is TrainingStatus.ROUND_DONE and decision % 3 == 2:
                drawn = self.world.drawn_instances(setup, training_id)
                victim = drawn[decision % len(drawn)]
                self._try("report_fraud", training_id, victim, training.round, EVIDENCE, sender=mo)
            elif decision == 15 or training.round == training.max_rounds:
                self._try("complete", training_id, sender=mo)
            else:
                self._try("start_round", training_id, GLOBAL_MODEL, sender=mo)
        elif status is TrainingStatus.DRAWING:
            self._try("draw_round", training_id, sender=self.accounts[decision % ACCOUNT_COUNT])
        elif status is TrainingStatus.TRAINING:
            if decision % 4 == 3:  # the rest stay silent
                self.world.pass_deadline(training_id)
                self._try("close_round", training_id, sender=self.world.stranger)
                return
            waiting = [
                i
                for i in self.world.drawn_instances(setup, training_id)
                if self.market.job(training_id, i).round != training.round
            ]
            if not waiting:
                return
            instance_id = waiting[decision % len(waiting)]
            co = self._account(RIGHT, self.market.instance(instance_id).co)
            self._try(
                "submit_job", training_id, instance_id, GLOBAL_MODEL, self.world.nonce(),
                EVIDENCE, sender=co,
            )  # fmt: skip

    # invariants -------------------------------------------------------------------------------
    @invariant()
    def escrow_balances(self) -> None:
        # A reverted step or time travel mines no block and changes no state, so the
        # invariants (functions of state alone) hold as they did at the last check.
        if self.chain.block_number() == self.checked_block:
            return
        self.checked_block = self.chain.block_number()
        self._check()

    def teardown(self) -> None:
        """Deadlines alone end every training: the DO (anyone but the MO) closes a round or
        completes once the MO is silent past its deadline, and the MO may cancel a request
        nobody approved (its own money, held for nobody else); then everyone withdraws and
        the market holds nothing."""
        self._check()
        for training_id in range(1, self.training_count + 1):
            steps = 0
            while not (training := self.market.training(training_id)).status.final:
                steps += 1
                assert steps <= 4, f"training {training_id} does not end: {training.status}"
                self.chain.time_travel(LONGEST_WAIT)
                if training.status is TrainingStatus.REQUESTED:
                    fn, sender = "cancel", self._account(RIGHT, training.mo)
                elif training.status is TrainingStatus.DRAWING:
                    fn, sender = "draw_round", self.world.do
                elif training.status is TrainingStatus.TRAINING:
                    fn, sender = "close_round", self.world.do
                else:
                    fn, sender = "complete", self.world.do
                assert self._try(fn, training_id, sender=sender) is not None, (fn, training)
                self._check()
        for account in self.accounts:
            if self.world.owed(account):
                assert self._try("withdraw", sender=account) is not None
        assert self.world.balance() == 0
        assert self._ether() == self.ether

    def _check(self) -> None:
        trainings = {t: self.market.training(t) for t in range(1, self.training_count + 1)}
        slashed = {t: self.market.slashed(t) for t in trainings}
        owed = sum(self.world.owed(a) for a in self.accounts)
        locked = sum(t.locked + slashed[i] for i, t in trainings.items() if not t.status.final)
        assert self.world.balance() == owed + locked
        stakes = self._stakes()
        assert self.chain.balance(self.world.registry.address) == sum(stakes.values())
        assert self._ether() == self.ether
        for training_id, training in trainings.items():
            before = self.trainings.get(training_id)
            if before is not None and before.status.final:
                assert training.status is before.status
            if not training.status.final:
                setup = self._setup_of_dataset(training.dataset_id)
                held = sum(self.market.job(training_id, i).pending for i in setup.all_instances())
                job_price = self.market.dataset(training.dataset_id).job_price
                assert held + training.forfeited == job_price * training.jobs + slashed[training_id]
        self.trainings = trainings
        self.stakes = stakes

    def _setup_of_dataset(self, dataset_id: int) -> Setup:
        return next(s for s in self.setups if s.dataset_id == dataset_id)


TestEscrowInvariant = EscrowMachine.test_case(max_examples=12, steps=20)
