"""``mercato bench datamarket``: P3's benchmark, beside OmniLytics' figures."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer
from rich.table import Table

from mercato.cli.bench_common import AnvilOption, bench_node, mark
from mercato.cli.common import JsonOption, RpcUrlOption, console, emit_json

if TYPE_CHECKING:
    from mercato.bench.datamarket import DataMarketBenchReport


def datamarket(
    ctx: typer.Context,
    data_owners: int = typer.Option(
        None, "--data-owners", min=3, max=32, help="Data owners of the market (default 10)."
    ),
    params: int = typer.Option(
        None,
        "--parameters",
        min=1,
        help="Parameters of the securely aggregated update (default 100,000).",
    ),
    repeats: int = typer.Option(
        None,
        "--repeats",
        min=1,
        help="Timed runs of each measurement; medians reported (default 3).",
    ),
    skip_accuracy: bool = typer.Option(
        False, "--skip-accuracy", help="Leave out the market simulations (about a minute)."
    ),
    rpc_url: str = RpcUrlOption,
    anvil: bool = AnvilOption,
    json_output: bool = JsonOption,
) -> None:
    """P3 (OmniLytics): chain time and gas of a market, secure aggregation, accuracy."""
    from mercato.bench.datamarket import run_datamarket_bench
    from mercato.bench.datamarket_chain import DEFAULT_DATA_OWNERS, DEFAULT_REPEATS
    from mercato.bench.datamarket_secagg import DEFAULT_PARAMETERS

    with bench_node(ctx, rpc_url, anvil, quiet=json_output, no_mining=True) as (node, start):
        report = run_datamarket_bench(
            node,
            data_owners=data_owners or DEFAULT_DATA_OWNERS,
            parameters=params or DEFAULT_PARAMETERS,
            repeats=repeats or DEFAULT_REPEATS,
            accuracy=not skip_accuracy,
            start=start,
        )
    if json_output:
        emit_json(report.as_dict())
    else:
        _print_datamarket(report)


def _first(values: tuple[float, ...]) -> str:
    return f"{values[0]:.2f}" if values else "unknown"


def _print_datamarket(report: DataMarketBenchReport) -> None:
    from mercato.bench.datamarket_chain import BLOCK_GAS_LIMIT as BLOCK_GAS

    payload = report.as_dict()
    paper = payload["paper"]

    def pct(value: float | None) -> str:
        return "—" if value is None else f"{value:.1%}"

    n = report.data_owners
    table = Table(title=f"P3 secure data market (OmniLytics), {n} data owners, {report.backend}")
    table.add_column("measure", overflow="fold")
    table.add_column("ours", justify="right", style="bold", no_wrap=True)
    table.add_column("paper", justify="right", no_wrap=True)
    table.add_column("", justify="center")
    chain_s = payload["chain_seconds"]
    table.add_row(
        f"chain seconds of a secure market, post task to payments "
        f"({payload['transactions']} tx, one at a time)",
        f"{chain_s:.3f}",
        f"< {paper['chain_seconds']}",
        mark(chain_s < paper["chain_seconds"]),
    )
    table.add_row(
        f"  robust market ({payload['transactions_robust']} tx)",
        f"{payload['chain_seconds_robust']:.3f}",
        "—",
        "",
    )
    for key, label in (("chain_seconds_waves", "secure"), ("chain_seconds_waves_robust", "robust")):
        value = payload[key]
        table.add_row(
            f"  {label} market, each step's transactions as one wave",
            "—" if value is None else f"{value:.3f}",
            f"< {paper['chain_seconds']}" if label == "secure" else "—",
            mark(None if value is None or label != "secure" else value < paper["chain_seconds"]),
        )
    table.add_section()
    table.add_row(
        "gas a DO spends per round, secure (its 4 tx + share of finalise)",
        f"{payload['gas_per_do_round']:,}",
        "—",
        "",
    )
    table.add_row(
        "  robust (submit + share of finalise)", f"{payload['gas_per_do_round_robust']:,}", "—", ""
    )
    for update in payload["gas_update_on_chain"].values():
        table.add_row(
            f"  one update stored on chain, {update['parameters']:,} float32 "
            f"({'fits' if update['fits_block'] else 'needs ' + str(update['blocks_needed'])} "
            f"{'a block' if update['fits_block'] else 'blocks'} of {BLOCK_GAS:,} gas)",
            f"{update['gas']:,}",
            "on chain",
            "",
        )
    table.add_section()
    secagg = payload["secagg"]
    dropouts = payload["secagg_dropouts"]
    table.add_row(
        f"secure aggregation, {n} DOs x {secagg['parameters']:,} values: mask + deal + unmask (s)",
        f"{payload['secagg_seconds']:.3f}",
        "—",
        "",
    )
    table.add_row(
        f"  with {dropouts} DO(s) dropping out after dealing (s)",
        f"{payload[f'secagg_seconds_{dropouts}_dropouts']:.3f}",
        "—",
        "",
    )
    table.add_row(
        "  per DO: mask / deal shares / seal shares (ms)",
        f"{secagg['mask_ms_per_do']:.1f} / {secagg['deal_shares_ms_per_do']:.1f} / "
        f"{secagg['seal_shares_ms_per_do']:.1f}",
        "—",
        "",
    )
    table.add_row(
        f"  unmask, 0 / {dropouts} dropouts (ms)",
        f"{secagg['unmask_ms_0_dropouts']:.1f} / {secagg[f'unmask_ms_{dropouts}_dropouts']:.1f}",
        "—",
        "",
    )
    epoch = payload["epoch"]
    table.add_row(
        f"one local epoch of a DO, {epoch['public_100k']['public_parameters']:,}-parameter "
        f"public part (s)",
        f"{payload['epoch_seconds']:.4f}",
        "—",
        "",
    )
    table.add_row(
        f"  demo model, {epoch['demo_model']['public_parameters']:,} parameters (s)",
        f"{payload['epoch_seconds_demo_model']:.4f}",
        "—",
        "",
    )
    if report.accuracy is not None:
        table.add_section()
        table.add_row(
            "accuracy of the MO's model before the market",
            pct(payload["accuracy_before"]),
            pct(paper["accuracy_before"]),
            "",
        )
        table.add_row(
            "  after, honest DOs, mean (secure aggregation)",
            pct(payload["accuracy_after_honest"]),
            pct(paper["accuracy_after"]),
            "",
        )
        table.add_row(
            "  after, 2 poisoners, Multi-Krum (robust mode)",
            pct(payload["accuracy_after_poisoned_robust"]),
            "—",
            "",
        )
        table.add_row(
            "  after, 2 poisoners, mean (undefended)",
            pct(payload["accuracy_after_poisoned_undefended"]),
            "—",
            "",
        )
        for poisoning, rules in payload["accuracy"]["poisoned"].items():
            row = ", ".join(f"{rule} {value:.0%}" for rule, value in rules.items())
            table.add_row(f"  poisoned by {poisoning}: {row}", "", "", "")
        multiple = payload["accuracy"]["outlier_multiple"]
        for poisoning, fair in payload["accuracy"]["fairness_multikrum"].items():
            table.add_row(
                f"  Multi-Krum ({multiple}x median), {poisoning}: poisoners caught "
                f"{fair['poisoners_caught']}/{fair['poisoner_rounds']}, honest DOs excluded "
                f"{fair['honest_excluded']}",
                "",
                "",
                "",
            )
    console.print(table)
    console.print(
        f"Paper: OmniLytics, a {paper['model']} on Ethereum, every DO's gradients stored on "
        "chain. Ours: one 2-core machine; the chain holds 32-byte hashes, the updates live off "
        "chain. Chain seconds cover post_task, the joins, every phase of one round, "
        "finalise_round and the withdrawals, registrations before the clock; medians of "
        f"{report.repeats} runs. Load average (1 min) at start and end: "
        f"{_first(report.load[0])} and {_first(report.load[1])} on a 2-core machine.",
        highlight=False,
    )
    for note in report.notes:
        console.print(f"Note: {note}.", highlight=False)
