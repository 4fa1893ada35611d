"""RpcChain.send_wave on a node that mines on request: blocks, order, failures (no timings)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import pytest
from eth_abi.abi import encode
from eth_account.signers.local import LocalAccount

from mercato.chain import ABI, Anvil, Contract, RpcChain, TxRequest
from mercato.chain import rpc as rpc_module
from mercato.errors import ChainError, ConfigError, ContractRevert, InputError, RaceLost

GAS = 200_000
DEPLOY_GAS = 1_000_000


@pytest.fixture(scope="module")
def node() -> Iterator[Anvil]:
    """An anvil of this module's own that mines only when asked (``evm_mine``)."""
    try:
        anvil = Anvil(no_mining=True).start()
    except ConfigError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the rpc tier, but anvil is missing: {exc}", pytrace=False)
        pytest.skip(f"anvil not installed, rpc tier skipped: {exc}")
    try:
        yield anvil
    finally:
        anvil.stop()


@pytest.fixture
def chain(node: Anvil) -> Iterator[RpcChain]:
    chain = RpcChain(node.url)
    try:
        yield chain
    finally:
        chain.close()


@pytest.fixture
def counter(chain: RpcChain, compile_test_contract: Callable[[str], tuple[ABI, bytes]]) -> Contract:
    """A Counter deployed by a wave of one (a deployment needs no special path)."""
    abi, bytecode = compile_test_contract("Counter")
    deployer = chain.dev_accounts(1)[0]
    initcode = bytecode + encode(abi.constructor, [0])
    (receipt,) = chain.send_wave([TxRequest(deployer, None, initcode, gas=DEPLOY_GAS)])
    assert receipt.contract_address is not None
    return Contract(chain, receipt.contract_address, abi, "Counter")


@pytest.mark.rpc
def test_a_wave_is_mined_in_blocks_and_its_receipts_come_in_order(
    chain: RpcChain, counter: Contract, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rpc_module, "WAVE_BLOCK_SIZE", 4)
    senders: list[LocalAccount] = chain.dev_accounts(5)
    txs = [counter.tx("increment", sender=s, gas=GAS) for s in senders + senders]

    receipts = chain.send_wave(txs)

    counts = [counter.decode_logs(r.logs)[0]["count"] for r in receipts]
    assert counts == list(range(1, 11))  # in the order sent, a sender's two in nonce order
    assert [r.block_number for r in receipts] == sorted(r.block_number for r in receipts)
    assert len({r.block_number for r in receipts}) == 3  # 4 + 4 + 2
    assert counter.call("count") == 10


@pytest.mark.rpc
def test_a_revert_is_raised_after_the_rest_of_the_wave_is_mined(
    chain: RpcChain, counter: Contract
) -> None:
    alice, bob, carol = chain.dev_accounts(3)
    txs = [
        counter.tx("increment", sender=alice, gas=GAS),
        counter.tx("increment_below", 0, sender=bob, gas=GAS),
        counter.tx("increment", sender=carol, gas=GAS),
    ]

    with pytest.raises(ContractRevert) as info:
        chain.send_wave(txs)

    assert info.value.reason == "counter: limit reached"
    assert counter.call("count") == 2
    # every nonce was used, so the same senders' next wave goes through
    again = chain.send_wave(
        [counter.tx("increment", sender=s, gas=GAS) for s in (alice, bob, carol)]
    )
    assert len(again) == 3 and counter.call("count") == 5


@pytest.mark.rpc
def test_a_mined_failure_says_whether_it_ran_out_of_gas_or_was_preceded_in_its_block(
    chain: RpcChain, counter: Contract
) -> None:
    alice, bob = chain.dev_accounts(2)
    # bob's call is fine on the block's starting state, but alice's comes first in the block
    raced = [
        counter.tx("increment", sender=alice, gas=GAS),
        counter.tx("increment_below", 1, sender=bob, gas=GAS),
    ]
    starved = [counter.tx("increment", sender=alice, gas=22_000)]

    with pytest.raises(ChainError) as preceded:
        chain.send_wave(raced)
    with pytest.raises(ChainError) as out_of_gas:
        chain.send_wave(starved)

    assert isinstance(preceded.value, RaceLost)
    assert not isinstance(preceded.value, ContractRevert)
    assert not isinstance(out_of_gas.value, RaceLost)
    assert "an earlier transaction in its block changed the state" in str(preceded.value)
    assert "out of gas" not in str(preceded.value)
    assert str(out_of_gas.value).endswith("of limit 22000; out of gas)")
    assert counter.call("count") == 1


@pytest.mark.rpc
def test_a_wave_needs_explicit_gas_and_sends_nothing_without_it(
    chain: RpcChain, counter: Contract
) -> None:
    alice = chain.dev_accounts(1)[0]
    block = chain.block_number()

    with pytest.raises(InputError, match="explicit gas"):
        chain.send_wave(
            [counter.tx("increment", sender=alice, gas=GAS), counter.tx("increment", sender=alice)]
        )

    assert chain.block_number() == block
    assert chain.send_wave([]) == []


def test_no_mining_and_a_block_time_do_not_go_together() -> None:
    with pytest.raises(ConfigError, match="not both"):
        Anvil(no_mining=True, block_time=1)
