"""P5's services in one process: vendors, orchestrator and consumer over the in-process transport.

The same routes as over HTTP (``test_services_http.py`` runs them as separate processes),
with real split models of digits: a chain (an MLP in blocks of layers), a combine flow (a
forest in groups of trees) and a route flow (a tree's top and subtrees).
"""

from __future__ import annotations

import base64
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from eth_account import Account
from numpy.typing import NDArray

from mercato.crypto.commit import keccak
from mercato.errors import InputError, IntegrityError, MercatoError, ProtocolError
from mercato.ml.splitting import SplitModel, model_root, split
from mercato.protocols.apimarket.agents import journaled_steps, rotate_finished_epochs
from mercato.protocols.apimarket.consumer import (
    ApiClient,
    StepEvidence,
    ask_input,
    reexecute,
    verify_call,
)
from mercato.protocols.apimarket.endpoints import (
    LocalTransport,
    Reply,
    Unreachable,
    dispatch,
    open_endpoint,
    seal_endpoint,
    to_b64,
)
from mercato.protocols.apimarket.journal import Journal, JournalReader, read_entries
from mercato.protocols.apimarket.messages import (
    Request,
    array_hash,
    decode_array,
    encode_array,
    signature_to_json,
)
from mercato.protocols.apimarket.orchestrator import Orchestrator, archive_of, open_endpoints
from mercato.protocols.apimarket.records import Batch
from mercato.protocols.apimarket.terms import ApiTerms, Slot
from mercato.protocols.apimarket.vendor import Vendor
from mercato.storage.envelope import public_key_of

MARKET = "0x00000000000000000000000000000000000000aa"
START = 1_000_000
PERIOD = 3_600
PRICE = 1_000
ROWS = 40


def key_of(name: str) -> bytes:
    """A fixed private key per party name."""
    return keccak(b"mercato/test/apimarket/" + name.encode())


def address_of(key: bytes) -> str:
    return str(Account.from_key(key).address)


@pytest.fixture(scope="module")
def digits() -> tuple[NDArray[Any], NDArray[Any]]:
    from sklearn.datasets import load_digits

    inputs, labels = load_digits(return_X_y=True)
    return np.asarray(inputs), np.asarray(labels)


@pytest.fixture(scope="module")
def models(digits: tuple[NDArray[Any], NDArray[Any]]) -> dict[str, tuple[Any, SplitModel]]:
    """Each flow's whole model and its split into 3 parts."""
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.neural_network import MLPClassifier
    from sklearn.tree import DecisionTreeClassifier

    inputs, labels = digits
    mlp = MLPClassifier(hidden_layer_sizes=(32, 16), max_iter=300, random_state=0)
    forest = RandomForestClassifier(n_estimators=9, max_depth=6, random_state=0)
    tree = DecisionTreeClassifier(max_depth=8, random_state=0)
    fitted = {
        "chain": mlp.fit(inputs[:900], labels[:900]),
        "combine": forest.fit(inputs[:900], labels[:900]),
        "route": tree.fit(inputs[:900], labels[:900]),
    }
    return {flow: (model, split(model, 3)) for flow, model in fitted.items()}


@dataclass
class World:
    """One API served in process: terms, vendors by slot, orchestrator, consumer's client."""

    tmp: Path
    split: SplitModel
    terms: ApiTerms
    vendor_keys: list[bytes]
    orchestrator_key: bytes
    consumer_key: bytes
    transport: LocalTransport
    vendors: dict[int, Vendor] = field(default_factory=dict)
    deposits: dict[str, int] = field(default_factory=dict)
    clock: list[int] = field(default_factory=lambda: [START + 10])
    orchestrator: Orchestrator | None = None

    def url(self, slot: int) -> str:
        return f"http://vendor-{slot}.test"

    def start_vendor(self, slot: int, **options: Any) -> Vendor:
        component = self.split.components[self.terms.slots[slot].component]
        data = component.to_bytes()
        vendor = Vendor(
            data,
            keccak(data),
            self.vendor_keys[slot],
            self.terms,
            self.tmp / f"vendor-{slot}.jsonl",
            **options,
        )
        self.vendors[slot] = vendor
        self.transport.services[self.url(slot)] = vendor.routes()
        return vendor

    def start_orchestrator(self, transport: Any = None, **options: Any) -> Orchestrator:
        if self.orchestrator is not None:
            self.orchestrator.journal.close()
        orchestrator = Orchestrator(
            self.terms,
            self.orchestrator_key,
            {slot: self.url(slot) for slot in range(len(self.terms.slots))},
            lambda consumer: self.deposits.get(consumer, 0),
            lambda: self.clock[0],
            self.tmp / "orchestrator.jsonl",
            transport=transport or self.transport,
            **options,
        )
        self.orchestrator = orchestrator
        self.transport.services["http://orchestrator.test"] = orchestrator.routes()
        return orchestrator

    def client(self, key: bytes | None = None) -> ApiClient:
        return ApiClient(
            "http://orchestrator.test",
            key or self.consumer_key,
            self.terms,
            now=lambda: self.clock[0],
            transport=self.transport,
        )


def make_world(
    tmp: Path, split_model: SplitModel, replicas: Mapping[int, int] | None = None, **terms: Any
) -> World:
    """Terms with ``replicas[j]`` slots for component j (1 by default), vendors started."""
    count = len(split_model.components)
    slots, keys = [], []
    for component in range(count):
        for replica in range((replicas or {}).get(component, 1)):
            key = key_of(f"vendor-{component}-{replica}")
            keys.append(key)
            slots.append(Slot(vendor=address_of(key), component=component))
    orchestrator_key, consumer_key = key_of("orchestrator"), key_of("consumer")
    api_terms = ApiTerms(
        market=MARKET,
        api=7,
        price=PRICE,
        shares=tuple(100 for _ in range(count)),
        slots=tuple(slots),
        orchestrator=address_of(orchestrator_key),
        components=count,
        flow=split_model.flow,
        subsets=terms.pop("subsets", False),
        epoch_start=START,
        epoch_period=PERIOD,
        model_root=model_root(split_model),
    )
    world = World(
        tmp, split_model, api_terms, keys, orchestrator_key, consumer_key, LocalTransport()
    )
    world.deposits[address_of(consumer_key)] = 100 * PRICE
    for slot in range(len(slots)):
        world.start_vendor(slot)
    world.start_orchestrator(seed=1)
    return world


@pytest.fixture
def chain_world(tmp_path: Path, models: dict[str, tuple[Any, SplitModel]]) -> Iterator[World]:
    world = make_world(tmp_path, models["chain"][1], {1: 2})
    yield world
    for vendor in world.vendors.values():
        vendor.close()


# --- calls give the whole model's predictions ------------------------------------------


@pytest.mark.parametrize("flow", ["chain", "combine", "route"])
def test_a_split_call_predicts_as_the_whole_model(
    flow: str,
    tmp_path: Path,
    models: dict[str, tuple[Any, SplitModel]],
    digits: tuple[NDArray[Any], NDArray[Any]],
) -> None:
    model, split_model = models[flow]
    world = make_world(tmp_path, split_model, {0: 2})
    rows = digits[0][1000 : 1000 + ROWS]
    client = world.client()

    results = [client.call(rows), client.call(rows[:7])]

    assert np.array_equal(results[0].output, model.predict(rows))
    assert np.array_equal(results[1].output, model.predict(rows[:7]))
    assert [result.request.seq for result in results] == [1, 2]
    for result in results:  # every receipt is its slot vendor's and the flow's
        verify_call(world.terms, result.request, result.output, result.steps)
    assert world.orchestrator is not None
    assert world.orchestrator.stats({})["calls"] == 2
    assert world.orchestrator.stats({})["acks"] == 2


def test_a_combine_flow_with_subsets_runs_a_non_empty_subset_then_the_combiner(
    tmp_path: Path,
    models: dict[str, tuple[Any, SplitModel]],
    digits: tuple[NDArray[Any], NDArray[Any]],
) -> None:
    _, split_model = models["combine"]
    world = make_world(tmp_path, split_model, subsets=True)
    rows = digits[0][1000 : 1000 + ROWS]
    client = world.client()

    results = [client.call(rows) for _ in range(8)]

    members_seen = set()
    for result in results:
        components = [step.receipt.component for step in result.steps]
        assert components[-1] == 3 and 1 <= len(components) - 1 <= 3
        members = components[:-1]
        members_seen.add(tuple(members))
        assert np.array_equal(result.output, split_model.predict(rows, groups=members))
    assert len(members_seen) > 1  # the subset is drawn per call


def test_the_batch_of_an_epoch_holds_one_record_per_step(
    chain_world: World, digits: tuple[NDArray[Any], NDArray[Any]]
) -> None:
    client = chain_world.client()
    other = chain_world.client(key_of("consumer-2"))
    chain_world.deposits[other.address] = 10 * PRICE
    for rows in (digits[0][:5], digits[0][5:9]):
        client.call(rows)
        other.call(rows)
    orchestrator = chain_world.orchestrator
    assert orchestrator is not None

    batch = Batch.build(orchestrator.records_for(0), len(chain_world.terms.slots))

    assert sorted(batch.calls) == [2, 2]
    assert sum(batch.steps) == 4 * 3
    assert orchestrator.records_for(1) == []


# --- evidence against a cheating vendor -----------------------------------------------------


def test_a_cheating_vendors_receipt_is_contradicted_by_a_replica(
    tmp_path: Path,
    models: dict[str, tuple[Any, SplitModel]],
    digits: tuple[NDArray[Any], NDArray[Any]],
) -> None:
    _, split_model = models["chain"]
    world = make_world(tmp_path, split_model, {1: 2})
    cheat_slot, honest_slot = world.terms.replicas(1)
    world.start_vendor(cheat_slot, cheat=1.0)
    orchestrator = world.start_orchestrator(seed=1)
    orchestrator.down.add(honest_slot)  # so the call goes to the cheat
    rows = digits[0][1000 : 1000 + ROWS]

    result = world.client().call(rows)

    step = result.step(1)
    assert step.receipt.slot == cheat_slot
    honest_key = world.vendor_keys[honest_slot]
    step_input = ask_input(
        world.transport, "http://orchestrator.test", world.terms, step.receipt.hash_in, honest_key
    )
    replica_hash = reexecute(world.transport, world.url(honest_slot), step.receipt, step_input)
    assert replica_hash != step.receipt.hash_out  # the signed receipt is contradicted
    component = split_model.components[1]
    assert replica_hash == array_hash(component.run(step_input))
    # the cheat's own receipt still verifies: it signed the wrong output
    verify_call(world.terms, result.request, result.output, result.steps)


def test_inputs_go_only_to_a_vendor_of_the_steps_component(
    chain_world: World, digits: tuple[NDArray[Any], NDArray[Any]]
) -> None:
    result = chain_world.client().call(digits[0][:5])
    hash_in = result.step(1).receipt.hash_in
    vendor_of_2 = chain_world.vendor_keys[chain_world.terms.replicas(2)[0]]

    for key in (vendor_of_2, key_of("stranger")):
        with pytest.raises(MercatoError) as refused:
            ask_input(
                chain_world.transport, "http://orchestrator.test", chain_world.terms, hash_in, key
            )
        assert "\n" not in str(refused.value)


# --- failover and restarts ------------------------------------------------------------------


def test_a_dead_vendor_fails_over_to_a_replica_with_identical_outputs(
    chain_world: World,
    models: dict[str, tuple[Any, SplitModel]],
    digits: tuple[NDArray[Any], NDArray[Any]],
) -> None:
    model, _ = models["chain"]
    dead, alive = chain_world.terms.replicas(1)
    chain_world.transport.down.add(chain_world.url(dead))
    client = chain_world.client()
    orchestrator = chain_world.orchestrator
    assert orchestrator is not None

    outputs = []
    for start in range(0, 400, 20):  # until the dead slot was picked (1/2 a call)
        rows = digits[0][start : start + 20]
        outputs.append((client.call(rows), model.predict(rows)))
        if orchestrator.failovers:
            break

    assert orchestrator.failovers == 1
    assert dead in orchestrator.down
    for result, expected in outputs:
        assert np.array_equal(result.output, expected)
        assert result.step(1).receipt.slot == alive
    stats = orchestrator.stats({})
    assert stats["failovers"] == 1 and stats["calls"] == len(outputs)


def test_every_replica_dead_is_a_503_and_the_seq_stays_free(
    chain_world: World, digits: tuple[NDArray[Any], NDArray[Any]]
) -> None:
    for slot in chain_world.terms.replicas(0):
        chain_world.transport.down.add(chain_world.url(slot))
    client = chain_world.client()

    with pytest.raises(ProtocolError, match="no live vendor for component 0"):
        client.call(digits[0][:3])
    chain_world.transport.down.clear()
    result = client.retry()

    assert result.request.seq == 1
    assert np.array_equal(result.output, chain_world.split.predict(digits[0][:3]))


class Crash(Exception):
    """Stands for the orchestrator's process dying."""


class CrashAfterStep:
    """A transport that delivers the n-th step to the vendor, then dies before the answer."""

    def __init__(self, inner: LocalTransport, at: int) -> None:
        self.inner, self.at, self.seen = inner, at, 0
        self.crashed_at = ""

    def request(
        self, method: str, url: str, path: str, body: Mapping[str, Any] | None = None
    ) -> Reply:
        reply = self.inner.request(method, url, path, body)
        if path == "/step":
            self.seen += 1
            if self.seen == self.at:
                self.crashed_at = url
                raise Crash("killed")
        return reply


def test_a_restarted_orchestrator_finishes_the_call_without_running_a_step_twice(
    chain_world: World, digits: tuple[NDArray[Any], NDArray[Any]]
) -> None:
    client = chain_world.client()
    first = client.call(digits[0][:6])
    crashing = CrashAfterStep(chain_world.transport, 2)
    chain_world.start_orchestrator(transport=crashing, seed=2)
    rows = digits[0][6:12]

    with pytest.raises(MercatoError):  # the crash reaches the client as a 500
        client.call(rows)
    restarted = chain_world.start_orchestrator(seed=3)
    crashed_slot = next(s for s in range(5) if chain_world.url(s) == crashing.crashed_at)
    restarted.down.add(crashed_slot)  # even so, its journaled step is asked of it first
    second = client.retry()

    assert second.request.seq == 2
    assert np.array_equal(second.output, chain_world.split.predict(rows))
    # the step the vendor answered before the crash is asked of that vendor again
    assert second.step(1).receipt.slot == crashed_slot
    ran = {slot: vendor.health({})["steps"] for slot, vendor in chain_world.vendors.items()}
    assert sum(ran.values()) == 2 * 3  # two calls of three steps, none run twice
    records = restarted.records_for(0)
    assert len(records) == 6
    assert {(r.seq, r.component) for r in records} == {(s, c) for s in (1, 2) for c in range(3)}
    assert restarted.stats({})["calls"] == 2
    assert first.output.shape == (6,)


def test_a_restarted_orchestrator_finishes_open_calls_for_the_batch_by_itself(
    chain_world: World, digits: tuple[NDArray[Any], NDArray[Any]]
) -> None:
    client = chain_world.client()
    crashing = CrashAfterStep(chain_world.transport, 2)
    chain_world.start_orchestrator(transport=crashing, seed=2)
    rows = digits[0][:6]
    with pytest.raises(MercatoError):
        client.call(rows)
    restarted = chain_world.start_orchestrator(seed=3)

    finished = restarted.finish_open_calls()
    records = restarted.records_for(0)
    result = client.retry()  # the consumer comes back later: the journaled answer

    assert finished == 1
    assert [(r.seq, r.component) for r in sorted(records, key=lambda r: r.component)] == [
        (1, 0),
        (1, 1),
        (1, 2),
    ]
    assert Batch.build(records, len(chain_world.terms.slots)).calls == [1]
    assert np.array_equal(result.output, chain_world.split.predict(rows))
    ran = [vendor.health({})["steps"] for vendor in chain_world.vendors.values()]
    assert sum(ran) == 3
    assert restarted.finish_open_calls() == 0


def test_a_restarted_orchestrator_replays_answers_and_refuses_a_used_seq(
    chain_world: World, digits: tuple[NDArray[Any], NDArray[Any]]
) -> None:
    client = chain_world.client()
    result = client.call(digits[0][:4])
    restarted = chain_world.start_orchestrator(seed=4)
    body = call_body(result.request, chain_world.consumer_key, digits[0][:4])

    replay = dispatch(restarted.routes(), "POST", "/call", body)
    other = Request(**{**vars(result.request), "input_hash": array_hash(digits[0][4:8])})
    reused = dispatch(
        restarted.routes(),
        "POST",
        "/call",
        call_body(other, chain_world.consumer_key, digits[0][4:8]),
    )
    after = client.call(digits[0][8:10])

    assert replay.status == 200
    assert replay.body["output_hash"] == "0x" + array_hash(result.output).hex()
    assert [step["receipt"] for step in replay.body["steps"]] == [
        step.receipt.to_json() for step in result.steps
    ]
    assert reused.status == 409 and "already made" in reused.body["error"]
    assert after.request.seq == 2
    assert restarted.stats({})["calls"] == 2


def test_a_vendor_replays_a_journaled_step_even_after_a_restart(
    chain_world: World, digits: tuple[NDArray[Any], NDArray[Any]]
) -> None:
    chain_world.start_vendor(0, cheat=0.5, seed=0)  # a rerun would likely differ
    recorder = RecordingTransport(chain_world.transport)
    chain_world.start_orchestrator(transport=recorder, seed=5)
    chain_world.client().call(digits[0][:5])
    _, _, body, first = next(item for item in recorder.sent if item[0] == "/step")
    restarted = chain_world.start_vendor(0, cheat=0.5, seed=1)

    again = dispatch(restarted.routes(), "POST", "/step", body)

    assert again.status == 200 and again.body == first.body
    assert restarted.health({})["steps"] == 1
    changed = {**body, "assignment": {**body["assignment"], "hash_in": "0x" + "11" * 32}}
    assert dispatch(restarted.routes(), "POST", "/step", changed).status == 403


class RecordingTransport:
    """Delivers requests and keeps (path, url, body, reply) of each."""

    def __init__(self, inner: LocalTransport) -> None:
        self.inner = inner
        self.sent: list[tuple[str, str, dict[str, Any], Reply]] = []

    def request(
        self, method: str, url: str, path: str, body: Mapping[str, Any] | None = None
    ) -> Reply:
        reply = self.inner.request(method, url, path, body)
        self.sent.append((path, url, dict(body or {}), reply))
        return reply


# --- bad requests ------------------------------------------------------------------------


def call_body(request: Request, key: bytes, rows: NDArray[Any]) -> dict[str, Any]:
    return {
        "request": request.to_json(),
        "request_sig": signature_to_json(request.sign(MARKET, key)),
        "input": to_b64(encode_array(rows)),
    }


def test_bad_requests_get_a_4xx_with_one_line(
    chain_world: World, digits: tuple[NDArray[Any], NDArray[Any]]
) -> None:
    rows = digits[0][:3]
    consumer = address_of(chain_world.consumer_key)
    orchestrator = chain_world.orchestrator
    assert orchestrator is not None
    routes = orchestrator.routes()

    def request(**changes: Any) -> Request:
        fields = dict(
            api=7, epoch=0, consumer=consumer, seq=1, input_hash=array_hash(rows), price=PRICE
        )
        return Request(**{**fields, **changes})

    poor = key_of("poor")
    chain_world.deposits[address_of(poor)] = PRICE - 1
    cases = {
        "bad signature": (call_body(request(), key_of("mallory"), rows), 403),
        "wrong seq": (call_body(request(seq=2), chain_world.consumer_key, rows), 409),
        "wrong epoch": (call_body(request(epoch=1), chain_world.consumer_key, rows), 409),
        "wrong price": (call_body(request(price=1), chain_world.consumer_key, rows), 400),
        "wrong input": (call_body(request(), chain_world.consumer_key, rows[:2]), 403),
        "deposit": (call_body(request(consumer=address_of(poor)), poor, rows), 402),
        "malformed": ({"request": {"api": 7}, "request_sig": "0x", "input": "!"}, 400),
        "missing": ({}, 400),
    }
    for name, (body, status) in cases.items():
        reply = dispatch(routes, "POST", "/call", body)
        assert reply.status == status, (name, reply)
        assert reply.body["error"] and "\n" not in reply.body["error"], name
    assert orchestrator.stats({})["calls"] == 0
    assert chain_world.client().call(rows).request.seq == 1  # nothing was taken


def test_the_deposit_must_cover_every_unsettled_call(
    chain_world: World, digits: tuple[NDArray[Any], NDArray[Any]]
) -> None:
    client = chain_world.client()
    chain_world.deposits[client.address] = 2 * PRICE
    client.call(digits[0][:2])
    client.call(digits[0][:2])

    with pytest.raises(ProtocolError, match="deposit"):
        client.call(digits[0][:2])
    orchestrator = chain_world.orchestrator
    assert orchestrator is not None
    orchestrator.mark_committed(0)  # the chain debited the two calls...
    chain_world.deposits[client.address] = PRICE  # ...from the deposit

    assert client.call(digits[0][:2]).request.seq == 3


def test_a_new_epoch_starts_seq_at_one(
    chain_world: World, digits: tuple[NDArray[Any], NDArray[Any]]
) -> None:
    client = chain_world.client()
    client.call(digits[0][:2])
    chain_world.clock[0] += PERIOD

    result = client.call(digits[0][:2])

    assert (result.request.epoch, result.request.seq) == (1, 1)


def test_an_ack_for_another_output_is_refused(
    chain_world: World, digits: tuple[NDArray[Any], NDArray[Any]]
) -> None:
    result = chain_world.client().call(digits[0][:2])
    orchestrator = chain_world.orchestrator
    assert orchestrator is not None
    forged = type(result.ack)(**{**vars(result.ack), "output_hash": b"\x01" * 32})
    body = {
        "ack": forged.to_json(),
        "ack_sig": signature_to_json(forged.sign(MARKET, chain_world.consumer_key)),
    }

    reply = dispatch(orchestrator.routes(), "POST", "/ack", body)

    assert reply.status == 403
    evidence = orchestrator.evidence(0, result.request.consumer, 1)
    assert evidence is not None and evidence["ack"]["ack"] == result.ack.to_json()


def test_the_client_refuses_a_receipt_not_signed_by_the_slots_vendor(
    chain_world: World, digits: tuple[NDArray[Any], NDArray[Any]]
) -> None:
    result = chain_world.client().call(digits[0][:2])
    step = result.steps[1]
    forged = StepEvidence(
        step.assignment,
        step.assignment_sig,
        step.receipt,
        step.receipt.sign(MARKET, key_of("mallory")),
    )
    broken_chain = list(result.steps)
    broken_chain[1] = forged

    with pytest.raises(IntegrityError, match="not its vendor"):
        verify_call(chain_world.terms, result.request, result.output, broken_chain)
    with pytest.raises(IntegrityError, match="last component signed"):
        verify_call(chain_world.terms, result.request, result.output + 1, result.steps)
    with pytest.raises(IntegrityError, match="in order"):
        verify_call(chain_world.terms, result.request, result.output, result.steps[::-1])


def test_a_finished_epoch_rotates_out_of_the_orchestrators_journal_into_its_archive(
    chain_world: World, digits: tuple[NDArray[Any], NDArray[Any]]
) -> None:
    # prepare: two calls in epoch 0 (one step fails over), one in epoch 1; epoch 0 batched
    rows = digits[0][:4]
    client = chain_world.client()
    chain_world.transport.down.add(chain_world.url(1))  # a replica of component 1 is down
    old = [client.call(rows) for _ in range(2)]
    chain_world.transport.down.clear()
    chain_world.clock[0] += PERIOD
    new = client.call(digits[0][4:8])
    orchestrator = chain_world.orchestrator
    assert orchestrator is not None
    failovers = orchestrator.stats({})["failovers"]
    records_1 = orchestrator.records_for(1)
    path = orchestrator.journal.path
    with pytest.raises(ProtocolError, match="not committed"):
        orchestrator.rotate(0)
    orchestrator.mark_committed(0)

    # act: epoch 0 rotates out; then the orchestrator restarts from its journal
    moved = orchestrator.rotate(0)
    again = orchestrator.rotate(0)
    live = read_entries(path)
    archived = read_entries(archive_of(path, 0))
    restarted = chain_world.start_orchestrator(seed=4)
    records_restarted = (restarted.records_for(0), restarted.records_for(1))
    after = client.call(digits[0][8:12])

    # assert: epoch 0's entries are in the archive only; epoch 1 and the rest are whole
    def epoch_of(entry: dict[str, Any]) -> str:
        return str(entry.get("key", "none:")).split(":")[0]

    assert moved == len(archived) > 0 and again == 0
    assert {epoch_of(e) for e in archived} == {"0"}
    assert "0" not in {epoch_of(e) for e in live}
    assert any(e["kind"] == "committed" and e["epoch"] == 0 for e in live)
    assert restarted.held_epochs() == [1]
    assert restarted.evidence(0, client.address, 1) is None
    evidence = restarted.evidence(1, client.address, 1)
    assert evidence is not None and evidence["ack"] is not None
    assert records_restarted == ([], records_1)
    assert restarted.stats({})["failovers"] == failovers >= 1
    assert (new.request.seq, after.request.seq) == (1, 2)
    assert [r.request.seq for r in old] == [1, 2]


class FinishedEpochs:
    """Enough of a market for the orchestrator agent's rotation: epochs 0..3 closed, the
    batches of 0, 1 and 2 finalized, a dispute of epoch 1 still open (one of 0 resolved)."""

    def __init__(self) -> None:
        self.api_market = self
        self.chain = type("Clock", (), {"timestamp": staticmethod(lambda: 10_000)})()
        self.deployment = type("At", (), {"block": 0})()
        self.rotated: list[int] = []
        self.committed: list[int] = []

    def api(self, api_id: int) -> Any:
        return type("Api", (), {"close": staticmethod(lambda epoch: 1_000 * (epoch + 1))})()

    def batch(self, api_id: int, epoch: int) -> Any:
        return type("Batch", (), {"finalized": epoch in (0, 1, 2)})()

    def events(self, name: str, **query: Any) -> list[dict[str, Any]]:
        opened = {"dispute_id": 1, "epoch": 1}
        return {
            "Disputed": [{"dispute_id": 0, "epoch": 0}, opened],
            "DisputeResolved": [{"dispute_id": 0}],
        }.get(name, [])

    # the orchestrator's side
    def held_epochs(self) -> list[int]:
        return [0, 1, 3, 12]

    def mark_committed(self, epoch: int) -> None:
        self.committed.append(epoch)

    def rotate(self, epoch: int) -> int:
        self.rotated.append(epoch)
        return 1


def test_the_orchestrator_agent_rotates_an_epoch_finalized_with_nothing_open() -> None:
    # prepare
    finished = FinishedEpochs()

    # act
    count = rotate_finished_epochs(finished, 7, finished)  # type: ignore[arg-type]

    # assert: epoch 0 goes (its dispute resolved); 1 has a dispute open, 3 is not
    # finalized, 12's window is not closed
    assert finished.rotated == [0] and finished.committed == [0]
    assert count == 1


class TamperedOutput:
    """A transport on which the orchestrator's answer to a call comes back with its output
    changed (after every vendor signed): a lying orchestrator or a path that alters it."""

    def __init__(self, inner: LocalTransport) -> None:
        self.inner = inner
        self.tampering = True
        self.acks = 0

    def request(
        self, method: str, url: str, path: str, body: Mapping[str, Any] | None = None
    ) -> Reply:
        reply = self.inner.request(method, url, path, body)
        if path == "/ack":
            self.acks += 1
        if path != "/call" or not reply.ok or not self.tampering:
            return reply
        output = decode_array(base64.b64decode(reply.body["output"]))
        return Reply(reply.status, {**reply.body, "output": to_b64(encode_array(output + 1))})


def test_an_answer_that_fails_verification_is_kept_unacknowledged_and_the_client_goes_on(
    chain_world: World, digits: tuple[NDArray[Any], NDArray[Any]]
) -> None:
    # prepare: the first answer comes back altered
    tampering = TamperedOutput(chain_world.transport)
    client = ApiClient("http://orchestrator.test", chain_world.consumer_key, chain_world.terms,
                       now=lambda: chain_world.clock[0], transport=tampering)  # fmt: skip
    rows = digits[0][:4]

    # act: the altered call, then the next one unaltered
    with pytest.raises(IntegrityError, match="last component signed") as refused:
        client.call(rows)
    acks_after_rejected = tampering.acks
    tampering.tampering = False
    second = client.call(rows)

    # assert: the rejected answer's evidence is kept, never acknowledged; the next call is seq 2
    (rejected,) = client.rejected
    assert rejected.request.seq == 1
    assert rejected.output is not None
    assert rejected.output.tolist() == (chain_world.split.predict(rows) + 1).tolist()
    assert [step.receipt.component for step in rejected.steps] == [0, 1, 2]
    assert rejected.step(2).receipt.hash_out == array_hash(chain_world.split.predict(rows))
    assert rejected.request.signer(MARKET, rejected.request_sig) == client.address
    assert "not acknowledged" in str(refused.value) and "\n" not in str(refused.value)
    assert acks_after_rejected == 0
    assert chain_world.orchestrator is not None
    evidence = chain_world.orchestrator.evidence(0, client.address, 1)
    assert evidence is not None and evidence["ack"] is None  # taken, never acknowledged
    assert second.request.seq == 2
    assert [r.request.seq for r in client.results] == [2]


# --- the vendor's start, the journal, endpoints, terms --------------------------------------


def test_a_vendor_with_the_wrong_component_refuses_to_start(
    tmp_path: Path, models: dict[str, tuple[Any, SplitModel]]
) -> None:
    world = make_world(tmp_path, models["chain"][1])
    data = world.split.components[0].to_bytes()

    with pytest.raises(IntegrityError, match="refusing to start") as wrong_hash:
        Vendor(data, b"\x00" * 32, world.vendor_keys[0], world.terms, tmp_path / "x.jsonl")
    other = world.split.components[1].to_bytes()
    with pytest.raises(InputError, match="holds component 0"):
        Vendor(other, keccak(other), world.vendor_keys[0], world.terms, tmp_path / "y.jsonl")
    with pytest.raises(InputError, match="holds no slot"):
        Vendor(data, keccak(data), key_of("stranger"), world.terms, tmp_path / "z.jsonl")
    assert "\n" not in str(wrong_hash.value)


def test_the_journal_reads_back_drops_a_torn_line_and_refuses_a_damaged_one(
    tmp_path: Path,
) -> None:
    path = tmp_path / "journal.jsonl"
    journal = Journal(path)
    journal.append({"n": 1})
    journal.append({"n": 2})
    journal.close()
    with open(path, "ab") as file:
        file.write(b'{"n": 3')  # a crash mid-write

    reopened = Journal(path)
    reopened.append({"n": 4})
    reopened.close()

    assert [entry["n"] for entry in Journal(path)] == [1, 2, 4]
    path.write_bytes(b'{"n": 1}\nnot json\n{"n": 2}\n')
    with pytest.raises(IntegrityError, match="line 2"):
        Journal(path)


def test_a_journal_reader_reads_only_what_was_appended_and_a_torn_line_once_whole(
    tmp_path: Path,
) -> None:
    # prepare: a live journal with two entries, read once
    path = tmp_path / "api-7.journal"
    journal = Journal(path)
    journal.append({"kind": "step", "n": 1})
    journal.append({"kind": "call", "n": 2})
    reader = JournalReader(path)
    steps = journaled_steps(tmp_path)
    first = reader.read_new()
    first_steps = steps(7)

    # act: a line half written, then finished; then an earlier line damaged in place (a
    # reader that read it all again would refuse it); then one more entry
    with open(path, "ab") as file:
        file.write(b'{"kind":"step","n":3')
    half = reader.read_new()
    half_steps = steps(7)
    with open(path, "ab") as file:
        file.write(b"}\n")
    whole = reader.read_new()
    with open(path, "r+b") as file:
        file.write(b"#")  # the first line's "{": read already, never again
    journal.append({"kind": "step", "n": 4})
    last = reader.read_new()
    last_steps = steps(7)
    journal.close()

    # assert
    assert [e["n"] for e in first] == [1, 2] and [e["n"] for e in first_steps] == [1]
    assert half == [] and [e["n"] for e in half_steps] == [1]
    assert [e["n"] for e in whole] == [3]
    assert [e["n"] for e in last] == [4]
    assert [e["n"] for e in reader.entries()] == [1, 2, 3, 4]
    assert [e["n"] for e in last_steps] == [1, 3, 4]
    assert reader.read_new() == [] and JournalReader(tmp_path / "none").read_new() == []
    with pytest.raises(IntegrityError, match="line 1"):
        read_entries(path)


def test_a_sealed_endpoint_opens_only_with_the_orchestrators_key() -> None:
    orchestrator_key = key_of("orchestrator")
    blob = seal_endpoint("http://127.0.0.1:8123", public_key_of(orchestrator_key))

    assert open_endpoints({3: blob}, orchestrator_key) == {3: "http://127.0.0.1:8123"}
    with pytest.raises(IntegrityError):
        open_endpoint(blob, key_of("vendor-0-0"))
    with pytest.raises(InputError, match="http"):
        seal_endpoint("ftp://x", public_key_of(orchestrator_key))


def test_terms_round_trip_and_refuse_what_cannot_be_served(chain_world: World) -> None:
    terms = chain_world.terms
    data = terms.to_json()

    assert ApiTerms.from_json(data) == terms
    assert terms.epoch_at(START) == 0 and terms.epoch_at(START + 2 * PERIOD + 1) == 2
    with pytest.raises(ProtocolError):
        terms.epoch_at(START - 1)
    for changes, message in [
        ({"price": 10}, "cover the shares"),
        ({"slots": data["slots"][:1]}, "every one of"),
        ({"slots": [data["slots"][0]] * 2 + data["slots"][1:]}, "at most one slot"),
        ({"flow": "star"}, "flow must be"),
        ({"subsets": True}, "combine"),
        ({"model_root": "0x12"}, "model_root"),
        ({"api": -1}, "api"),
    ]:
        with pytest.raises(InputError, match=message):
            ApiTerms.from_json({**data, **changes})


def test_a_local_transport_to_an_unknown_service_is_unreachable() -> None:
    with pytest.raises(Unreachable):
        LocalTransport().request("GET", "http://nowhere.test", "/health")
