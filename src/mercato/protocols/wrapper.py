"""The part every protocol's contract wrapper shares: address, pull payments and events.

Each protocol's wrapper (``AuctionHouse``, ``TrainingMarket``, ``DataMarket``, ...) subclasses
:class:`ContractWrapper` and adds its own transactions and views; what every Mercato contract
has in common is read and sent here, one way for all:

- ``owed(address)`` and ``withdraw(account)``: payouts are pull-based in every contract;
- ``events(name, from_block=..., **indexed)``: decoded events, filtered by the node on their
  name and indexed arguments (``events("Joined", task_id=3)``), and ``first`` of them;
- ``read(kind, view, item_id)``: one entry's view as its dataclass, whose fields follow the
  view's values in the contract's order;
- the lifecycle of one entry of the market (an auction, a training, a task): how many there
  are (``count``), ``check`` that one exists, its ``state`` (one of its unit's ``states``)
  and the ``parties`` the contract may owe money for it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from mercato.chain.base import Chain
from mercato.chain.contract import Contract, Event, TxResult
from mercato.errors import InputError

if TYPE_CHECKING:
    from _typeshed import DataclassInstance
    from eth_account.signers.local import LocalAccount

Record = TypeVar("Record", bound="DataclassInstance")


class ContractWrapper:
    """Calls and transactions of one deployed Mercato contract, in Mercato's types."""

    CONTRACT: ClassVar[str]
    """The Vyper contract's name (``contracts/<CONTRACT>.vy``)."""
    ITEM: ClassVar[str]
    """What one entry of this market is called in messages (``auction``)."""

    def __init__(self, chain: Chain, address: str) -> None:
        self.chain = chain
        self.contract = Contract.at(chain, self.CONTRACT, address)

    @property
    def address(self) -> str:
        return self.contract.address

    def owed(self, address: str) -> int:
        """Wei this contract holds for ``address`` to withdraw."""
        return int(self.contract.call("owed", address))

    def withdraw(self, account: LocalAccount) -> TxResult:
        """Pull what the contract owes ``account`` (reverts if nothing)."""
        return self.contract.transact("withdraw", sender=account)

    def events(
        self,
        name: str | None = None,
        *,
        from_block: int = 0,
        to_block: int | None = None,
        **indexed: Any,
    ) -> list[Event]:
        """Decoded events in chain order: all of them, or those called ``name`` whose indexed
        arguments equal ``indexed`` (the node filters by topic)."""
        return self.contract.events(from_block, to_block, name, **indexed)

    def first(self, name: str, *, from_block: int = 0, **indexed: Any) -> Event:
        """The first event called ``name`` with these indexed arguments (KeyError if none)."""
        for event in self.events(name, from_block=from_block, **indexed):
            return event
        described = ", ".join(f"{key} {value}" for key, value in indexed.items())
        raise KeyError(f"no {name} event" + (f" with {described}" if described else ""))

    def read(
        self, kind: type[Record], view: str, item_id: int, **convert: Callable[[Any], Any]
    ) -> Record:
        """The contract's ``view(item_id)`` as a ``kind``: a dataclass whose first field is the
        id and whose other fields are the view's values in the contract's order; ``convert``
        turns a field's value into its type first (``status=Status``)."""
        names = [field.name for field in fields(kind)]
        values = (item_id, *self.contract.call(view, item_id))
        record = dict(zip(names, values, strict=True))
        for name, to_type in convert.items():
            record[name] = to_type(record[name])
        return kind(**record)

    # the lifecycle of one entry ---------------------------------------------------------
    def count(self) -> int:
        """How many entries the market holds (numbered 1 to count)."""
        raise NotImplementedError

    def counts(self) -> dict[str, int]:
        """What ``mercato status`` counts of this market (``{"auctions": 3}``)."""
        return {f"{self.ITEM}s": self.count()}

    def check(self, item_id: int) -> None:
        """InputError unless entry ``item_id`` exists."""
        count = self.count()
        if not 0 < item_id <= count:
            raise InputError(f"no {self.ITEM} {item_id} (there are {count})")

    def state(self, item_id: int) -> str:
        """The entry's state (one of its unit's ``states``)."""
        raise NotImplementedError

    def parties(self, item_id: int) -> list[str]:
        """The addresses the contract may owe money for this entry, without repeats."""
        raise NotImplementedError
