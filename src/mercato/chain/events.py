"""Read decoded contract events block range by block range, with an in-memory cursor.

The poller knows nothing about persistence: the agent runtime (:mod:`mercato.agents`) saves
the cursor and decides where a poller starts after a restart.
"""

from __future__ import annotations

from collections.abc import Sequence

from mercato.chain.base import Chain
from mercato.chain.contract import Contract, Event
from mercato.errors import InputError

DEFAULT_BATCH = 1_000
"""Blocks read per poll; JSON-RPC providers commonly cap ``eth_getLogs`` near this range."""

DEFAULT_CONFIRMATIONS = 0
"""Blocks kept back from the head; raise it on chains that can reorganise."""


class EventPoller:
    """Fetch the events of some contracts from the next unseen block on, in chain order."""

    def __init__(
        self,
        chain: Chain,
        contracts: Sequence[Contract],
        start_block: int = 0,
        *,
        confirmations: int = DEFAULT_CONFIRMATIONS,
    ) -> None:
        if confirmations < 0:
            raise InputError(f"confirmations must be 0 or more, got {confirmations}")
        self._chain = chain
        self._contracts: dict[str, Contract] = {}
        self._confirmations = confirmations
        self._cursor = 0
        self._head: int | None = None
        self.seek(start_block)
        for contract in contracts:
            self.add(contract)

    @property
    def cursor(self) -> int:
        """The next block to read."""
        return self._cursor

    @property
    def contracts(self) -> list[Contract]:
        """The contracts watched, in the order they were added."""
        return list(self._contracts.values())

    @property
    def caught_up(self) -> bool:
        """Whether the last poll read up to the (confirmed) head of the chain."""
        return self._head is not None and self._cursor > self._head

    def add(self, contract: Contract) -> None:
        """Watch one more contract from the current cursor on (a known address is kept)."""
        self._contracts.setdefault(contract.address.lower(), contract)

    def seek(self, block: int) -> None:
        """Read from ``block`` on at the next poll."""
        if block < 0:
            raise InputError(f"a block number cannot be negative, got {block}")
        self._cursor = block

    def poll(self, max_blocks: int = DEFAULT_BATCH) -> list[Event]:
        """Events of at most ``max_blocks`` blocks from the cursor on; advance the cursor."""
        if max_blocks < 1:
            raise InputError(f"max_blocks must be at least 1, got {max_blocks}")
        head = self._chain.block_number() - self._confirmations
        self._head = head
        if self._cursor > head:
            return []
        last = min(head, self._cursor + max_blocks - 1)
        events: list[Event] = []
        for contract in self._contracts.values():
            logs = self._chain.get_logs(self._cursor, last, address=contract.address)
            events.extend(contract.decode_logs(logs))
        events.sort(key=lambda event: (event.block_number, event.log_index))
        self._cursor = last + 1
        return events
