"""The embedded chain charges the gas a node charges, to the unit.

The embedded EVM runs messages, not transactions: it adds intrinsic gas, the refund cap and
EIP-7623's calldata floor itself and commits storage between transactions (EIP-2200 prices
a write against the value at the start of the transaction). Any slip shows up here as a
difference from anvil on the same transactions.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from eth_abi.abi import encode
from eth_account.signers.local import LocalAccount

from mercato.chain import ABI, Chain, Contract, EmbeddedChain, RpcChain, TxRequest

ETHER = 10**18

Compile = Callable[[str], tuple[ABI, bytes]]


def _scenario(chain: Chain, compile_test_contract: Compile) -> dict[str, int]:
    """Gas used by each step of one fixed script of transactions."""
    owner, alice, bob = chain.dev_accounts(3)
    abi, bytecode = compile_test_contract("Counter")
    deployed = chain.deploy(owner, bytecode + encode(["uint256"], [5]))
    assert deployed.contract_address is not None
    counter = Contract(chain, deployed.contract_address, abi)

    def gas(fn: str, *args: object, sender: LocalAccount = alice, value: int = 0) -> int:
        return counter.transact(fn, *args, sender=sender, value=value).gas_used

    return {
        "deploy": deployed.gas_used,
        "increment (rewrite a slot)": gas("increment"),
        "increment again": gas("increment"),
        "increment_below": gas("increment_below", 100),
        "first deposit (new slot)": gas("deposit", value=ETHER),
        "second deposit": gas("deposit", value=ETHER),
        "deposit by another": gas("deposit", sender=bob, value=1),
        "reset (clear a slot, refund)": gas("reset", sender=owner),
        "increment from zero": gas("increment"),
        "measure, 3 kB of non-zero calldata (floor)": gas("measure", b"\x01" * 3000),
        "measure, 3 kB of zeros (floor)": gas("measure", b"\x00" * 3000),
        "measure, 10 bytes": gas("measure", b"0123456789"),
        "ether transfer": chain.send(TxRequest(alice, bob.address, b"", value=1)).gas_used,
        "explicit gas limit": counter.transact("increment", sender=bob, gas=200_000).gas_used,
    }


@pytest.mark.rpc
def test_embedded_gas_equals_anvil_gas(rpc_chain: RpcChain, compile_test_contract: Compile) -> None:
    embedded = _scenario(EmbeddedChain(), compile_test_contract)
    node = _scenario(rpc_chain, compile_test_contract)

    assert embedded == node
