"""Deploy Mercato's contracts and record where they are, so other processes can attach."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mercato.chain.base import Chain
from mercato.chain.contract import Contract
from mercato.errors import ConfigError
from mercato.protocols.registry import Registry

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

DEFAULT_EXIT_DELAY = 7 * 86400
DEFAULT_DELIVERY_PERIOD = 3 * 86400
DEFAULT_REVIEW_PERIOD = 2 * 86400
DEFAULT_ARBITRATION_PERIOD = 3 * 86400
DEFAULT_APPROVAL_PERIOD = 2 * 86400
DEFAULT_ROUND_PERIOD = 86400
DEFAULT_TRAINING_REVIEW_PERIOD = 86400
DEFAULT_IDLE_PERIOD = 3 * 86400
DEFAULT_FRAUD_STAKE = 10**16
"""Wei of a compute provider's registry stake that a fraud report in P2 slashes."""
DEPLOYMENT_VERSION = 2


@dataclass(frozen=True)
class Periods:
    """Deadlines (seconds) that the contracts enforce."""

    exit_delay: int = DEFAULT_EXIT_DELAY
    delivery: int = DEFAULT_DELIVERY_PERIOD
    review: int = DEFAULT_REVIEW_PERIOD
    arbitration: int = DEFAULT_ARBITRATION_PERIOD
    approval: int = DEFAULT_APPROVAL_PERIOD
    training_round: int = DEFAULT_ROUND_PERIOD
    training_review: int = DEFAULT_TRAINING_REVIEW_PERIOD
    idle: int = DEFAULT_IDLE_PERIOD


@dataclass(frozen=True)
class Deployment:
    """Addresses of one deployment of Mercato on one chain."""

    chain_id: int
    registry: str
    auction_house: str
    block: int
    training_market: str
    data_market: str

    def save(self, path: Path) -> None:
        """Write the deployment file (JSON)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        payload = {"version": DEPLOYMENT_VERSION, **asdict(self)}
        path.write_text(json.dumps(payload, indent=2) + "\n")

    @classmethod
    def load(cls, path: Path) -> Deployment:
        """Read a deployment file written by :meth:`save` (or ``mercato deploy``)."""
        try:
            payload = json.loads(path.read_text())
        except FileNotFoundError:
            raise ConfigError(f"no deployment file at {path}. Run `mercato deploy` first") from None
        except json.JSONDecodeError as exc:
            raise ConfigError(f"deployment file {path} is not valid JSON: {exc}") from None
        if payload.get("version") != DEPLOYMENT_VERSION:
            raise ConfigError(
                f"deployment file {path} is version {payload.get('version')!r}, this Mercato "
                f"reads version {DEPLOYMENT_VERSION}. Run `mercato deploy` again"
            )
        try:
            return cls(
                chain_id=int(payload["chain_id"]),
                registry=str(payload["registry"]),
                auction_house=str(payload["auction_house"]),
                block=int(payload["block"]),
                training_market=str(payload["training_market"]),
                data_market=str(payload["data_market"]),
            )
        except KeyError as exc:
            raise ConfigError(f"deployment file {path} lacks {exc}") from None

    def check_chain(self, chain: Chain) -> None:
        """Refuse to use this deployment on another chain."""
        if chain.chain_id != self.chain_id:
            raise ConfigError(
                f"the deployment is for chain {self.chain_id}, "
                f"but the node is chain {chain.chain_id}"
            )


def deploy(
    chain: Chain,
    deployer: LocalAccount,
    periods: Periods = Periods(),
    fraud_stake: int = DEFAULT_FRAUD_STAKE,
) -> Deployment:
    """Deploy the registry, the auction house, the training market and the data market.

    The deployer is the registry's admin; it authorizes the training market to slash up to
    ``fraud_stake`` of a reported compute provider's stake (not at all when it is 0).
    """
    start = chain.block_number()
    registry, _ = Contract.deploy(chain, "Registry", periods.exit_delay, sender=deployer)
    house, _ = Contract.deploy(
        chain,
        "AuctionHouse",
        registry.address,
        periods.delivery,
        periods.review,
        periods.arbitration,
        sender=deployer,
    )
    training, _ = Contract.deploy(
        chain,
        "TrainingMarket",
        registry.address,
        periods.approval,
        periods.training_round,
        periods.training_review,
        periods.idle,
        fraud_stake,
        sender=deployer,
    )
    data, _ = Contract.deploy(chain, "DataMarket", registry.address, sender=deployer)
    if fraud_stake:
        Registry(chain, registry.address).authorize_slasher(deployer, training.address)
    return Deployment(
        chain_id=chain.chain_id,
        registry=registry.address,
        auction_house=house.address,
        block=start + 1,
        training_market=training.address,
        data_market=data.address,
    )
