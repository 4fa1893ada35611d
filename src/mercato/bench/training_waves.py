"""Complete trainings per second on a node: many of the paper's trainings in flight, in waves.

Every training is the paper's 1 DO / 1 CO / 1 MO single-round case with its own three
accounts, so no two trainings share a nonce. A wave is one protocol step for every training
(the registrations of all three parties first, then the eleven steps from create_dataset to
complete): :meth:`RpcChain.send_wave` signs its transactions locally with explicit gas
limits, sends them in JSON-RPC batches, mines them block by block with ``evm_mine`` and reads
the receipts back in batches; the ids the next wave needs come from the events in the
receipts. A wave starts once the previous one is mined, so every draw_round lands in a block
after its start_round, as the contract requires. Withdrawals are left out, as in the paper's
count of 15.

The gas limits come from one training run first through the typed wrappers (automine on),
plus a margin; draw_round gets the wrapper's fixed :data:`DRAW_GAS_LIMIT`. The timed part
needs a node that mines on request: the driver switches automine off for it (``evm_setAutomine``,
anvil and hardhat) and back afterwards. Every receipt must succeed (``send_wave`` raises
otherwise) and every training is read back from the chain at the end: COMPLETED, the DO owed
the data price and the CO the job price. A figure for failed transactions would be worthless.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from eth_utils.crypto import keccak

from mercato.bench.common import automine
from mercato.bench.flow import ProgressCallback, Wave, gas_limits, timed_wave
from mercato.bench.training_flow import (
    DATA_PRICE,
    DATASET_META,
    GLOBAL_MODEL,
    INSTANCE_ENVELOPE,
    JOB_PRICE,
    LOCATION_ENVELOPE,
    METHOD_HASH,
    MODEL,
    MODEL_TYPE,
    SUBSET,
    FlowReport,
    Participants,
    paper_single_round,
)
from mercato.chain.base import Receipt, TxRequest
from mercato.chain.contract import Contract, TxResult
from mercato.chain.rpc import RpcChain
from mercato.crypto.commit import commit, new_nonce
from mercato.errors import ProtocolError
from mercato.protocols.deployment import deploy
from mercato.protocols.registry import Registry
from mercato.protocols.roles import Role
from mercato.protocols.training.market import (
    DRAW_GAS_LIMIT,
    TrainingMarket,
    TrainingStatus,
    escrow_for,
)

DEFAULT_TRAININGS = 300
"""Trainings in flight: a few seconds of waves on a 2-core machine."""
GAS_MARGIN_PERCENT = 50
"""Gas limit = the calibration training's gas plus this margin (refunds are at most 20%)."""
REGISTER = "register"
STEPS: tuple[str, ...] = (
    REGISTER,
    "create_dataset",
    "create_instance",
    "join_instance",
    "verify_instance",
    "create_model",
    "request_training",
    "approve_training",
    "start_round",
    "draw_round",
    "submit_job",
    "complete",
)
"""One wave each; the register wave holds the three registrations of every training."""
ESCROW = escrow_for(DATA_PRICE, JOB_PRICE, 1, 1, 1)

IDS: dict[str, tuple[str, str]] = {
    "create_dataset": ("DatasetCreated", "dataset_id"),
    "create_instance": ("InstanceCreated", "instance_id"),
    "create_model": ("ModelCreated", "model_id"),
    "request_training": ("TrainingRequested", "training_id"),
}
"""Steps whose receipts carry an id later waves need: (event, argument)."""


@dataclass(frozen=True)
class WaveReport:
    """Trainings completed in waves, in how long, and what each wave (one protocol step for
    every training) took."""

    trainings: int
    waves: tuple[Wave, ...]
    seconds: float
    """Wall time from the first wave's first signature to the last wave's last receipt."""
    gas_limits: dict[str, int]
    market: str = ""
    """Address of the training market the waves ran on."""
    training_ids: tuple[int, ...] = ()

    @property
    def transactions(self) -> int:
        return sum(wave.transactions for wave in self.waves)

    @property
    def trainings_per_s(self) -> float:
        return self.trainings / self.seconds if self.seconds > 0 else 0.0

    @property
    def tx_per_s(self) -> float:
        return self.transactions / self.seconds if self.seconds > 0 else 0.0

    @property
    def registration_seconds(self) -> float:
        """Time of the registration wave: paid once by members of a running market."""
        return sum(wave.seconds for wave in self.waves if wave.step == REGISTER)

    @property
    def trainings_per_s_registered(self) -> float:
        """Trainings per second between members already registered (11 transactions each)."""
        seconds = self.seconds - self.registration_seconds
        return self.trainings / seconds if seconds > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "trainings": self.trainings,
            "trainings_per_s": round(self.trainings_per_s, 1),
            "transactions": self.transactions,
            "tx_per_s": round(self.tx_per_s, 1),
            "seconds": round(self.seconds, 3),
            "training_latency_s": round(self.seconds, 3),
            "registrations_included": True,
            "trainings_per_s_registered_members": round(self.trainings_per_s_registered, 1),
            "withdrawals_included": False,
            "waves": [wave.as_dict() for wave in self.waves],
            "gas_limits": dict(self.gas_limits),
        }


@dataclass
class _Training:
    """One training in flight: its parties and the ids the chain gave it so far."""

    parties: Participants
    dataset_id: int = 0
    instance_id: int = 0
    model_id: int = 0
    training_id: int = 0


def wave_gas_limits(flow: FlowReport, margin_percent: int = GAS_MARGIN_PERCENT) -> dict[str, int]:
    """Per step: the most gas it used in ``flow`` plus ``margin_percent``; the draw's fixed."""
    return {**gas_limits(flow.protocol_steps(), margin_percent), "draw_round": DRAW_GAS_LIMIT}


class _Steps:
    """The transaction of each step for one training, encoded by the contracts' ABIs."""

    def __init__(self, market: Contract, registry: Contract, gas: dict[str, int]) -> None:
        self.market = market
        self.registry = registry
        self.gas = gas

    def requests(self, step: str, t: _Training) -> list[TxRequest]:
        do, co, mo = t.parties.do.account, t.parties.co.account, t.parties.mo.account
        gas = self.gas[step]
        if step == REGISTER:
            return [
                self.registry.tx(
                    "register", int(role), who.encryption_public, sender=who.account, gas=gas
                )
                for who, role in (
                    (t.parties.do, Role.DATA_OWNER),
                    (t.parties.co, Role.COMPUTE_PROVIDER),
                    (t.parties.mo, Role.MODEL_OWNER),
                )
            ]
        tx = self.market.tx
        if step == "create_dataset":
            args: tuple[Any, ...] = (DATASET_META, 1, 1, DATA_PRICE, JOB_PRICE)
            return [tx(step, *args, sender=do, gas=gas)]
        if step == "create_instance":
            args = (t.dataset_id, 0, 0, co.address, INSTANCE_ENVELOPE)
            return [tx(step, *args, sender=do, gas=gas)]
        if step == "join_instance":
            nonce = new_nonce()
            args = (t.instance_id, commit(SUBSET, nonce), nonce)
            return [tx(step, *args, sender=co, gas=gas)]
        if step == "verify_instance":
            return [tx(step, t.instance_id, True, sender=do, gas=gas)]
        if step == "create_model":
            key_hash = keccak(t.parties.mo.encryption_public)
            return [tx(step, MODEL_TYPE, METHOD_HASH, key_hash, sender=mo, gas=gas)]
        if step == "request_training":
            args = (t.model_id, t.dataset_id, 1, 1)
            return [tx(step, *args, sender=mo, value=ESCROW, gas=gas)]
        if step == "approve_training":
            return [tx(step, t.training_id, sender=do, gas=gas)]
        if step == "start_round":
            return [tx(step, t.training_id, GLOBAL_MODEL, sender=mo, gas=gas)]
        if step == "draw_round":
            return [tx(step, t.training_id, sender=co, gas=gas)]
        if step == "submit_job":
            nonce = new_nonce()
            args = (t.training_id, t.instance_id, commit(MODEL, nonce), nonce, LOCATION_ENVELOPE)
            return [tx(step, *args, sender=co, gas=gas)]
        if step == "complete":
            return [tx(step, t.training_id, sender=mo, gas=gas)]
        raise ValueError(f"no step named {step!r}")

    def read_ids(
        self, step: str, trainings: Sequence[_Training], receipts: Sequence[Receipt]
    ) -> None:
        """Record the ids a step's events carry (one receipt per training)."""
        if step not in IDS:
            return
        event, key = IDS[step]
        for t, receipt in zip(trainings, receipts, strict=True):
            setattr(t, key, int(TxResult(receipt, self.market).event(event)[key]))


def measure_waves(
    chain: RpcChain, trainings: int = DEFAULT_TRAININGS, progress: ProgressCallback | None = None
) -> WaveReport:
    """Deploy, calibrate gas on one training, then run ``trainings`` trainings in waves."""
    with automine(chain, True):
        deployment = deploy(chain, chain.dev_accounts(1)[0])
        market = TrainingMarket(chain, deployment.training_market)
        registry = Registry(chain, deployment.registry)
        first = Participants.fresh(chain)
        calibration = paper_single_round(
            market, registry, first.do, first.co, first.mo, withdraw=False
        )
    limits = wave_gas_limits(calibration)
    steps = _Steps(market.contract, registry.contract, limits)
    flight = [_Training(Participants.fresh(chain)) for _ in range(trainings)]
    waves: list[Wave] = []
    with automine(chain, False):
        start = time.perf_counter()
        for step in STEPS:
            began = time.perf_counter()
            requests = [tx for t in flight for tx in steps.requests(step, t)]
            wave, receipts = timed_wave(chain, step, requests, began)
            steps.read_ids(step, flight, receipts)
            waves.append(wave)
            if progress is not None:
                progress(1)
        seconds = time.perf_counter() - start
    check_completed(market, flight)
    return WaveReport(
        trainings,
        tuple(waves),
        seconds,
        limits,
        market.address,
        tuple(t.training_id for t in flight),
    )


def check_completed(market: TrainingMarket, flight: Sequence[_Training]) -> None:
    """Raise ProtocolError unless every training is COMPLETED and its DO and CO are owed."""
    for t in flight:
        status = market.training(t.training_id).status
        if status is not TrainingStatus.COMPLETED:
            raise ProtocolError(f"training {t.training_id} ended {status.label}, not completed")
        owed = (market.owed(t.parties.do.address), market.owed(t.parties.co.address))
        if owed != (DATA_PRICE, JOB_PRICE):
            raise ProtocolError(
                f"training {t.training_id}: DO and CO are owed {owed}, "
                f"not {(DATA_PRICE, JOB_PRICE)}"
            )
