"""The Chain contract, checked on both backends (embedded EVM and anvil) with Counter.vy."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from eth_account.signers.local import LocalAccount
from eth_utils.address import to_checksum_address

from mercato.chain import Anvil, Chain, Contract, RpcChain, TxRequest
from mercato.errors import ChainError, ContractRevert, InputError

ETHER = 10**18
HOUR = 3600

DeployTestContract = Callable[..., Contract]


@pytest.fixture
def counter(deploy_test_contract: DeployTestContract, accounts: list[LocalAccount]) -> Contract:
    return deploy_test_contract("Counter", 5, sender=accounts[0])


def test_deploy_returns_a_receipt_with_the_contract_address(
    chain: Chain, accounts: list[LocalAccount], counter: Contract
) -> None:
    assert counter.address == to_checksum_address(counter.address)
    assert counter.call("count") == 5
    assert counter.call("owner") == accounts[0].address


def test_transact_mines_and_decodes_events(
    chain: Chain, accounts: list[LocalAccount], counter: Contract
) -> None:
    before = chain.block_number()

    result = counter.transact("increment", sender=accounts[1])

    assert result.receipt.block_number == before + 1
    assert re.fullmatch(r"0x[0-9a-f]{64}", result.receipt.tx_hash)
    assert result.gas_used > 21_000
    event = result.event("Incremented")
    assert event.args == {"caller": accounts[1].address, "count": 6}
    assert event.address == counter.address
    assert event.tx_hash == result.receipt.tx_hash
    assert counter.call("count") == 6


def test_raw_logs_carry_checksum_address_and_byte_topics(
    chain: Chain, accounts: list[LocalAccount], counter: Contract
) -> None:
    receipt = counter.transact("increment", sender=accounts[1]).receipt

    (log,) = receipt.logs

    assert log.address == counter.address
    assert all(isinstance(t, bytes) and len(t) == 32 for t in log.topics)
    assert log.topics[1][-20:] == bytes.fromhex(accounts[1].address[2:])
    assert log.block_number == receipt.block_number
    assert log.log_index == 0


def test_revert_in_a_transaction_carries_the_reason(
    chain: Chain, accounts: list[LocalAccount], counter: Contract
) -> None:
    block = chain.block_number()

    with pytest.raises(ContractRevert) as caught:
        counter.transact("increment_below", 5, sender=accounts[1])

    assert caught.value.reason == "counter: limit reached"
    assert caught.value.function == "increment_below"
    assert chain.block_number() == block  # nothing was mined
    assert counter.call("count") == 5


def test_revert_of_a_mined_transaction_carries_the_reason(
    chain: Chain, accounts: list[LocalAccount], counter: Contract
) -> None:
    # an explicit gas limit skips estimation, so a node mines the failing transaction
    with pytest.raises(ContractRevert) as caught:
        counter.transact("increment_below", 5, sender=accounts[1], gas=100_000)

    assert caught.value.reason == "counter: limit reached"
    assert counter.call("count") == 5


def test_revert_without_reason_has_an_empty_reason(
    chain: Chain, accounts: list[LocalAccount], counter: Contract
) -> None:
    with pytest.raises(ContractRevert) as caught:
        counter.transact("fail_silently", sender=accounts[1])

    assert caught.value.reason == ""


def test_revert_in_a_call_carries_the_reason(chain: Chain, counter: Contract) -> None:
    assert counter.call("count_below", 6) == 5

    with pytest.raises(ContractRevert) as caught:
        counter.call("count_below", 5)

    assert caught.value.reason == "counter: limit reached"
    assert caught.value.function == "count_below"


def test_call_simulates_a_state_changing_function_and_undoes_it(
    chain: Chain, accounts: list[LocalAccount], counter: Contract
) -> None:
    payer = accounts[2].address
    data = counter.abi.encode_call("deposit", [])

    output = chain.call(counter.address, data, sender=payer, value=ETHER)

    assert output == b""
    assert counter.call("deposits", payer) == 0
    assert chain.balance(counter.address) == 0


def test_sending_more_than_the_balance_is_a_chain_error(
    chain: Chain, accounts: list[LocalAccount], counter: Contract
) -> None:
    poor = accounts[8]
    chain.set_balance(poor.address, 10)
    block = chain.block_number()

    with pytest.raises(ChainError) as caught:
        counter.transact("deposit", sender=poor, value=11)

    assert not isinstance(caught.value, ContractRevert)
    assert chain.block_number() == block


def test_out_of_gas_is_a_chain_error_not_a_revert(
    chain: Chain, accounts: list[LocalAccount], counter: Contract
) -> None:
    with pytest.raises(ChainError) as caught:
        counter.transact("increment", sender=accounts[1], gas=22_000)

    assert not isinstance(caught.value, ContractRevert)
    assert counter.call("count") == 5


def test_estimate_gas_covers_the_transaction(
    chain: Chain, accounts: list[LocalAccount], counter: Contract
) -> None:
    request = counter.tx("increment", sender=accounts[1])

    estimate = chain.estimate_gas(request)
    used = chain.send(request).gas_used

    # the embedded chain returns the gas used; a node the least limit that succeeds
    assert used <= estimate <= used + used // 4
    assert counter.call("count") == 6


def test_estimate_gas_of_a_reverting_transaction_raises(
    chain: Chain, accounts: list[LocalAccount], counter: Contract
) -> None:
    with pytest.raises(ContractRevert) as caught:
        chain.estimate_gas(counter.tx("increment_below", 1, sender=accounts[1]))

    assert caught.value.reason == "counter: limit reached"


def test_payable_function_moves_exactly_the_value(
    chain: Chain, accounts: list[LocalAccount], counter: Contract
) -> None:
    payer = accounts[2]
    before = chain.balance(payer.address)

    result = counter.transact("deposit", sender=payer, value=ETHER)

    assert result.event("Deposited").args == {"payer": payer.address, "amount": ETHER}
    assert counter.call("deposits", payer.address) == ETHER
    assert chain.balance(counter.address) == ETHER
    assert chain.balance(payer.address) == before - ETHER  # no fees on either dev chain


def test_payable_function_rejects_nothing_sent(
    chain: Chain, accounts: list[LocalAccount], counter: Contract
) -> None:
    with pytest.raises(ContractRevert, match="counter: nothing sent"):
        counter.transact("deposit", sender=accounts[2])


def test_time_travel_moves_block_timestamp(chain: Chain, counter: Contract) -> None:
    seen = counter.call("now")
    stamp = chain.timestamp()

    chain.time_travel(HOUR)

    assert chain.timestamp() >= stamp + HOUR
    assert counter.call("now") >= seen + HOUR


def test_time_travel_backwards_is_refused(chain: Chain) -> None:
    with pytest.raises(ChainError):
        chain.time_travel(-1)


def test_send_many_keeps_order_across_senders(
    chain: Chain, accounts: list[LocalAccount], counter: Contract
) -> None:
    senders = [accounts[i % 3] for i in range(12)]

    receipts = chain.send_many([counter.tx("increment", sender=s) for s in senders])

    events = [counter.decode_logs(r.logs)[0] for r in receipts]
    assert [e["count"] for e in events] == list(range(6, 18))
    assert [e["caller"] for e in events] == [s.address for s in senders]
    blocks = [r.block_number for r in receipts]
    assert blocks == sorted(blocks)
    assert counter.call("count") == 17


def test_send_many_estimates_each_transaction_after_the_earlier_ones(
    chain: Chain, accounts: list[LocalAccount], counter: Contract
) -> None:
    # increment_below(1) reverts on the state before the batch (count 5) but not after reset
    owner = accounts[0]

    receipts = chain.send_many(
        [counter.tx("reset", sender=owner), counter.tx("increment_below", 1, sender=owner)]
    )

    assert len(receipts) == 2
    assert counter.call("count") == 1


def test_send_many_mixes_explicit_and_estimated_gas(
    chain: Chain, accounts: list[LocalAccount], counter: Contract
) -> None:
    txs = [
        counter.tx("increment", sender=accounts[1], gas=None if i % 2 else 80_000) for i in range(6)
    ]

    receipts = chain.send_many(txs)

    assert [counter.decode_logs(r.logs)[0]["count"] for r in receipts] == list(range(6, 12))


def test_send_many_raises_the_revert_after_mining_the_earlier_ones(
    chain: Chain, accounts: list[LocalAccount], counter: Contract
) -> None:
    txs = [counter.tx("increment_below", 7, sender=accounts[1]) for _ in range(3)]

    with pytest.raises(ContractRevert) as caught:
        chain.send_many(txs)

    assert caught.value.reason == "counter: limit reached"
    assert counter.call("count") == 7
    # the sender's nonce is still right: the next transaction goes through
    assert counter.transact("increment", sender=accounts[1]).event("Incremented")["count"] == 8


def test_nonces_follow_every_mined_transaction(
    chain: Chain, accounts: list[LocalAccount], deploy_test_contract: DeployTestContract
) -> None:
    # a deployment's address is derived from the sender's nonce, so it reveals the nonce
    deployer = accounts[3]
    first = deploy_test_contract("Counter", 0, sender=deployer)
    nonce = _nonce_of_deployment(deployer.address, first.address)

    chain.send_many([first.tx("increment", sender=deployer) for _ in range(3)])
    first.transact("increment", sender=deployer)
    second = deploy_test_contract("Counter", 0, sender=deployer)

    assert second.address == _create_address(deployer.address, nonce + 5)


def test_get_logs_selects_block_range_and_address(
    chain: Chain,
    accounts: list[LocalAccount],
    counter: Contract,
    deploy_test_contract: DeployTestContract,
) -> None:
    other = deploy_test_contract("Counter", 0, sender=accounts[0])
    blocks = [counter.transact("increment", sender=accounts[1]).receipt.block_number]
    other.transact("increment", sender=accounts[1])
    blocks += [counter.transact("increment", sender=accounts[1]).receipt.block_number]
    blocks += [counter.transact("increment", sender=accounts[1]).receipt.block_number]

    everything = chain.get_logs(blocks[0])
    middle = chain.get_logs(blocks[1], blocks[1])
    mine = chain.get_logs(blocks[0], None, counter.address)

    assert len(everything) == 4
    assert [log.block_number for log in middle] == [blocks[1]]
    assert [counter.abi.decode_log(log)["count"] for log in mine] == [6, 7, 8]  # type: ignore[index]
    assert chain.get_logs(chain.block_number() + 1) == []
    assert [e["count"] for e in counter.events(blocks[1])] == [7, 8]


def test_get_logs_filters_by_event_and_indexed_argument(
    chain: Chain, accounts: list[LocalAccount], counter: Contract
) -> None:
    # prepare: two callers increment, one deposits
    start = counter.transact("increment", sender=accounts[1]).receipt.block_number
    counter.transact("increment", sender=accounts[2])
    counter.transact("deposit", sender=accounts[1], value=5)
    counter.transact("increment", sender=accounts[1])

    # act
    increments = counter.events(start, None, "Incremented")
    by_first = counter.events(start, None, "Incremented", caller=accounts[1].address)
    deposits = counter.events(start, None, "Deposited", payer=accounts[2].address)
    topics = counter.abi.event_topics("Incremented", caller=accounts[2].address)

    # assert
    assert [e["count"] for e in increments] == [6, 7, 8]
    assert [e["count"] for e in by_first] == [6, 8]
    assert deposits == []
    assert [len(log.topics) for log in chain.get_logs(start, None, counter.address, topics)] == [2]
    # a filter longer than an event's topics matches nothing, as eth_getLogs reads it
    assert chain.get_logs(start, None, counter.address, [*topics, bytes(32)]) == []
    with pytest.raises(InputError, match="has no indexed argument 'count'"):
        counter.events(start, None, "Incremented", count=6)
    with pytest.raises(InputError, match="no event 'Decremented'"):
        counter.events(start, None, "Decremented")


def test_balances_can_be_set(chain: Chain, accounts: list[LocalAccount]) -> None:
    chain.set_balance(accounts[5].address, 123)

    assert chain.balance(accounts[5].address) == 123


def test_dev_accounts_are_the_standard_funded_ones(chain: Chain) -> None:
    accounts = chain.dev_accounts(25)  # more than anvil funds by itself

    assert accounts[0].address == "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
    assert {chain.balance(a.address) for a in accounts} == {10_000 * ETHER}


def test_plain_value_transfer(chain: Chain, accounts: list[LocalAccount]) -> None:
    sender, receiver = accounts[6], accounts[7]
    before = chain.balance(receiver.address)

    receipt = chain.send(TxRequest(sender, receiver.address, b"", value=ETHER))

    assert receipt.gas_used == 21_000
    assert receipt.logs == ()
    assert chain.balance(receiver.address) == before + ETHER


def _create_address(sender: str, nonce: int) -> str:
    import rlp
    from eth_utils.crypto import keccak

    return to_checksum_address(keccak(rlp.encode([bytes.fromhex(sender[2:]), nonce]))[12:])


def _nonce_of_deployment(sender: str, address: str) -> int:
    for nonce in range(1_000):
        if _create_address(sender, nonce) == address:
            return nonce
    raise AssertionError(f"{address} is not a CREATE address of {sender}")


@pytest.mark.rpc
def test_another_process_sending_for_the_account_does_not_strand_its_nonce(
    rpc_chain: RpcChain, anvil: Anvil
) -> None:
    # an agent keeps its account's next nonce; a command of the same account, run meanwhile
    # in another process, uses it up: the agent's next transaction must still go through
    sender, receiver = rpc_chain.dev_accounts(9)[7:9]
    rpc_chain.send(TxRequest(sender, receiver.address, b"", value=1))
    other = RpcChain(anvil.url)
    try:
        other.send(TxRequest(sender, receiver.address, b"", value=1))
    finally:
        other.close()
    before = rpc_chain.balance(receiver.address)

    receipt = rpc_chain.send(TxRequest(sender, receiver.address, b"", value=1))

    assert receipt.gas_used == 21_000
    assert rpc_chain.balance(receiver.address) == before + 1
