"""What never goes on chain in P5: after the demo's whole flow (a vendor killed, a cheater
disputed and slashed, a batch settled), no transaction's input and no log holds a vendor's
or the orchestrator's address on the network, a consumer's rows or outputs, any
intermediate output, or any component's bytes; the chain holds hashes and counts.

The secrets are read back from the services' own journals after the run: every step's
input and output, and the components each vendor was given.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from mercato.protocols.apimarket import scenario
from mercato.protocols.apimarket.endpoints import from_b64
from mercato.protocols.apimarket.messages import decode_array
from mercato.storage.local import LocalBlobStore

from ..onchain import TappedChain

WINDOW = 32
STEP = 16
MIN_NONZERO = 8
"""Bytes of a window that must not be zero: a run of zeros is everywhere."""


@dataclass(frozen=True)
class Run:
    chain: TappedChain
    work: Path
    report: scenario.ApiMarketReport


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    work = tmp_path_factory.mktemp("apimarket-on-chain")
    chain = TappedChain()
    report = scenario.run_apimarket_demo(chain, LocalBlobStore(work / "blobs"), work / "agents")
    yield Run(chain, work, report)
    chain.close()


def windows(data: bytes) -> Iterator[bytes]:
    """Slices of ``data`` long enough to be found by chance only if copied."""
    for start in range(0, max(len(data) - WINDOW, 0) + 1, STEP):
        piece = data[start : start + WINDOW]
        if len(piece) == WINDOW and sum(1 for b in piece if b) >= MIN_NONZERO:
            yield piece


def journal_entries(work: Path) -> list[dict[str, object]]:
    entries = []
    for path in (work / "agents" / "api-market").rglob("*.journal"):
        entries += [json.loads(line) for line in path.read_text().splitlines()]
    return entries


def test_the_demo_ran_whole(run: Run) -> None:
    assert run.report.status == "ended"
    assert sum(run.report.calls.values()) > 0


def test_no_endpoint_goes_on_chain(run: Run) -> None:
    everything = run.chain.everything()
    assert b"127.0.0.1" not in everything
    assert b"http" not in everything.lower()
    assert b"localhost" not in everything.lower()


def arrays_in(entry: object) -> Iterator[bytes]:
    """The raw bytes of every array a journal entry carries (inputs and outputs, any depth)."""
    if isinstance(entry, dict):
        for key, value in entry.items():
            if key in ("input", "output") and isinstance(value, str):
                array = decode_array(from_b64(value, key))
                yield np.ascontiguousarray(array).tobytes()
            else:
                yield from arrays_in(value)
    elif isinstance(entry, list):
        for value in entry:
            yield from arrays_in(value)


def test_no_row_output_or_component_goes_on_chain(run: Run) -> None:
    everything = run.chain.everything()
    secrets = [data for entry in journal_entries(run.work) for data in arrays_in(entry)]
    assert len(secrets) > 2 * sum(run.report.calls.values()), "the journals hold too little"
    components = list((run.work / "agents" / "api-market").rglob("*.component"))
    assert components, "no vendor kept its component"
    secrets += [path.read_bytes() for path in components]
    leaked = [piece for secret in secrets for piece in windows(secret) if piece in everything]
    assert not leaked, f"{len(leaked)} windows of private bytes found on chain"
