"""Deploy Mercato's contracts and record where they are, so other processes can attach.

The deployment file names each contract's address and, beside it, the JSON ABI of each (as the
Vyper compiler emits it), so ``cast``, a wallet or an explorer can decode every call and event::

    deployment.json        {"version": 2, "chain_id": ..., "registry": "0x..", ...,
                            "abi": {"registry": "abi/Registry.json", ...}}
    abi/Registry.json      [{"type": "event", "name": "Registered", ...}, ...]
    abi/AuctionHouse.json, abi/TrainingMarket.json, abi/DataMarket.json

Light to import: the compiler and the chain load only when a contract is deployed or compiled.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mercato.chain.base import Chain
from mercato.chain.compile import compile_contract
from mercato.errors import ConfigError

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
ABI_FOLDER = "abi"
"""Where the ABI files go, relative to the deployment file's folder."""


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


def contracts() -> dict[str, str]:
    """The Vyper contract behind each address of a deployment, by the field that holds it:
    the registry, then each protocol's contract in the catalog's order."""
    from mercato.protocols.catalog import units

    return {"registry": "Registry", **{u.field: u.contract for u in units()}}


@dataclass(frozen=True)
class Deployment:
    """Addresses of one deployment of Mercato on one chain.

    ``markets`` holds each protocol's contract address by its unit's field; each is also an
    attribute (``deployment.auction_house``).
    """

    chain_id: int
    block: int
    registry: str
    markets: Mapping[str, str] = field(default_factory=dict)

    def __getattr__(self, name: str) -> str:
        markets = self.__dict__.get("markets", {})
        if name in markets:
            return str(markets[name])
        raise AttributeError(f"{type(self).__name__} has no field {name!r}")

    def address(self, field_name: str) -> str:
        """The address of the contract held in ``field_name`` (``registry`` included)."""
        return self.registry if field_name == "registry" else str(self.markets[field_name])

    def save(self, path: Path) -> None:
        """Write the deployment file (JSON) and, beside it, the ABI of every contract.

        The ABI files are written first, so a deployment file never names a missing one.
        """
        path.parent.mkdir(parents=True, exist_ok=True)
        abi_files = write_abis(path.parent / ABI_FOLDER)
        payload = {
            **self.record(),
            "abi": {
                key: abi_files[name].relative_to(path.parent).as_posix()
                for key, name in contracts().items()
            },
        }
        path.write_text(json.dumps(payload, indent=2) + "\n")

    def record(self) -> dict[str, object]:
        """The deployment file's fields but its ABI files (:meth:`parse` reads it back)."""
        return {
            "version": DEPLOYMENT_VERSION,
            "chain_id": self.chain_id,
            "registry": self.registry,
            "block": self.block,
            **self.markets,
        }

    @classmethod
    def load(cls, path: Path) -> Deployment:
        """Read a deployment file written by :meth:`save` (or ``mercato deploy``)."""
        try:
            text = path.read_text()
        except FileNotFoundError:
            raise ConfigError(f"no deployment file at {path}. Run `mercato deploy` first") from None
        return cls.parse(text, f"deployment file {path}")

    @classmethod
    def parse(cls, text: str, source: str = "the deployment") -> Deployment:
        """A deployment from the JSON text of a deployment file (``source`` names it)."""
        try:
            payload = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{source} is not valid JSON: {exc}") from None
        if not isinstance(payload, dict) or payload.get("version") != DEPLOYMENT_VERSION:
            version = payload.get("version") if isinstance(payload, dict) else None
            raise ConfigError(
                f"{source} is version {version!r}, this Mercato "
                f"reads version {DEPLOYMENT_VERSION}. Run `mercato deploy` again"
            )
        try:
            return cls(
                chain_id=int(payload["chain_id"]),
                block=int(payload["block"]),
                registry=str(payload["registry"]),
                markets={key: str(payload[key]) for key in contracts() if key != "registry"},
            )
        except KeyError as exc:
            raise ConfigError(f"{source} lacks {exc}") from None

    def check_chain(self, chain: Chain) -> None:
        """Refuse to use this deployment on another chain."""
        if chain.chain_id != self.chain_id:
            raise ConfigError(
                f"the deployment is for chain {self.chain_id}, "
                f"but the node is chain {chain.chain_id}"
            )


def save_problem(path: Path) -> str | None:
    """Why :meth:`Deployment.save` could not write ``path`` and its ABI files, or None.

    Asked before deploying, so bad ``--out`` costs no gas: nothing is created, an existing
    file is opened for appending (its bytes untouched) and a folder that would hold a new
    file gets a probe file, removed at once (which also catches a root user's /proc).
    """
    folder = path.parent / ABI_FOLDER
    targets = [path, *(folder / f"{name}.json" for name in contracts().values())]
    probed: set[Path] = set()
    for target in targets:
        try:
            if target.is_dir():
                return f"cannot write {target}: it is a folder"
            if target.exists():
                with open(target, "ab"):
                    pass
                continue
            base = target.parent
            while not base.exists() and base != base.parent:
                base = base.parent
            if not base.is_dir():
                return f"cannot write {target}: {base} is not a folder"
            if base not in probed:
                handle, probe = tempfile.mkstemp(dir=base, prefix=".mercato-probe-")
                os.close(handle)
                os.unlink(probe)
                probed.add(base)
        except (OSError, ValueError) as exc:  # ValueError: a NUL in the path
            return f"cannot write {target}: {getattr(exc, 'strerror', None) or exc}"
    return None


def contract_abi(name: str) -> list[dict[str, Any]]:
    """The JSON ABI of contract ``name`` (``AuctionHouse``...), compiled from the sources."""
    return compile_contract(name).abi


def write_abis(folder: Path) -> dict[str, Path]:
    """Write ``<folder>/<Contract>.json`` for every deployed contract; returns the paths."""
    folder.mkdir(parents=True, exist_ok=True)
    written = {}
    for name in contracts().values():
        path = folder / f"{name}.json"
        path.write_text(json.dumps(contract_abi(name), indent=2) + "\n")
        written[name] = path
    return written


def deploy(
    chain: Chain,
    deployer: LocalAccount,
    periods: Periods = Periods(),
    fraud_stake: int = DEFAULT_FRAUD_STAKE,
) -> Deployment:
    """Deploy the registry, then each protocol's contract in the catalog's order.

    The deployer is the registry's admin; it authorizes each protocol that slashes (P2's
    training market) to take up to ``fraud_stake`` of a reported party's stake (none at all
    when it is 0).
    """
    from mercato.chain.contract import Contract
    from mercato.protocols.catalog import units
    from mercato.protocols.registry import Registry

    start = chain.block_number()
    registry, _ = Contract.deploy(chain, "Registry", periods.exit_delay, sender=deployer)
    markets = {}
    for unit in units():
        args = unit.constructor(registry.address, periods, fraud_stake)
        contract, _ = Contract.deploy(chain, unit.contract, *args, sender=deployer)
        markets[unit.field] = contract.address
    for unit in units():
        if unit.slasher and fraud_stake:
            Registry(chain, registry.address).authorize_slasher(deployer, markets[unit.field])
    return Deployment(chain.chain_id, start + 1, registry.address, markets)
