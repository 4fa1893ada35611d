"""The rpc backend's own type-2 signer gives eth-account's bytes, so nodes accept it alike."""

from __future__ import annotations

import pytest
from eth_account import Account
from eth_utils.address import to_checksum_address
from hypothesis import given, settings
from hypothesis import strategies as st

from mercato.chain.base import TxRequest
from mercato.chain.rpc import RpcChain
from mercato.chain.signing import sign_dynamic_fee

ACCOUNT = Account.from_key("0x" + "42" * 32)
UINT64 = st.integers(min_value=0, max_value=2**64 - 1)
WEI = st.integers(min_value=0, max_value=2**256 - 1)
ADDRESS = st.binary(min_size=20, max_size=20).map(lambda b: to_checksum_address(b))


@settings(max_examples=60, deadline=None)
@given(
    chain_id=st.integers(min_value=1, max_value=2**32),
    nonce=UINT64,
    tip=WEI,
    fee=WEI,
    gas=UINT64,
    to=st.one_of(st.none(), ADDRESS),
    value=WEI,
    data=st.binary(max_size=600),
)
def test_same_bytes_and_hash_as_eth_account(
    chain_id: int, nonce: int, tip: int, fee: int, gas: int, to: str | None, value: int,
    data: bytes,
) -> None:  # fmt: skip
    # prepare
    fields: dict[str, object] = {
        "type": 2, "chainId": chain_id, "nonce": nonce, "maxPriorityFeePerGas": tip,
        "maxFeePerGas": fee, "gas": gas, "value": value, "data": data,
    }  # fmt: skip
    if to is not None:
        fields["to"] = to
    expected = ACCOUNT.sign_transaction(fields)

    # act
    raw, tx_hash = sign_dynamic_fee(
        ACCOUNT, chain_id=chain_id, nonce=nonce, max_priority_fee=tip, max_fee=fee, gas=gas,
        to=to, value=value, data=data,
    )  # fmt: skip

    # assert
    assert raw == bytes(expected.raw_transaction)
    assert tx_hash == bytes(expected.hash)
    assert Account.recover_transaction(raw) == ACCOUNT.address


@pytest.mark.rpc
def test_the_node_accepts_what_the_signer_signs(rpc_chain: RpcChain) -> None:
    # prepare
    sender, receiver = rpc_chain.dev_accounts(2)
    before = rpc_chain.balance(receiver.address)

    # act
    rpc_chain.send(TxRequest(sender=sender, to=receiver.address, data=b"", value=12345))

    # assert
    assert rpc_chain.balance(receiver.address) == before + 12345
