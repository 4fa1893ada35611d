"""A whole `mercato demo` (P1 to P5 on the embedded chain) as an outsider sees it.

Nothing local goes on chain: no path, bucket, host or URL in any transaction or log. Every log
decodes with nothing but the ABI files published beside the deployment file: eth_abi and
eth_utils, no wrapper of Mercato's. One run serves the whole module.
"""

from __future__ import annotations

import json
import re
import socket
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from eth_abi.abi import decode
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from mercato.protocols import demo as demo_harness
from mercato.protocols import deployment as deployment_module
from mercato.protocols.apimarket.scenario import ApiMarketReport, run_apimarket_demo
from mercato.protocols.auction.scenario import AuctionReport, run_auction_demo
from mercato.protocols.datamarket.scenario import DataMarketReport, run_datamarket_demo
from mercato.protocols.modelmarket.scenario import ModelMarketReport, run_modelmarket_demo
from mercato.protocols.training.scenario import TrainingReport, run_training_demo
from mercato.storage.base import BlobStore, open_store

from .onchain import TappedChain

TEXT_RUN = re.compile(rb"[\x20-\x7e]{4,}")
"""Printable ASCII stretches: where a host name leaked in a URL or a path would sit."""


@dataclass
class DemoRun:
    """The chain after the five demos, the deployment file of each and what each reported."""

    chain: TappedChain
    work: Path
    store: BlobStore
    deployment_files: list[Path]
    auction: AuctionReport
    training: TrainingReport
    market: DataMarketReport
    models: ModelMarketReport
    api: ApiMarketReport


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoRun]:
    """What `mercato demo` runs, on a tapped chain, each deployment saved as `deploy` saves it."""
    work = tmp_path_factory.mktemp("demo-on-chain")
    chain = TappedChain()
    store = open_store(str(work / "blobs"))  # a local folder, as `mercato demo` uses
    saved: list[Path] = []

    def deploy_and_save(*args: Any, **kwargs: Any) -> deployment_module.Deployment:
        deployment = deployment_module.deploy(*args, **kwargs)
        path = work / f"deployment-{len(saved) + 1}" / "deployment.json"
        deployment.save(path)
        saved.append(path)
        return deployment

    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setattr(demo_harness, "deploy", deploy_and_save)
        auction = run_auction_demo(chain, store, work / "agents")
        training = run_training_demo(chain, store, work / "training-agents")
        market = run_datamarket_demo(chain, store, work / "market-agents")
        models = run_modelmarket_demo(chain, store, work / "model-market-agents")
        api = run_apimarket_demo(chain, store, work / "api-market-agents")  # P4's model
    yield DemoRun(chain, work, store, saved, auction, training, market, models, api)
    chain.close()


# nothing local on chain ---------------------------------------------------------------------


def local_markers(work: Path) -> list[str]:
    """What would say where a participant keeps its files or where its machine is."""
    markers = ["file://", "s3://", "/home/", "/root/", "/tmp/", "127.0.0.1", "localhost"]
    markers += ["http://", "https://", str(work), tempfile.gettempdir().rstrip("/") + "/"]
    if Path.home() != Path("/"):
        markers.append(str(Path.home()))
    return list(dict.fromkeys(markers))


def names_host(data: bytes, hostname: str) -> bool:
    """Whether ``hostname`` stands as a word in printable text of ``data``.

    A short name ("vm") turns up by chance in hashes and bytecode; in text, bounded by
    anything but a letter, digit, dot or dash, it is the host.
    """
    word = re.compile(rf"(?<![\w.-]){re.escape(hostname)}(?![\w-])".encode(), re.IGNORECASE)
    return any(word.search(run) for run in TEXT_RUN.findall(data))


def test_no_path_bucket_host_or_url_goes_on_chain(demo_run: DemoRun) -> None:
    # prepare: the scan would catch where the store keeps a blob, and a URL naming this host
    markers = local_markers(demo_run.work)
    hostname = socket.gethostname()
    blob = demo_run.store.put(b"a blob of the run")
    assert any(marker in demo_run.store.uri(blob) for marker in markers)
    assert names_host(b"\x00\x13http://" + hostname.encode() + b":9000/blobs", hostname)

    # act: every transaction's input and every log's topics and data
    on_chain = demo_run.chain.everything()

    # assert
    assert len(demo_run.chain.calldata) > 300 and len(demo_run.chain.logs()) > 300
    found = [marker for marker in markers if marker.encode() in on_chain]
    assert not found
    assert not names_host(on_chain, hostname)


# every log decodes from the published ABI files alone -------------------------------------


def canonical_type(param: dict[str, Any]) -> str:
    """The type as an event signature spells it (tuples as their components)."""
    kind = str(param["type"])
    if kind.startswith("tuple"):
        inner = ",".join(canonical_type(c) for c in param["components"])
        return f"({inner}){kind.removeprefix('tuple')}"
    return kind


def events_by_topic(abi: list[dict[str, Any]]) -> dict[bytes, dict[str, Any]]:
    """Each event of ``abi`` under its topic 0: keccak256 of ``Name(type,...)``."""
    return {
        keccak(text=f"{item['name']}({','.join(canonical_type(p) for p in item['inputs'])})"): item
        for item in abi
        if item["type"] == "event"
    }


def decode_log(event: dict[str, Any], topics: tuple[bytes, ...], data: bytes) -> dict[str, Any]:
    """The arguments of ``event``: indexed ones from the topics, the others from the data."""
    indexed = [p for p in event["inputs"] if p["indexed"]]
    plain = [p for p in event["inputs"] if not p["indexed"]]
    values = decode([canonical_type(p) for p in plain], data)
    found = {p["name"]: value for p, value in zip(plain, values, strict=True)}
    for param, topic in zip(indexed, topics[1:], strict=True):  # no indexed string or array
        (found[param["name"]],) = decode([canonical_type(param)], topic)
    return found


@dataclass(frozen=True)
class Decoded:
    """One log, decoded: which deployment and contract emitted it, and the event."""

    deployment: int
    contract: str
    name: str
    args: dict[str, Any]


@pytest.fixture(scope="module")
def decoded(demo_run: DemoRun) -> list[Decoded]:
    """Every log of the run, decoded with the ABI files the deployment files name."""
    contracts: dict[str, tuple[int, str, dict[bytes, dict[str, Any]]]] = {}
    for number, path in enumerate(demo_run.deployment_files, start=1):
        payload = json.loads(path.read_text())
        for field, abi_file in payload["abi"].items():
            abi = json.loads((path.parent / abi_file).read_text())
            contracts[to_checksum_address(payload[field])] = (number, field, events_by_topic(abi))
    found = []
    for log in demo_run.chain.logs():
        number, field, events = contracts[to_checksum_address(log.address)]
        event = events[log.topics[0]]
        found.append(Decoded(number, field, event["name"], decode_log(event, log.topics, log.data)))
    return found


def of(decoded: list[Decoded], deployment: int, contract: str, name: str) -> list[dict[str, Any]]:
    return [
        d.args
        for d in decoded
        if (d.deployment, d.contract, d.name) == (deployment, contract, name)
    ]


def test_the_deployment_file_names_an_abi_file_for_each_contract(demo_run: DemoRun) -> None:
    # act
    payloads = [json.loads(path.read_text()) for path in demo_run.deployment_files]

    # assert: one deployment per demo (P5 serves the model P4 sold), every contract's ABI
    assert len(payloads) == 5
    for path, payload in zip(demo_run.deployment_files, payloads, strict=True):
        assert set(payload["abi"]) == {
            "registry", "auction_house", "training_market", "data_market", "model_market",
            "api_market",
        }  # fmt: skip
        assert all((path.parent / name).is_file() for name in payload["abi"].values())


def test_every_log_decodes_from_the_abi_files(demo_run: DemoRun, decoded: list[Decoded]) -> None:
    # act: the decoding happened in the fixture; a log it could not place would have failed it
    contracts = {(d.deployment, d.contract) for d in decoded}

    # assert: every protocol's contract spoke, and the registry of each demo
    assert len(decoded) == len(demo_run.chain.logs())
    spoke = {(1, "auction_house"), (2, "training_market"), (3, "data_market"), (4, "model_market"),
             (5, "api_market")}  # fmt: skip
    assert spoke <= contracts
    assert {(n, "registry") for n in range(1, 6)} <= contracts


def test_decoded_auction_logs_tell_what_the_auction_did(
    demo_run: DemoRun, decoded: list[Decoded]
) -> None:
    # prepare
    report = demo_run.auction

    # act
    names = [d.name for d in decoded if (d.deployment, d.contract) == (1, "auction_house")]
    (created,) = of(decoded, 1, "auction_house", "AuctionCreated")
    (adjudicated,) = of(decoded, 1, "auction_house", "Adjudicated")
    (delivered,) = of(decoded, 1, "auction_house", "Delivered")
    bids = of(decoded, 1, "auction_house", "BidPlaced")
    withdrawn = of(decoded, 1, "auction_house", "Withdrawn")

    # assert
    assert names[0] == "AuctionCreated" and "Confirmed" in names
    assert names.index("Adjudicated") < names.index("Delivered") < names.index("Confirmed")
    assert created["auction_id"] == report.auction_id
    assert list(created["max_prices"]) == list(report.max_prices)
    assert [b["amount"] for b in bids] == [amount for _, _, amount in report.bids]
    assert adjudicated["refund"] == report.refund
    assert list(adjudicated["prices"]) == [price for _, price in report.winners.values()]
    assert demo_run.store.has("0x" + delivered["sealed_hash"].hex())
    assert sum(w["amount"] for w in withdrawn) == sum(report.withdrawn.values())
    assert len(of(decoded, 1, "registry", "Registered")) == 9


def test_decoded_training_and_data_market_logs_tell_what_they_did(
    demo_run: DemoRun, decoded: list[Decoded]
) -> None:
    # prepare
    training, market = demo_run.training, demo_run.market

    # act
    (requested,) = of(decoded, 2, "training_market", "TrainingRequested")
    frauds = of(decoded, 2, "training_market", "FraudReported")
    rounds_done = of(decoded, 2, "training_market", "RoundDone")
    (posted,) = of(decoded, 3, "data_market", "TaskPosted")
    finalised = of(decoded, 3, "data_market", "RoundFinalised")
    paid = of(decoded, 3, "data_market", "Withdrawn")

    # assert
    assert requested["training_id"] == training.training_id
    assert [r["round"] for r in rounds_done] == [r.round for r in training.rounds]
    assert [(f["round"], f["instance_id"]) for f in frauds] == [
        (f.round, f.instance) for f in training.frauds
    ]
    assert len(of(decoded, 2, "training_market", "TrainingCompleted")) == 1
    assert posted["task_id"] == market.task_id
    assert [(r["round"], r["paid_each"]) for r in finalised] == [
        (r.round, r.paid_each) for r in market.rounds
    ]
    assert sum(w["amount"] for w in paid) == market.reward
    assert len(of(decoded, 3, "data_market", "TaskFinished")) == 1


def test_decoded_model_market_logs_tell_what_it_did(
    demo_run: DemoRun, decoded: list[Decoded]
) -> None:
    # prepare
    report = demo_run.models

    # act
    (posted,) = of(decoded, 4, "model_market", "RequestPosted")
    (tallied,) = of(decoded, 4, "model_market", "Tallied")
    complained = of(decoded, 4, "model_market", "Complained")
    paid = of(decoded, 4, "model_market", "Withdrawn")

    # assert: the agreed scores, the one complaint, and every wei escrowed or staked paid out
    assert posted["request_id"] == report.request_id
    assert [s / 10**6 for s in tallied["scores"]] == list(report.scores.values())
    assert [c["chunk"] for c in complained] == list(report.complaints.values())
    staked = sum(e["stake"] for e in of(decoded, 4, "model_market", "Submitted"))
    staked += sum(e["stake"] for e in of(decoded, 4, "model_market", "Volunteered"))
    assert sum(w["amount"] for w in paid) == posted["escrowed"] + staked
    assert len(of(decoded, 4, "model_market", "RequestEnded")) == 1


def test_decoded_api_market_logs_tell_what_it_did(
    demo_run: DemoRun, decoded: list[Decoded]
) -> None:
    # prepare
    report = demo_run.api

    # act
    (registered,) = of(decoded, 5, "api_market", "ApiRegistered")
    (shown,) = of(decoded, 5, "api_market", "PurchaseShown")
    batches = of(decoded, 5, "api_market", "BatchCommitted")
    (resolved,) = of(decoded, 5, "api_market", "DisputeResolved")
    deposited = sum(e["amount"] for e in of(decoded, 5, "api_market", "Deposited"))
    staked = sum(e["stake"] for e in of(decoded, 5, "api_market", "Joined"))
    staked += sum(e["stake"] for e in of(decoded, 5, "api_market", "Accepted"))
    bonds = sum(e["bond"] for e in of(decoded, 5, "api_market", "Disputed"))
    paid = sum(e["amount"] for e in of(decoded, 5, "api_market", "Withdrawn"))

    # assert: the API points at P4's sale, one batch holds every call, the cheater was
    # slashed, and every wei deposited, staked or bonded was paid out
    assert registered["api"] == report.api_id
    assert to_checksum_address(shown["model_market"]) == report_market(demo_run)
    assert [sum(b["calls"]) for b in batches] == [sum(report.calls.values())]
    assert resolved["slashed"] != 0
    assert paid == deposited + staked + bonds
    assert len(of(decoded, 5, "api_market", "ApiEnded")) == 1


def report_market(demo_run: DemoRun) -> str:
    return to_checksum_address(demo_run.models.market)


def private_arrays(entry: object) -> Iterator[bytes]:
    """The raw bytes of every array a service's journal entry carries (inputs, outputs)."""
    from mercato.protocols.apimarket.endpoints import from_b64
    from mercato.protocols.apimarket.messages import decode_array

    if isinstance(entry, dict):
        for key, value in entry.items():
            if key in ("input", "output") and isinstance(value, str):
                yield decode_array(from_b64(value, key)).tobytes()
            else:
                yield from private_arrays(value)
    elif isinstance(entry, list):
        for value in entry:
            yield from private_arrays(value)


def test_no_row_output_or_component_of_the_api_goes_on_chain(demo_run: DemoRun) -> None:
    # prepare: every step's input and output, from the services' journals, and every
    # component a vendor was given
    folder = demo_run.work / "api-market-agents"
    entries = [
        json.loads(line)
        for path in folder.rglob("*.journal")
        for line in path.read_text().splitlines()
    ]
    secrets = [data for entry in entries for data in private_arrays(entry)]
    assert len(secrets) > 2 * sum(demo_run.api.calls.values())
    components = [path.read_bytes() for path in folder.rglob("*.component")]
    assert components
    on_chain = demo_run.chain.everything()

    # act: 32-byte windows of each secret (not mostly zeros), looked for on chain
    leaked = [
        window
        for secret in [*secrets, *components]
        for start in range(0, max(len(secret) - 32, 0) + 1, 16)
        if len(window := secret[start : start + 32]) == 32 and sum(map(bool, window)) >= 8
        and window in on_chain
    ]  # fmt: skip

    # assert
    assert not leaked
