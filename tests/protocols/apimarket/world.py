"""A deployed registry and API market on one embedded chain shared by a test session.

Every test registers APIs of its own, so tests never meet: the chain's clock only moves
forward, and every deadline of an API is relative to its own registration and start.

The cast: a provider (model owner), an orchestrator and six vendors (compute providers),
three consumers (clients) and a stranger registered for nothing. The default API splits a
model into two components: component 0 has three replicas (slots 0, 1, 2, vendors 0, 1, 2),
component 1 one slot (slot 3, vendor 3); vendors 4 and 5 are spare compute providers.
Calls are signed with the real messages of mercato.protocols.apimarket.messages and
batches built with mercato.protocols.apimarket.records.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from eth_account.signers.local import LocalAccount
from eth_utils.crypto import keccak

from mercato.chain.base import Chain
from mercato.chain.contract import Contract, TxResult
from mercato.crypto.merkle import MerkleTree
from mercato.ml.splitting.components import component_leaf
from mercato.protocols.apimarket.messages import Assignment, Receipt, Request
from mercato.protocols.apimarket.records import Batch, StepRecord
from mercato.protocols.roles import Role

from ..world import ETHER, HOUR, KEY, ZERO_ADDRESS, deploy_registry, register_cast

COMPONENTS = [b"component zero: the first layers", b"component one: the head"]
COMPONENT_HASHES = [keccak(c) for c in COMPONENTS]
MODEL_TREE = MerkleTree([component_leaf(j, h) for j, h in enumerate(COMPONENT_HASHES)])
MODEL_ROOT = MODEL_TREE.root
DOC_HASH = keccak(b"api document")
ENDPOINT_HASH = keccak(b"sealed endpoint")
RECORDS_HASH = keccak(b"records file")
SLOT_COMPONENTS = [0, 0, 0, 1]
PRICE = 10**15
SHARES = [3 * 10**14, 2 * 10**14]
VENDOR_STAKE = 10**16
ORCHESTRATOR_STAKE = 10**17
CHALLENGE_BOND = 10**15
DISPUTE_BOND = 2 * 10**15
EPOCH = HOUR
WINDOW = HOUR
RESPONSE = 10 * 60
TERM = 2 * HOUR
PERIODS = (HOUR, EPOCH, WINDOW, RESPONSE, TERM)
"""join, epoch, window, response, term."""
NO_PURCHASE = (ZERO_ADDRESS, 0, 0)
MARGIN = 60
"""Seconds kept from a deadline when a test acts just before it (the clock may tick)."""

# status and states (ApiMarket.vy)
JOINING, LIVE, CANCELLED, ENDED = 1, 2, 3, 4
OPEN = 1
PAID_MISSED, PAID_UNREPORTED, ANSWERED, PAID_UNANSWERED = 2, 3, 4, 5
REFUNDED = 3
WRONG_COMPONENT, LIAR, HONEST, NO_MAJORITY = 2, 3, 4, 5
ACKNOWLEDGED, CANCELLED_CALL, UNACKNOWLEDGED = 2, 3, 4


def hash_of(label: str | bytes) -> bytes:
    """A hash standing for an array (input, intermediate row, output)."""
    return keccak(label.encode() if isinstance(label, str) else label)


@dataclass
class Call:
    """A call run off chain: its request and each step's assignment and receipt, signed."""

    api: int
    epoch: int
    consumer: LocalAccount
    seq: int
    input_hash: bytes
    request_sig: bytes
    records: list[StepRecord] = field(default_factory=list)
    assignment_sigs: list[bytes] = field(default_factory=list)
    receipts: list[Receipt] = field(default_factory=list)
    receipt_sigs: list[bytes] = field(default_factory=list)


@dataclass
class World:
    """The chain, the deployed contracts and the cast, with one short-hand per step."""

    chain: Chain
    registry: Contract
    market: Contract
    fake_p4: Contract
    deployer: LocalAccount
    provider: LocalAccount
    orchestrator: LocalAccount
    vendors: list[LocalAccount]
    consumers: list[LocalAccount]
    stranger: LocalAccount

    @property
    def cast(self) -> list[LocalAccount]:
        return [
            self.deployer,
            self.provider,
            self.orchestrator,
            *self.vendors,
            *self.consumers,
            self.stranger,
        ]

    # reading --------------------------------------------------------------------------------
    def read(self, fn: str, *args: Any) -> SimpleNamespace:
        """A struct view's result with its fields by name."""
        (output,) = next(f for f in self.market.abi.raw if f.get("name") == fn)["outputs"]
        names = [c["name"] for c in output["components"]]
        return SimpleNamespace(**dict(zip(names, self.market.call(fn, *args), strict=True)))

    def api(self, api: int) -> SimpleNamespace:
        return self.read("api", api)

    def owed(self, account: LocalAccount | str) -> int:
        address = account if isinstance(account, str) else account.address
        return int(self.market.call("owed", address))

    def deposit_of(self, api: int, consumer: LocalAccount) -> int:
        return int(self.read("deposit_of", api, consumer.address).amount)

    def locked_all(self) -> int:
        return sum(self.api(i).locked for i in range(1, self.market.call("next_api_id")))

    def owed_all(self) -> int:
        return sum(self.owed(a) for a in self.cast)

    def assert_escrow(self) -> None:
        """The market holds exactly what its APIs lock and what it owes."""
        assert self.chain.balance(self.market.address) == self.locked_all() + self.owed_all()

    # the clock ------------------------------------------------------------------------------
    def travel_to(self, timestamp: int) -> None:
        """Move chain time so that the next block is at or past ``timestamp``."""
        remaining = timestamp - self.chain.timestamp()
        if remaining > 0:
            self.chain.time_travel(remaining)

    def epoch_start(self, api: int, epoch: int) -> int:
        a = self.api(api)
        return int(a.start + epoch * a.epoch_period)

    def due(self, api: int, epoch: int) -> int:
        """The end of the time to commit the batch of ``epoch``."""
        return self.epoch_start(api, epoch + 2)

    def close(self, api: int, epoch: int) -> int:
        """The end of the window of ``epoch``."""
        return self.due(api, epoch) + int(self.api(api).window_period)

    # provider, vendors, orchestrator ----------------------------------------------------------
    def register_api(self, **options: Any) -> tuple[int, TxResult]:
        """Register an API with the default terms but ``options``."""
        terms: dict[str, Any] = {
            "model_root": MODEL_ROOT,
            "doc_hash": DOC_HASH,
            "components": len(COMPONENTS),
            "slot_components": SLOT_COMPONENTS,
            "slot_vendors": None,
            "shares": SHARES,
            "price": PRICE,
            "vendor_stake": VENDOR_STAKE,
            "orchestrator": self.orchestrator.address,
            "orchestrator_stake": ORCHESTRATOR_STAKE,
            "challenge_bond": CHALLENGE_BOND,
            "dispute_bond": DISPUTE_BOND,
            "periods": PERIODS,
            "purchase": NO_PURCHASE,
        }
        sender = options.pop("sender", self.provider)
        terms.update(options)
        vendors = terms["slot_vendors"]
        if vendors is None or isinstance(vendors, int):  # the first vendors, one per slot
            count = len(terms["slot_components"]) if vendors is None else vendors
            terms["slot_vendors"] = [v.address for v in self.vendors[:count]]
        api = int(self.market.call("next_api_id"))
        result = self.market.transact("register_api", *terms.values(), sender=sender)
        return api, result

    def registered(self, **options: Any) -> int:
        return self.register_api(**options)[0]

    def vendor_of(self, api: int, slot: int) -> LocalAccount:
        address = self.read("slot", api, slot).vendor
        return next(a for a in self.cast if a.address == address)

    def join(self, api: int, slot: int, **options: Any) -> TxResult:
        sender = options.pop("sender", None) or self.vendor_of(api, slot)
        value = options.pop("value", self.api(api).vendor_stake)
        endpoint = options.pop("endpoint_hash", ENDPOINT_HASH)
        return self.market.transact("join", api, slot, endpoint, sender=sender, value=value)

    def accept(self, api: int, **options: Any) -> TxResult:
        sender = options.pop("sender", self.orchestrator)
        value = options.pop("value", self.api(api).orchestrator_stake)
        return self.market.transact("accept", api, sender=sender, value=value)

    def live(self, deposit: int = 20 * PRICE, **options: Any) -> int:
        """A registered API every slot joined and the orchestrator accepted; each consumer
        deposited ``deposit``."""
        api = self.registered(**options)
        for slot in range(self.api(api).slots):
            self.join(api, slot)
        self.accept(api)
        if deposit:
            for consumer in self.consumers:
                self.deposit(api, consumer, deposit)
        return api

    def deposit(self, api: int, consumer: LocalAccount, amount: int) -> TxResult:
        return self.market.transact("deposit", api, sender=consumer, value=amount)

    # calls off chain ------------------------------------------------------------------------
    def run_call(
        self,
        api: int,
        epoch: int,
        consumer: LocalAccount,
        seq: int,
        slots: tuple[int, ...] = (0, 3),
        outputs: tuple[bytes, ...] | None = None,
        component_hashes: tuple[bytes, ...] | None = None,
    ) -> Call:
        """Sign a call's request, the assignment of each component to ``slots`` (one per
        component, in order) and each vendor's receipt; step j turns the previous hash into
        ``outputs[j]``."""
        market = self.market.address
        input_hash = hash_of(f"input {api} {epoch} {consumer.address} {seq}")
        request = Request(api, epoch, consumer.address, seq, input_hash, PRICE)
        call = Call(api, epoch, consumer, seq, input_hash, request.sign(market, consumer.key))
        hash_in = input_hash
        for component, slot in enumerate(slots):
            hash_out = (
                outputs[component] if outputs else hash_of(f"out {component} of {hash_in.hex()}")
            )
            component_hash = (
                component_hashes[component] if component_hashes else COMPONENT_HASHES[component]
            )
            assignment = Assignment(api, epoch, consumer.address, seq, component, slot, hash_in)
            receipt = Receipt(
                api,
                epoch,
                consumer.address,
                seq,
                component,
                slot,
                component_hash,
                hash_in,
                hash_out,
            )
            vendor = self.vendor_of(api, slot)
            call.records.append(
                StepRecord(api, epoch, consumer.address, seq, component, slot, hash_in, hash_out)
            )
            call.assignment_sigs.append(assignment.sign(market, self.orchestrator.key))
            call.receipts.append(receipt)
            call.receipt_sigs.append(receipt.sign(market, vendor.key))
            hash_in = hash_out
        return call

    def commit(self, api: int, epoch: int, made: list[Call], **options: Any) -> TxResult:
        """Commit the batch of the calls ``made`` (at the start of its commit time unless it
        is on); ``options`` replace the batch's arguments."""
        start = self.epoch_start(api, epoch + 1)
        if self.chain.timestamp() < start:
            self.travel_to(start)
        batch = self.batch_of(api, made) if made else None
        args: dict[str, Any] = {
            "root": batch.root if batch else keccak(b"no step"),
            "records_hash": batch.records_hash if batch else keccak(b"no record"),
            "consumers": batch.consumers if batch else [],
            "calls": batch.calls if batch else [],
            "steps": batch.steps if batch else [0] * self.api(api).slots,
        }
        sender = options.pop("sender", self.orchestrator)
        args.update(options)
        return self.market.transact("commit_batch", api, epoch, *args.values(), sender=sender)

    def batch_of(self, api: int, calls: list[Call]) -> Batch:
        return Batch.build([r for c in calls for r in c.records], self.api(api).slots)

    def counts(self, api: int, epoch: int) -> tuple[list[str], list[int], list[int]]:
        """The counts of a committed batch, as a reader takes them from BatchCommitted."""
        (event,) = self.market.events(name="BatchCommitted", api=api, epoch=epoch)
        return event["consumers"], event["calls"], event["steps"]

    def claim(self, call: Call, step: int, counts: Any = None, **options: Any) -> TxResult:
        """The vendor of ``call``'s step ``step`` (its component) claims it."""
        record = call.records[step]
        if counts is None:
            batch = self.read("batch", call.api, call.epoch)
            counts = self.counts(call.api, call.epoch) if batch.root != bytes(32) else ([], [], [])
        args: dict[str, Any] = {
            "api": call.api,
            "epoch": call.epoch,
            "consumer": call.consumer.address,
            "seq": call.seq,
            "input_hash": call.input_hash,
            "component": step,
            "slot": record.slot,
            "hash_in": record.hash_in,
            "request_sig": call.request_sig,
            "assignment_sig": call.assignment_sigs[step],
            "consumers": counts[0],
            "calls": counts[1],
            "steps": counts[2],
        }
        sender = options.pop("sender", None) or self.vendor_of(call.api, record.slot)
        args.update(options)
        return self.market.transact("claim", *args.values(), sender=sender)

    def dispute(self, call: Call, step: int, **options: Any) -> TxResult:
        """The consumer of ``call`` disputes the output of step ``step`` (its component)."""
        receipt = call.receipts[step]
        proof = MODEL_TREE.proof(step) if step < len(COMPONENTS) else []
        args: dict[str, Any] = {
            "api": call.api,
            "epoch": call.epoch,
            "seq": call.seq,
            "component": step,
            "slot": receipt.slot,
            "component_hash": receipt.component_hash,
            "hash_in": receipt.hash_in,
            "hash_out": receipt.hash_out,
            "receipt_sig": call.receipt_sigs[step],
            "component_proof": proof,
        }
        sender = options.pop("sender", call.consumer)
        value = options.pop("value", self.api(call.api).dispute_bond)
        args.update(options)
        return self.market.transact("dispute", *args.values(), sender=sender, value=value)


def output_commitment(dispute_id: int, replica: str, hash_out: bytes, salt: bytes) -> bytes:
    """keccak256(abi_encode(dispute_id, replica, hash_out, salt))."""
    from eth_abi.abi import encode

    return keccak(
        encode(["uint256", "address", "bytes32", "bytes32"], [dispute_id, replica, hash_out, salt])
    )


def deploy_world(chain: Chain) -> World:
    """Deploy a registry, the API market and a fake model market; register the cast."""
    deployer, provider, orchestrator, *rest = chain.dev_accounts(14)
    vendors, consumers, stranger = rest[:6], rest[6:9], rest[9]
    registry = deploy_registry(chain, deployer)
    market, _ = Contract.deploy(chain, "ApiMarket", registry.address, sender=deployer)
    register_cast(
        registry,
        [
            (provider, Role.MODEL_OWNER),
            (orchestrator, Role.COMPUTE_PROVIDER),
            *[(v, Role.COMPUTE_PROVIDER) for v in vendors],
            *[(c, Role.CLIENT) for c in consumers],
        ],
        key=lambda _: KEY,
    )
    fake_p4 = deploy_fake_model_market(chain, deployer)
    return World(
        chain=chain,
        registry=registry,
        market=market,
        fake_p4=fake_p4,
        deployer=deployer,
        provider=provider,
        orchestrator=orchestrator,
        vendors=vendors,
        consumers=consumers,
        stranger=stranger,
    )


def deploy_fake_model_market(chain: Chain, deployer: LocalAccount) -> Contract:
    """FakeModelMarket.vy, whose `purchase` answers what a test sets."""
    from pathlib import Path

    import vyper
    from eth_abi.abi import encode

    from mercato.chain.contract import ABI

    path = Path(__file__).with_name("FakeModelMarket.vy")
    output = vyper.compile_code(path.read_text(), output_formats=["abi", "bytecode"])
    abi = ABI(output["abi"])
    bytecode = bytes.fromhex(output["bytecode"].removeprefix("0x"))
    receipt = chain.deploy(deployer, bytecode + encode(abi.constructor, []))
    assert receipt.contract_address is not None
    return Contract(chain, receipt.contract_address, abi, "FakeModelMarket")


__all__ = ["ETHER", "World", "deploy_world"]
