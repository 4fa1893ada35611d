"""The compile cache stays whole when processes (test workers, agents) write it at once."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from mercato.chain.compile import _write_atomically

WRITERS = 8
WRITES_EACH = 25


def test_concurrent_writes_of_one_artifact_leave_one_whole_file(tmp_path: Path) -> None:
    artifact = tmp_path / "digest" / "Escrow.json"
    payloads = [json.dumps({"writer": i, "bytecode": f"{i:02x}" * 50_000}) for i in range(WRITERS)]

    def write(i: int) -> None:
        for _ in range(WRITES_EACH):
            _write_atomically(artifact, payloads[i])

    with ThreadPoolExecutor(WRITERS) as pool:
        list(pool.map(write, range(WRITERS)))  # re-raises any writer's error

    assert artifact.read_text() in payloads
    assert [p.name for p in artifact.parent.iterdir()] == ["Escrow.json"]
