"""Fixtures for the model-market tests: a freshly deployed market with its cast.

``chain`` (each backend) and ``accounts`` come from tests/conftest.py.
"""

from __future__ import annotations

import pytest
from eth_account.signers.local import LocalAccount

from mercato.chain.base import Chain

from .world import World, deploy_world


@pytest.fixture
def world(chain: Chain, accounts: list[LocalAccount]) -> World:
    """A fresh registry and model market; the buyer, sellers and executors registered."""
    return deploy_world(chain, accounts)
