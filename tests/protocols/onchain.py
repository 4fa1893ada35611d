"""What an outsider sees of a run: every transaction's input and every log, as raw bytes.

Shared by the "nothing private / nothing local on chain" scans of the protocols.
"""

from __future__ import annotations

from eth_account.signers.local import LocalAccount

from mercato.chain.base import Log, Receipt, TxRequest
from mercato.chain.embedded import EmbeddedChain


class TappedChain(EmbeddedChain):
    """The embedded chain, keeping every transaction's input (deployments included)."""

    def __init__(self) -> None:
        super().__init__()
        self.calldata: list[bytes] = []

    def deploy(self, sender: LocalAccount, initcode: bytes, value: int = 0) -> Receipt:
        self.calldata.append(bytes(initcode))
        return super().deploy(sender, initcode, value)

    def send(self, tx: TxRequest) -> Receipt:
        if tx.to is not None:  # a creation goes on to deploy, which keeps it
            self.calldata.append(bytes(tx.data))
        return super().send(tx)

    def logs(self, address: str | None = None) -> list[Log]:
        """Every log of the chain so far (of ``address`` only, if given)."""
        return self.get_logs(0, self.block_number(), address)

    def everything(self, address: str | None = None) -> bytes:
        """Every transaction's input, then every log's topics and data, concatenated.

        Pieces are separated by a zero byte so that no match spans two of them.
        """
        logs = self.logs(address)
        pieces = [
            *self.calldata,
            *(t for log in logs for t in log.topics),
            *(log.data for log in logs),
        ]
        return b"\0".join(pieces)
