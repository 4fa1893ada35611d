"""``audit_api`` and ``mercato audit api`` on small P5 APIs built from the protocol's own
messages and records (no services): an honest API run to its end, cheats the chain accepts
but no agent commits (a consumer's false Merkle proof that slashes an honest vendor, an
orchestrator whose records file does not give its committed root, a provider whose
document does not give its model root), and APIs still running.

Every API lives on one embedded chain and market for the module (an audit only reads).
The adversaries the agents do commit are audited in tests/protocols/apimarket/
test_adversaries*.py.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mercato.audit.apimarket import CHECKS, audit_api
from mercato.audit.report import AuditReport, Verdict
from mercato.chain.contract import Contract
from mercato.chain.embedded import EmbeddedChain
from mercato.cli import common
from mercato.cli.app import app
from mercato.crypto.commit import keccak
from mercato.errors import InputError
from mercato.protocols.apimarket.documents import ApiDocument, Purchase, purpose
from mercato.protocols.apimarket.messages import Receipt, Request
from mercato.protocols.apimarket.records import Batch, StepRecord
from mercato.protocols.apimarket.serving import seal_joined_endpoint
from mercato.protocols.apimarket.views import DisputeState, Periods
from mercato.protocols.identity import Identity
from mercato.protocols.marketplace import Marketplace
from mercato.protocols.roles import Role
from mercato.storage.base import hash_bytes
from mercato.storage.envelope import seal
from mercato.storage.local import LocalBlobStore

REGISTRATION, BATCHES, CLAIMS, CHALLENGES, DISPUTES, SLASHES, PAID = range(1, 8)
COMPONENTS = (b"component zero: the first layers", b"component one: the head")
SLOT_COMPONENTS = (0, 0, 1)
PRICE = 10**15
SHARES = (3 * 10**14, 2 * 10**14)
VENDOR_STAKE = 10**16
ORCHESTRATOR_STAKE = 10**17
DEPOSIT = 20 * PRICE
HOUR = 3600
PERIODS = Periods(join=HOUR, epoch=HOUR, window=HOUR, response=600, term=HOUR)
# development accounts: 0 deploys, 1 provides, 2 orchestrates, 3..5 vendors, 6..7 consumers
PROVIDER, ORCHESTRATOR, FIRST_VENDOR, FIRST_CONSUMER = 1, 2, 3, 6


def verdicts(report: AuditReport) -> dict[int, Verdict]:
    return {check.number: check.verdict for check in report.checks}


@dataclass
class Net:
    """The module's market and cast."""

    market: Marketplace
    provider: Identity
    orchestrator: Identity
    vendors: list[Identity]
    consumers: list[Identity]
    ids: dict[str, int] = field(default_factory=dict)
    """Each API built, by name."""

    @property
    def everyone(self) -> list[Identity]:
        return [self.provider, self.orchestrator, *self.vendors, *self.consumers]

    @property
    def slot_pairs(self) -> list[tuple[int, Identity]]:
        """(component, vendor) of each slot."""
        return list(zip(SLOT_COMPONENTS, self.vendors, strict=True))

    def document(self, hashes: tuple[bytes, ...] | None = None) -> ApiDocument:
        """The API document, its components sealed to the slots' vendors."""
        hashes = hashes or tuple(keccak(c) for c in COMPONENTS)
        document = ApiDocument(
            technique="layers", flow="chain", features=4, output="labels",
            component_hashes=tuple("0x" + h.hex() for h in hashes),
        )  # fmt: skip
        sealed = tuple(
            self.market.store.put(
                seal(COMPONENTS[component], [vendor.encryption_public],
                     purpose(document.model_root, f"component of slot {slot}"))
            )
            for slot, (component, vendor) in enumerate(self.slot_pairs)
        )  # fmt: skip
        return replace(document, sealed=sealed)

    def register(
        self,
        document: ApiDocument,
        model_root: bytes | None = None,
        purchase: Purchase | None = None,
    ) -> int:
        doc_hash = self.market.store.put(document.to_bytes())
        api, _ = self.market.api_market.register_api(
            self.provider.account, model_root=model_root or document.model_root,
            doc_hash=hash_bytes(doc_hash), components=len(COMPONENTS),
            slot_components=SLOT_COMPONENTS, slot_vendors=[v.address for v in self.vendors],
            shares=SHARES, price=PRICE, vendor_stake=VENDOR_STAKE,
            orchestrator=self.orchestrator.address, orchestrator_stake=ORCHESTRATOR_STAKE,
            challenge_bond=PRICE, dispute_bond=2 * PRICE, periods=PERIODS, purchase=purchase,
        )  # fmt: skip
        return int(api)

    def live(self) -> tuple[int, ApiDocument]:
        """A registered API every vendor joined, accepted, each consumer deposited."""
        am = self.market.api_market
        document = self.document()
        api = self.register(document)
        for slot, vendor in enumerate(self.vendors):
            endpoint = seal_joined_endpoint(
                f"http://127.0.0.1:{9000 + slot}", self.orchestrator.encryption_public,
                vendor.encryption_public,
            )  # fmt: skip
            am.join(vendor.account, api, slot, hash_bytes(self.market.store.put(endpoint)))
        am.accept(self.orchestrator.account, api)
        for consumer in self.consumers:
            am.deposit(consumer.account, api, DEPOSIT)
        return api, document

    def calls(self, api: int, count: int) -> list[list[Receipt]]:
        """``count`` calls of epoch 0 (consumers in turn), each through slots
        ``(n % 2, 2)``; every step's signed receipt."""
        market = self.market.api_market.address
        made = []
        for n in range(count):
            consumer = self.consumers[n % 2]
            seq = n // 2 + 1
            request = Request(api, 0, consumer.address, seq, keccak(b"in %d" % n), PRICE)
            request.sign(market, bytes(consumer.account.key))
            hash_in, receipts = request.input_hash, []
            for component, slot in enumerate((n % 2, 2)):
                hash_out = keccak(b"out %d of " % component + hash_in)
                component_hash = keccak(COMPONENTS[component])
                receipts.append(Receipt(api, 0, consumer.address, seq, component, slot,
                                        component_hash, hash_in, hash_out))  # fmt: skip
                hash_in = hash_out
            made.append(receipts)
        return made

    def commit(self, api: int, made: list[list[Receipt]], root: bytes | None = None) -> Batch:
        """Commit epoch 0's batch of ``made`` (with another ``root``, if given)."""
        am, chain = self.market.api_market, self.market.chain
        records = [
            StepRecord(r.api, r.epoch, r.consumer, r.seq, r.component, r.slot, r.hash_in,
                       r.hash_out)
            for receipts in made for r in receipts
        ]  # fmt: skip
        batch = Batch.build(records, len(SLOT_COMPONENTS))
        chain.time_travel(max(0, am.api(api).due(0) - PERIODS.epoch - chain.timestamp()) + 1)
        records_hash = hash_bytes(self.market.store.put(batch.to_bytes()))
        if root is None:
            am.commit_batch(self.orchestrator.account, batch, records_hash)
        else:
            am.contract.transact(
                "commit_batch", api, 0, root, records_hash, batch.consumers, batch.calls,
                batch.steps, sender=self.orchestrator.account,
            )  # fmt: skip
        return batch

    def end(self, api: int) -> None:
        """Past epoch 0's window: finalize, release."""
        am, chain = self.market.api_market, self.market.chain
        chain.time_travel(max(0, am.api(api).close(0) - chain.timestamp()) + 1)
        anyone = self.provider.account
        am.finalize_batch(anyone, api, 0)
        am.release(anyone, api)


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Net]:
    """The cast on a fresh market on one embedded chain, with every API the tests read."""
    chain = EmbeddedChain()
    try:
        accounts = chain.dev_accounts(FIRST_CONSUMER + 2)
        store = LocalBlobStore(tmp_path_factory.mktemp("apimarket-audit") / "blobs")
        market = Marketplace.create(chain, store, admin=accounts[0])
        cast = [Identity(a) for a in accounts]
        net = Net(market, cast[PROVIDER], cast[ORCHESTRATOR], cast[FIRST_VENDOR:FIRST_CONSUMER],
                  cast[FIRST_CONSUMER:])  # fmt: skip
        market.registry.register(net.provider, Role.MODEL_OWNER)
        for party in (net.orchestrator, *net.vendors):
            market.registry.register(party, Role.COMPUTE_PROVIDER)
        for consumer in net.consumers:
            market.registry.register(consumer, Role.CLIENT)
        _build(net)
        yield net
    finally:
        chain.close()


def _build(net: Net) -> None:
    am = net.market.api_market
    # honest: four calls, batched, paid out, released
    api, _ = net.live()
    net.commit(api, net.calls(api, 4))
    net.end(api)
    net.ids["honest"] = api

    # a consumer disputes an honest step with a false Merkle proof: the contract slashes the
    # vendor (a component outside the root, it must believe); the orchestrator commits a
    # root its records file does not give. Left running.
    api, document = net.live()
    made = net.calls(api, 2)
    receipt = made[0][1]
    signature = receipt.sign(am.address, bytes(net.vendors[2].account.key))
    dispute_id, _ = am.dispute(net.consumers[0].account, receipt, signature,
                               document.component_proof(0))  # fmt: skip
    assert am.dispute_of(dispute_id).state is DisputeState.WRONG_COMPONENT
    net.commit(api, made, root=keccak(b"a root of other steps"))
    net.ids["cheats"] = api

    # a provider whose document's hashes do not give the registered root; still joining
    net.ids["bad document"] = net.register(net.document(), model_root=keccak(b"another model"))

    # registered on a P4 sale (a model market that answers what the test set)
    p4 = _fake_model_market(net)
    sale = (net.provider.address, net.vendors[0].address, keccak(b"model bytes"), 912_000, True)
    p4.transact("set_purchase", 4, 1, sale, sender=net.provider.account)
    purchase = Purchase(p4.address, 4, 1)
    bought = replace(net.document(), purchase=purchase)
    net.ids["bought"] = net.register(bought, purchase=purchase)

    # live, its batch not due yet
    api, _ = net.live()
    net.ids["running"] = api


def _fake_model_market(net: Net) -> Contract:
    """tests/protocols/apimarket/FakeModelMarket.vy, deployed."""
    import vyper
    from eth_abi.abi import encode

    from mercato.chain.contract import ABI

    path = Path(__file__).parents[1] / "protocols" / "apimarket" / "FakeModelMarket.vy"
    output = vyper.compile_code(path.read_text(), output_formats=["abi", "bytecode"])
    abi = ABI(output["abi"])
    code = bytes.fromhex(output["bytecode"].removeprefix("0x")) + encode(abi.constructor, [])
    receipt = net.market.chain.deploy(net.provider.account, code)
    assert receipt.contract_address is not None
    return Contract(net.market.chain, receipt.contract_address, abi, "FakeModelMarket")


# an honest API --------------------------------------------------------------------------------
def test_an_honest_api_passes_every_check_for_everyone(net: Net) -> None:
    for viewer in (None, *net.everyone):
        report = audit_api(net.market, net.ids["honest"], viewer)

        assert report.passed and report.cheaters == {}
        assert set(verdicts(report).values()) == {Verdict.PASS}, report.to_dict()
        assert report.status == "ended"


def test_a_public_audit_lists_what_only_a_key_can_check(net: Net) -> None:
    public = audit_api(net.market, net.ids["honest"], None)
    vendor = audit_api(net.market, net.ids["honest"], net.vendors[2])
    orchestrator = audit_api(net.market, net.ids["honest"], net.orchestrator)

    registration = public.checks[REGISTRATION - 1]
    assert len(registration.unchecked) == 2  # a vendor's component, the orchestrator's URLs
    assert any("slot 2's sealed component opens" in line
               for line in vendor.checks[REGISTRATION - 1].lines)  # fmt: skip
    assert any("endpoint opens" in line for line in orchestrator.checks[REGISTRATION - 1].lines)
    assert vendor.viewer_roles == ("vendor",) and orchestrator.viewer_roles == ("orchestrator",)
    paid = public.checks[PAID - 1]
    assert "recomputed from the rules" in paid.detail


# cheats the chain accepts -----------------------------------------------------------------------
def test_a_false_merkle_proof_names_the_consumer_not_the_slashed_vendor(net: Net) -> None:
    for viewer in (None, net.vendors[2], net.consumers[0]):
        report = audit_api(net.market, net.ids["cheats"], viewer)

        consumer = f"consumer {net.consumers[0].address}"
        assert report.cheaters[consumer] == [DISPUTES, SLASHES]
        assert not any(net.vendors[2].address in who for who in report.cheaters)
        (finding,) = report.checks[DISPUTES - 1].findings
        assert "false Merkle proof" in finding.text and finding.round == 0
        assert verdicts(report)[PAID] is Verdict.NOT_CHECKABLE  # not ended; money by the rules


def test_a_records_file_that_does_not_give_the_root_names_the_orchestrator(net: Net) -> None:
    report = audit_api(net.market, net.ids["cheats"], None)

    assert report.cheaters[f"orchestrator {net.orchestrator.address}"] == [BATCHES]
    (finding,) = report.checks[BATCHES - 1].findings
    assert "not the committed" in finding.text
    assert set(report.cheaters) == {
        f"orchestrator {net.orchestrator.address}",
        f"consumer {net.consumers[0].address}",
    }


def test_a_document_that_does_not_give_the_model_root_names_the_provider(net: Net) -> None:
    report = audit_api(net.market, net.ids["bad document"], None)

    assert report.cheaters == {f"provider {net.provider.address}": [REGISTRATION]}
    assert "not the registered model root" in report.checks[REGISTRATION - 1].detail
    paid = report.checks[PAID - 1]
    assert paid.verdict is Verdict.NOT_CHECKABLE
    assert "joining until" in paid.detail and "anyone cancels the API" in paid.detail


def test_the_p4_purchase_is_read_again_from_the_model_market(net: Net) -> None:
    report = audit_api(net.market, net.ids["bought"], None)

    registration = report.checks[REGISTRATION - 1]
    assert registration.verdict is Verdict.PASS
    assert "bought by the provider in P4 request 4 (submission 1" in registration.detail
    assert "912000 ppm" in registration.detail and "sale is paid" in registration.detail
    assert report.passed and report.cheaters == {}


# unfinished and bad input -------------------------------------------------------------------------
def test_a_running_api_is_not_yet_checkable_and_says_who_moves_it_on(net: Net) -> None:
    report = audit_api(net.market, net.ids["running"], None)

    assert report.passed and report.status == "live"
    paid = report.checks[PAID - 1]
    assert paid.verdict is Verdict.NOT_CHECKABLE
    assert "anyone releases the API from" in paid.detail
    assert [c.verdict for c in report.checks[: PAID - 1]] == [Verdict.PASS] * (PAID - 1)


def test_an_unknown_api_is_bad_input(net: Net) -> None:
    with pytest.raises(InputError, match=r"no API 9 \(there are 5\)"):
        audit_api(net.market, 9, None)


# the command line ------------------------------------------------------------------------------
@pytest.fixture
def cli(net: Net, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> CliRunner:
    """The CLI's market is the module's (the command reads nothing else)."""
    monkeypatch.setattr(common.Context, "market", lambda self, rpc_url=None: net.market)
    monkeypatch.setenv("MERCATO_CONFIG", str(tmp_path / "absent.toml"))
    monkeypatch.delenv("MERCATO_PRIVATE_KEY", raising=False)
    return CliRunner()


def test_cli_json_public(cli: CliRunner, net: Net) -> None:
    result = cli.invoke(app, ["audit", "api", str(net.ids["cheats"]), "--json", "--public"])

    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["api"] == net.ids["cheats"] and document["viewer"] is None
    assert document["passed"] is False
    assert {c["who"] for c in document["cheaters"]} == {
        f"orchestrator {net.orchestrator.address}",
        f"consumer {net.consumers[0].address}",
    }
    assert [c["key"] for c in document["checks"]] == [spec.key for spec in CHECKS]


def test_cli_json_honest_with_a_vendor_key(cli: CliRunner, net: Net) -> None:
    args = ["audit", "api", str(net.ids["honest"]), "--json", "--account", str(FIRST_VENDOR)]
    result = cli.invoke(app, args)

    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["viewer"] == net.vendors[0].address
    assert document["passed"] is True and document["cheaters"] == []
    assert {c["verdict"] for c in document["checks"]} == {"pass"}
