"""The chain interface: one Protocol that every backend implements.

A backend speaks in raw bytes (calldata, logs); ABI encoding and event decoding live in
:mod:`mercato.chain.contract`, so the embedded EVM and a JSON-RPC node behave the same to
every caller above this layer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount


@dataclass(frozen=True)
class Log:
    """One raw event log, positioned on the chain."""

    address: str
    topics: tuple[bytes, ...]
    data: bytes
    block_number: int
    tx_hash: str
    log_index: int


@dataclass(frozen=True)
class Receipt:
    """The outcome of a mined transaction that succeeded."""

    tx_hash: str
    block_number: int
    gas_used: int
    logs: tuple[Log, ...]
    contract_address: str | None = None


@dataclass(frozen=True)
class TxRequest:
    """A state-changing call: who sends what to whom."""

    sender: LocalAccount
    to: str | None
    data: bytes
    value: int = 0
    gas: int | None = None


@dataclass(frozen=True)
class LogFilter:
    """Which logs to read: a block range, the emitting contract and topics, as ``eth_getLogs``.

    ``to_block`` None reads up to the latest block; ``address`` None reads every contract;
    ``topics[i]``, unless None, must equal the log's topic ``i``: the event's signature
    first, then its indexed arguments.
    """

    from_block: int
    to_block: int | None = None
    address: str | None = None
    topics: tuple[bytes | None, ...] = ()


@runtime_checkable
class LogReader(Protocol):
    """The log-reading part of :class:`Chain`; a backend subclasses it and gives ``select_logs``."""

    def get_logs(
        self,
        from_block: int,
        to_block: int | None = None,
        address: str | None = None,
        topics: Sequence[bytes | None] = (),
    ) -> list[Log]:
        """The logs that the :class:`LogFilter` of these arguments selects."""
        return self.select_logs(LogFilter(from_block, to_block, address, tuple(topics)))

    def select_logs(self, where: LogFilter) -> list[Log]:
        """The logs ``where`` selects, in chain order."""
        ...


@runtime_checkable
class Chain(LogReader, Protocol):
    """An EVM chain that Mercato can deploy to, transact with and read from."""

    # read-only, so that wrappers may expose them as properties
    @property
    def backend(self) -> str:
        """The backend's name: "embedded" or "rpc"."""
        ...

    @property
    def chain_id(self) -> int:
        """The EIP-155 chain id transactions are signed for."""
        ...

    def dev_accounts(self, count: int) -> list[LocalAccount]:
        """Funded development accounts derived from the standard test mnemonic."""
        ...

    def deploy(self, sender: LocalAccount, initcode: bytes, value: int = 0) -> Receipt:
        """Deploy ``initcode`` (bytecode + encoded constructor arguments)."""
        ...

    def send(self, tx: TxRequest) -> Receipt:
        """Send one transaction and wait for it; raise ContractRevert if it reverts."""
        ...

    def send_many(self, txs: Sequence[TxRequest]) -> list[Receipt]:
        """Send transactions pipelined (no wait between them); return receipts in order."""
        ...

    def call(self, to: str, data: bytes, sender: str | None = None, value: int = 0) -> bytes:
        """Run a read-only call against the latest state; raise ContractRevert on revert."""
        ...

    def estimate_gas(self, tx: TxRequest) -> int:
        """Gas the transaction would use now; raise ContractRevert if it would revert."""
        ...

    def block_number(self) -> int:
        """Number of the latest block."""
        ...

    def timestamp(self) -> int:
        """Timestamp of the latest block (the next transaction sees at least this)."""
        ...

    def block_hash(self, number: int) -> bytes:
        """Hash of block ``number`` as the EVM's BLOCKHASH sees it (32 zero bytes if unknown)."""
        ...

    def time_travel(self, seconds: int) -> None:
        """Move chain time forward (development chains only)."""
        ...

    def balance(self, address: str) -> int:
        """Balance of ``address`` in wei."""
        ...

    def set_balance(self, address: str, wei: int) -> None:
        """Set a balance (development chains only)."""
        ...

    def close(self) -> None:
        """Release connections and processes the backend holds."""
        ...
