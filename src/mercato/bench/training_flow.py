"""The paper's single-round case (1 DO, 1 CO, 1 MO) step by step: transactions, gas and time.

Somy et al. report 15 transactions per model training. This module runs the same training
through the public wrappers only (registry, training market, identities), one transaction
at a time, each waited for: every transaction of the flow, who sends it, its gas from the
receipt, and the wall time from the end of the previous step to its receipt. The tests of
the training market run it as is; the training benchmark times it and takes its gas as the
gas limits of the trainings it sends in waves.
"""

from __future__ import annotations

from dataclasses import dataclass

from eth_utils.crypto import keccak

from mercato.bench.common import fresh_identities
from mercato.bench.flow import Flow, Step, StepClock
from mercato.chain.base import Chain
from mercato.crypto.commit import commit, new_nonce
from mercato.protocols.deployment import deploy
from mercato.protocols.identity import Identity
from mercato.protocols.registry import Registry
from mercato.protocols.roles import Role
from mercato.protocols.training.market import TrainingMarket

PAPER_TRANSACTIONS = 15
PAPER_CHAIN_SECONDS = 15.0
"""Somy et al.: about 15 s of chain time per training on their Fabric network."""
DATA_PRICE = 10**15
JOB_PRICE = 3 * 10**14
SUBSET = b"the one subset of the paper's single-CO dataset"
MODEL = b"the model the CO trained"
DATASET_META = keccak(b"dataset description")
INSTANCE_ENVELOPE = keccak(b"sealed subset envelope")
MODEL_TYPE = b"logistic-regression".ljust(32, b"\0")
METHOD_HASH = keccak(b"training method")
GLOBAL_MODEL = keccak(b"model 0")
LOCATION_ENVELOPE = keccak(b"sealed location envelope")
WITHDRAW = "withdraw"


@dataclass(frozen=True)
class FlowReport(Flow):
    """Every transaction of one training, in order."""

    training_id: int
    steps: tuple[Step, ...]

    def protocol_steps(self) -> tuple[Step, ...]:
        """The steps the paper counts: registrations and the protocol, not withdrawals."""
        return tuple(step for step in self.steps if step.name != WITHDRAW)


@dataclass(frozen=True)
class Participants:
    """The three parties of one training."""

    do: Identity
    co: Identity
    mo: Identity

    @classmethod
    def fresh(cls, chain: Chain) -> Participants:
        """New random accounts, funded on a development chain (``set_balance``).

        Their encryption keys are derived here, off the clock: client-side work.
        """
        return cls(*fresh_identities(3, chain))


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
    record = StepClock()
    if register:
        record("register", "DO", registry.register(do, Role.DATA_OWNER))
        record("register", "CO", registry.register(co, Role.COMPUTE_PROVIDER))
        record("register", "MO", registry.register(mo, Role.MODEL_OWNER))
    dataset_id, result = market.create_dataset(
        do.account,
        meta_hash=DATASET_META,
        subsets=1,
        replicas=1,
        data_price=DATA_PRICE,
        job_price=JOB_PRICE,
    )
    record("create_dataset", "DO", result)
    instance_id, result = market.create_instance(
        do.account, dataset_id, 0, 0, co.address, INSTANCE_ENVELOPE
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
        model_type=MODEL_TYPE,
        method_hash=METHOD_HASH,
        key_hash=keccak(mo.encryption_public),
    )
    record("create_model", "MO", result)
    training_id, result = market.request_training(
        mo.account, model_id, dataset_id, subsets_per_round=1, max_rounds=1
    )
    record("request_training", "MO", result)
    record("approve_training", "DO", market.approve_training(do.account, training_id))
    record("start_round", "MO", market.start_round(mo.account, training_id, GLOBAL_MODEL))
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
            location_hash=LOCATION_ENVELOPE,
        ),
    )
    record("complete", "MO", market.complete(mo.account, training_id))
    if withdraw:
        record(WITHDRAW, "DO", market.withdraw(do.account))
        record(WITHDRAW, "CO", market.withdraw(co.account))
    return FlowReport(training_id, tuple(record.steps))


def timed_flow(chain: Chain) -> FlowReport:
    """The paper's case on a fresh deployment with fresh participants, one tx at a time."""
    deployment = deploy(chain, chain.dev_accounts(1)[0])
    market = TrainingMarket(chain, deployment.training_market)
    registry = Registry(chain, deployment.registry)
    parties = Participants.fresh(chain)
    return paper_single_round(market, registry, parties.do, parties.co, parties.mo)
