"""A freshly deployed registry and data market, its cast, and short-hands for each step.

The cast: a model owner (MO, also the deployer, registered as model owner and data owner,
so that it could join other MOs' tasks), eight data owners (DO) and a stranger registered
for nothing. Tasks filled here are joined by ``dos[0]``, ``dos[1]``, ... in that order, so
member ``i`` of a filled task is ``dos[i]``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from eth_account.signers.local import LocalAccount
from eth_utils.crypto import keccak

from mercato.chain.base import Chain
from mercato.chain.contract import Contract, TxResult
from mercato.protocols.datamarket.market import DataMarket, Mode, Phase, Task
from mercato.protocols.identity import Identity
from mercato.protocols.roles import Role

from ..world import DAY, EMPTY, HOUR, ProtocolWorld, deploy_registry, register_cast

JOIN_PERIOD = DAY
PHASE_PERIOD = HOUR
AGGREGATE_PERIOD = 2 * HOUR
PER_UPDATE = 10**15
"""Wei a DO earns for one used update, unless a test says otherwise."""
DO_COUNT = 8
MODEL_HASH = keccak(b"public part of the model, round 0")
SPEC_HASH = keccak(b"spec: terms ex:Radiology, resnet-18 head, sgd 1 epoch, multi-krum")
MAX_REWARD = 2**128 - 1


def default_bound(mode: Mode, data_owners: int) -> int:
    """The smallest valid threshold (secure) or the most exclusions allowed (robust)."""
    if mode is Mode.SECURE:
        return data_owners // 2 + 1
    return (data_owners - 3) // 2


@dataclass
class World(ProtocolWorld):
    """The deployed contracts, the cast, and one short-hand per protocol step."""

    market: DataMarket
    mo: LocalAccount
    dos: list[LocalAccount]
    _modes: dict[int, Mode] = field(default_factory=dict)
    _members: dict[tuple[int, int], LocalAccount] = field(default_factory=dict)

    @property
    def contract(self) -> Contract:
        return self.market.contract

    @property
    def cast(self) -> list[LocalAccount]:
        return [*self.dos, self.mo, self.stranger]

    # reading --------------------------------------------------------------------------------
    def state(self, task_id: int) -> Task:
        return self.market.task(task_id)

    def mode_of(self, task_id: int) -> Mode:
        """The task's aggregation mode (read once: the terms never change)."""
        if task_id not in self._modes:
            self._modes[task_id] = self.state(task_id).mode
        return self._modes[task_id]

    def member(self, task_id: int, index: int) -> LocalAccount:
        """The account of member ``index`` of the task (read once: members never change)."""
        if (task_id, index) not in self._members:
            self._members[task_id, index] = self.account_at(self.market.member(task_id, index))
        return self._members[task_id, index]

    def blob(self) -> bytes:
        """A fresh blob hash, never used before in this world."""
        return self.fresh(b"blob")

    # model owner ----------------------------------------------------------------------------
    def post(
        self,
        data_owners: int = 3,
        rounds: int = 1,
        mode: Mode = Mode.ROBUST,
        *,
        bound: int | None = None,
        reward: int | None = None,
        join_period: int = JOIN_PERIOD,
        phase_period: int = PHASE_PERIOD,
        aggregate_period: int = AGGREGATE_PERIOD,
        model_hash: bytes = MODEL_HASH,
        spec_hash: bytes = SPEC_HASH,
        sender: LocalAccount | None = None,
        outlier_multiple: int | None = None,
    ) -> tuple[int, TxResult]:
        """Post a task; the reward defaults to PER_UPDATE for every update of every round,
        the outlier multiple to Multi-Krum's (robust) or none (secure)."""
        return self.market.post_task(
            sender or self.mo,
            model_hash=model_hash,
            spec_hash=spec_hash,
            data_owners=data_owners,
            rounds=rounds,
            mode=mode,
            bound=default_bound(mode, data_owners) if bound is None else bound,
            reward=PER_UPDATE * data_owners * rounds if reward is None else reward,
            join_period=join_period,
            phase_period=phase_period,
            aggregate_period=aggregate_period,
            outlier_multiple=outlier_multiple,
        )

    def posted(
        self, data_owners: int = 3, rounds: int = 1, mode: Mode = Mode.ROBUST, **options: Any
    ) -> int:
        """Post a task and return its id."""
        return self.post(data_owners, rounds, mode, **options)[0]

    def running(
        self, data_owners: int = 3, rounds: int = 1, mode: Mode = Mode.ROBUST, **options: Any
    ) -> int:
        """Post a task, fill it with the first DOs, and return its id (round 1 under way)."""
        task_id = self.posted(data_owners, rounds, mode, **options)
        self.fill(task_id)
        return task_id

    def finalise(
        self,
        task_id: int,
        excluded: int = 0,
        scores: Sequence[int] = (),
        *,
        model_hash: bytes | None = None,
        aggregate_hash: bytes | None = None,
        sender: LocalAccount | None = None,
    ) -> TxResult:
        return self.market.finalise_round(
            sender or self.mo,
            task_id,
            model_hash=model_hash or self.blob(),
            aggregate_hash=aggregate_hash or self.blob(),
            excluded=excluded,
            scores=scores,
        )

    # data owners ----------------------------------------------------------------------------
    def keys_of(self, do: LocalAccount, round_number: int) -> tuple[bytes, bytes]:
        """Stand-ins for a DO's X25519 public key and seed commitment of a round."""
        label = b"%s round %d" % (do.address.encode(), round_number)
        return keccak(b"public key of " + label), keccak(b"seed commitment of " + label)

    def join(
        self,
        task_id: int,
        do: LocalAccount,
        public_key: bytes | None = None,
        seed_commitment: bytes | None = None,
    ) -> TxResult:
        """``do`` joins; in secure mode with round 1's keys unless given, else zeros."""
        return self.contract.transact(
            *self._join_call(task_id, do, public_key, seed_commitment), sender=do
        )

    def fill(self, task_id: int, joiners: int | None = None) -> list[TxResult]:
        """The next DOs of ``dos`` join until ``joiners`` have (the task is full by default)."""
        task = self.state(task_id)
        target = task.data_owners if joiners is None else joiners
        self._modes[task_id] = task.mode
        dos = self.dos[task.joined : target]
        return self._send([(self._join_call(task_id, do), do) for do in dos])

    def act(
        self, task_id: int, do: LocalAccount, phase: Phase | None = None, round_number: int = 0
    ) -> TxResult:
        """``do`` posts what ``phase`` of round ``round_number`` asks, with fresh hashes.

        Both default to the task's current phase and round.
        """
        if phase is None or (phase is Phase.KEYS and not round_number):
            task = self.state(task_id)
            phase = task.phase if phase is None else phase
            round_number = round_number or task.round
        return self.contract.transact(*self._post_call(task_id, do, phase, round_number), sender=do)

    def run_phase(
        self, task_id: int, skip: Sequence[int] = (), task: Task | None = None
    ) -> TxResult:
        """Every member still waiting posts, but those in ``skip``, who let the deadline pass.

        Returns the transaction that ended the phase: the last post, or ``advance``.
        ``task``, if given, is the task's current state (saves reading it).
        """
        task = task or self.state(task_id)
        posters = [self.member(task_id, i) for i in task.waiting_for if i not in skip]
        results = self._send(
            [(self._post_call(task_id, do, task.phase, task.round), do) for do in posters]
        )
        if len(posters) == len(task.waiting_for):
            return results[-1]
        self.pass_deadline(task_id)
        return self.market.advance(self.stranger, task_id)

    def to_aggregate(self, task_id: int, skip: Sequence[int] = ()) -> Task:
        """Run the round's phases until it waits for the MO; ``skip`` stay silent in all."""
        while (task := self.state(task_id)).phase is not Phase.AGGREGATE:
            self.run_phase(task_id, skip, task)
        return task

    def reach(self, task_id: int, phase: Phase) -> Task:
        """Run the task honestly (everyone posts, the MO finalises) until it is in ``phase``."""
        while (task := self.state(task_id)).phase is not phase:
            if task.status.final:
                raise AssertionError(f"task {task_id} ended before phase {phase.label}")
            if task.phase is Phase.AGGREGATE:
                self.finalise(task_id)
            else:
                self.run_phase(task_id, task=task)
        return task

    def _join_call(
        self,
        task_id: int,
        do: LocalAccount,
        public_key: bytes | None = None,
        seed_commitment: bytes | None = None,
    ) -> tuple[object, ...]:
        default_key, default_commitment = EMPTY, EMPTY
        if self.mode_of(task_id) is Mode.SECURE:
            default_key, default_commitment = self.keys_of(do, 1)
        key = default_key if public_key is None else public_key
        commitment = default_commitment if seed_commitment is None else seed_commitment
        return ("join", task_id, key, commitment)

    def _post_call(
        self, task_id: int, do: LocalAccount, phase: Phase, round_number: int
    ) -> tuple[object, ...]:
        if phase is Phase.KEYS:
            return ("post_keys", task_id, *self.keys_of(do, round_number))
        names = {Phase.SHARES: "post_shares", Phase.SUBMIT: "submit", Phase.REVEAL: "reveal"}
        if phase not in names:
            raise ValueError(f"nobody posts in phase {phase.label}")
        return (names[phase], task_id, self.blob())

    def _send(self, calls: Sequence[tuple[tuple[object, ...], LocalAccount]]) -> list[TxResult]:
        """Send the calls pipelined, each ``((function, *args), sender)``."""
        requests = [self.contract.tx(str(c[0]), *c[1:], sender=sender) for c, sender in calls]
        receipts = self.chain.send_many(requests)
        return [TxResult(receipt, self.contract) for receipt in receipts]


def encryption_key(account: LocalAccount) -> bytes:
    """The account's registry key, derived once a session."""
    if account.address not in _ENCRYPTION_KEYS:
        _ENCRYPTION_KEYS[account.address] = Identity(account).encryption_public
    return _ENCRYPTION_KEYS[account.address]


_ENCRYPTION_KEYS: dict[str, bytes] = {}


def deploy_world(chain: Chain, accounts: Sequence[LocalAccount]) -> World:
    """Deploy a registry and a data market and register the cast."""
    mo, dos, stranger = accounts[0], list(accounts[1 : 1 + DO_COUNT]), accounts[1 + DO_COUNT]
    registry = deploy_registry(chain, mo)
    market, _ = Contract.deploy(chain, "DataMarket", registry.address, sender=mo)
    cast = [(mo, Role.MODEL_OWNER | Role.DATA_OWNER)] + [(do, Role.DATA_OWNER) for do in dos]
    register_cast(registry, cast, key=encryption_key)
    return World(
        chain=chain,
        registry=registry,
        deployer=mo,
        stranger=stranger,
        market=DataMarket(chain, market.address),
        mo=mo,
        dos=dos,
    )
