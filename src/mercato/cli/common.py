"""What every command group shares: settings, the chain, accounts, amounts and output."""

from __future__ import annotations

import inspect
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import typer
from rich.console import Console

from mercato.config import Settings, load_settings
from mercato.errors import ConfigError, InputError
from mercato.protocols.readmodel import json_default
from mercato.timefmt import format_time as format_time  # re-exported for the commands
from mercato.timefmt import relative_time as relative_time  # re-exported for the commands
from mercato.timefmt import same_address as same_address  # re-exported for the commands
from mercato.units import compact_ether as compact_ether  # re-exported for the commands
from mercato.units import format_ether as format_ether  # re-exported for the commands
from mercato.units import parse_amount as parse_amount  # re-exported for the commands

# The chain, accounts, protocols and blob store are imported where used: `mercato --help`
# loads none of eth_account, web3, the EVM or the protocols.
if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

    from mercato.chain.base import Chain
    from mercato.chain.contract import TxResult
    from mercato.ml.datasets import Dataset
    from mercato.protocols.identity import Identity
    from mercato.protocols.marketplace import Marketplace
    from mercato.protocols.results import Result
    from mercato.protocols.unit import ProtocolUnit
    from mercato.storage.base import BlobStore

console = Console()
err_console = Console(stderr=True)


# Options shared by the commands that talk to a deployed market.
RpcUrlOption = typer.Option(
    None,
    "--rpc-url",
    help="JSON-RPC node URL, e.g. http://127.0.0.1:8545 (or MERCATO_RPC_URL, or ETH_RPC_URL).",
)
DEV_ACCOUNT_LIMIT = 2**31
"""Development accounts are the non-hardened BIP-32 children ``m/44'/60'/0'/0/i``: i < 2**31."""


def _check_account_index(index: int | None) -> int | None:
    if index is not None and not 0 <= index < DEV_ACCOUNT_LIMIT:
        raise typer.BadParameter(
            f"{index} is no development account: indexes run from 0 to "
            f"{DEV_ACCOUNT_LIMIT - 1} (BIP-32, non-hardened)"
        )
    return index


AccountOption = typer.Option(
    None,
    "--account",
    callback=_check_account_index,
    help="Index of a development account of the test mnemonic (anvil funds them). "
    "Without it: MERCATO_PRIVATE_KEY, or --keystore.",
)
KeystoreOption = typer.Option(None, "--keystore", help="Encrypted JSON keystore file.")
JsonOption = typer.Option(False, "--json", help="Print machine-readable JSON.")

# A participant's own data file, where a command takes a sample dataset by name (--dataset).
DataFileOption = typer.Option(
    None, "--data", help="Your own data file (CSV, Parquet or .npz) instead of --dataset."
)
LabelOption = typer.Option(
    None, "--label", help="With --data: the label column (the schema is inferred from the file)."
)
SchemaOption = typer.Option(
    None, "--schema", help="With --data: its schema file (`mercato data schema` writes one)."
)
HeldOutDatasetOption = typer.Option(
    None, "--dataset", help="A sample set: its held-out part (what a buyer measures with)."
)
ModelOutOption = typer.Option(
    ...,
    "--out",
    help="The model file to write (.skops for scikit-learn, .safetensors for weights); the "
    "metrics go beside it as NAME.metrics.json.",
)


def held_out_data(
    data_file: Path | None, label: str | None, schema: Path | None, dataset: str | None
) -> Dataset | None:
    """The rows a buyer measures with: its own file (--data), the held-out part of a sample
    set (--dataset), or None when neither is given."""
    from mercato.ml.data_files import DataSource
    from mercato.ml.datasets import seller_and_buyer_parts

    if data_file is None and dataset is not None:
        if label is not None or schema is not None:
            raise InputError("--label and --schema describe a data file: pass it with --data")
        return seller_and_buyer_parts(dataset)[1]
    source = DataSource(sample=dataset, path=data_file, label=label, schema=schema)
    return source.load() if source.given or label or schema else None


def show_result(call: MarketCall, result: Result, written: tuple[Path, Path]) -> None:
    """What ``<group> model --out`` wrote: the files, and the metrics measured."""
    if call.json_output:
        emit_json({**result.record(), "files": [str(p) for p in written]})
        return
    model_file, metrics_file = written
    measured = ", ".join(f"{name} {value:.4f}" for name, value in result.metrics.items())
    on = result.measured_on
    said = f"; on {on['name']} ({on['rows']} rows): {measured}" if measured else ""
    console.print(
        f"{result.protocol} {result.entry}: model {result.model_hash} written to "
        f"{model_file}, metrics to {metrics_file}{said}",
        highlight=False,
        soft_wrap=True,
    )


@dataclass
class Context:
    """Settings resolved for one command run."""

    settings: Settings

    def chain(self, rpc_url: str | None = None, *, persistent: bool = True) -> Chain:
        """The chain to use; commands that span processes need a node (``persistent``)."""
        from mercato.chain.factory import connect

        url = rpc_url or self.settings.rpc_url
        backend = "rpc" if url else self.settings.backend
        if persistent and backend != "rpc":
            raise ConfigError(
                "this command needs a running node: the embedded chain lives inside one "
                "process. Start one with `mercato chain up` and pass --rpc-url "
                "(or set MERCATO_RPC_URL or ETH_RPC_URL)"
            )
        return connect(backend, url)

    def store(self) -> BlobStore:
        from mercato.storage.base import open_store

        return open_store(self.settings.store)

    def market(self, rpc_url: str | None = None) -> Marketplace:
        from mercato.protocols.deployment import Deployment
        from mercato.protocols.marketplace import Marketplace

        chain = self.chain(rpc_url)
        return Marketplace(chain, Deployment.load(self.settings.deployment), self.store())


def context(ctx: typer.Context) -> Context:
    """The settings of this run (loaded once per process)."""
    if ctx.obj is None:
        ctx.obj = Context(load_settings())
    assert isinstance(ctx.obj, Context)
    return ctx.obj


def account(index: int | None, keystore: Path | None = None) -> LocalAccount:
    """The account a command acts as."""
    from mercato.chain.accounts import account_from_env, account_from_keystore, dev_account

    if index is not None and keystore is not None:
        raise InputError("pass either --account or --keystore, not both")
    if index is not None:
        if not 0 <= index < DEV_ACCOUNT_LIMIT:
            raise InputError(
                f"--account {index} is no development account: indexes run from 0 to "
                f"{DEV_ACCOUNT_LIMIT - 1} (BIP-32, non-hardened)"
            )
        return dev_account(index)
    if keystore is not None:
        return account_from_keystore(keystore)
    return account_from_env()


def identity(index: int | None, keystore: Path | None = None) -> Identity:
    from mercato.protocols.identity import Identity

    return Identity(account(index, keystore))


def checksum_address(address: str, option: str) -> str:
    """``address`` checksummed; InputError naming ``option`` if it is no address."""
    from eth_utils.address import is_address, to_checksum_address

    if not is_address(address):
        raise InputError(f"{option} '{address}' is not an address (0x followed by 40 hex digits)")
    return str(to_checksum_address(address))


def short_address(address: str | None) -> str:
    return "-" if address is None else f"{address[:6]}…{address[-4:]}"


def tx_note(tx_hash: str, count: int = 1) -> str:
    """``(tx 0x12ab…cdef)`` after a summary; ``(5 transactions, first 0x12ab…cdef)``."""
    short = f"{tx_hash[:6]}…{tx_hash[-4:]}"
    return f"(tx {short})" if count == 1 else f"({count} transactions, first {short})"


def emit_json(payload: Any) -> None:
    """Print ``payload`` as JSON on stdout (bytes as 0x-hex)."""
    sys.stdout.write(json.dumps(payload, default=json_default, indent=2) + "\n")


class Payer(Protocol):
    """A contract that owes pull payments (every protocol's contract)."""

    def owed(self, address: str) -> int: ...

    def withdraw(self, account: LocalAccount) -> TxResult: ...


def add_withdraw_command(app: typer.Typer, unit: ProtocolUnit) -> None:
    """Give the protocol's group ``withdraw``: pull what its contract owes the account."""

    def withdraw(
        ctx: typer.Context,
        rpc_url: str = RpcUrlOption,
        account: int = AccountOption,
        keystore: Path = KeystoreOption,
        json_output: bool = JsonOption,
    ) -> None:
        market = context(ctx).market(rpc_url)
        me = identity(account, keystore)
        withdraw_owed(unit.payer, market.wrapper(unit.field), me, json_output)

    withdraw.__doc__ = f"Move everything the {unit.payer} owes you to your account."
    app.command("withdraw")(withdraw)


def withdraw_owed(name: str, payer: Payer, me: Identity, json_output: bool) -> None:
    """Move everything ``payer`` (called ``name`` in messages) owes ``me`` to its account."""
    owed = payer.owed(me.address)
    if owed == 0:
        raise InputError(f"the {name} owes {me.address} nothing")
    result = payer.withdraw(me.account)
    if json_output:
        emit_json({"address": me.address, "withdrawn": owed})
    else:
        console.print(
            f"withdrew {compact_ether(owed)} ETH from the {name} to {me.address} "
            f"{tx_note(result.receipt.tx_hash)}",
            soft_wrap=True,
        )


def refuse(*problems: str | None) -> None:
    """InputError with the first of ``problems`` that is not None (a rule's ``*_problem``)."""
    for problem in problems:
        if problem is not None:
            raise InputError(problem)


@dataclass(frozen=True)
class MarketCall:
    """One run of a command on a deployed market: the node it asks, who acts, the output."""

    ctx: typer.Context
    rpc_url: str | None
    account: int | None = None
    keystore: Path | None = None
    json_output: bool = False

    def market(self) -> Marketplace:
        return context(self.ctx).market(self.rpc_url)

    def identity(self) -> Identity:
        """The account that acts (--account, --keystore or MERCATO_PRIVATE_KEY)."""
        return identity(self.account, self.keystore)


MARKET_OPTIONS: dict[str, tuple[type, Any]] = {
    "rpc_url": (str, RpcUrlOption),
    "account": (int, AccountOption),
    "keystore": (Path, KeystoreOption),
    "json_output": (bool, JsonOption),
}
"""The options every market command takes after its own, as a :class:`MarketCall`."""


def market_command(
    app: typer.Typer, name: str, *, acts: bool = True
) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Register ``command(call: MarketCall, ...)`` as ``name`` in ``app``.

    The command declares only its own arguments and options; --rpc-url, --account and
    --keystore (not for a command that only reads: ``acts=False``) and --json follow them,
    the same in every group.
    """
    shared = [n for n in MARKET_OPTIONS if acts or n not in ("account", "keystore")]
    keyword = inspect.Parameter.KEYWORD_ONLY

    def register(command: Callable[..., None]) -> Callable[..., None]:
        own = list(inspect.signature(command, eval_str=True).parameters.values())[1:]

        def run(ctx: typer.Context, **values: Any) -> None:
            command(MarketCall(ctx, **{n: values.pop(n) for n in shared}), **values)

        ctx = inspect.Parameter("ctx", keyword, annotation=typer.Context)
        options = [
            inspect.Parameter(
                n, keyword, default=MARKET_OPTIONS[n][1], annotation=MARKET_OPTIONS[n][0]
            )
            for n in shared
        ]
        own = [p.replace(kind=keyword) for p in own]
        setattr(run, "__signature__", inspect.Signature([ctx, *own, *options]))  # noqa: B010
        run.__doc__ = command.__doc__
        app.command(name)(run)
        return command

    return register


if TYPE_CHECKING:
    from rich.table import Table


def simple_table(*columns: str, title: str | None = None) -> Table:
    """A table of the CLI's one style (simple head, folded cells) with these ``columns``."""
    from rich import box
    from rich.table import Table

    table = Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False)
    for column in columns:
        table.add_column(column, overflow="fold")
    return table
