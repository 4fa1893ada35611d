"""Gas of the API market's transactions, printed for the record (timings and gas belong in
benchmarks; these tests check only that each transaction does what it should).

Run ``pytest -s -p no:xdist tests/protocols/apimarket/test_contract_gas.py`` to see them.
"""

from __future__ import annotations

from typing import Any

import pytest
from eth_utils.crypto import keccak

from mercato.protocols.apimarket.records import Batch, StepRecord

from .world import PRICE, World, hash_of, output_commitment

THREE: dict[str, Any] = {
    "components": 3,
    "slot_components": [0, 1, 2],
    "shares": [10**14, 10**14, 10**14],
}
"""An API of three components, one slot each."""


def report(what: str, gas: int) -> None:
    print(f"\ngas {what:<48} {gas:>10,}")


@pytest.mark.parametrize("calls", [1, 10, 100, 1000])
def test_gas_of_commit_batch(world: World, calls: int) -> None:
    api = world.live(deposit=0, **THREE)
    alice = world.consumers[0]
    world.deposit(api, alice, calls * PRICE)
    records = []
    for seq in range(1, calls + 1):
        hash_in = hash_of(f"input {seq}")
        for j in range(3):
            hash_out = keccak(hash_in + bytes([j]))
            records.append(StepRecord(api, 0, alice.address, seq, j, j, hash_in, hash_out))
            hash_in = hash_out
    batch = Batch.build(records, 3)
    world.travel_to(world.epoch_start(api, 1))

    result = world.market.transact(
        "commit_batch",
        api,
        0,
        batch.root,
        batch.records_hash,
        batch.consumers,
        batch.calls,
        batch.steps,
        sender=world.orchestrator,
    )

    assert world.read("batch", api, 0).total == calls * PRICE
    report(f"commit_batch, 1 consumer, {calls} calls, 3 slots", result.gas_used)


def test_gas_of_claims(world: World) -> None:
    api = world.live()
    alice = world.consumers[0]
    calls = [world.run_call(api, 0, alice, seq) for seq in range(1, 9)]
    world.commit(api, 0, calls)
    opened = world.claim(calls[0], 0)
    claim_id = opened.event("Claimed")["claim_id"]
    batch = world.batch_of(api, calls)
    index = batch.index_of(alice.address, 1, 0)
    answered = world.market.transact(
        "answer_claim",
        claim_id,
        index,
        calls[0].records[0].hash_out,
        batch.proof(index),
        sender=world.orchestrator,
    )
    unreported = world.claim(world.run_call(api, 0, alice, 9), 0)

    assert unreported.event("Claimed")["paid"] > 0
    report("claim, opened (8 calls in the batch)", opened.gas_used)
    report("answer_claim (16 leaves)", answered.gas_used)
    report("claim, under-reported: paid at once", unreported.gas_used)


def test_gas_of_a_dispute(world: World) -> None:
    api = world.live()
    truth = hash_of("truth")
    call = world.run_call(api, 0, world.consumers[0], 1, outputs=(hash_of("lie"), truth))
    opened = world.dispute(call, 0)
    dispute_id = opened.event("Disputed")["dispute_id"]
    gas = {"dispute": opened.gas_used, "commit_output": 0, "reveal_output": 0}
    for vendor in world.vendors[1:3]:
        salt = keccak(vendor.address.encode())
        commitment = output_commitment(dispute_id, vendor.address, truth, salt)
        gas["commit_output"] += world.market.transact(
            "commit_output", dispute_id, commitment, sender=vendor
        ).gas_used
    for vendor in world.vendors[1:3]:
        salt = keccak(vendor.address.encode())
        gas["reveal_output"] += world.market.transact(
            "reveal_output", dispute_id, truth, salt, sender=vendor
        ).gas_used
    resolved = world.market.transact("resolve", dispute_id, sender=world.stranger)

    assert resolved.event("DisputeResolved")["slashed"] == 1
    report("dispute (3 replicas)", gas["dispute"])
    report("commit_output x 2", gas["commit_output"])
    report("reveal_output x 2", gas["reveal_output"])
    report("resolve (liar slashed)", resolved.gas_used)
    report("dispute, all transactions", sum(gas.values()) + resolved.gas_used)
    fake = world.run_call(
        api, 0, world.consumers[1], 1, slots=(1, 3), component_hashes=(keccak(b"x"), truth)
    )
    slashed = world.dispute(fake, 0)
    report("dispute, component outside the model", slashed.gas_used)


def test_gas_of_a_base_mode_call(world: World) -> None:
    api = world.live(**THREE)
    alice = world.consumers[0]
    txs = []
    opened = world.market.transact("call_onchain", api, hash_of("in"), sender=alice)
    txs.append(opened)
    call_id = opened.event("CallOpened")["call_id"]
    hash_in = hash_of("in")
    for j in range(3):
        hash_out = keccak(hash_in + bytes([j]))
        txs.append(
            world.market.transact(
                "record_step", call_id, j, hash_in, hash_out, sender=world.vendors[j]
            )
        )
        hash_in = hash_out
    txs.append(world.market.transact("acknowledge", call_id, hash_in, sender=alice))

    assert txs[-1].event("CallClosed")["to_provider"] == PRICE - 3 * 10**14
    report("base mode: call_onchain", txs[0].gas_used)
    report("base mode: record_step (each, 3 components)", txs[1].gas_used)
    report("base mode: acknowledge", txs[-1].gas_used)
    report("base mode: one call, all 5 transactions", sum(t.gas_used for t in txs))
