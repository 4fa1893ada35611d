"""A freshly deployed registry and training market, its cast, and short-hands for each step.

The cast: a deployer, a data owner (DO), a model owner (MO), six compute providers (COs)
and a stranger registered for nothing. In a dataset built here, replica r of every subset
goes to CO r, so no CO holds two replicas of one subset. Nobody stakes unless a test says
so (``World.stake``); the deployer is the registry's admin and authorizes the market to
slash FRAUD_STAKE per fraud report.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from eth_account.signers.local import LocalAccount
from eth_utils.crypto import keccak

from mercato.chain.base import Chain
from mercato.chain.contract import Contract, Event, TxResult
from mercato.crypto.commit import commit
from mercato.protocols.draws import select as select_subsets
from mercato.protocols.roles import Role
from mercato.protocols.training.market import (
    Training,
    TrainingMarket,
    round_seed,
)

from ..world import DAY, HOUR, ProtocolWorld, deploy_registry, register_cast

APPROVAL_PERIOD = DAY
ROUND_PERIOD = 2 * HOUR
REVIEW_PERIOD = 3 * HOUR
IDLE_PERIOD = 2 * DAY
PERIODS = (APPROVAL_PERIOD, ROUND_PERIOD, REVIEW_PERIOD, IDLE_PERIOD)
FRAUD_STAKE = 2 * 10**15

META_HASH = keccak(b"digits: 1,797 8x8 images, 10 classes")
MODEL_TYPE = b"logistic-regression".ljust(32, b"\0")
METHOD_HASH = keccak(b"sgd, 1 epoch, lr 0.1, seed 7")
MO_KEY_HASH = keccak(b"MO's public key for sealed locations")
GLOBAL_MODEL = keccak(b"global model, round 0")
EVIDENCE = keccak(b"hash mismatch: keccak(model || nonce) != declared")
DATA_PRICE = 10**15
JOB_PRICE = 3 * 10**14
CO_COUNT = 6


def subset_bytes(dataset_id: int, subset: int) -> bytes:
    """Stand-in contents of a subset (only its hash goes on chain)."""
    return f"dataset {dataset_id} subset {subset}".encode()


def block_hash(chain: Chain, number: int) -> bytes:
    """The hash of block ``number`` as the EVM's BLOCKHASH sees it."""
    return chain.block_hash(number)


@dataclass
class Setup:
    """A dataset with an instance in every slot: ``instances[subset][replica]``."""

    dataset_id: int
    subsets: int
    replicas: int
    instances: list[list[int]]

    def all_instances(self) -> list[int]:
        return [i for row in self.instances for i in row]


@dataclass
class World(ProtocolWorld):
    """The deployed contracts, the cast, and one short-hand per protocol step."""

    market: TrainingMarket
    do: LocalAccount
    mo: LocalAccount
    cos: list[LocalAccount]

    @property
    def contract(self) -> Contract:
        return self.market.contract

    @property
    def cast(self) -> list[LocalAccount]:
        return [*self.cos, self.stranger, self.do, self.mo]

    # reading ------------------------------------------------------------------------------
    def state(self, training_id: int) -> Training:
        return self.market.training(training_id)

    def co_of(self, instance_id: int) -> LocalAccount:
        return self.account_at(self.market.instance(instance_id).co)

    # chain ----------------------------------------------------------------------------------
    def stake(self, co: LocalAccount, amount: int) -> TxResult:
        """Add ``amount`` to a CO's registry stake (it registers again, same role and key)."""
        return self.register(co, Role.COMPUTE_PROVIDER, stake=amount)

    def nonce(self) -> bytes:
        """A fresh nonce, never used before in this world."""
        return self.fresh(b"nonce")

    # data owner and compute providers ---------------------------------------------------------
    def create_dataset(
        self,
        subsets: int = 1,
        replicas: int = 1,
        *,
        data_price: int = DATA_PRICE,
        job_price: int = JOB_PRICE,
        sender: LocalAccount | None = None,
    ) -> TxResult:
        return self.contract.transact(
            "create_dataset",
            META_HASH,
            subsets,
            replicas,
            data_price,
            job_price,
            sender=sender or self.do,
        )

    def new_dataset(
        self,
        subsets: int = 1,
        replicas: int = 1,
        *,
        data_price: int = DATA_PRICE,
        job_price: int = JOB_PRICE,
    ) -> int:
        result = self.create_dataset(subsets, replicas, data_price=data_price, job_price=job_price)
        return int(result.event("DatasetCreated")["dataset_id"])

    def create_instance(
        self,
        dataset_id: int,
        subset: int,
        replica: int,
        co: LocalAccount | str | None = None,
        sender: LocalAccount | None = None,
    ) -> int:
        holder = co or self.cos[replica]
        address = holder if isinstance(holder, str) else holder.address
        result = self.contract.transact(
            "create_instance",
            dataset_id,
            subset,
            replica,
            address,
            keccak(b"sealed replica %d/%d/%d" % (dataset_id, subset, replica)),
            sender=sender or self.do,
        )
        return int(result.event("InstanceCreated")["instance_id"])

    def join(
        self,
        instance_id: int,
        *,
        nonce: bytes | None = None,
        data_hash: bytes | None = None,
        sender: LocalAccount | None = None,
    ) -> TxResult:
        info = self.market.instance(instance_id)
        nonce = nonce or self.nonce()
        data_hash = data_hash or commit(subset_bytes(info.dataset_id, info.subset), nonce)
        return self.contract.transact(
            "join_instance", instance_id, data_hash, nonce, sender=sender or self.co_of(instance_id)
        )

    def verify(
        self, instance_id: int, ok: bool = True, sender: LocalAccount | None = None
    ) -> TxResult:
        return self.contract.transact("verify_instance", instance_id, ok, sender=sender or self.do)

    def setup(
        self,
        subsets: int = 1,
        replicas: int = 1,
        *,
        verify: bool = True,
        data_price: int = DATA_PRICE,
        job_price: int = JOB_PRICE,
    ) -> Setup:
        """A dataset with every slot created, joined and (unless told) verified."""
        dataset_id = self.new_dataset(subsets, replicas, data_price=data_price, job_price=job_price)
        instances = [
            [self.create_instance(dataset_id, s, r) for r in range(replicas)]
            for s in range(subsets)
        ]
        setup = Setup(dataset_id, subsets, replicas, instances)
        for instance_id in setup.all_instances():
            self.join(instance_id)
            if verify:
                self.verify(instance_id)
        return setup

    # model owner ------------------------------------------------------------------------------
    def new_model(self, sender: LocalAccount | None = None) -> int:
        result = self.contract.transact(
            "create_model", MODEL_TYPE, METHOD_HASH, MO_KEY_HASH, sender=sender or self.mo
        )
        return int(result.event("ModelCreated")["model_id"])

    def request(
        self,
        dataset_id: int,
        model_id: int | None = None,
        *,
        k: int = 1,
        rounds: int = 1,
        value: int | None = None,
        sender: LocalAccount | None = None,
    ) -> TxResult:
        if value is None:
            value = self.market.dataset(dataset_id).escrow_for(k, rounds)
        return self.contract.transact(
            "request_training",
            model_id or self.new_model(),
            dataset_id,
            k,
            rounds,
            sender=sender or self.mo,
            value=value,
        )

    def requested(self, setup: Setup, *, k: int = 1, rounds: int = 1) -> int:
        result = self.request(setup.dataset_id, k=k, rounds=rounds)
        return int(result.event("TrainingRequested")["training_id"])

    def approved(self, setup: Setup, *, k: int = 1, rounds: int = 1) -> int:
        training_id = self.requested(setup, k=k, rounds=rounds)
        self.contract.transact("approve_training", training_id, sender=self.do)
        return training_id

    def start(self, training_id: int, sender: LocalAccount | None = None) -> TxResult:
        return self.contract.transact(
            "start_round", training_id, GLOBAL_MODEL, sender=sender or self.mo
        )

    def draw(self, training_id: int, sender: LocalAccount | None = None) -> TxResult:
        return self.market.draw_round(sender or self.stranger, training_id)

    def started(self, training_id: int) -> Event:
        """Start and draw the next round; return its RoundStarted event."""
        self.start(training_id)
        return self.draw(training_id).event("RoundStarted")

    def submit(
        self,
        training_id: int,
        instance_id: int,
        *,
        nonce: bytes | None = None,
        model_hash: bytes | None = None,
        sender: LocalAccount | None = None,
    ) -> TxResult:
        nonce = nonce or self.nonce()
        return self.contract.transact(
            "submit_job",
            training_id,
            instance_id,
            model_hash or commit(b"trained model", nonce),
            nonce,
            keccak(b"sealed location" + nonce),
            sender=sender or self.co_of(instance_id),
        )

    def drawn_instances(self, setup: Setup, training_id: int) -> list[int]:
        """Every instance of the subsets drawn for the current round."""
        selected = self.state(training_id).selected
        return [i for s in range(setup.subsets) if selected >> s & 1 for i in setup.instances[s]]

    def submit_all(
        self, setup: Setup, training_id: int, skip: Sequence[int] = ()
    ) -> list[TxResult]:
        """Every drawn instance not in ``skip`` submits its job."""
        return [
            self.submit(training_id, i)
            for i in self.drawn_instances(setup, training_id)
            if i not in skip
        ]

    def round_done(self, setup: Setup, training_id: int, skip: Sequence[int] = ()) -> Event:
        """Start, draw and fully submit the next round; return its RoundStarted event."""
        event = self.started(training_id)
        self.submit_all(setup, training_id, skip)
        return event

    def complete(self, training_id: int, sender: LocalAccount | None = None) -> TxResult:
        return self.contract.transact("complete", training_id, sender=sender or self.mo)

    def expected_draw(self, event: Event, subsets: int, k: int, cycle: int) -> tuple[int, int]:
        """The draw the contract must make for this RoundStarted event, recomputed."""
        seed = round_seed(event["block_hash"], event["training_id"], event["round"])
        selected, new_cycle = select_subsets(seed, subsets, k, cycle)
        return selected, new_cycle


def deploy_market(
    chain: Chain, registry: Contract, deployer: LocalAccount, fraud_stake: int = FRAUD_STAKE
) -> Contract:
    """Deploy a training market on ``registry``; it may slash if ``fraud_stake`` is not 0."""
    contract, _ = Contract.deploy(
        chain, "TrainingMarket", registry.address, *PERIODS, fraud_stake, sender=deployer
    )
    if fraud_stake:
        registry.transact("authorize_slasher", contract.address, sender=deployer)
    return contract


def deploy_world(
    chain: Chain, accounts: Sequence[LocalAccount], fraud_stake: int = FRAUD_STAKE
) -> World:
    """Deploy a registry and a training market and register the cast."""
    deployer, do, mo, stranger = accounts[0], accounts[1], accounts[2], accounts[9]
    cos = list(accounts[3 : 3 + CO_COUNT])
    registry = deploy_registry(chain, deployer)
    contract = deploy_market(chain, registry, deployer, fraud_stake)
    cast = [(do, Role.DATA_OWNER), (mo, Role.MODEL_OWNER)] + [
        (co, Role.COMPUTE_PROVIDER) for co in cos
    ]
    register_cast(registry, cast)
    return World(
        chain=chain,
        registry=registry,
        deployer=deployer,
        stranger=stranger,
        market=TrainingMarket(chain, contract.address),
        do=do,
        mo=mo,
        cos=cos,
    )
