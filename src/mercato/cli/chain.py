"""``mercato chain up``, ``mercato deploy``, ``mercato register``: node, contracts, participant."""

from __future__ import annotations

import signal
import threading
from pathlib import Path

import typer

from mercato.cli.common import (
    AccountOption,
    JsonOption,
    KeystoreOption,
    RpcUrlOption,
    compact_ether,
    console,
    context,
    emit_json,
    format_ether,
    identity,
    parse_amount,
    short_address,
    tx_note,
)
from mercato.errors import InputError
from mercato.protocols.roles import Role

app = typer.Typer(help="Run a local node.", no_args_is_help=True)


@app.command("up")
def up(
    port: int = typer.Option(8545, "--port", help="Port on 127.0.0.1 (0 picks a free one)."),
    state: Path = typer.Option(None, "--state", help="Persist the chain in this file."),
    block_time: int = typer.Option(None, "--block-time", help="Mine every N seconds."),
) -> None:
    """Start anvil on 127.0.0.1 and keep it running until Ctrl-C.

    Prints the development accounts it funds and their private keys, as anvil does: keys of
    a public test mnemonic, for development only, never for real money.
    """
    from mercato.chain.anvil import Anvil

    node = Anvil(port=port or None, state=state, block_time=block_time)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with node:
        _print_dev_accounts(node.url, node.accounts)
        console.print(f"anvil listening on [bold]{node.url}[/bold] (Ctrl-C to stop)")
        console.print(f"export MERCATO_RPC_URL={node.url}", highlight=False, soft_wrap=True)
        try:
            while not stop.wait(0.5):
                if not node.running:
                    raise typer.Exit(1)
        except KeyboardInterrupt:
            pass


def _print_dev_accounts(url: str, count: int) -> None:
    """Anvil's own listing: the funded accounts, their private keys and the mnemonic."""
    from mercato.chain.accounts import DEV_MNEMONIC, DEV_PATH, dev_account
    from mercato.chain.rpc import RpcChain

    accounts = [dev_account(i) for i in range(count)]
    chain = RpcChain(url)
    try:
        balances = [chain.balance(a.address) for a in accounts]
    finally:
        chain.close()
    lines = ["", "Available Accounts", "==================", ""]
    lines += [
        f"({i}) {a.address} ({format_ether(wei)})"
        for i, (a, wei) in enumerate(zip(accounts, balances, strict=True))
    ]
    lines += ["", "Private Keys", "==================", ""]
    lines += [f"({i}) 0x{bytes(a.key).hex()}" for i, a in enumerate(accounts)]
    lines += ["", "Wallet", "==================", f"Mnemonic:          {DEV_MNEMONIC}"]
    lines += [f"Derivation path:   {DEV_PATH.format(index='')}", ""]
    for line in lines:
        console.print(line, highlight=False, markup=False, soft_wrap=True)
    console.print(
        "[yellow]These are development keys of a public test mnemonic: anyone can spend what "
        "they hold. Never send real money to them.[/yellow]",
        soft_wrap=True,
    )
    console.print()


def deploy_command(
    ctx: typer.Context,
    rpc_url: str = RpcUrlOption,
    account: int = AccountOption,
    keystore: Path = KeystoreOption,
    out: Path = typer.Option(
        None,
        "--out",
        help="Deployment file (default .mercato/deployment.json); the ABI files go to abi/ "
        "beside it.",
    ),
    json_output: bool = JsonOption,
) -> None:
    """Deploy Mercato's contracts and write the deployment file other processes attach to."""
    from mercato.protocols.deployment import ABI_FOLDER, contracts, save_problem

    run = context(ctx)
    path = out or run.settings.deployment
    problem = save_problem(path)
    if problem is not None:  # before any transaction: a bad --out costs no gas
        raise InputError(f"{problem}. Nothing was deployed; pass --out a file in a writable folder")
    from mercato.protocols.deployment import deploy  # the compiler and the chain: slow

    chain = run.chain(rpc_url)
    deployer = identity(account, keystore).account
    deployment = deploy(chain, deployer)
    deployment.save(path)
    abi_folder = path.parent / ABI_FOLDER
    if json_output:
        emit_json({"deployment_file": path, "abi_folder": abi_folder, **deployment.__dict__})
        return
    for field, contract in contracts().items():
        console.print(f"{contract:<15} {deployment.address(field)}")
    console.print(
        f"chain {deployment.chain_id}, from block {deployment.block}; deployment file {path}",
        soft_wrap=True,
    )
    names = ", ".join(f"{contract}.json" for contract in contracts().values())
    console.print(f"ABI files in {abi_folder}/ ({names})", soft_wrap=True)


def register_command(
    ctx: typer.Context,
    roles: str = typer.Option(
        ...,
        "--roles",
        help="Comma-separated: data-owner, model-owner, compute-provider, client, arbiter. "
        "Added to the roles the account holds.",
    ),
    replace: bool = typer.Option(
        False, "--replace", help="Hold exactly --roles: drop the roles not listed."
    ),
    stake: str = typer.Option("0", "--stake", help="Stake to add (e.g. 0.1 or 0.1eth)."),
    rpc_url: str = RpcUrlOption,
    account: int = AccountOption,
    keystore: Path = KeystoreOption,
    json_output: bool = JsonOption,
) -> None:
    """Give the account roles (added to those it holds) and register its encryption key."""
    role = Role.parse(roles)
    amount = parse_amount(stake)
    me = identity(account, keystore)
    registry = context(ctx).market(rpc_url).registry
    result = registry.enrol(me, role, stake=amount, replace=replace)
    held = registry.roles_of(me.address)
    staked = registry.stake_of(me.address)
    if json_output:
        emit_json(
            {
                "address": me.address,
                "roles": held.labels,
                "roles_mask": int(held),
                "stake": staked,
                "encryption_key": me.encryption_public,
                "tx": None if result is None else result.receipt.tx_hash,
            }
        )
        return
    holds = f"{', '.join(held.labels)} (stake {compact_ether(staked)} ETH)"
    if result is None:
        console.print(f"{short_address(me.address)} already holds {holds}: nothing sent")
    else:
        console.print(
            f"{short_address(me.address)} now holds {holds} {tx_note(result.receipt.tx_hash)}",
            soft_wrap=True,
        )
