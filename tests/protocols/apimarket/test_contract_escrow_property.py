"""The API market's escrow under random sequences of operations (hypothesis).

Invariants, checked after every step: the contract's balance equals what its APIs lock plus
what it owes the cast; an ended or cancelled API locks nothing. At the end of every run,
anyone drives the API to its end with deadlines alone (settling claims, challenges,
disputes and calls, finalizing batches, releasing), everyone withdraws, and the market
holds nothing: no money is ever stuck.

Each run deploys a fresh market on one embedded chain shared by every example, registers
one API (sometimes left to be cancelled at its join deadline) and draws operations: deposits,
calls signed off chain, honest, under-reporting and inventing batches, finalizations, claims
and their answers, challenges and their answers, disputes (true and false outputs, a
component outside the model) with the replicas' votes, base-mode calls and steps,
withdrawals, and time travel. Invalid operations revert and change nothing.
"""

from __future__ import annotations

from dataclasses import replace
from functools import cache

from eth_utils.crypto import keccak
from hypothesis import HealthCheck, settings
from hypothesis import event as statistic
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from mercato.chain.contract import Contract, TxResult
from mercato.chain.embedded import EmbeddedChain
from mercato.errors import ContractRevert

from .world import (
    CANCELLED,
    ENDED,
    Call,
    World,
    deploy_world,
    hash_of,
    output_commitment,
)

WAITS = (60, 600, 1800, 3600)


@cache
def shared_world() -> World:
    return deploy_world(EmbeddedChain())


class EscrowMachine(RuleBasedStateMachine):
    """Random operations on one API of a fresh market; the escrow must always balance."""

    def __init__(self) -> None:
        super().__init__()
        shared = shared_world()
        market, _ = Contract.deploy(
            shared.chain, "ApiMarket", shared.registry.address, sender=shared.deployer
        )
        self.world = replace(shared, market=market)
        self.api = 0
        self.calls: list[Call] = []
        self.committed: dict[int, list[Call]] = {}
        self.claims: list[int] = []
        self.challenges: list[int] = []
        self.disputes: list[tuple[int, bytes]] = []
        self.onchain: list[int] = []
        self.owed: dict[str, int] = {}
        """What the market owes each account of the cast, as read at the last check."""
        self.checked_block = -1

    def _try(self, fn: str, *args: object, sender: object, value: int = 0) -> TxResult | None:
        try:
            result = self.world.market.transact(fn, *args, sender=sender, value=value)  # type: ignore[arg-type]
        except ContractRevert:
            return None
        statistic(fn)
        for event in result.events:
            if event.name in ("DisputeResolved", "CallClosed"):
                statistic(f"{event.name} {event['state']}")
            elif event.name == "Claimed":
                statistic(f"Claimed {event['state']}")
        return result

    def _epoch(self) -> int:
        a = self.world.api(self.api)
        if a.start == 0:
            return 0
        return max(0, int(self.world.chain.timestamp() - a.start) // int(a.epoch_period))

    # setting up ----------------------------------------------------------------------------
    @initialize(abandoned=st.sampled_from([False, False, False, True]))
    def start(self, abandoned: bool) -> None:
        """A live API, or (one run in four) one that never fills up and is cancelled."""
        if not abandoned:
            self.api = self.world.live(deposit=5 * 10**15)
            return
        self.api = self.world.registered()
        self.world.join(self.api, 0)
        self.world.deposit(self.api, self.world.consumers[0], 10**15)

    # consumers ---------------------------------------------------------------------------
    @rule(who=st.integers(0, 2), amount=st.sampled_from([1, 10**15, 3 * 10**15]))
    def deposit(self, who: int, amount: int) -> None:
        if self.api:
            self._try("deposit", self.api, sender=self.world.consumers[who], value=amount)

    @rule(who=st.integers(0, 2), honest_slots=st.booleans(), lie=st.booleans())
    def make_call(self, who: int, honest_slots: bool, lie: bool) -> None:
        if not self.api or self.world.api(self.api).status != 2:
            return
        epoch = self._epoch()
        consumer = self.world.consumers[who]
        seq = 1 + sum(1 for c in self.calls if c.epoch == epoch and c.consumer == consumer)
        slot = 0 if honest_slots else 1
        outputs = (hash_of(f"lie {seq}"), hash_of("final")) if lie else None
        self.calls.append(
            self.world.run_call(self.api, epoch, consumer, seq, slots=(slot, 3), outputs=outputs)
        )

    @rule(who=st.integers(0, 2))
    def request_withdrawal(self, who: int) -> None:
        if self.api:
            self._try("request_withdrawal", self.api, sender=self.world.consumers[who])

    @rule(who=st.integers(0, 2))
    def withdraw_deposit(self, who: int) -> None:
        if self.api:
            self._try("withdraw_deposit", self.api, sender=self.world.consumers[who])

    # orchestrator --------------------------------------------------------------------------
    @rule(kind=st.sampled_from(["honest", "under", "invent"]))
    def commit(self, kind: str) -> None:
        if not self.api or self.world.api(self.api).status != 2:
            return
        epoch = self._epoch() - 1
        if epoch < 0 or epoch in self.committed:
            return
        made = [c for c in self.calls if c.epoch == epoch]
        if kind == "under" and made:
            made = made[:-1]
        if kind == "invent":
            consumer = self.world.consumers[0]
            seq = 1 + sum(1 for c in made if c.consumer == consumer)
            made = [*made, self.world.run_call(self.api, epoch, consumer, seq)]
        try:
            self.world.commit(self.api, epoch, made)
        except ContractRevert:
            return
        statistic(f"commit {kind}")
        self.committed[epoch] = made

    @rule(epoch=st.integers(0, 2))
    def finalize(self, epoch: int) -> None:
        if self.api:
            self._try("finalize_batch", self.api, epoch, sender=self.world.stranger)

    # claims and challenges ------------------------------------------------------------------
    @rule(pick=st.integers(0, 1000), step=st.integers(0, 1))
    def claim(self, pick: int, step: int) -> None:
        if not self.calls:
            return
        try:
            result = self.world.claim(self.calls[pick % len(self.calls)], step)
        except ContractRevert:
            return
        statistic(f"claim {result.event('Claimed')['state']}")
        self.claims.append(result.event("Claimed")["claim_id"])

    @rule(pick=st.integers(0, 1000))
    def answer_claim(self, pick: int) -> None:
        if not self.claims:
            return
        claim_id = self.claims[pick % len(self.claims)]
        c = self.world.read("claim_of", claim_id)
        made = self.committed.get(c.epoch)
        if not made:
            return
        batch = self.world.batch_of(self.api, made)
        try:
            index = batch.index_of(c.consumer, c.seq, c.component)
        except Exception:
            return
        record = batch.records[index]
        self._try(
            "answer_claim",
            claim_id,
            index,
            record.hash_out,
            batch.proof(index),
            sender=self.world.orchestrator,
        )

    @rule(pick=st.integers(0, 1000))
    def settle_claim(self, pick: int) -> None:
        if self.claims:
            claim_id = self.claims[pick % len(self.claims)]
            self._try("settle_claim", claim_id, sender=self.world.stranger)

    @rule(epoch=st.integers(0, 1), who=st.integers(0, 2), seq=st.integers(1, 3))
    def challenge(self, epoch: int, who: int, seq: int) -> None:
        if epoch not in self.committed:
            return
        consumers, calls, steps = self.world.counts(self.api, epoch)
        result = self._try(
            "challenge",
            self.api,
            epoch,
            seq,
            consumers,
            calls,
            steps,
            sender=self.world.consumers[who],
            value=self.world.api(self.api).challenge_bond,
        )
        if result:
            self.challenges.append(result.event("Challenged")["challenge_id"])

    @rule(pick=st.integers(0, 1000))
    def answer_challenge(self, pick: int) -> None:
        if not self.challenges:
            return
        challenge_id = self.challenges[pick % len(self.challenges)]
        c = self.world.read("challenge_of", challenge_id)
        for call in self.calls:  # only calls the consumer really made have its signature
            if (call.epoch, call.consumer.address, call.seq) == (c.epoch, c.consumer, c.seq):
                self._try(
                    "answer_challenge",
                    challenge_id,
                    call.input_hash,
                    call.request_sig,
                    sender=self.world.orchestrator,
                )

    @rule(pick=st.integers(0, 1000))
    def settle_challenge(self, pick: int) -> None:
        if self.challenges:
            challenge_id = self.challenges[pick % len(self.challenges)]
            self._try("settle_challenge", challenge_id, sender=self.world.stranger)

    # disputes ------------------------------------------------------------------------------
    @rule(pick=st.integers(0, 1000), fake=st.booleans())
    def dispute(self, pick: int, fake: bool) -> None:
        if not self.calls:
            return
        call = self.calls[pick % len(self.calls)]
        options = {"component_hash": keccak(b"not in the model")} if fake else {}
        try:
            result = self.world.dispute(call, 0, **options)
        except ContractRevert:
            return
        statistic("dispute" + (" of a fake component" if fake else ""))
        truth = hash_of(f"out 0 of {call.input_hash.hex()}")
        self.disputes.append((result.event("Disputed")["dispute_id"], truth))

    @rule(pick=st.integers(0, 1000), replica=st.integers(0, 2), honest=st.booleans())
    def vote(self, pick: int, replica: int, honest: bool) -> None:
        if not self.disputes:
            return
        dispute_id, truth = self.disputes[pick % len(self.disputes)]
        vendor = self.world.vendors[replica]
        output = truth if honest else hash_of("dissent")
        salt = keccak(vendor.address.encode() + dispute_id.to_bytes(32, "big"))
        commitment = output_commitment(dispute_id, vendor.address, output, salt)
        if self._try("commit_output", dispute_id, commitment, sender=vendor) is None:
            for out in (truth, hash_of("dissent")):
                self._try("reveal_output", dispute_id, out, salt, sender=vendor)

    @rule(pick=st.integers(0, 1000))
    def resolve(self, pick: int) -> None:
        if self.disputes:
            dispute_id, _ = self.disputes[pick % len(self.disputes)]
            self._try("resolve", dispute_id, sender=self.world.stranger)

    # base mode -----------------------------------------------------------------------------
    @rule(who=st.integers(0, 2))
    def call_onchain(self, who: int) -> None:
        if not self.api:
            return
        result = self._try(
            "call_onchain", self.api, hash_of("in"), sender=self.world.consumers[who]
        )
        if result:
            self.onchain.append(result.event("CallOpened")["call_id"])

    @rule(pick=st.integers(0, 1000), vendor=st.sampled_from([0, 1, 3]))
    def record_step(self, pick: int, vendor: int) -> None:
        if not self.onchain:
            return
        call_id = self.onchain[pick % len(self.onchain)]
        c = self.world.read("call", call_id)
        out = hash_of(f"step {c.next_component}")
        self._try(
            "record_step",
            call_id,
            c.next_component,
            c.last_hash,
            out,
            sender=self.world.vendors[vendor],
        )

    @rule(pick=st.integers(0, 1000))
    def finish_call(self, pick: int) -> None:
        if not self.onchain:
            return
        call_id = self.onchain[pick % len(self.onchain)]
        c = self.world.read("call", call_id)
        consumer = next(a for a in self.world.consumers if a.address == c.consumer)
        if self._try("acknowledge", call_id, c.last_hash, sender=consumer) is None:
            self._try("cancel_call", call_id, sender=self.world.stranger)

    # anyone ----------------------------------------------------------------------------------
    @rule(seconds=st.sampled_from(WAITS))
    def wait(self, seconds: int) -> None:
        self.world.chain.time_travel(seconds)

    @rule(calls=st.integers(0, 3), kind=st.sampled_from(["honest", "under", "invent"]))
    def next_epoch(self, calls: int, kind: str) -> None:
        """Some calls, then the next epoch: its batch is committed (honestly or not)."""
        for who in range(calls):
            self.make_call(who % 3, honest_slots=who != 1, lie=who == 2)
        a = self.world.api(self.api)
        if a.start:
            self.world.travel_to(a.start + (self._epoch() + 1) * a.epoch_period)
            self.commit(kind)

    @rule(who=st.integers(0, 12))  # the cast: 13 accounts
    def withdraw(self, who: int) -> None:
        self._try("withdraw", sender=self.world.cast[who])

    @rule()
    def end(self) -> None:
        if self.api:
            self._try("advance", self.api, sender=self.world.stranger)
            self._try("release", self.api, sender=self.world.stranger)

    # invariants ----------------------------------------------------------------------------
    @invariant()
    def escrow_balances(self) -> None:
        if not self.api:
            return
        # A reverted step or time travel mines no block and changes no state, so the
        # invariants (functions of state alone) hold as they did at the last check.
        block = self.world.chain.block_number()
        if block == self.checked_block:
            return
        a = self.world.api(self.api)
        assert self.world.chain.balance(self.world.market.address) == a.locked + self._owed(block)
        if a.status in (CANCELLED, ENDED):
            assert a.locked == 0

    def _owed(self, block: int) -> int:
        """What the market owes the cast in all, as of ``block``.

        Every account is read at the first check; after it, only those that Credited and
        Withdrawn events named since the last check. Money moved without an event would
        still show: the balance would not add up.
        """
        cast = {account.address for account in self.world.cast}
        if self.checked_block < 0:
            accounts = cast
        else:
            named = {
                event["account"]
                for event in self.world.market.events(self.checked_block + 1, block)
                if event.name in ("Credited", "Withdrawn")
            }
            accounts = named & cast
        self.owed.update({account: self.world.owed(account) for account in accounts})
        self.checked_block = block
        return sum(self.owed.values())

    def teardown(self) -> None:
        """Deadlines alone end the API; then everyone withdraws and nothing is left."""
        if not self.api:
            return
        world = self.world
        a = world.api(self.api)
        last = max(0, (a.term - 1) // a.epoch_period)
        world.travel_to(a.join_deadline + 1)
        world.travel_to(a.start + (last + 2) * a.epoch_period + a.window_period + 1)
        world.chain.time_travel(3 * a.response_period + 1)
        for claim_id in self.claims:
            self._try("settle_claim", claim_id, sender=world.stranger)
        for challenge_id in self.challenges:
            self._try("settle_challenge", challenge_id, sender=world.stranger)
        for dispute_id, _ in self.disputes:
            self._try("resolve", dispute_id, sender=world.stranger)
        for call_id in self.onchain:
            self._try("cancel_call", call_id, sender=world.stranger)
        for epoch in range(last + 1):
            self._try("finalize_batch", self.api, epoch, sender=world.stranger)
        self._try("advance", self.api, sender=world.stranger)
        self._try("release", self.api, sender=world.stranger)
        a = world.api(self.api)
        assert a.status in (CANCELLED, ENDED) and a.locked == 0 and a.open == 0
        statistic(f"ended {a.status}")
        for account in world.cast:
            self._try("withdraw", sender=account)
        assert world.chain.balance(world.market.address) == 0


EscrowMachine.TestCase.settings = settings(
    max_examples=20,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestEscrowInvariant = EscrowMachine.TestCase
