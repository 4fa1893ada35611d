"""The auction house's escrow invariant under random sequences of operations (hypothesis).

Invariant, checked after every step: the contract's balance equals what it owes to the
known accounts plus what its auctions still lock (OPEN: the reserve; ADJUDICATED, DELIVERED,
DISPUTED: the winning bids; a final status: nothing). Also: no ether appears or vanishes, and
an auction's status only moves forward and never leaves a final status.

Operations are drawn at random (creates with random prices, bids by random providers,
adjudicate, deliver, confirm, reject, arbitrate, time travel, claim, withdraw); invalid ones
revert and change nothing, which is fine. At the end of every run, a stranger ends every
auction with deadlines alone (``adjudicate``, then ``claim``), everyone withdraws, and the
house holds nothing: no money is ever stuck. Runs on the embedded chain only, which it builds
itself (one for all examples, with a fresh auction house per example): it is fast and
gas-free, so ether is conserved exactly. The rpc tier is exercised by the example tests.
"""

from __future__ import annotations

from dataclasses import replace
from functools import cache

from eth_account.signers.local import LocalAccount
from hypothesis import strategies as st
from hypothesis.stateful import (
    initialize,
    invariant,
    precondition,
    rule,
)

from mercato.chain.contract import Contract, TxResult
from mercato.chain.embedded import EmbeddedChain
from mercato.errors import ContractRevert
from mercato.protocols.roles import Role

from ..world import ACCOUNT_COUNT, DAY, HOUR, RIGHT, ProtocolMachine, actors, picks, register
from .world import (
    CATEGORIES,
    MODEL_HASH,
    PERIODS,
    REASON_HASH,
    REPORT_HASH,
    SEALED_HASH,
    AuctionState,
    Status,
    World,
    deploy_world,
    locked,
)

FINAL = {Status.CONFIRMED, Status.ARBITRATED, Status.CLAIMED, Status.REFUNDED}
LONGEST_WAIT = DAY + max(PERIODS.delivery, PERIODS.review, PERIODS.arbitration) + 1
"""Past any deadline of this machine's auctions: bidding (an hour or a day) and each period."""
MAX_AUCTIONS = 4
"""Keeps each step's invariant check (one read per auction) cheap."""

prices = st.integers(min_value=1, max_value=10**6)


@cache
def shared_market() -> World:
    """One embedded chain and registry with the cast registered, shared by every example.

    Each example deploys its own auction house against this registry, which no step
    changes; the stranger is registered as a second client, so refunds go to two addresses.
    """
    chain = EmbeddedChain()
    market = deploy_world(chain, chain.dev_accounts(ACCOUNT_COUNT))
    register(market.registry, market.stranger, Role.CLIENT)
    return market


class EscrowMachine(ProtocolMachine):
    """Random operations on one fresh marketplace; the escrow must always balance."""

    def __init__(self) -> None:
        shared = shared_market()
        super().__init__(shared)
        house, _ = Contract.deploy(
            self.chain,
            "AuctionHouse",
            shared.registry.address,
            PERIODS.delivery,
            PERIODS.review,
            PERIODS.arbitration,
            sender=shared.deployer,
        )
        self.market = replace(shared, house=house)
        self.house = house
        self.auction_count = 0
        self.states: dict[int, AuctionState] = {}
        """Every auction as read at the last invariant check, which follows every step."""
        self.ether = self._ether()
        self.checked_block = -1
        self.owed: dict[str, int] = {}
        """What the house owes every account, as read at the last check."""
        self.owed_block = -1
        """The block of the last check of what the house owes."""

    # helpers --------------------------------------------------------------------------------
    def _ether(self) -> int:
        accounts = sum(self.chain.balance(a.address) for a in self.accounts)
        return accounts + self.market.balance()

    def _auction(self, pick: int) -> int:
        """An existing auction id, or (one pick in eight) one that does not exist."""
        return self._pick(self.auction_count, pick)

    def _state(self, auction_id: int) -> AuctionState | None:
        return self.states.get(auction_id)

    def _try(self, fn: str, *args: object, sender: LocalAccount) -> TxResult | None:
        return self._send(self.house, fn, *args, sender=sender)

    # rules ------------------------------------------------------------------------------------
    @initialize(first=st.tuples(prices, prices, prices), second=st.tuples(prices, prices, prices))
    def open_two_auctions(self, first: tuple[int, int, int], second: tuple[int, int, int]) -> None:
        """Every run starts with one auction per client."""
        self.create(first, HOUR, 0, 0, second_client=False)
        self.create(second, DAY, 0, 0, second_client=True)

    @precondition(lambda self: self.auction_count < MAX_AUCTIONS)
    @rule(
        max_prices=st.tuples(prices, prices, prices),
        duration=st.sampled_from([HOUR, DAY]),
        min_refs=st.sampled_from([0, 0, 1]),
        value_error=st.sampled_from([0, 0, 0, 1, -1]),
        second_client=st.booleans(),
    )
    def create(
        self,
        max_prices: tuple[int, int, int],
        duration: int,
        min_refs: int,
        value_error: int,
        second_client: bool,
    ) -> None:
        client = self.market.stranger if second_client else self.market.client
        try:
            result = self.market.create(
                max_prices,
                duration=duration,
                min_refs=min_refs,
                sender=client,
                value=sum(max_prices) + value_error,
            )
        except ContractRevert:
            return
        self.auction_count = result.event("AuctionCreated")["auction_id"]

    @rule(
        pick=picks,
        category=st.sampled_from([*CATEGORIES, 3]),
        second=st.booleans(),
        actor=actors,
        percent=st.integers(min_value=0, max_value=110),
        reference=st.one_of(st.none(), st.integers(min_value=0, max_value=6)),
    )
    def bid(
        self,
        pick: int,
        category: int,
        second: bool,
        actor: int,
        percent: int,
        reference: int | None,
    ) -> None:
        auction_id = self._auction(pick)
        state = self._state(auction_id)
        base = 10**6
        if state is not None and category < len(CATEGORIES):
            base = state.bids[category] or state.max_prices[category]
        if actor == RIGHT and category < len(CATEGORIES):
            bidder = self.market.provider(category, int(second))
        else:
            bidder = self.accounts[max(actor, 0)]
        references = [] if reference is None else [reference]
        self._try("bid", auction_id, category, base * percent // 100, references, sender=bidder)

    @rule(
        fn=st.sampled_from(["adjudicate", "deliver", "confirm", "reject", "arbitrate", "claim"]),
        pick=picks,
        actor=actors,
        paid_mask=st.integers(min_value=0, max_value=8),
    )
    def step(self, fn: str, pick: int, actor: int, paid_mask: int) -> None:
        """Any other step of an auction, by the caller it expects or by anyone."""
        auction_id = self._auction(pick)
        state = self._state(auction_id)
        expected = None
        if state is not None:
            expected = {"deliver": state.bidders[2], "arbitrate": state.arbiter}.get(
                fn, state.client
            )
        args = {
            "deliver": (MODEL_HASH, REPORT_HASH, SEALED_HASH),
            "reject": (REASON_HASH,),
            "arbitrate": (paid_mask,),
        }.get(fn, ())
        self._try(fn, auction_id, *args, sender=self._account(actor, expected))

    @rule(actor=st.integers(min_value=0, max_value=ACCOUNT_COUNT - 1))
    def withdraw(self, actor: int) -> None:
        self._try("withdraw", sender=self.accounts[actor])

    @rule(seconds=st.sampled_from([60, HOUR, DAY, 3 * DAY]))
    def time_travel(self, seconds: int) -> None:
        self.chain.time_travel(seconds)

    @precondition(lambda self: self.auction_count > 0)
    @rule(
        pick=picks,
        decisions=st.lists(st.integers(min_value=0, max_value=15), min_size=2, max_size=8),
    )
    def progress(self, pick: int, decisions: list[int]) -> None:
        """Take the next honest steps of one auction, so that runs reach the later states."""
        auction_id = 1 + pick % self.auction_count
        for decision in decisions:
            self._honest_step(auction_id, decision)
            self.escrow_balances()

    def _honest_step(self, auction_id: int, decision: int) -> None:
        """The next step an honest party would take, or a deadline let pass (decision)."""
        state = self.states[auction_id]
        client = self._account(RIGHT, state.client)
        if state.status == Status.OPEN:
            empty = [c for c in CATEGORIES if state.bids[c] == 0]
            if not empty:
                self._try("adjudicate", auction_id, sender=client)
                return
            category = empty[0]
            bidder = self.market.provider(category, decision % 2)
            references = self._references(bidder.address, category)[: max(state.min_refs, 1)]
            amount = state.max_prices[category] - decision % 2
            self._try("bid", auction_id, category, amount, references, sender=bidder)
        elif state.status in (Status.ADJUDICATED, Status.DELIVERED, Status.DISPUTED) and (
            decision % 4 == 3
        ):
            self.market.pass_deadline(auction_id)  # the expected party stays silent
            self._try("claim", auction_id, sender=self.accounts[decision % ACCOUNT_COUNT])
        elif state.status == Status.ADJUDICATED:
            executor = self._account(RIGHT, state.bidders[2])
            self._try("deliver", auction_id, MODEL_HASH, REPORT_HASH, SEALED_HASH, sender=executor)
        elif state.status == Status.DELIVERED:
            if decision % 2:
                self._try("confirm", auction_id, sender=client)
            else:
                self._try("reject", auction_id, REASON_HASH, sender=client)
        elif state.status == Status.DISPUTED:
            arbiter = self._account(RIGHT, state.arbiter)
            self._try("arbitrate", auction_id, decision % 8, sender=arbiter)

    def _references(self, bidder: str, category: int) -> list[int]:
        """Confirmed auctions in which ``bidder`` was paid for ``category``."""
        return [
            auction_id
            for auction_id, state in sorted(self.states.items())
            if state.status in (Status.CONFIRMED, Status.ARBITRATED)
            and state.paid_mask & (1 << category)
            and state.bidders[category] == bidder
        ]

    # invariants -------------------------------------------------------------------------------
    @invariant()
    def escrow_balances(self) -> None:
        # A reverted step or time travel mines no block and changes no state, so the
        # invariant (a function of state alone) holds as it did at the last check.
        if self.chain.block_number() == self.checked_block:
            return
        self.checked_block = self.chain.block_number()
        self._check(reread_final=False)

    def teardown(self) -> None:
        """Deadlines alone end every auction (``adjudicate`` then ``claim``, by a stranger);
        then everyone withdraws and the house holds nothing."""
        self._check(reread_final=True)
        anyone = self.market.stranger
        for auction_id in range(1, self.auction_count + 1):
            steps = 0
            while (status := self.market.state(auction_id).status) not in FINAL:
                steps += 1
                assert steps <= 3, f"auction {auction_id} does not end: {Status(status).name}"
                self.chain.time_travel(LONGEST_WAIT)
                fn = "adjudicate" if status == Status.OPEN else "claim"
                assert self._try(fn, auction_id, sender=anyone) is not None, (fn, status)
                self._check(reread_final=False)
        self._check(reread_final=True)
        assert all(locked(state) == 0 for state in self.states.values())
        for account in self.accounts:
            if self.market.owed(account.address):
                assert self._try("withdraw", sender=account) is not None
        assert self.market.balance() == 0
        assert self._ether() == self.ether

    def _owed(self, *, every_account: bool) -> int:
        """What the house owes the cast in all.

        Every account is read at the first check and with ``every_account``; otherwise only
        those that Credited and Withdrawn events named since the last check. Money moved
        without an event would still show: the balance would not add up.
        """
        block = self.chain.block_number()
        cast = {a.address for a in self.accounts}
        if every_account or self.owed_block < 0:
            accounts = cast
        else:
            named = {
                event["account"]
                for event in self.house.events(self.owed_block + 1, block)
                if event.name in ("Credited", "Withdrawn")
            }
            accounts = named & cast
        self.owed.update({a: self.market.owed(a) for a in accounts})
        self.owed_block = block
        return sum(self.owed.values())

    def _check(self, *, reread_final: bool) -> None:
        """Read the state and assert the invariants.

        Auctions in a final status are re-read only at the end of a run (the view is the
        costliest read); a final status that changed anyway fails there.
        """
        states = dict(self.states)
        for auction_id in range(1, self.auction_count + 1):
            cached = self.states.get(auction_id)
            if reread_final or cached is None or cached.status not in FINAL:
                states[auction_id] = self.market.state(auction_id)
        owed = self._owed(every_account=reread_final)
        still_locked = sum(locked(s) for s in states.values())
        assert self.market.balance() == owed + still_locked
        assert self._ether() == self.ether
        for auction_id, state in states.items():
            before = self.states[auction_id].status if auction_id in self.states else Status.OPEN
            assert state.status >= before
            assert before not in FINAL or state.status == before
        self.states = states


TestEscrowInvariant = EscrowMachine.test_case(max_examples=15, steps=15)
