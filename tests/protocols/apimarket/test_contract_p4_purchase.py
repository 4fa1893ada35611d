"""An API built on a model bought in P4: the real ModelMarket's `purchase` view decides."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from mercato.chain.contract import Contract
from mercato.chain.embedded import EmbeddedChain

from ..modelmarket.world import World as P4World
from ..modelmarket.world import deploy_world as deploy_p4_world
from ..world import reverts
from .world import DOC_HASH, MODEL_ROOT, NO_PURCHASE, PERIODS, PRICE, SHARES

SCORES = (950_000, 600_000)


@pytest.fixture(scope="module")
def p4() -> Iterator[P4World]:
    chain = EmbeddedChain()
    try:
        yield deploy_p4_world(chain, chain.dev_accounts(10))
    finally:
        chain.close()


def register(p4: P4World, market: Contract, purchase: tuple[str, int, int]) -> int:
    vendors = [e.address for e in p4.executors]
    result = market.transact(
        "register_api",
        MODEL_ROOT,
        DOC_HASH,
        2,
        [0, 0, 0, 1],
        vendors,
        SHARES,
        PRICE,
        10**16,
        p4.sellers[3].address,
        10**17,
        10**15,
        10**15,
        PERIODS,
        purchase,
        sender=p4.buyer,
    )
    return int(result.event("ApiRegistered")["api"])


def test_only_a_paid_purchase_by_the_provider_is_shown(p4: P4World) -> None:
    market, _ = Contract.deploy(p4.chain, "ApiMarket", p4.registry.address, sender=p4.buyer)
    request_id = p4.swapping(SCORES)
    purchase = (p4.market.contract.address, request_id, 0)
    with reverts("apimarket: that purchase is not paid"):
        register(p4, market, purchase)
    p4.reveal_key(request_id, 0)
    p4.travel_to(p4.submission(request_id, 0).deadline)
    p4.market.finish(p4.stranger, request_id, 0)
    with reverts("apimarket: provider did not buy that model"):
        market.transact(
            "register_api",
            MODEL_ROOT,
            DOC_HASH,
            2,
            [0, 0, 0, 1],
            [e.address for e in p4.executors],
            SHARES,
            PRICE,
            10**16,
            p4.sellers[3].address,
            10**17,
            10**15,
            10**15,
            PERIODS,
            purchase,
            sender=p4.sellers[0],
        )

    api = register(p4, market, purchase)

    (shown,) = market.events(name="PurchaseShown", api=api)
    assert shown["seller"] == p4.sellers[0].address and shown["score"] == SCORES[0]
    assert shown["plain_root"] == p4.models[request_id, 0].commitments.plain_root
    assert register(p4, market, NO_PURCHASE) == api + 1
