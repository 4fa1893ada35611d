"""``mercato.protocols.deployment`` deploys the training market and records its address."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from eth_account.signers.local import LocalAccount

from mercato.chain.base import Chain
from mercato.errors import ConfigError
from mercato.protocols.deployment import DEFAULT_FRAUD_STAKE, Deployment, Periods, deploy
from mercato.protocols.registry import Registry
from mercato.protocols.training.market import TrainingMarket

from .world import APPROVAL_PERIOD, IDLE_PERIOD, REVIEW_PERIOD, ROUND_PERIOD


def test_deploy_includes_the_training_market(chain: Chain, accounts: list[LocalAccount]) -> None:
    # prepare
    periods = Periods(
        approval=APPROVAL_PERIOD,
        training_round=ROUND_PERIOD,
        training_review=REVIEW_PERIOD,
        idle=IDLE_PERIOD,
    )

    # act
    deployment = deploy(chain, accounts[0], periods)

    # assert
    market = TrainingMarket(chain, deployment.training_market)
    assert market.contract.call("REGISTRY") == deployment.registry
    assert [market.period(n) for n in ("approval", "round", "review", "idle")] == [
        APPROVAL_PERIOD,
        ROUND_PERIOD,
        REVIEW_PERIOD,
        IDLE_PERIOD,
    ]
    assert market.training_count() == 0


def test_deploy_lets_the_training_market_slash(chain: Chain, accounts: list[LocalAccount]) -> None:
    # act
    deployment = deploy(chain, accounts[0])

    # assert: the deployer is the registry's admin and authorized the market
    market = TrainingMarket(chain, deployment.training_market)
    registry = Registry(chain, deployment.registry)
    assert market.fraud_stake() == DEFAULT_FRAUD_STAKE
    assert registry.admin() == accounts[0].address
    assert registry.is_slasher(deployment.training_market)
    assert not registry.is_slasher(deployment.auction_house)


def test_deploy_without_a_fraud_stake_authorizes_no_slasher(
    chain: Chain, accounts: list[LocalAccount]
) -> None:
    # act
    deployment = deploy(chain, accounts[0], fraud_stake=0)

    # assert
    assert TrainingMarket(chain, deployment.training_market).fraud_stake() == 0
    assert not Registry(chain, deployment.registry).is_slasher(deployment.training_market)


def test_deployment_file_round_trips_the_training_market(tmp_path: Path) -> None:
    # prepare
    deployment = Deployment(
        chain_id=31337,
        block=1,
        registry="0x" + "11" * 20,
        markets={
            "auction_house": "0x" + "22" * 20,
            "training_market": "0x" + "33" * 20,
            "data_market": "0x" + "44" * 20,
            "model_market": "0x" + "55" * 20,
            "api_market": "0x" + "66" * 20,
        },
    )
    path = tmp_path / "deployment.json"

    # act
    deployment.save(path)

    # assert
    assert json.loads(path.read_text())["version"] == 2
    assert Deployment.load(path) == deployment


def test_deployment_file_without_the_training_market_is_refused(tmp_path: Path) -> None:
    # prepare: a file that lacks an address
    path = tmp_path / "deployment.json"
    path.write_text(
        json.dumps(
            {
                "version": 2,
                "chain_id": 31337,
                "registry": "0x" + "11" * 20,
                "auction_house": "0x" + "22" * 20,
                "block": 1,
            }
        )
    )

    # act / assert
    with pytest.raises(ConfigError, match="lacks 'training_market'"):
        Deployment.load(path)
