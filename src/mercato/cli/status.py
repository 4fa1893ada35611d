"""``mercato status`` and ``mercato accounts``: where a participant stands, read from the node.

Both only read, so both stay light: the node is spoken to over JSON-RPC (no web3), an account
is known by its address (a development account's from a table, a keystore's from its file),
so neither eth_account, the compiler nor the EVM loads. Whatever cannot be read (no node, no
deployment, no account) is one line saying so and what to run next, never a traceback.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from mercato.cli.common import (
    AccountOption,
    Context,
    JsonOption,
    KeystoreOption,
    RpcUrlOption,
    compact_ether,
    console,
    context,
    emit_json,
)
from mercato.errors import ConfigError, InputError, MercatoError
from mercato.protocols.catalog import units
from mercato.protocols.unit import resolve

if TYPE_CHECKING:
    from mercato.chain.rpc import RpcChain
    from mercato.protocols.deployment import Deployment
    from mercato.protocols.unit import ProtocolUnit
    from mercato.protocols.wrapper import ContractWrapper

DEFAULT_ACCOUNT_COUNT = 10
"""Development accounts `mercato accounts` lists, as anvil does."""
MAX_ACCOUNT_COUNT = 100
KEY_ENV = "MERCATO_PRIVATE_KEY"
NO_NODE_HINT = "start a node with `mercato chain up`"
NO_DEPLOYMENT_HINT = "deploy the contracts with `mercato deploy --account 0`"
NO_ACCOUNT_HINT = (
    "pick an account with --account N (a development account, see `mercato accounts`), "
    f"--keystore FILE or {KEY_ENV}"
)


# reading the node -------------------------------------------------------------------------
def _node(run: Context, rpc_url: str | None) -> tuple[dict[str, Any], RpcChain | None]:
    """What the node says about itself, and the chain to read it by (None if unreachable)."""
    url = rpc_url or run.settings.rpc_url
    view: dict[str, Any] = {"url": url, "reachable": False, "error": None}
    view |= {"chain_id": None, "block": None}
    if not url:
        view["error"] = "no node URL: pass --rpc-url or set MERCATO_RPC_URL (or ETH_RPC_URL)"
        return view, None
    from mercato.chain.factory import check_rpc_url
    from mercato.chain.rpc import RpcChain

    try:
        chain = RpcChain(check_rpc_url(url))  # status is about a node: no other backend
        view |= {"reachable": True, "chain_id": chain.chain_id, "block": chain.block_number()}
    except MercatoError as exc:
        view["error"] = str(exc)
        return view, None
    return view, chain


def _deployment(path: Path, chain: RpcChain | None) -> tuple[dict[str, Any], Deployment | None]:
    """The deployment file and whether the node holds its contracts (the deployment if so)."""
    from mercato.protocols.deployment import Deployment, contracts

    view: dict[str, Any] = {"file": path, "found": path.is_file(), "error": None}
    view |= {"chain_id": None, "block": None, "contracts": None}
    if not view["found"]:
        view["error"] = f"no deployment file at {path}"
        return view, None
    try:
        deployment = Deployment.load(path)
    except ConfigError as exc:
        view["error"] = str(exc)
        return view, None
    view |= {"chain_id": deployment.chain_id, "block": deployment.block}
    view["contracts"] = {field: deployment.address(field) for field in contracts()}
    if chain is None:
        return view, None
    if chain.chain_id != deployment.chain_id:
        view["error"] = (
            f"the deployment is for chain {deployment.chain_id}, the node is chain {chain.chain_id}"
        )
        return view, None
    missing = [
        field
        for field in contracts()
        if chain.rpc("eth_getCode", deployment.address(field), "latest") in ("0x", "", None)
    ]
    view["code"] = not missing
    if missing:
        names = ", ".join(f"{f.replace('_', ' ')} {deployment.address(f)}" for f in missing)
        view["error"] = f"no code on the node at {names} (was the node restarted?)"
        return view, None
    return view, deployment


def account_address(index: int | None, keystore: Path | None) -> tuple[str, str] | None:
    """The address of the chosen account and where it came from, without loading its key.

    None when no account was chosen. A keystore names its address in the clear; only a
    private key in the environment needs the curve (eth_keys, not eth_account).
    """
    from mercato.chain.accounts import dev_address
    from mercato.cli.common import account

    if index is not None and keystore is not None:
        raise InputError("pass either --account or --keystore, not both")
    if index is not None:
        return dev_address(index), f"development account {index}"
    if keystore is not None:
        try:
            raw = json.loads(keystore.read_text())["address"]
            from eth_utils.address import to_checksum_address

            return str(to_checksum_address(raw)), f"keystore {keystore}"
        except (OSError, ValueError, KeyError, TypeError):
            return str(account(None, keystore).address), f"keystore {keystore}"  # its error
    if not os.environ.get(KEY_ENV):
        return None
    try:
        from eth_keys.datatypes import PrivateKey

        key = PrivateKey(bytes.fromhex(os.environ[KEY_ENV].strip().removeprefix("0x")))
        return str(key.public_key.to_checksum_address()), KEY_ENV
    except Exception:  # any malformed key: let the account loader say what is wrong
        return str(account(None).address), KEY_ENV


def _account(
    address: str, source: str, chain: RpcChain | None, deployment: Deployment | None
) -> dict[str, Any]:
    view: dict[str, Any] = {"address": address, "source": source, "balance": None}
    view |= {"roles": None, "stake": None, "owed": None}
    if chain is None:
        return view
    view["balance"] = chain.balance(address)
    if deployment is None:
        return view
    from mercato.protocols.registry import Registry

    registry = Registry(chain, deployment.registry)
    view["roles"] = registry.roles_of(address).labels
    view["stake"] = registry.stake_of(address)
    view["owed"] = {unit.field: _wrapper(chain, deployment, unit).owed(address) for unit in units()}
    return view


def _wrapper(chain: RpcChain, deployment: Deployment, unit: ProtocolUnit) -> ContractWrapper:
    wrapper: ContractWrapper = resolve(unit.wrapper)(chain, deployment.address(unit.field))
    return wrapper


def _counts(chain: RpcChain, deployment: Deployment) -> dict[str, int]:
    counts: dict[str, int] = {}
    for unit in units():
        counts |= _wrapper(chain, deployment, unit).counts()
    return counts


def _next_steps(view: dict[str, Any]) -> list[str]:
    """What to run next, first things first."""
    node, deployment, account = view["node"], view["deployment"], view["account"]
    steps = []
    if not node["reachable"]:
        steps.append(NO_NODE_HINT + ("" if node["url"] else " and set MERCATO_RPC_URL"))
    if not deployment["found"] or (node["reachable"] and deployment["error"]):
        steps.append(NO_DEPLOYMENT_HINT)
    if account is None:
        steps.append(NO_ACCOUNT_HINT)
    elif account["roles"] == []:
        steps.append("give the account roles with `mercato register --roles ...`")
    return steps


# the commands -------------------------------------------------------------------------------
def status_command(
    ctx: typer.Context,
    rpc_url: str = RpcUrlOption,
    account: int = AccountOption,
    keystore: Path = KeystoreOption,
    json_output: bool = JsonOption,
) -> None:
    """Where you stand: the node, the deployment, your account and the markets' size."""
    run = context(ctx)
    chosen = account_address(account, keystore)
    node, chain = _node(run, rpc_url)
    try:
        deployment, deployed = _deployment(run.settings.deployment, chain)
        view: dict[str, Any] = {"node": node, "deployment": deployment}
        view["account"] = None if chosen is None else _account(*chosen, chain, deployed)
        view["counts"] = None if chain is None or deployed is None else _counts(chain, deployed)
    finally:
        if chain is not None:
            chain.close()
    view["next"] = _next_steps(view)
    if json_output:
        emit_json(view)
    else:
        _print_status(view)


def accounts_command(
    ctx: typer.Context,
    count: int = typer.Option(
        DEFAULT_ACCOUNT_COUNT,
        "--count",
        min=1,
        max=MAX_ACCOUNT_COUNT,
        help="How many development accounts to list.",
    ),
    rpc_url: str = RpcUrlOption,
    json_output: bool = JsonOption,
) -> None:
    """The development accounts of the test mnemonic (never for real money): index, address,
    balance on the node and roles in the deployment."""
    from mercato.chain.accounts import dev_address

    run = context(ctx)
    node, chain = _node(run, rpc_url)
    records: list[dict[str, Any]] = [
        {"index": i, "address": dev_address(i), "balance": None, "roles": None}
        for i in range(count)
    ]
    try:
        deployed = None
        if chain is not None:
            _, deployed = _deployment(run.settings.deployment, chain)
            for record in records:
                record["balance"] = chain.balance(record["address"])
        if chain is not None and deployed is not None:
            from mercato.protocols.registry import Registry

            registry = Registry(chain, deployed.registry)
            for record in records:
                record["roles"] = registry.roles_of(record["address"]).labels
    finally:
        if chain is not None:
            chain.close()
    if json_output:
        emit_json({"node": node, "accounts": records})
        return
    _print_accounts(records, node, deployed is not None)


# printing -------------------------------------------------------------------------------------
def _ether(wei: int | None) -> str:
    return "-" if wei is None else f"{compact_ether(wei)} ETH"


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _line(label: str, text: str) -> None:
    console.print(f"{label:<11} {text}", soft_wrap=True, highlight=False, markup=False)


def _print_status(view: dict[str, Any]) -> None:
    node, deployment, account = view["node"], view["deployment"], view["account"]
    if node["reachable"]:
        _line("node", f"{node['url']}: chain {node['chain_id']}, block {node['block']}")
    else:
        _line("node", node["error"])
    where = f"{deployment['file']}"
    if not deployment["found"]:
        _line("deployment", f"{where}: not found")
    elif deployment["chain_id"] is None:
        _line("deployment", f"{where}: {deployment['error']}")
    else:
        text = f"{where}: chain {deployment['chain_id']}, deployed at block {deployment['block']}"
        if deployment["error"]:
            text += f"; {deployment['error']}"
        elif deployment.get("code"):
            text += f"; code at all {len(deployment['contracts'])} contracts"
        else:
            text += " (contracts not checked without a node)"
        _line("deployment", text)
    if account is None:
        _line("account", "none chosen")
    else:
        _line("account", f"{account['address']} ({account['source']})")
        if account["balance"] is not None:
            _line("  balance", _ether(account["balance"]))
        if account["roles"] is not None:
            _line("  roles", ", ".join(account["roles"]) or "none")
            _line("  stake", _ether(account["stake"]))
            owed = account["owed"]
            _line("  owed", ", ".join(f"{u.payer} {_ether(owed[u.field])}" for u in units()))
    counts = view["counts"]
    if counts is not None:
        _line("market", ", ".join(_plural(n, noun[:-1]) for noun, n in counts.items()))
    for step in view["next"]:
        _line("next", step)


def _print_accounts(records: list[dict[str, Any]], node: dict[str, Any], roles: bool) -> None:
    """One line per account, as anvil lists them: ``(1) 0x7099…79C8  10000 ETH  client``."""
    console.print(
        "development accounts of the test mnemonic (never for real money):", highlight=False
    )
    width = max(len(f"({r['index']})") for r in records)
    amounts = [_ether(r["balance"]) for r in records]
    amount_width = max(map(len, amounts))
    for record, amount in zip(records, amounts, strict=True):
        line = f"{'(' + str(record['index']) + ')':>{width}} {record['address']}"
        if record["balance"] is not None:
            line += f"  {amount:>{amount_width}}"
        if roles:
            line += f"  {', '.join(record['roles']) or 'no roles'}"
        console.print(line, highlight=False, markup=False, soft_wrap=True)
    if not node["reachable"]:
        _line("node", node["error"])
        _line("next", f"addresses only: {NO_NODE_HINT} for balances and roles")
    elif not roles:
        _line("next", f"no deployment, so no roles: {NO_DEPLOYMENT_HINT}")
