"""The whole P5 flow, from a model bought in P4 to paid API calls: what ``mercato demo`` runs
last.

The MLaaS provider of the P4 demo bought a torch MLP there (the model market runs first,
here too, on the same chain). It splits the model into its two layer blocks and registers an
API that points at the purchase, so consumers see the benchmarked score before paying.
Five compute providers hold the blocks, each as its own HTTP service (a separate process):
two hold the first block, three the second; vendor-5 returns wrong outputs. An orchestrator
(an HTTP service too) routes each call through a random replica of each block. Two hospitals
deposit and call; halfway, vendor-1's process is killed and the orchestrator fails over to
vendor-2 with identical outputs. The second hospital audits: it asks a few of its rows three
times, sees that one receipt of the second block disagrees with the others, and disputes
it; the other two replicas re-run the step, commit and reveal, and the majority slashes
vendor-5. After the epoch the orchestrator commits one batch of every step; after the
window the batch pays each vendor per step and the provider the rest; the API is released
and everyone withdraws.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mercato.agents.agent import Agent
from mercato.crypto.commit import keccak
from mercato.errors import ProtocolError
from mercato.protocols.apimarket import agents, provider
from mercato.protocols.apimarket.documents import Purchase
from mercato.protocols.apimarket.endpoints import bind, make_app
from mercato.protocols.apimarket.messages import signature_to_json
from mercato.protocols.apimarket.serving import (
    BackgroundServer,
    ChainReads,
    VendorProcess,
    document_for,
    endpoints_for,
    start_vendor_process,
    terms_for,
)
from mercato.protocols.apimarket.views import ApiStatus, DisputeState, Periods
from mercato.protocols.demo import Demo, DemoPart, Member
from mercato.protocols.modelmarket import scenario as model_market
from mercato.protocols.roles import Role
from mercato.user_files import secret_folder, write_secret

if TYPE_CHECKING:
    from mercato.chain.base import Chain
    from mercato.protocols.apimarket.consumer import ApiClient, CallResult
    from mercato.protocols.apimarket.endpoints import Transport
    from mercato.protocols.apimarket.orchestrator import Orchestrator
    from mercato.storage.base import BlobStore

ETHER = 10**18
EPOCH = 3600
PERIODS = Periods(join=EPOCH, epoch=EPOCH, window=EPOCH, response=600, term=EPOCH)
"""One epoch of calls; its batch is due an epoch later; a window of an epoch after that."""
OFFER = provider.ApiOffer(
    price=ETHER // 1000,
    shares=(3 * ETHER // 10_000, 3 * ETHER // 10_000),
    vendor_stake=ETHER // 20,
    orchestrator_stake=ETHER // 10,
    challenge_bond=ETHER // 1000,
    dispute_bond=2 * ETHER // 1000,
    periods=PERIODS,
)
"""0.001 ETH a call: 0.0003 to each block's vendor, 0.0004 to the provider."""
DEPOSIT = ETHER // 10
SEED = 5
ROWS_PER_CALL = 8
CALLS = {"hospital-1": 24, "hospital-2": 12}
KILL_AFTER = 10
"""vendor-1's process is killed after this many calls of the first hospital."""
AUDITED = 4
"""How many of its calls' rows the second hospital audits..."""
ASKS = 4
"""...by asking each this many times (a replica of each block is drawn at random each time)."""

PROVIDER = model_market.BUYER
ORCHESTRATOR = "orchestrator"
VENDORS = ("vendor-1", "vendor-2", "vendor-3", "vendor-4", "vendor-5")
SLOTS = {"vendor-1": 0, "vendor-2": 0, "vendor-3": 1, "vendor-4": 1, "vendor-5": 1}
CHEATER = "vendor-5"
KILLED = "vendor-1"
CONSUMERS = tuple(CALLS)
AUDITOR = "hospital-2"
CAST = (
    Member(PROVIDER, Role.CLIENT),
    Member(ORCHESTRATOR, Role.COMPUTE_PROVIDER),
    *(Member(name, Role.COMPUTE_PROVIDER) for name in VENDORS),
    *(Member(name, Role.CLIENT) for name in CONSUMERS),
)


@dataclass
class ApiMarketReport:
    """What the P5 demo did, for printing."""

    backend: str
    api_id: int = 0
    status: str = ""
    model: str = ""
    benchmarked: float = 0.0
    """The score the P4 executors agreed for the model, as the API's registration shows it."""
    slots: dict[str, int] = field(default_factory=dict)
    calls: dict[str, int] = field(default_factory=dict)
    failovers: int = 0
    accuracy_whole: float = 0.0
    accuracy_served: float = 0.0
    """Of the outputs the consumers received, against the rows' labels."""
    same_as_whole: float = 0.0
    """Fraction of served rows whose label is the whole model's."""
    batches: list[dict[str, int]] = field(default_factory=list)
    disputes: list[dict[str, Any]] = field(default_factory=list)
    withdrawn: dict[str, int] = field(default_factory=dict)
    transactions: int = 0
    seconds: float = 0.0


class ApiMarketDemo(Demo):
    """The P5 cast on a fresh market; vendors and the orchestrator serve over HTTP."""

    protocol = "apimarket"

    def __init__(self, chain: Chain, store: BlobStore, work_dir: Path) -> None:
        super().__init__(chain, store, work_dir, CAST)
        self.work_dir = work_dir
        self.vendors: dict[str, VendorProcess] = {}
        self.sock, self.url = bind("127.0.0.1", 0)
        self.server: BackgroundServer | None = None
        self.orchestrator: Orchestrator | None = None
        self.reads: ChainReads | None = None
        self.start_agents()

    def attach(self, agent: Agent, name: str) -> None:
        market, me = self.market, self.identities[name]
        if name == PROVIDER:
            agents.attach_provider(agent, market, me)
        elif name == ORCHESTRATOR:
            agents.attach_orchestrator(agent, market, me, lambda api: self.orchestrator)
        elif name in VENDORS:
            folder = self.work_dir / name
            journal = agents.journaled_steps(folder)
            agents.attach_vendor(agent, market, me, self._starter(name), journal, folder)
        else:
            agents.attach_consumer(agent, market, me, DEPOSIT)

    def _starter(self, name: str) -> agents.StartService:
        def start(api: int, slot: int, data: bytes) -> str:
            folder = secret_folder(self.work_dir / name, "vendor's folder")
            component = write_secret(folder / f"api-{api}-slot-{slot}.component", data)
            config = {
                "host": "127.0.0.1",
                "port": 0,
                "component": str(component),
                "component_hash": keccak(data).hex(),
                "key": bytes(self.identities[name].account.key).hex(),
                "terms": terms_for(self.market, api).to_json(),
                "journal": str(folder / f"api-{api}.journal"),
                "cheat": 1.0 if name == CHEATER else 0.0,
                "seed": SEED,
            }
            process = start_vendor_process(config, folder / f"api-{api}.json")
            self.vendors[name] = process
            return process.url

        return start

    def serve(
        self,
        api_id: int,
        *,
        orchestrator_class: type[Orchestrator] | None = None,
        transport: Transport | None = None,
    ) -> None:
        """Start the orchestrator's service on its bound socket, the API being live (again,
        from its journal, after a restart); a test may give another orchestrator class (a
        dishonest one) and transport."""
        from mercato.protocols.apimarket.orchestrator import Orchestrator

        me = self.identities[ORCHESTRATOR]
        if self.reads is None:
            self.reads = ChainReads(self.market, api_id, live=False)
            self.reads.refresh()
        self.orchestrator = (orchestrator_class or Orchestrator)(
            terms_for(self.market, api_id),
            bytes(me.account.key),
            endpoints_for(self.market, me, api_id),
            self.reads.balance,
            self.reads.now,
            self.work_dir / ORCHESTRATOR / f"api-{api_id}.journal",
            transport=transport,
            seed=SEED,
        )
        self.server = BackgroundServer(
            make_app(self.orchestrator.routes(), "mercato orchestrator"), self.sock
        )

    def client(self, name: str, api_id: int) -> ApiClient:
        from mercato.protocols.apimarket.consumer import ApiClient

        assert self.reads is not None
        key = bytes(self.identities[name].account.key)
        return ApiClient(self.url, key, terms_for(self.market, api_id), now=self.reads.now)

    def after(self, seconds: int) -> None:
        """Let chain time pass, then run the agents until idle."""
        self.recording.time_travel(seconds + 1)
        if self.reads is not None:
            self.reads.refresh()
        self.run_agents()

    def close(self) -> None:
        if self.server is not None:
            self.server.stop()
        else:
            self.sock.close()
        if self.orchestrator is not None:
            self.orchestrator.close()
        for process in self.vendors.values():
            process.stop()
        super().close()


def run_apimarket_demo(chain: Chain, store: BlobStore, work_dir: Path) -> ApiMarketReport:
    """Run the P5 flow on ``chain`` with the model the P4 demo sold on it (running P4 first if
    it has not run on this chain) and return what happened in P5."""
    started = time.perf_counter()
    sale = model_market.last_sale(chain)
    if sale is None or not all(Path(path).is_file() for path in sale.files.values()):
        sale = model_market.run_modelmarket_demo(chain, store, work_dir / "model-market")
    seller = max((n for n, s in sale.states.items() if s == "paid"), key=lambda n: sale.scores[n])
    model_bytes = Path(sale.files[seller]).read_bytes()
    _, (rows, labels) = model_market.demo_split()
    with ApiMarketDemo(chain, store, work_dir / "api-market") as demo:
        report = ApiMarketReport(backend=demo.recording.backend)
        report.model = f"{model_market.MODEL_KINDS[seller]}, bought from {seller}"
        api_id, whole = _register(demo, sale, seller, model_bytes)
        demo.run_agents()  # vendors start their services and join; the orchestrator accepts
        if demo.wrapper.state(api_id) != "live":
            raise ProtocolError(f"the demo API is {demo.wrapper.state(api_id)}, not live")
        demo.serve(api_id)
        demo.run_agents()  # consumers deposit
        assert demo.reads is not None
        demo.reads.refresh()
        served = _calls(demo, api_id, rows, labels, report)
        report.accuracy_whole = float(
            np.mean(whole.predict(rows[: len(served)]) == labels[: len(served)])
        )
        report.accuracy_served = float(np.mean(served == labels[: len(served)]))
        report.same_as_whole = float(np.mean(served == whole.predict(rows[: len(served)])))
        demo.run_agents()  # the audit's dispute: the committee commits and reveals
        demo.after(PERIODS.response)  # reveals done or due: resolved
        demo.after(EPOCH)  # the epoch is over: its batch is committed
        demo.after(EPOCH + PERIODS.window)  # the window closed: paid, released, withdrawn
        demo.run_agents()
        demo.expect(api_id, "ended")
        _fill_report(report, demo, api_id)
    report.seconds = time.perf_counter() - started
    return report


def _register(
    demo: ApiMarketDemo, sale: model_market.ModelMarketReport, seller: str, model_bytes: bytes
) -> tuple[int, Any]:
    from mercato.crypto.fairswap import plain_root
    from mercato.ml.splitting import split
    from mercato.protocols.modelmarket.evaluation import load_model_bytes
    from mercato.protocols.modelmarket.market import ModelMarket

    mm = ModelMarket(demo.recording, sale.market)
    root = plain_root(model_bytes)
    index = next(
        s.index for s in mm.submissions(sale.request_id)
        if s.plain_root == root and mm.purchase(sale.request_id, s.index)[4]
    )  # fmt: skip
    from safetensors.numpy import load

    model = split(dict(load(model_bytes)), 2)
    document = provider.prepare(
        model, 64, classes=[str(d) for d in range(10)],
        purchase=Purchase(sale.market, sale.request_id, index), orchestrator_url=demo.url,
        description=f"handwritten digits: {model_market.MODEL_KINDS[seller]}",
    )  # fmt: skip
    slots = [(demo.identities[name].address, component) for name, component in SLOTS.items()]
    api_id, _, _ = provider.register_api(
        demo.market, demo.identities[PROVIDER], model, document, slots,
        demo.identities[ORCHESTRATOR].address, OFFER,
    )  # fmt: skip
    return api_id, load_model_bytes(model_bytes)


def _calls(
    demo: ApiMarketDemo, api_id: int, rows: Any, labels: Any, report: ApiMarketReport
) -> Any:
    """The consumers' calls (vendor-1 killed midway) and the auditor's repeated asks; the
    labels served, row by row, for the rows of the counted calls."""
    served: list[Any] = []
    offset = 0
    for name in CONSUMERS:
        client = demo.client(name, api_id)
        for number in range(CALLS[name]):
            if name == CONSUMERS[0] and number == KILL_AFTER:
                demo.vendors[KILLED].kill()
            batch = rows[offset : offset + ROWS_PER_CALL]
            served.extend(np.asarray(client.call(batch).output).tolist())
            offset += ROWS_PER_CALL
        report.calls[name] = CALLS[name]
        if name == AUDITOR:
            _audit(demo, client, rows[: AUDITED * ROWS_PER_CALL], report)
    assert demo.orchestrator is not None
    report.failovers = int(demo.orchestrator.stats({})["failovers"])
    return np.asarray(served)


def _audit(demo: ApiMarketDemo, client: ApiClient, rows: Any, report: ApiMarketReport) -> None:
    """Ask each audited batch of rows :data:`ASKS` times; where most replicas of a component
    gave one output for the same input (one vote per replica), dispute each replica that
    gave another."""
    asked: list[CallResult] = []
    for start in range(0, len(rows), ROWS_PER_CALL):
        for _ in range(ASKS):
            asked.append(client.call(rows[start : start + ROWS_PER_CALL]))
    report.calls[AUDITOR] += len(asked)
    answers: dict[tuple[int, bytes], dict[int, Any]] = {}
    for result in asked:
        for step in result.steps:
            key = (step.receipt.component, step.receipt.hash_in)
            answers.setdefault(key, {})[step.receipt.slot] = step
    document = document_for(demo.market, client.terms.api)
    ctx = demo.agents[AUDITOR].context
    contested: set[int] = set()
    for (component, _), by_slot in answers.items():
        needed = len(client.terms.replicas(component)) // 2 + 1
        votes = Counter(step.receipt.hash_out for step in by_slot.values())
        majority, count = votes.most_common(1)[0]
        if count < needed:
            continue  # not enough replicas seen to know which output is right
        for slot, step in by_slot.items():
            if step.receipt.hash_out != majority and slot not in contested:
                contested.add(slot)  # one dispute per liar is enough
                agents.contest(ctx, step.receipt, signature_to_json(step.receipt_sig),
                               document.component_proof(component))  # fmt: skip


def _fill_report(report: ApiMarketReport, demo: ApiMarketDemo, api_id: int) -> None:
    am, names = demo.market.api_market, demo.names
    report.api_id = api_id
    report.status = am.api(api_id).status.label
    shown = am.first("PurchaseShown", api=api_id)
    report.benchmarked = int(shown["score"]) / 1_000_000
    report.slots = dict(SLOTS)
    for event in am.events("BatchCommitted", api=api_id):
        report.batches.append({
            "epoch": int(event["epoch"]),
            "calls": sum(int(c) for c in event["calls"]),
            "steps": sum(int(s) for s in event["steps"]),
            "total": int(event["total"]),
        })  # fmt: skip
    slots = am.slots(api_id)
    for event in am.events("DisputeResolved", api=api_id):
        dispute = am.dispute_of(int(event["dispute_id"]))
        slashed = int(event["slashed"])
        report.disputes.append({
            "accused": names.get(slots[dispute.slot].vendor, slots[dispute.slot].vendor),
            "by": names.get(dispute.consumer, dispute.consumer),
            "outcome": DisputeState(int(event["state"])).label,
            "slashed": [names[slots[v].vendor] for v in range(len(slots)) if slashed >> v & 1],
            "to_consumer": int(event["to_consumer"]),
        })  # fmt: skip
    report.withdrawn = demo.withdrawn()
    report.transactions = demo.transactions
    if am.api(api_id).status is not ApiStatus.ENDED:
        raise ProtocolError("the demo API did not end")


DEMO = DemoPart(
    key="apimarket",
    running="the API market",
    run=run_apimarket_demo,
    text="mercato.cli.demo_apimarket:print_report",
)
