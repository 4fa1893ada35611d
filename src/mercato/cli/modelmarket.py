"""``mercato modelmarket ...``: the model market (Golden Grain, P4) from the shell.

An MLaaS provider (the buyer) posts a request with a hidden test set and a price schedule;
model developers (sellers) submit committed models; drawn compute providers (executors)
benchmark them; the best are bought in a fair swap. Anyone reads the requests (``list``,
``show``) and moves one on when its time has come (``advance``).
"""

from __future__ import annotations

from typing import Any

import typer

from mercato.cli import waiting
from mercato.cli.common import (
    MarketCall,
    add_withdraw_command,
    compact_ether,
    console,
    emit_json,
    market_command,
)
from mercato.errors import InputError
from mercato.protocols.modelmarket import views
from mercato.protocols.modelmarket.unit import UNIT

app = typer.Typer(
    help="Model market: MLaaS providers buy models priced by a hidden benchmark (P4).",
    no_args_is_help=True,
)

RequestArgument = typer.Argument(..., min=1, help="Request id (see `mercato modelmarket list`).")


def _record(call: MarketCall, request_id: int) -> dict[str, Any]:
    market = call.market()
    wrapper = market.model_market
    wrapper.check(request_id)
    return views.request_record(wrapper.request(request_id), wrapper.submissions(request_id))


@market_command(app, "list", acts=False)
def list_requests(call: MarketCall) -> None:
    """Every request with its status, sellers, executors and budget."""
    market = call.market()
    wrapper = market.model_market
    records = [views.request_record(wrapper.request(i)) for i in range(1, wrapper.count() + 1)]
    if call.json_output:
        emit_json(records)
        return
    if not records:
        console.print("no requests yet")
        return
    for r in records:
        console.print(
            f"request {r['request_id']}: {r['status']}, {r['sellers']} sellers, "
            f"{r['volunteers']} volunteers, k={r['k']}, "
            f"budget {compact_ether(int(r['escrowed']))} ETH"
        )


@market_command(app, "show", acts=False)
def show(call: MarketCall, request_id: int = RequestArgument) -> None:
    """One request: its terms, state and submissions."""
    record = _record(call, request_id)
    if call.json_output:
        emit_json(record)
        return
    console.print(
        f"request {request_id}: {record['status']}, buyer {record['buyer']}, k={record['k']}, "
        f"{record['executors']} executors"
    )
    for s in record["submissions"]:
        console.print(
            f"  seller {s['index']} {s['seller']}: {s['state']}, score {s['score']}, "
            f"price {compact_ether(int(s['price']))} ETH"
        )


@market_command(app, "advance")
def advance(call: MarketCall, request_id: int = RequestArgument) -> None:
    """Move a request on when its time has come (draws, deadlines)."""
    me = call.identity()
    market = call.market()
    wrapper = market.model_market
    wrapper.check(request_id)
    before = wrapper.request(request_id)
    if before.status.final:
        raise InputError(f"request {request_id} is {before.status.label}: nothing to advance")
    wrapper.advance(me.account, request_id)
    after = wrapper.request(request_id)
    if call.json_output:
        emit_json(views.request_record(after))
        return
    console.print(f"request {request_id}: {before.status.label} -> {after.status.label}")


add_withdraw_command(app, UNIT)
waiting.add_wait_command(app, UNIT)
