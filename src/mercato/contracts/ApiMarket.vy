# pragma version ~=0.4.3
# pragma experimental-codegen
# pragma optimize codesize
"""
@title API market: a model served split across vendors, paid per call (Arya et al., P5)
@notice A provider (registered as model owner or client) registers an API: the Merkle root
        of its model split into components (leaf: uint64(j) || keccak(component j)), the
        slots that run them (slot v = a compute provider and a component; the slots of one
        component are its replicas), the share of the price each component's vendor earns
        per call, the price, the stakes of vendors and of the orchestrator (a compute
        provider that routes calls and commits batches), the consumers' challenge and
        dispute bonds and the periods (join, epoch L, window W, response R, term). With a
        P4 purchase the provider must be that sale's buyer and the sale paid; its score is
        logged. Nobody is two of provider, orchestrator and a vendor; a vendor holds one slot.

        1. JOINING. Each vendor joins its slot with the vendor stake and the hash of its
           endpoint sealed to the orchestrator; the orchestrator accepts with its stake. All
           in before the join deadline: the API is LIVE from that block (`start`) until
           `ends` = start + term. Otherwise `advance` (anyone) cancels and refunds.
        2. LIVE. Consumers (clients) deposit; a withdrawal waits for the notice
           start + (e_now + 2)L, so that every call it paid for can still be committed.
           Calls run off chain on signed messages (request, assignment, receipt, ack;
           mercato.protocols.apimarket.messages). Epoch e = [start + eL, start + (e+1)L).
           In [start + (e+1)L, start + (e+2)L) the orchestrator commits the batch of epoch e:
           the Merkle root of one leaf per step (ordered by slot, consumer, seq), the hash of
           the records file, and the calls per consumer and steps per slot. The consumers'
           deposits are debited at once; the vendors' shares and the provider's rest are
           held until close(e) = start + (e+2)L + W, then `finalize_batch` (anyone) credits
           them.
        3. WINDOW. Until close(e): a vendor claims a step it ran (request and assignment
           signed): no batch after its due time, or a batch that under-reports the
           consumer's calls, pays the share at once from the orchestrator's stake; otherwise
           the orchestrator answers with the step's leaf inside the slot's range within R
           or `settle_claim` pays. A consumer challenges a call counted against it; the
           orchestrator answers with the consumer's signed request within R or the price
           and the bond go back from its stake. A consumer disputes a step's output with the
           vendor's signed receipt: a component hash outside the model root slashes the
           vendor at once; otherwise the component's other live replicas commit, reveal and
           vote (utils/committee.vy) and the majority decides who loses stake or bond.
        4. END. After close of the last epoch with nothing open, `release` (anyone) credits
           the remaining stakes and deposits: the API is ENDED.

        Base mode (the paper's first design, kept for comparison): every step on chain with
        `call_onchain`, `record_step`, `acknowledge` and `cancel_call`.

        Every state has a deadline after which anyone can move the money; payouts are pulled
        (escrow module). `locked` of an API is all it holds (stakes, deposits, batches, bonds,
        calls), so self.balance == sum(locked) + sum(owed), and an ended API locks nothing.

        Size: compiled with Vyper's Venom pipeline for code size, and every check goes
        through one `_require` (a reason string costs code at each assert), to fit EIP-170's
        24 kB. Revert reasons read "apimarket: <reason>" all the same. The views of a
        claim, challenge and dispute are `claim_of`, `challenge_of` and `dispute_of`: their
        plain names are the actions.
"""

import escrow
from interfaces import IModelMarket
from interfaces import IRegistry
from utils import bits
from utils import committee
from utils import merkle
from utils import role_bits

initializes: escrow
initializes: committee

exports: (escrow.withdraw, escrow.owed)


MAX_COMPONENTS: constant(uint256) = 8
MAX_SLOTS: constant(uint256) = 16
MAX_CONSUMERS: constant(uint256) = 128  # per batch, and depositors per API
MAX_PERIOD: constant(uint256) = 365 * 86400
MAX_TERM: constant(uint256) = 10 * 365 * 86400
STEP_BITS: constant(uint256) = 32  # steps per slot and epoch, packed 8 to a word
STEP_MASK: constant(uint256) = 2**32 - 1
SIGNED_PREFIX: constant(Bytes[28]) = b"\x19Ethereum Signed Message:\n32"

TAG_REQUEST: constant(bytes32) = keccak256("mercato/api/request/v1")
TAG_ASSIGNMENT: constant(bytes32) = keccak256("mercato/api/assignment/v1")
TAG_RECEIPT: constant(bytes32) = keccak256("mercato/api/receipt/v1")

# API status
JOINING: constant(uint256) = 1  # vendors join, the orchestrator accepts
LIVE: constant(uint256) = 2  # serving calls; then windows close
CANCELLED: constant(uint256) = 3  # not everyone in by the join deadline: refunded
ENDED: constant(uint256) = 4  # released: stakes and deposits credited

# Claim, challenge, dispute and base-mode call state
OPEN: constant(uint256) = 1
# claims
PAID_MISSED: constant(uint256) = 2  # no batch by the due time
PAID_UNREPORTED: constant(uint256) = 3  # the batch counts fewer calls of the consumer
ANSWERED: constant(uint256) = 4  # the orchestrator showed the step's leaf (claims, challenges)
PAID_UNANSWERED: constant(uint256) = 5  # no answer within R
# challenges
REFUNDED: constant(uint256) = 3  # no answer within R: price and bond back
# disputes
WRONG_COMPONENT: constant(uint256) = 2  # the receipt names a hash outside the model root
LIAR: constant(uint256) = 3  # the majority's output differs from the vendor's
HONEST: constant(uint256) = 4  # the majority agrees with the vendor
NO_MAJORITY: constant(uint256) = 5
# base-mode calls
ACKNOWLEDGED: constant(uint256) = 2
CANCELLED_CALL: constant(uint256) = 3  # a step missed its deadline: the rest refunded
UNACKNOWLEDGED: constant(uint256) = 4  # every step ran, no ack within R: the provider paid


struct Periods:
    join: uint256
    epoch: uint256
    window: uint256
    response: uint256
    term: uint256


struct Purchase:
    model_market: address  # empty: no purchase
    request_id: uint256
    index: uint256


struct Terms:
    provider: address
    orchestrator: address
    model_root: bytes32
    components: uint256
    slots: uint256
    price: uint256
    vendor_stake: uint256
    orchestrator_stake: uint256
    challenge_bond: uint256
    dispute_bond: uint256


struct Progress:
    status: uint256
    join_deadline: uint256
    start: uint256
    ends: uint256
    joined: uint256  # bit v: slot v joined
    accepted: bool
    out: uint256  # bit v: slot v was slashed
    open: uint256  # batches not finalized, claims, challenges, disputes and calls open
    stake_left: uint256  # what remains of the orchestrator's stake
    depositors: uint256
    locked: uint256  # wei this API holds


struct Slot:
    vendor: address
    component: uint256


struct SlotView:
    vendor: address
    component: uint256
    joined: bool
    out: bool


struct Deposit:
    amount: uint256
    withdraw_after: uint256  # 0: no withdrawal asked


struct Batch:
    root: bytes32
    records_hash: bytes32
    counts_hash: bytes32
    total: uint256
    steps_low: uint256  # steps of slots 0..7, 32 bits each
    steps_high: uint256  # steps of slots 8..15
    finalized: bool


struct Claim:
    api: uint256
    vendor: address
    epoch: uint256
    consumer: address
    seq: uint256
    component: uint256
    slot: uint256
    hash_in: bytes32
    deadline: uint256
    state: uint256


struct Challenge:
    api: uint256
    consumer: address
    epoch: uint256
    seq: uint256
    bond: uint256
    deadline: uint256
    state: uint256


struct Dispute:
    api: uint256
    consumer: address
    epoch: uint256
    seq: uint256
    component: uint256
    slot: uint256
    hash_out: bytes32
    members: uint256  # bit v: slot v is in the committee (the other live replicas)
    committed: uint256
    revealed: uint256
    commit_deadline: uint256
    reveal_deadline: uint256  # 0 until every member committed
    bond: uint256
    state: uint256


struct Call:
    api: uint256
    consumer: address
    last_hash: bytes32  # the input, then each step's output
    next_component: uint256
    held: uint256  # what is left of the price
    deadline: uint256
    state: uint256


struct ApiView:
    provider: address
    orchestrator: address
    model_root: bytes32
    components: uint256
    slots: uint256
    shares: DynArray[uint256, MAX_COMPONENTS]
    price: uint256
    vendor_stake: uint256
    orchestrator_stake: uint256
    challenge_bond: uint256
    dispute_bond: uint256
    join_period: uint256
    epoch_period: uint256
    window_period: uint256
    response_period: uint256
    term: uint256
    status: uint256
    join_deadline: uint256
    start: uint256
    ends: uint256
    joined: uint256
    accepted: bool
    out: uint256
    open: uint256
    stake_left: uint256
    depositors: uint256
    locked: uint256


REGISTRY: public(immutable(address))

next_api_id: public(uint256)
next_claim_id: public(uint256)
next_challenge_id: public(uint256)
next_dispute_id: public(uint256)
next_call_id: public(uint256)

_terms: HashMap[uint256, Terms]
_periods: HashMap[uint256, Periods]
_progress: HashMap[uint256, Progress]
_shares: HashMap[uint256, DynArray[uint256, MAX_COMPONENTS]]
_slots: HashMap[uint256, HashMap[uint256, Slot]]
_deposits: HashMap[uint256, HashMap[address, Deposit]]
_depositor_list: HashMap[uint256, HashMap[uint256, address]]
_is_depositor: HashMap[uint256, HashMap[address, bool]]
_batches: HashMap[uint256, HashMap[uint256, Batch]]
_claims: HashMap[uint256, Claim]
_challenges: HashMap[uint256, Challenge]
_disputes: HashMap[uint256, Dispute]
_calls: HashMap[uint256, Call]
_claimed: HashMap[bytes32, bool]  # keccak(api, epoch, consumer, seq, component)
_challenged: HashMap[bytes32, bool]  # keccak(api, epoch, consumer, seq)
_disputed: HashMap[bytes32, bool]  # keccak(api, epoch, consumer, seq, component)


event ApiRegistered:
    api: indexed(uint256)
    provider: indexed(address)
    orchestrator: indexed(address)
    model_root: bytes32
    doc_hash: bytes32
    components: uint256
    slot_components: DynArray[uint256, MAX_SLOTS]
    slot_vendors: DynArray[address, MAX_SLOTS]
    shares: DynArray[uint256, MAX_COMPONENTS]
    price: uint256
    vendor_stake: uint256
    orchestrator_stake: uint256
    challenge_bond: uint256
    dispute_bond: uint256
    periods: Periods
    join_deadline: uint256

event PurchaseShown:
    api: indexed(uint256)
    model_market: indexed(address)
    request_id: uint256
    index: uint256
    seller: address
    plain_root: bytes32
    score: uint256

event Joined:
    api: indexed(uint256)
    vendor: indexed(address)
    slot: uint256
    component: uint256
    endpoint_hash: bytes32
    stake: uint256

event Accepted:
    api: indexed(uint256)
    orchestrator: indexed(address)
    stake: uint256

event ApiLive:
    api: indexed(uint256)
    start: uint256
    ends: uint256
    last_epoch: uint256

event ApiEnded:
    api: indexed(uint256)
    status: uint256  # CANCELLED or ENDED
    caller: indexed(address)
    stakes: uint256  # credited back to vendors and orchestrator by this step
    deposits: uint256  # credited back to consumers by this step

event Deposited:
    api: indexed(uint256)
    consumer: indexed(address)
    amount: uint256
    deposit: uint256

event WithdrawalRequested:
    api: indexed(uint256)
    consumer: indexed(address)
    withdraw_after: uint256

event DepositWithdrawn:
    api: indexed(uint256)
    consumer: indexed(address)
    amount: uint256

event BatchCommitted:
    api: indexed(uint256)
    epoch: indexed(uint256)
    root: bytes32
    records_hash: bytes32
    counts_hash: bytes32
    consumers: DynArray[address, MAX_CONSUMERS]
    calls: DynArray[uint256, MAX_CONSUMERS]
    steps: DynArray[uint256, MAX_SLOTS]
    total: uint256

event BatchFinalized:
    api: indexed(uint256)
    epoch: indexed(uint256)
    caller: indexed(address)
    vendors_paid: uint256
    provider_paid: uint256

event Claimed:
    claim_id: indexed(uint256)
    api: indexed(uint256)
    vendor: indexed(address)
    epoch: uint256
    consumer: address
    seq: uint256
    input_hash: bytes32
    component: uint256
    slot: uint256
    hash_in: bytes32
    state: uint256  # OPEN, PAID_MISSED or PAID_UNREPORTED
    paid: uint256
    deadline: uint256

event ClaimAnswered:
    claim_id: indexed(uint256)
    api: indexed(uint256)
    index: uint256
    hash_out: bytes32

event ClaimSettled:
    claim_id: indexed(uint256)
    api: indexed(uint256)
    caller: indexed(address)
    paid: uint256

event Challenged:
    challenge_id: indexed(uint256)
    api: indexed(uint256)
    consumer: indexed(address)
    epoch: uint256
    seq: uint256
    bond: uint256
    deadline: uint256

event ChallengeAnswered:
    challenge_id: indexed(uint256)
    api: indexed(uint256)
    input_hash: bytes32
    bond_paid: uint256

event ChallengeSettled:
    challenge_id: indexed(uint256)
    api: indexed(uint256)
    caller: indexed(address)
    refund: uint256

event Disputed:
    dispute_id: indexed(uint256)
    api: indexed(uint256)
    consumer: indexed(address)
    epoch: uint256
    seq: uint256
    component: uint256
    slot: uint256
    component_hash: bytes32
    hash_in: bytes32
    hash_out: bytes32
    bond: uint256
    members: uint256
    commit_deadline: uint256

event OutputCommitted:
    dispute_id: indexed(uint256)
    api: indexed(uint256)
    replica: indexed(address)
    slot: uint256
    commitment: bytes32
    reveal_deadline: uint256  # set by the last commitment, else 0

event OutputRevealed:
    dispute_id: indexed(uint256)
    api: indexed(uint256)
    replica: indexed(address)
    slot: uint256
    hash_out: bytes32

event DisputeResolved:
    dispute_id: indexed(uint256)
    api: indexed(uint256)
    caller: indexed(address)
    state: uint256  # WRONG_COMPONENT, LIAR, HONEST or NO_MAJORITY
    majority: bytes32
    agreed: uint256  # bit v: slot v voted with the majority
    slashed: uint256  # bit v: slot v lost its stake
    to_consumer: uint256
    to_each_in_majority: uint256
    to_provider: uint256  # what the divisions leave, and half a wrong component's stake

event CallOpened:
    call_id: indexed(uint256)
    api: indexed(uint256)
    consumer: indexed(address)
    input_hash: bytes32
    price: uint256
    deadline: uint256

event StepRecorded:
    call_id: indexed(uint256)
    api: indexed(uint256)
    vendor: indexed(address)
    component: uint256
    hash_in: bytes32
    hash_out: bytes32
    paid: uint256
    deadline: uint256

event CallClosed:
    call_id: indexed(uint256)
    api: indexed(uint256)
    caller: indexed(address)
    state: uint256  # ACKNOWLEDGED, CANCELLED_CALL or UNACKNOWLEDGED
    output_hash: bytes32
    to_provider: uint256
    to_consumer: uint256


@deploy
def __init__(registry: address):
    """
    @param registry The participant registry that holds everyone's roles.
    """
    self._require(registry != empty(address), "registry is the zero address")
    REGISTRY = registry
    self.next_api_id = 1
    self.next_claim_id = 1
    self.next_challenge_id = 1
    self.next_dispute_id = 1
    self.next_call_id = 1


# provider -----------------------------------------------------------------------------------


@external
def register_api(
    model_root: bytes32,
    doc_hash: bytes32,
    components: uint256,
    slot_components: DynArray[uint256, MAX_SLOTS],
    slot_vendors: DynArray[address, MAX_SLOTS],
    shares: DynArray[uint256, MAX_COMPONENTS],
    price: uint256,
    vendor_stake: uint256,
    orchestrator: address,
    orchestrator_stake: uint256,
    challenge_bond: uint256,
    dispute_bond: uint256,
    periods: Periods,
    purchase: Purchase,
) -> uint256:
    """
    @notice Register an API; vendors and the orchestrator join until the join deadline.
    @param model_root Merkle root of the split model (leaf uint64(j) || keccak(component j)).
    @param doc_hash Blob hash of the API's document (schema, splitting, endpoints' format).
    @param components How many components the model is split into (1 to 8).
    @param slot_components The component of each slot (1 to 16 slots; every component one
           at least).
    @param slot_vendors The compute provider of each slot, all different.
    @param shares Wei per call paid to the vendor that ran each component.
    @param price Wei per call, at least the sum of the shares.
    @param periods Join, epoch, window, response periods and the term, in seconds.
    @param purchase The P4 sale of the model (model market, request, submission), or an
           empty model market.
    """
    self._require(staticcall IRegistry(REGISTRY).has_role(msg.sender, role_bits.MODEL_OWNER) or staticcall IRegistry(REGISTRY).has_role(msg.sender, role_bits.CLIENT), "caller is not a registered model owner or client")
    self._require(model_root != empty(bytes32) and doc_hash != empty(bytes32), "empty hash")
    self._require(components > 0 and components <= MAX_COMPONENTS, "components out of range")
    self._require(len(shares) == components, "one share per component")
    slots: uint256 = len(slot_vendors)
    self._require(slots > 0 and len(slot_components) == slots, "one component per slot vendor")
    self._require(orchestrator != empty(address) and orchestrator != msg.sender, "orchestrator must be another party")
    covered: uint256 = 0
    for v: uint256 in range(MAX_SLOTS):
        if v == slots:
            break
        vendor: address = slot_vendors[v]
        self._require(vendor != empty(address) and vendor != msg.sender and vendor != orchestrator, "a vendor must be another party")
        for u: uint256 in range(MAX_SLOTS):
            if u == v:
                break
            self._require(slot_vendors[u] != vendor, "a vendor holds one slot")
        self._require(slot_components[v] < components, "a slot names no component")
        covered |= 1 << slot_components[v]
    self._require(covered == (1 << components) - 1, "a component has no slot")
    share_sum: uint256 = 0
    for share: uint256 in shares:
        share_sum += share
    self._require(price > 0 and price >= share_sum, "price is 0 or below the shares")
    for period: uint256 in [periods.join, periods.epoch, periods.window, periods.response]:
        self._require(period > 0 and period <= MAX_PERIOD, "a period is out of range")
    self._require(periods.term >= periods.epoch and periods.term <= MAX_TERM, "term out of range")

    api: uint256 = self.next_api_id
    self.next_api_id = api + 1
    if purchase.model_market != empty(address):
        buyer: address = empty(address)
        seller: address = empty(address)
        plain_root: bytes32 = empty(bytes32)
        score: uint256 = 0
        paid: bool = False
        buyer, seller, plain_root, score, paid = staticcall IModelMarket(purchase.model_market).purchase(purchase.request_id, purchase.index)
        self._require(buyer == msg.sender, "provider did not buy that model")
        self._require(paid, "that purchase is not paid")
        log PurchaseShown(
            api=api,
            model_market=purchase.model_market,
            request_id=purchase.request_id,
            index=purchase.index,
            seller=seller,
            plain_root=plain_root,
            score=score,
        )
    self._terms[api] = Terms(
        provider=msg.sender,
        orchestrator=orchestrator,
        model_root=model_root,
        components=components,
        slots=slots,
        price=price,
        vendor_stake=vendor_stake,
        orchestrator_stake=orchestrator_stake,
        challenge_bond=challenge_bond,
        dispute_bond=dispute_bond,
    )
    self._periods[api] = periods
    self._shares[api] = shares
    for v: uint256 in range(MAX_SLOTS):
        if v == slots:
            break
        self._slots[api][v] = Slot(vendor=slot_vendors[v], component=slot_components[v])
    join_deadline: uint256 = block.timestamp + periods.join
    self._progress[api].status = JOINING
    self._progress[api].join_deadline = join_deadline
    log ApiRegistered(
        api=api,
        provider=msg.sender,
        orchestrator=orchestrator,
        model_root=model_root,
        doc_hash=doc_hash,
        components=components,
        slot_components=slot_components,
        slot_vendors=slot_vendors,
        shares=shares,
        price=price,
        vendor_stake=vendor_stake,
        orchestrator_stake=orchestrator_stake,
        challenge_bond=challenge_bond,
        dispute_bond=dispute_bond,
        periods=periods,
        join_deadline=join_deadline,
    )
    return api


# vendors and orchestrator: joining ----------------------------------------------------------


@external
@payable
def join(api: uint256, slot: uint256, endpoint_hash: bytes32):
    """
    @notice The slot's vendor joins with the vendor stake and the blob hash of its endpoint
            sealed to the orchestrator's encryption key.
    """
    t: Terms = self._terms_of(api)
    p: Progress = self._load(api)
    self._require(p.status == JOINING and block.timestamp < p.join_deadline, "not taking vendors")
    self._require(slot < t.slots and self._slots[api][slot].vendor == msg.sender, "caller is not that slot's vendor")
    self._require((p.joined >> slot) & 1 == 0, "already joined")
    self._require(staticcall IRegistry(REGISTRY).has_role(msg.sender, role_bits.COMPUTE_PROVIDER), "caller is not a compute provider")
    self._require(endpoint_hash != empty(bytes32), "empty hash")
    self._require(msg.value == t.vendor_stake, "send the vendor stake")
    p.joined |= 1 << slot
    p.locked += msg.value
    log Joined(
        api=api,
        vendor=msg.sender,
        slot=slot,
        component=self._slots[api][slot].component,
        endpoint_hash=endpoint_hash,
        stake=msg.value,
    )
    self._progress[api] = self._maybe_live(api, t, p)


@external
@payable
def accept(api: uint256):
    """
    @notice The orchestrator accepts to serve the API, with the orchestrator stake.
    """
    t: Terms = self._terms_of(api)
    p: Progress = self._load(api)
    self._require(p.status == JOINING and block.timestamp < p.join_deadline, "not taking the orchestrator")
    self._require(msg.sender == t.orchestrator, "caller is not the orchestrator")
    self._require(not p.accepted, "already accepted")
    self._require(staticcall IRegistry(REGISTRY).has_role(msg.sender, role_bits.COMPUTE_PROVIDER), "caller is not a compute provider")
    self._require(msg.value == t.orchestrator_stake, "send the orchestrator stake")
    p.accepted = True
    p.stake_left = msg.value
    p.locked += msg.value
    log Accepted(api=api, orchestrator=msg.sender, stake=msg.value)
    self._progress[api] = self._maybe_live(api, t, p)


@external
def advance(api: uint256):
    """
    @notice After the join deadline of an API still joining, anyone cancels it: stakes and
            deposits are credited back.
    """
    p: Progress = self._load(api)
    self._require(p.status == JOINING, "not joining")
    self._require(block.timestamp >= p.join_deadline, "join deadline not reached")
    t: Terms = self._terms_of(api)
    stakes: uint256 = self._return_stakes(api, t, p)
    self._end(api, p, CANCELLED, stakes)


# consumers: deposits -------------------------------------------------------------------------


@external
@payable
def deposit(api: uint256):
    """
    @notice A client adds msg.value to its deposit for calls to the API.
    """
    p: Progress = self._load(api)
    self._require(p.status == JOINING or (p.status == LIVE and block.timestamp < p.ends), "not taking deposits")
    self._require(msg.value > 0, "send a deposit")
    self._require(staticcall IRegistry(REGISTRY).has_role(msg.sender, role_bits.CLIENT), "caller is not a client")
    if not self._is_depositor[api][msg.sender]:
        self._require(p.depositors < MAX_CONSUMERS, "no more consumers")
        self._is_depositor[api][msg.sender] = True
        self._depositor_list[api][p.depositors] = msg.sender
        p.depositors += 1
    p.locked += msg.value
    self._save(api, p)
    amount: uint256 = self._deposits[api][msg.sender].amount + msg.value
    self._deposits[api][msg.sender].amount = amount
    log Deposited(api=api, consumer=msg.sender, amount=msg.value, deposit=amount)


@external
def request_withdrawal(api: uint256):
    """
    @notice A consumer asks to take its deposit back; it may after start + (e_now + 2)L,
            when every batch that may debit it is committed.
    """
    p: Progress = self._load(api)
    self._require(p.status == LIVE, "not live")
    self._require(self._deposits[api][msg.sender].amount > 0, "nothing deposited")
    period: uint256 = self._periods[api].epoch
    after: uint256 = p.start + ((block.timestamp - p.start) // period + 2) * period
    self._deposits[api][msg.sender].withdraw_after = after
    log WithdrawalRequested(api=api, consumer=msg.sender, withdraw_after=after)


@external
def withdraw_deposit(api: uint256):
    """
    @notice A consumer's whole deposit is credited back (then `withdraw`): at once while the
            API is joining, after the notice once it is live.
    """
    p: Progress = self._load(api)
    d: Deposit = self._deposits[api][msg.sender]
    self._require(d.amount > 0, "nothing deposited")
    if p.status == LIVE:
        self._require(d.withdraw_after != 0, "request the withdrawal first")
        self._require(block.timestamp >= d.withdraw_after, "withdrawal notice not over")
    self._deposits[api][msg.sender] = empty(Deposit)
    p.locked -= d.amount
    self._save(api, p)
    escrow._credit(msg.sender, d.amount)
    log DepositWithdrawn(api=api, consumer=msg.sender, amount=d.amount)


# orchestrator: batches ------------------------------------------------------------------------


@external
def commit_batch(
    api: uint256,
    epoch: uint256,
    root: bytes32,
    records_hash: bytes32,
    consumers: DynArray[address, MAX_CONSUMERS],
    calls: DynArray[uint256, MAX_CONSUMERS],
    steps: DynArray[uint256, MAX_SLOTS],
):
    """
    @notice The orchestrator commits the steps of epoch `epoch` in
            [start + (e+1)L, start + (e+2)L): the Merkle root of the step leaves (by slot,
            consumer, seq), the blob hash of the records file, the calls of each consumer
            (addresses increasing) and the steps of each slot. Each consumer's deposit is
            debited calls x price; the vendors' shares and the provider's rest are held until
            the epoch's window closes.
    """
    t: Terms = self._terms_of(api)
    p: Progress = self._load(api)
    self._require(msg.sender == t.orchestrator, "caller is not the orchestrator")
    self._require(p.status == LIVE and epoch <= self._last_epoch(api, p), "no such epoch")
    period: uint256 = self._periods[api].epoch
    self._require(block.timestamp >= p.start + (epoch + 1) * period, "the epoch is not over")
    self._require(block.timestamp < p.start + (epoch + 2) * period, "too late for that batch")
    self._require(self._batches[api][epoch].root == empty(bytes32), "batch already committed")
    self._require(root != empty(bytes32) and records_hash != empty(bytes32), "empty hash")
    self._require(len(calls) == len(consumers), "one count per consumer")
    self._require(len(steps) == t.slots, "one step count per slot")
    total_calls: uint256 = 0
    previous: uint256 = 0
    for i: uint256 in range(MAX_CONSUMERS):
        if i == len(consumers):
            break
        consumer: address = consumers[i]
        self._require(convert(consumer, uint256) > previous, "consumers must increase")
        previous = convert(consumer, uint256)
        self._require(calls[i] > 0, "a consumer with no call")
        cost: uint256 = calls[i] * t.price
        available: uint256 = self._deposits[api][consumer].amount
        self._require(available >= cost, "a deposit cannot pay its calls")
        # checked just above: a checked subtraction might revert first, without the reason
        self._deposits[api][consumer].amount = unsafe_sub(available, cost)
        total_calls += calls[i]
    shares: DynArray[uint256, MAX_COMPONENTS] = self._shares[api]
    per_component: uint256[MAX_COMPONENTS] = empty(uint256[MAX_COMPONENTS])
    packed: uint256[2] = empty(uint256[2])
    vendors: uint256 = 0
    for v: uint256 in range(MAX_SLOTS):
        if v == t.slots:
            break
        self._require(steps[v] <= STEP_MASK, "too many steps")
        component: uint256 = self._slots[api][v].component
        per_component[component] += steps[v]
        vendors += steps[v] * shares[component]
        packed[v // 8] |= steps[v] << (STEP_BITS * (v % 8))
    for j: uint256 in range(MAX_COMPONENTS):
        if j == t.components:
            break
        self._require(per_component[j] <= total_calls, "more steps than calls")
    total: uint256 = total_calls * t.price
    self._require(total >= vendors, "shares exceed the price")
    counts_hash: bytes32 = keccak256(abi_encode(consumers, calls, steps))
    self._batches[api][epoch] = Batch(
        root=root,
        records_hash=records_hash,
        counts_hash=counts_hash,
        total=total,
        steps_low=packed[0],
        steps_high=packed[1],
        finalized=False,
    )
    p.open += 1
    self._save(api, p)
    log BatchCommitted(
        api=api,
        epoch=epoch,
        root=root,
        records_hash=records_hash,
        counts_hash=counts_hash,
        consumers=consumers,
        calls=calls,
        steps=steps,
        total=total,
    )


@external
def finalize_batch(api: uint256, epoch: uint256):
    """
    @notice After the window of the batch's epoch closes, anyone credits each slot's vendor
            its steps x share and the provider the rest.
    """
    t: Terms = self._terms_of(api)
    p: Progress = self._load(api)
    b: Batch = self._batches[api][epoch]
    self._require(b.root != empty(bytes32) and not b.finalized, "no batch to finalize")
    self._require(block.timestamp >= self._close(api, p, epoch), "the window is still open")
    shares: DynArray[uint256, MAX_COMPONENTS] = self._shares[api]
    vendors: uint256 = 0
    for v: uint256 in range(MAX_SLOTS):
        if v == t.slots:
            break
        s: Slot = self._slots[api][v]
        pay: uint256 = self._steps_of(b, v) * shares[s.component]
        escrow._credit(s.vendor, pay)
        vendors += pay
    escrow._credit(t.provider, b.total - vendors)
    self._batches[api][epoch].finalized = True
    p.open -= 1
    p.locked -= b.total
    self._save(api, p)
    log BatchFinalized(api=api, epoch=epoch, caller=msg.sender, vendors_paid=vendors, provider_paid=b.total - vendors)


# vendors: claims ------------------------------------------------------------------------------


@external
def claim(
    api: uint256,
    epoch: uint256,
    consumer: address,
    seq: uint256,
    input_hash: bytes32,
    component: uint256,
    slot: uint256,
    hash_in: bytes32,
    request_sig: Bytes[65],
    assignment_sig: Bytes[65],
    consumers: DynArray[address, MAX_CONSUMERS],
    calls: DynArray[uint256, MAX_CONSUMERS],
    steps: DynArray[uint256, MAX_SLOTS],
) -> uint256:
    """
    @notice A slot's vendor claims its share for a step it ran: the consumer's signed
            request and the orchestrator's signed assignment of the step to the slot. With
            no batch after its due time, or a batch counting fewer calls of the consumer
            than seq, the share is paid at once from the orchestrator's stake; otherwise the
            orchestrator must show the step in the batch within R. Pass the batch's counts
            (from BatchCommitted) when it exists, empty arrays otherwise.
    @return The claim id.
    """
    t: Terms = self._terms_of(api)
    p: Progress = self._load(api)
    self._require(p.status == LIVE and epoch <= self._last_epoch(api, p), "no such epoch")
    self._require(block.timestamp < self._close(api, p, epoch), "the window is closed")
    self._require(slot < t.slots and self._slots[api][slot].vendor == msg.sender, "caller is not that slot's vendor")
    self._require(self._slots[api][slot].component == component, "the slot runs another component")
    self._require(seq > 0, "seq starts at 1")
    key: bytes32 = keccak256(abi_encode(api, epoch, consumer, seq, component))
    self._require(not self._claimed[key], "step already claimed")
    self._check_request(api, epoch, consumer, seq, input_hash, t.price, request_sig)
    assignment: bytes32 = keccak256(
        abi_encode(TAG_ASSIGNMENT, self, api, epoch, consumer, seq, component, slot, hash_in)
    )
    self._require(self._signer(assignment, assignment_sig) == t.orchestrator, "assignment not from orchestrator")
    self._claimed[key] = True
    state: uint256 = OPEN
    deadline: uint256 = 0
    b: Batch = self._batches[api][epoch]
    if b.root == empty(bytes32):
        period: uint256 = self._periods[api].epoch
        self._require(block.timestamp >= p.start + (epoch + 2) * period, "the batch is not due yet")
        state = PAID_MISSED
    elif seq > self._calls_of(b, consumer, consumers, calls, steps):
        state = PAID_UNREPORTED
    else:
        deadline = block.timestamp + self._periods[api].response
        p.open += 1
    paid: uint256 = 0
    if state != OPEN:
        paid = self._from_stake(p, msg.sender, self._shares[api][component])
        p.stake_left -= paid
        p.locked -= paid
    self._save(api, p)
    claim_id: uint256 = self.next_claim_id
    self.next_claim_id = claim_id + 1
    self._claims[claim_id] = Claim(
        api=api,
        vendor=msg.sender,
        epoch=epoch,
        consumer=consumer,
        seq=seq,
        component=component,
        slot=slot,
        hash_in=hash_in,
        deadline=deadline,
        state=state,
    )
    log Claimed(
        claim_id=claim_id,
        api=api,
        vendor=msg.sender,
        epoch=epoch,
        consumer=consumer,
        seq=seq,
        input_hash=input_hash,
        component=component,
        slot=slot,
        hash_in=hash_in,
        state=state,
        paid=paid,
        deadline=deadline,
    )
    return claim_id


@external
def answer_claim(claim_id: uint256, index: uint256, hash_out: bytes32, proof: DynArray[bytes32, merkle.MAX_DEPTH]):
    """
    @notice Within R, the orchestrator shows the claimed step in its batch: the leaf
            (index, api, epoch, consumer, seq, component, slot, hash_in, hash_out) at an
            index inside the slot's range, with its Merkle proof.
    """
    c: Claim = self._claims[claim_id]
    self._require(c.state == OPEN and block.timestamp < c.deadline, "no claim to answer")
    self._require(msg.sender == self._terms[c.api].orchestrator, "caller is not the orchestrator")
    b: Batch = self._batches[c.api][c.epoch]
    first: uint256 = 0
    for v: uint256 in range(MAX_SLOTS):
        if v == c.slot:
            break
        first += self._steps_of(b, v)
    self._require(index >= first and index < first + self._steps_of(b, c.slot), "index outside the slot's leaves")
    leaf: bytes32 = keccak256(
        abi_encode(index, c.api, c.epoch, c.consumer, c.seq, c.component, c.slot, c.hash_in, hash_out)
    )
    self._require(merkle._root(leaf, proof) == b.root, "the step is not in the batch")
    self._claims[claim_id].state = ANSWERED
    self._progress[c.api].open -= 1
    log ClaimAnswered(claim_id=claim_id, api=c.api, index=index, hash_out=hash_out)


@external
def settle_claim(claim_id: uint256):
    """
    @notice After an unanswered claim's deadline, anyone pays the vendor its share from the
            orchestrator's stake.
    """
    c: Claim = self._claims[claim_id]
    self._require(c.state == OPEN, "no open claim")
    self._require(block.timestamp >= c.deadline, "orchestrator may still answer")
    p: Progress = self._progress[c.api]
    paid: uint256 = self._from_stake(p, c.vendor, self._shares[c.api][c.component])
    p.stake_left -= paid
    p.locked -= paid
    p.open -= 1
    self._save(c.api, p)
    self._claims[claim_id].state = PAID_UNANSWERED
    log ClaimSettled(claim_id=claim_id, api=c.api, caller=msg.sender, paid=paid)


# consumers: challenges and disputes -----------------------------------------------------------


@external
@payable
def challenge(
    api: uint256,
    epoch: uint256,
    seq: uint256,
    consumers: DynArray[address, MAX_CONSUMERS],
    calls: DynArray[uint256, MAX_CONSUMERS],
    steps: DynArray[uint256, MAX_SLOTS],
) -> uint256:
    """
    @notice A consumer challenges call `seq` that the batch of `epoch` counts against it,
            with the challenge bond and the batch's counts (from BatchCommitted). The
            orchestrator must show the consumer's signed request within R.
    @return The challenge id.
    """
    t: Terms = self._terms_of(api)
    p: Progress = self._load(api)
    self._require(p.status == LIVE, "not live")
    b: Batch = self._batches[api][epoch]
    self._require(b.root != empty(bytes32), "no batch for that epoch")
    self._require(block.timestamp < self._close(api, p, epoch), "the window is closed")
    self._require(seq > 0 and seq <= self._calls_of(b, msg.sender, consumers, calls, steps), "the batch counts no such call")
    key: bytes32 = keccak256(abi_encode(api, epoch, msg.sender, seq))
    self._require(not self._challenged[key], "call already challenged")
    self._require(msg.value == t.challenge_bond, "send the challenge bond")
    self._challenged[key] = True
    deadline: uint256 = block.timestamp + self._periods[api].response
    p.open += 1
    p.locked += msg.value
    self._save(api, p)
    challenge_id: uint256 = self.next_challenge_id
    self.next_challenge_id = challenge_id + 1
    self._challenges[challenge_id] = Challenge(
        api=api, consumer=msg.sender, epoch=epoch, seq=seq, bond=msg.value, deadline=deadline, state=OPEN
    )
    log Challenged(
        challenge_id=challenge_id, api=api, consumer=msg.sender, epoch=epoch, seq=seq, bond=msg.value, deadline=deadline
    )
    return challenge_id


@external
def answer_challenge(challenge_id: uint256, input_hash: bytes32, request_sig: Bytes[65]):
    """
    @notice Within R, the orchestrator shows the consumer's signed request for the
            challenged call; it earns the bond.
    """
    c: Challenge = self._challenges[challenge_id]
    self._require(c.state == OPEN and block.timestamp < c.deadline, "no challenge to answer")
    t: Terms = self._terms_of(c.api)
    self._require(msg.sender == t.orchestrator, "caller is not the orchestrator")
    self._check_request(c.api, c.epoch, c.consumer, c.seq, input_hash, t.price, request_sig)
    self._challenges[challenge_id].state = ANSWERED
    p: Progress = self._progress[c.api]
    p.open -= 1
    p.locked -= c.bond
    self._save(c.api, p)
    escrow._credit(msg.sender, c.bond)
    log ChallengeAnswered(challenge_id=challenge_id, api=c.api, input_hash=input_hash, bond_paid=c.bond)


@external
def settle_challenge(challenge_id: uint256):
    """
    @notice After an unanswered challenge's deadline, anyone refunds the consumer its bond
            and the call's price from the orchestrator's stake.
    """
    c: Challenge = self._challenges[challenge_id]
    self._require(c.state == OPEN, "no open challenge")
    self._require(block.timestamp >= c.deadline, "orchestrator may still answer")
    p: Progress = self._progress[c.api]
    price: uint256 = self._from_stake(p, empty(address), self._terms[c.api].price)
    refund: uint256 = price + c.bond
    escrow._credit(c.consumer, refund)
    p.stake_left -= price
    p.locked -= refund
    p.open -= 1
    self._save(c.api, p)
    self._challenges[challenge_id].state = REFUNDED
    log ChallengeSettled(challenge_id=challenge_id, api=c.api, caller=msg.sender, refund=refund)


@external
@payable
def dispute(
    api: uint256,
    epoch: uint256,
    seq: uint256,
    component: uint256,
    slot: uint256,
    component_hash: bytes32,
    hash_in: bytes32,
    hash_out: bytes32,
    receipt_sig: Bytes[65],
    component_proof: DynArray[bytes32, merkle.MAX_DEPTH],
) -> uint256:
    """
    @notice A consumer disputes the output of a step of its call with the slot vendor's
            signed receipt and the dispute bond. A component hash outside the model root at
            index `component` slashes the vendor at once; otherwise the component's other
            live replicas re-run the step and vote (commit, reveal, `resolve`).
    @return The dispute id.
    """
    t: Terms = self._terms_of(api)
    p: Progress = self._load(api)
    self._require(p.status == LIVE and epoch <= self._last_epoch(api, p), "no such epoch")
    self._require(block.timestamp < self._close(api, p, epoch), "the window is closed")
    self._require(slot < t.slots, "no such slot")
    s: Slot = self._slots[api][slot]
    self._require(s.component == component, "the slot runs another component")
    self._require((p.out >> slot) & 1 == 0, "that slot is already out")
    key: bytes32 = keccak256(abi_encode(api, epoch, msg.sender, seq, component))
    self._require(not self._disputed[key], "step already disputed")
    receipt: bytes32 = keccak256(
        abi_encode(TAG_RECEIPT, self, api, epoch, msg.sender, seq, component, slot, component_hash, hash_in, hash_out)
    )
    self._require(self._signer(receipt, receipt_sig) == s.vendor, "receipt not signed by the vendor")
    self._require(msg.value == t.dispute_bond, "send the dispute bond")
    self._disputed[key] = True
    dispute_id: uint256 = self.next_dispute_id
    self.next_dispute_id = dispute_id + 1
    members: uint256 = 0
    for v: uint256 in range(MAX_SLOTS):
        if v == t.slots:
            break
        if v != slot and (p.out >> v) & 1 == 0 and self._slots[api][v].component == component:
            members |= 1 << v
    deadline: uint256 = block.timestamp + self._periods[api].response
    d: Dispute = Dispute(
        api=api,
        consumer=msg.sender,
        epoch=epoch,
        seq=seq,
        component=component,
        slot=slot,
        hash_out=hash_out,
        members=members,
        committed=0,
        revealed=0,
        commit_deadline=deadline,
        reveal_deadline=0,
        bond=msg.value,
        state=OPEN,
    )
    p.locked += msg.value
    log Disputed(
        dispute_id=dispute_id,
        api=api,
        consumer=msg.sender,
        epoch=epoch,
        seq=seq,
        component=component,
        slot=slot,
        component_hash=component_hash,
        hash_in=hash_in,
        hash_out=hash_out,
        bond=msg.value,
        members=members,
        commit_deadline=deadline,
    )
    p.open += 1
    self._save(api, p)
    self._disputes[dispute_id] = d
    if merkle._root(merkle._indexed_leaf(component, component_hash), component_proof) != t.model_root:
        # the vendor signed that it ran a component the model does not have
        self._settle_dispute(dispute_id, d, True)
    else:
        committee._set_vote(convert(dispute_id, bytes32), slot, hash_out)
    return dispute_id


@external
def commit_output(dispute_id: uint256, commitment: bytes32):
    """
    @notice Before the commit deadline, a replica in the committee commits to
            keccak256(abi_encode(dispute_id, replica, hash_out, salt)).
    """
    d: Dispute = self._disputes[dispute_id]
    self._require(d.state == OPEN and block.timestamp < d.commit_deadline and d.reveal_deadline == 0, "not taking commitments")
    member: uint256 = self._member(d)
    committee._commit(convert(dispute_id, bytes32), member, commitment)
    d.committed |= 1 << member
    if d.committed == d.members:
        d.reveal_deadline = block.timestamp + self._periods[d.api].response
    self._disputes[dispute_id] = d
    log OutputCommitted(
        dispute_id=dispute_id,
        api=d.api,
        replica=msg.sender,
        slot=member,
        commitment=commitment,
        reveal_deadline=d.reveal_deadline,
    )


@external
def reveal_output(dispute_id: uint256, hash_out: bytes32, salt: bytes32):
    """
    @notice Once every replica committed or the commit deadline passed, and within R of
            that, a replica that committed reveals its output hash.
    """
    d: Dispute = self._disputes[dispute_id]
    self._require(d.state == OPEN, "not taking reveals")
    self._require(d.reveal_deadline != 0 or block.timestamp >= d.commit_deadline, "replicas may still commit")
    self._require(block.timestamp < self._reveal_deadline(d), "not taking reveals")
    member: uint256 = self._member(d)
    opened: bytes32 = keccak256(abi_encode(dispute_id, msg.sender, hash_out, salt))
    committee._reveal(convert(dispute_id, bytes32), member, opened, hash_out)
    self._disputes[dispute_id].revealed = d.revealed | (1 << member)
    log OutputRevealed(dispute_id=dispute_id, api=d.api, replica=msg.sender, slot=member, hash_out=hash_out)


@external
def resolve(dispute_id: uint256):
    """
    @notice Once every replica revealed, or after the reveal deadline, anyone settles the
            dispute by the majority of the component's live slots (the accused included):
            a liar loses its stake (half to the consumer, half to the majority), an honest
            vendor's accuser loses the bond (to the majority), revealed dissenters lose
            their stake to the majority; no majority refunds the bond and slashes nobody.
    """
    d: Dispute = self._disputes[dispute_id]
    self._require(d.state == OPEN, "no open dispute")
    self._require(d.revealed == d.members or block.timestamp >= self._reveal_deadline(d), "replicas may still reveal")
    self._settle_dispute(dispute_id, d, False)


# base mode: every step on chain --------------------------------------------------------------


@external
def call_onchain(api: uint256, input_hash: bytes32) -> uint256:
    """
    @notice A consumer calls the API on chain: the price is taken from its deposit and held
            while the first live slot of each component records its step in order.
    @return The call id.
    """
    t: Terms = self._terms_of(api)
    p: Progress = self._load(api)
    self._require(p.status == LIVE and block.timestamp < p.ends, "not taking calls")
    self._require(input_hash != empty(bytes32), "empty hash")
    available: uint256 = self._deposits[api][msg.sender].amount
    self._require(available >= t.price, "deposit does not cover the price")
    self._deposits[api][msg.sender].amount = unsafe_sub(available, t.price)  # checked above
    p.open += 1
    self._save(api, p)
    deadline: uint256 = block.timestamp + self._periods[api].response
    call_id: uint256 = self.next_call_id
    self.next_call_id = call_id + 1
    self._calls[call_id] = Call(
        api=api,
        consumer=msg.sender,
        last_hash=input_hash,
        next_component=0,
        held=t.price,
        deadline=deadline,
        state=OPEN,
    )
    log CallOpened(call_id=call_id, api=api, consumer=msg.sender, input_hash=input_hash, price=t.price, deadline=deadline)
    return call_id


@external
def record_step(call_id: uint256, component: uint256, hash_in: bytes32, hash_out: bytes32):
    """
    @notice The first live slot of the call's next component records its step within R:
            hash_in is the call's input (component 0) or the previous step's output. Its
            share is credited at once.
    """
    c: Call = self._calls[call_id]
    self._require(c.state == OPEN and block.timestamp < c.deadline, "no call waiting for a step")
    t: Terms = self._terms_of(c.api)
    self._require(component == c.next_component and component < t.components, "not that component's turn")
    self._require(msg.sender == self._runner(c.api, t, component), "caller is not that step's vendor")
    self._require(hash_in == c.last_hash, "hash_in is not the last output")
    self._require(hash_out != empty(bytes32), "empty hash")
    share: uint256 = self._shares[c.api][component]
    escrow._credit(msg.sender, share)
    self._progress[c.api].locked -= share
    c.held -= share
    c.last_hash = hash_out
    c.next_component = component + 1
    c.deadline = block.timestamp + self._periods[c.api].response
    self._calls[call_id] = c
    log StepRecorded(
        call_id=call_id,
        api=c.api,
        vendor=msg.sender,
        component=component,
        hash_in=hash_in,
        hash_out=hash_out,
        paid=share,
        deadline=c.deadline,
    )


@external
def acknowledge(call_id: uint256, output_hash: bytes32):
    """
    @notice The consumer acknowledges the output of a call whose every step is recorded;
            the provider is credited the rest of the price.
    """
    c: Call = self._calls[call_id]
    self._require(c.state == OPEN, "no open call")
    self._require(msg.sender == c.consumer, "caller did not make that call")
    self._require(c.next_component == self._terms[c.api].components, "steps still missing")
    self._require(output_hash == c.last_hash, "not the last step's output")
    self._close_call(call_id, c, ACKNOWLEDGED, output_hash)


@external
def cancel_call(call_id: uint256):
    """
    @notice After a call's deadline, anyone closes it: a missing step refunds the consumer
            what is left of the price; every step recorded but no ack pays the provider.
    """
    c: Call = self._calls[call_id]
    self._require(c.state == OPEN, "no open call")
    self._require(block.timestamp >= c.deadline, "the call may still go on")
    state: uint256 = CANCELLED_CALL
    if c.next_component == self._terms[c.api].components:
        state = UNACKNOWLEDGED
    self._close_call(call_id, c, state, empty(bytes32))


# the end ----------------------------------------------------------------------------------------


@external
def release(api: uint256):
    """
    @notice After the window of the last epoch closes, with every batch finalized and every
            claim, challenge, dispute and call settled, anyone ends the API: the remaining
            stakes and deposits are credited back.
    """
    p: Progress = self._load(api)
    self._require(p.status == LIVE, "not live")
    self._require(block.timestamp >= self._close(api, p, self._last_epoch(api, p)), "the last window is still open")
    self._require(p.open == 0, "something is still open")
    t: Terms = self._terms_of(api)
    stakes: uint256 = self._return_stakes(api, t, p)
    self._end(api, p, ENDED, stakes)


# views ----------------------------------------------------------------------------------------


@view
@external
def api(api: uint256) -> ApiView:
    """
    @notice Everything about an API (all zero if there is none).
    """
    t: Terms = self._terms_of(api)
    d: Periods = self._periods[api]
    p: Progress = self._progress[api]
    return ApiView(
        provider=t.provider,
        orchestrator=t.orchestrator,
        model_root=t.model_root,
        components=t.components,
        slots=t.slots,
        shares=self._shares[api],
        price=t.price,
        vendor_stake=t.vendor_stake,
        orchestrator_stake=t.orchestrator_stake,
        challenge_bond=t.challenge_bond,
        dispute_bond=t.dispute_bond,
        join_period=d.join,
        epoch_period=d.epoch,
        window_period=d.window,
        response_period=d.response,
        term=d.term,
        status=p.status,
        join_deadline=p.join_deadline,
        start=p.start,
        ends=p.ends,
        joined=p.joined,
        accepted=p.accepted,
        out=p.out,
        open=p.open,
        stake_left=p.stake_left,
        depositors=p.depositors,
        locked=p.locked,
    )


@view
@external
def slot(api: uint256, slot: uint256) -> SlotView:
    """
    @notice Slot `slot` of an API: its vendor, its component, whether it joined and whether
            it was slashed.
    """
    s: Slot = self._slots[api][slot]
    p: Progress = self._progress[api]
    return SlotView(
        vendor=s.vendor, component=s.component, joined=(p.joined >> slot) & 1 == 1, out=(p.out >> slot) & 1 == 1
    )


@view
@external
def batch(api: uint256, epoch: uint256) -> Batch:
    """
    @notice The batch of an epoch (all zero if none was committed).
    """
    return self._batches[api][epoch]


@view
@external
def deposit_of(api: uint256, consumer: address) -> Deposit:
    """
    @notice A consumer's deposit and when it may withdraw it (0: not asked).
    """
    return self._deposits[api][consumer]


@view
@external
def component_at(api: uint256, index: uint256, component_hash: bytes32, proof: DynArray[bytes32, merkle.MAX_DEPTH]) -> bool:
    """
    @notice Whether `component_hash` is component `index` of the API's model.
    """
    root: bytes32 = self._terms[api].model_root
    return root != empty(bytes32) and merkle._root(merkle._indexed_leaf(index, component_hash), proof) == root


@view
@external
def claim_of(claim_id: uint256) -> Claim:
    """
    @notice A claim (all zero if there is none).
    """
    return self._claims[claim_id]


@view
@external
def challenge_of(challenge_id: uint256) -> Challenge:
    """
    @notice A challenge (all zero if there is none).
    """
    return self._challenges[challenge_id]


@view
@external
def dispute_of(dispute_id: uint256) -> Dispute:
    """
    @notice A dispute (all zero if there is none).
    """
    return self._disputes[dispute_id]


@view
@external
def call(call_id: uint256) -> Call:
    """
    @notice A base-mode call (all zero if there is none).
    """
    return self._calls[call_id]


@view
@external
def epoch_close(api: uint256, epoch: uint256) -> uint256:
    """
    @notice When the window of `epoch` closes: start + (epoch + 2)L + W (0 before the start).
    """
    p: Progress = self._progress[api]
    if p.start == 0:
        return 0
    return self._close(api, p, epoch)


# internals ------------------------------------------------------------------------------------


@pure
@internal
def _require(ok: bool, reason: String[53]):
    """Revert with "apimarket: <reason>" unless `ok`. One revert for every check keeps the
    contract under EIP-170's size limit: an assert with its reason costs about 115 bytes
    of code, a call of this about 50."""
    if not ok:
        raise concat("apimarket: ", reason)


@view
@internal
def _terms_of(api: uint256) -> Terms:
    return self._terms[api]


@internal
def _save(api: uint256, p: Progress):
    self._progress[api] = p


@view
@internal
def _load(api: uint256) -> Progress:
    p: Progress = self._progress[api]
    self._require(p.status != 0, "unknown api")
    return p


@view
@internal
def _last_epoch(api: uint256, p: Progress) -> uint256:
    """The last epoch that starts before the API ends."""
    return (self._periods[api].term - 1) // self._periods[api].epoch


@view
@internal
def _close(api: uint256, p: Progress, epoch: uint256) -> uint256:
    return p.start + (epoch + 2) * self._periods[api].epoch + self._periods[api].window


@pure
@internal
def _steps_of(b: Batch, slot: uint256) -> uint256:
    word: uint256 = b.steps_low
    if slot >= 8:
        word = b.steps_high
    return (word >> (STEP_BITS * (slot % 8))) & STEP_MASK


@pure
@internal
def _calls_of(
    b: Batch,
    consumer: address,
    consumers: DynArray[address, MAX_CONSUMERS],
    calls: DynArray[uint256, MAX_CONSUMERS],
    steps: DynArray[uint256, MAX_SLOTS],
) -> uint256:
    """The calls the batch counts for `consumer` (0 if absent); the counts must be the batch's."""
    self._require(keccak256(abi_encode(consumers, calls, steps)) == b.counts_hash, "not the batch's counts")
    for i: uint256 in range(MAX_CONSUMERS):
        if i == len(consumers):
            break
        if consumers[i] == consumer:
            return calls[i]
    return 0


@view
@internal
def _check_request(
    api: uint256, epoch: uint256, consumer: address, seq: uint256, input_hash: bytes32, price: uint256, signature: Bytes[65]
):
    """The consumer signed the request (api, epoch, consumer, seq, input_hash, price)."""
    digest: bytes32 = keccak256(abi_encode(TAG_REQUEST, self, api, epoch, consumer, seq, input_hash, price))
    self._require(self._signer(digest, signature) == consumer, "request not signed by consumer")


@pure
@internal
def _signer(digest: bytes32, signature: Bytes[65]) -> address:
    """The address whose EIP-191 signature of the 32-byte `digest` is `signature` (r || s || v)."""
    self._require(len(signature) == 65, "a signature is 65 bytes")
    signed: bytes32 = keccak256(concat(SIGNED_PREFIX, digest))
    r: uint256 = extract32(signature, 0, output_type=uint256)
    s: uint256 = extract32(signature, 32, output_type=uint256)
    v: uint256 = convert(slice(signature, 64, 1), uint256)
    return ecrecover(signed, v, r, s)


@internal
def _from_stake(p: Progress, payee: address, amount: uint256) -> uint256:
    """Credit `payee` (none: the caller credits) up to `amount` of the orchestrator's
    remaining stake; returns what was taken. The caller lowers stake_left and locked."""
    taken: uint256 = min(amount, p.stake_left)
    if payee != empty(address):
        escrow._credit(payee, taken)
    return taken


@view
@internal
def _member(d: Dispute) -> uint256:
    """The caller's slot; it must be in the dispute's committee."""
    for v: uint256 in range(MAX_SLOTS):
        if (d.members >> v) & 1 == 1 and self._slots[d.api][v].vendor == msg.sender:
            return v
    raise "apimarket: caller is not in the committee"


@view
@internal
def _reveal_deadline(d: Dispute) -> uint256:
    if d.reveal_deadline != 0:
        return d.reveal_deadline
    return d.commit_deadline + self._periods[d.api].response


@view
@internal
def _runner(api: uint256, t: Terms, component: uint256) -> address:
    """The vendor of the first live slot of `component` (base mode)."""
    out: uint256 = self._progress[api].out
    for v: uint256 in range(MAX_SLOTS):
        if v == t.slots:
            break
        s: Slot = self._slots[api][v]
        if s.component == component and (out >> v) & 1 == 0:
            return s.vendor
    return empty(address)


@internal
def _maybe_live(api: uint256, t: Terms, p: Progress) -> Progress:
    """Go live when every slot joined and the orchestrator accepted."""
    if not p.accepted or p.joined != (1 << t.slots) - 1:
        return p
    result: Progress = p
    result.status = LIVE
    result.start = block.timestamp
    result.ends = block.timestamp + self._periods[api].term
    log ApiLive(api=api, start=result.start, ends=result.ends, last_epoch=self._last_epoch(api, p))
    return result


@internal
def _return_stakes(api: uint256, t: Terms, p: Progress) -> uint256:
    """Credit every joined vendor not slashed its stake and the orchestrator what is left
    of its; returns the total."""
    total: uint256 = 0
    for v: uint256 in range(MAX_SLOTS):
        if v == t.slots:
            break
        if (p.joined >> v) & 1 == 1 and (p.out >> v) & 1 == 0:
            escrow._credit(self._slots[api][v].vendor, t.vendor_stake)
            total += t.vendor_stake
    escrow._credit(t.orchestrator, p.stake_left)
    return total + p.stake_left


@internal
def _end(api: uint256, p: Progress, status: uint256, stakes: uint256):
    """End the API in `status`: every deposit left is credited back; nothing stays locked."""
    deposits: uint256 = 0
    for i: uint256 in range(MAX_CONSUMERS):
        if i == p.depositors:
            break
        consumer: address = self._depositor_list[api][i]
        amount: uint256 = self._deposits[api][consumer].amount
        if amount > 0:
            self._deposits[api][consumer] = empty(Deposit)
            escrow._credit(consumer, amount)
            deposits += amount
    self._require(p.locked == stakes + deposits, "escrow out of balance")
    result: Progress = p
    result.status = status
    result.stake_left = 0
    result.locked = 0
    self._save(api, result)
    log ApiEnded(api=api, status=status, caller=msg.sender, stakes=stakes, deposits=deposits)


@internal
def _settle_dispute(dispute_id: uint256, d: Dispute, wrong_component: bool):
    """Settle a dispute: at once for a receipt of a component outside the model (half the
    vendor's stake to the consumer, half to the provider), else by the committee's vote."""
    t: Terms = self._terms_of(d.api)
    p: Progress = self._progress[d.api]
    accused: uint256 = 1 << d.slot
    majority: bytes32 = empty(bytes32)
    agreed: uint256 = 0
    to_consumer: uint256 = d.bond
    to_provider: uint256 = 0
    pool: uint256 = 0
    slashed: uint256 = 0
    state: uint256 = NO_MAJORITY
    if wrong_component:
        state = WRONG_COMPONENT
        slashed = accused
        to_provider = t.vendor_stake // 2
        to_consumer += t.vendor_stake - to_provider
    else:
        live: uint256 = bits._count(d.members) + 1
        majority, agreed = committee._majority(convert(dispute_id, bytes32), d.revealed | accused, live // 2 + 1)
    if majority != empty(bytes32):
        # a slot slashed since (in another dispute) has no stake left to lose
        slashed = d.revealed & ~agreed & ~p.out
        pool = bits._count(slashed) * t.vendor_stake
        if majority == d.hash_out:
            state = HONEST
            pool += d.bond
            to_consumer = 0
        else:
            state = LIAR
            if p.out & accused == 0:
                slashed |= accused
                to_consumer += t.vendor_stake - t.vendor_stake // 2
                pool += t.vendor_stake // 2
    p.out |= slashed
    each: uint256 = 0
    if agreed != 0:
        each = pool // bits._count(agreed)
        for v: uint256 in range(MAX_SLOTS):
            if (agreed >> v) & 1 == 1:
                escrow._credit(self._slots[d.api][v].vendor, each)
        to_provider += pool - each * bits._count(agreed)
    escrow._credit(d.consumer, to_consumer)
    escrow._credit(t.provider, to_provider)
    p.locked -= d.bond + bits._count(slashed) * t.vendor_stake
    p.open -= 1
    self._save(d.api, p)
    self._disputes[dispute_id].state = state
    log DisputeResolved(
        dispute_id=dispute_id,
        api=d.api,
        caller=msg.sender,
        state=state,
        majority=majority,
        agreed=agreed,
        slashed=slashed,
        to_consumer=to_consumer,
        to_each_in_majority=each,
        to_provider=to_provider,
    )


@internal
def _close_call(call_id: uint256, c: Call, state: uint256, output_hash: bytes32):
    to_provider: uint256 = 0
    to_consumer: uint256 = 0
    if state == CANCELLED_CALL:
        to_consumer = c.held
        escrow._credit(c.consumer, to_consumer)
    else:
        to_provider = c.held
        escrow._credit(self._terms[c.api].provider, to_provider)
    p: Progress = self._progress[c.api]
    p.locked -= c.held
    p.open -= 1
    self._save(c.api, p)
    self._calls[call_id].state = state
    self._calls[call_id].held = 0
    log CallClosed(
        call_id=call_id,
        api=c.api,
        caller=msg.sender,
        state=state,
        output_hash=output_hash,
        to_provider=to_provider,
        to_consumer=to_consumer,
    )
