"""Fixtures for the API market's tests: one chain and deployed world per session, and the
digits model the live (adversary) tests serve.

The contract is compiled once (cached by source hash) and deployed once per test process;
every test registers its own APIs, so tests share the chain without meeting. The model is
trained once per test process too: no test changes it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from mercato.chain.embedded import EmbeddedChain

from .live import Digits, digits_model
from .world import World, deploy_world


@pytest.fixture(scope="session")
def world() -> Iterator[World]:
    """The registry, the API market and the cast on the session's embedded chain."""
    chain = EmbeddedChain()
    try:
        yield deploy_world(chain)
    finally:
        chain.close()


@pytest.fixture(scope="session")
def model() -> Digits:
    """A small MLP trained on the digits data set, split into two layer blocks."""
    return digits_model()
