# pragma version ~=0.4.3
"""
@title Training couples of the training market: request, rounds, fraud, completion
@notice Stateful module: TrainingMarket.vy `initializes:` it and exports its functions. It
        `uses:` the market's settings, datasets and models, and the escrow it credits. A
        model owner (MO) requests a training couple (TC) of its model and a dataset, locking
        the most it can cost; once the DO approves, the training runs in rounds: the MO
        starts a round, anyone draws its subsets from a later block's hash (see
        TrainingMarket.vy for what the draw guarantees), the drawn replicas submit their
        jobs, the MO reviews and may report fraud, and completion pays everyone and refunds
        the rest.

        Storage: a training is two words (terms, progress) plus a fraud mask and a forfeit
        word (pay and stake forfeited to the DO, stake slashed) that stay zero when nobody
        cheats; a job is one word per (training, CI), written by the CO's submissions. The
        hashes of each job live in events only.
"""

import escrow
from interfaces import IRegistry
from utils import bits
from utils import draw
from training import datasets
from training import models
from training import settings

uses: escrow
uses: settings
uses: datasets
uses: models


MAX_ROUNDS: constant(uint256) = 255

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


next_training_id: public(uint256)
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
    honest: DynArray[uint256, datasets.MAX_REPLICAS]

event TrainingCompleted:
    training_id: indexed(uint256)
    caller: indexed(address)
    mo: indexed(address)
    rounds: uint256
    paid_owner: uint256
    paid_compute: uint256
    refund: uint256


@deploy
def __init__():
    # ids start at 1; writing a non-zero counter is cheaper
    self.next_training_id = 1


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
    assert models._model_owner[model_id] == msg.sender, "training: caller does not own the model"
    d: datasets.Dataset = datasets._load_dataset(dataset_id)
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
    p.deadline = block.timestamp + settings.APPROVAL_PERIOD
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
    d: datasets.Dataset = datasets._load_dataset(t.dataset_id)
    assert msg.sender == d.owner, "training: only the dataset's owner approves"
    assert p.status == REQUESTED, "training: not waiting for approval"
    assert block.timestamp < p.deadline, "training: approval period over"
    assert d.verified == d.subsets * d.replicas, "training: dataset not fully verified"
    p.status = APPROVED
    p.deadline = block.timestamp + settings.IDLE_PERIOD
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
    p.deadline = block.timestamp + settings.IDLE_PERIOD
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
    d: datasets.Dataset = datasets._load_dataset(t.dataset_id)
    block_hash: bytes32 = blockhash(p.target)
    seed: bytes32 = keccak256(concat(block_hash, convert(training_id, bytes32), convert(p.round, bytes32)))
    selected: uint256 = 0
    cycle: uint256 = 0
    selected, cycle = draw._select(seed, d.subsets, t.subsets_per_round, p.cycle)
    remaining: uint256 = t.subsets_per_round * d.replicas
    fraud: uint256 = self._fraud[training_id]
    if fraud != 0:  # reported instances get no more jobs, so the round does not wait for them
        for s: uint256 in range(datasets.MAX_SUBSETS):
            if s == d.subsets:
                break
            if (selected >> s) & 1 == 1:
                remaining -= bits._count((fraud >> (s * datasets.MAX_REPLICAS)) & BYTE_MASK)
    p.selected = selected
    p.cycle = cycle
    p.remaining = remaining
    if remaining == 0:
        p.status = ROUND_DONE
        p.deadline = block.timestamp + settings.REVIEW_PERIOD
    else:
        p.status = TRAINING
        p.deadline = block.timestamp + settings.ROUND_PERIOD
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
    i: datasets.Instance = datasets._load_instance(instance_id)
    assert msg.sender == i.co, "training: caller is not the instance's compute provider"
    t: Terms = self._load_terms(training_id)
    assert i.dataset_id == t.dataset_id and i.status == datasets.VERIFIED, "training: instance not in this training"
    assert (p.selected >> i.subset) & 1 == 1, "training: subset not drawn this round"
    job: uint256 = self._jobs[training_id][instance_id]
    assert job & JOB_FRAUD == 0, "training: instance reported for fraud"
    assert (job >> 128) & BYTE_MASK != p.round, "training: job already submitted this round"
    assert model_hash != empty(bytes32) and location_hash != empty(bytes32), "training: empty hash"
    datasets._spend_nonce(nonce)
    job_price: uint256 = datasets._prices[t.dataset_id] >> 128
    self._jobs[training_id][instance_id] = ((job & PRICE_MASK) + job_price) | (p.round << 128)
    p.remaining -= 1
    p.jobs += 1
    if p.remaining == 0:
        p.status = ROUND_DONE
        p.deadline = block.timestamp + settings.REVIEW_PERIOD
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
    p.deadline = block.timestamp + settings.REVIEW_PERIOD
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
    i: datasets.Instance = datasets._load_instance(instance_id)
    assert i.dataset_id == t.dataset_id and i.status == datasets.VERIFIED, "training: instance not in this training"
    job: uint256 = self._jobs[training_id][instance_id]
    assert job & JOB_FRAUD == 0, "training: instance already reported"
    assert (job >> 128) & BYTE_MASK == round, "training: instance did not submit in this round"
    forfeited: uint256 = job & PRICE_MASK
    self._jobs[training_id][instance_id] = (job & ~PRICE_MASK) | JOB_FRAUD
    self._fraud[training_id] |= 1 << (i.subset * datasets.MAX_REPLICAS + i.replica)
    # before the payout's effects, which depend on the amount: the registry is immutable,
    # known code, and the only thing it calls back is __default__, which changes nothing
    slashed: uint256 = 0
    if settings.FRAUD_STAKE != 0:
        slashed = extcall IRegistry(settings.REGISTRY).slash(i.co, settings.FRAUD_STAKE)
    lost: uint256 = forfeited + slashed

    honest: DynArray[uint256, datasets.MAX_REPLICAS] = []
    replicas_word: uint256 = datasets._replicas[i.dataset_id][i.subset]
    d: datasets.Dataset = datasets._load_dataset(i.dataset_id)
    for r: uint256 in range(datasets.MAX_REPLICAS):
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
            idle_deadline += settings.IDLE_PERIOD
        assert block.timestamp >= idle_deadline, "training: only the model owner may complete before the idle deadline"
    drawn: uint256 = p.round  # rounds whose subsets were drawn
    if p.status == DRAWING:
        drawn -= 1
    p.status = COMPLETED
    self._store_progress(training_id, p)

    d: datasets.Dataset = datasets._load_dataset(t.dataset_id)
    prices: uint256 = datasets._prices[t.dataset_id]
    forfeit: uint256 = self._forfeited[training_id]
    paid_owner: uint256 = (prices & PRICE_MASK) + (forfeit & PRICE_MASK)
    escrow._credit(d.owner, paid_owner)
    paid_compute: uint256 = 0
    if p.jobs > 0:
        # subsets that ever trained: the cycle mask until every subset has been drawn
        used: uint256 = p.cycle
        if drawn * t.subsets_per_round >= d.subsets:
            used = (1 << d.subsets) - 1
        for s: uint256 in range(datasets.MAX_SUBSETS):
            if s == d.subsets:
                break
            if (used >> s) & 1 == 0:
                continue
            replicas_word: uint256 = datasets._replicas[t.dataset_id][s]
            for r: uint256 in range(datasets.MAX_REPLICAS):
                if r == d.replicas:
                    break
                instance_id: uint256 = (replicas_word >> (32 * r)) & ID_MASK
                pending: uint256 = self._jobs[training_id][instance_id] & PRICE_MASK
                if pending != 0:
                    escrow._credit(datasets._load_instance(instance_id).co, pending)
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
    prices: uint256 = datasets._prices[dataset_id]
    return (prices & PRICE_MASK) + (prices >> 128) * subsets_per_round * replicas * max_rounds


@internal
@view
def _training_escrow(t: Terms) -> uint256:
    # the replicas field of the dataset's word, read without the checks of _load_dataset
    replicas: uint256 = (datasets._dataset[t.dataset_id] >> 168) & BYTE_MASK
    return self._escrowed(t.dataset_id, replicas, t.subsets_per_round, t.max_rounds)


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
