"""P5's benchmark on one chain: the market deployed, its cast registered, APIs made live.

Every part of ``mercato bench apimarket`` registers APIs of its own on one deployment, so
the parts never meet: each API's epochs start when it goes live. The cast are fresh random
accounts funded on the development chain: a provider, an orchestrator, vendors and a
consumer, registered with the roles the contract asks (model owner, compute providers,
client). Endpoints are handed to the orchestrator directly rather than through sealed blobs
(the join names the hash of a label): the benchmark times the calls, not the handshake.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from eth_utils.crypto import keccak

from mercato.bench.common import fresh_identities
from mercato.errors import ProtocolError
from mercato.ml.splitting import SplitModel, model_root
from mercato.protocols.apimarket.terms import ApiTerms
from mercato.protocols.apimarket.views import Periods, terms_of
from mercato.protocols.deployment import deploy
from mercato.protocols.marketplace import Marketplace
from mercato.protocols.roles import Role
from mercato.storage.local import LocalBlobStore

if TYPE_CHECKING:
    from mercato.chain.base import Chain
    from mercato.chain.contract import TxResult
    from mercato.protocols.identity import Identity

ETHER = 10**18
EPOCH = 3600
PERIODS = Periods(join=EPOCH, epoch=EPOCH, window=EPOCH, response=600, term=EPOCH)
"""One epoch of calls, its batch due an epoch later, a window of an epoch after that."""
PRICE = ETHER // 1000
SHARE = ETHER // 10_000
"""Wei per call to the vendor of each component (the provider keeps the rest)."""
VENDOR_STAKE = ETHER // 20
ORCHESTRATOR_STAKE = ETHER // 10
CHALLENGE_BOND = ETHER // 1000
DISPUTE_BOND = 2 * ETHER // 1000
VENDORS = 5
"""Enough for the largest API here: three replicas of one component and one of two more."""
FUNDS = 10**24
"""What each fresh account is given: every deposit, stake and fee, many times over."""


@dataclass(frozen=True)
class BenchCast:
    """The benchmark's participants, registered on the market."""

    provider: Identity
    orchestrator: Identity
    vendors: tuple[Identity, ...]
    consumer: Identity


@dataclass
class BenchMarket:
    """The deployed market and its cast, with the steps that make an API live."""

    chain: Chain
    market: Marketplace
    cast: BenchCast

    @classmethod
    def deploy(cls, chain: Chain, folder: Path) -> BenchMarket:
        """Deploy every contract on ``chain`` and register a fresh cast."""
        deployment = deploy(chain, chain.dev_accounts(1)[0])
        market = Marketplace(chain, deployment, LocalBlobStore(folder))
        provider, orchestrator, consumer, *vendors = fresh_identities(3 + VENDORS, chain, FUNDS)
        cast = BenchCast(provider, orchestrator, tuple(vendors), consumer)
        market.registry.register(provider, Role.MODEL_OWNER)
        market.registry.register(orchestrator, Role.COMPUTE_PROVIDER)
        market.registry.register(consumer, Role.CLIENT)
        for vendor in vendors:
            market.registry.register(vendor, Role.COMPUTE_PROVIDER)
        return cls(chain, market, cast)

    def live_api(
        self, model: SplitModel, slot_components: Sequence[int], deposit: int = 0
    ) -> tuple[int, list[TxResult]]:
        """Register an API of ``model`` whose slot ``v`` holds component
        ``slot_components[v]`` (vendor ``v`` of the cast), let every vendor join and the
        orchestrator accept, and deposit ``deposit`` for the consumer; the API's id and the
        transactions."""
        am, cast = self.market.api_market, self.cast
        api, registered = am.register_api(
            cast.provider.account,
            model_root=model_root(model),
            doc_hash=keccak(b"mercato bench: api document"),
            components=len(model.components),
            slot_components=list(slot_components),
            slot_vendors=[cast.vendors[v].address for v in range(len(slot_components))],
            shares=[SHARE] * len(model.components),
            price=PRICE,
            vendor_stake=VENDOR_STAKE,
            orchestrator=cast.orchestrator.address,
            orchestrator_stake=ORCHESTRATOR_STAKE,
            challenge_bond=CHALLENGE_BOND,
            dispute_bond=DISPUTE_BOND,
            periods=PERIODS,
        )
        txs = [registered]
        for slot in range(len(slot_components)):
            endpoint = keccak(f"mercato bench: endpoint of slot {slot}".encode())
            txs.append(am.join(cast.vendors[slot].account, api, slot, endpoint))
        txs.append(am.accept(cast.orchestrator.account, api))
        if am.state(api) != "live":
            raise ProtocolError(f"the benchmark's API {api} is {am.state(api)}, not live")
        if deposit:
            txs.append(am.deposit(cast.consumer.account, api, deposit))
        return api, txs

    def terms(self, api: int) -> ApiTerms:
        """The services' terms of a live API of layer blocks (a chain flow)."""
        am = self.market.api_market
        return terms_of(am.address, am.api(api), am.slots(api), "chain")

    def epoch_start(self, api: int, epoch: int) -> int:
        view = self.market.api_market.api(api)
        return int(view.start + epoch * view.epoch_period)

    def travel_to(self, timestamp: int) -> None:
        """Move chain time so that the next block is at or past ``timestamp``."""
        remaining = timestamp - self.chain.timestamp()
        if remaining > 0:
            self.chain.time_travel(remaining)
