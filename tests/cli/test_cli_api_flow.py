"""The P5 flow through ``mercato api`` on anvil: an API registered from a scikit-learn MLP
split in two, joined by two vendor processes, accepted by an orchestrator served by the
test, one call through it (output and receipts checked, evidence kept, the component files
checked against the on-chain root), no batch ever committed, and the API released after its
deadlines with every stake and deposit withdrawn."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mercato.chain import Anvil
from mercato.chain.accounts import dev_account
from mercato.chain.rpc import RpcChain
from mercato.protocols.apimarket.documents import open_component
from mercato.protocols.apimarket.endpoints import bind, make_app
from mercato.protocols.apimarket.serving import (
    BackgroundServer,
    ChainReads,
    VendorProcess,
    document_for,
    endpoints_for,
    joined_endpoint,
    start_vendor_process,
    terms_for,
)
from mercato.protocols.identity import Identity
from mercato.protocols.marketplace import Marketplace

from .api_helpers import (
    CONSUMER,
    DISPUTE_BOND,
    ORCHESTRATOR,
    PROVIDER,
    STAKES,
    VENDORS,
    digits_rows,
    register_api,
    register_cast,
)
from .helpers import Cli, address, module_market

pytestmark = pytest.mark.rpc


def _start_vendor(cli: Cli, api_id: int, account: int, slot: int) -> VendorProcess:
    """What a vendor does before it joins: open its sealed component and serve it."""
    market = cli.market()
    me = Identity(dev_account(account))
    component = market.api_market.slot(api_id, slot).component
    data = open_component(document_for(market, api_id), slot, component, market.store,
                          me.encryption_private)  # fmt: skip
    folder = cli.home / f"vendor-{account}"
    folder.mkdir(exist_ok=True)
    (folder / "component").write_bytes(data)
    from mercato.crypto.commit import keccak

    config = {
        "host": "127.0.0.1", "port": 0, "component": str(folder / "component"),
        "component_hash": keccak(data).hex(), "key": bytes(me.account.key).hex(),
        "terms": terms_for(market, api_id).to_json(), "journal": str(folder / "journal"),
    }  # fmt: skip
    return start_vendor_process(config, folder / "config.json")


class Orchestrating:
    """The orchestrator's service over its own connection to the node, in this process."""

    def __init__(self, url: str, deployment: Any, store: Any, api_id: int, sock: Any,
                 journal: Path) -> None:  # fmt: skip
        from mercato.protocols.apimarket.orchestrator import Orchestrator

        self.market = Marketplace(RpcChain(url), deployment, store)
        me = Identity(dev_account(ORCHESTRATOR))
        reads = ChainReads(self.market, api_id, live=True)
        self.service = Orchestrator(
            terms_for(self.market, api_id), bytes(me.account.key),
            endpoints_for(self.market, me, api_id), reads.balance, reads.now, journal, seed=1,
        )  # fmt: skip
        self.server = BackgroundServer(make_app(self.service.routes(), "orchestrator"), sock)

    def close(self) -> None:
        self.server.stop()
        self.service.close()
        self.market.chain.close()


@pytest.fixture(scope="module")
def live(anvil: Anvil, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A live API: registered, joined by its two vendors' processes, accepted, deposited
    into, its orchestrator serving on a free port."""
    with module_market(anvil.url, tmp_path_factory, "cli-api-flow") as cli:
        register_cast(cli)
        sock, url = bind("127.0.0.1", 0)
        processes: list[VendorProcess] = []
        orchestrating: Orchestrating | None = None
        try:
            registered = register_api(cli, url)
            api_id = int(registered["api"]["api"])
            for slot, account in enumerate(VENDORS):
                processes.append(_start_vendor(cli, api_id, account, slot))
                kept = cli.home / f"slot-{slot}.component"
                cli.ok("api", "join", api_id, "--url", processes[-1].url, "--out", kept,
                       "--account", account)  # fmt: skip
            accepted = cli.json("api", "accept", api_id, "--account", ORCHESTRATOR)
            deposited = cli.json("api", "deposit", api_id, "--amount", "0.01",
                                 "--account", CONSUMER)  # fmt: skip
            market = cli.market()
            orchestrating = Orchestrating(cli.url, market.deployment, market.store, api_id, sock,
                                          cli.home / "orchestrator.journal")  # fmt: skip
            yield {"cli": cli, "api": api_id, "registered": registered, "accepted": accepted,
                   "deposited": deposited, "urls": [p.url for p in processes]}  # fmt: skip
        finally:
            if orchestrating is not None:
                orchestrating.close()
            else:
                sock.close()
            for process in processes:
                process.stop()


def test_an_api_from_registration_to_release(live: dict[str, Any]) -> None:
    cli: Cli = live["cli"]
    api_id = live["api"]
    market = cli.market()
    am = market.api_market

    # registered, joined and accepted: live, every stake locked, the deposit held
    assert live["registered"]["api"]["status"] == "joining"
    assert live["accepted"]["api"]["status"] == "live"
    assert all(s["joined"] for s in live["accepted"]["api"]["slot_list"])
    assert live["deposited"]["deposit"] == 10**16
    assert f"API {api_id}: live; 2 components over 2 slots" in cli.ok("api", "show", api_id).stdout
    assert "1 API(s)" in cli.ok("api", "list").stdout

    # one call: the whole model's labels, every receipt checked, the evidence kept
    rows, model = digits_rows(cli.home)
    csv = cli.home / "rows.csv"
    np.savetxt(csv, rows[:5], delimiter=",", header=",".join(f"f{i}" for i in range(64)))
    answer = cli.json("api", "call", api_id, "--rows", csv, "--account", CONSUMER)
    assert answer["output"] == model.predict(rows[:5]).tolist()
    assert (answer["epoch"], answer["seq"], answer["receipts_checked"]) == (0, 1, 2)
    kept = json.loads(Path(answer["evidence"]).read_text())
    assert [s["receipt"]["slot"] for s in kept["steps"]] == [0, 1]
    second = cli.json("api", "call", api_id, "--rows", csv, "--account", CONSUMER)
    assert second["seq"] == 2  # the seq goes on from the kept calls

    # a call the orchestrator never answers stays pending until sent again, charged once
    lost = cli("api", "call", api_id, "--rows", csv, "--url", "http://127.0.0.1:9",
               "--account", CONSUMER)  # fmt: skip
    assert lost.exit_code == 1
    refused = cli("api", "call", api_id, "--rows", csv, "--account", CONSUMER)
    assert "call 3 of epoch 0 of API 1 got no answer" in str(refused.exception)
    resent = cli.json("api", "call", api_id, "--retry", "--account", CONSUMER)
    assert (resent["seq"], resent["output"]) == (3, answer["output"])
    npy = cli.home / "rows.npy"
    np.save(npy, rows[5:6])
    said = cli.ok("api", "call", api_id, "--rows", npy, "--account", CONSUMER).stdout
    assert f"call 4 of epoch 0 of API {api_id}: {model.predict(rows[5:6]).tolist()}" in said
    assert "receipts checked: 2 steps" in said

    # each vendor's component is the one the model root names; another file is not
    for slot in (0, 1):
        checked = cli.json(
            "api", "verify-component", api_id, slot, cli.home / f"slot-{slot}.component"
        )
        assert checked["under_root"] is True
    wrong = cli("api", "verify-component", api_id, 0, cli.home / "slot-1.component")
    assert wrong.exit_code == 1 and "not under the on-chain model root" in str(wrong.exception)

    # the consumer disputes the second block's output from its kept receipt: no other
    # replica, so the vendor alone is the majority and keeps its stake (and the bond)
    disputed = cli.json("api", "dispute", api_id, 0, 1, "--component", 1, "--account", CONSUMER)
    resolved = cli.json("api", "resolve", disputed["dispute_id"], "--account", PROVIDER)
    assert (disputed["state"], resolved["state"]) == ("open", "honest")
    again = cli("api", "dispute", api_id, 0, 1, "--component", 1, "--account", CONSUMER)
    assert "disputed already" in str(again.exception)

    # nobody commits a batch: after the last window the API is released, nothing charged
    assert cli.json("api", "batches", api_id) == []
    notice = cli.json("api", "request-withdrawal", api_id, "--account", CONSUMER)
    api = am.api(api_id)
    market.chain.time_travel(api.close(api.last_epoch) - market.chain.timestamp() + 1)
    assert notice["withdraw_after"] > 0
    back = cli.json("api", "withdraw-deposit", api_id, "--account", CONSUMER)
    assert back["credited"] == 10**16
    assert cli.json("api", "release", api_id, "--account", PROVIDER)["api"]["status"] == "ended"
    owed = {i: am.owed(address(i)) for i in (*VENDORS, ORCHESTRATOR, CONSUMER, PROVIDER)}
    stakes = {VENDORS[0]: STAKES["vendor"], VENDORS[1]: STAKES["vendor"] + DISPUTE_BOND,
              ORCHESTRATOR: STAKES["orchestrator"]}  # fmt: skip
    assert owed == {**stakes, CONSUMER: 10**16, PROVIDER: 0}
    for account in (*VENDORS, ORCHESTRATOR, CONSUMER):
        assert cli.json("api", "withdraw", "--account", account)["withdrawn"] == owed[account]
    assert market.chain.balance(am.address) == 0


def test_a_vendor_reads_back_from_the_chain_the_url_it_joined_with(
    live: dict[str, Any], tmp_path: Path
) -> None:
    # prepare: the vendors joined through `mercato api join`; a new state folder knows nothing
    market = live["cli"].market()

    # act
    found = [joined_endpoint(market, Identity(dev_account(account)), live["api"], tmp_path)
             for account in VENDORS]  # fmt: skip

    # assert: each URL was sealed to its vendor too, as `mercato vendor serve` needs
    assert [None if f is None else f.url for f in found] == live["urls"]


def test_a_rejected_answer_is_kept_for_a_dispute_without_an_ack(tmp_path: Path) -> None:
    # prepare: an answer whose last step was refused, as ApiClient keeps it
    from mercato.cli import api_view
    from mercato.protocols.apimarket.consumer import RejectedCall, StepEvidence
    from mercato.protocols.apimarket.messages import (
        Assignment,
        Receipt,
        Request,
        signature_from_json,
    )

    account = dev_account(CONSUMER)
    key, me = bytes(account.key), account.address
    market = "0x" + "11" * 20
    request = Request(api=3, epoch=2, consumer=me, seq=5, input_hash=b"\x01" * 32, price=7)
    steps = []
    for component in (0, 1):
        assignment = Assignment(3, 2, me, 5, component, component, b"\x02" * 32)
        receipt = Receipt(3, 2, me, 5, component, component, b"\x03" * 32, b"\x02" * 32,
                          b"\x04" * 32)  # fmt: skip
        steps.append(StepEvidence(assignment, assignment.sign(market, key), receipt,
                                  receipt.sign(market, key)))  # fmt: skip
    rejected = RejectedCall(request, request.sign(market, key), None, tuple(steps),
                            "bad output hash")  # fmt: skip

    # act
    path = api_view.keep_call(tmp_path, rejected)

    # assert: counted as a kept call (seq, spent), its steps readable by api dispute, no ack
    assert api_view.kept_calls(tmp_path, 3, me) == {(2, 5): path}
    record = api_view.kept_call(tmp_path, 3, me, 2, 5)
    assert record["rejected"] == "bad output hash"
    assert record["output"] is None and "ack" not in record
    kept = [Receipt.from_json(s["receipt"]) for s in record["steps"]]
    assert kept == [s.receipt for s in steps]
    assert signature_from_json(record["steps"][1]["receipt_sig"]) == steps[1].receipt_sig


def test_clinic_rows_with_their_schema_read_as_read_data_encodes_them() -> None:
    # prepare: the clinic's patient rows and schema, as a researcher passes them to api call
    from mercato.cli import api_view
    from mercato.ml.data_files import read_data
    from mercato.ml.schema import DataSchema

    folder = Path(__file__).resolve().parents[2] / "examples" / "clinic"
    rows, schema = folder / "holdout.csv", folder / "patients.schema.json"
    expected = read_data(rows, schema=DataSchema.read(schema)).X

    # act
    read = api_view.read_schema_rows(rows, schema, expected.shape[1])

    # assert
    assert read.shape == expected.shape and np.allclose(read, expected)
