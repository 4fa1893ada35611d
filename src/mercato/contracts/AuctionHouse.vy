# pragma version ~=0.4.3
"""
@title Auction house: every procurement auction of Mercato (SAIaaS, P1)
@notice A client buys a (data, algorithm, infrastructure) triplet by reverse auction.
        The client locks the reserve (the sum of the three maximum prices) when it creates
        the auction; providers registered for a category bid strictly under the category's
        best bid, at or under its maximum, citing earlier confirmed SLAs they won in the same
        category. Adjudication turns the best bids into an SLA and refunds the unspent
        reserve; the infrastructure winner delivers the model hash and its execution report;
        the client confirms (winners paid) or rejects to the auction's named arbiter. Every
        waiting state has a deadline after which `claim` moves the money to the honest side:
        providers are paid if the client stays silent after delivery, the client is refunded
        if nothing was delivered or the arbiter stays silent. Payouts are pull-based.
        Storage is packed (one header word per auction, one word per category) because gas
        is a feature: see docs in mercato.protocols.auction for the layout.
"""

import escrow
from interfaces import IRegistry
from utils import role_bits

initializes: escrow

exports: (escrow.withdraw, escrow.owed)


NUM_CATEGORIES: constant(uint256) = 3
MAX_REFERENCES: constant(uint256) = 8
MAX_DURATION: constant(uint256) = 366 * 86400
MAX_PRICE: constant(uint256) = 2**85 - 1  # three prices share one storage word
ALL_CATEGORIES: constant(uint256) = 7

INFRASTRUCTURE: constant(uint256) = 2

# Auction status
OPEN: constant(uint256) = 1
ADJUDICATED: constant(uint256) = 2  # SLA formed, waiting for delivery
DELIVERED: constant(uint256) = 3  # model delivered, client reviewing
DISPUTED: constant(uint256) = 4  # client rejected, arbiter deciding
CONFIRMED: constant(uint256) = 5  # client confirmed, winners paid
ARBITRATED: constant(uint256) = 6  # arbiter decided, paid categories in the mask
CLAIMED: constant(uint256) = 7  # client silent after delivery, winners paid
REFUNDED: constant(uint256) = 8  # failed or cancelled, reserve back to the client

ADDRESS_MASK: constant(uint256) = 2**160 - 1
PRICE_MASK: constant(uint256) = 2**85 - 1
BYTE_MASK: constant(uint256) = 255
DEADLINE_MASK: constant(uint256) = 2**64 - 1


struct Header:
    client: address
    deadline: uint256  # meaning depends on status: bidding, delivery, review, arbitration
    min_refs: uint256
    status: uint256
    paid_mask: uint256  # categories an SLA was confirmed for (counts as a reference)


struct AuctionView:
    client: address
    arbiter: address
    deadline: uint256
    min_refs: uint256
    status: uint256
    paid_mask: uint256
    requirements_hash: bytes32
    max_prices: uint256[NUM_CATEGORIES]
    bidders: address[NUM_CATEGORIES]
    bids: uint256[NUM_CATEGORIES]
    model_hash: bytes32
    report_hash: bytes32


REGISTRY: public(immutable(address))
DELIVERY_PERIOD: public(immutable(uint256))
REVIEW_PERIOD: public(immutable(uint256))
ARBITRATION_PERIOD: public(immutable(uint256))

next_auction_id: public(uint256)
# client | deadline << 160 | min_refs << 224 | status << 232 | paid_mask << 240
_header: HashMap[uint256, uint256]
# max price of category c at bits [85c, 85c + 85)
_max_prices: HashMap[uint256, uint256]
# best bid per category: bidder | amount << 160 (0 while nobody has bid)
_best: HashMap[uint256, HashMap[uint256, uint256]]
_requirements: HashMap[uint256, bytes32]
_arbiter: HashMap[uint256, address]
_model_hash: HashMap[uint256, bytes32]
_report_hash: HashMap[uint256, bytes32]


event AuctionCreated:
    auction_id: indexed(uint256)
    client: indexed(address)
    arbiter: indexed(address)
    requirements_hash: bytes32
    max_prices: uint256[NUM_CATEGORIES]
    deadline: uint256
    min_refs: uint256

event BidPlaced:
    auction_id: indexed(uint256)
    bidder: indexed(address)
    category: uint256
    amount: uint256
    references: DynArray[uint256, MAX_REFERENCES]

event Adjudicated:
    auction_id: indexed(uint256)
    caller: indexed(address)
    winners: address[NUM_CATEGORIES]
    prices: uint256[NUM_CATEGORIES]
    refund: uint256
    delivery_deadline: uint256

event AssetHandedOver:
    auction_id: indexed(uint256)
    provider: indexed(address)
    executor: indexed(address)
    category: uint256
    asset_hash: bytes32
    sealed_hash: bytes32

event Delivered:
    auction_id: indexed(uint256)
    executor: indexed(address)
    model_hash: bytes32
    report_hash: bytes32
    sealed_hash: bytes32
    review_deadline: uint256

event Confirmed:
    auction_id: indexed(uint256)
    client: indexed(address)

event Rejected:
    auction_id: indexed(uint256)
    client: indexed(address)
    arbiter: indexed(address)
    reason_hash: bytes32
    arbitration_deadline: uint256

event Arbitrated:
    auction_id: indexed(uint256)
    arbiter: indexed(address)
    paid_mask: uint256

event Settled:
    auction_id: indexed(uint256)
    caller: indexed(address)
    status: uint256
    paid: uint256
    refunded: uint256


@deploy
def __init__(
    registry: address, delivery_period: uint256, review_period: uint256, arbitration_period: uint256
):
    """
    @param registry The participant registry that holds everyone's roles.
    @param delivery_period Seconds the infrastructure winner has to deliver after adjudication.
    @param review_period Seconds the client has to confirm or reject a delivery.
    @param arbitration_period Seconds the arbiter has to decide a rejected delivery.
    """
    assert registry != empty(address), "auction: registry is the zero address"
    assert delivery_period > 0 and review_period > 0 and arbitration_period > 0, "auction: zero period"
    REGISTRY = registry
    DELIVERY_PERIOD = delivery_period
    REVIEW_PERIOD = review_period
    ARBITRATION_PERIOD = arbitration_period
    self.next_auction_id = 1  # ids start at 1; writing a non-zero counter is cheaper


@external
@payable
def create_auction(
    requirements_hash: bytes32,
    max_prices: uint256[NUM_CATEGORIES],
    duration: uint256,
    min_refs: uint256,
    arbiter: address,
) -> uint256:
    """
    @notice Open an auction and lock its reserve, which must be sent as the value.
    @param requirements_hash keccak256 of the requirements document, which is also its blob
           hash: every participant fetches it from its own blob store by this hash.
    @param max_prices Maximum price per category (data, algorithm, infrastructure), in wei.
    @param duration Seconds bidding stays open.
    @param min_refs References to earlier confirmed SLAs that every bid must cite.
    @param arbiter Registered arbiter that decides if the client rejects the delivery.
    @return The new auction's id.
    """
    assert staticcall IRegistry(REGISTRY).has_role(msg.sender, role_bits.CLIENT), "auction: caller is not a registered client"
    assert arbiter != msg.sender, "auction: the client cannot be its own arbiter"
    assert staticcall IRegistry(REGISTRY).has_role(arbiter, role_bits.ARBITER), "auction: arbiter is not a registered arbiter"
    assert duration > 0 and duration <= MAX_DURATION, "auction: duration out of range"
    assert min_refs <= MAX_REFERENCES, "auction: too many references required"
    assert requirements_hash != empty(bytes32), "auction: empty requirements hash"
    reserve: uint256 = 0
    packed: uint256 = 0
    for c: uint256 in range(NUM_CATEGORIES):
        assert max_prices[c] > 0 and max_prices[c] <= MAX_PRICE, "auction: maximum price out of range"
        reserve += max_prices[c]
        packed |= max_prices[c] << (85 * c)
    assert msg.value == reserve, "auction: value must equal the sum of maximum prices"

    auction_id: uint256 = self.next_auction_id
    self.next_auction_id = auction_id + 1
    deadline: uint256 = block.timestamp + duration
    self._store_header(auction_id, Header(client=msg.sender, deadline=deadline, min_refs=min_refs, status=OPEN, paid_mask=0))
    self._max_prices[auction_id] = packed
    self._requirements[auction_id] = requirements_hash
    self._arbiter[auction_id] = arbiter
    log AuctionCreated(
        auction_id=auction_id,
        client=msg.sender,
        arbiter=arbiter,
        requirements_hash=requirements_hash,
        max_prices=max_prices,
        deadline=deadline,
        min_refs=min_refs,
    )
    return auction_id


@external
def bid(
    auction_id: uint256, category: uint256, amount: uint256, references: DynArray[uint256, MAX_REFERENCES]
):
    """
    @notice Bid `amount` for one category. The bid must be at or under the category's
            maximum and strictly under its best bid, so a bidder can only ever lower its
            price (SAIaaS let a losing bidder raise its own bid; this rule forbids it).
    @param category 0 data, 1 algorithm, 2 infrastructure.
    @param references Ids of earlier auctions, strictly increasing, whose SLA the bidder won
           in the same category and that were confirmed.
    """
    h: Header = self._load_header(auction_id)
    assert h.status == OPEN, "auction: not open"
    assert block.timestamp < h.deadline, "auction: bidding closed"
    assert category < NUM_CATEGORIES, "auction: unknown category"
    assert amount > 0, "auction: bid must be positive"
    assert staticcall IRegistry(REGISTRY).has_role(msg.sender, 1 << category), "auction: bidder is not registered for this category"
    assert len(references) >= h.min_refs, "auction: too few references"
    self._check_references(msg.sender, category, references)
    best: uint256 = self._best[auction_id][category]
    if best == 0:
        assert amount <= (self._max_prices[auction_id] >> (85 * category)) & PRICE_MASK, "auction: bid above maximum"
    else:
        assert amount < best >> 160, "auction: bid not below the best bid"
    self._best[auction_id][category] = convert(msg.sender, uint256) | (amount << 160)
    log BidPlaced(auction_id=auction_id, bidder=msg.sender, category=category, amount=amount, references=references)


@external
def adjudicate(auction_id: uint256):
    """
    @notice Close bidding. The client may adjudicate as soon as every category has a bid;
            anyone may after the deadline. If a category has no bid the auction fails and
            the whole reserve becomes refundable; otherwise the best bids form the SLA and
            the unspent reserve becomes refundable.
    """
    h: Header = self._load_header(auction_id)
    assert h.status == OPEN, "auction: not open"
    winners: address[NUM_CATEGORIES] = empty(address[NUM_CATEGORIES])
    prices: uint256[NUM_CATEGORIES] = empty(uint256[NUM_CATEGORIES])
    complete: bool = True
    for c: uint256 in range(NUM_CATEGORIES):
        best: uint256 = self._best[auction_id][c]
        complete = complete and best != 0
        winners[c] = convert(convert(best & ADDRESS_MASK, uint160), address)
        prices[c] = best >> 160
    if msg.sender == h.client and block.timestamp < h.deadline:
        assert complete, "auction: a category has no bid yet"
    else:
        assert block.timestamp >= h.deadline, "auction: only the client may adjudicate before the deadline"
    reserve: uint256 = self._reserve(auction_id)
    if not complete:
        h.status = REFUNDED
        self._store_header(auction_id, h)
        escrow._credit(h.client, reserve)
        log Settled(auction_id=auction_id, caller=msg.sender, status=REFUNDED, paid=0, refunded=reserve)
        return
    refund: uint256 = reserve - prices[0] - prices[1] - prices[2]
    h.status = ADJUDICATED
    h.deadline = block.timestamp + DELIVERY_PERIOD
    self._store_header(auction_id, h)
    escrow._credit(h.client, refund)
    log Adjudicated(
        auction_id=auction_id,
        caller=msg.sender,
        winners=winners,
        prices=prices,
        refund=refund,
        delivery_deadline=h.deadline,
    )


@external
def hand_over(auction_id: uint256, category: uint256, asset_hash: bytes32, sealed_hash: bytes32):
    """
    @notice The data or algorithm winner records, as evidence, that it handed its asset to the
            infrastructure winner: the hash of the asset and of the envelope sealed to the
            executor's registered key (stored off chain). Nothing is stored: the event is
            the record.
    """
    h: Header = self._load_header(auction_id)
    assert h.status == ADJUDICATED, "auction: not waiting for delivery"
    assert category < INFRASTRUCTURE, "auction: only data and algorithm are handed over"
    assert msg.sender == self._winner(auction_id, category), "auction: only the category's winner hands over"
    assert asset_hash != empty(bytes32) and sealed_hash != empty(bytes32), "auction: empty hash"
    log AssetHandedOver(
        auction_id=auction_id,
        provider=msg.sender,
        executor=self._winner(auction_id, INFRASTRUCTURE),
        category=category,
        asset_hash=asset_hash,
        sealed_hash=sealed_hash,
    )


@external
def deliver(auction_id: uint256, model_hash: bytes32, report_hash: bytes32, sealed_hash: bytes32):
    """
    @notice The infrastructure winner records the trained model's hash and the hash of its
            signed execution report; the model itself stays off chain, sealed to the client.
    @param model_hash keccak256 of the trained model.
    @param report_hash keccak256 (and blob hash) of the signed execution report.
    @param sealed_hash Blob hash of the model sealed to the client: the client fetches it from
           its own blob store. Logged, not stored: nothing on chain reads it.
    """
    h: Header = self._load_header(auction_id)
    assert h.status == ADJUDICATED, "auction: not waiting for delivery"
    assert block.timestamp < h.deadline, "auction: delivery deadline passed"
    assert msg.sender == self._winner(auction_id, INFRASTRUCTURE), "auction: only the infrastructure winner delivers"
    assert model_hash != empty(bytes32) and report_hash != empty(bytes32) and sealed_hash != empty(bytes32), "auction: empty hash"
    self._model_hash[auction_id] = model_hash
    self._report_hash[auction_id] = report_hash
    h.status = DELIVERED
    h.deadline = block.timestamp + REVIEW_PERIOD
    self._store_header(auction_id, h)
    log Delivered(
        auction_id=auction_id,
        executor=msg.sender,
        model_hash=model_hash,
        report_hash=report_hash,
        sealed_hash=sealed_hash,
        review_deadline=h.deadline,
    )


@external
def confirm(auction_id: uint256):
    """
    @notice The client accepts the delivered model: every winner is paid its bid.
    """
    h: Header = self._load_header(auction_id)
    assert msg.sender == h.client, "auction: only the client confirms"
    assert h.status == DELIVERED, "auction: nothing delivered to confirm"
    h.status = CONFIRMED
    h.paid_mask = ALL_CATEGORIES
    self._store_header(auction_id, h)
    paid: uint256 = self._pay(auction_id, h.client, ALL_CATEGORIES)
    log Confirmed(auction_id=auction_id, client=msg.sender)
    log Settled(auction_id=auction_id, caller=msg.sender, status=CONFIRMED, paid=paid, refunded=0)


@external
def reject(auction_id: uint256, reason_hash: bytes32):
    """
    @notice The client rejects the delivered model before the review deadline; the arbiter
            named at creation decides.
    @param reason_hash Hash of the client's complaint (stored off chain).
    """
    h: Header = self._load_header(auction_id)
    assert msg.sender == h.client, "auction: only the client rejects"
    assert h.status == DELIVERED, "auction: nothing delivered to reject"
    assert block.timestamp < h.deadline, "auction: review deadline passed"
    h.status = DISPUTED
    h.deadline = block.timestamp + ARBITRATION_PERIOD
    self._store_header(auction_id, h)
    log Rejected(
        auction_id=auction_id,
        client=msg.sender,
        arbiter=self._arbiter[auction_id],
        reason_hash=reason_hash,
        arbitration_deadline=h.deadline,
    )


@external
def arbitrate(auction_id: uint256, paid_mask: uint256):
    """
    @notice The arbiter decides a dispute: winners of the categories in `paid_mask` are paid,
            the rest of the locked money goes back to the client.
    @param paid_mask Bit c set pays the winner of category c.
    """
    h: Header = self._load_header(auction_id)
    assert msg.sender == self._arbiter[auction_id], "auction: only the named arbiter decides"
    assert h.status == DISPUTED, "auction: no dispute to decide"
    assert block.timestamp < h.deadline, "auction: arbitration deadline passed"
    assert paid_mask <= ALL_CATEGORIES, "auction: bad category mask"
    h.status = ARBITRATED
    h.paid_mask = paid_mask
    self._store_header(auction_id, h)
    paid: uint256 = self._pay(auction_id, h.client, paid_mask)
    log Arbitrated(auction_id=auction_id, arbiter=msg.sender, paid_mask=paid_mask)
    log Settled(
        auction_id=auction_id, caller=msg.sender, status=ARBITRATED, paid=paid, refunded=self._spent(auction_id) - paid
    )


@external
def claim(auction_id: uint256):
    """
    @notice After a deadline passes, move the money to the honest side. Anyone may call;
            the money only ever goes to the winners or the client. Delivered and the client
            silent: winners are paid. Not delivered in time, or the arbiter silent: the client
            is refunded.
    """
    h: Header = self._load_header(auction_id)
    assert h.status in [ADJUDICATED, DELIVERED, DISPUTED], "auction: nothing to claim"
    assert block.timestamp >= h.deadline, "auction: deadline not reached"
    spent: uint256 = self._spent(auction_id)
    if h.status == DELIVERED:
        h.status = CLAIMED
        self._store_header(auction_id, h)
        self._pay(auction_id, h.client, ALL_CATEGORIES)
        log Settled(auction_id=auction_id, caller=msg.sender, status=CLAIMED, paid=spent, refunded=0)
    else:
        h.status = REFUNDED
        self._store_header(auction_id, h)
        escrow._credit(h.client, spent)
        log Settled(auction_id=auction_id, caller=msg.sender, status=REFUNDED, paid=0, refunded=spent)


@external
@view
def auction(auction_id: uint256) -> AuctionView:
    """
    @notice Everything the chain holds about one auction.
    """
    h: Header = self._load_header(auction_id)
    view: AuctionView = empty(AuctionView)
    view.client = h.client
    view.arbiter = self._arbiter[auction_id]
    view.deadline = h.deadline
    view.min_refs = h.min_refs
    view.status = h.status
    view.paid_mask = h.paid_mask
    view.requirements_hash = self._requirements[auction_id]
    view.model_hash = self._model_hash[auction_id]
    view.report_hash = self._report_hash[auction_id]
    packed: uint256 = self._max_prices[auction_id]
    for c: uint256 in range(NUM_CATEGORIES):
        view.max_prices[c] = (packed >> (85 * c)) & PRICE_MASK
        best: uint256 = self._best[auction_id][c]
        view.bidders[c] = convert(convert(best & ADDRESS_MASK, uint160), address)
        view.bids[c] = best >> 160
    return view


@internal
@view
def _load_header(auction_id: uint256) -> Header:
    word: uint256 = self._header[auction_id]
    assert word != 0, "auction: unknown auction"
    return Header(
        client=convert(convert(word & ADDRESS_MASK, uint160), address),
        deadline=(word >> 160) & DEADLINE_MASK,
        min_refs=(word >> 224) & BYTE_MASK,
        status=(word >> 232) & BYTE_MASK,
        paid_mask=(word >> 240) & BYTE_MASK,
    )


@internal
def _store_header(auction_id: uint256, h: Header):
    self._header[auction_id] = (
        convert(h.client, uint256)
        | (h.deadline << 160)
        | (h.min_refs << 224)
        | (h.status << 232)
        | (h.paid_mask << 240)
    )


@internal
@view
def _winner(auction_id: uint256, category: uint256) -> address:
    return convert(convert(self._best[auction_id][category] & ADDRESS_MASK, uint160), address)


@internal
@view
def _reserve(auction_id: uint256) -> uint256:
    packed: uint256 = self._max_prices[auction_id]
    return (packed & PRICE_MASK) + ((packed >> 85) & PRICE_MASK) + (packed >> 170)


@internal
@view
def _spent(auction_id: uint256) -> uint256:
    total: uint256 = 0
    for c: uint256 in range(NUM_CATEGORIES):
        total += self._best[auction_id][c] >> 160
    return total


@internal
def _pay(auction_id: uint256, client: address, paid_mask: uint256) -> uint256:
    """Pay the winners of the categories in `paid_mask`, refund the client the rest."""
    paid: uint256 = 0
    refund: uint256 = 0
    for c: uint256 in range(NUM_CATEGORIES):
        best: uint256 = self._best[auction_id][c]
        if paid_mask & (1 << c) != 0:
            escrow._credit(convert(convert(best & ADDRESS_MASK, uint160), address), best >> 160)
            paid += best >> 160
        else:
            refund += best >> 160
    escrow._credit(client, refund)
    return paid


@internal
@view
def _check_references(bidder: address, category: uint256, references: DynArray[uint256, MAX_REFERENCES]):
    previous: uint256 = 0
    for ref: uint256 in references:
        assert ref > previous, "auction: references must be strictly increasing"
        previous = ref
        word: uint256 = self._header[ref]
        status: uint256 = (word >> 232) & BYTE_MASK
        paid_mask: uint256 = (word >> 240) & BYTE_MASK
        assert status in [CONFIRMED, ARBITRATED] and paid_mask & (1 << category) != 0, "auction: reference is not a confirmed SLA"
        assert self._winner(ref, category) == bidder, "auction: reference was not won by the bidder in this category"
