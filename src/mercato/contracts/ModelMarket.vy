# pragma version ~=0.4.3
# pragma experimental-codegen
# pragma optimize codesize
"""
@title Model market: benchmark pricing and a fair model-for-money swap (Golden Grain, P4)
@notice An MLaaS provider (the buyer, registered as client) posts a request: the blob hash of
        the task (ontology terms, input and output schema, metric, evaluation rule), a hidden
        test set committed as the Merkle root of `groups` salted groups of examples (leaf:
        uint64(index) || keccak(group blob)), a price schedule from score to price, how many
        models it buys (the best k scoring at least the schedule's first score), the stakes
        of sellers and executors, the executors' fee, a bond it forfeits if its test set is
        false, and every period. It locks k x the top price + the executors' fees + the bond.

        1. SAMPLING. A block after the posting block seeds the public sample: `sample` of the
           groups, drawn by `advance` (anyone). The buyer reveals the drawn groups' hashes
           with their Merkle proofs and the blob that holds them, so sellers can check that
           the test data is real and fits the task; those groups never count in a score. No
           reveal by the deadline: `advance` cancels and refunds.
        2. SUBMITTING. Model developers (sellers, registered as model owners) submit until
           the deadline: the model's plaintext chunk root, ciphertext chunk root, key hash and
           size (mercato.crypto.fairswap), the hash of the delivery (the encrypted chunks and
           chunk hashes, sealed to the buyer) and the seller stake. Compute providers
           volunteer as executors with the executor stake. Nobody is both buyer, seller and
           executor of one request. The buyer may reject a delivery that does not open or
           does not match the roots until the executors are drawn (the seller gets its stake
           back; nobody learns the model).
        3. DRAWING. After the deadline `advance` targets the next block, whose hash draws the
           executors among the volunteers (as P2 draws subsets); undrawn volunteers get their
           stake back. No submission or too few volunteers: everything is refunded.
        4. COMMITTING. The buyer seals the hidden groups to each executor and each seller its
           model (`seal`, evidence only). Each executor checks both against their roots,
           evaluates deterministically, signs an execution report and commits to
           keccak(abi_encode(request, executor, scores, flags, report, salt)): scores in
           parts per million, one per submission; flag bit 0 says the test set did not match
           its root (or never came), bit 1 + i that seller i's model did not. Nobody can copy
           a score it has not seen.
        5. REVEALING. Executors reveal; then anyone tallies with the vector that a majority
           of the drawn executors revealed. Those who agree get their stake, the fee and the
           stake of those who disagreed or stayed silent; without a majority the request
           fails and everyone is refunded (silent executors still lose their stake, to those
           who revealed, or to the buyer if nobody did). A flagged test set ends the
           request: the sellers share the bond. A flagged model's seller is out and its stake
           goes to the buyer. The best k scores at least the minimum win; each wins the
           schedule's price for its score (monotone, checked at posting); the rest of the
           budget and the bond are refunded.
        6. SWAPPING. Each winner reveals its key on chain (keccak(key) must be its key hash);
           the buyer, who holds the encrypted chunks since the submission, decrypts. If one
           chunk does not decrypt to its committed hash, the buyer proves it within the
           complaint window with that chunk and two Merkle proofs: refund, and the seller's
           stake. Otherwise `finish` (anyone) pays the seller after the window: the honest
           swap is reveal_key, finish, withdraw. A winner silent past the key deadline loses
           the sale and its stake to the buyer.

        Every state has a deadline after which `advance`, `tally` or `finish` moves the
        money; payouts are pull-based (escrow module). `locked` of a request is what it
        holds, so self.balance == sum(locked) + sum(owed) at all times, and an ended request
        locks nothing.

        Randomness: each draw's seed is keccak256(blockhash(target), request, purpose) with
        the target the block that asked; see TrainingMarket.vy for the bias a block producer
        keeps. A target older than 256 blocks is re-targeted by `advance`.

        Size: compiled with Vyper's Venom pipeline for code size, to fit EIP-170's 24 kB.
"""

import escrow
from interfaces import IRegistry
from utils import bits
from utils import committee
from utils import draw
from utils import merkle
from utils import role_bits

initializes: escrow
initializes: committee

exports: (escrow.withdraw, escrow.owed)


MAX_SELLERS: constant(uint256) = 16
MAX_EXECUTORS: constant(uint256) = 7
MAX_VOLUNTEERS: constant(uint256) = 32  # draw.MAX_ITEMS
MAX_SAMPLE: constant(uint256) = 8
MIN_GROUPS: constant(uint256) = 32
MAX_GROUPS: constant(uint256) = 2**32
MAX_POINTS: constant(uint256) = 8
MAX_WINNERS: constant(uint256) = 8
SCORE_SCALE: constant(uint256) = 10**6
MAX_PERIOD: constant(uint256) = 365 * 86400
MAX_AMOUNT: constant(uint256) = 2**128 - 1
CHUNK_SIZE: constant(uint256) = 1024
CHUNK_WORDS: constant(uint256) = 32
MAX_SIZE: constant(uint256) = 2**42  # 4 TiB of model

# Request status
SAMPLING: constant(uint256) = 1  # posted: sample to draw, then to reveal
SUBMITTING: constant(uint256) = 2  # sellers submit, compute providers volunteer
DRAWING: constant(uint256) = 3  # waiting for the block that draws the executors
COMMITTING: constant(uint256) = 4  # executors benchmark and commit to scores
REVEALING: constant(uint256) = 5  # executors reveal; then the tally
SWAPPING: constant(uint256) = 6  # winners reveal keys; complaints; payment
CLOSED: constant(uint256) = 7  # every winner settled
CANCELLED: constant(uint256) = 8  # no sample, no submission or too few executors: refunded
TEST_REJECTED: constant(uint256) = 9  # the executors found the test set false: bond to sellers
FAILED: constant(uint256) = 10  # no majority among the executors: refunded

# Submission state
SUBMITTED: constant(uint256) = 1
REJECTED: constant(uint256) = 2  # the buyer rejected the delivery before the benchmark
FLAGGED: constant(uint256) = 3  # the executors found the model false: stake to the buyer
LOST: constant(uint256) = 4  # not among the winners: stake back
WON: constant(uint256) = 5  # to reveal its key before the key deadline
KEY_REVEALED: constant(uint256) = 6  # complaint window open
PAID: constant(uint256) = 7
CHEATED: constant(uint256) = 8  # a complaint proved a bad chunk: refund and stake to the buyer
DEFAULTED: constant(uint256) = 9  # no key by the deadline: refund and stake to the buyer
RETURNED: constant(uint256) = 10  # the request ended without a sale for it: stake back

TEST_FLAG: constant(uint256) = 1


struct Terms:
    buyer: address
    k: uint256
    executors: uint256
    groups: uint256
    sample: uint256
    seller_stake: uint256
    executor_stake: uint256
    executor_fee: uint256
    bond: uint256
    top_price: uint256


struct Periods:
    sample: uint256
    submit: uint256
    commit: uint256
    reveal: uint256
    key: uint256
    complaint: uint256


struct Progress:
    status: uint256
    deadline: uint256
    target: uint256  # block whose hash seeds the next draw
    sellers: uint256  # submissions so far
    volunteers: uint256  # compute providers that volunteered
    drawn: uint256  # bit i: volunteer i is an executor
    committed: uint256  # bit i: volunteer i committed
    revealed: uint256  # bit i: volunteer i revealed
    unsettled: uint256  # bit i: winner i has not been paid or refunded yet
    locked: uint256  # wei this request holds


struct Submission:
    seller: address
    plain_root: bytes32
    cipher_root: bytes32
    key_hash: bytes32
    size: uint256
    state: uint256
    score: uint256
    price: uint256
    deadline: uint256  # the end of the complaint window once the key is revealed


struct RequestView:
    buyer: address
    test_root: bytes32
    k: uint256
    executors: uint256
    groups: uint256
    sample: uint256
    seller_stake: uint256
    executor_stake: uint256
    executor_fee: uint256
    bond: uint256
    top_price: uint256
    min_score: uint256
    sample_period: uint256
    submit_period: uint256
    commit_period: uint256
    reveal_period: uint256
    key_period: uint256
    complaint_period: uint256
    status: uint256
    deadline: uint256
    target_block: uint256
    sellers: uint256
    volunteers: uint256
    drawn: uint256
    committed: uint256
    revealed: uint256
    unsettled: uint256
    locked: uint256
    sample_seed: bytes32


REGISTRY: public(immutable(address))

next_request_id: public(uint256)
_terms: HashMap[uint256, Terms]
_periods: HashMap[uint256, Periods]
_progress: HashMap[uint256, Progress]
_test_roots: HashMap[uint256, bytes32]
_sample_seeds: HashMap[uint256, bytes32]
# score (parts per million) << 128 | price, one word per point, scores increasing
_schedule: HashMap[uint256, DynArray[uint256, MAX_POINTS]]
_submissions: HashMap[uint256, HashMap[uint256, Submission]]
_seller_index: HashMap[uint256, HashMap[address, uint256]]  # index + 1
_volunteers: HashMap[uint256, HashMap[uint256, address]]
_volunteer_index: HashMap[uint256, HashMap[address, uint256]]  # index + 1
# the executors' commitments and votes (keccak(abi_encode(scores, flags))) live in the
# committee module: key convert(request_id, bytes32), member the volunteer index


event RequestPosted:
    request_id: indexed(uint256)
    buyer: indexed(address)
    task_hash: bytes32
    test_root: bytes32
    groups: uint256
    sample: uint256
    k: uint256
    executors: uint256
    schedule_scores: DynArray[uint256, MAX_POINTS]
    schedule_prices: DynArray[uint256, MAX_POINTS]
    seller_stake: uint256
    executor_stake: uint256
    executor_fee: uint256
    bond: uint256
    escrowed: uint256
    sample_deadline: uint256
    target_block: uint256

event Retargeted:
    request_id: indexed(uint256)
    status: uint256
    target_block: uint256

event SampleDrawn:
    request_id: indexed(uint256)
    caller: indexed(address)
    target_block: uint256
    block_hash: bytes32
    indices: DynArray[uint256, MAX_SAMPLE]

event SampleRevealed:
    request_id: indexed(uint256)
    buyer: indexed(address)
    indices: DynArray[uint256, MAX_SAMPLE]
    group_hashes: DynArray[bytes32, MAX_SAMPLE]
    blob_hash: bytes32
    submit_deadline: uint256

event Submitted:
    request_id: indexed(uint256)
    seller: indexed(address)
    index: uint256
    plain_root: bytes32
    cipher_root: bytes32
    key_hash: bytes32
    size: uint256
    delivery_hash: bytes32
    stake: uint256

event Volunteered:
    request_id: indexed(uint256)
    executor: indexed(address)
    index: uint256
    stake: uint256

event DeliveryRejected:
    request_id: indexed(uint256)
    seller: indexed(address)
    index: uint256
    reason_hash: bytes32

event SubmissionsClosed:
    request_id: indexed(uint256)
    caller: indexed(address)
    sellers: uint256
    volunteers: uint256
    target_block: uint256

event ExecutorsDrawn:
    request_id: indexed(uint256)
    caller: indexed(address)
    target_block: uint256
    block_hash: bytes32
    drawn: uint256
    executors: DynArray[address, MAX_EXECUTORS]
    commit_deadline: uint256

event Sealed:
    request_id: indexed(uint256)
    sender: indexed(address)
    blob_hash: bytes32

event ScoresCommitted:
    request_id: indexed(uint256)
    executor: indexed(address)
    index: uint256
    commitment: bytes32

event RevealStarted:
    request_id: indexed(uint256)
    committed: uint256
    reveal_deadline: uint256

event ScoresRevealed:
    request_id: indexed(uint256)
    executor: indexed(address)
    index: uint256
    scores: DynArray[uint256, MAX_SELLERS]
    flags: uint256
    report_hash: bytes32

event Tallied:
    request_id: indexed(uint256)
    caller: indexed(address)
    agreed: uint256  # bit i: volunteer i revealed the majority's vector
    scores: DynArray[uint256, MAX_SELLERS]
    flags: uint256
    winners: uint256  # bit i: submission i won
    prices: DynArray[uint256, MAX_SELLERS]
    executor_pay: uint256  # stake + fee + share of the slashed stakes, each
    slashed: uint256  # stake taken from executors that disagreed or stayed silent
    refund: uint256  # to the buyer now
    key_deadline: uint256

event KeyRevealed:
    request_id: indexed(uint256)
    seller: indexed(address)
    index: uint256
    key: bytes32
    complaint_deadline: uint256

event Complained:
    request_id: indexed(uint256)
    buyer: indexed(address)
    index: uint256
    chunk: uint256
    refund: uint256

event SwapSettled:
    request_id: indexed(uint256)
    seller: indexed(address)
    index: uint256
    state: uint256
    paid: uint256  # to the seller (price and stake), or to the buyer (cheated, defaulted)
    caller: address

event RequestEnded:
    request_id: indexed(uint256)
    status: uint256
    refund: uint256  # to the buyer by this step
    caller: address


@deploy
def __init__(registry: address):
    """
    @param registry The participant registry that holds everyone's roles.
    """
    assert registry != empty(address), "modelmarket: registry is the zero address"
    REGISTRY = registry
    self.next_request_id = 1


# buyer --------------------------------------------------------------------------------------


@external
@payable
def post_request(
    task_hash: bytes32,
    test_root: bytes32,
    groups: uint256,
    sample: uint256,
    schedule_scores: DynArray[uint256, MAX_POINTS],
    schedule_prices: DynArray[uint256, MAX_POINTS],
    k: uint256,
    executors: uint256,
    seller_stake: uint256,
    executor_stake: uint256,
    executor_fee: uint256,
    bond: uint256,
    periods: Periods,
) -> uint256:
    """
    @notice Post a request and lock k x the top price + executors x fee + bond (msg.value).
    @param task_hash Blob hash of the task document (terms, schema, metric, evaluation).
    @param test_root Merkle root of the salted test groups, the index inside each leaf.
    @param groups Number of test groups (at least 32).
    @param sample Groups revealed publicly (1 to 8, at most a quarter of the groups).
    @param schedule_scores Scores (parts per million) of the schedule's points, increasing;
           the first is the minimum score bought.
    @param schedule_prices The price of each point in wei, positive and non-decreasing.
    @param k How many models the buyer buys (1 to 8).
    @param executors How many executors benchmark (1 to 7).
    """
    assert staticcall IRegistry(REGISTRY).has_role(msg.sender, role_bits.CLIENT), "modelmarket: caller is not a registered client"
    assert task_hash != empty(bytes32) and test_root != empty(bytes32), "modelmarket: empty hash"
    assert groups >= MIN_GROUPS and groups <= MAX_GROUPS, "modelmarket: groups out of range"
    assert sample > 0 and sample <= MAX_SAMPLE and sample * 4 <= groups, "modelmarket: sample out of range"
    assert k > 0 and k <= MAX_WINNERS, "modelmarket: k out of range"
    assert executors > 0 and executors <= MAX_EXECUTORS, "modelmarket: executors out of range"
    assert len(schedule_scores) > 0 and len(schedule_scores) == len(schedule_prices), "modelmarket: one price per schedule score"
    packed: DynArray[uint256, MAX_POINTS] = []
    previous_score: uint256 = 0
    previous_price: uint256 = 0
    for i: uint256 in range(MAX_POINTS):
        if i == len(schedule_scores):
            break
        score: uint256 = schedule_scores[i]
        price: uint256 = schedule_prices[i]
        assert score <= SCORE_SCALE, "modelmarket: a score exceeds 1,000,000"
        assert price > 0 and price <= MAX_AMOUNT, "modelmarket: a price is out of range"
        assert i == 0 or score > previous_score, "modelmarket: schedule scores must increase"
        assert price >= previous_price, "modelmarket: schedule prices must not decrease"
        packed.append((score << 128) | price)
        previous_score = score
        previous_price = price
    assert max(seller_stake, executor_stake) <= MAX_AMOUNT, "modelmarket: stake out of range"
    assert max(executor_fee, bond) <= MAX_AMOUNT, "modelmarket: fee or bond out of range"
    self._check_periods(periods)
    escrowed: uint256 = k * previous_price + executors * executor_fee + bond
    assert msg.value == escrowed, "modelmarket: send k x top price + executors x fee + bond"

    request_id: uint256 = self.next_request_id
    self.next_request_id = request_id + 1
    self._terms[request_id] = Terms(
        buyer=msg.sender,
        k=k,
        executors=executors,
        groups=groups,
        sample=sample,
        seller_stake=seller_stake,
        executor_stake=executor_stake,
        executor_fee=executor_fee,
        bond=bond,
        top_price=previous_price,
    )
    self._periods[request_id] = periods
    self._test_roots[request_id] = test_root
    self._schedule[request_id] = packed
    deadline: uint256 = block.timestamp + periods.sample
    self._progress[request_id] = Progress(
        status=SAMPLING,
        deadline=deadline,
        target=block.number,
        sellers=0,
        volunteers=0,
        drawn=0,
        committed=0,
        revealed=0,
        unsettled=0,
        locked=escrowed,
    )
    log RequestPosted(
        request_id=request_id,
        buyer=msg.sender,
        task_hash=task_hash,
        test_root=test_root,
        groups=groups,
        sample=sample,
        k=k,
        executors=executors,
        schedule_scores=schedule_scores,
        schedule_prices=schedule_prices,
        seller_stake=seller_stake,
        executor_stake=executor_stake,
        executor_fee=executor_fee,
        bond=bond,
        escrowed=escrowed,
        sample_deadline=deadline,
        target_block=block.number,
    )
    return request_id


@external
def reveal_sample(
    request_id: uint256,
    group_hashes: DynArray[bytes32, MAX_SAMPLE],
    proofs: DynArray[DynArray[bytes32, merkle.MAX_DEPTH], MAX_SAMPLE],
    blob_hash: bytes32,
):
    """
    @notice The buyer reveals the drawn sample: the hash of each drawn group (in draw order)
            with its Merkle proof, and the blob that holds the groups and their salts.
            Submissions open.
    """
    t: Terms = self._terms[request_id]
    p: Progress = self._load(request_id)
    assert msg.sender == t.buyer, "modelmarket: only the buyer reveals the sample"
    assert p.status == SAMPLING and block.timestamp < p.deadline, "modelmarket: no sample to reveal"
    seed: bytes32 = self._sample_seeds[request_id]
    assert seed != empty(bytes32), "modelmarket: the sample is not drawn yet"
    assert blob_hash != empty(bytes32), "modelmarket: empty hash"
    indices: DynArray[uint256, MAX_SAMPLE] = self._sample_indices(seed, t.groups, t.sample)
    assert len(group_hashes) == t.sample and len(proofs) == t.sample, "modelmarket: one hash and proof per drawn group"
    root: bytes32 = self._test_roots[request_id]
    for j: uint256 in range(MAX_SAMPLE):
        if j == t.sample:
            break
        leaf: bytes32 = merkle._indexed_leaf(indices[j], group_hashes[j])
        assert merkle._root(leaf, proofs[j]) == root, "modelmarket: a group is not in the test set"
    p.status = SUBMITTING
    p.deadline = block.timestamp + self._periods[request_id].submit
    self._progress[request_id] = p
    log SampleRevealed(
        request_id=request_id,
        buyer=msg.sender,
        indices=indices,
        group_hashes=group_hashes,
        blob_hash=blob_hash,
        submit_deadline=p.deadline,
    )


@external
def reject_delivery(request_id: uint256, index: uint256, reason_hash: bytes32):
    """
    @notice Before the executors are drawn, the buyer rejects submission `index` whose
            sealed delivery does not open or does not match its roots: the seller gets its
            stake back and is out. Nobody learns the model, so neither side gains.
    @param reason_hash Blob hash of the buyer's reason (evidence).
    """
    t: Terms = self._terms[request_id]
    p: Progress = self._load(request_id)
    assert msg.sender == t.buyer, "modelmarket: only the buyer rejects a delivery"
    assert p.status == SUBMITTING or p.status == DRAWING, "modelmarket: too late to reject"
    s: Submission = self._submissions[request_id][index]
    assert index < p.sellers and s.state == SUBMITTED, "modelmarket: no such submission in"
    self._submissions[request_id][index].state = REJECTED
    p.locked -= t.seller_stake
    self._progress[request_id] = p
    escrow._credit(s.seller, t.seller_stake)
    log DeliveryRejected(request_id=request_id, seller=s.seller, index=index, reason_hash=reason_hash)


# sellers and executors ----------------------------------------------------------------------


@external
@payable
def submit(
    request_id: uint256,
    plain_root: bytes32,
    cipher_root: bytes32,
    key_hash: bytes32,
    size: uint256,
    delivery_hash: bytes32,
):
    """
    @notice A model developer submits its model's commitments (mercato.crypto.fairswap)
            and the hash of its delivery sealed to the buyer, with the seller stake.
    """
    t: Terms = self._terms[request_id]
    p: Progress = self._load(request_id)
    assert p.status == SUBMITTING and block.timestamp < p.deadline, "modelmarket: not taking submissions"
    assert msg.sender != t.buyer, "modelmarket: the buyer cannot sell to itself"
    assert self._seller_index[request_id][msg.sender] == 0, "modelmarket: already submitted"
    assert self._volunteer_index[request_id][msg.sender] == 0, "modelmarket: an executor cannot sell"
    assert p.sellers < MAX_SELLERS, "modelmarket: no more sellers"
    assert staticcall IRegistry(REGISTRY).has_role(msg.sender, role_bits.MODEL_OWNER), "modelmarket: caller is not a registered model owner"
    assert plain_root != empty(bytes32) and cipher_root != empty(bytes32), "modelmarket: empty hash"
    assert key_hash != empty(bytes32) and delivery_hash != empty(bytes32), "modelmarket: empty hash"
    assert size > 0 and size <= MAX_SIZE, "modelmarket: size out of range"
    assert msg.value == t.seller_stake, "modelmarket: send the seller stake"
    index: uint256 = p.sellers
    self._submissions[request_id][index] = Submission(
        seller=msg.sender,
        plain_root=plain_root,
        cipher_root=cipher_root,
        key_hash=key_hash,
        size=size,
        state=SUBMITTED,
        score=0,
        price=0,
        deadline=0,
    )
    self._seller_index[request_id][msg.sender] = index + 1
    p.sellers = index + 1
    p.locked += msg.value
    self._progress[request_id] = p
    log Submitted(
        request_id=request_id,
        seller=msg.sender,
        index=index,
        plain_root=plain_root,
        cipher_root=cipher_root,
        key_hash=key_hash,
        size=size,
        delivery_hash=delivery_hash,
        stake=msg.value,
    )


@external
@payable
def volunteer(request_id: uint256):
    """
    @notice A compute provider offers to benchmark, with the executor stake, until the
            submission deadline. The executors are drawn among the volunteers after it.
    """
    t: Terms = self._terms[request_id]
    p: Progress = self._load(request_id)
    assert p.status == SAMPLING or (p.status == SUBMITTING and block.timestamp < p.deadline), "modelmarket: not taking executors"
    assert msg.sender != t.buyer, "modelmarket: the buyer cannot execute"
    assert self._volunteer_index[request_id][msg.sender] == 0, "modelmarket: already volunteered"
    assert self._seller_index[request_id][msg.sender] == 0, "modelmarket: a seller cannot execute"
    assert p.volunteers < MAX_VOLUNTEERS, "modelmarket: no more volunteers"
    assert staticcall IRegistry(REGISTRY).has_role(msg.sender, role_bits.COMPUTE_PROVIDER), "modelmarket: caller is not a registered compute provider"
    assert msg.value == t.executor_stake, "modelmarket: send the executor stake"
    index: uint256 = p.volunteers
    self._volunteers[request_id][index] = msg.sender
    self._volunteer_index[request_id][msg.sender] = index + 1
    p.volunteers = index + 1
    p.locked += msg.value
    self._progress[request_id] = p
    log Volunteered(request_id=request_id, executor=msg.sender, index=index, stake=msg.value)


@external
def seal(request_id: uint256, blob_hash: bytes32):
    """
    @notice While the executors benchmark, the buyer posts the blob that seals the hidden
            groups to them, and each seller still in the request the blob that seals its
            model to them (evidence; the executors fetch the blobs).
    """
    p: Progress = self._load(request_id)
    assert p.status == COMMITTING, "modelmarket: not being benchmarked"
    assert blob_hash != empty(bytes32), "modelmarket: empty hash"
    if msg.sender != self._terms[request_id].buyer:
        position: uint256 = self._seller_index[request_id][msg.sender]
        assert position != 0, "modelmarket: only the buyer and the sellers seal"
        assert self._submissions[request_id][position - 1].state == SUBMITTED, "modelmarket: submission is out"
    log Sealed(request_id=request_id, sender=msg.sender, blob_hash=blob_hash)


@external
def commit_scores(request_id: uint256, commitment: bytes32):
    """
    @notice A drawn executor commits to keccak256(abi_encode(request_id, executor, scores,
            flags, report_hash, salt)) before the commit deadline.
    """
    p: Progress = self._load(request_id)
    assert p.status == COMMITTING and block.timestamp < p.deadline, "modelmarket: not taking commitments"
    assert commitment != empty(bytes32), "modelmarket: empty hash"
    index: uint256 = self._executor(request_id, p)
    bit: uint256 = 1 << index
    assert p.committed & bit == 0, "modelmarket: already committed"
    committee._commit(convert(request_id, bytes32), index, commitment)
    p.committed |= bit
    log ScoresCommitted(request_id=request_id, executor=msg.sender, index=index, commitment=commitment)
    if p.committed == p.drawn:
        p = self._start_reveal(request_id, p)
    self._progress[request_id] = p


@external
def reveal_scores(
    request_id: uint256,
    scores: DynArray[uint256, MAX_SELLERS],
    flags: uint256,
    report_hash: bytes32,
    salt: bytes32,
):
    """
    @notice A committed executor reveals its scores (one per submission, in parts per
            million), its flags and the blob hash of its signed execution report.
    """
    p: Progress = self._load(request_id)
    assert p.status == REVEALING and block.timestamp < p.deadline, "modelmarket: not taking reveals"
    index: uint256 = self._executor(request_id, p)
    bit: uint256 = 1 << index
    assert p.committed & bit != 0 and p.revealed & bit == 0, "modelmarket: nothing to reveal"
    assert len(scores) == p.sellers, "modelmarket: one score per submission"
    assert flags >> (p.sellers + 1) == 0, "modelmarket: a flag names no submission"
    for score: uint256 in scores:
        assert score <= SCORE_SCALE, "modelmarket: a score exceeds 1,000,000"
    key: bytes32 = convert(request_id, bytes32)
    commitment: bytes32 = keccak256(abi_encode(request_id, msg.sender, scores, flags, report_hash, salt))
    assert commitment == committee._commitments[key][index], "modelmarket: reveal does not match the commitment"
    committee._reveal(key, index, commitment, keccak256(abi_encode(scores, flags)))
    p.revealed |= bit
    self._progress[request_id] = p
    log ScoresRevealed(
        request_id=request_id, executor=msg.sender, index=index, scores=scores, flags=flags, report_hash=report_hash
    )


@external
def tally(request_id: uint256, scores: DynArray[uint256, MAX_SELLERS], flags: uint256):
    """
    @notice Once every committed executor revealed, or after the reveal deadline, anyone
            settles the benchmark with the scores and flags that a majority of the drawn
            executors revealed (from their ScoresRevealed events). Without such a majority
            the arguments are ignored and the request fails, refunded.
    """
    t: Terms = self._terms[request_id]
    p: Progress = self._load(request_id)
    assert p.status == REVEALING, "modelmarket: not waiting for a tally"
    assert p.revealed == p.committed or block.timestamp >= p.deadline, "modelmarket: executors may still reveal"
    majority: bytes32 = empty(bytes32)
    agreed: uint256 = 0
    # more than half of the drawn executors
    majority, agreed = committee._majority(convert(request_id, bytes32), p.revealed, t.executors // 2 + 1)
    if majority == empty(bytes32):
        self._fail(request_id, t, p)
        return
    assert keccak256(abi_encode(scores, flags)) == majority, "modelmarket: not the majority's scores"
    # executors: those who agreed share the stake of those who did not, and earn the fee
    dissenters: uint256 = bits._count(p.drawn & ~agreed)
    slashed: uint256 = dissenters * t.executor_stake
    agreeing: uint256 = bits._count(agreed)
    executor_pay: uint256 = t.executor_stake + t.executor_fee + slashed // agreeing
    self._pay_volunteers(request_id, agreed, executor_pay)
    refund: uint256 = dissenters * t.executor_fee + slashed % agreeing
    locked: uint256 = p.locked - executor_pay * agreeing
    prices: DynArray[uint256, MAX_SELLERS] = []
    winners: uint256 = 0
    if flags & TEST_FLAG != 0:
        # a false test set: the sellers still in share the bond, the buyer gets the budget back
        refund += self._end_test_rejected(request_id, t, p)
        locked = 0
        p.status = TEST_REJECTED
    else:
        winners, prices = self._winners(request_id, t, p, scores, flags)
        budget_used: uint256 = 0
        for price: uint256 in prices:
            budget_used += price
        # the unused budget and the bond go back; flagged sellers' stakes go to the buyer
        refund += t.k * t.top_price - budget_used + t.bond
        for i: uint256 in range(MAX_SELLERS):
            if i == p.sellers:
                break
            state: uint256 = self._submissions[request_id][i].state
            if state == FLAGGED:
                refund += t.seller_stake
            elif state == LOST:
                escrow._credit(self._submissions[request_id][i].seller, t.seller_stake)
                locked -= t.seller_stake
        locked -= refund
        p.unsettled = winners
        p.status = SWAPPING
        if winners == 0:
            p.status = CLOSED
        p.deadline = block.timestamp + self._periods[request_id].key
    escrow._credit(t.buyer, refund)
    p.locked = locked
    self._progress[request_id] = p
    log Tallied(
        request_id=request_id,
        caller=msg.sender,
        agreed=agreed,
        scores=scores,
        flags=flags,
        winners=winners,
        prices=prices,
        executor_pay=executor_pay,
        slashed=slashed,
        refund=refund,
        key_deadline=p.deadline,
    )
    if p.status != SWAPPING:
        log RequestEnded(request_id=request_id, status=p.status, refund=refund, caller=msg.sender)


@external
def reveal_key(request_id: uint256, key: bytes32):
    """
    @notice A winner reveals the key of its encrypted chunks before the key deadline; the
            complaint window opens, after which `finish` pays it.
    """
    p: Progress = self._load(request_id)
    assert p.status == SWAPPING and block.timestamp < p.deadline, "modelmarket: not taking keys"
    position: uint256 = self._seller_index[request_id][msg.sender]
    assert position != 0, "modelmarket: caller did not submit"
    index: uint256 = position - 1
    s: Submission = self._submissions[request_id][index]
    assert s.state == WON, "modelmarket: no sale waiting for a key"
    assert keccak256(key) == s.key_hash, "modelmarket: the key does not match the key hash"
    deadline: uint256 = block.timestamp + self._periods[request_id].complaint
    self._submissions[request_id][index].state = KEY_REVEALED
    self._submissions[request_id][index].deadline = deadline
    log KeyRevealed(request_id=request_id, seller=msg.sender, index=index, key=key, complaint_deadline=deadline)


@external
def complain(
    request_id: uint256,
    index: uint256,
    key: bytes32,
    chunk: uint256,
    encrypted: bytes32[CHUNK_WORDS],
    cipher_proof: DynArray[bytes32, merkle.MAX_DEPTH],
    chunk_hash: bytes32,
    plain_proof: DynArray[bytes32, merkle.MAX_DEPTH],
):
    """
    @notice Within the complaint window, the buyer proves that chunk `chunk` of winner
            `index` does not decrypt to what the seller committed: the encrypted chunk and
            its proof under the ciphertext root, the committed chunk hash and its proof
            under the plaintext root, and the revealed key (mercato.crypto.fairswap). The
            buyer gets the price back and the seller's stake.
    """
    t: Terms = self._terms[request_id]
    assert msg.sender == t.buyer, "modelmarket: only the buyer complains"
    s: Submission = self._submissions[request_id][index]
    assert s.state == KEY_REVEALED and block.timestamp < s.deadline, "modelmarket: no complaint window open"
    assert keccak256(key) == s.key_hash, "modelmarket: not the revealed key"
    assert chunk * CHUNK_SIZE < s.size, "modelmarket: no such chunk"
    cipher_leaf: bytes32 = keccak256(
        concat(slice(convert(chunk, bytes32), 24, 8), abi_encode(encrypted, ensure_tuple=False))
    )
    assert merkle._root(cipher_leaf, cipher_proof) == s.cipher_root, "modelmarket: chunk not in the ciphertext tree"
    plain_leaf: bytes32 = merkle._indexed_leaf(chunk, chunk_hash)
    assert merkle._root(plain_leaf, plain_proof) == s.plain_root, "modelmarket: hash not in the plaintext tree"
    assert self._decrypted_hash(key, chunk, encrypted) != chunk_hash, "modelmarket: the chunk decrypts to its hash"
    paid: uint256 = s.price + t.seller_stake
    self._settle(request_id, index, CHEATED, t.buyer, paid)
    log Complained(request_id=request_id, buyer=msg.sender, index=index, chunk=chunk, refund=paid)


@external
def finish(request_id: uint256, index: uint256):
    """
    @notice Anyone settles winner `index`: after the complaint window, the seller is owed
            its price and stake; after the key deadline without a key, the buyer is owed the
            price back and the stake.
    """
    t: Terms = self._terms[request_id]
    p: Progress = self._load(request_id)
    assert p.status == SWAPPING, "modelmarket: not swapping"
    s: Submission = self._submissions[request_id][index]
    paid: uint256 = s.price + t.seller_stake
    if s.state == KEY_REVEALED:
        assert block.timestamp >= s.deadline, "modelmarket: complaint window still open"
        self._settle(request_id, index, PAID, s.seller, paid)
    else:
        assert s.state == WON, "modelmarket: no sale to settle"
        assert block.timestamp >= p.deadline, "modelmarket: the seller may still reveal its key"
        self._settle(request_id, index, DEFAULTED, t.buyer, paid)


@external
def advance(request_id: uint256):
    """
    @notice Anyone moves a request on when its time has come: draws the sample (a block
            after posting), cancels a request whose sample was not revealed, closes
            submissions, draws the executors (a block after closing), opens the reveals
            after the commit deadline. A target block out of the 256-block window is moved
            to the current block.
    """
    t: Terms = self._terms[request_id]
    p: Progress = self._load(request_id)
    if p.status == SAMPLING:
        if block.timestamp >= p.deadline:
            self._cancel(request_id, t, p)
            return
        assert self._sample_seeds[request_id] == empty(bytes32), "modelmarket: the sample waits for the buyer"
        if self._retargeted(request_id, p):
            return
        block_hash: bytes32 = blockhash(p.target)
        seed: bytes32 = keccak256(concat(block_hash, convert(request_id, bytes32), b"sample"))
        self._sample_seeds[request_id] = seed
        log SampleDrawn(
            request_id=request_id,
            caller=msg.sender,
            target_block=p.target,
            block_hash=block_hash,
            indices=self._sample_indices(seed, t.groups, t.sample),
        )
    elif p.status == SUBMITTING:
        assert block.timestamp >= p.deadline, "modelmarket: submission deadline not reached"
        if self._live_sellers(request_id, p) == 0 or p.volunteers < t.executors:
            self._cancel(request_id, t, p)
            return
        p.status = DRAWING
        p.target = block.number
        self._progress[request_id] = p
        log SubmissionsClosed(
            request_id=request_id, caller=msg.sender, sellers=p.sellers, volunteers=p.volunteers, target_block=p.target
        )
    elif p.status == DRAWING:
        if self._retargeted(request_id, p):
            return
        if self._live_sellers(request_id, p) == 0:
            self._cancel(request_id, t, p)
            return
        self._draw_executors(request_id, t, p)
    elif p.status == COMMITTING:
        assert block.timestamp >= p.deadline, "modelmarket: commit deadline not reached"
        if p.committed == 0:
            self._fail(request_id, t, p)
            return
        self._progress[request_id] = self._start_reveal(request_id, p)
    else:
        raise "modelmarket: nothing to advance"


# views --------------------------------------------------------------------------------------


@view
@external
def request(request_id: uint256) -> RequestView:
    """
    @notice Everything about a request.
    """
    t: Terms = self._terms[request_id]
    d: Periods = self._periods[request_id]
    p: Progress = self._load(request_id)
    return RequestView(
        buyer=t.buyer,
        test_root=self._test_roots[request_id],
        k=t.k,
        executors=t.executors,
        groups=t.groups,
        sample=t.sample,
        seller_stake=t.seller_stake,
        executor_stake=t.executor_stake,
        executor_fee=t.executor_fee,
        bond=t.bond,
        top_price=t.top_price,
        min_score=self._schedule[request_id][0] >> 128,
        sample_period=d.sample,
        submit_period=d.submit,
        commit_period=d.commit,
        reveal_period=d.reveal,
        key_period=d.key,
        complaint_period=d.complaint,
        status=p.status,
        deadline=p.deadline,
        target_block=p.target,
        sellers=p.sellers,
        volunteers=p.volunteers,
        drawn=p.drawn,
        committed=p.committed,
        revealed=p.revealed,
        unsettled=p.unsettled,
        locked=p.locked,
        sample_seed=self._sample_seeds[request_id],
    )


@view
@external
def submission(request_id: uint256, index: uint256) -> Submission:
    """
    @notice Submission `index` (0-based) of a request (all zero if there is none).
    """
    return self._submissions[request_id][index]


@view
@external
def purchase(request_id: uint256, index: uint256) -> (address, address, bytes32, uint256, bool):
    """
    @notice The sale of submission `index` of a request, for contracts that build on a bought
            model (P5's APIs): buyer, seller, plaintext chunk root, benchmarked score (parts
            per million) and whether the seller was paid (state PAID: the swap completed
            without a complaint). The seller is the zero address and `paid` false if there
            is no such submission.
    """
    s: Submission = self._submissions[request_id][index]
    return self._terms[request_id].buyer, s.seller, s.plain_root, s.score, s.state == PAID


@view
@external
def volunteer_at(request_id: uint256, index: uint256) -> address:
    """
    @notice The compute provider that volunteered as number `index`, or the zero address.
    """
    return self._volunteers[request_id][index]


@view
@external
def price_for(request_id: uint256, score: uint256) -> uint256:
    """
    @notice The schedule's price for `score` (parts per million); 0 below the minimum.
    """
    return self._price(request_id, score)


# internals ----------------------------------------------------------------------------------


@view
@internal
def _load(request_id: uint256) -> Progress:
    p: Progress = self._progress[request_id]
    assert p.status != 0, "modelmarket: unknown request"
    return p


@pure
@internal
def _check_periods(d: Periods):
    for period: uint256 in [d.sample, d.submit, d.commit, d.reveal, d.key, d.complaint]:
        assert period > 0 and period <= MAX_PERIOD, "modelmarket: a period is out of range"


@pure
@internal
def _sample_indices(seed: bytes32, groups: uint256, sample: uint256) -> DynArray[uint256, MAX_SAMPLE]:
    """`sample` distinct groups: keccak(seed || j) mod groups, the next free one on a repeat.
    mercato.protocols.modelmarket.draws mirrors it."""
    indices: DynArray[uint256, MAX_SAMPLE] = []
    for j: uint256 in range(MAX_SAMPLE):
        if j == sample:
            break
        candidate: uint256 = convert(keccak256(concat(seed, convert(j, bytes32))), uint256) % groups
        for _: uint256 in range(MAX_SAMPLE):
            if candidate not in indices:
                break
            candidate = (candidate + 1) % groups
        indices.append(candidate)
    return indices


@internal
def _retargeted(request_id: uint256, p: Progress) -> bool:
    """Wait for a block after the target; move a target whose hash left the 256-block
    window to this block."""
    assert block.number > p.target, "modelmarket: draw must wait for a later block"
    if block.number - p.target <= draw.BLOCKHASH_WINDOW:
        return False
    moved: Progress = p
    moved.target = block.number
    self._progress[request_id] = moved
    log Retargeted(request_id=request_id, status=p.status, target_block=block.number)
    return True


@internal
def _draw_executors(request_id: uint256, t: Terms, p: Progress):
    block_hash: bytes32 = blockhash(p.target)
    seed: bytes32 = keccak256(concat(block_hash, convert(request_id, bytes32), b"executors"))
    drawn: uint256 = 0
    cycle: uint256 = 0
    drawn, cycle = draw._select(seed, p.volunteers, t.executors, 0)
    result: Progress = p
    result.drawn = drawn
    result.status = COMMITTING
    result.deadline = block.timestamp + self._periods[request_id].commit
    executors: DynArray[address, MAX_EXECUTORS] = []
    for i: uint256 in range(MAX_VOLUNTEERS):
        if i == p.volunteers:
            break
        volunteer: address = self._volunteers[request_id][i]
        if (drawn >> i) & 1 == 1:
            executors.append(volunteer)
        else:
            escrow._credit(volunteer, t.executor_stake)
            result.locked -= t.executor_stake
    self._progress[request_id] = result
    log ExecutorsDrawn(
        request_id=request_id,
        caller=msg.sender,
        target_block=p.target,
        block_hash=block_hash,
        drawn=drawn,
        executors=executors,
        commit_deadline=result.deadline,
    )


@view
@internal
def _executor(request_id: uint256, p: Progress) -> uint256:
    """The caller's volunteer index; it must be a drawn executor."""
    position: uint256 = self._volunteer_index[request_id][msg.sender]
    assert position != 0 and (p.drawn >> (position - 1)) & 1 == 1, "modelmarket: caller is not an executor"
    return position - 1


@internal
def _start_reveal(request_id: uint256, p: Progress) -> Progress:
    result: Progress = p
    result.status = REVEALING
    result.deadline = block.timestamp + self._periods[request_id].reveal
    log RevealStarted(request_id=request_id, committed=p.committed, reveal_deadline=result.deadline)
    return result


@view
@internal
def _price(request_id: uint256, score: uint256) -> uint256:
    """The price of the highest schedule point at or below `score`; 0 below the first."""
    price: uint256 = 0
    for point: uint256 in self._schedule[request_id]:
        if point >> 128 > score:
            break
        price = point & MAX_AMOUNT
    return price


@internal
def _winners(
    request_id: uint256, t: Terms, p: Progress, scores: DynArray[uint256, MAX_SELLERS], flags: uint256
) -> (uint256, DynArray[uint256, MAX_SELLERS]):
    """Mark each live submission flagged, won or lost; the best k priced ones win (ties: the
    earlier submission). Returns the winners' mask and each submission's price (0 unless
    it won)."""
    eligible: uint256 = 0
    for i: uint256 in range(MAX_SELLERS):
        if i == p.sellers:
            break
        if self._submissions[request_id][i].state != SUBMITTED:
            continue
        self._submissions[request_id][i].score = scores[i]
        if (flags >> (i + 1)) & 1 == 1:
            self._submissions[request_id][i].state = FLAGGED
        else:
            eligible |= 1 << i
            self._submissions[request_id][i].state = LOST
    winners: uint256 = 0
    for _: uint256 in range(MAX_WINNERS):
        if bits._count(winners) == t.k:
            break
        best: uint256 = MAX_SELLERS
        for i: uint256 in range(MAX_SELLERS):
            if i == p.sellers:
                break
            if (eligible >> i) & 1 == 1 and (winners >> i) & 1 == 0:
                if best == MAX_SELLERS or scores[i] > scores[best]:
                    best = i
        if best == MAX_SELLERS or self._price(request_id, scores[best]) == 0:
            break
        winners |= 1 << best
    prices: DynArray[uint256, MAX_SELLERS] = []
    for i: uint256 in range(MAX_SELLERS):
        if i == p.sellers:
            break
        price: uint256 = 0
        if (winners >> i) & 1 == 1:
            price = self._price(request_id, scores[i])
            self._submissions[request_id][i].state = WON
            self._submissions[request_id][i].price = price
        prices.append(price)
    return winners, prices


@internal
def _end_test_rejected(request_id: uint256, t: Terms, p: Progress) -> uint256:
    """Return every live seller its stake and its share of the bond; returns the buyer's
    refund: the budget and what the shares leave of the bond."""
    live: uint256 = self._live_sellers(request_id, p)
    share: uint256 = t.bond // live
    for i: uint256 in range(MAX_SELLERS):
        if i == p.sellers:
            break
        if self._submissions[request_id][i].state == SUBMITTED:
            self._submissions[request_id][i].state = RETURNED
            escrow._credit(self._submissions[request_id][i].seller, t.seller_stake + share)
    return t.k * t.top_price + t.bond - share * live


@internal
def _fail(request_id: uint256, t: Terms, p: Progress):
    """No majority (or no commitment): executors that revealed get their stake back and share
    the stake of those that did not; sellers get their stakes back; the buyer the rest."""
    revealers: uint256 = bits._count(p.revealed)
    locked: uint256 = p.locked - self._return_stakes(request_id, t, p)
    if revealers > 0:
        slashed: uint256 = bits._count(p.drawn & ~p.revealed) * t.executor_stake
        pay: uint256 = t.executor_stake + slashed // revealers
        self._pay_volunteers(request_id, p.revealed, pay)
        locked -= pay * revealers
    self._end(request_id, p, FAILED, t.buyer, locked)


@internal
def _cancel(request_id: uint256, t: Terms, p: Progress):
    """End a request before its benchmark: every stake back, the rest to the buyer."""
    locked: uint256 = p.locked - self._return_stakes(request_id, t, p)
    for i: uint256 in range(MAX_VOLUNTEERS):
        if i == p.volunteers:
            break
        escrow._credit(self._volunteers[request_id][i], t.executor_stake)
        locked -= t.executor_stake
    self._end(request_id, p, CANCELLED, t.buyer, locked)


@internal
def _end(request_id: uint256, p: Progress, status: uint256, buyer: address, refund: uint256):
    """End the request in `status`, refunding what it still locks to the buyer."""
    escrow._credit(buyer, refund)
    result: Progress = p
    result.status = status
    result.locked = 0
    self._progress[request_id] = result
    log RequestEnded(request_id=request_id, status=status, refund=refund, caller=msg.sender)


@internal
def _return_stakes(request_id: uint256, t: Terms, p: Progress) -> uint256:
    """Credit every live seller its stake back; returns the total."""
    total: uint256 = 0
    for i: uint256 in range(MAX_SELLERS):
        if i == p.sellers:
            break
        if self._submissions[request_id][i].state == SUBMITTED:
            self._submissions[request_id][i].state = RETURNED
            escrow._credit(self._submissions[request_id][i].seller, t.seller_stake)
            total += t.seller_stake
    return total


@view
@internal
def _live_sellers(request_id: uint256, p: Progress) -> uint256:
    live: uint256 = 0
    for i: uint256 in range(MAX_SELLERS):
        if i == p.sellers:
            break
        if self._submissions[request_id][i].state == SUBMITTED:
            live += 1
    return live


@internal
def _pay_volunteers(request_id: uint256, mask: uint256, amount: uint256):
    for i: uint256 in range(MAX_VOLUNTEERS):
        if mask >> i == 0:
            break
        if (mask >> i) & 1 == 1:
            escrow._credit(self._volunteers[request_id][i], amount)


@internal
def _settle(request_id: uint256, index: uint256, state: uint256, payee: address, amount: uint256):
    """End winner `index`'s swap in `state`, owing `amount` to `payee`; close the request
    when it was the last."""
    self._submissions[request_id][index].state = state
    p: Progress = self._progress[request_id]
    p.unsettled &= ~(1 << index)
    p.locked -= amount
    escrow._credit(payee, amount)
    log SwapSettled(
        request_id=request_id,
        seller=self._submissions[request_id][index].seller,
        index=index,
        state=state,
        paid=amount,
        caller=msg.sender,
    )
    if p.unsettled == 0:
        p.status = CLOSED
        log RequestEnded(request_id=request_id, status=CLOSED, refund=0, caller=msg.sender)
    self._progress[request_id] = p


@pure
@internal
def _decrypted_hash(key: bytes32, chunk: uint256, encrypted: bytes32[CHUNK_WORDS]) -> bytes32:
    """keccak256 of the chunk decrypted with `key`: word j XOR keccak(key || uint64(chunk) ||
    uint32(j)), as mercato.crypto.fairswap.keystream."""
    prefix: Bytes[40] = concat(key, slice(convert(chunk, bytes32), 24, 8))
    plain: bytes32[CHUNK_WORDS] = empty(bytes32[CHUNK_WORDS])
    for j: uint256 in range(CHUNK_WORDS):
        stream: bytes32 = keccak256(concat(prefix, slice(convert(j, bytes32), 28, 4)))
        plain[j] = convert(convert(encrypted[j], uint256) ^ convert(stream, uint256), bytes32)
    return keccak256(abi_encode(plain, ensure_tuple=False))
