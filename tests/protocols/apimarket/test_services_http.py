"""P5's services as real processes: each vendor and the orchestrator under uvicorn on loopback.

A digits MLP split into 3 components (component 0 and 1 with two replicas each); every
service is started with ``python -m mercato.protocols.apimarket.<service> CONFIG`` on a free
port and stopped after the test. The consumer's client talks HTTP (requests).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from eth_account import Account
from numpy.typing import NDArray

from mercato.crypto.commit import keccak
from mercato.errors import MercatoError
from mercato.ml.splitting import SplitModel, model_root, split
from mercato.protocols.apimarket.consumer import (
    ApiClient,
    ask_input,
    reexecute,
    verify_call,
)
from mercato.protocols.apimarket.endpoints import (
    HttpTransport,
    seal_endpoint,
    to_b64,
)
from mercato.protocols.apimarket.messages import (
    Request,
    array_hash,
    encode_array,
    signature_to_json,
)
from mercato.protocols.apimarket.orchestrator import open_endpoints
from mercato.protocols.apimarket.terms import ApiTerms, Slot
from mercato.storage.envelope import public_key_of

pytestmark = pytest.mark.slow  # a handful of service processes per test

MARKET = "0x00000000000000000000000000000000000000bb"
START = 2_000_000
NOW = START + 5
PERIOD = 3_600
PRICE = 1_000
REPLICAS = {0: 2, 1: 2, 2: 1}


def key_of(name: str) -> bytes:
    return keccak(b"mercato/test/apimarket-http/" + name.encode())


def address_of(key: bytes) -> str:
    return str(Account.from_key(key).address)


@pytest.fixture(scope="module")
def digits() -> tuple[NDArray[Any], NDArray[Any]]:
    from sklearn.datasets import load_digits

    inputs, labels = load_digits(return_X_y=True)
    return np.asarray(inputs), np.asarray(labels)


@pytest.fixture(scope="module")
def mlp(digits: tuple[NDArray[Any], NDArray[Any]]) -> tuple[Any, SplitModel]:
    from sklearn.neural_network import MLPClassifier

    inputs, labels = digits
    model = MLPClassifier(hidden_layer_sizes=(32, 16), max_iter=300, random_state=0)
    model.fit(inputs[:900], labels[:900])
    return model, split(model, 3)


class Service:
    """One service process started from a config file; its URL is the first line it prints."""

    def __init__(self, module: str, config: dict[str, Any], path: Path) -> None:
        path.write_text(json.dumps(config))
        self.module, self.path = module, path
        self.process = subprocess.Popen(
            [sys.executable, "-m", f"mercato.protocols.apimarket.{module}", str(path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.url = ""

    def ready(self) -> Service:
        """Wait for the URL line (or the process's end, whose error is then shown)."""
        assert self.process.stdout is not None
        line = self.process.stdout.readline().strip()
        if not line.startswith("http://"):
            self.process.wait()
            stderr = self.process.stderr.read() if self.process.stderr else ""
            pytest.fail(f"{self.module} did not start: {stderr.strip()}")
        self.url = line
        return self

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()

    def kill(self) -> None:
        self.process.kill()
        self.process.wait()


class Cluster:
    """Vendors by slot and an orchestrator for one API, as separate processes."""

    def __init__(self, tmp: Path, split_model: SplitModel, cheat: dict[int, float]) -> None:
        self.tmp, self.split = tmp, split_model
        slots, self.vendor_keys = [], []
        for component, count in REPLICAS.items():
            for replica in range(count):
                key = key_of(f"vendor-{component}-{replica}")
                self.vendor_keys.append(key)
                slots.append(Slot(vendor=address_of(key), component=component))
        self.orchestrator_key, self.consumer_key = key_of("orchestrator"), key_of("consumer")
        self.terms = ApiTerms(
            market=MARKET,
            api=3,
            price=PRICE,
            shares=(100, 100, 100),
            slots=tuple(slots),
            orchestrator=address_of(self.orchestrator_key),
            components=3,
            flow="chain",
            subsets=False,
            epoch_start=START,
            epoch_period=PERIOD,
            model_root=model_root(split_model),
        )
        self.deposits = {address_of(self.consumer_key): 100 * PRICE}
        self.cheat = cheat
        self.vendors: dict[int, Service] = {}
        self.orchestrator: Service | None = None

    def vendor_config(self, slot: int, port: int = 0) -> dict[str, Any]:
        component = self.split.components[self.terms.slots[slot].component]
        data = component.to_bytes()
        path = self.tmp / f"component-{slot}.bin"
        path.write_bytes(data)
        return {
            "host": "127.0.0.1",
            "port": port,
            "component": str(path),
            "component_hash": "0x" + keccak(data).hex(),
            "key": "0x" + self.vendor_keys[slot].hex(),
            "terms": self.terms.to_json(),
            "journal": str(self.tmp / f"vendor-{slot}.jsonl"),
            "cheat": self.cheat.get(slot, 0.0),
        }

    def start(self) -> Cluster:
        started = {
            slot: Service("vendor", self.vendor_config(slot), self.tmp / f"vendor-{slot}.json")
            for slot in range(len(self.terms.slots))
        }
        self.vendors = {slot: service.ready() for slot, service in started.items()}
        self.start_orchestrator()
        return self

    def start_vendor(self, slot: int, port: int) -> Service:
        config = self.vendor_config(slot, port)
        self.vendors[slot] = Service("vendor", config, self.tmp / f"vendor-{slot}.json").ready()
        return self.vendors[slot]

    def start_orchestrator(self) -> Service:
        # each vendor seals its URL to the orchestrator; the orchestrator opens the blobs
        public = public_key_of(self.orchestrator_key)
        blobs = {slot: seal_endpoint(v.url, public) for slot, v in self.vendors.items()}
        endpoints = open_endpoints(blobs, self.orchestrator_key)
        config = {
            "host": "127.0.0.1",
            "port": 0,
            "key": "0x" + self.orchestrator_key.hex(),
            "terms": self.terms.to_json(),
            "endpoints": {str(slot): url for slot, url in endpoints.items()},
            "deposits": self.deposits,
            "journal": str(self.tmp / "orchestrator.jsonl"),
            "now": NOW,
        }
        self.orchestrator = Service("orchestrator", config, self.tmp / "orchestrator.json").ready()
        return self.orchestrator

    def client(self) -> ApiClient:
        assert self.orchestrator is not None
        return ApiClient(self.orchestrator.url, self.consumer_key, self.terms, now=lambda: NOW)

    def get(self, url: str, path: str) -> dict[str, Any]:
        return HttpTransport().request("GET", url, path).unwrap()

    def stop(self) -> None:
        for service in [*self.vendors.values(), self.orchestrator]:
            if service is not None:
                service.stop()


@pytest.fixture
def cluster(tmp_path: Path, mlp: tuple[Any, SplitModel]) -> Iterator[Cluster]:
    started = Cluster(tmp_path, mlp[1], cheat={}).start()
    yield started
    started.stop()


def test_calls_over_http_predict_as_the_whole_model_with_verified_receipts(
    cluster: Cluster, mlp: tuple[Any, SplitModel], digits: tuple[NDArray[Any], NDArray[Any]]
) -> None:
    model, _ = mlp
    client = cluster.client()
    batches = [digits[0][start : start + 25] for start in range(1000, 1100, 25)]

    results = [client.call(rows) for rows in batches]

    for rows, result in zip(batches, results, strict=True):
        assert np.array_equal(result.output, model.predict(rows))
        verify_call(cluster.terms, result.request, result.output, result.steps)
    assert [result.request.seq for result in results] == [1, 2, 3, 4]
    assert cluster.orchestrator is not None
    stats = cluster.get(cluster.orchestrator.url, "/stats")
    assert (stats["calls"], stats["steps"], stats["acks"]) == (4, 12, 4)


def test_a_cheating_vendor_over_http_is_contradicted_by_its_replica(
    tmp_path: Path, mlp: tuple[Any, SplitModel], digits: tuple[NDArray[Any], NDArray[Any]]
) -> None:
    cheat_slot, honest_slot = 2, 3  # the two replicas of component 1
    cluster = Cluster(tmp_path, mlp[1], cheat={cheat_slot: 1.0}).start()
    try:
        client = cluster.client()
        for start in range(0, 400, 10):  # until a call went through the cheat (1/2 a call)
            result = client.call(digits[0][start : start + 10])
            if result.step(1).receipt.slot == cheat_slot:
                break
        step = result.step(1)
        assert step.receipt.slot == cheat_slot
        assert cluster.orchestrator is not None
        transport = HttpTransport()

        rows = ask_input(
            transport,
            cluster.orchestrator.url,
            cluster.terms,
            step.receipt.hash_in,
            cluster.vendor_keys[honest_slot],
        )
        replica = reexecute(transport, cluster.vendors[honest_slot].url, step.receipt, rows)

        assert replica != step.receipt.hash_out
        assert replica == array_hash(mlp[1].components[1].run(rows))
    finally:
        cluster.stop()


def test_a_killed_vendor_fails_over_to_a_replica_with_identical_outputs(
    cluster: Cluster, mlp: tuple[Any, SplitModel], digits: tuple[NDArray[Any], NDArray[Any]]
) -> None:
    model, _ = mlp
    client = cluster.client()
    client.call(digits[0][:10])
    killed = 0  # a replica of component 0
    cluster.vendors[killed].kill()
    assert cluster.orchestrator is not None

    results = []
    for start in range(10, 400, 10):  # until the orchestrator tried the dead slot
        rows = digits[0][start : start + 10]
        results.append((client.call(rows), model.predict(rows)))
        if cluster.get(cluster.orchestrator.url, "/stats")["failovers"]:
            break

    stats = cluster.get(cluster.orchestrator.url, "/stats")
    assert stats["failovers"] == 1 and stats["down"] == [killed]
    for result, expected in results:
        assert np.array_equal(result.output, expected)
        assert result.step(0).receipt.slot == 1
    assert stats["calls"] == 1 + len(results)  # none failed, none charged twice


def test_restarted_services_continue_from_their_journals(
    cluster: Cluster, digits: tuple[NDArray[Any], NDArray[Any]]
) -> None:
    client = cluster.client()
    for start in (0, 10, 20):
        client.call(digits[0][start : start + 10])
    assert cluster.orchestrator is not None
    cluster.orchestrator.kill()
    port = int(cluster.vendors[4].url.rsplit(":", 1)[1])
    cluster.vendors[4].kill()  # the only vendor of component 2, back on its port
    cluster.start_vendor(4, port)
    orchestrator = cluster.start_orchestrator()
    client.url = orchestrator.url

    result = client.call(digits[0][30:40])

    assert result.request.seq == 4  # seqs 1..3 are in the restarted orchestrator's journal
    stats = cluster.get(orchestrator.url, "/stats")
    assert (stats["calls"], stats["steps"]) == (4, 12)
    vendor_steps = [cluster.get(v.url, "/health")["steps"] for v in cluster.vendors.values()]
    assert sum(vendor_steps) == 12  # every step ran once, across restarts
    assert cluster.get(cluster.vendors[4].url, "/health")["steps"] == 4


def test_bad_requests_over_http_get_a_4xx_with_one_line(
    cluster: Cluster, digits: tuple[NDArray[Any], NDArray[Any]]
) -> None:
    rows = digits[0][:3]
    consumer = address_of(cluster.consumer_key)
    assert cluster.orchestrator is not None
    transport = HttpTransport()

    def body(key: bytes, **changes: Any) -> dict[str, Any]:
        fields = dict(
            api=3, epoch=0, consumer=consumer, seq=1, input_hash=array_hash(rows), price=PRICE
        )
        request = Request(**{**fields, **changes})
        return {
            "request": request.to_json(),
            "request_sig": signature_to_json(request.sign(MARKET, key)),
            "input": to_b64(encode_array(rows)),
        }

    poor = key_of("poor")
    cases = {
        "bad signature": (body(key_of("mallory")), 403),
        "wrong seq": (body(cluster.consumer_key, seq=5), 409),
        "wrong epoch": (body(cluster.consumer_key, epoch=1), 409),
        "no deposit": (body(poor, consumer=address_of(poor)), 402),
        "malformed": ({"request": "x"}, 400),
    }
    for name, (payload, status) in cases.items():
        reply = transport.request("POST", cluster.orchestrator.url, "/call", payload)
        assert reply.status == status, (name, reply)
        assert reply.body["error"] and "\n" not in reply.body["error"], name
    import requests

    not_json = requests.post(cluster.orchestrator.url + "/call", data=b"{oops", timeout=30)
    assert not_json.status_code == 400 and "JSON" in not_json.json()["error"]
    with pytest.raises(MercatoError):
        transport.request("GET", cluster.orchestrator.url, "/nowhere").unwrap()
    assert cluster.client().call(rows).request.seq == 1


def test_a_vendor_with_a_wrong_hash_refuses_to_start_in_one_line(
    tmp_path: Path, mlp: tuple[Any, SplitModel]
) -> None:
    cluster = Cluster(tmp_path, mlp[1], cheat={})
    config = {**cluster.vendor_config(0), "component_hash": "0x" + "00" * 32}
    service = Service("vendor", config, tmp_path / "bad.json")

    code = service.process.wait()
    assert service.process.stderr is not None
    stderr = service.process.stderr.read().strip()
    service.stop()

    assert code == 1
    assert "refusing to start" in stderr and "\n" not in stderr
