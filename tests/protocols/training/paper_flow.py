"""The paper's single-round case (1 DO, 1 CO, 1 MO) step by step, counting transactions and gas.

Somy et al. report 15 transactions per model training. This module runs the same training
through the public wrapper only (registry, training market, identities), so that the
benchmark can reuse it as is: every transaction of the flow, who sends it, and its gas
from the receipt.
"""

from __future__ import annotations

from dataclasses import dataclass

from eth_utils.crypto import keccak

from mercato.chain.contract import TxResult
from mercato.crypto.commit import commit, new_nonce
from mercato.protocols.identity import Identity
from mercato.protocols.registry import Registry
from mercato.protocols.roles import Role
from mercato.protocols.training.market import TrainingMarket

PAPER_TRANSACTIONS = 15
DATA_PRICE = 10**15
JOB_PRICE = 3 * 10**14
SUBSET = b"the one subset of the paper's single-CO dataset"
MODEL = b"the model the CO trained"


@dataclass(frozen=True)
class Step:
    """One transaction of the flow."""

    name: str
    role: str
    gas: int


@dataclass(frozen=True)
class FlowReport:
    """Every transaction of one training, in order."""

    training_id: int
    steps: tuple[Step, ...]

    @property
    def transactions(self) -> int:
        return len(self.steps)

    @property
    def gas(self) -> int:
        return sum(step.gas for step in self.steps)

    def protocol_steps(self) -> tuple[Step, ...]:
        """The steps the paper counts: registrations and the protocol, not withdrawals."""
        return tuple(step for step in self.steps if step.name != "withdraw")


def paper_single_round(
    market: TrainingMarket,
    registry: Registry,
    do: Identity,
    co: Identity,
    mo: Identity,
    *,
    register: bool = True,
    withdraw: bool = True,
) -> FlowReport:
    """Run one training of the paper's 1 DO / 1 CO / 1 MO single-round case.

    Registers the three participants (unless ``register`` is false: already registered),
    lists a 1 x 1 dataset, joins and verifies its instance, records the model, requests
    and approves the training, runs one round (start, draw, one job), completes it and
    (if ``withdraw``) lets the DO and the CO withdraw their pay; the MO spent its escrow
    exactly, so it has no refund to withdraw.
    """
    steps: list[Step] = []

    def record(name: str, role: str, result: TxResult) -> TxResult:
        steps.append(Step(name, role, result.gas_used))
        return result

    if register:
        record("register", "DO", registry.register(do, Role.DATA_OWNER))
        record("register", "CO", registry.register(co, Role.COMPUTE_PROVIDER))
        record("register", "MO", registry.register(mo, Role.MODEL_OWNER))
    dataset_id, result = market.create_dataset(
        do.account,
        meta_hash=keccak(b"dataset description"),
        subsets=1,
        replicas=1,
        data_price=DATA_PRICE,
        job_price=JOB_PRICE,
    )
    record("create_dataset", "DO", result)
    instance_id, result = market.create_instance(
        do.account, dataset_id, 0, 0, co.address, keccak(b"sealed subset envelope")
    )
    record("create_instance", "DO", result)
    nonce = new_nonce()
    record(
        "join_instance",
        "CO",
        market.join_instance(co.account, instance_id, commit(SUBSET, nonce), nonce),
    )
    record("verify_instance", "DO", market.verify_instance(do.account, instance_id, True))
    model_id, result = market.create_model(
        mo.account,
        model_type=b"logistic-regression".ljust(32, b"\0"),
        method_hash=keccak(b"training method"),
        key_hash=keccak(mo.encryption_public),
    )
    record("create_model", "MO", result)
    training_id, result = market.request_training(
        mo.account, model_id, dataset_id, subsets_per_round=1, max_rounds=1
    )
    record("request_training", "MO", result)
    record("approve_training", "DO", market.approve_training(do.account, training_id))
    record("start_round", "MO", market.start_round(mo.account, training_id, keccak(b"model 0")))
    record("draw_round", "CO", market.draw_round(co.account, training_id))
    nonce = new_nonce()
    record(
        "submit_job",
        "CO",
        market.submit_job(
            co.account,
            training_id,
            instance_id,
            model_hash=commit(MODEL, nonce),
            nonce=nonce,
            location_hash=keccak(b"sealed location envelope"),
        ),
    )
    record("complete", "MO", market.complete(mo.account, training_id))
    if withdraw:
        record("withdraw", "DO", market.withdraw(do.account))
        record("withdraw", "CO", market.withdraw(co.account))
    return FlowReport(training_id, tuple(steps))
