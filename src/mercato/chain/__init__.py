"""The chain layer: one interface (:class:`Chain`), two backends, typed contract handles.

``connect("embedded")`` gives an in-process EVM; ``connect("rpc", url)`` any JSON-RPC node.
Names are imported on first use, so ``import mercato.chain`` stays cheap (the EVM, the
compiler and eth_account load only when needed).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mercato._lazy import lazy_package

if TYPE_CHECKING:
    from mercato.chain.accounts import (
        DEV_MNEMONIC,
        account_from_env,
        account_from_keystore,
        dev_account,
        dev_accounts,
        dev_address,
    )
    from mercato.chain.anvil import Anvil
    from mercato.chain.base import Chain, Log, Receipt, TxRequest
    from mercato.chain.compile import CompiledContract, compile_contract
    from mercato.chain.contract import ABI, Contract, Event, TxResult
    from mercato.chain.embedded import EmbeddedChain
    from mercato.chain.factory import BACKENDS, RPC_URL_ENV, connect
    from mercato.chain.revert import decode_revert
    from mercato.chain.rpc import RpcChain


__all__ = [
    "ABI",
    "BACKENDS",
    "DEV_MNEMONIC",
    "RPC_URL_ENV",
    "Anvil",
    "Chain",
    "CompiledContract",
    "Contract",
    "EmbeddedChain",
    "Event",
    "Log",
    "Receipt",
    "RpcChain",
    "TxRequest",
    "TxResult",
    "account_from_env",
    "account_from_keystore",
    "compile_contract",
    "connect",
    "decode_revert",
    "dev_account",
    "dev_accounts",
    "dev_address",
]

lazy_package(
    __name__,
    {
        "DEV_MNEMONIC": "accounts",
        "account_from_env": "accounts",
        "account_from_keystore": "accounts",
        "dev_account": "accounts",
        "dev_accounts": "accounts",
        "dev_address": "accounts",
        "Anvil": "anvil",
        "Chain": "base",
        "Log": "base",
        "Receipt": "base",
        "TxRequest": "base",
        "CompiledContract": "compile",
        "compile_contract": "compile",
        "ABI": "contract",
        "Contract": "contract",
        "Event": "contract",
        "TxResult": "contract",
        "EmbeddedChain": "embedded",
        "BACKENDS": "factory",
        "RPC_URL_ENV": "factory",
        "connect": "factory",
        "decode_revert": "revert",
        "RpcChain": "rpc",
    },
)
