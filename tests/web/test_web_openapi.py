"""The HTTP API against its own OpenAPI document, with inputs schemathesis generates.

A small market on the embedded chain (two auctions, nothing in the other protocols) is
served over loopback; schemathesis reads the served ``/openapi.json`` and calls every
operation with valid and invalid inputs (ids that exist, ids that do not, ids that are not
numbers). Whatever it sends, the server answers without a 500, as the declared schema says: a
200 with its record, or a one-line JSON error.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from mercato.chain.embedded import EmbeddedChain
from mercato.protocols import readmodel
from mercato.protocols.apimarket.endpoints import bind
from mercato.protocols.apimarket.serving import BackgroundServer
from mercato.protocols.catalog import units
from mercato.protocols.identity import Identity
from mercato.protocols.marketplace import Marketplace
from mercato.protocols.roles import Role
from mercato.web.app import create_app

AUCTIONS = 2
MAX_EXAMPLES = 30
"""Examples per operation: enough to reach ids that exist, ids that do not, and non-numbers."""
PATHS = (
    "/api/health",
    "/api/markets",
    "/api/participants",
    *(path for unit in units() for path in (f"/api/{unit.key}", f"/api/{unit.key}/{{ident}}")),
    *(f"/api/{unit.key}/{{ident}}/audit" for unit in units() if readmodel.auditor(unit)),
)
"""Every route of the read model (the catalog's protocols, their audits where they have one)."""
STREAMS = ("/api/events",)
"""Operations that never end (a server-sent event stream): not called here."""
REQUIREMENTS_HASH = b"\x11" * 32
MAX_PRICES = (10**15, 2 * 10**15, 3 * 10**15)
HOUR = 3600


def small_market(store: Path) -> Marketplace:
    """A market on a new embedded chain with :data:`AUCTIONS` open auctions."""
    chain = EmbeddedChain()
    market = Marketplace.create(chain, store)
    _, client_account, arbiter_account = chain.dev_accounts(3)  # funded
    client, arbiter = Identity(client_account), Identity(arbiter_account)
    market.registry.register(client, Role.CLIENT)
    market.registry.register(arbiter, Role.ARBITER)
    for _ in range(AUCTIONS):
        market.auction_house.create(
            client.account,
            requirements_hash=REQUIREMENTS_HASH,
            max_prices=MAX_PRICES,
            duration=HOUR,
            min_refs=0,
            arbiter=arbiter.address,
        )
    return market


@pytest.fixture(scope="module")
def api_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The API over :func:`small_market`, served on loopback for this module."""
    market = small_market(tmp_path_factory.mktemp("openapi") / "blobs")
    sock, url = bind("127.0.0.1", 0)
    server = BackgroundServer(create_app(lambda: market), sock)
    try:
        yield url
    finally:
        server.stop()
        market.chain.close()


@pytest.fixture(scope="module")
def api_schema(api_url: str) -> Any:
    """The OpenAPI document the server serves."""
    return schemathesis.openapi.from_url(f"{api_url}/openapi.json")


def _operations(api_schema: Any) -> set[str]:
    """Every ``METHOD path`` of the document but the streams."""
    found = (result.ok() for result in api_schema.get_all_operations())
    return {f"{op.method.upper()} {op.path}" for op in found if op.path not in STREAMS}


def test_the_served_document_lists_the_read_models_routes(api_schema: Any) -> None:
    # act
    operations = _operations(api_schema)

    # assert: exactly the routes checked below (a new route is checked once it is listed)
    assert operations == {f"GET {path}" for path in PATHS}


CASES = [
    *((path, GenerationMode.POSITIVE) for path in PATHS),
    *((path, GenerationMode.NEGATIVE) for path in PATHS if "{" in path),
]
"""Valid inputs for every route; invalid ones where there is a parameter to get wrong."""


@pytest.mark.parametrize(("path", "mode"), CASES, ids=[f"{p} {m.value}" for p, m in CASES])
def test_no_input_makes_the_server_fail(api_schema: Any, path: str, mode: GenerationMode) -> None:
    # prepare
    operation = api_schema[path]["GET"]

    @given(case=operation.as_strategy(mode))
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,  # a read of the chain on a loaded machine: never a timed assert
        derandomize=True,  # the same inputs on every run: a failure can be replayed
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    def answers(case: Any) -> None:
        # act
        response = case.call()

        # assert: never a 500; every answer as its schema says; a refusal is one line of JSON
        case.validate_response(response, checks=[not_a_server_error])
        case.validate_response(response, checks=[response_schema_conformance])
        if response.status_code != 200:
            assert response.status_code in (404, 422), response.text
            body = response.json()
            assert list(body) == ["detail"]
            assert isinstance(body["detail"], str) and "\n" not in body["detail"]

    answers()
