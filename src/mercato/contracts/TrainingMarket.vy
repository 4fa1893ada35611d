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

        Layout: this contract only composes modules and receives slashed stake. The modules
        live in contracts/training/: settings (the registry, the periods and the limits, all
        immutable), datasets (datasets, cloud instances and the nonces COs declare), models
        and trainings (requests, rounds, fraud, completion), with the shared escrow. Each
        module's docstring says how it packs its storage (gas is a feature); everything
        nothing on chain reads lives in events only: data hashes and nonces of joins, model
        type and method, the hashes of each job.
"""

import escrow
from training import datasets
from training import models
from training import settings
from training import trainings

initializes: escrow
initializes: settings
initializes: datasets[settings := settings]
initializes: models[settings := settings]
initializes: trainings[escrow := escrow, settings := settings, datasets := datasets, models := models]

exports: (
    escrow.withdraw,
    escrow.owed,
    settings.__interface__,
    datasets.__interface__,
    models.__interface__,
    trainings.__interface__,
)


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
    settings.__init__(registry, approval_period, round_period, review_period, idle_period, fraud_stake)
    datasets.__init__()
    models.__init__()
    trainings.__init__()


@external
@payable
def __default__():
    """
    @notice Receive the stake the registry slashes for a fraud report; refuse other ether.
    """
    assert msg.sender == settings.REGISTRY, "training: only the registry sends ether"
