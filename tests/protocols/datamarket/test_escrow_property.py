"""The data market's escrow under random sequences of operations (hypothesis).

Invariants, checked after every step that mined a block (see ``_check`` for what is read
again between the honest steps of one task):

- the contract's balance equals what its tasks lock plus what it owes the known accounts
  (``owed``); no ether appears or vanishes (accounts and market together);
- a final task (finished, cancelled, expired) locks nothing, and its status never changes;
- every payout follows the rules: a finalised round pays each used DO
  ``per_update + excluded * per_update // kept`` (so excluding gains the MO at most the
  rounding dust), a claim pays each DO of the round ``per_update``, and what a task
  refunds is what it locked less what it paid.

At the end of every run, anyone drives each task to a final state with nothing but
deadlines (``advance`` and ``claim``), everyone withdraws, and the market holds nothing:
no money is ever stuck.

Every run starts with one full task; then operations are drawn at random (tasks with
random sizes, rounds, modes, bounds and rewards posted by two model owners, joins, posts of
every phase by members or anyone, advances, finalisations with random exclusions and
scores, claims, withdrawals, time travel), and a ``progress`` rule takes the next honest
steps of one task (or lets its deadline pass) so that runs reach the later states; invalid
operations revert and change nothing. ``--hypothesis-show-statistics`` shows how many runs
finalised, failed, expired or excluded. Runs on the embedded chain only, which it builds
itself (one for all examples, with a fresh market per example).
"""

from __future__ import annotations

from dataclasses import replace
from functools import cache

from eth_account.signers.local import LocalAccount
from hypothesis import event as statistic
from hypothesis import strategies as st
from hypothesis.stateful import initialize, invariant, precondition, rule

from mercato.chain.contract import Contract, TxResult
from mercato.chain.embedded import EmbeddedChain
from mercato.ml.aggregate.krum import DEFAULT_MULTIPLE
from mercato.protocols.datamarket.market import DataMarket, Mode, Phase, Task, TaskStatus
from mercato.protocols.roles import Role

from ..world import ACCOUNT_COUNT, DAY, HOUR, RIGHT, ProtocolMachine, actors, picks
from .world import PER_UPDATE, World, default_bound, deploy_world, encryption_key

MAX_TASKS = 3
OUTLIER = 10**12
"""An excluded DO's score: above any multiple of the others' (at most 999)."""
JOIN_PERIOD = 3 * DAY
PHASE_PERIOD = 3 * HOUR
"""Periods long beside the time travel steps, so that most tasks fill and most phases
end by their last poster; the honest steps let deadlines pass on purpose."""
POSTING = {
    Phase.KEYS: "post_keys",
    Phase.SHARES: "post_shares",
    Phase.SUBMIT: "submit",
    Phase.REVEAL: "reveal",
}


@cache
def shared_world() -> World:
    """One embedded chain and registry with the cast registered, shared by every example.

    The last DO is registered as a model owner too, so tasks have two possible MOs and
    refunds go to two addresses.
    """
    chain = EmbeddedChain()
    world = deploy_world(chain, chain.dev_accounts(ACCOUNT_COUNT))
    second_mo = world.dos[-1]
    world.registry.transact(
        "register",
        int(Role.MODEL_OWNER | Role.DATA_OWNER),
        encryption_key(second_mo),
        sender=second_mo,
    )
    return world


def bits(mask: int) -> int:
    return bin(mask).count("1")


class EscrowMachine(ProtocolMachine):
    """Random operations on one fresh data market; the escrow must always balance."""

    def __init__(self) -> None:
        shared = shared_world()
        super().__init__(shared)
        contract, _ = Contract.deploy(
            self.chain, "DataMarket", shared.registry.address, sender=shared.mo
        )
        self.world = replace(
            shared, market=DataMarket(self.chain, contract.address), _modes={}, _members={}
        )
        self.market = self.world.market
        self.owners = [self.world.mo, self.world.dos[-1]]
        self.task_count = 0
        self.joined: dict[int, set[str]] = {}
        """The members of every task, from its Joined events."""
        self.tasks: dict[int, Task] = {}
        """Every task as read at the last check, which follows every step."""
        self.owed: dict[str, int] = {a.address: 0 for a in self.accounts}
        """What the market owes every account, as read at the last check."""
        self.touched: set[str] = set()
        """Accounts credited or paid since the last check."""
        self.ether = self._ether()
        self.checked_block = self.chain.block_number()
        self.fully_checked_block = self.checked_block

    # helpers --------------------------------------------------------------------------------
    def _ether(self) -> int:
        return self.world.balance() + sum(self.chain.balance(a.address) for a in self.accounts)

    def _task(self, pick: int) -> int:
        """An existing task id, or (one pick in eight) one that does not exist."""
        return self._pick(self.task_count, pick)

    def _try(self, fn: str, *args: object, sender: LocalAccount, value: int = 0) -> TxResult | None:
        """Send a transaction; check the payouts it made against the state before it."""
        result = self._send(self.market.contract, fn, *args, sender=sender, value=value)
        if result is None:
            return None
        for event in result.events:
            if event.name in ("Credited", "Withdrawn"):
                self.touched.add(event["account"])
            if event.name == "Joined":
                self.joined.setdefault(event["task_id"], set()).add(event["data_owner"])
            if event.name in ("RoundFinalised", "TaskExpired", "TaskFinished", "TaskCancelled"):
                self._check_payout(event.name, event.args, result)
            if event.name in ("RoundFinalised", "RoundFailed") or event.name.startswith("Task"):
                statistic(event.name)  # shown by --hypothesis-show-statistics
        return result

    def _check_payout(self, name: str, args: dict[str, object], result: TxResult) -> None:
        task_id = args["task_id"]
        assert isinstance(task_id, int)
        before = self.tasks[task_id]
        per_update = before.per_update
        if name == "RoundFinalised":
            used, excluded = args["used"], args["excluded"]
            assert isinstance(used, int) and isinstance(excluded, int)
            assert used | excluded == before.active and used & excluded == 0
            kept = bits(used)
            assert args["paid_each"] == per_update + bits(excluded) * per_update // kept
            if excluded:
                statistic("exclusions")
        elif name == "TaskExpired":
            assert args["paid"] == bits(before.active)
            assert args["paid_each"] == per_update
            assert args["refund"] == before.locked - per_update * bits(before.active)
        elif name == "TaskCancelled":
            assert args["refund"] == before.locked
        else:  # TaskFinished: the refund is what is left after this transaction's payments
            paid = sum(
                e["paid_each"] * bits(e["used"])
                for e in result.events
                if e.name == "RoundFinalised" and e["task_id"] == task_id
            )
            assert args["refund"] == before.locked - paid

    # rules ------------------------------------------------------------------------------------
    @initialize(
        data_owners=st.sampled_from([3, 5, 7]),
        rounds=st.integers(min_value=1, max_value=3),
        secure=st.booleans(),
    )
    def first_task(self, data_owners: int, rounds: int, secure: bool) -> None:
        """Every run starts with a valid task, full, so that most runs get to its rounds
        (robust ones of five and seven DOs may exclude one and two)."""
        self.post(data_owners, rounds, secure, 0, 0, PER_UPDATE + 1, False)
        assert self.task_count == 1
        for do in self.world.dos[:data_owners]:
            key = self.world.blob()
            assert self._try("join", 1, key, key, sender=do) is not None

    @precondition(lambda self: self.task_count < MAX_TASKS)
    @rule(
        data_owners=st.integers(min_value=3, max_value=5),
        rounds=st.integers(min_value=1, max_value=3),
        secure=st.booleans(),
        bound_error=st.sampled_from([0, 0, 0, 0, 1, -1]),
        reward_error=st.sampled_from([0, 0, 0, 0, 1]),
        per_update=st.sampled_from([PER_UPDATE, PER_UPDATE + 1, 7]),
        second_owner=st.booleans(),
        multiple_error=st.sampled_from([0, 0, 0, 0, 1]),
    )
    def post(
        self,
        data_owners: int,
        rounds: int,
        secure: bool,
        bound_error: int,
        reward_error: int,
        per_update: int,
        second_owner: bool,
        multiple_error: int = 0,
    ) -> None:
        mode = Mode.SECURE if secure else Mode.ROBUST
        bound = max(default_bound(mode, data_owners) + bound_error, 0)
        # a wrong multiple: one for secure mode, one below 1x for robust mode
        multiple = (0 if secure else DEFAULT_MULTIPLE) + (1 if secure else -1) * multiple_error
        result = self._try(
            "post_task",
            self.world.blob(),
            self.world.blob(),
            data_owners,
            rounds,
            int(mode),
            bound,
            multiple,
            JOIN_PERIOD,
            PHASE_PERIOD,
            PHASE_PERIOD,
            sender=self.owners[second_owner],
            value=per_update * data_owners * rounds + reward_error,
        )
        if result is not None:
            self.task_count = result.event("TaskPosted")["task_id"]

    @rule(
        fn=st.sampled_from(
            ["join", *POSTING.values(), "advance", "finalise_round", "claim", "withdraw", "wait"]
        ),
        pick=picks,
        slot=picks,
        actor=actors,
        zero=st.booleans(),
    )
    def anything(self, fn: str, pick: int, slot: int, actor: int, zero: bool) -> None:
        """Any call on any task (or an unknown one) by the caller it expects or by anyone,
        a withdrawal, or time passing ("wait").

        For RIGHT: a DO picked at random joins, member ``slot`` posts, the task's MO
        finalises, the first account owed something withdraws. ``zero``: zero keys and
        hashes; finalise excludes ``slot``'s bits with ``slot % 9`` scores, valid or not.
        """
        if fn == "wait":
            self.chain.time_travel([60, 600, HOUR, PHASE_PERIOD][slot % 4])
            return
        task_id = self._task(pick)
        task = self.tasks.get(task_id)
        blob = bytes(32) if zero else self.world.blob()
        args: tuple[object, ...] = (task_id,)
        right: str | None = None
        if fn == "join":
            args = (task_id, blob, blob)
            right = self.world.dos[pick // 8 % len(self.world.dos)].address
        elif fn in POSTING.values():
            args = (task_id, blob, blob) if fn == "post_keys" else (task_id, blob)
            right = self.market.member(task_id, slot % 8)
        elif fn == "finalise_round":
            args = (task_id, blob, blob, slot, [1] * (slot % 9))
            right = task.mo if task else None
        elif fn == "withdraw":
            args = ()
            right = next((a for a, owed in self.owed.items() if owed), None)
        self._try(fn, *args, sender=self._account(actor, right))

    def _post(self, task_id: int, sender: LocalAccount, phase: Phase) -> TxResult | None:
        blob = self.world.blob()
        extra = (self.world.blob(),) if phase is Phase.KEYS else ()
        return self._try(POSTING[phase], task_id, blob, *extra, sender=sender)

    @precondition(lambda self: self.task_count > 0)
    @rule(
        pick=picks,
        decisions=st.lists(st.integers(min_value=0, max_value=2**16), min_size=10, max_size=50),
    )
    def progress(self, pick: int, decisions: list[int]) -> None:
        """Take the next honest steps of one task, so that runs reach the later states."""
        open_tasks = [t for t, task in self.tasks.items() if not task.status.final]
        if not open_tasks:
            return
        task_id = open_tasks[pick % len(open_tasks)]
        for decision in decisions:
            if self.tasks[task_id].status.final:
                return
            self._honest_step(task_id, decision)
            self._check(focus=task_id)

    def _honest_step(self, task_id: int, decision: int) -> None:
        """The next step an honest party would take, or a deadline let pass (decision).

        Deadlines pass on residues away from 0, 1 and the top of the range, which hypothesis
        draws often."""
        task = self.tasks[task_id]
        if task.status is TaskStatus.JOINING:
            if decision % 17 == 9:
                self._let_pass(task_id, "advance")
                return
            joined = self.joined.get(task_id, set()) | {task.mo}
            free = [d for d in [self.world.mo, *self.world.dos] if d.address not in joined]
            key = self.world.blob()
            self._try("join", task_id, key, key, sender=free[decision % len(free)])
        elif task.status is TaskStatus.RUNNING and task.phase is not Phase.AGGREGATE:
            if decision % 9 == 5 or not task.waiting_for:
                self._let_pass(task_id, "advance")
                return
            index = task.waiting_for[decision % len(task.waiting_for)]
            self._post(task_id, self.world.member(task_id, index), task.phase)
        elif task.status is TaskStatus.RUNNING:
            if decision % 9 == 5:
                self._let_pass(task_id, "claim")
                return
            excluded = self._valid_exclusion(task, decision)
            robust_scores = task.mode is Mode.ROBUST and (decision % 2 or excluded)
            # the excluded score far above the others: exactly the outliers the contract wants
            scores = [
                OUTLIER if excluded >> i & 1 else decision % 1000 for i in task.active_members
            ]
            scores = scores if robust_scores else []
            blob = self.world.blob()
            mo = self._account(RIGHT, task.mo)
            self._try("finalise_round", task_id, blob, blob, excluded, scores, sender=mo)

    def _valid_exclusion(self, task: Task, decision: int) -> int:
        """A random subset of the submitters within the bound, keeping at least one (their
        scores will make them the outliers)."""
        if task.mode is Mode.SECURE:
            return 0
        excluded = 0
        most = min(task.bound, bits(task.active) - 1)
        for index in task.active_members:
            if bits(excluded) < most and decision >> (index + 3) & 1:
                excluded |= 1 << index
        return excluded

    def _let_pass(self, task_id: int, fn: str) -> TxResult | None:
        """Let the task's deadline pass; then anyone (the stranger) calls ``fn``."""
        self.world.pass_deadline(task_id)
        return self._try(fn, task_id, sender=self.world.stranger)

    # invariants -------------------------------------------------------------------------------
    @invariant()
    def escrow_balances(self) -> None:
        # A reverted step or time travel mines no block and changes no state, so the
        # invariants (functions of state alone) hold as they did at the last check.
        self._check()

    def _check(self, focus: int | None = None, *, every_account: bool = False) -> None:
        """Check the invariants against the chain.

        Only the accounts that Credited and Withdrawn events named since the last check
        are read again (all of them with ``every_account``), and with ``focus``, between
        the honest steps of one task, only that task. Money moved without an event would
        still show: the balance would not add up.
        """
        block = self.chain.block_number()
        if block == (self.checked_block if focus else self.fully_checked_block):
            return
        self.checked_block = block
        if not focus:
            self.fully_checked_block = block
        ids = [focus] if focus else range(1, self.task_count + 1)
        tasks = {**self.tasks, **{t: self.market.task(t) for t in ids}}
        accounts = [a.address for a in self.accounts] if every_account else self.touched
        self.owed.update({a: self.world.owed(a) for a in accounts})
        self.touched = set()
        locked = sum(task.locked for task in tasks.values())
        assert self.world.balance() == sum(self.owed.values()) + locked
        assert self._ether() == self.ether
        for task_id, task in tasks.items():
            if task.status.final:
                assert task.locked == 0
                before = self.tasks.get(task_id)
                if before is not None and before.status.final:
                    assert task.status is before.status
        self.tasks = tasks

    def teardown(self) -> None:
        """Deadlines alone end every task; then everyone withdraws and nothing is left."""
        self._check()
        for task_id in self.tasks:
            steps = 0
            while not (task := self.market.task(task_id)).status.final:
                steps += 1
                assert steps <= 5 * task.rounds + 1, f"task {task_id} does not end"
                fn = "claim" if task.phase is Phase.AGGREGATE else "advance"
                assert self._let_pass(task_id, fn) is not None
                self._check(focus=task_id)
        self.fully_checked_block = -1
        self._check(every_account=True)
        assert all(task.locked == 0 for task in self.tasks.values())
        for account in self.accounts:
            if self.owed[account.address]:
                self.market.withdraw(account)
        assert self.world.balance() == 0
        assert self._ether() == self.ether


TestEscrowInvariant = EscrowMachine.test_case(max_examples=10, steps=20)
