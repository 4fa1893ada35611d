"""The paper's single-round 1 DO / 1 CO / 1 MO training: transactions, gas and payments."""

from __future__ import annotations

from eth_account.signers.local import LocalAccount

from mercato.bench.training_flow import (
    DATA_PRICE,
    JOB_PRICE,
    PAPER_TRANSACTIONS,
    paper_single_round,
)
from mercato.chain.base import Chain
from mercato.protocols.deployment import deploy as deploy_all
from mercato.protocols.identity import Identity
from mercato.protocols.registry import Registry
from mercato.protocols.training.market import TrainingMarket, TrainingStatus


def deploy(chain: Chain, deployer: LocalAccount) -> tuple[TrainingMarket, Registry]:
    deployment = deploy_all(chain, deployer)
    return (
        TrainingMarket(chain, deployment.training_market),
        Registry(chain, deployment.registry),
    )


def test_paper_single_round_case(chain: Chain, accounts: list[LocalAccount]) -> None:
    # prepare
    market, registry = deploy(chain, accounts[0])
    do, co, mo = (Identity(a) for a in accounts[1:4])
    before = {who.address: chain.balance(who.address) for who in (do, co, mo)}

    # act
    report = paper_single_round(market, registry, do, co, mo)

    # assert: 14 protocol transactions (the paper: 15) and two withdrawals
    names = [step.name for step in report.steps]
    assert names == [
        "register", "register", "register", "create_dataset", "create_instance",
        "join_instance", "verify_instance", "create_model", "request_training",
        "approve_training", "start_round", "draw_round", "submit_job", "complete",
        "withdraw", "withdraw",
    ]  # fmt: skip
    assert len(report.protocol_steps()) == PAPER_TRANSACTIONS - 1
    assert market.training(report.training_id).status is TrainingStatus.COMPLETED
    assert chain.balance(market.address) == 0
    if chain.backend == "embedded":  # gas-free, so balances move by the payments alone
        assert chain.balance(do.address) - before[do.address] == DATA_PRICE
        assert chain.balance(co.address) - before[co.address] == JOB_PRICE
        assert before[mo.address] - chain.balance(mo.address) == DATA_PRICE + JOB_PRICE
    print()
    for step in report.steps:
        print(f"{step.name:18} {step.role}  {step.gas:>9,}")
    print(f"{report.transactions} transactions, {report.gas:,} gas")
