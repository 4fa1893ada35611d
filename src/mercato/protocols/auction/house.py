"""Typed wrapper of the AuctionHouse contract (P1, SAIaaS procurement auction).

Storage layout, for auditors: one header word per auction
(``client | deadline << 160 | min_refs << 224 | status << 232 | paid_mask << 240``), one
word holding the three maximum prices (85 bits each), one word per category holding the best
bid (``bidder | amount << 160``), plus the requirements hash, the arbiter and, after delivery,
the model and report hashes. Bid history lives in ``BidPlaced`` events only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from mercato.chain.contract import TxResult
from mercato.hashes import Hash
from mercato.ontology.category import Category

# The limits and the views are defined beside the rules that use them, and read from here too.
from mercato.protocols.auction.rules import MAX_DURATION as MAX_DURATION
from mercato.protocols.auction.rules import MAX_PRICE as MAX_PRICE
from mercato.protocols.auction.rules import MAX_REFERENCES as MAX_REFERENCES
from mercato.protocols.auction.views import Auction as Auction
from mercato.protocols.auction.views import Status as Status
from mercato.protocols.wrapper import ContractWrapper

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"


class AuctionHouse(ContractWrapper):
    """Calls and transactions of the auction house, in Mercato's types."""

    CONTRACT = "AuctionHouse"
    ITEM = "auction"

    # transactions -----------------------------------------------------------------------
    def create(
        self,
        client: LocalAccount,
        *,
        requirements_hash: bytes,
        max_prices: Sequence[int],
        duration: int,
        min_refs: int,
        arbiter: str,
    ) -> tuple[int, TxResult]:
        """Open an auction, locking the reserve; returns (auction id, result).

        ``requirements_hash`` is the document's blob hash: nothing says where it is stored.
        """
        result = self.contract.transact(
            "create_auction",
            requirements_hash,
            list(max_prices),
            duration,
            min_refs,
            arbiter,
            sender=client,
            value=sum(max_prices),
        )
        return int(result.event("AuctionCreated")["auction_id"]), result

    def bid(
        self,
        bidder: LocalAccount,
        auction_id: int,
        category: Category,
        amount: int,
        references: Sequence[int] = (),
    ) -> TxResult:
        return self.contract.transact(
            "bid", auction_id, int(category), amount, sorted(references), sender=bidder
        )

    def adjudicate(self, caller: LocalAccount, auction_id: int) -> TxResult:
        return self.contract.transact("adjudicate", auction_id, sender=caller)

    def hand_over(
        self,
        provider: LocalAccount,
        auction_id: int,
        category: Category,
        asset_hash: bytes,
        sealed_hash: bytes,
    ) -> TxResult:
        return self.contract.transact(
            "hand_over", auction_id, int(category), asset_hash, sealed_hash, sender=provider
        )

    def deliver(
        self,
        executor: LocalAccount,
        auction_id: int,
        model_hash: bytes,
        report_hash: bytes,
        sealed_hash: bytes,
    ) -> TxResult:
        """Record the delivery: the model's hash, the report's and the sealed model's blob hash."""
        return self.contract.transact(
            "deliver", auction_id, model_hash, report_hash, sealed_hash, sender=executor
        )

    def confirm(self, client: LocalAccount, auction_id: int) -> TxResult:
        return self.contract.transact("confirm", auction_id, sender=client)

    def reject(self, client: LocalAccount, auction_id: int, reason_hash: bytes) -> TxResult:
        return self.contract.transact("reject", auction_id, reason_hash, sender=client)

    def arbitrate(self, arbiter: LocalAccount, auction_id: int, paid_mask: int) -> TxResult:
        return self.contract.transact("arbitrate", auction_id, paid_mask, sender=arbiter)

    def claim(self, caller: LocalAccount, auction_id: int) -> TxResult:
        return self.contract.transact("claim", auction_id, sender=caller)

    # reading ----------------------------------------------------------------------------
    def auction(self, auction_id: int) -> Auction:
        return self.read(
            Auction,
            "auction",
            auction_id,
            status=Status,
            requirements_hash=Hash,
            max_prices=tuple,
            bidders=_bidders,
            bids=tuple,
            model_hash=Hash,
            report_hash=Hash,
        )

    def auction_count(self) -> int:
        return int(self.contract.call("next_auction_id")) - 1

    def count(self) -> int:
        return self.auction_count()

    def state(self, item_id: int) -> str:
        return self.auction(item_id).status.label

    def parties(self, item_id: int) -> list[str]:
        auction = self.auction(item_id)
        return list(dict.fromkeys([auction.client, *(b for b in auction.bidders if b)]))


def _bidders(addresses: Sequence[str]) -> tuple[str | None, ...]:
    """The bidder in each category, None where nobody bid."""
    return tuple(None if address == ZERO_ADDRESS else address for address in addresses)
