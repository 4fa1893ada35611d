# pragma version ~=0.4.3
"""
@title Data market: model owners pay data owners for federated updates (OmniLytics, P3)
@notice A model owner (MO) posts a task: the blob hash of the public part of its model, the
        hash of its spec (wanted ontology terms, architecture, local training method), the
        number of data owners (DO), the number of rounds, the aggregation mode and its
        periods, and locks the whole reward. It keeps the private part of its model (for
        example the classifier head) off chain and fine-tunes it on its own data at the end.
        DOs join (first come, up to the number asked) by posting a key-agreement public key;
        the task starts when it is full, or is cancelled and refunded if it is not full by
        the join deadline.

        Each round is a sequence of phases; in each, the DOs still in the round post one hash
        (the blobs live in the blob store) and the phase ends when all of them have posted,
        or when anyone calls `advance` after its deadline, leaving out those who did not:
        - secure mode (SecAgg): KEYS (a fresh X25519 public key and a commitment to a fresh
          self-mask seed; round 1 takes them from `join`), SHARES (Shamir shares of both,
          sealed to each peer), SUBMIT (the masked update), REVEAL (for each peer, the seed
          share if it submitted, the key share if it dropped), then AGGREGATE, where the
          round's DOs are the submitters (every update in the sum is used, whoever revealed). Anyone can
          recompute the sum from the blobs, so a wrong aggregate is provable. A round keeps
          going while at least `threshold` DOs remain; fewer, and it fails unpaid.
        - robust mode: SUBMIT (the update sealed to the MO), then AGGREGATE, where the MO runs
          a robust rule and records the scores and the excluded DOs (at most `bound`). Only
          outliers may be excluded, and every outlier must be: walking the scores from the
          highest (of equal scores the higher index first), each is an outlier while fewer
          than `bound` are and it is above `outlier_multiple` / 100 times the median of the
          scores below it (or is max_value(uint256): an update the MO could not open). The
          contract recomputes this from the recorded scores, so an unjustified exclusion
          reverts; without scores nobody may be excluded.
        In AGGREGATE the MO posts the new public model and the aggregate. Every DO whose
        update was used is credited its share of the round (reward / (data_owners * rounds));
        the shares of the excluded go to the kept DOs, so that excluding an honest DO gains
        the MO nothing; the shares of DOs who dropped out are refunded to the MO at the end.
        If the MO misses the aggregation deadline, anyone (typically a DO) calls `claim`:
        every DO of the round is credited its share and the task ends, refunding the rounds
        not run. So every state has a deadline after which the honest side moves the money.
        Payouts are pull-based (escrow module).

        Storage (gas is a feature): a task is three words (terms, progress, money); a member
        is its address by index and its index by address. Keys, shares, updates, models and
        scores live in events only: nothing on chain reads them.
"""

import escrow
from interfaces import IRegistry
from utils import bits
from utils import role_bits

initializes: escrow

exports: (escrow.withdraw, escrow.owed)


MAX_DATA_OWNERS: constant(uint256) = 32
MAX_ROUNDS: constant(uint256) = 255
MAX_PERIOD: constant(uint256) = 365 * 86400
MAX_REWARD: constant(uint256) = 2**128 - 1
MULTIPLE_SCALE: constant(uint256) = 100  # outlier multiples are in hundredths
MAX_MULTIPLE: constant(uint256) = 2**16 - 1
MAX_SCORE: constant(uint256) = 2**128 - 1
UNOPENED: constant(uint256) = max_value(uint256)  # the score of an update the MO cannot open

# Aggregation modes
SECURE: constant(uint256) = 1
ROBUST: constant(uint256) = 2

# Task status
JOINING: constant(uint256) = 1  # waiting for data owners
RUNNING: constant(uint256) = 2  # rounds under way
FINISHED: constant(uint256) = 3  # every round aggregated (or failed), the rest refunded
CANCELLED: constant(uint256) = 4  # not full by the join deadline, refunded
EXPIRED: constant(uint256) = 5  # the MO missed an aggregation deadline; DOs claimed

# Phases of a round
KEYS: constant(uint256) = 1
SHARES: constant(uint256) = 2
SUBMIT: constant(uint256) = 3
REVEAL: constant(uint256) = 4
AGGREGATE: constant(uint256) = 5

ADDRESS_MASK: constant(uint256) = 2**160 - 1
BYTE_MASK: constant(uint256) = 2**8 - 1
WORD32_MASK: constant(uint256) = 2**32 - 1
WORD64_MASK: constant(uint256) = 2**64 - 1
WORD128_MASK: constant(uint256) = 2**128 - 1


struct Terms:
    mo: address
    data_owners: uint256
    rounds: uint256
    mode: uint256
    bound: uint256  # secure: the Shamir threshold; robust: the most DOs excluded per round
    phase_period: uint256
    aggregate_period: uint256


struct Progress:
    status: uint256
    round: uint256
    phase: uint256
    joined: uint256
    deadline: uint256
    active: uint256  # bit i: DO i is still in this round's current phase
    done: uint256  # bit i: DO i has posted in the current phase
    multiple: uint256  # robust: the outlier multiple in hundredths (a term kept here for room)


struct TaskView:
    mo: address
    data_owners: uint256
    rounds: uint256
    mode: uint256
    bound: uint256
    phase_period: uint256
    aggregate_period: uint256
    status: uint256
    round: uint256
    phase: uint256
    joined: uint256
    deadline: uint256
    active: uint256
    done: uint256
    per_update: uint256
    locked: uint256
    outlier_multiple: uint256


REGISTRY: public(immutable(address))

next_task_id: public(uint256)
# mo | data_owners << 160 | rounds << 168 | mode << 176 | bound << 184
# | phase_period << 192 | aggregate_period << 224
_terms: HashMap[uint256, uint256]
# status | round << 8 | phase << 16 | joined << 24 | deadline << 32 | active << 96
# | done << 128 | multiple << 160
_progress: HashMap[uint256, uint256]
# per_update | locked << 128
_money: HashMap[uint256, uint256]
_members: HashMap[uint256, HashMap[uint256, address]]
# index + 1 of a member, 0 for others
_index: HashMap[uint256, HashMap[address, uint256]]


event TaskPosted:
    task_id: indexed(uint256)
    mo: indexed(address)
    model_hash: bytes32
    spec_hash: bytes32
    data_owners: uint256
    rounds: uint256
    mode: uint256
    bound: uint256
    outlier_multiple: uint256
    reward: uint256
    join_deadline: uint256
    phase_period: uint256
    aggregate_period: uint256

event Joined:
    task_id: indexed(uint256)
    data_owner: indexed(address)
    index: uint256
    public_key: bytes32
    seed_commitment: bytes32

event TaskCancelled:
    task_id: indexed(uint256)
    caller: indexed(address)
    joined: uint256
    refund: uint256

event PhaseStarted:
    task_id: indexed(uint256)
    round: indexed(uint256)
    phase: uint256
    active: uint256
    deadline: uint256

event KeysPosted:
    task_id: indexed(uint256)
    data_owner: indexed(address)
    round: indexed(uint256)
    index: uint256
    public_key: bytes32
    seed_commitment: bytes32

event SharesPosted:
    task_id: indexed(uint256)
    data_owner: indexed(address)
    round: indexed(uint256)
    index: uint256
    shares_hash: bytes32

event UpdateSubmitted:
    task_id: indexed(uint256)
    data_owner: indexed(address)
    round: indexed(uint256)
    index: uint256
    update_hash: bytes32

event SharesRevealed:
    task_id: indexed(uint256)
    data_owner: indexed(address)
    round: indexed(uint256)
    index: uint256
    reveal_hash: bytes32

event RoundFinalised:
    task_id: indexed(uint256)
    round: indexed(uint256)
    model_hash: bytes32
    aggregate_hash: bytes32
    used: uint256
    excluded: uint256
    scores: DynArray[uint256, MAX_DATA_OWNERS]
    paid_each: uint256

event RoundFailed:
    task_id: indexed(uint256)
    round: indexed(uint256)
    phase: uint256
    remaining: uint256

event TaskFinished:
    task_id: indexed(uint256)
    mo: indexed(address)
    rounds: uint256
    refund: uint256

event TaskExpired:
    task_id: indexed(uint256)
    caller: indexed(address)
    round: uint256
    paid: uint256
    paid_each: uint256
    refund: uint256


@deploy
def __init__(registry: address):
    """
    @param registry The participant registry that holds everyone's roles.
    """
    assert registry != empty(address), "datamarket: registry is the zero address"
    REGISTRY = registry
    # ids start at 1; writing a non-zero counter is cheaper
    self.next_task_id = 1


@external
@payable
def post_task(
    model_hash: bytes32,
    spec_hash: bytes32,
    data_owners: uint256,
    rounds: uint256,
    mode: uint256,
    bound: uint256,
    outlier_multiple: uint256,
    join_period: uint256,
    phase_period: uint256,
    aggregate_period: uint256,
) -> uint256:
    """
    @notice Post a training task and lock its whole reward (msg.value).
    @param model_hash Blob hash of the public part of the model.
    @param spec_hash Blob hash of the task's spec: wanted ontology terms, architecture,
           local training method, aggregation rule.
    @param data_owners Number of DOs wanted (3 to 32).
    @param rounds Number of rounds (1 to 255).
    @param mode SECURE (1, secure aggregation) or ROBUST (2, robust aggregation).
    @param bound Secure: the Shamir threshold t, data_owners / 2 < t <= data_owners.
           Robust: the most DOs the MO may exclude per round, 2 * bound + 3 <= data_owners.
    @param outlier_multiple Robust: how many times the median of the scores below it a score
           must exceed to be an outlier, in hundredths (100 to 65535); secure: 0.
    @param join_period Seconds for DOs to join.
    @param phase_period Seconds each phase of a round lasts at most.
    @param aggregate_period Seconds the MO has to aggregate a round.
    @return The new task's id.
    """
    assert staticcall IRegistry(REGISTRY).has_role(msg.sender, role_bits.MODEL_OWNER), "datamarket: caller is not a registered model owner"
    assert model_hash != empty(bytes32), "datamarket: empty model hash"
    assert spec_hash != empty(bytes32), "datamarket: empty spec hash"
    assert data_owners >= 3 and data_owners <= MAX_DATA_OWNERS, "datamarket: data owners out of range"
    assert rounds > 0 and rounds <= MAX_ROUNDS, "datamarket: rounds out of range"
    assert mode == SECURE or mode == ROBUST, "datamarket: unknown aggregation mode"
    # 2 * t > n as t > n // 2, 2 * f + 3 <= n as f <= (n - 3) // 2: no bound can overflow
    if mode == SECURE:
        assert bound > data_owners // 2 and bound <= data_owners, "datamarket: threshold must exceed half the data owners"
    else:
        assert bound <= (data_owners - 3) // 2, "datamarket: too many exclusions for the data owners"
    if mode == SECURE:
        assert outlier_multiple == 0, "datamarket: secure aggregation has no outlier multiple"
    else:
        assert outlier_multiple >= MULTIPLE_SCALE and outlier_multiple <= MAX_MULTIPLE, "datamarket: outlier multiple out of range"
    assert join_period > 0 and join_period <= MAX_PERIOD, "datamarket: join period out of range"
    assert phase_period > 0 and phase_period <= MAX_PERIOD, "datamarket: phase period out of range"
    assert aggregate_period > 0 and aggregate_period <= MAX_PERIOD, "datamarket: aggregate period out of range"
    updates: uint256 = data_owners * rounds
    assert msg.value > 0 and msg.value <= MAX_REWARD, "datamarket: reward out of range"
    assert msg.value % updates == 0, "datamarket: reward must divide into data_owners * rounds equal shares"

    task_id: uint256 = self.next_task_id
    self.next_task_id = task_id + 1
    self._store_terms(
        task_id,
        Terms(
            mo=msg.sender,
            data_owners=data_owners,
            rounds=rounds,
            mode=mode,
            bound=bound,
            phase_period=phase_period,
            aggregate_period=aggregate_period,
        ),
    )
    deadline: uint256 = block.timestamp + join_period
    self._store_progress(
        task_id,
        Progress(
            status=JOINING,
            round=0,
            phase=0,
            joined=0,
            deadline=deadline,
            active=0,
            done=0,
            multiple=outlier_multiple,
        ),
    )
    self._money[task_id] = (msg.value // updates) | (msg.value << 128)
    log TaskPosted(
        task_id=task_id,
        mo=msg.sender,
        model_hash=model_hash,
        spec_hash=spec_hash,
        data_owners=data_owners,
        rounds=rounds,
        mode=mode,
        bound=bound,
        outlier_multiple=outlier_multiple,
        reward=msg.value,
        join_deadline=deadline,
        phase_period=phase_period,
        aggregate_period=aggregate_period,
    )
    return task_id


@external
def join(task_id: uint256, public_key: bytes32, seed_commitment: bytes32):
    """
    @notice Join a task as a DO. In secure mode, post round 1's X25519 public key and the
            commitment to its self-mask seed (ignored in robust mode, where updates are
            sealed to the MO's registered key). The task starts when it is full.
    """
    t: Terms = self._load_terms(task_id)
    p: Progress = self._load_progress(task_id)
    assert p.status == JOINING, "datamarket: task is not open for joining"
    assert block.timestamp < p.deadline, "datamarket: join deadline passed"
    assert msg.sender != t.mo, "datamarket: the model owner cannot join its own task"
    assert self._index[task_id][msg.sender] == 0, "datamarket: already joined"
    assert staticcall IRegistry(REGISTRY).has_role(msg.sender, role_bits.DATA_OWNER), "datamarket: caller is not a registered data owner"
    if t.mode == SECURE:
        assert public_key != empty(bytes32), "datamarket: empty public key"
        assert seed_commitment != empty(bytes32), "datamarket: empty seed commitment"
    index: uint256 = p.joined
    self._members[task_id][index] = msg.sender
    self._index[task_id][msg.sender] = index + 1
    p.joined = index + 1
    log Joined(
        task_id=task_id,
        data_owner=msg.sender,
        index=index,
        public_key=public_key,
        seed_commitment=seed_commitment,
    )
    if p.joined == t.data_owners:
        p.status = RUNNING
        p.round = 1
        first: uint256 = SUBMIT
        if t.mode == SECURE:
            first = SHARES
        p = self._start_phase(task_id, t, p, first, (1 << t.data_owners) - 1)
    self._store_progress(task_id, p)


@external
def post_keys(task_id: uint256, public_key: bytes32, seed_commitment: bytes32):
    """
    @notice Secure mode, KEYS phase of rounds after the first: this round's X25519 public
            key and the commitment to this round's self-mask seed.
    """
    assert public_key != empty(bytes32), "datamarket: empty public key"
    assert seed_commitment != empty(bytes32), "datamarket: empty seed commitment"
    round: uint256 = 0
    index: uint256 = 0
    round, index = self._act(task_id, KEYS)
    log KeysPosted(
        task_id=task_id,
        data_owner=msg.sender,
        round=round,
        index=index,
        public_key=public_key,
        seed_commitment=seed_commitment,
    )
    self._end_phase_if_done(task_id)


@external
def post_shares(task_id: uint256, shares_hash: bytes32):
    """
    @notice Secure mode, SHARES phase: the blob of Shamir shares of this round's seed and
            key, one bundle sealed to each peer that posted keys.
    """
    assert shares_hash != empty(bytes32), "datamarket: empty shares hash"
    round: uint256 = 0
    index: uint256 = 0
    round, index = self._act(task_id, SHARES)
    log SharesPosted(task_id=task_id, data_owner=msg.sender, round=round, index=index, shares_hash=shares_hash)
    self._end_phase_if_done(task_id)


@external
def submit(task_id: uint256, update_hash: bytes32):
    """
    @notice SUBMIT phase: the blob hash of this round's update, masked (secure mode, with
            the peers that posted shares) or sealed to the MO (robust mode). One per round;
            late, duplicate and unjoined submissions revert.
    """
    assert update_hash != empty(bytes32), "datamarket: empty update hash"
    round: uint256 = 0
    index: uint256 = 0
    round, index = self._act(task_id, SUBMIT)
    log UpdateSubmitted(task_id=task_id, data_owner=msg.sender, round=round, index=index, update_hash=update_hash)
    self._end_phase_if_done(task_id)


@external
def reveal(task_id: uint256, reveal_hash: bytes32):
    """
    @notice Secure mode, REVEAL phase: the blob of this DO's revealed shares, for each peer
            that posted shares: its seed share if the peer submitted, its key share if not.
    """
    assert reveal_hash != empty(bytes32), "datamarket: empty reveal hash"
    round: uint256 = 0
    index: uint256 = 0
    round, index = self._act(task_id, REVEAL)
    log SharesRevealed(task_id=task_id, data_owner=msg.sender, round=round, index=index, reveal_hash=reveal_hash)
    self._end_phase_if_done(task_id)


@external
def advance(task_id: uint256):
    """
    @notice After a deadline, move on without those who did not act: cancel and refund a
            task that is not full by its join deadline, or end a round's phase with the DOs
            who posted in it. Anyone may call.
    """
    t: Terms = self._load_terms(task_id)
    p: Progress = self._load_progress(task_id)
    assert p.status == JOINING or p.status == RUNNING, "datamarket: task is over"
    assert p.phase != AGGREGATE, "datamarket: the round waits for the model owner; after its deadline, claim"
    assert block.timestamp >= p.deadline, "datamarket: deadline not reached"
    if p.status == JOINING:
        p.status = CANCELLED
        self._store_progress(task_id, p)
        refund: uint256 = self._money[task_id] >> 128
        self._money[task_id] = self._money[task_id] & WORD128_MASK
        escrow._credit(t.mo, refund)
        log TaskCancelled(task_id=task_id, caller=msg.sender, joined=p.joined, refund=refund)
        return
    self._store_progress(task_id, self._next_phase(task_id, t, p))


@external
def finalise_round(
    task_id: uint256,
    model_hash: bytes32,
    aggregate_hash: bytes32,
    excluded: uint256,
    scores: DynArray[uint256, MAX_DATA_OWNERS],
):
    """
    @notice The MO records the round's aggregate and the next public model, and pays every
            DO whose update was used.
    @param model_hash Blob hash of the public model after this round.
    @param aggregate_hash Blob hash of the aggregate (secure: the unmasked sum, which anyone
           can recompute; robust: the rule's output and the kept updates).
    @param excluded Robust mode: bit i excludes DO i, which submitted: exactly the outliers
           of `scores` (see the contract's notice); 0 in secure mode, where no update is
           visible, and when there are no scores.
    @param scores Robust mode: the rule's score of each submitter in index order
           (Multi-Krum: squared distances scaled by 10**6, at most 2**128 - 1;
           max_value(uint256) for an update the MO could not open), or empty when the rule
           has none.
    """
    t: Terms = self._load_terms(task_id)
    p: Progress = self._load_progress(task_id)
    assert msg.sender == t.mo, "datamarket: only the model owner finalises"
    assert p.status == RUNNING and p.phase == AGGREGATE, "datamarket: no round to finalise"
    assert block.timestamp < p.deadline, "datamarket: aggregation deadline passed; data owners claim"
    assert model_hash != empty(bytes32), "datamarket: empty model hash"
    assert aggregate_hash != empty(bytes32), "datamarket: empty aggregate hash"
    if t.mode == SECURE:
        assert excluded == 0, "datamarket: secure aggregation cannot exclude anyone"
        assert len(scores) == 0, "datamarket: secure aggregation has no scores"
    else:
        assert excluded & p.active == excluded, "datamarket: excluded a data owner that did not submit"
        assert bits._count(excluded) <= t.bound, "datamarket: excluded more data owners than the task allows"
        assert len(scores) == 0 or len(scores) == bits._count(p.active), "datamarket: one score per submitter"
        outliers: uint256 = 0
        if len(scores) > 0:
            outliers = self._outliers(p.active, scores, p.multiple, t.bound)
        assert excluded & ~outliers == 0, "datamarket: excluded a data owner whose score is no outlier"
        assert outliers & ~excluded == 0, "datamarket: kept a data owner whose score is an outlier"
    used: uint256 = p.active & ~excluded
    money: uint256 = self._money[task_id]
    per_update: uint256 = money & WORD128_MASK
    # the shares of the excluded go to the kept DOs: excluding gains the MO nothing
    kept: uint256 = bits._count(used)
    assert kept > 0, "datamarket: at least one update must be used"
    paid_each: uint256 = per_update + bits._count(excluded) * per_update // kept
    self._pay(task_id, used, paid_each)
    self._money[task_id] = per_update | (((money >> 128) - paid_each * kept) << 128)
    log RoundFinalised(
        task_id=task_id,
        round=p.round,
        model_hash=model_hash,
        aggregate_hash=aggregate_hash,
        used=used,
        excluded=excluded,
        scores=scores,
        paid_each=paid_each,
    )
    self._store_progress(task_id, self._next_round(task_id, t, p))


@external
def claim(task_id: uint256):
    """
    @notice After the MO missed a round's aggregation deadline: credit every DO of that
            round its share, end the task and refund the rest to the MO. Anyone may call;
            each DO then withdraws.
    """
    t: Terms = self._load_terms(task_id)
    p: Progress = self._load_progress(task_id)
    assert p.status == RUNNING and p.phase == AGGREGATE, "datamarket: no round waiting for aggregation"
    assert block.timestamp >= p.deadline, "datamarket: the model owner may still finalise"
    money: uint256 = self._money[task_id]
    per_update: uint256 = money & WORD128_MASK
    self._pay(task_id, p.active, per_update)
    paid: uint256 = bits._count(p.active)
    refund: uint256 = (money >> 128) - per_update * paid
    self._money[task_id] = per_update
    escrow._credit(t.mo, refund)
    p.status = EXPIRED
    self._store_progress(task_id, p)
    log TaskExpired(
        task_id=task_id, caller=msg.sender, round=p.round, paid=paid, paid_each=per_update, refund=refund
    )


@view
@external
def task(task_id: uint256) -> TaskView:
    """
    @notice Everything about a task, unpacked.
    """
    t: Terms = self._load_terms(task_id)
    p: Progress = self._load_progress(task_id)
    money: uint256 = self._money[task_id]
    return TaskView(
        mo=t.mo,
        data_owners=t.data_owners,
        rounds=t.rounds,
        mode=t.mode,
        bound=t.bound,
        phase_period=t.phase_period,
        aggregate_period=t.aggregate_period,
        status=p.status,
        round=p.round,
        phase=p.phase,
        joined=p.joined,
        deadline=p.deadline,
        active=p.active,
        done=p.done,
        per_update=money & WORD128_MASK,
        locked=money >> 128,
        outlier_multiple=p.multiple,
    )


@view
@external
def member(task_id: uint256, index: uint256) -> address:
    """
    @notice The DO that joined `task_id` as number `index` (0-based), or the zero address.
    """
    return self._members[task_id][index]


@view
@external
def index_of(task_id: uint256, data_owner: address) -> uint256:
    """
    @notice 1 + the index of `data_owner` in `task_id`, or 0 if it did not join.
    """
    return self._index[task_id][data_owner]


@internal
def _act(task_id: uint256, phase: uint256) -> (uint256, uint256):
    """Record that the caller posted in `phase`; the caller then logs its post and calls
    `_end_phase_if_done`.

    Returns the round and the caller's index.
    """
    p: Progress = self._load_progress(task_id)
    position: uint256 = self._index[task_id][msg.sender]
    assert position != 0, "datamarket: caller did not join this task"
    index: uint256 = position - 1
    assert p.status == RUNNING, "datamarket: task is not running"
    assert p.phase == phase, "datamarket: not this phase of the round"
    assert block.timestamp < p.deadline, "datamarket: phase deadline passed"
    bit: uint256 = 1 << index
    assert p.active & bit != 0, "datamarket: caller dropped out of this round"
    assert p.done & bit == 0, "datamarket: already posted in this phase"
    p.done |= bit
    self._store_progress(task_id, p)
    return p.round, index


@internal
def _end_phase_if_done(task_id: uint256):
    """After a post's own event (so that logs read in order): end the phase if everyone
    still in it has posted."""
    p: Progress = self._load_progress(task_id)
    if p.done == p.active:
        self._store_progress(task_id, self._next_phase(task_id, self._load_terms(task_id), p))


@internal
def _next_phase(task_id: uint256, t: Terms, p: Progress) -> Progress:
    """End the current phase: those who posted go on to the next one."""
    phase: uint256 = AGGREGATE
    if t.mode == SECURE and p.phase < REVEAL:
        phase = p.phase + 1
    needed: uint256 = 1
    if t.mode == SECURE:
        needed = t.bound
    remaining: uint256 = bits._count(p.done)
    if remaining < needed:
        log RoundFailed(task_id=task_id, round=p.round, phase=p.phase, remaining=remaining)
        return self._next_round(task_id, t, p)
    if p.phase == REVEAL:
        # every submitter's update is in the sum, revealed or not: all of them are paid
        return self._start_phase(task_id, t, p, phase, p.active)
    return self._start_phase(task_id, t, p, phase, p.done)


@internal
def _next_round(task_id: uint256, t: Terms, p: Progress) -> Progress:
    """Start the next round, or finish the task and refund what was not paid out."""
    result: Progress = p
    if p.round < t.rounds:
        result.round = p.round + 1
        first: uint256 = SUBMIT
        if t.mode == SECURE:
            first = KEYS
        return self._start_phase(task_id, t, result, first, (1 << t.data_owners) - 1)
    result.status = FINISHED
    result.phase = 0
    result.active = 0
    result.done = 0
    money: uint256 = self._money[task_id]
    refund: uint256 = money >> 128
    self._money[task_id] = money & WORD128_MASK
    escrow._credit(t.mo, refund)
    log TaskFinished(task_id=task_id, mo=t.mo, rounds=t.rounds, refund=refund)
    return result


@internal
def _start_phase(task_id: uint256, t: Terms, p: Progress, phase: uint256, active: uint256) -> Progress:
    result: Progress = p
    result.phase = phase
    result.active = active
    result.done = 0
    if phase == AGGREGATE:
        result.deadline = block.timestamp + t.aggregate_period
    else:
        result.deadline = block.timestamp + t.phase_period
    log PhaseStarted(task_id=task_id, round=p.round, phase=phase, active=active, deadline=result.deadline)
    return result


@pure
@internal
def _outliers(
    active: uint256, scores: DynArray[uint256, MAX_DATA_OWNERS], multiple: uint256, most: uint256
) -> uint256:
    """The mask of the submitters (bits of `active`, scored in index order) whose scores are
    outliers, by the rule in the contract's notice; the Python twin is
    mercato.ml.aggregate.krum.krum_outliers."""
    # score << 8 | index sorts by score, then index; an unopened update sorts above all
    keys: DynArray[uint256, MAX_DATA_OWNERS] = []
    for i: uint256 in range(MAX_DATA_OWNERS):
        if active >> i == 0:
            break
        if (active >> i) & 1 == 1:
            score: uint256 = scores[len(keys)]
            if score == UNOPENED:
                score = MAX_SCORE + 1
            else:
                assert score <= MAX_SCORE, "datamarket: score out of range"
            keys.append((score << 8) | i)
    n: uint256 = len(keys)
    # insertion sort, highest first: at most 32 keys
    for i: uint256 in range(1, MAX_DATA_OWNERS):
        if i >= n:
            break
        key: uint256 = keys[i]
        j: uint256 = i
        for _: uint256 in range(MAX_DATA_OWNERS):
            if j == 0 or keys[j - 1] >= key:
                break
            keys[j] = keys[j - 1]
            j -= 1
        keys[j] = key
    result: uint256 = 0
    for t: uint256 in range(most, bound=MAX_DATA_OWNERS):
        if t + 1 >= n:
            break
        top: uint256 = keys[t] >> 8
        if top <= MAX_SCORE:
            below: uint256 = n - t - 1
            middle: uint256 = (keys[t + 1 + (below - 1) // 2] >> 8) + (keys[t + 1 + below // 2] >> 8)
            # top > multiple / MULTIPLE_SCALE * middle / 2, in integers
            if 2 * top * MULTIPLE_SCALE <= multiple * middle:
                break
        result |= 1 << (keys[t] & BYTE_MASK)
    return result


@internal
def _pay(task_id: uint256, mask: uint256, amount: uint256):
    for i: uint256 in range(MAX_DATA_OWNERS):
        if mask >> i == 0:
            break
        if (mask >> i) & 1 == 1:
            escrow._credit(self._members[task_id][i], amount)


@view
@internal
def _load_terms(task_id: uint256) -> Terms:
    word: uint256 = self._terms[task_id]
    assert word != 0, "datamarket: unknown task"
    return Terms(
        mo=convert(word & ADDRESS_MASK, address),
        data_owners=(word >> 160) & BYTE_MASK,
        rounds=(word >> 168) & BYTE_MASK,
        mode=(word >> 176) & BYTE_MASK,
        bound=(word >> 184) & BYTE_MASK,
        phase_period=(word >> 192) & WORD32_MASK,
        aggregate_period=(word >> 224) & WORD32_MASK,
    )


@internal
def _store_terms(task_id: uint256, t: Terms):
    self._terms[task_id] = (
        convert(t.mo, uint256)
        | (t.data_owners << 160)
        | (t.rounds << 168)
        | (t.mode << 176)
        | (t.bound << 184)
        | (t.phase_period << 192)
        | (t.aggregate_period << 224)
    )


@view
@internal
def _load_progress(task_id: uint256) -> Progress:
    word: uint256 = self._progress[task_id]
    assert word != 0, "datamarket: unknown task"
    return Progress(
        status=word & BYTE_MASK,
        round=(word >> 8) & BYTE_MASK,
        phase=(word >> 16) & BYTE_MASK,
        joined=(word >> 24) & BYTE_MASK,
        deadline=(word >> 32) & WORD64_MASK,
        active=(word >> 96) & WORD32_MASK,
        done=(word >> 128) & WORD32_MASK,
        multiple=(word >> 160) & WORD64_MASK,
    )


@internal
def _store_progress(task_id: uint256, p: Progress):
    self._progress[task_id] = (
        p.status
        | (p.round << 8)
        | (p.phase << 16)
        | (p.joined << 24)
        | (p.deadline << 32)
        | (p.active << 96)
        | (p.done << 128)
        | (p.multiple << 160)
    )
