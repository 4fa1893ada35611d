"""The compile cache stays whole when processes (test workers, agents) write it at once."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import mercato.chain.compile as compile_module
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


MODULE = """# pragma version ~=0.4.3
VALUE: constant(uint256) = {value}


@internal
@pure
def _value() -> uint256:
    return VALUE
"""

INTERFACE = """# pragma version ~=0.4.3
@view
def value() -> uint256:
    ...
"""

CONTRACT = """# pragma version ~=0.4.3
from interfaces import IValue
from utils import helper

implements: IValue


@external
@view
def value() -> uint256:
    return helper._value()
"""


def test_an_edited_imported_module_is_compiled_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cache key covers the modules and interfaces a contract imports, not just its own
    source: editing one in a subfolder never reuses the artifact built from the old one."""
    contracts = tmp_path / "contracts"
    (contracts / "utils").mkdir(parents=True)
    (contracts / "interfaces").mkdir()
    (contracts / "Uses.vy").write_text(CONTRACT)
    (contracts / "interfaces" / "IValue.vyi").write_text(INTERFACE)
    module = contracts / "utils" / "helper.vy"
    module.write_text(MODULE.format(value=1))
    monkeypatch.setattr(compile_module, "CONTRACTS_DIR", contracts)
    monkeypatch.setenv(compile_module.CACHE_ENV, str(tmp_path / "cache"))
    compile_uncached = compile_module.compile_contract.__wrapped__

    def cached_digests() -> set[str]:
        return {p.name for p in (tmp_path / "cache").iterdir()}

    first = compile_uncached("Uses")
    module.write_text(MODULE.format(value=2))
    second = compile_uncached("Uses")
    assert first.bytecode != second.bytecode  # VALUE changed in the module only
    assert len(cached_digests()) == 2

    (contracts / "interfaces" / "IValue.vyi").write_text(INTERFACE + "\n")
    compile_uncached("Uses")
    assert len(cached_digests()) == 3
