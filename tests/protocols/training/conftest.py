"""Fixtures for the training-market tests: a freshly deployed market with its cast.

``chain`` (each backend) and ``accounts`` come from tests/conftest.py; ``p2`` is the
off-chain world of offchain.py on the embedded chain.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from eth_account.signers.local import LocalAccount

from mercato.chain.base import Chain
from mercato.chain.embedded import EmbeddedChain

from .offchain import P2World, build_world
from .world import World, deploy_world


@pytest.fixture
def world(chain: Chain, accounts: list[LocalAccount]) -> World:
    """A fresh registry and training market; DO, MO and six COs registered."""
    return deploy_world(chain, accounts)


@pytest.fixture
def p2(tmp_path: Path) -> Iterator[P2World]:
    """A small P2 market with its off-chain cast, on a fresh embedded chain."""
    chain = EmbeddedChain()
    world = build_world(chain, tmp_path)
    try:
        yield world
    finally:
        world.close()
        chain.close()
