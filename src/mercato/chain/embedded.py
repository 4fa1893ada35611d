"""The embedded backend: an in-process EVM (py-evm driven through titanoboa's fast Env).

No node, no set-up, thousands of transactions per second. Each transaction is mined in a
block of its own; the block timestamp follows the wall clock plus any time travel.
Gas in receipts is what a node would charge: intrinsic gas, plus execution, minus the
capped refund, at least the calldata floor (titanoboa itself reports execution gas only).
Every transaction starts as on a node: storage "original" values committed (EIP-2200),
access lists and transient storage cleared, the sender's nonce incremented.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Sequence
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import boa
from eth_utils.address import to_canonical_address, to_checksum_address

from mercato.chain.accounts import dev_accounts
from mercato.chain.base import Log, LogFilter, LogReader, Receipt, TxRequest
from mercato.chain.revert import decode_revert
from mercato.errors import ChainError, ContractRevert
from mercato.units import format_ether

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

EMBEDDED_CHAIN_ID = 31337
DEV_BALANCE_WEI = 10_000 * 10**18
BLOCK_GAS_LIMIT = 30_000_000
# Intrinsic gas (EIP-2028, EIP-3860): what a node charges before the first opcode runs.
TX_BASE_GAS = 21_000
TX_CREATE_GAS = 32_000
CALLDATA_ZERO_GAS = 4
CALLDATA_NONZERO_GAS = 16
INITCODE_WORD_GAS = 2
MAX_REFUND_QUOTIENT = 5  # EIP-3529
BLOCKHASH_WINDOW = 256
FLOOR_GAS_PER_TOKEN = 10  # EIP-7623 (Prague): a byte is 1 token if zero, 4 otherwise
NONZERO_BYTE_TOKENS = 4


def intrinsic_gas(data: bytes, create: bool) -> int:
    """Gas charged for a transaction before execution."""
    zeros = data.count(0)
    gas = TX_BASE_GAS + zeros * CALLDATA_ZERO_GAS + (len(data) - zeros) * CALLDATA_NONZERO_GAS
    if create:
        gas += TX_CREATE_GAS + initcode_gas(data)
    return gas


def initcode_gas(initcode: bytes) -> int:
    """EIP-3860's charge per word of initcode."""
    return INITCODE_WORD_GAS * ((len(initcode) + 31) // 32)


def floor_gas(data: bytes) -> int:
    """EIP-7623's least gas a transaction pays for its calldata, however little it executes."""
    zeros = data.count(0)
    tokens = zeros + (len(data) - zeros) * NONZERO_BYTE_TOKENS
    return TX_BASE_GAS + FLOOR_GAS_PER_TOKEN * tokens


@lru_cache(maxsize=4096)
def _canonical(address: str) -> bytes:
    return bytes(to_canonical_address(address))


@lru_cache(maxsize=4096)
def _checksum(address: bytes) -> str:
    return str(to_checksum_address(address))


class EmbeddedChain(LogReader):
    """An in-process development chain."""

    backend = "embedded"

    def __init__(self, chain_id: int = EMBEDDED_CHAIN_ID) -> None:
        self.chain_id = chain_id
        self._env = boa.Env()
        self._env.evm.patch.chain_id = chain_id
        self._time_offset = 0
        self._block = 0
        self._timestamp = int(time.time())
        self._logs: list[Log] = []
        self._funded: set[str] = set()
        self._unapplied_nonces: dict[bytes, int] = {}
        self._block_hashes: dict[int, bytes] = {}
        self._prev_hashes: list[bytes] = []
        self._prev_hashes_block = -1  # the block ``_prev_hashes`` was built for
        self._estimating = False
        self._sync_block_context()

    # accounts -------------------------------------------------------------------------
    def dev_accounts(self, count: int) -> list[LocalAccount]:
        accounts = dev_accounts(count)
        for account in accounts:
            if account.address not in self._funded:
                self.set_balance(account.address, DEV_BALANCE_WEI)
                self._funded.add(account.address)
        return accounts

    def balance(self, address: str) -> int:
        return int(self._env.get_balance(address))

    def set_balance(self, address: str, wei: int) -> None:
        self._env.set_balance(address, wei)

    # transactions -----------------------------------------------------------------------
    def deploy(self, sender: LocalAccount, initcode: bytes, value: int = 0) -> Receipt:
        self._check_funds(sender.address, value)
        self._begin_tx(sender.address, None)
        self._apply_nonce(sender.address)  # the new contract's address derives from it
        address, computation = self._env.deploy(
            sender=sender.address, bytecode=initcode, value=value, gas=BLOCK_GAS_LIMIT
        )
        self._raise_on_error(computation, "deploy", in_tx=True)
        return self._mine(computation, initcode, create=True, contract=str(address))

    def send(self, tx: TxRequest) -> Receipt:
        if tx.to is None:
            return self.deploy(tx.sender, tx.data, tx.value)
        gas = BLOCK_GAS_LIMIT
        if tx.gas is not None:  # as on a node, execution gets what intrinsic gas leaves
            upfront = max(intrinsic_gas(tx.data, create=False), floor_gas(tx.data))
            if tx.gas < upfront:
                raise ChainError(f"gas limit {tx.gas} is below the {upfront} this tx needs")
            gas = tx.gas - intrinsic_gas(tx.data, create=False)
        self._check_funds(tx.sender.address, tx.value)
        self._begin_tx(tx.sender.address, tx.to)
        computation = self._env.execute_code(
            to_address=tx.to,
            sender=tx.sender.address,
            gas=gas,
            value=tx.value,
            data=tx.data,
        )
        self._raise_on_error(computation, "transaction", in_tx=True)
        # writing the account's nonce costs more than a small transaction: count it here and
        # write it before the next deployment by this sender, the only thing that reads it
        sender = _canonical(tx.sender.address)
        self._unapplied_nonces[sender] = self._unapplied_nonces.get(sender, 0) + 1
        return self._mine(computation, tx.data, create=False, contract=None)

    def send_many(self, txs: Sequence[TxRequest]) -> list[Receipt]:
        return [self.send(tx) for tx in txs]

    def call(self, to: str, data: bytes, sender: str | None = None, value: int = 0) -> bytes:
        caller = sender or self._env.eoa
        self._check_funds(str(caller), value)
        # like eth_call: any function may run, writes included, and every change is undone
        computation = self._env.execute_code(
            to_address=to,
            sender=caller,
            gas=BLOCK_GAS_LIMIT,
            value=value,
            data=data,
            simulate=True,
        )
        self._raise_on_error(computation, "call")
        return bytes(computation.output)

    def estimate_gas(self, tx: TxRequest) -> int:
        # close the previous transaction before the snapshot: doing it inside would make
        # the journal forget the snapshot (see _begin_tx)
        self._end_previous_tx()
        self._estimating = True
        nonces = dict(self._unapplied_nonces)
        try:
            with self._env.anchor():
                receipt = self.send(tx)
        finally:
            self._estimating = False
            self._unapplied_nonces = nonces
        self._block -= 1  # the anchor rolled the state back; forget the block too
        del self._logs[len(self._logs) - len(receipt.logs) :]
        self._sync_block_context()
        return receipt.gas_used

    # reading ----------------------------------------------------------------------------
    def select_logs(self, where: LogFilter) -> list[Log]:
        last = self._block if where.to_block is None else where.to_block
        wanted = where.address.lower() if where.address else None
        return [
            log
            for log in self._logs
            if where.from_block <= log.block_number <= last
            and (wanted is None or log.address.lower() == wanted)
            and _topics_match(log.topics, where.topics)
        ]

    def block_number(self) -> int:
        return self._block

    def timestamp(self) -> int:
        return self._timestamp

    def time_travel(self, seconds: int) -> None:
        if seconds < 0:
            raise ChainError("time travel goes forward only")
        self._time_offset += seconds
        self._timestamp += seconds
        self._sync_block_context()

    def close(self) -> None:
        self._logs.clear()

    # internals --------------------------------------------------------------------------
    def _begin_tx(self, sender: str, to: str | None) -> None:
        """Start a new block and reset warm/cold access tracking as a new transaction does."""
        self._timestamp = max(self._timestamp, int(time.time()) + self._time_offset)
        self._block += 1
        self._sync_block_context()
        if not self._estimating:
            self._end_previous_tx()
        state = self._env.evm.vm.state
        state.mark_address_warm(_canonical(sender))
        if to is not None:
            state.mark_address_warm(_canonical(to))

    def _apply_nonce(self, address: str) -> None:
        canonical = _canonical(address)
        pending = self._unapplied_nonces.pop(canonical, 0)
        if pending:
            state = self._env.evm.vm.state
            state.set_nonce(canonical, state.get_nonce(canonical) + pending)

    def _check_funds(self, sender: str, value: int) -> None:
        """Refuse, as a node does, to send more than the sender holds (py-evm would raise)."""
        if value and self.balance(sender) < value:
            raise ChainError(
                f"insufficient funds: {sender} holds {format_ether(self.balance(sender))}, "
                f"and {format_ether(value)} were to be sent"
            )

    def _end_previous_tx(self) -> None:
        """Commit the last transaction as a node does between transactions.

        Without this, py-evm would price every SSTORE against the storage of the chain's
        start (EIP-2200 "original" values: 100 gas instead of 2,900 for a rewrite) and keep
        transient storage and warm addresses from one transaction to the next.
        """
        state = self._env.evm.vm.state
        state.lock_changes()
        state.clear_transient_storage()
        self._env.reset_gas_used()

    def _sync_block_context(self) -> None:
        patch = self._env.evm.patch
        patch.block_number = self._block
        patch.timestamp = self._timestamp
        # BLOCKHASH sees the last 256 blocks, newest first; PREVRANDAO a value of this block's
        if self._prev_hashes_block == self._block - 1 and self._block > 0:
            self._prev_hashes.insert(0, self.block_hash(self._block - 1))
            del self._prev_hashes[BLOCKHASH_WINDOW:]
        elif self._prev_hashes_block != self._block:
            first = max(self._block - BLOCKHASH_WINDOW, 0)
            self._prev_hashes = [self.block_hash(n) for n in range(self._block - 1, first - 1, -1)]
        self._prev_hashes_block = self._block
        patch.prev_hashes = self._prev_hashes
        patch.prevrandao = hashlib.sha256(b"prevrandao" + self.block_hash(self._block)).digest()

    def block_hash(self, number: int) -> bytes:
        """A random hash per block, drawn when the block is first seen, as unknowable ahead
        as a node's (py-evm itself keeps none: BLOCKHASH would read zero)."""
        if number < 0 or number > self._block:
            return bytes(32)
        if number not in self._block_hashes:
            self._block_hashes[number] = os.urandom(32)
        return self._block_hashes[number]

    def _raise_on_error(self, computation: Any, what: str, in_tx: bool = False) -> None:
        if not computation.is_error:
            return
        if in_tx:  # a reverted transaction is not mined here: undo the block it opened
            self._block -= 1
            self._sync_block_context()
        output = bytes(computation.output or b"")
        if output or "Revert" in type(computation.error).__name__:
            raise ContractRevert(decode_revert(output), function=what)
        raise ChainError(f"{what} failed in the EVM: {computation.error!r}")

    def _mine(
        self, computation: Any, data: bytes, *, create: bool, contract: str | None
    ) -> Receipt:
        used = intrinsic_gas(data, create) + computation.get_gas_used()
        if create:  # py-evm charged EIP-3860's initcode words inside the computation already
            used -= initcode_gas(data)
        used -= min(computation.get_gas_refund(), used // MAX_REFUND_QUOTIENT)
        used = max(used, floor_gas(data))
        # a synthetic, unique id (no signed transaction exists to hash)
        tx_hash = "0x" + hashlib.sha256(self._block.to_bytes(8, "big") + data).hexdigest()
        logs = tuple(
            Log(
                address=_checksum(address),
                topics=tuple(topic.to_bytes(32, "big") for topic in topics),
                data=bytes(log_data),
                block_number=self._block,
                tx_hash=tx_hash,
                log_index=index,
            )
            for index, (address, topics, log_data) in enumerate(computation.get_log_entries())
        )
        self._logs.extend(logs)
        return Receipt(
            tx_hash=tx_hash,
            block_number=self._block,
            gas_used=used,
            logs=logs,
            contract_address=contract and to_checksum_address(contract),
        )


def _topics_match(have: Sequence[bytes], wanted: Sequence[bytes | None]) -> bool:
    """Whether a log's topics satisfy a filter, as ``eth_getLogs`` reads one."""
    if any(w is not None for w in wanted[len(have) :]):
        return False
    return all(w is None or w == h for w, h in zip(wanted, have, strict=False))
