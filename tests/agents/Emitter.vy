# pragma version ~=0.4.3
"""
@title Emitter
@notice Emits events on demand, to exercise the agent runtime in tests.
"""

MAX_BATCH: constant(uint256) = 16

event Ping:
    sender: indexed(address)
    amount: uint256

event Pong:
    sender: indexed(address)
    amount: uint256


@external
def ping(amount: uint256):
    """
    @notice Emit one Ping.
    @param amount Carried in the event.
    """
    log Ping(sender=msg.sender, amount=amount)


@external
def ping_many(amounts: DynArray[uint256, MAX_BATCH]):
    """
    @notice Emit one Ping per amount, all in this transaction's block.
    @param amounts Carried in the events, in order.
    """
    for amount: uint256 in amounts:
        log Ping(sender=msg.sender, amount=amount)


@external
def pong(amount: uint256):
    """
    @notice Emit one Pong.
    @param amount Carried in the event.
    """
    log Pong(sender=msg.sender, amount=amount)
