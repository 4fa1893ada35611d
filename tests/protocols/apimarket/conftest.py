"""Fixtures for the API market's contract tests: one chain and deployed world per session.

The contract is compiled once (cached by source hash) and deployed once per test process;
every test registers its own APIs, so tests share the chain without meeting.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from mercato.chain.embedded import EmbeddedChain

from .world import World, deploy_world


@pytest.fixture(scope="session")
def world() -> Iterator[World]:
    """The registry, the API market and the cast on the session's embedded chain."""
    chain = EmbeddedChain()
    try:
        yield deploy_world(chain)
    finally:
        chain.close()
