"""Typed wrapper of the TrainingMarket contract (P2, ownership-preserving training).

Storage layout, for auditors (see the contract's docstring for the rules):

- dataset: ``owner | subsets << 160 | replicas << 168 | verified << 176``, one word of prices
  (``data_price | job_price << 128``) and the metadata hash; the ids of a subset's replicas
  share one word (32 bits each);
- instance: ``co | dataset_id << 160 | subset << 192 | replica << 200 | status << 208``;
- model: its owner only (type, method and key hashes are in ``ModelCreated``);
- training: terms ``mo | dataset_id << 160 | model_id << 192 | k << 224 | max_rounds << 232``,
  progress ``status | round << 8 | remaining << 16 | jobs << 32 | deadline << 48 |
  target_block << 112 | selected << 176 | cycle << 208``, a fraud mask (bit
  ``subset * 8 + replica``) and the pay forfeited to the DO, both zero while nobody cheats;
- job (training, instance): ``pending pay | last round << 128 | fraud << 136``;
- ``nonce_used``: every nonce of a join or a job.
- the forfeit word of a training also holds, above bit 128, the stake slashed by its fraud
  reports (``slashed``): the contract holds it on top of the escrow until completion, and
  its ``forfeited`` (low bits) counts stake forfeited to the DO as well as pay.

Data hashes, nonces, model hashes and sealed locations live in events only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from eth_utils.crypto import keccak

from mercato.chain.contract import TxResult
from mercato.hashes import Hash
from mercato.protocols.draws import BLOCKHASH_WINDOW as BLOCKHASH_WINDOW
from mercato.protocols.training.limits import MAX_PRICE as MAX_PRICE
from mercato.protocols.training.limits import MAX_REPLICAS as MAX_REPLICAS
from mercato.protocols.training.limits import MAX_ROUNDS as MAX_ROUNDS
from mercato.protocols.training.limits import MAX_SUBSETS as MAX_SUBSETS
from mercato.protocols.training.views import Dataset as Dataset
from mercato.protocols.training.views import Instance as Instance
from mercato.protocols.training.views import InstanceStatus as InstanceStatus
from mercato.protocols.training.views import Job as Job
from mercato.protocols.training.views import Model as Model
from mercato.protocols.training.views import Training as Training
from mercato.protocols.training.views import TrainingStatus as TrainingStatus
from mercato.protocols.training.views import escrow_for as escrow_for
from mercato.protocols.training.views import subsets_of as subsets_of
from mercato.protocols.wrapper import ContractWrapper

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"
DRAW_GAS_LIMIT = 250_000
"""Gas limit sent with draw_round, above its worst case (32 subsets, all drawn, frauds).

A draw must run in a block after the one that recorded start_round, but a node estimates
gas on the latest block, where the draw reverts if that block is the target: so the draw
is sent with this explicit limit instead of an estimate (it costs 40,000 to 70,000 gas).
"""


def round_seed(block_hash: bytes, training_id: int, round_number: int) -> bytes:
    """The seed of a round's draw: keccak256(blockhash(target) || training id || round)."""
    return keccak(block_hash + training_id.to_bytes(32, "big") + round_number.to_bytes(32, "big"))


class TrainingMarket(ContractWrapper):
    """Calls and transactions of the training market, in Mercato's types."""

    CONTRACT = "TrainingMarket"
    ITEM = "training"

    # data owner -------------------------------------------------------------------------
    def create_dataset(
        self,
        owner: LocalAccount,
        *,
        meta_hash: bytes,
        subsets: int,
        replicas: int,
        data_price: int,
        job_price: int,
    ) -> tuple[int, TxResult]:
        """List a dataset; returns (dataset id, result)."""
        result = self.contract.transact(
            "create_dataset", meta_hash, subsets, replicas, data_price, job_price, sender=owner
        )
        return int(result.event("DatasetCreated")["dataset_id"]), result

    def create_instance(
        self,
        owner: LocalAccount,
        dataset_id: int,
        subset: int,
        replica: int,
        co: str,
        envelope_hash: bytes,
    ) -> tuple[int, TxResult]:
        """Record that ``co`` holds a replica, sealed to it in blob ``envelope_hash``;
        returns (instance id, result)."""
        result = self.contract.transact(
            "create_instance", dataset_id, subset, replica, co, envelope_hash, sender=owner
        )
        return int(result.event("InstanceCreated")["instance_id"]), result

    def verify_instance(self, owner: LocalAccount, instance_id: int, ok: bool) -> TxResult:
        return self.contract.transact("verify_instance", instance_id, ok, sender=owner)

    def approve_training(self, owner: LocalAccount, training_id: int) -> TxResult:
        return self.contract.transact("approve_training", training_id, sender=owner)

    # compute provider -------------------------------------------------------------------
    def join_instance(
        self, co: LocalAccount, instance_id: int, data_hash: bytes, nonce: bytes
    ) -> TxResult:
        return self.contract.transact("join_instance", instance_id, data_hash, nonce, sender=co)

    def submit_job(
        self,
        co: LocalAccount,
        training_id: int,
        instance_id: int,
        *,
        model_hash: bytes,
        nonce: bytes,
        location_hash: bytes,
    ) -> TxResult:
        return self.contract.transact(
            "submit_job",
            training_id,
            instance_id,
            model_hash,
            nonce,
            location_hash,
            sender=co,
        )

    # model owner ------------------------------------------------------------------------
    def create_model(
        self, owner: LocalAccount, *, model_type: bytes, method_hash: bytes, key_hash: bytes
    ) -> tuple[int, TxResult]:
        """Record a model; returns (model id, result)."""
        result = self.contract.transact(
            "create_model", model_type, method_hash, key_hash, sender=owner
        )
        return int(result.event("ModelCreated")["model_id"]), result

    def request_training(
        self,
        mo: LocalAccount,
        model_id: int,
        dataset_id: int,
        *,
        subsets_per_round: int,
        max_rounds: int,
        value: int | None = None,
    ) -> tuple[int, TxResult]:
        """Request a training, locking the most it can cost (read from the dataset unless
        ``value`` is given); returns (training id, result)."""
        if value is None:
            value = self.dataset(dataset_id).escrow_for(subsets_per_round, max_rounds)
        result = self.contract.transact(
            "request_training",
            model_id,
            dataset_id,
            subsets_per_round,
            max_rounds,
            sender=mo,
            value=value,
        )
        return int(result.event("TrainingRequested")["training_id"]), result

    def cancel(self, mo: LocalAccount, training_id: int) -> TxResult:
        return self.contract.transact("cancel", training_id, sender=mo)

    def start_round(self, mo: LocalAccount, training_id: int, model_hash: bytes) -> TxResult:
        return self.contract.transact("start_round", training_id, model_hash, sender=mo)

    def report_fraud(
        self,
        mo: LocalAccount,
        training_id: int,
        instance_id: int,
        round_number: int,
        evidence_hash: bytes,
    ) -> TxResult:
        return self.contract.transact(
            "report_fraud", training_id, instance_id, round_number, evidence_hash, sender=mo
        )

    # anyone -----------------------------------------------------------------------------
    def draw_round(self, caller: LocalAccount, training_id: int) -> TxResult:
        """Draw the round's subsets (or re-target, if the target block hash expired)."""
        return self.contract.transact("draw_round", training_id, sender=caller, gas=DRAW_GAS_LIMIT)

    def close_round(self, caller: LocalAccount, training_id: int) -> TxResult:
        return self.contract.transact("close_round", training_id, sender=caller)

    def complete(self, caller: LocalAccount, training_id: int) -> TxResult:
        return self.contract.transact("complete", training_id, sender=caller)

    # reading ----------------------------------------------------------------------------
    def dataset(self, dataset_id: int) -> Dataset:
        return self.read(Dataset, "dataset", dataset_id, meta_hash=Hash)

    def instance(self, instance_id: int) -> Instance:
        return self.read(Instance, "instance", instance_id, status=InstanceStatus)

    def instance_at(self, dataset_id: int, subset: int, replica: int) -> int | None:
        """The id of a slot's current instance, or None if the DO created none."""
        instance_id = int(self.contract.call("instance_at", dataset_id, subset, replica))
        return instance_id or None

    def model_owner(self, model_id: int) -> str | None:
        owner = str(self.contract.call("model_owner", model_id))
        return None if owner == ZERO_ADDRESS else owner

    def model(self, model_id: int, from_block: int = 0) -> Model:
        """The model's record (owner from storage, hashes from its ModelCreated event)."""
        event = self.first("ModelCreated", from_block=from_block, model_id=model_id)
        return Model(
            model_id=model_id,
            owner=event["owner"],
            model_type=bytes(event["model_type"]),
            method_hash=Hash(event["method_hash"]),
            key_hash=Hash(event["key_hash"]),
        )

    def training(self, training_id: int) -> Training:
        return self.read(Training, "training", training_id, status=TrainingStatus)

    def job(self, training_id: int, instance_id: int) -> Job:
        pending, round_number, fraudulent = self.contract.call("job", training_id, instance_id)
        return Job(pending=pending, round=round_number, fraudulent=bool(fraudulent))

    def nonce_used(self, nonce: bytes) -> bool:
        return bool(self.contract.call("nonce_used", nonce))

    def dataset_count(self) -> int:
        return int(self.contract.call("next_dataset_id")) - 1

    def instance_count(self) -> int:
        return int(self.contract.call("next_instance_id")) - 1

    def model_count(self) -> int:
        return int(self.contract.call("next_model_id")) - 1

    def training_count(self) -> int:
        return int(self.contract.call("next_training_id")) - 1

    def period(self, name: str) -> int:
        """One of the contract's periods: "approval", "round", "review" or "idle"."""
        return int(self.contract.call(f"{name.upper()}_PERIOD"))

    def fraud_stake(self) -> int:
        """Wei of a CO's registry stake that a fraud report slashes (0: none)."""
        return int(self.contract.call("FRAUD_STAKE"))

    def slashed(self, training_id: int) -> int:
        """Stake slashed in a training, held on top of its escrow until completion.

        The contract's balance is what it owes plus, for each unfinished training,
        ``training(t).locked + slashed(t)``.
        """
        return int(self.contract.call("slashed", training_id))

    def count(self) -> int:
        return self.training_count()

    def counts(self) -> dict[str, int]:
        return {"trainings": self.training_count(), "datasets": self.dataset_count()}

    def state(self, item_id: int) -> str:
        return self.training(item_id).status.label

    def parties(self, item_id: int) -> list[str]:
        """The model owner, the data owner and every compute provider that had a job in it."""
        training = self.training(item_id)
        dataset = self.dataset(training.dataset_id)
        parties = [dataset.owner, training.mo]
        for subset in range(dataset.subsets):
            for replica in range(dataset.replicas):
                instance_id = self.instance_at(training.dataset_id, subset, replica)
                if instance_id is None:
                    continue
                job = self.job(item_id, instance_id)
                if job.round or job.pending or job.fraudulent:
                    parties.append(self.instance(instance_id).co)
        return list(dict.fromkeys(parties))
