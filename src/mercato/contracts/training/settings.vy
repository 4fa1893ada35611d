# pragma version ~=0.4.3
"""
@title Settings of the training market: its registry, its periods and its limits
@notice Stateful module, immutables only: TrainingMarket.vy `initializes:` it and exports
        its getters; the datasets and trainings modules `uses:` it. The registry holds
        everyone's roles and slashes a CO's stake when the MO reports fraud (the market is
        one of its authorized slashers unless FRAUD_STAKE is 0).
"""

# limits the packed storage words of the other modules rely on
MAX_PRICE: constant(uint256) = 2**96 - 1  # two prices share one word; pay fits 128 bits
MAX_ID: constant(uint256) = 2**32 - 1  # dataset, instance and model ids are packed

REGISTRY: public(immutable(address))
APPROVAL_PERIOD: public(immutable(uint256))
ROUND_PERIOD: public(immutable(uint256))
REVIEW_PERIOD: public(immutable(uint256))
IDLE_PERIOD: public(immutable(uint256))
FRAUD_STAKE: public(immutable(uint256))


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
    @notice Check and set the market's settings (TrainingMarket's constructor documents
            each parameter).
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
