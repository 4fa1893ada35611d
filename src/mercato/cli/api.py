"""``mercato api ...``: the split-execution API market (Arya et al., P5) from the shell.

A provider registers an API over a model split into components held by vendors; vendors
join with a stake and their endpoint sealed to the orchestrator; consumers deposit and call
through the orchestrator; batches settle the calls; claims, challenges and disputes hold
every party to what it signed. This module parses and renders: the protocol's steps are in
:mod:`mercato.protocols.apimarket`, the views it prints in its ``views`` module.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer

from mercato.cli import common, waiting
from mercato.cli.common import MarketCall, compact_ether, console, emit_json
from mercato.errors import InputError
from mercato.protocols.apimarket import views
from mercato.protocols.apimarket.unit import UNIT

if TYPE_CHECKING:
    from mercato.protocols.marketplace import Marketplace

app = typer.Typer(
    help="API market: a model split over vendors, served and paid per call (P5).",
    no_args_is_help=True,
)

ApiArgument = typer.Argument(..., min=1, help="API id (see `mercato api list`).")


def load_api(market: Marketplace, api_id: int) -> views.Api:
    """The API ``api_id``, or a one-line InputError naming how many there are."""
    am = market.api_market
    count = am.count()
    if not 0 < api_id <= count:
        raise InputError(f"no API {api_id} (there are {count})")
    return am.api(api_id)


def detail_record(market: Marketplace, api_id: int) -> dict[str, Any]:
    """Everything about an API, JSON-ready: its record, slots, batches and disputes."""
    am = market.api_market
    api = load_api(market, api_id)
    record = views.api_record(api, am.slots(api_id))
    record["batches"] = [
        {
            "epoch": int(e["epoch"]),
            "calls": sum(int(c) for c in e["calls"]),
            "consumers": len(e["consumers"]),
            "total": int(e["total"]),
            "records_hash": "0x" + bytes(e["records_hash"]).hex(),
        }
        for e in am.events("BatchCommitted", api=api_id)
    ]
    record["disputes"] = [
        {
            "dispute_id": int(e["dispute_id"]),
            "state": views.DisputeState(int(e["state"])).label,
            "slashed": int(e["slashed"]),
            "to_consumer": int(e["to_consumer"]),
        }
        for e in am.events("DisputeResolved", api=api_id)
    ]
    return record


def list_apis(call: MarketCall) -> None:
    """Every API with its status, provider, components, slots, price and calls settled."""
    market = call.market()
    am = market.api_market
    records = [views.api_record(am.api(i), am.slots(i)) for i in range(1, am.count() + 1)]
    if call.json_output:
        emit_json(records)
        return
    if not records:
        console.print("no APIs yet")
        return
    title = f"{len(records)} API(s); amounts in ETH"
    table = common.simple_table("id", "status", "provider", "components", "slots", "price",
                                "deposits", title=title)  # fmt: skip
    for r in records:
        table.add_row(
            str(r["api"]),
            r["status"],
            common.short_address(r["provider"]),
            str(r["components"]),
            str(r["slots"]),
            compact_ether(r["price"]),
            str(r["depositors"]),
        )
    console.print(table)


def show(call: MarketCall, api_id: int = ApiArgument) -> None:
    """One API: terms, slots (vendor, component, joined, out), batches and disputes."""
    market = call.market()
    document = detail_record(market, api_id)
    if call.json_output:
        emit_json(document)
        return
    console.print(
        f"API {document['api']}: {document['status']}; {document['components']} components "
        f"over {document['slots']} slots; price {compact_ether(document['price'])} ETH a call"
    )
    table = common.simple_table("slot", "vendor", "component", "joined", "out")
    for s in document["slot_list"]:
        table.add_row(str(s["slot"]), s["vendor"], str(s["component"]), str(s["joined"]),
                      str(s["out"]))  # fmt: skip
    console.print(table)
    for b in document["batches"]:
        console.print(f"epoch {b['epoch']}: {b['calls']} calls of {b['consumers']} consumer(s), "
                      f"{compact_ether(b['total'])} ETH")  # fmt: skip
    for d in document["disputes"]:
        console.print(f"dispute {d['dispute_id']}: {d['state']}")


common.market_command(app, "list", acts=False)(list_apis)
common.market_command(app, "show", acts=False)(show)
waiting.add_wait_command(app, UNIT)
common.add_withdraw_command(app, UNIT)
