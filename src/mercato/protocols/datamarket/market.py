"""Typed wrapper of the DataMarket contract (P3, OmniLytics).

Storage layout, for auditors (see the contract's docstring for the rules):

- terms: ``mo | data_owners << 160 | rounds << 168 | mode << 176 | bound << 184 |
  phase_period << 192 | aggregate_period << 224``;
- progress: ``status | round << 8 | phase << 16 | joined << 24 | deadline << 32 |
  active << 96 | done << 128 | outlier_multiple << 160`` (bit i of ``active`` / ``done``:
  member i; the multiple, a term, is kept here where the terms' word has no room);
- money: ``per_update | locked << 128``;
- members by index and ``index + 1`` by address.

Keys, share blobs, updates, models, aggregates and scores live in events only. The task's
view (:class:`~mercato.protocols.datamarket.views.Task`), its states and the member masks
live in :mod:`~mercato.protocols.datamarket.views`; they are re-exported here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from mercato.chain.contract import TxResult
from mercato.ml.aggregate.krum import DEFAULT_MULTIPLE
from mercato.protocols.datamarket.limits import MAX_DATA_OWNERS as MAX_DATA_OWNERS
from mercato.protocols.datamarket.limits import MAX_PERIOD as MAX_PERIOD
from mercato.protocols.datamarket.limits import MAX_ROUNDS as MAX_ROUNDS
from mercato.protocols.datamarket.limits import MIN_DATA_OWNERS as MIN_DATA_OWNERS
from mercato.protocols.datamarket.views import SCORE_SCALE as SCORE_SCALE
from mercato.protocols.datamarket.views import Mode as Mode
from mercato.protocols.datamarket.views import Phase as Phase
from mercato.protocols.datamarket.views import Task as Task
from mercato.protocols.datamarket.views import TaskStatus as TaskStatus
from mercato.protocols.datamarket.views import mask_of as mask_of
from mercato.protocols.datamarket.views import members_of as members_of
from mercato.protocols.wrapper import ContractWrapper

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

JOIN_GAS_LIMIT = 150_000
POST_GAS_LIMIT = 100_000
"""Gas limits sent with a DO's transactions instead of an estimate: above their worst case (a
join 86,000 gas, a post 41,000 when it ends its phase), they save the node's estimate, one
round trip in three per transaction. A transaction that would revert is then mined and
fails; its reason is read back by replaying it, so the error is the same."""


class DataMarket(ContractWrapper):
    """Calls and transactions of the data market, in Mercato's types."""

    CONTRACT = "DataMarket"
    ITEM = "task"

    # model owner ------------------------------------------------------------------------
    def post_task(
        self,
        mo: LocalAccount,
        *,
        model_hash: bytes,
        spec_hash: bytes,
        data_owners: int,
        rounds: int,
        mode: Mode,
        bound: int,
        reward: int,
        join_period: int,
        phase_period: int,
        aggregate_period: int,
        outlier_multiple: int | None = None,
    ) -> tuple[int, TxResult]:
        """Post a task and lock ``reward``; returns (task id, result). ``outlier_multiple``
        (robust mode, hundredths) defaults to Multi-Krum's; secure mode has none."""
        if outlier_multiple is None:
            outlier_multiple = DEFAULT_MULTIPLE if mode is Mode.ROBUST else 0
        result = self.contract.transact(
            "post_task",
            model_hash,
            spec_hash,
            data_owners,
            rounds,
            int(mode),
            bound,
            outlier_multiple,
            join_period,
            phase_period,
            aggregate_period,
            sender=mo,
            value=reward,
        )
        return int(result.event("TaskPosted")["task_id"]), result

    def finalise_round(
        self,
        mo: LocalAccount,
        task_id: int,
        *,
        model_hash: bytes,
        aggregate_hash: bytes,
        excluded: int = 0,
        scores: Sequence[int] = (),
    ) -> TxResult:
        return self.contract.transact(
            "finalise_round",
            task_id,
            model_hash,
            aggregate_hash,
            excluded,
            list(scores),
            sender=mo,
        )

    # data owner -------------------------------------------------------------------------
    def join(
        self,
        do: LocalAccount,
        task_id: int,
        public_key: bytes = bytes(32),
        seed_commitment: bytes = bytes(32),
    ) -> TxResult:
        return self.contract.transact(
            "join", task_id, public_key, seed_commitment, sender=do, gas=JOIN_GAS_LIMIT
        )

    def post_keys(
        self, do: LocalAccount, task_id: int, public_key: bytes, seed_commitment: bytes
    ) -> TxResult:
        return self.contract.transact(
            "post_keys", task_id, public_key, seed_commitment, sender=do, gas=POST_GAS_LIMIT
        )

    def post_shares(self, do: LocalAccount, task_id: int, shares_hash: bytes) -> TxResult:
        return self.contract.transact(
            "post_shares", task_id, shares_hash, sender=do, gas=POST_GAS_LIMIT
        )

    def submit(self, do: LocalAccount, task_id: int, update_hash: bytes) -> TxResult:
        return self.contract.transact("submit", task_id, update_hash, sender=do, gas=POST_GAS_LIMIT)

    def reveal(self, do: LocalAccount, task_id: int, reveal_hash: bytes) -> TxResult:
        return self.contract.transact("reveal", task_id, reveal_hash, sender=do, gas=POST_GAS_LIMIT)

    # anyone -----------------------------------------------------------------------------
    def advance(self, caller: LocalAccount, task_id: int) -> TxResult:
        """After a deadline: cancel an unfilled task or end a phase without the silent."""
        return self.contract.transact("advance", task_id, sender=caller)

    def claim(self, caller: LocalAccount, task_id: int) -> TxResult:
        """After the MO missed an aggregation deadline: pay the round's DOs, end the task."""
        return self.contract.transact("claim", task_id, sender=caller)

    # views ------------------------------------------------------------------------------
    def next_task_id(self) -> int:
        return int(self.contract.call("next_task_id"))

    def task(self, task_id: int) -> Task:
        """The task's state; ContractRevert "datamarket: unknown task" if there is none."""
        return self.read(Task, "task", task_id, mode=Mode, status=TaskStatus, phase=Phase)

    def member(self, task_id: int, index: int) -> str:
        return str(self.contract.call("member", task_id, index))

    def members(self, task_id: int) -> tuple[str, ...]:
        """The task's DOs in join order (index 0 first)."""
        joined = self.task(task_id).joined
        return tuple(self.member(task_id, i) for i in range(joined))

    def index_of(self, task_id: int, data_owner: str) -> int | None:
        """``data_owner``'s index in the task, or None if it did not join."""
        position = int(self.contract.call("index_of", task_id, data_owner))
        return position - 1 if position else None

    def count(self) -> int:
        return self.next_task_id() - 1

    def state(self, item_id: int) -> str:
        return self.task(item_id).status.label

    def parties(self, item_id: int) -> list[str]:
        return list(dict.fromkeys([self.task(item_id).mo, *self.members(item_id)]))
