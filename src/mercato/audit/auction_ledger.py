"""One auction's record as an auditor reads it: the chain's events, the blobs, one viewer's keys.

:class:`AuctionLedger` reads every event of the auction house and the registry once, keeps
those of one auction, fetches the blobs they name (the signed execution report, the sealed
assets and model, the client's complaint) and opens sealed blobs with the viewer's key where
the viewer is their recipient: the infrastructure winner the handed-over assets, the client
the delivered model. Nothing here judges; the checks of :mod:`mercato.audit.auction` do.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cached_property

from mercato.audit.blobs import Opened, fetch
from mercato.audit.report import Finding
from mercato.chain.contract import Event
from mercato.crypto.attestation import SignedReport, SoftwareAttestation
from mercato.crypto.commit import keccak
from mercato.errors import IntegrityError, MercatoError
from mercato.hashes import Hash
from mercato.ontology.category import Category
from mercato.protocols.auction.rules import lowest_bid, report_problems
from mercato.protocols.auction.views import Auction, Status
from mercato.protocols.identity import Identity
from mercato.protocols.marketplace import Marketplace
from mercato.protocols.roles import Role
from mercato.storage.base import hash_hex
from mercato.storage.envelope import open_envelope
from mercato.timefmt import same_address

CLIENT = "client"
ARBITER = "arbiter"
CONTRACT = "contract"
SLASHER = "slasher"
PROVIDER_ROLES: dict[Category, str] = {
    Category.DATA: "data provider",
    Category.ALGORITHM: "algorithm provider",
    Category.INFRASTRUCTURE: "infrastructure provider",
}
"""What the auditor calls the bidders and winners of each category."""


@dataclass(frozen=True)
class Delivery:
    """What the evidence says of a delivery: the report's problems, or why it cannot be read."""

    problems: tuple[str, ...]
    """What :func:`~mercato.protocols.auction.rules.report_problems` finds, or why the report
    cannot be read at all; () when the report vouches for the delivery."""

    @property
    def sound(self) -> bool:
        return not self.problems


class AuctionLedger:
    """Everything an auditor reads about one auction, for one viewer."""

    def __init__(self, market: Marketplace, auction_id: int, viewer: Identity | None) -> None:
        house = market.auction_house
        self.market = market
        self.auction_id = auction_id
        self.viewer = viewer
        self.auction: Auction = house.auction(auction_id)
        # read after the state, so that the events cover at least what the state reflects
        self.all_events: list[Event] = house.events(from_block=market.deployment.block)
        self.registry_events: list[Event] = market.registry.contract.events(market.deployment.block)
        self.now = market.chain.timestamp()
        self.events = [e for e in self.all_events if e.get("auction_id") == auction_id]
        self.created: Event = self.named("AuctionCreated")[0]
        self.bids: list[Event] = self.named("BidPlaced")
        self.adjudicated: Event | None = self._last("Adjudicated")
        self.handed: list[Event] = self.named("AssetHandedOver")
        self.delivered: Event | None = self._last("Delivered")
        self.rejected: Event | None = self._last("Rejected")
        self.arbitrated: Event | None = self._last("Arbitrated")
        self.settled: list[Event] = self.named("Settled")

    # events ---------------------------------------------------------------------------------
    def named(self, name: str) -> list[Event]:
        """This auction's events called ``name``, in chain order."""
        return [e for e in self.events if e.name == name]

    def _last(self, name: str) -> Event | None:
        found = self.named(name)
        return found[-1] if found else None

    def credits(self, event: Event) -> list[tuple[str, int]]:
        """(account, wei) of every Credited event in ``event``'s transaction, in order."""
        return [
            (str(e["account"]), int(e["amount"]))
            for e in self.all_events
            if e.name == "Credited" and e.tx_hash == event.tx_hash
        ]

    def period(self, name: str) -> int:
        """A period of the auction house in seconds (``DELIVERY_PERIOD``...)."""
        return int(self.market.auction_house.contract.call(name))

    def at_bidding(self) -> Auction:
        """The auction as it was when bidding opened: no bid yet."""
        return replace(
            self.auction,
            status=Status.OPEN,
            deadline=int(self.created["deadline"]),
            bidders=(None, None, None),
            bids=(0, 0, 0),
        )

    @cached_property
    def rule_bids(self) -> dict[Category, tuple[str | None, int]]:
        """Each category's winning (bidder, amount) by the rule
        (:func:`~mercato.protocols.auction.rules.lowest_bid`) over the bids placed before
        bidding closed."""
        closed = self.adjudicated or (self.settled[0] if self.settled else None)
        placed = [
            e
            for e in self.bids
            if closed is None
            or (e.block_number, e.log_index) < (closed.block_number, closed.log_index)
        ]
        return {
            c: lowest_bid(
                [(str(e["bidder"]), int(e["amount"])) for e in placed if e["category"] == c]
            )
            for c in Category
        }

    def handed_assets(self) -> dict[int, bytes]:
        """The asset hash each category's winner recorded (its last hand-over)."""
        return {int(e["category"]): bytes(e["asset_hash"]) for e in self.handed}

    def roles_at(self, account: str, event: Event) -> Role:
        """The roles ``account`` held in the registry when ``event`` was emitted."""
        roles = Role(0)
        for e in self.registry_events:
            if (e.block_number, e.log_index) > (event.block_number, event.log_index):
                break
            if not same_address(str(e.get("account", "")), account):
                continue
            if e.name == "Registered":
                roles = Role(int(e["roles"]))
            elif e.name == "ExitRequested":
                roles = Role(0)
        return roles

    # parties --------------------------------------------------------------------------------
    def winner(self, category: Category) -> str | None:
        return self.auction.bidders[category]

    @property
    def parties(self) -> list[str]:
        """The client, the arbiter and every bidder, once each."""
        bidders = [str(e["bidder"]) for e in self.bids]
        return list(dict.fromkeys([self.auction.client, self.auction.arbiter, *bidders]))

    def _is(self, address: str | None) -> bool:
        return (
            self.viewer is not None
            and address is not None
            and same_address(self.viewer.address, address)
        )

    @property
    def is_client(self) -> bool:
        return self._is(self.auction.client)

    @property
    def is_executor(self) -> bool:
        return self._is(self.winner(Category.INFRASTRUCTURE))

    @property
    def status_label(self) -> str:
        """The entry's state as the CLI prints it."""
        return str(self.auction.status.label)

    @property
    def roles(self) -> tuple[str, ...]:
        held = [CLIENT] if self.is_client else []
        if self._is(self.auction.arbiter):
            held.append(ARBITER)
        bid_in = {int(e["category"]) for e in self.bids if self._is(str(e["bidder"]))}
        held += [PROVIDER_ROLES[c] for c in Category if c in bid_in]
        return tuple(held)

    # evidence -------------------------------------------------------------------------------
    def against_client(self, text: str) -> Finding:
        return Finding(text, self.auction.client, CLIENT)

    def against_arbiter(self, text: str) -> Finding:
        return Finding(text, self.auction.arbiter, ARBITER)

    def against_provider(self, category: Category, text: str, who: str | None = None) -> Finding:
        """Against ``who``, or else the winner of ``category``."""
        return Finding(text, who or self.winner(category), PROVIDER_ROLES[category])

    def against_contract(self, text: str) -> Finding:
        """The contract broke its own rules (or the node serves a forged history)."""
        return Finding(text, self.market.auction_house.address, CONTRACT)

    # blobs ----------------------------------------------------------------------------------
    def blob(self, value: bytes) -> Opened:
        """The blob named by a bytes32, or why it cannot be had."""
        return fetch(self.market.store, value)

    def open_sealed(self, value: bytes, expected: bytes) -> Opened:
        """The sealed blob named by ``value``, opened with the viewer's key, whose content must
        hash (keccak) to ``expected``."""
        assert self.viewer is not None
        sealed = self.blob(value)
        if sealed.content is None:
            return sealed
        try:
            content = open_envelope(sealed.content, self.viewer.encryption_private)
        except (IntegrityError, MercatoError) as exc:
            return Opened(None, f"it does not open with the viewer's key: {exc}")
        if keccak(content) != expected:
            return Opened(
                None,
                f"it opens to bytes whose keccak is {hash_hex(keccak(content))}, not "
                f"{hash_hex(expected)}",
            )
        return Opened(content)

    @cached_property
    def delivery(self) -> Delivery | None:
        """What the signed execution report says of the delivery (None: nothing delivered)."""
        if self.delivered is None:
            return None
        report = self.blob(bytes(self.delivered["report_hash"]))
        if report.content is None:
            return Delivery((f"the execution report is missing: {report.problem}",))
        try:
            signed = SignedReport.from_bytes(report.content)
        except MercatoError as exc:
            return Delivery((f"the execution report is no signed report: {exc}",))
        try:
            signer: str | None = SoftwareAttestation().verify(signed)
        except MercatoError:
            signer = None
        delivered = replace(
            self.auction,
            model_hash=Hash(bytes(self.delivered["model_hash"])),
        )
        found = report_problems(delivered, self.handed_assets(), signed.report, signer)
        return Delivery(tuple(found))

    @cached_property
    def complaint(self) -> Opened:
        """The client's stored reason for rejecting the delivery."""
        assert self.rejected is not None
        return self.blob(bytes(self.rejected["reason_hash"]))
