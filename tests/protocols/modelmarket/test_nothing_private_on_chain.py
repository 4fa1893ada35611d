"""What never goes on chain in P4: after the demo's whole flow (a cheater caught, a lazy
executor slashed), no transaction's input and no log holds a hidden test group, its salt or
its rows, or any model file; a seller's key appears only once it is revealed, after the
tally, and a losing seller's key never.

The secrets are read back from the participants' own agent stores after the run: the
buyer's hidden test set (salts included), each seller's key, model and delivered copy.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from eth_account.signers.local import LocalAccount

from mercato.agents.store import AgentStore
from mercato.chain.base import Receipt, TxRequest
from mercato.crypto.fairswap import CHUNK_SIZE, KEY_SIZE, commit_model
from mercato.protocols import demo as demo_harness
from mercato.protocols import deployment as deployment_module
from mercato.protocols.deployment import Deployment
from mercato.protocols.modelmarket import agents, history
from mercato.protocols.modelmarket.documents import SALT_SIZE, HiddenTestSet, read_group
from mercato.protocols.modelmarket.market import ModelMarket
from mercato.protocols.modelmarket.scenario import (
    BUYER,
    SELLERS,
    ModelMarketReport,
    run_modelmarket_demo,
)
from mercato.protocols.modelmarket.seller import Offer
from mercato.storage.local import LocalBlobStore

from ..onchain import TappedChain

WINDOW = 32
STEP = 16
MIN_NONZERO = 8
"""Bytes of a window that must not be zero: a run of zeros (or one float) is everywhere."""


class BlockTap(TappedChain):
    """The tapped chain, also keeping each transaction's input with its block (a reverted
    transaction's input is public too: it gets the block it would have had)."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[tuple[int, bytes]] = []

    def deploy(self, sender: LocalAccount, initcode: bytes, value: int = 0) -> Receipt:
        return self._kept(initcode, lambda: super(BlockTap, self).deploy(sender, initcode, value))

    def send(self, tx: TxRequest) -> Receipt:
        if tx.to is None:  # a creation goes on to deploy, which keeps it
            return super().send(tx)
        return self._kept(tx.data, lambda: super(BlockTap, self).send(tx))

    def _kept(self, data: bytes, send: Callable[[], Receipt]) -> Receipt:
        pending = self.block_number() + 1
        try:
            receipt = send()
        except Exception:
            self.sent.append((pending, bytes(data)))
            raise
        self.sent.append((receipt.block_number, bytes(data)))
        return receipt


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
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    work = tmp_path_factory.mktemp("p4-on-chain")
    chain = BlockTap()
    agents_dir = work / "agents"
    deployed: list[Deployment] = []

    def deploy_and_keep(*args: Any, **kwargs: Any) -> Deployment:
        deployed.append(deployment_module.deploy(*args, **kwargs))
        return deployed[-1]

    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setattr(demo_harness, "deploy", deploy_and_keep)
        report = run_modelmarket_demo(chain, LocalBlobStore(work / "blobs"), agents_dir)
    request_id = report.request_id
    with AgentStore(agents_dir / f"{BUYER}.sqlite") as store:
        kept = store.get(BUYER, f"{agents.TEST_KEY}{request_id}")
        tests = HiddenTestSet.from_bytes(bytes.fromhex(kept))
    offers = {}
    for name in SELLERS:
        with AgentStore(agents_dir / f"{name}.sqlite") as store:
            offers[name] = Offer.from_record(store.get(name, f"{agents.OFFER_KEY}{request_id}"))
    (deployment,) = deployed
    market = ModelMarket(chain, deployment.model_market)
    yield Run(chain, market, report, request_id, tests, offers)
    chain.close()


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
