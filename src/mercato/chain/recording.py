"""A chain wrapper that records the gas of every transaction, for reports and benchmarks."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from mercato.chain.base import Chain, Receipt, TxRequest


@dataclass(frozen=True)
class GasRecord:
    """One mined transaction: who sent it, to which contract, which function, what gas."""

    sender: str
    to: str | None
    selector: bytes
    gas_used: int


class RecordingChain:
    """Delegates to ``inner`` and remembers every transaction's gas in ``records``."""

    def __init__(self, inner: Chain) -> None:
        self.inner = inner
        self.records: list[GasRecord] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    @property
    def backend(self) -> str:
        return self.inner.backend

    @property
    def chain_id(self) -> int:
        return self.inner.chain_id

    def deploy(self, sender: Any, initcode: bytes, value: int = 0) -> Receipt:
        receipt = self.inner.deploy(sender, initcode, value)
        self.records.append(GasRecord(sender.address, None, b"", receipt.gas_used))
        return receipt

    def send(self, tx: TxRequest) -> Receipt:
        receipt = self.inner.send(tx)
        self._record(tx, receipt)
        return receipt

    def send_many(self, txs: Sequence[TxRequest]) -> list[Receipt]:
        receipts = self.inner.send_many(txs)
        for tx, receipt in zip(txs, receipts, strict=True):
            self._record(tx, receipt)
        return receipts

    def _record(self, tx: TxRequest, receipt: Receipt) -> None:
        self.records.append(GasRecord(tx.sender.address, tx.to, tx.data[:4], receipt.gas_used))
