"""The whole P4 flow with one agent per participant: what ``mercato demo`` runs fourth.

An MLaaS provider wants a classifier of scikit-learn's handwritten digits. It keeps 640
labelled rows as a hidden test set (64 salted groups of 10, committed by their Merkle root)
and posts a request: the best two models scoring at least 0.70 are bought at a price that
grows with the score. Four developers hold other rows and offer different models: a
logistic regression, a torch MLP, a decision tree and a logistic regression trained on more
rows, whose developer delivers a corrupted copy of what it benchmarked. Three compute
providers volunteer as executors; one is lazy and never commits. The others benchmark every
model on the hidden groups, commit, reveal and agree; the lazy one loses its stake to them.
The winners reveal their keys; the buyer opens the honest model and proves the cheater's bad
chunk on chain, getting its price and stake back.
"""

from __future__ import annotations

import time
import weakref
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from mercato.agents.agent import Agent
from mercato.chain.base import Chain
from mercato.chain.contract import Event
from mercato.protocols.demo import Demo, DemoPart, Member
from mercato.protocols.modelmarket import agents, buyer
from mercato.protocols.modelmarket.documents import HiddenTestSet, TaskDocument
from mercato.protocols.modelmarket.views import Periods, SubmissionState, indices_of, score_fraction
from mercato.protocols.roles import Role
from mercato.storage.base import BlobStore

ETHER = 10**18
PERIOD = 3600
GROUPS = 64
GROUP_SIZE = 10
SAMPLE = 4
SCHEDULE = ((700_000, ETHER // 100), (850_000, 2 * ETHER // 100), (900_000, 3 * ETHER // 100),
            (950_000, 4 * ETHER // 100))  # fmt: skip
"""(score in ppm, price): 0.01 ETH from 0.70, 0.02 from 0.85, 0.03 from 0.90, 0.04 from 0.95."""
TERMS = buyer.RequestTerms(
    schedule=SCHEDULE,
    k=2,
    executors=3,
    seller_stake=ETHER // 100,
    executor_stake=ETHER // 200,
    executor_fee=ETHER // 1000,
    bond=ETHER // 50,
    periods=Periods(PERIOD, PERIOD, PERIOD, PERIOD, PERIOD, PERIOD),
)
SEED = 4
BUYER = "mlaas-provider"
SELLERS = ("developer-1", "developer-2", "developer-3", "developer-4")
CHEATER = "developer-4"
EXECUTORS = ("executor-1", "executor-2", "executor-3")
LAZY = "executor-3"
CAST = (
    Member(BUYER, Role.CLIENT),
    *(Member(name, Role.MODEL_OWNER) for name in SELLERS),
    *(Member(name, Role.COMPUTE_PROVIDER) for name in EXECUTORS),
)
MODEL_KINDS = {
    "developer-1": "logistic regression, 150 rows",
    "developer-2": "torch MLP, 400 rows",
    "developer-3": "decision tree, 400 rows",
    "developer-4": "logistic regression, 1,100 rows (delivers a corrupted copy)",
}


DEVELOPER_ROWS = 1150
"""The digits' first rows (shuffled) train the developers' models; the next 640 are the
buyer's hidden test set."""


def digits() -> tuple[NDArray[np.float32], NDArray[np.int64]]:
    """scikit-learn's digits, shuffled with the demo's seed."""
    from sklearn.datasets import load_digits

    data = load_digits()
    order = np.random.default_rng(SEED).permutation(len(data.target))
    return data.data[order].astype(np.float32), data.target[order].astype(np.int64)


def demo_split() -> tuple[
    tuple[NDArray[np.float32], NDArray[np.int64]], tuple[NDArray[np.float32], NDArray[np.int64]]
]:
    """(the developers' rows, the buyer's hidden rows) of the demo."""
    X, y = digits()
    hidden = slice(DEVELOPER_ROWS, DEVELOPER_ROWS + GROUPS * GROUP_SIZE)
    return (X[:DEVELOPER_ROWS], y[:DEVELOPER_ROWS]), (X[hidden], y[hidden])


def _torch_mlp(X: NDArray[np.float32], y: NDArray[np.int64]) -> bytes:
    """A Sequential(Linear, ReLU, Linear) trained with torch, as a safetensors state dict."""
    import torch
    from safetensors.torch import save

    torch.manual_seed(SEED)
    net = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 10))
    optimiser = torch.optim.Adam(net.parameters(), lr=0.01)
    inputs, labels = torch.from_numpy(X), torch.from_numpy(y)
    for _ in range(300):
        optimiser.zero_grad()
        loss = torch.nn.functional.cross_entropy(net(inputs), labels)
        loss.backward()  # type: ignore[no-untyped-call]
        optimiser.step()
    return save({k: v.detach().contiguous() for k, v in net.state_dict().items()})


def _skops(model: object) -> bytes:
    import skops.io

    return bytes(skops.io.dumps(model))


def seller_models(
    X: NDArray[np.float32], y: NDArray[np.int64]
) -> dict[str, tuple[bytes, bytes | None]]:
    """Each developer's model file (and the cheater's corrupted copy of its own)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.tree import DecisionTreeClassifier

    small = LogisticRegression(max_iter=3000).fit(X[:150], y[:150])
    tree = DecisionTreeClassifier(max_depth=8, random_state=SEED).fit(X[150:550], y[150:550])
    best = LogisticRegression(max_iter=3000).fit(X[:1100], y[:1100])
    honest = _skops(best)
    corrupted = bytearray(honest)
    middle = len(corrupted) // 2
    corrupted[middle : middle + 64] = bytes(64)  # weights zeroed: not what was benchmarked
    return {
        "developer-1": (_skops(small), None),
        "developer-2": (_torch_mlp(X[550:950], y[550:950]), None),
        "developer-3": (_skops(tree), None),
        "developer-4": (honest, bytes(corrupted)),
    }


@dataclass
class ModelMarketReport:
    """What the P4 demo did, for printing."""

    backend: str
    market: str = ""
    """The model market's address (P5's demo registers an API pointing at the sale)."""
    request_id: int = 0
    status: str = ""
    models: dict[str, str] = field(default_factory=dict)
    scores: dict[str, float] = field(default_factory=dict)
    states: dict[str, str] = field(default_factory=dict)
    prices: dict[str, int] = field(default_factory=dict)
    measured: dict[str, float] = field(default_factory=dict)
    """The buyer's own score of each model it took, on its hidden groups."""
    files: dict[str, str] = field(default_factory=dict)
    """Where the buyer keeps each model it took."""
    complaints: dict[str, int] = field(default_factory=dict)
    """Sellers caught delivering another model, and the chunk that proved it."""
    executors: dict[str, str] = field(default_factory=dict)
    """Each volunteer: agreed, slashed, or not drawn."""
    withdrawn: dict[str, int] = field(default_factory=dict)
    transactions: int = 0
    seconds: float = 0.0


class ModelMarketDemo(Demo):
    """The P4 cast on a fresh market, one agent each."""

    protocol = "modelmarket"

    def __init__(self, chain: Chain, store: BlobStore, work_dir: Path) -> None:
        super().__init__(chain, store, work_dir, CAST)
        self.work_dir = work_dir
        (X, y), (self.test_X, self.test_y) = demo_split()
        self.models = seller_models(X, y)
        self.start_agents()

    def attach(self, agent: Agent, name: str) -> None:
        market, me = self.market, self.identities[name]
        if name == BUYER:
            agents.attach_buyer(agent, market, me, self.work_dir / BUYER)
        elif name in SELLERS:
            chosen = self.models[name]

            def offer(event: Event) -> tuple[bytes, bytes | None]:
                return chosen

            agents.attach_seller(agent, market, me, 64, offer)
        else:
            agents.attach_executor(agent, market, me, lazy=name == LAZY)

    def after(self, seconds: int) -> None:
        """Let chain time pass, then run the agents until idle."""
        self.recording.time_travel(seconds + 1)
        self.run_agents()


_SALES: weakref.WeakKeyDictionary[Chain, ModelMarketReport] = weakref.WeakKeyDictionary()
"""The last P4 demo's report on each chain: P5's demo serves the model it sold."""


def last_sale(chain: Chain) -> ModelMarketReport | None:
    """What the P4 demo reported when it last ran on ``chain`` in this process, if it did."""
    return _SALES.get(chain)


def run_modelmarket_demo(chain: Chain, store: BlobStore, work_dir: Path) -> ModelMarketReport:
    """Run the P4 flow on ``chain`` and return what happened."""
    started = time.perf_counter()
    with ModelMarketDemo(chain, store, work_dir) as demo:
        document = TaskDocument(
            data_class="ex:HandwrittenDigits",
            task="ex:ImageClassification",
            features=64,
            classes=tuple(str(d) for d in range(10)),
            groups=GROUPS,
            group_size=GROUP_SIZE,
            sample=SAMPLE,
            description="8x8 handwritten digits, pixel intensities 0-16",
        )
        test_set = HiddenTestSet.cut(demo.test_X, demo.test_y, GROUPS, seed=SEED)
        request_id = buyer.post_request(
            demo.market, demo.identities[BUYER], document, test_set, TERMS
        )
        agents.follow_request(demo.agents[BUYER].context, request_id, test_set)
        demo.run_agents()  # sample drawn and revealed, submissions, volunteers
        demo.after(PERIOD)  # submissions close; executors drawn; sealed; benchmarked
        demo.after(PERIOD)  # the lazy executor's commit deadline; reveals; tally; keys
        demo.after(PERIOD)  # complaint windows over: sales settled, everyone withdraws
        demo.run_agents()
        demo.expect(request_id, "closed")
        report = ModelMarketReport(backend=demo.recording.backend, request_id=request_id)
        _fill_report(report, demo, request_id)
    report.seconds = time.perf_counter() - started
    _SALES[chain] = report
    return report


def _fill_report(report: ModelMarketReport, demo: ModelMarketDemo, request_id: int) -> None:
    mm, names = demo.market.model_market, demo.names
    report.market = mm.address
    report.status = mm.request(request_id).status.label
    for submission in mm.submissions(request_id):
        name = names[submission.seller]
        report.models[name] = MODEL_KINDS[name]
        report.scores[name] = score_fraction(submission.score)
        report.states[name] = submission.state.label
        if submission.state in (SubmissionState.PAID, SubmissionState.CHEATED):
            report.prices[name] = submission.price
    for event in mm.events("Complained", request_id=request_id):
        seller = mm.submission(request_id, int(event["index"])).seller
        report.complaints[names[seller]] = int(event["chunk"])
    bought = demo.stores[BUYER]
    for key in bought.keys(BUYER, f"{agents.BOUGHT_KEY}{request_id}:"):
        record = bought.get(BUYER, key)
        index = int(key.rsplit(":", 1)[1])
        if isinstance(record, dict) and "score" in record:
            seller = mm.submission(request_id, index).seller
            report.measured[names[seller]] = score_fraction(int(record["score"]))
            report.files[names[seller]] = str(record.get("path", ""))
    report.executors = _executors(demo, request_id, mm.events("Tallied", request_id=request_id))
    report.withdrawn = demo.withdrawn()
    report.transactions = demo.transactions


def _executors(demo: ModelMarketDemo, request_id: int, tallied: list[Event]) -> dict[str, str]:
    mm, names = demo.market.model_market, demo.names
    request = mm.request(request_id)
    agreed = int(tallied[0]["agreed"]) if tallied else 0
    said = {}
    for index, address in enumerate(mm.volunteers(request_id)):
        if index not in indices_of(request.drawn):
            said[names[address]] = "not drawn"
        elif agreed >> index & 1:
            said[names[address]] = "agreed with the majority"
        else:
            said[names[address]] = "slashed (silent or outvoted)"
    return said


DEMO = DemoPart(
    key="modelmarket",
    running="the model market",
    run=run_modelmarket_demo,
    text="mercato.cli.demo_modelmarket:print_report",
)
