"""A whole `mercato demo` (P1 to P5 on the embedded chain) as the command reports it and as an
outsider sees it.

The command's JSON report holds what each protocol did. Nothing local goes on chain: no path,
bucket, host or URL in any transaction or log. Every log decodes with nothing but the ABI files
published beside the deployment file: eth_abi and eth_utils, no wrapper of Mercato's. What
never goes on chain in P4: after its whole flow (a cheater caught, a lazy executor slashed),
no transaction's input and no log holds a hidden test group, its salt or its rows, or any model
file; a seller's key appears only once it is revealed, after the tally, and a losing seller's
key never. The secrets are read back from the P4 participants' own agent stores after the run:
the buyer's hidden test set (salts included), each seller's key, model and delivered copy.

One run of the command on the embedded chain (tests/conftest.py's ``demo_run``, shared with the
HTTP API's tests) serves every test but the one on a node (the demo is the longest test there
is).
"""

from __future__ import annotations

import json
import logging
import re
import socket
import tempfile
from collections.abc import Iterator
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from eth_abi.abi import decode
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from typer.testing import CliRunner

from mercato.agents.store import AgentStore
from mercato.chain import RpcChain
from mercato.chain.accounts import DEV_MNEMONIC, dev_accounts
from mercato.cli import demo as demo_command
from mercato.cli.app import app
from mercato.crypto.fairswap import CHUNK_SIZE, KEY_SIZE, commit_model
from mercato.protocols.apimarket import scenario as apimarket_scenario
from mercato.protocols.identity import Identity
from mercato.protocols.modelmarket import agents, history
from mercato.protocols.modelmarket import scenario as modelmarket_scenario
from mercato.protocols.modelmarket.documents import SALT_SIZE, HiddenTestSet, read_group
from mercato.protocols.modelmarket.market import ModelMarket
from mercato.protocols.modelmarket.scenario import BUYER, SELLERS, ModelMarketReport
from mercato.protocols.modelmarket.seller import Offer

from .demo_run import SCENARIOS, BlockTap, DemoRun

DEV_ACCOUNTS_SCANNED = 40
"""Development accounts whose keys the scan looks for (the demo's casts use fewer)."""
MIN_SECRET_HEX = 32
MAX_SECRET_HEX = 64
"""A long secret (private weights) is looked for by its first 32 bytes."""
TEXT_RUN = re.compile(rb"[\x20-\x7e]{4,}")
"""Printable ASCII stretches: where a host name leaked in a URL or a path would sit."""


# the command's report ------------------------------------------------------------------


def check_report(report: dict[str, object]) -> None:
    assert report["status"] == "confirmed"
    winners = report["winners"]
    assert isinstance(winners, dict)
    assert {w["provider"] for w in winners.values()} == {
        "digits-lab", "linear-labs", "enclave-cloud"
    }  # fmt: skip
    metrics = report["metrics"]
    assert isinstance(metrics, dict) and metrics["accuracy"] >= 0.9
    withdrawn = report["withdrawn"]
    assert isinstance(withdrawn, dict)
    prices = sum(w["price"] for w in winners.values())
    assert withdrawn["client"] == 3 * 10**18 - prices  # the unspent reserve came back
    gas = report["gas"]
    assert isinstance(gas, dict) and {"create_auction", "bid", "adjudicate", "confirm"} <= set(gas)
    check_training(report["training"])
    check_datamarket(report["datamarket"])
    check_apimarket(report["apimarket"])


def check_training(training: object) -> None:
    assert isinstance(training, dict)
    assert training["status"] == "completed"
    rounds = training["rounds"]
    assert [r["round"] for r in rounds] == [1, 2, 3, 4, 5, 6]
    # the lazy compute provider is caught, and each of its instances once only (a
    # reported instance gets no more jobs)
    frauds = training["frauds"]
    assert frauds and {fraud["co"] for fraud in frauds} == {"lazy-cloud"}
    instances = [fraud["instance"] for fraud in frauds]
    assert len(set(instances)) == len(instances)
    assert sorted(i for r in rounds for i in r["outvoted"]) == sorted(instances)
    # 6 short rounds over random draws of 3 skewed subsets: 1 to 4 points below centralised
    # (the benchmark's longer run is the 2-point comparison)
    assert rounds[-1]["accuracy"] >= 0.9
    assert rounds[-1]["accuracy"] >= training["centralised_accuracy"] - 0.05
    withdrawn = training["withdrawn"]
    assert withdrawn.get("lazy-cloud", 0) == 0
    assert withdrawn["data-owner"] == 10**17  # the data price
    stakes = training["stakes"]
    assert stakes["lazy-cloud"] < stakes["north-cloud"]  # slashed


def check_datamarket(market: object) -> None:
    assert isinstance(market, dict)
    assert market["status"] == "finished" and market["mode"] == "robust"
    poisoners = set(market["poisoners"])
    rounds = market["rounds"]
    assert [r["round"] for r in rounds] == [1, 2, 3, 4, 5, 6]
    assert all(set(r["excluded"]) == poisoners for r in rounds)  # Multi-Krum, every round
    withdrawn = market["withdrawn"]
    assert not poisoners & set(withdrawn)
    assert len(withdrawn) == 8 and len(set(withdrawn.values())) == 1
    assert sum(withdrawn.values()) == market["reward"]  # excluded shares went to the kept
    assert market["accuracy_after"] >= market["accuracy_before"] + 0.1


def check_apimarket(api: object) -> None:
    from mercato.protocols.apimarket import scenario

    assert isinstance(api, dict)
    assert api["status"] == "ended"
    assert api["benchmarked"] >= 0.9  # the P4 executors' score, shown by the registration
    calls = sum(api["calls"].values())
    # one batch of every call: two steps each (two layer blocks), each charged the price
    assert api["batches"] == [
        {"epoch": 0, "calls": calls, "steps": 2 * calls, "total": calls * scenario.OFFER.price}
    ]
    assert api["failovers"] >= 1  # vendor-1 was killed
    # the audit caught the cheater, and only it; the committee slashed it
    (dispute,) = api["disputes"]
    assert (dispute["accused"], dispute["outcome"], dispute["slashed"]) == (
        "vendor-5", "liar", ["vendor-5"]
    )  # fmt: skip
    withdrawn = api["withdrawn"]
    price, shares = scenario.OFFER.price, sum(scenario.OFFER.shares)
    assert withdrawn["hospital-1"] == scenario.DEPOSIT - api["calls"]["hospital-1"] * price
    assert withdrawn["hospital-2"] == (
        scenario.DEPOSIT - api["calls"]["hospital-2"] * price + dispute["to_consumer"]
    )
    assert withdrawn["mlaas-provider"] == calls * (price - shares)
    assert withdrawn["orchestrator"] == scenario.OFFER.orchestrator_stake
    assert withdrawn["vendor-5"] < scenario.OFFER.vendor_stake  # its stake is gone
    assert api["same_as_whole"] < 1.0 and api["accuracy_whole"] >= 0.9


def test_the_demo_command_reports_every_protocol(demo_run: DemoRun) -> None:
    # act: the command ran in the fixture
    report = json.loads(demo_run.command.stdout)

    # assert
    assert report["backend"] == "embedded"
    check_report(report)


@pytest.mark.rpc
def test_demo_on_a_node(
    rpc_chain: RpcChain,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # prepare: the command's work folder kept for the scan, every log line captured
    folder = SimpleNamespace(TemporaryDirectory=lambda **_: nullcontext(str(tmp_path)))
    monkeypatch.setattr(demo_command, "tempfile", folder)
    caplog.set_level(logging.DEBUG)

    # act
    result = CliRunner().invoke(
        app, ["demo", "--backend", "rpc", "--rpc-url", rpc_chain.url, "--json"]
    )

    # assert: the report, then no secret anywhere the demo wrote words, files 0600
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["backend"] == "rpc"
    check_report(report)
    said = [result.stdout, result.stderr, caplog.text]
    said += [p.read_text(errors="replace") for p in tmp_path.rglob("*.log")]
    secrets = demo_secrets(tmp_path)
    check_no_secret_said("\n".join(said), secrets)
    with pytest.raises(AssertionError):  # the scan would see a secret that leaked
        check_no_secret_said(f"{said[0]} 0x{min(secrets).upper()}", secrets)
    check_secret_files_private(tmp_path)


PUBLIC_FILES = ("deployment.json", ".log")
"""What a demo's work folder holds that is no secret (besides the ABI files and the blobs,
which are public or sealed)."""
SECRET_FIELDS = ("key", "salt", "secret", "private", "share", "mask", "seed")


def demo_secrets(work: Path) -> set[str]:
    """Every secret of the demo: each account's private key and the keys derived from it
    (sealing key, secure-aggregation root), and each secret its agents keep in their stores
    (sellers' keys, executors' salts, private weights)."""
    accounts = dev_accounts(DEV_ACCOUNTS_SCANNED)
    secrets = {bytes(a.key).hex() for a in accounts}
    for account in accounts:
        identity = Identity(account)
        secrets |= {identity.encryption_private.hex(), identity.secagg_secret.hex()}
    for path in work.rglob("*.sqlite"):
        with AgentStore(path) as store:
            rows = store._conn.execute("SELECT key, value FROM kv").fetchall()
        for key, value in rows:
            secrets |= set(secret_values(json.loads(value), secret=key.split(":")[0]))
    return {s for s in secrets if len(s) >= MIN_SECRET_HEX}


def secret_values(value: object, secret: str) -> list[str]:
    """Hex strings under a field whose name says it is secret."""
    named = any(word in secret.lower() for word in SECRET_FIELDS)
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in secret_values(v, f"{secret}.{k}")]
    if isinstance(value, list):
        return [s for v in value for s in secret_values(v, secret)]
    if isinstance(value, str) and named and re.fullmatch(r"(0x)?[0-9a-fA-F]+", value):
        return [value.lower().removeprefix("0x")[:MAX_SECRET_HEX]]
    return []


def check_no_secret_said(text: str, secrets: set[str]) -> None:
    lowered = text.lower()
    assert DEV_MNEMONIC not in lowered
    assert len(secrets) > 2 * DEV_ACCOUNTS_SCANNED
    leaked = sorted(s[:12] + ".." for s in secrets if s in lowered)
    assert leaked == [], leaked


def check_secret_files_private(work: Path) -> None:
    files = [p for p in work.rglob("*") if p.is_file()]
    public = {"abi", "blobs"}
    secret = [
        p
        for p in files
        if not p.name.endswith(PUBLIC_FILES) and not public & set(p.relative_to(work).parts)
    ]
    assert len(secret) > 40  # every agent store, state file, component, journal
    readable = sorted(str(p.relative_to(work)) for p in secret if p.stat().st_mode & 0o077)
    assert readable == []
    folders = {p.parent for p in secret}
    listable = sorted(str(f.relative_to(work)) for f in folders if f.stat().st_mode & 0o077)
    assert listable == []


# nothing local on chain ---------------------------------------------------------------------


def local_markers(work: Path) -> list[str]:
    """What would say where a participant keeps its files or where its machine is."""
    markers = ["file://", "s3://", "/home/", "/root/", "/tmp/", "127.0.0.1", "localhost"]
    markers += ["http://", "https://", str(work), tempfile.gettempdir().rstrip("/") + "/"]
    if Path.home() != Path("/"):
        markers.append(str(Path.home()))
    return list(dict.fromkeys(markers))


def names_host(data: bytes, hostname: str) -> bool:
    """Whether ``hostname`` stands in printable text of ``data`` as a URL or an address
    names a host: after ``//`` or ``@``, or followed by ``:PORT``.

    A short name ("vm") turns up by chance in hashes and bytecode, even as a word of its own
    in a run of printable bytes; where a URL or an endpoint leaked, it has those marks.
    """
    host = re.escape(hostname)
    word = re.compile(rf"(?:(?://|@){host}(?![\w-])|(?<![\w.-]){host}:\d)".encode(), re.IGNORECASE)
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
    folder = demo_run.agents_dir(apimarket_scenario)
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


# nothing private of P4 on chain ------------------------------------------------------------

WINDOW = 32
STEP = 16
MIN_NONZERO = 8
"""Bytes of a window that must not be zero: a run of zeros (or one float) is everywhere."""


@dataclass(frozen=True)
class Run:
    """The chain after the demo, its model market, what the demo reported, and the secrets
    the participants kept."""

    chain: BlockTap
    mm: ModelMarket
    report: ModelMarketReport
    request_id: int
    tests: HiddenTestSet
    offers: dict[str, Offer]

    @property
    def sample(self) -> list[int]:
        return history.sample_indices(self.mm, self.request_id) or []

    def pieces(self) -> list[tuple[int, bytes]]:
        """Every transaction input and every log topic and data on chain, with its block."""
        logs = self.chain.logs()
        return [
            *self.chain.sent,
            *((log.block_number, topic) for log in logs for topic in log.topics),
            *((log.block_number, log.data) for log in logs),
        ]


@pytest.fixture(scope="module")
def run(demo_run: DemoRun) -> Run:
    """The demo's P4 part and the secrets its participants kept."""
    agents_dir = demo_run.agents_dir(modelmarket_scenario)
    report = demo_run.models
    request_id = report.request_id
    with AgentStore(agents_dir / f"{BUYER}.sqlite") as store:
        kept = store.get(BUYER, f"{agents.TEST_KEY}{request_id}")
        tests = HiddenTestSet.from_bytes(bytes.fromhex(kept))
    offers = {}
    for name in SELLERS:
        with AgentStore(agents_dir / f"{name}.sqlite") as store:
            offers[name] = Offer.from_record(store.get(name, f"{agents.OFFER_KEY}{request_id}"))
    deployment = demo_run.deployments[SCENARIOS.index(modelmarket_scenario)]
    market = ModelMarket(demo_run.chain, deployment.model_market)
    return Run(demo_run.chain, market, report, request_id, tests, offers)


def windows(secret: bytes) -> list[bytes]:
    """The 32-byte windows of ``secret``, one every 16 bytes, that are not mostly zeros."""
    found = (secret[i : i + WINDOW] for i in range(0, len(secret) - WINDOW + 1, STEP))
    return [w for w in found if sum(b != 0 for b in w) >= MIN_NONZERO]


def on_chain_windows(run: Run) -> set[bytes]:
    """Every 32-byte window of every input, topic and log data, at every offset."""
    return {
        piece[i : i + WINDOW] for _, piece in run.pieces() for i in range(len(piece) - WINDOW + 1)
    }


def test_the_run_is_the_demo(run: Run) -> None:
    assert run.report.status == "closed"
    assert run.report.complaints  # the cheater's bad chunk went on chain
    assert len(run.offers) == 4
    assert run.tests.root == run.mm.request(run.request_id).test_root
    assert len(run.chain.sent) == len(run.chain.calldata) >= run.report.transactions


def test_no_hidden_group_salt_or_row_goes_on_chain(run: Run) -> None:
    # prepare: the hidden groups, their salts, their rows as float32 and float64
    hidden = run.tests.hidden(run.sample)
    secrets: list[bytes] = []
    rows: list[bytes] = []
    for blob in hidden.values():
        secrets.append(blob)
        X, _ = read_group(blob)
        rows += [row.tobytes() for row in X] + [row.astype(np.float64).tobytes() for row in X]
    salts = [blob[:SALT_SIZE] for blob in hidden.values()]
    pieces = [w for secret in secrets + rows for w in windows(secret)]
    assert len(hidden) == 60 and len(pieces) > 10_000

    # act
    seen = on_chain_windows(run)
    everything = b"\0".join(piece for _, piece in run.pieces())

    # assert: nothing of them; not even the hidden groups' hashes (only the root and the
    # sample's hashes, which are the control that the scan reads the logs)
    assert not [w.hex() for w in pieces if w in seen]
    assert not [salt.hex() for salt in salts if salt in everything]
    assert not [row for row in rows if row in everything]
    assert not [i for i in hidden if run.tests.group_hash(i) in everything]
    assert all(run.tests.group_hash(i) in everything for i in run.sample)
    assert run.tests.root in everything


def test_no_model_file_goes_on_chain(run: Run) -> None:
    # prepare: every model benchmarked, and the cheater's corrupted copy
    files = {offer.model for offer in run.offers.values()}
    files |= {offer.delivered for offer in run.offers.values()}
    assert len(files) == 5
    pieces = [w for data in files for w in windows(data)]
    assert len(pieces) > 1_000

    # act
    seen = on_chain_windows(run)

    # assert: no window of any model; the control: the encrypted chunk the buyer's complaint
    # carried is on chain and is found the same way
    assert not [w.hex() for w in pieces if w in seen]
    complained = run.mm.first("Complained", request_id=run.request_id)
    cheater = next(o for o in run.offers.values() if o.index == int(complained["index"]))
    delivery_windows = [
        w for w in windows(_encrypted_chunk(run, cheater, int(complained["chunk"]))) if w in seen
    ]
    assert len(delivery_windows) > 32


def _encrypted_chunk(run: Run, offer: Offer, chunk: int) -> bytes:
    _, delivery = commit_model(offer.delivered, offer.key)
    encrypted = delivery.encrypted[chunk]
    assert len(encrypted) == CHUNK_SIZE
    return encrypted


def test_a_key_goes_on_chain_only_when_revealed_after_the_tally(run: Run) -> None:
    # prepare
    tallied = run.mm.first("Tallied", request_id=run.request_id).block_number
    revealed = {
        int(e["index"]): e.block_number
        for e in run.mm.events("KeyRevealed", request_id=run.request_id)
    }
    assert len(revealed) == 2  # the two winners; the others lost
    pieces = run.pieces()

    # act / assert
    for name, offer in run.offers.items():
        assert len(offer.key) == KEY_SIZE
        blocks = sorted(block for block, piece in pieces if offer.key in piece)
        if offer.index in revealed:
            assert tallied < revealed[offer.index] == blocks[0], name
            assert len(blocks) >= 2, name  # reveal_key's input and the KeyRevealed log
        else:
            assert blocks == [], name
