# pragma version ~=0.4.3
"""
@title Training market: ownership-preserving collaborative training (Somy et al., P2)
@notice A data owner (DO) lists a dataset split into m private subsets, each replicated to
        n compute providers (CO); each replica is a cloud instance (CI) that the DO creates,
        the CO joins with keccak256(subset || nonce) and the DO verifies or flags. A model
        owner (MO) records its model and requests a training couple (TC), locking the most
        it can cost: data_price + job_price * k * n * max_rounds. Once the DO approves, the
        training runs in rounds. The MO starts a round; the contract draws k subsets from the
        hash of a block that did not exist when the MO asked (the paper's round-parity rule
        was predictable), preferring subsets not yet used so that every subset is used after
        ceil(m / k) rounds. Each replica of a drawn subset posts keccak256(model || nonce),
        its nonce (once per contract, so no CO can reuse another's) and the hash of its
        sealed model location. The MO checks replica consensus off chain and may report a
        job as fraud during the round's review window: the reported CI forfeits its pay in
        this training, and the registry slashes up to FRAUD_STAKE of its CO's stake (this
        contract is an authorized slasher); both go to the honest replicas of its subset
        (never to the MO, so a false report gains the MO nothing), or to the DO if there
        are none. A report is the MO's word (its evidence is only hashed here): an MO that
        colludes with the DO can report every replica of a subset and hand their pay and
        stake to the DO. Completion pays the DO and every CO what it earned and refunds the
        rest; if the MO stays silent, anyone completes after IDLE_PERIOD. Payouts are
        pull-based (escrow module). The contract takes ether only from the registry
        (slashed stake); it holds the escrow of unfinished trainings, the stake slashed in
        them, and what it owes.

        Randomness: the seed is keccak256(blockhash(target), tc_id, round), where target is
        the block that records start_round; the draw runs in any later block. A block's
        hash commits to everything in it and is fixed only when its producer seals it, so
        the MO cannot know it when it sends start_round (the next block would be no less
        predictable, and would cost a block of latency). Once the target block exists the
        outcome is fixed: anyone may draw, and the caller's choice of when changes nothing;
        start_round takes no input that bears on the draw. Residual bias: the producer of
        the target block can choose among many candidate blocks (transaction order,
        contents) and so grind the outcome, or withhold its block; a chain whose block
        producer colludes with the MO (a single sequencer, a dev node) gives no guarantee.
        If nobody draws within 256 blocks the hash is gone and the next draw re-targets to
        its own block: the MO gets a second outcome only by keeping every other party (DO,
        COs) from drawing for 256 blocks. Across trainings, an MO may abort a training whose
        draw it dislikes and request another, paying data_price each time.

        Storage (gas is a feature): a dataset is two words plus its metadata hash; the CI
        ids of a subset's replicas share one word; a CI is one word; a model is its owner;
        a training is two words (terms, progress) plus a fraud mask and a forfeit word
        (pay and stake forfeited to the DO, stake slashed) that stay zero when nobody
        cheats; a job is one word per (training, CI), written by the CO's submissions.
        Everything nothing on chain reads lives in events only: data hashes and nonces of
        joins, model type and method, the hashes of each job.
"""

import escrow
from interfaces import IRegistry
from utils import bits
from utils import draw
from utils import role_bits

initializes: escrow

exports: (escrow.withdraw, escrow.owed)


MAX_SUBSETS: constant(uint256) = draw.MAX_ITEMS
MAX_REPLICAS: constant(uint256) = 8
MAX_ROUNDS: constant(uint256) = 255
MAX_PRICE: constant(uint256) = 2**96 - 1  # two prices share one word; pay fits 128 bits
MAX_ID: constant(uint256) = 2**32 - 1  # dataset, instance and model ids are packed

# Instance status
FREE: constant(uint256) = 1
JOINED: constant(uint256) = 2
VERIFIED: constant(uint256) = 3
FLAGGED: constant(uint256) = 4

# Training status
REQUESTED: constant(uint256) = 1  # paid, waiting for the DO's approval
APPROVED: constant(uint256) = 2  # waiting for the MO's first round
DRAWING: constant(uint256) = 3  # round asked for, waiting for its target block
TRAINING: constant(uint256) = 4  # subsets drawn, COs submitting
ROUND_DONE: constant(uint256) = 5  # round over; MO reviewing, then next round or complete
COMPLETED: constant(uint256) = 6  # everyone paid, the rest refunded
CANCELLED: constant(uint256) = 7  # never approved, refunded

ADDRESS_MASK: constant(uint256) = 2**160 - 1
BYTE_MASK: constant(uint256) = 2**8 - 1
SHORT_MASK: constant(uint256) = 2**16 - 1
ID_MASK: constant(uint256) = 2**32 - 1
WORD64_MASK: constant(uint256) = 2**64 - 1
PRICE_MASK: constant(uint256) = 2**128 - 1
JOB_FRAUD: constant(uint256) = 1 << 136


struct Dataset:
    owner: address
    subsets: uint256
    replicas: uint256
    verified: uint256  # instances verified; the dataset is ready at subsets * replicas


struct Instance:
    co: address
    dataset_id: uint256
    subset: uint256
    replica: uint256
    status: uint256


struct Terms:
    mo: address
    dataset_id: uint256
    model_id: uint256
    subsets_per_round: uint256
    max_rounds: uint256


struct Progress:
    status: uint256
    round: uint256
    remaining: uint256  # jobs still expected in the current round
    jobs: uint256  # jobs accepted over all rounds (each earned job_price)
    deadline: uint256  # approval, idle, round or review deadline, by status
    target: uint256  # block whose hash seeds the current draw
    selected: uint256  # bit s: subset s drawn in the current round
    cycle: uint256  # bit s: subset s used since every subset was last used


struct DatasetView:
    owner: address
    subsets: uint256
    replicas: uint256
    verified: uint256
    data_price: uint256
    job_price: uint256
    meta_hash: bytes32


struct InstanceView:
    co: address
    dataset_id: uint256
    subset: uint256
    replica: uint256
    status: uint256


struct TrainingView:
    mo: address
    dataset_id: uint256
    model_id: uint256
    subsets_per_round: uint256
    max_rounds: uint256
    status: uint256
    round: uint256
    remaining: uint256
    jobs: uint256
    deadline: uint256
    target_block: uint256
    selected: uint256
    cycle: uint256
    fraud: uint256
    forfeited: uint256
    escrowed: uint256


struct JobView:
    pending: uint256
    round: uint256
    fraudulent: bool


REGISTRY: public(immutable(address))
APPROVAL_PERIOD: public(immutable(uint256))
ROUND_PERIOD: public(immutable(uint256))
REVIEW_PERIOD: public(immutable(uint256))
IDLE_PERIOD: public(immutable(uint256))
FRAUD_STAKE: public(immutable(uint256))

next_dataset_id: public(uint256)
next_instance_id: public(uint256)
next_model_id: public(uint256)
next_training_id: public(uint256)
# owner | subsets << 160 | replicas << 168 | verified << 176
_dataset: HashMap[uint256, uint256]
# data_price | job_price << 128
_prices: HashMap[uint256, uint256]
_meta_hash: HashMap[uint256, bytes32]
# the current CI id of replica r of a subset at bits [32r, 32r + 32): _replicas[dataset][subset]
_replicas: HashMap[uint256, HashMap[uint256, uint256]]
# co | dataset_id << 160 | subset << 192 | replica << 200 | status << 208
_instance: HashMap[uint256, uint256]
_model_owner: HashMap[uint256, address]
# mo | dataset_id << 160 | model_id << 192 | subsets_per_round << 224 | max_rounds << 232
_terms: HashMap[uint256, uint256]
# status | round << 8 | remaining << 16 | jobs << 32 | deadline << 48 | target << 112
# | selected << 176 | cycle << 208
_progress: HashMap[uint256, uint256]
# bit (subset * MAX_REPLICAS + replica): that CI was reported for fraud in this training
_fraud: HashMap[uint256, uint256]
# pay and stake forfeited by fraud with no honest replica to take them (the DO gets them at
# completion) | stake slashed in this training << 128 (it is paid out on top of the escrow)
_forfeited: HashMap[uint256, uint256]
# pending pay | last round submitted << 128 | fraud << 136: _jobs[training][instance]
_jobs: HashMap[uint256, HashMap[uint256, uint256]]
nonce_used: public(HashMap[bytes32, bool])


event DatasetCreated:
    dataset_id: indexed(uint256)
    owner: indexed(address)
    meta_hash: bytes32
    subsets: uint256
    replicas: uint256
    data_price: uint256
    job_price: uint256

event InstanceCreated:
    instance_id: indexed(uint256)
    dataset_id: indexed(uint256)
    co: indexed(address)
    subset: uint256
    replica: uint256
    envelope_hash: bytes32

event InstanceJoined:
    instance_id: indexed(uint256)
    dataset_id: indexed(uint256)
    co: indexed(address)
    data_hash: bytes32
    nonce: bytes32

event InstanceVerified:
    instance_id: indexed(uint256)
    owner: indexed(address)
    co: indexed(address)
    dataset_id: uint256
    ok: bool

event ModelCreated:
    model_id: indexed(uint256)
    owner: indexed(address)
    model_type: bytes32
    method_hash: bytes32
    key_hash: bytes32

event TrainingRequested:
    training_id: indexed(uint256)
    mo: indexed(address)
    dataset_id: indexed(uint256)
    model_id: uint256
    subsets_per_round: uint256
    max_rounds: uint256
    escrowed: uint256
    approval_deadline: uint256

event TrainingApproved:
    training_id: indexed(uint256)
    owner: indexed(address)
    mo: indexed(address)
    idle_deadline: uint256

event TrainingCancelled:
    training_id: indexed(uint256)
    mo: indexed(address)
    refund: uint256

event RoundRequested:
    training_id: indexed(uint256)
    mo: indexed(address)
    round: uint256
    model_hash: bytes32
    target_block: uint256

event DrawRetargeted:
    training_id: indexed(uint256)
    caller: indexed(address)
    round: uint256
    target_block: uint256

event RoundStarted:
    training_id: indexed(uint256)
    caller: indexed(address)
    round: uint256
    subsets: uint256
    target_block: uint256
    block_hash: bytes32
    remaining: uint256
    round_deadline: uint256

event JobSubmitted:
    training_id: indexed(uint256)
    instance_id: indexed(uint256)
    co: indexed(address)
    round: uint256
    model_hash: bytes32
    nonce: bytes32
    location_hash: bytes32
    remaining: uint256

event RoundDone:
    training_id: indexed(uint256)
    caller: indexed(address)
    round: uint256
    missing: uint256
    review_deadline: uint256

event FraudReported:
    training_id: indexed(uint256)
    instance_id: indexed(uint256)
    co: indexed(address)
    round: uint256
    evidence_hash: bytes32
    forfeited: uint256
    slashed: uint256
    honest: DynArray[uint256, MAX_REPLICAS]

event TrainingCompleted:
    training_id: indexed(uint256)
    caller: indexed(address)
    mo: indexed(address)
    rounds: uint256
    paid_owner: uint256
    paid_compute: uint256
    refund: uint256


@deploy
def __init__(
    registry: address,
    approval_period: uint256,
    round_period: uint256,
    review_period: uint256,
    idle_period: uint256,
    fraud_stake: uint256,
):
    """
    @param registry The participant registry that holds everyone's roles; it must
           authorize this contract as a slasher unless `fraud_stake` is 0.
    @param approval_period Seconds the DO has to approve a training request.
    @param round_period Seconds the drawn COs have to submit their jobs.
    @param review_period Seconds the MO has after a round to report fraud.
    @param idle_period Seconds the MO may stay silent before anyone may complete.
    @param fraud_stake Wei of a CO's stake that a fraud report slashes (0: none; at most
           MAX_PRICE, so that pay and slashed stake fit a job's 128 bits of pending pay).
    """
    assert registry != empty(address), "training: registry is the zero address"
    assert approval_period > 0 and round_period > 0, "training: zero period"
    assert review_period > 0 and idle_period > 0, "training: zero period"
    assert fraud_stake <= MAX_PRICE, "training: fraud stake out of range"
    REGISTRY = registry
    APPROVAL_PERIOD = approval_period
    ROUND_PERIOD = round_period
    REVIEW_PERIOD = review_period
    IDLE_PERIOD = idle_period
    FRAUD_STAKE = fraud_stake
    # ids start at 1; writing a non-zero counter is cheaper
    self.next_dataset_id = 1
    self.next_instance_id = 1
    self.next_model_id = 1
    self.next_training_id = 1


@external
@payable
def __default__():
    """
    @notice Receive the stake the registry slashes for a fraud report; refuse other ether.
    """
    assert msg.sender == REGISTRY, "training: only the registry sends ether"


@external
def create_dataset(
    meta_hash: bytes32, subsets: uint256, replicas: uint256, data_price: uint256, job_price: uint256
) -> uint256:
    """
    @notice List a dataset split into `subsets` private subsets of `replicas` replicas each.
    @param meta_hash Hash of the dataset's public description (stored off chain).
    @param subsets Number m of private subsets (1 to 32).
    @param replicas Number n of replicas of each subset (1 to 8).
    @param data_price Wei the DO earns per completed training.
    @param job_price Wei a CO earns per accepted job (one subset replica, one round).
    @return The new dataset's id.
    """
    assert staticcall IRegistry(REGISTRY).has_role(msg.sender, role_bits.DATA_OWNER), "training: caller is not a registered data owner"
    assert meta_hash != empty(bytes32), "training: empty metadata hash"
    assert subsets > 0 and subsets <= MAX_SUBSETS, "training: subsets out of range"
    assert replicas > 0 and replicas <= MAX_REPLICAS, "training: replicas out of range"
    assert data_price <= MAX_PRICE and job_price <= MAX_PRICE, "training: price out of range"
    dataset_id: uint256 = self.next_dataset_id
    assert dataset_id <= MAX_ID, "training: too many datasets"
    self.next_dataset_id = dataset_id + 1
    self._store_dataset(dataset_id, Dataset(owner=msg.sender, subsets=subsets, replicas=replicas, verified=0))
    if data_price | job_price != 0:
        self._prices[dataset_id] = data_price | (job_price << 128)
    self._meta_hash[dataset_id] = meta_hash
    log DatasetCreated(
        dataset_id=dataset_id,
        owner=msg.sender,
        meta_hash=meta_hash,
        subsets=subsets,
        replicas=replicas,
        data_price=data_price,
        job_price=job_price,
    )
    return dataset_id


@external
def create_instance(
    dataset_id: uint256, subset: uint256, replica: uint256, co: address, envelope_hash: bytes32
) -> uint256:
    """
    @notice The DO records that it handed replica `replica` of subset `subset` to `co`
            (off chain, sealed to the CO's registered key). One live instance per slot: a
            slot can be handed to another CO only after its instance was flagged.
    @param co A registered compute provider that holds no other replica of this subset.
    @param envelope_hash Blob hash of the envelope that seals the replica to `co` (only
           `co` can open it; the hash tells the CO where to fetch it and binds the DO to it).
    @return The new instance's id.
    """
    d: Dataset = self._load_dataset(dataset_id)
    assert msg.sender == d.owner, "training: only the dataset's owner creates instances"
    assert envelope_hash != empty(bytes32), "training: empty envelope hash"
    assert subset < d.subsets and replica < d.replicas, "training: no such subset or replica"
    assert staticcall IRegistry(REGISTRY).has_role(co, role_bits.COMPUTE_PROVIDER), "training: instance holder is not a registered compute provider"
    replicas_word: uint256 = self._replicas[dataset_id][subset]
    for r: uint256 in range(MAX_REPLICAS):
        if r == d.replicas:
            break
        other: uint256 = (replicas_word >> (32 * r)) & ID_MASK
        if other == 0:
            continue
        held: Instance = self._load_instance(other)
        if r == replica:
            assert held.status == FLAGGED, "training: slot already has an instance"
        elif held.status != FLAGGED:
            assert held.co != co, "training: compute provider already holds a replica of this subset"
    instance_id: uint256 = self.next_instance_id
    assert instance_id <= MAX_ID, "training: too many instances"
    self.next_instance_id = instance_id + 1
    self._store_instance(
        instance_id, Instance(co=co, dataset_id=dataset_id, subset=subset, replica=replica, status=FREE)
    )
    offset: uint256 = 32 * replica
    self._replicas[dataset_id][subset] = (replicas_word & ~(ID_MASK << offset)) | (instance_id << offset)
    log InstanceCreated(
        instance_id=instance_id, dataset_id=dataset_id, co=co, subset=subset, replica=replica, envelope_hash=envelope_hash
    )
    return instance_id


@external
def join_instance(instance_id: uint256, data_hash: bytes32, nonce: bytes32):
    """
    @notice The instance's CO declares what it received: keccak256(subset || nonce) and
            the nonce, which no one may use again in this contract (so a CO cannot copy
            another replica's declaration).
    """
    i: Instance = self._load_instance(instance_id)
    assert msg.sender == i.co, "training: caller is not the instance's compute provider"
    assert i.status == FREE, "training: instance already joined"
    assert data_hash != empty(bytes32), "training: empty data hash"
    assert not self.nonce_used[nonce], "training: nonce already used"
    self.nonce_used[nonce] = True
    i.status = JOINED
    self._store_instance(instance_id, i)
    log InstanceJoined(
        instance_id=instance_id, dataset_id=i.dataset_id, co=msg.sender, data_hash=data_hash, nonce=nonce
    )


@external
def verify_instance(instance_id: uint256, ok: bool):
    """
    @notice The DO checks the joined hash against its own keccak256(subset || nonce):
            `ok` marks the instance verified, otherwise flagged (its slot may then be handed
            to another CO). A training can be approved once every slot is verified.
    """
    i: Instance = self._load_instance(instance_id)
    d: Dataset = self._load_dataset(i.dataset_id)
    assert msg.sender == d.owner, "training: only the dataset's owner verifies"
    assert i.status == JOINED, "training: instance not joined"
    if ok:
        i.status = VERIFIED
        d.verified += 1
        self._store_dataset(i.dataset_id, d)
    else:
        i.status = FLAGGED
    self._store_instance(instance_id, i)
    log InstanceVerified(instance_id=instance_id, owner=msg.sender, co=i.co, dataset_id=i.dataset_id, ok=ok)


@external
def create_model(model_type: bytes32, method_hash: bytes32, key_hash: bytes32) -> uint256:
    """
    @notice Record a model: its type, the hash of its training method (what each CO runs)
            and the hash of the public key COs seal model locations to. Only the owner is
            stored; the rest is in the event, which is the record.
    @return The new model's id.
    """
    assert staticcall IRegistry(REGISTRY).has_role(msg.sender, role_bits.MODEL_OWNER), "training: caller is not a registered model owner"
    assert method_hash != empty(bytes32) and key_hash != empty(bytes32), "training: empty hash"
    model_id: uint256 = self.next_model_id
    assert model_id <= MAX_ID, "training: too many models"
    self.next_model_id = model_id + 1
    self._model_owner[model_id] = msg.sender
    log ModelCreated(
        model_id=model_id, owner=msg.sender, model_type=model_type, method_hash=method_hash, key_hash=key_hash
    )
    return model_id


@external
@payable
def request_training(
    model_id: uint256, dataset_id: uint256, subsets_per_round: uint256, max_rounds: uint256
) -> uint256:
    """
    @notice Ask to train one's model on a dataset, locking the most it can cost, which must
            be sent as the value: data_price + job_price * k * n * max_rounds.
    @param subsets_per_round Number k of subsets drawn each round (1 to m).
    @param max_rounds Most rounds the training may run (1 to 255).
    @return The new training's id.
    """
    assert self._model_owner[model_id] == msg.sender, "training: caller does not own the model"
    d: Dataset = self._load_dataset(dataset_id)
    assert subsets_per_round > 0 and subsets_per_round <= d.subsets, "training: subsets per round out of range"
    assert max_rounds > 0 and max_rounds <= MAX_ROUNDS, "training: rounds out of range"
    escrowed: uint256 = self._escrowed(dataset_id, d.replicas, subsets_per_round, max_rounds)
    assert msg.value == escrowed, "training: value must equal the most the training can cost"
    training_id: uint256 = self.next_training_id
    self.next_training_id = training_id + 1
    self._store_terms(
        training_id,
        Terms(
            mo=msg.sender,
            dataset_id=dataset_id,
            model_id=model_id,
            subsets_per_round=subsets_per_round,
            max_rounds=max_rounds,
        ),
    )
    p: Progress = empty(Progress)
    p.status = REQUESTED
    p.deadline = block.timestamp + APPROVAL_PERIOD
    self._store_progress(training_id, p)
    log TrainingRequested(
        training_id=training_id,
        mo=msg.sender,
        dataset_id=dataset_id,
        model_id=model_id,
        subsets_per_round=subsets_per_round,
        max_rounds=max_rounds,
        escrowed=escrowed,
        approval_deadline=p.deadline,
    )
    return training_id


@external
def approve_training(training_id: uint256):
    """
    @notice The DO approves a request before the approval deadline. Every slot of the
            dataset must hold a verified instance. Train jobs are implicit: a job's word is
            written by the CO's first submission, not here.
    """
    p: Progress = self._load_progress(training_id)
    t: Terms = self._load_terms(training_id)
    d: Dataset = self._load_dataset(t.dataset_id)
    assert msg.sender == d.owner, "training: only the dataset's owner approves"
    assert p.status == REQUESTED, "training: not waiting for approval"
    assert block.timestamp < p.deadline, "training: approval period over"
    assert d.verified == d.subsets * d.replicas, "training: dataset not fully verified"
    p.status = APPROVED
    p.deadline = block.timestamp + IDLE_PERIOD
    self._store_progress(training_id, p)
    log TrainingApproved(training_id=training_id, owner=msg.sender, mo=t.mo, idle_deadline=p.deadline)


@external
def cancel(training_id: uint256):
    """
    @notice The MO withdraws a request the DO has not approved (at any time: nothing was
            delivered yet); everything it locked becomes refundable.
    """
    p: Progress = self._load_progress(training_id)
    t: Terms = self._load_terms(training_id)
    assert msg.sender == t.mo, "training: only the model owner cancels"
    assert p.status == REQUESTED, "training: only an unapproved request can be cancelled"
    p.status = CANCELLED
    self._store_progress(training_id, p)
    refund: uint256 = self._training_escrow(t)
    escrow._credit(t.mo, refund)
    log TrainingCancelled(training_id=training_id, mo=msg.sender, refund=refund)


@external
def start_round(training_id: uint256, model_hash: bytes32):
    """
    @notice The MO asks for the next round, training the model whose blob hash is
            `model_hash`. Which subsets train is drawn later, from the hash of the block
            that records this call: nothing the MO passes or knows now decides it.
    """
    p: Progress = self._load_progress(training_id)
    t: Terms = self._load_terms(training_id)
    assert msg.sender == t.mo, "training: only the model owner starts rounds"
    assert p.status == APPROVED or p.status == ROUND_DONE, "training: cannot start a round now"
    assert p.round < t.max_rounds, "training: no rounds left"
    assert model_hash != empty(bytes32), "training: empty model hash"
    p.status = DRAWING
    p.round += 1
    p.remaining = 0
    p.selected = 0
    p.target = block.number
    p.deadline = block.timestamp + IDLE_PERIOD
    self._store_progress(training_id, p)
    log RoundRequested(
        training_id=training_id, mo=msg.sender, round=p.round, model_hash=model_hash, target_block=p.target
    )


@external
def draw_round(training_id: uint256):
    """
    @notice Anyone draws the round's subsets in a block after the target block. If the
            target's hash has left the 256-block window, the draw moves the target to the
            current block instead (and returns without drawing).
    """
    p: Progress = self._load_progress(training_id)
    assert p.status == DRAWING, "training: no round to draw"
    assert block.number > p.target, "training: draw must wait for a later block"
    if block.number - p.target > draw.BLOCKHASH_WINDOW:
        p.target = block.number
        self._store_progress(training_id, p)
        log DrawRetargeted(training_id=training_id, caller=msg.sender, round=p.round, target_block=p.target)
        return
    t: Terms = self._load_terms(training_id)
    d: Dataset = self._load_dataset(t.dataset_id)
    block_hash: bytes32 = blockhash(p.target)
    seed: bytes32 = keccak256(concat(block_hash, convert(training_id, bytes32), convert(p.round, bytes32)))
    selected: uint256 = 0
    cycle: uint256 = 0
    selected, cycle = draw._select(seed, d.subsets, t.subsets_per_round, p.cycle)
    remaining: uint256 = t.subsets_per_round * d.replicas
    fraud: uint256 = self._fraud[training_id]
    if fraud != 0:  # reported instances get no more jobs, so the round does not wait for them
        for s: uint256 in range(MAX_SUBSETS):
            if s == d.subsets:
                break
            if (selected >> s) & 1 == 1:
                remaining -= bits._count((fraud >> (s * MAX_REPLICAS)) & BYTE_MASK)
    p.selected = selected
    p.cycle = cycle
    p.remaining = remaining
    if remaining == 0:
        p.status = ROUND_DONE
        p.deadline = block.timestamp + REVIEW_PERIOD
    else:
        p.status = TRAINING
        p.deadline = block.timestamp + ROUND_PERIOD
    self._store_progress(training_id, p)
    log RoundStarted(
        training_id=training_id,
        caller=msg.sender,
        round=p.round,
        subsets=selected,
        target_block=p.target,
        block_hash=block_hash,
        remaining=remaining,
        round_deadline=p.deadline,
    )
    if remaining == 0:
        log RoundDone(training_id=training_id, caller=msg.sender, round=p.round, missing=0, review_deadline=p.deadline)


@external
def submit_job(
    training_id: uint256, instance_id: uint256, model_hash: bytes32, nonce: bytes32, location_hash: bytes32
):
    """
    @notice A drawn instance's CO posts its trained model: keccak256(model || nonce), the
            nonce (unused anywhere in this contract) and the hash of the envelope that
            seals the model's location to the MO. Once per instance and round, before the
            round deadline; the job's pay (job_price) is held for the CO until completion.
    """
    p: Progress = self._load_progress(training_id)
    assert p.status == TRAINING, "training: no round in progress"
    assert block.timestamp < p.deadline, "training: round deadline passed"
    i: Instance = self._load_instance(instance_id)
    assert msg.sender == i.co, "training: caller is not the instance's compute provider"
    t: Terms = self._load_terms(training_id)
    assert i.dataset_id == t.dataset_id and i.status == VERIFIED, "training: instance not in this training"
    assert (p.selected >> i.subset) & 1 == 1, "training: subset not drawn this round"
    job: uint256 = self._jobs[training_id][instance_id]
    assert job & JOB_FRAUD == 0, "training: instance reported for fraud"
    assert (job >> 128) & BYTE_MASK != p.round, "training: job already submitted this round"
    assert model_hash != empty(bytes32) and location_hash != empty(bytes32), "training: empty hash"
    assert not self.nonce_used[nonce], "training: nonce already used"
    self.nonce_used[nonce] = True
    job_price: uint256 = self._prices[t.dataset_id] >> 128
    self._jobs[training_id][instance_id] = ((job & PRICE_MASK) + job_price) | (p.round << 128)
    p.remaining -= 1
    p.jobs += 1
    if p.remaining == 0:
        p.status = ROUND_DONE
        p.deadline = block.timestamp + REVIEW_PERIOD
    self._store_progress(training_id, p)
    log JobSubmitted(
        training_id=training_id,
        instance_id=instance_id,
        co=msg.sender,
        round=p.round,
        model_hash=model_hash,
        nonce=nonce,
        location_hash=location_hash,
        remaining=p.remaining,
    )
    if p.remaining == 0:
        log RoundDone(training_id=training_id, caller=msg.sender, round=p.round, missing=0, review_deadline=p.deadline)


@external
def close_round(training_id: uint256):
    """
    @notice Anyone ends a round whose deadline passed with jobs missing; silent COs earn
            nothing for it. The MO's review window starts.
    """
    p: Progress = self._load_progress(training_id)
    assert p.status == TRAINING, "training: no round in progress"
    assert block.timestamp >= p.deadline, "training: round deadline not reached"
    missing: uint256 = p.remaining
    p.status = ROUND_DONE
    p.remaining = 0
    p.deadline = block.timestamp + REVIEW_PERIOD
    self._store_progress(training_id, p)
    log RoundDone(training_id=training_id, caller=msg.sender, round=p.round, missing=missing, review_deadline=p.deadline)


@external
def report_fraud(training_id: uint256, instance_id: uint256, round: uint256, evidence_hash: bytes32):
    """
    @notice The MO reports, during the review window of the last round, an instance whose
            job in that round failed its checks (hash mismatch, copied model, outvoted by
            its replicas). The instance forfeits all its pay in this training, and its CO
            up to FRAUD_STAKE of its registry stake (what it has, maybe nothing), to the
            replicas of its subset that submitted in that round and are not reported,
            split evenly with the remainder to the first, or to the DO if there are none;
            both are paid at completion. The instance gets no further jobs.
    @param evidence_hash Hash of the evidence (stored off chain, for the audit).
    """
    p: Progress = self._load_progress(training_id)
    t: Terms = self._load_terms(training_id)
    assert msg.sender == t.mo, "training: only the model owner reports fraud"
    assert p.status == ROUND_DONE and round == p.round, "training: round not under review"
    assert block.timestamp < p.deadline, "training: review period over"
    assert evidence_hash != empty(bytes32), "training: empty evidence hash"
    i: Instance = self._load_instance(instance_id)
    assert i.dataset_id == t.dataset_id and i.status == VERIFIED, "training: instance not in this training"
    job: uint256 = self._jobs[training_id][instance_id]
    assert job & JOB_FRAUD == 0, "training: instance already reported"
    assert (job >> 128) & BYTE_MASK == round, "training: instance did not submit in this round"
    forfeited: uint256 = job & PRICE_MASK
    self._jobs[training_id][instance_id] = (job & ~PRICE_MASK) | JOB_FRAUD
    self._fraud[training_id] |= 1 << (i.subset * MAX_REPLICAS + i.replica)
    # before the payout's effects, which depend on the amount: the registry is immutable,
    # known code, and the only thing it calls back is __default__, which changes nothing
    slashed: uint256 = 0
    if FRAUD_STAKE != 0:
        slashed = extcall IRegistry(REGISTRY).slash(i.co, FRAUD_STAKE)
    lost: uint256 = forfeited + slashed

    honest: DynArray[uint256, MAX_REPLICAS] = []
    replicas_word: uint256 = self._replicas[i.dataset_id][i.subset]
    d: Dataset = self._load_dataset(i.dataset_id)
    for r: uint256 in range(MAX_REPLICAS):
        if r == d.replicas:
            break
        other: uint256 = (replicas_word >> (32 * r)) & ID_MASK
        if other == instance_id:
            continue
        other_job: uint256 = self._jobs[training_id][other]
        if other_job & JOB_FRAUD == 0 and (other_job >> 128) & BYTE_MASK == round:
            honest.append(other)
    if len(honest) == 0:
        self._forfeited[training_id] += lost + (slashed << 128)
    else:
        if slashed != 0:
            self._forfeited[training_id] += slashed << 128
        share: uint256 = lost // len(honest)
        dust: uint256 = lost - share * len(honest)
        for other: uint256 in honest:
            self._jobs[training_id][other] += share + dust
            dust = 0
    log FraudReported(
        training_id=training_id,
        instance_id=instance_id,
        co=i.co,
        round=round,
        evidence_hash=evidence_hash,
        forfeited=forfeited,
        slashed=slashed,
        honest=honest,
    )


@external
def complete(training_id: uint256):
    """
    @notice End the training: the DO is paid the data price (plus pay and stake forfeited
            with no honest replica), every CO the pay it earned (plus its share of what
            reported replicas forfeited), and the MO is refunded the rest of its escrow.
            The MO may complete whenever no round is running (waiving its review window);
            anyone may once the MO has been silent past its idle deadline (IDLE_PERIOD
            after approval, after asking for a round, or after a round's review window).
    """
    p: Progress = self._load_progress(training_id)
    t: Terms = self._load_terms(training_id)
    assert p.status == APPROVED or p.status == DRAWING or p.status == ROUND_DONE, "training: cannot complete now"
    if msg.sender != t.mo:
        idle_deadline: uint256 = p.deadline
        if p.status == ROUND_DONE:
            idle_deadline += IDLE_PERIOD
        assert block.timestamp >= idle_deadline, "training: only the model owner may complete before the idle deadline"
    drawn: uint256 = p.round  # rounds whose subsets were drawn
    if p.status == DRAWING:
        drawn -= 1
    p.status = COMPLETED
    self._store_progress(training_id, p)

    d: Dataset = self._load_dataset(t.dataset_id)
    prices: uint256 = self._prices[t.dataset_id]
    forfeit: uint256 = self._forfeited[training_id]
    paid_owner: uint256 = (prices & PRICE_MASK) + (forfeit & PRICE_MASK)
    escrow._credit(d.owner, paid_owner)
    paid_compute: uint256 = 0
    if p.jobs > 0:
        # subsets that ever trained: the cycle mask until every subset has been drawn
        used: uint256 = p.cycle
        if drawn * t.subsets_per_round >= d.subsets:
            used = (1 << d.subsets) - 1
        for s: uint256 in range(MAX_SUBSETS):
            if s == d.subsets:
                break
            if (used >> s) & 1 == 0:
                continue
            replicas_word: uint256 = self._replicas[t.dataset_id][s]
            for r: uint256 in range(MAX_REPLICAS):
                if r == d.replicas:
                    break
                instance_id: uint256 = (replicas_word >> (32 * r)) & ID_MASK
                pending: uint256 = self._jobs[training_id][instance_id] & PRICE_MASK
                if pending != 0:
                    escrow._credit(self._load_instance(instance_id).co, pending)
                    paid_compute += pending
    # slashed stake was paid out on top of the escrow, to the DO or in the COs' pay
    refund: uint256 = self._training_escrow(t) + (forfeit >> 128) - paid_owner - paid_compute
    escrow._credit(t.mo, refund)
    log TrainingCompleted(
        training_id=training_id,
        caller=msg.sender,
        mo=t.mo,
        rounds=p.round,
        paid_owner=paid_owner,
        paid_compute=paid_compute,
        refund=refund,
    )


@external
@view
def dataset(dataset_id: uint256) -> DatasetView:
    """
    @notice Everything the chain holds about one dataset.
    """
    d: Dataset = self._load_dataset(dataset_id)
    prices: uint256 = self._prices[dataset_id]
    return DatasetView(
        owner=d.owner,
        subsets=d.subsets,
        replicas=d.replicas,
        verified=d.verified,
        data_price=prices & PRICE_MASK,
        job_price=prices >> 128,
        meta_hash=self._meta_hash[dataset_id],
    )


@external
@view
def instance_at(dataset_id: uint256, subset: uint256, replica: uint256) -> uint256:
    """
    @notice The id of the current instance of a slot (0 if none was created).
    """
    assert replica < MAX_REPLICAS, "training: no such subset or replica"
    return (self._replicas[dataset_id][subset] >> (32 * replica)) & ID_MASK


@external
@view
def instance(instance_id: uint256) -> InstanceView:
    """
    @notice Everything the chain holds about one cloud instance.
    """
    i: Instance = self._load_instance(instance_id)
    return InstanceView(co=i.co, dataset_id=i.dataset_id, subset=i.subset, replica=i.replica, status=i.status)


@external
@view
def model_owner(model_id: uint256) -> address:
    """
    @notice The owner of a model (the zero address if there is no such model); the rest of
            the model's record is its ModelCreated event.
    """
    return self._model_owner[model_id]


@external
@view
def training(training_id: uint256) -> TrainingView:
    """
    @notice Everything the chain holds about one training couple. `escrowed` is what the
            MO locked; it stays locked until the training is completed or cancelled.
    """
    t: Terms = self._load_terms(training_id)
    p: Progress = self._load_progress(training_id)
    return TrainingView(
        mo=t.mo,
        dataset_id=t.dataset_id,
        model_id=t.model_id,
        subsets_per_round=t.subsets_per_round,
        max_rounds=t.max_rounds,
        status=p.status,
        round=p.round,
        remaining=p.remaining,
        jobs=p.jobs,
        deadline=p.deadline,
        target_block=p.target,
        selected=p.selected,
        cycle=p.cycle,
        fraud=self._fraud[training_id],
        forfeited=self._forfeited[training_id] & PRICE_MASK,
        escrowed=self._training_escrow(t),
    )


@external
@view
def slashed(training_id: uint256) -> uint256:
    """
    @notice Stake slashed by the fraud reports of a training: it stays in this contract,
            on top of the training's escrow, until the training completes.
    """
    return self._forfeited[training_id] >> 128


@external
@view
def job(training_id: uint256, instance_id: uint256) -> JobView:
    """
    @notice An instance's job in a training: pay held for it, last round it submitted in,
            and whether it was reported for fraud.
    """
    word: uint256 = self._jobs[training_id][instance_id]
    return JobView(pending=word & PRICE_MASK, round=(word >> 128) & BYTE_MASK, fraudulent=word & JOB_FRAUD != 0)


@internal
@view
def _escrowed(dataset_id: uint256, replicas: uint256, subsets_per_round: uint256, max_rounds: uint256) -> uint256:
    prices: uint256 = self._prices[dataset_id]
    return (prices & PRICE_MASK) + (prices >> 128) * subsets_per_round * replicas * max_rounds


@internal
@view
def _training_escrow(t: Terms) -> uint256:
    replicas: uint256 = (self._dataset[t.dataset_id] >> 168) & BYTE_MASK
    return self._escrowed(t.dataset_id, replicas, t.subsets_per_round, t.max_rounds)


@internal
@view
def _load_dataset(dataset_id: uint256) -> Dataset:
    word: uint256 = self._dataset[dataset_id]
    assert word != 0, "training: unknown dataset"
    return Dataset(
        owner=convert(convert(word & ADDRESS_MASK, uint160), address),
        subsets=(word >> 160) & BYTE_MASK,
        replicas=(word >> 168) & BYTE_MASK,
        verified=(word >> 176) & SHORT_MASK,
    )


@internal
def _store_dataset(dataset_id: uint256, d: Dataset):
    self._dataset[dataset_id] = convert(d.owner, uint256) | (d.subsets << 160) | (d.replicas << 168) | (d.verified << 176)


@internal
@view
def _load_instance(instance_id: uint256) -> Instance:
    word: uint256 = self._instance[instance_id]
    assert word != 0, "training: unknown instance"
    return Instance(
        co=convert(convert(word & ADDRESS_MASK, uint160), address),
        dataset_id=(word >> 160) & ID_MASK,
        subset=(word >> 192) & BYTE_MASK,
        replica=(word >> 200) & BYTE_MASK,
        status=(word >> 208) & BYTE_MASK,
    )


@internal
def _store_instance(instance_id: uint256, i: Instance):
    self._instance[instance_id] = (
        convert(i.co, uint256) | (i.dataset_id << 160) | (i.subset << 192) | (i.replica << 200) | (i.status << 208)
    )


@internal
@view
def _load_terms(training_id: uint256) -> Terms:
    word: uint256 = self._terms[training_id]
    assert word != 0, "training: unknown training"
    return Terms(
        mo=convert(convert(word & ADDRESS_MASK, uint160), address),
        dataset_id=(word >> 160) & ID_MASK,
        model_id=(word >> 192) & ID_MASK,
        subsets_per_round=(word >> 224) & BYTE_MASK,
        max_rounds=(word >> 232) & BYTE_MASK,
    )


@internal
def _store_terms(training_id: uint256, t: Terms):
    self._terms[training_id] = (
        convert(t.mo, uint256)
        | (t.dataset_id << 160)
        | (t.model_id << 192)
        | (t.subsets_per_round << 224)
        | (t.max_rounds << 232)
    )


@internal
@view
def _load_progress(training_id: uint256) -> Progress:
    word: uint256 = self._progress[training_id]
    assert word != 0, "training: unknown training"
    return Progress(
        status=word & BYTE_MASK,
        round=(word >> 8) & BYTE_MASK,
        remaining=(word >> 16) & SHORT_MASK,
        jobs=(word >> 32) & SHORT_MASK,
        deadline=(word >> 48) & WORD64_MASK,
        target=(word >> 112) & WORD64_MASK,
        selected=(word >> 176) & ID_MASK,
        cycle=(word >> 208) & ID_MASK,
    )


@internal
def _store_progress(training_id: uint256, p: Progress):
    self._progress[training_id] = (
        p.status
        | (p.round << 8)
        | (p.remaining << 16)
        | (p.jobs << 32)
        | (p.deadline << 48)
        | (p.target << 112)
        | (p.selected << 176)
        | (p.cycle << 208)
    )
