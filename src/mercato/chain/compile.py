"""Compile the Vyper contracts shipped in :mod:`mercato.contracts`, cached by source hash.

Artifacts are never committed: the first use compiles with the pinned ``vyper`` package and
stores ABI and bytecode under the cache folder, keyed by the hash of every contract source and
the compiler version, so an edited source can never run against a stale artifact. vyper itself
is imported only to compile (0.15 s): the version in the key comes from its package metadata.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from functools import cache
from importlib.metadata import version
from pathlib import Path
from typing import Any

from mercato.errors import ConfigError

CONTRACTS_DIR = Path(__file__).resolve().parent.parent / "contracts"
CACHE_ENV = "MERCATO_CACHE_DIR"
DEFAULT_CACHE_DIR = Path.home() / ".cache" / "mercato" / "contracts"


@dataclass(frozen=True)
class CompiledContract:
    """ABI and deployment bytecode of one contract."""

    name: str
    abi: list[dict[str, Any]]
    bytecode: bytes


def _sources_digest() -> str:
    digest = hashlib.sha256(version("vyper").encode())  # vyper.__version__, without vyper
    for path in sorted(CONTRACTS_DIR.rglob("*.vy*")):
        digest.update(str(path.relative_to(CONTRACTS_DIR)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:24]


def _cache_dir() -> Path:
    return Path(os.environ.get(CACHE_ENV, DEFAULT_CACHE_DIR))


@cache
def compile_contract(name: str) -> CompiledContract:
    """The compiled contract ``contracts/<name>.vy``."""
    source_path = CONTRACTS_DIR / f"{name}.vy"
    if not source_path.is_file():
        known = sorted(p.stem for p in CONTRACTS_DIR.glob("*.vy"))
        raise ConfigError(f"no contract named '{name}'. Known contracts: {', '.join(known)}")
    cached = _cache_dir() / _sources_digest() / f"{name}.json"
    if cached.is_file():
        artifact = json.loads(cached.read_text())
        return CompiledContract(name, artifact["abi"], bytes.fromhex(artifact["bytecode"]))
    import vyper
    from vyper.compiler.input_bundle import FilesystemInputBundle

    output = vyper.compile_code(
        source_path.read_text(),
        contract_path=source_path.name,
        resolved_path=source_path,
        input_bundle=FilesystemInputBundle([CONTRACTS_DIR]),
        output_formats=["abi", "bytecode"],
    )
    bytecode = bytes.fromhex(output["bytecode"].removeprefix("0x"))
    _write_atomically(cached, json.dumps({"abi": output["abi"], "bytecode": bytecode.hex()}))
    return CompiledContract(name, output["abi"], bytecode)


def _write_atomically(path: Path, text: str) -> None:
    """Write ``path`` so that a reader sees the whole file or none of it.

    Processes (test workers, agents) may compile the same contract at once: each writes its
    own temporary file, and the rename replaces the artifact in one step.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as file:
            file.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
