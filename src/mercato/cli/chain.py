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
    console,
    context,
    emit_json,
    identity,
    parse_amount,
)
from mercato.protocols.roles import Role

app = typer.Typer(help="Run a local node.", no_args_is_help=True)


@app.command("up")
def up(
    port: int = typer.Option(8545, "--port", help="Port on 127.0.0.1 (0 picks a free one)."),
    state: Path = typer.Option(None, "--state", help="Persist the chain in this file."),
    block_time: int = typer.Option(None, "--block-time", help="Mine every N seconds."),
) -> None:
    """Start anvil on 127.0.0.1 and keep it running until Ctrl-C."""
    from mercato.chain.anvil import Anvil

    node = Anvil(port=port or None, state=state, block_time=block_time)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with node:
        console.print(f"anvil listening on [bold]{node.url}[/bold] (Ctrl-C to stop)")
        console.print(f"export MERCATO_RPC_URL={node.url}")
        try:
            while not stop.wait(0.5):
                if not node.running:
                    raise typer.Exit(1)
        except KeyboardInterrupt:
            pass


def deploy_command(
    ctx: typer.Context,
    rpc_url: str = RpcUrlOption,
    account: int = AccountOption,
    keystore: Path = KeystoreOption,
    out: Path = typer.Option(
        None, "--out", help="Deployment file (default .mercato/deployment.json)."
    ),
    json_output: bool = JsonOption,
) -> None:
    """Deploy Mercato's contracts and write the deployment file other processes attach to."""
    from mercato.protocols.deployment import deploy  # the compiler and the chain: slow

    run = context(ctx)
    chain = run.chain(rpc_url)
    deployer = identity(account, keystore).account
    deployment = deploy(chain, deployer)
    path = out or run.settings.deployment
    deployment.save(path)
    if json_output:
        emit_json({"deployment_file": path, **deployment.__dict__})
    else:
        console.print(f"registry       {deployment.registry}")
        console.print(f"auction house  {deployment.auction_house}")
        console.print(f"training       {deployment.training_market}")
        console.print(f"data market    {deployment.data_market}")
        console.print(f"chain {deployment.chain_id}; written to {path}")


def register_command(
    ctx: typer.Context,
    roles: str = typer.Option(
        ...,
        "--roles",
        help="Comma-separated: data-owner, model-owner, compute-provider, client, arbiter.",
    ),
    stake: str = typer.Option("0", "--stake", help="Stake to deposit (e.g. 0.1 or 0.1eth)."),
    rpc_url: str = RpcUrlOption,
    account: int = AccountOption,
    keystore: Path = KeystoreOption,
    json_output: bool = JsonOption,
) -> None:
    """Register the account with roles and its encryption key (derived from the account key)."""
    role = Role.parse(roles)
    amount = parse_amount(stake)
    me = identity(account, keystore)
    market = context(ctx).market(rpc_url)
    market.registry.register(me, role, stake=amount)
    if json_output:
        emit_json(
            {"address": me.address, "roles": int(role), "encryption_key": me.encryption_public}
        )
    else:
        console.print(f"{me.address} registered as {roles}")
