"""Fixtures for the auction-house tests: a freshly deployed marketplace with its cast.

``chain`` (each backend) and ``accounts`` come from tests/conftest.py.
"""

from __future__ import annotations

import pytest
from eth_account.signers.local import LocalAccount

from mercato.chain.base import Chain

from .world import World, deploy_world


@pytest.fixture
def market(chain: Chain, accounts: list[LocalAccount]) -> World:
    """A fresh registry and auction house; client, arbiter and six providers registered."""
    return deploy_world(chain, accounts)
