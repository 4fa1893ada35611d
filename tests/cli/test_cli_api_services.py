"""``mercato vendor serve`` and ``mercato orchestrator serve`` as processes against anvil, and
P5's ``mercato agent run`` roles.

The test registers an API over a digits MLP split into two layer blocks: vendor A holds
block 0, vendors B and C hold block 1 (replicas). The orchestrator and the three vendors
each run as ``mercato ... serve`` in a process of its own on a free loopback port; the
consumer's agent deposits (``agent run --role consumer``), the consumer calls through
:class:`ApiClient`, the epoch passes on chain, and the orchestrator's process commits the
batch. Every process stops cleanly on SIGTERM.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mercato.chain.accounts import dev_account
from mercato.errors import InputError
from mercato.protocols.apimarket import provider
from mercato.protocols.apimarket.consumer import ApiClient
from mercato.protocols.apimarket.roles import plan_consumer
from mercato.protocols.apimarket.serving import terms_for
from mercato.protocols.apimarket.views import ApiStatus, Periods
from mercato.protocols.identity import Identity

from .helpers import CLIENT, COMPUTE, DEPLOYER, MODEL, STRANGER, Cli, mercato_binary, run_main

pytestmark = [
    pytest.mark.rpc,
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning"),
]

FINNEY = 10**15
VENDORS = (8, 9, 10)
"""Development accounts of vendors A, B and C (compute providers)."""
SLOT_COMPONENTS = (0, 1, 1)
ORCHESTRATOR = COMPUTE
EPOCH = 3600
OFFER = provider.ApiOffer(
    price=FINNEY,
    shares=(3 * FINNEY // 10, 3 * FINNEY // 10),
    vendor_stake=10 * FINNEY,
    orchestrator_stake=20 * FINNEY,
    challenge_bond=FINNEY,
    dispute_bond=2 * FINNEY,
    periods=Periods(join=EPOCH, epoch=EPOCH, window=EPOCH, response=600, term=2 * EPOCH),
)
CALLS = 3
ROWS_PER_CALL = 4
WAIT_S = 180.0
"""How long a process may take to reach a state (imports and polls on a loaded machine)."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Registered:
    cli: Cli
    api_id: int
    url: str
    """The orchestrator URL the API document names."""
    model: Any
    rows: Any


@pytest.fixture
def registered(cli: Cli) -> Registered:
    """A deployed market, the cast registered and an API registered by the provider."""
    from sklearn.datasets import load_digits
    from sklearn.neural_network import MLPClassifier

    from mercato.ml.splitting import split

    cli.ok("deploy", "--account", DEPLOYER)
    cli.register("model-owner", MODEL)
    cli.register("client", CLIENT)
    cli.register("compute-provider", ORCHESTRATOR, *VENDORS)
    rows, labels = load_digits(return_X_y=True)
    model = MLPClassifier(hidden_layer_sizes=(16,), max_iter=200, random_state=0)
    model.fit(rows[:500], labels[:500])
    split_model = split(model, 2)
    url = f"http://127.0.0.1:{free_port()}"
    document = provider.prepare(split_model, rows.shape[1], orchestrator_url=url)
    market = cli.market()
    vendors = [str(dev_account(v).address) for v in VENDORS]
    slots = list(zip(vendors, SLOT_COMPONENTS, strict=True))
    api_id, _, _ = provider.register_api(
        market, Identity(dev_account(MODEL)), split_model, document, slots,
        str(dev_account(ORCHESTRATOR).address), OFFER,
    )  # fmt: skip
    return Registered(cli, api_id, url, model, rows[500:])


class Served:
    """A ``mercato <group> serve`` process: its JSON announcement, its log, its stop."""

    def __init__(self, home: Path, url: str, name: str, *args: object) -> None:
        self.name = name
        self.log = home / f"{name}.log"
        with open(self.log, "w") as errors:  # the child keeps its own descriptor
            self.process = subprocess.Popen(
                [mercato_binary(), *map(str, args), "--json", "--interval", "0.2"],
                cwd=home,
                env={**os.environ, "MERCATO_RPC_URL": url},
                stdout=subprocess.PIPE,
                stderr=errors,
                text=True,
            )

    def announced(self) -> dict[str, Any]:
        """The JSON object the process prints once it serves (fail with its log if it ends)."""
        stdout = self.process.stdout
        assert stdout is not None
        lines: list[str] = []

        def read() -> None:
            for line in stdout:
                lines.append(line)
                if line.rstrip() == "}":
                    return

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        reader.join(WAIT_S)
        if not lines or lines[-1].rstrip() != "}":
            pytest.fail(f"{self.name} announced nothing: {self.log.read_text()}")
        announced: dict[str, Any] = json.loads("".join(lines))
        return announced

    def stop(self) -> int:
        """SIGTERM; the exit status (killed if it lingers)."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()
        return self.process.returncode


@pytest.fixture
def processes() -> Iterator[list[Served]]:
    started: list[Served] = []
    yield started
    for served in started:
        served.stop()


def wait_until(what: str, condition: Callable[[], bool], logs: list[Served]) -> None:
    """Poll ``condition`` until it holds; fail naming ``what`` (with the logs) if it never does."""
    deadline = time.monotonic() + WAIT_S
    while not condition():
        if time.monotonic() > deadline:
            shown = "\n".join(f"--- {s.log.name}\n{s.log.read_text()}" for s in logs)
            pytest.fail(f"{what} did not happen:\n{shown}")
        time.sleep(0.2)


def serve_and_call(
    registered: Registered, processes: list[Served]
) -> tuple[list[dict[str, Any]], dict[str, Any], list[Any]]:
    """Start the orchestrator and the three vendors (each its own process), let the API go
    live, have the consumer's agent deposit, make the calls and let epoch 0 pass until its
    batch is on chain: what the vendors and the orchestrator announced, and the outputs."""
    cli, api_id = registered.cli, registered.api_id
    market = cli.market()
    am = market.api_market
    serve = ("serve", "--api", api_id, "--account")
    orchestrator = Served(cli.home, cli.url, "orchestrator", "orchestrator", *serve, ORCHESTRATOR)
    vendors = [Served(cli.home, cli.url, f"vendor-{v}", "vendor", *serve, v) for v in VENDORS]
    processes.extend([orchestrator, *vendors])
    said = [vendor.announced() for vendor in vendors]
    wait_until("the API going live", lambda: am.api(api_id).status is ApiStatus.LIVE, processes)
    served = orchestrator.announced()
    cli.agent("--role", "consumer", "--account", CLIENT)  # deposits into the live API
    client = consumer_client(registered, served["url"])
    outputs = [
        client.call(registered.rows[n * ROWS_PER_CALL : (n + 1) * ROWS_PER_CALL]).output
        for n in range(CALLS)
    ]
    market.chain.time_travel(EPOCH + 1)  # epoch 0 is over: its batch is due
    wait_until("the batch of epoch 0", lambda: bool(am.events("BatchCommitted", api=api_id)),
               processes)  # fmt: skip
    return said, served, outputs


def consumer_client(registered: Registered, url: str) -> ApiClient:
    market = registered.cli.market()
    return ApiClient(url, bytes(dev_account(CLIENT).key), terms_for(market, registered.api_id),
                     now=market.chain.timestamp)  # fmt: skip


def test_vendors_and_orchestrator_serve_an_api_whose_batch_the_orchestrator_commits(
    registered: Registered, processes: list[Served]
) -> None:
    # prepare and act: the services as processes, calls, the epoch over
    cli, api_id = registered.cli, registered.api_id
    am = cli.market().api_market
    consumer = dev_account(CLIENT)
    said, served, outputs = serve_and_call(registered, processes)
    statuses = [served_process.stop() for served_process in processes]

    # assert: each vendor announced its slot, the calls were served as the whole model
    # predicts, and the batch counts the consumer's calls and every step
    assert [s["slot"] for s in said] == [0, 1, 2]
    assert [s["component"] for s in said] == list(SLOT_COMPONENTS)
    assert all(s["url"].startswith("http://127.0.0.1:") and not s["joined"] for s in said)
    assert served["url"] == registered.url  # the port the document names
    assert all(view.joined for view in am.slots(api_id))
    assert am.deposit_of(api_id, consumer.address).amount > 0
    whole = registered.model.predict(registered.rows[: CALLS * ROWS_PER_CALL])
    assert np.concatenate([np.asarray(o) for o in outputs]).tolist() == whole.tolist()
    (batch,) = am.events("BatchCommitted", api=api_id)
    assert int(batch["epoch"]) == 0
    assert [str(c) for c in batch["consumers"]] == [consumer.address]
    assert [int(c) for c in batch["calls"]] == [CALLS]
    steps = [int(s) for s in batch["steps"]]
    assert steps[0] == CALLS and steps[1] + steps[2] == CALLS
    assert statuses == [0, 0, 0, 0]
    for served_process in processes:
        assert "Traceback" not in served_process.log.read_text()


def test_a_restarted_vendor_adopts_the_slot_it_joined(
    registered: Registered, processes: list[Served]
) -> None:
    # prepare: vendor A served and joined from one state folder
    cli, api_id = registered.cli, registered.api_id
    am = cli.market().api_market
    first = Served(cli.home, cli.url, "vendor-a", "vendor", "serve", "--api", api_id,
                   "--account", VENDORS[0])  # fmt: skip
    processes.append(first)
    joined_at = first.announced()["url"]
    wait_until("vendor A joining", lambda: am.slot(api_id, 0).joined, processes)
    first.stop()

    # act: the same vendor, from a fresh state folder
    again = Served(cli.home, cli.url, "vendor-a-again", "vendor", "serve", "--api", api_id,
                   "--account", VENDORS[0], "--state", cli.home / "elsewhere")  # fmt: skip
    processes.append(again)
    said = again.announced()
    block = cli.market().chain.block_number()
    status = again.stop()

    # assert: it serves where it joined (read back from the chain) without joining twice
    # and stops cleanly
    assert said["joined"] is True
    assert said["url"] == joined_at
    assert status == 0
    assert cli.market().chain.block_number() == block
    assert "failed" not in again.log.read_text()


def test_a_restarted_vendor_serves_at_the_url_it_joined_with_where_the_orchestrator_calls(
    registered: Registered, processes: list[Served]
) -> None:
    # prepare: everyone serves and vendor A (the only one of component 0) joined; A stops
    cli, api_id = registered.cli, registered.api_id
    said, served, _ = serve_and_call(registered, processes)
    processes[1].stop()

    # act: vendor A again from its state folder (--port 0 as before), and a call through it
    again = Served(cli.home, cli.url, "vendor-a-again", "vendor", "serve", "--api", api_id,
                   "--account", VENDORS[0])  # fmt: skip
    processes.append(again)
    said_again = again.announced()
    rows = registered.rows[:ROWS_PER_CALL]
    output = consumer_client(registered, served["url"]).call(rows).output
    status = again.stop()

    # assert: it listens where it joined, so the orchestrator reached it
    assert said_again["joined"] is True
    assert said_again["url"] == said[0]["url"]
    assert np.asarray(output).tolist() == registered.model.predict(rows).tolist()
    assert status == 0


def test_a_joined_vendor_refuses_another_url_or_a_busy_port_in_one_line(
    registered: Registered,
    processes: list[Served],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # prepare: vendor A served and joined, then stopped
    cli, api_id = registered.cli, registered.api_id
    am = cli.market().api_market
    serve = ("vendor", "serve", "--api", api_id, "--account", VENDORS[0])
    first = Served(cli.home, cli.url, "vendor-a", *serve)
    processes.append(first)
    joined_at = first.announced()["url"]
    wait_until("vendor A joining", lambda: am.slot(api_id, 0).joined, processes)
    first.stop()
    block = cli.market().chain.block_number()

    # act: another --url; then the joined port held by something else
    other = run_main(monkeypatch, capsys, *serve, "--url", "http://127.0.0.1:1")
    port = int(joined_at.rsplit(":", 1)[1])
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # past TIME_WAIT
        holder.bind(("127.0.0.1", port))
        holder.listen(1)
        busy = run_main(monkeypatch, capsys, *serve)

    # assert
    for code, out, err in (other, busy):
        assert code == 1
        assert out == ""
        assert len(err.strip().splitlines()) == 1
    assert other[2].startswith(f"error: API {api_id} was joined with the URL {joined_at}")
    assert busy[2].startswith(f"error: cannot listen on 127.0.0.1:{port}")
    assert f"joined with {joined_at}" in busy[2]
    assert cli.market().chain.block_number() == block


BAD = {
    "no API 9 (there are 1)": ("vendor", "serve", "--api", 9, "--account", VENDORS[0]),
    f"{dev_account(STRANGER).address} holds no slot in API 1": (
        "vendor", "serve", "--api", 1, "--account", STRANGER,
    ),
    f"{dev_account(VENDORS[0]).address} is not the orchestrator of API 1": (
        "orchestrator", "serve", "--api", 1, "--account", VENDORS[0],
    ),
    "no API 2 (there are 1)": ("orchestrator", "serve", "--api", 2, "--account", ORCHESTRATOR),
}  # fmt: skip


@pytest.mark.parametrize(("message", "args"), BAD.items(), ids=list(BAD))
def test_bad_input_is_one_line_and_changes_nothing(
    registered: Registered,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    message: str,
    args: tuple[object, ...],
) -> None:
    # prepare
    market = registered.cli.market()
    block = market.chain.block_number()

    # act
    code, out, err = run_main(monkeypatch, capsys, *args)

    # assert
    assert code == 1
    assert out == ""
    assert err.strip().startswith(f"error: {message}")
    assert len(err.strip().splitlines()) == 1
    assert market.chain.block_number() == block


def test_a_consumer_deposits_something() -> None:
    with pytest.raises(InputError, match="--deposit must be above 0"):
        plan_consumer({"deposit": "0"})

    assert plan_consumer({}).label == "consumer"


def test_the_vendor_role_serves_and_joins_every_api_that_names_it(registered: Registered) -> None:
    # prepare
    cli, api_id = registered.cli, registered.api_id
    am = cli.market().api_market

    # act: vendor A's agent as its own process, until idle (its service stops with it)
    process = cli.spawn_agent("--role", "vendor", "--account", VENDORS[0])
    out, _ = process.communicate(timeout=WAIT_S)

    # assert
    assert process.returncode == 0, out
    assert [view.joined for view in am.slots(api_id)] == [True, False, False]
    assert "joined slot 0 (component 0)" in out


def test_the_provider_role_cancels_an_api_nobody_completed_by_its_join_deadline(
    registered: Registered,
) -> None:
    # prepare: nobody joined; the join period passes
    cli, api_id = registered.cli, registered.api_id
    market = cli.market()
    market.chain.time_travel(OFFER.periods.join + 1)

    # act
    cli.agent("--role", "api-provider", "--account", MODEL)

    # assert
    assert market.api_market.api(api_id).status is ApiStatus.CANCELLED


def test_a_service_started_after_its_api_ended_withdraws_what_it_is_owed_and_stops(
    registered: Registered,
) -> None:
    # prepare: the orchestrator accepted (its stake locked), nobody joined, the API cancelled
    cli, api_id = registered.cli, registered.api_id
    market = cli.market()
    am = market.api_market
    orchestrator = dev_account(ORCHESTRATOR)
    am.accept(orchestrator, api_id)
    market.chain.time_travel(OFFER.periods.join + 1)
    am.advance(dev_account(MODEL), api_id)
    assert am.api(api_id).status is ApiStatus.CANCELLED
    owed = am.owed(orchestrator.address)
    assert owed == OFFER.orchestrator_stake
    serve = ("orchestrator", "serve", "--api", api_id, "--account", ORCHESTRATOR)

    # act: the service, started again (by a supervisor) once the API ended
    withdrawn = cli.json(*serve)
    again = cli(*serve)

    # assert: what it was owed is paid out, nothing served; the next start has nothing to do
    assert withdrawn == {"api": api_id, "status": "cancelled", "withdrawn": str(owed),
                         "account": orchestrator.address}  # fmt: skip
    assert am.owed(orchestrator.address) == 0
    assert again.exit_code == 1
    assert str(again.exception) == f"API {api_id} is cancelled: nothing to orchestrate"


def test_a_client_may_run_the_provider_role(registered: Registered) -> None:
    # a client serving a model it bought is a provider too, as the contract's register says
    result = registered.cli.agent("--role", "api-provider", "--account", CLIENT)

    assert result.exit_code == 0


def agent_cursor(state_file: Path, name_prefix: str) -> int:
    """The next block the agent whose name starts with ``name_prefix`` reads (0: none yet)."""
    import sqlite3

    if not state_file.exists():
        return 0
    with sqlite3.connect(f"file:{state_file}?mode=ro", uri=True) as db:
        rows = db.execute("SELECT agent, next_block FROM cursors").fetchall()
    return max((int(block) for agent, block in rows if agent.startswith(name_prefix)), default=0)


def test_an_orchestrator_restarted_from_a_fresh_state_adopts_its_api_and_serves_again(
    registered: Registered, processes: list[Served]
) -> None:
    # prepare: epoch 0's batch is on chain; the orchestrator stops
    cli, api_id = registered.cli, registered.api_id
    market = cli.market()
    am = market.api_market
    serve_and_call(registered, processes)
    processes[0].stop()

    # act: the orchestrator again, from a fresh state folder; it steps past two new blocks
    elsewhere = cli.home / "elsewhere"
    again = Served(cli.home, cli.url, "orchestrator-again", "orchestrator", "serve", "--api",
                   api_id, "--account", ORCHESTRATOR, "--state", elsewhere)  # fmt: skip
    processes.append(again)
    served = again.announced()
    state_file = Path(served["state"])
    for _ in range(2):  # the step that read the first block has run its ticks once past the second
        am.deposit(dev_account(CLIENT), api_id, FINNEY)
        head = market.chain.block_number()
        stepped = lambda head=head: agent_cursor(state_file, "orchestrator") > head  # noqa: E731
        wait_until("the orchestrator's agent stepping", stepped, processes)
    output = consumer_client(registered, served["url"]).call(registered.rows[:ROWS_PER_CALL]).output
    status = again.stop()

    # assert: it serves at the document's URL, accepted and committed nothing twice (a
    # handler or tick that failed would say so in the log)
    assert served["url"] == registered.url
    assert len(am.events("BatchCommitted", api=api_id)) == 1
    assert (
        np.asarray(output).tolist()
        == registered.model.predict(registered.rows[:ROWS_PER_CALL]).tolist()
    )
    assert status == 0
    log = again.log.read_text()
    assert "failed" not in log and "Traceback" not in log


class TamperingProxy:
    """A real HTTP server in front of the orchestrator that passes every request on and
    alters the output of each answer to ``/call`` (every label plus one); its URL."""

    def __init__(self, target: str) -> None:
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        import requests

        from mercato.protocols.apimarket.endpoints import from_b64, to_b64
        from mercato.protocols.apimarket.messages import decode_array, encode_array

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                reply = requests.post(target + self.path, data=body, timeout=WAIT_S,
                                      headers={"Content-Type": "application/json"})  # fmt: skip
                content = reply.content
                if self.path == "/call" and reply.status_code == 200:
                    answer = reply.json()
                    output = decode_array(from_b64(answer["output"], "output"))
                    answer["output"] = to_b64(encode_array(output + 1))
                    content = json.dumps(answer).encode()
                self.send_response(reply.status_code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_api_call_keeps_an_altered_answer_as_evidence_and_goes_on_with_the_next_call(
    registered: Registered,
    processes: list[Served],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # prepare: the services serve (epoch 0's calls are batched; epoch 1 has begun) and a
    # proxy alters the orchestrator's answers
    api_id = registered.api_id
    _, served, _ = serve_and_call(registered, processes)
    rows = registered.cli.home / "rows.npy"
    np.save(rows, registered.rows[:ROWS_PER_CALL])
    proxy = TamperingProxy(served["url"])
    call = ("api", "call", api_id, "--rows", rows, "--account", CLIENT)

    # act: one call through the proxy, then one straight to the orchestrator
    try:
        tampered = run_main(monkeypatch, capsys, *call, "--url", proxy.url)
    finally:
        proxy.close()
    honest = run_main(monkeypatch, capsys, *call)

    # assert: the altered answer is refused in one line that names its evidence, which keeps
    # the signed request, the altered output and the reason; the next call (seq 2) is served
    code, out, err = tampered
    assert (code, out) == (1, "")
    assert len(err.strip().splitlines()) == 1
    assert "fails verification" in err and f"mercato api dispute {api_id} 1 1" in err
    evidence = Path(err.split("evidence in ")[1].split(":")[0])
    kept = json.loads(evidence.read_text())
    assert kept["request"]["seq"] == 1 and kept["request"]["epoch"] == 1
    assert "ack" not in kept and kept["rejected"]
    code, out, err = honest
    assert (code, err) == (0, "")
    whole = registered.model.predict(registered.rows[:ROWS_PER_CALL]).tolist()
    assert f"call 2 of epoch 1 of API {api_id}: {whole}" in " ".join(out.split())
