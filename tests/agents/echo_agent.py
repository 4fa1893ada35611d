"""An agent process for test_outages_live.py: answers each Ping of an Emitter with one Pong
of the same amount, from development account ``ECHO_ACCOUNT``.

Run as ``python echo_agent.py RPC_URL EMITTER_ADDRESS ABI_JSON STORE``; it runs until SIGTERM
(or SIGKILL). The handler is idempotent as the agent runtime asks: it looks at the chain
first, so a Pong sent just before a crash is not sent again.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
from pathlib import Path

from mercato.agents import Agent, AgentContext, AgentStore
from mercato.agents.process import stop_on_signals
from mercato.chain.contract import ABI, Contract, Event
from mercato.chain.rpc import RpcChain

ECHO_ACCOUNT = 2
INTERVAL = 0.05


def main(url: str, address: str, abi_file: str, store_file: str) -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    chain = RpcChain(url)
    me = chain.dev_accounts(ECHO_ACCOUNT + 1)[ECHO_ACCOUNT]
    emitter = Contract(chain, address, ABI(json.loads(Path(abi_file).read_text())))
    agent = Agent("echo", chain, [emitter], AgentStore(Path(store_file)))

    @agent.on("Ping")
    def echo(event: Event, ctx: AgentContext) -> None:
        answered = emitter.events(name="Pong", sender=me.address)
        if any(pong["amount"] == event["amount"] for pong in answered):
            return
        emitter.transact("pong", event["amount"], sender=me)

    stop = threading.Event()
    with stop_on_signals(stop, agent.name):
        agent.run(stop, INTERVAL)


if __name__ == "__main__":
    main(*sys.argv[1:5])
