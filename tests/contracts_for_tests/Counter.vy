# pragma version ~=0.4.3
"""
@title Counter
@notice Test-only contract that exercises every feature the chain backends must agree on:
        storage writes, a revert with a reason, an event with an indexed address, a payable
        function, a storage refund, a calldata-heavy call and a view of block.timestamp.
"""

event Incremented:
    caller: indexed(address)
    count: uint256

event Deposited:
    payer: indexed(address)
    amount: uint256

count: public(uint256)
owner: public(address)
deposits: public(HashMap[address, uint256])


@deploy
def __init__(start: uint256):
    """
    @notice Start counting from `start`.
    """
    self.count = start
    self.owner = msg.sender


@external
def increment() -> uint256:
    """
    @notice Add one to the counter and return the new count.
    """
    self.count += 1
    log Incremented(caller=msg.sender, count=self.count)
    return self.count


@external
def increment_below(limit: uint256):
    """
    @notice Add one unless the counter already reached `limit`.
    """
    assert self.count < limit, "counter: limit reached"
    self.count += 1
    log Incremented(caller=msg.sender, count=self.count)


@external
def fail_silently():
    """
    @notice Always revert, with no reason string.
    """
    raise


@external
@payable
def deposit():
    """
    @notice Record the ether sent by the caller.
    """
    assert msg.value > 0, "counter: nothing sent"
    self.deposits[msg.sender] += msg.value
    log Deposited(payer=msg.sender, amount=msg.value)


@external
def reset():
    """
    @notice Set the counter back to zero (clearing a slot earns a gas refund).
    """
    assert msg.sender == self.owner, "counter: only the owner"
    self.count = 0


@external
@pure
def measure(payload: Bytes[4096]) -> uint256:
    """
    @notice Length of `payload`: lots of calldata, almost no execution.
    """
    return len(payload)


@external
@view
def count_below(limit: uint256) -> uint256:
    """
    @notice The count, which must be under `limit`.
    """
    assert self.count < limit, "counter: limit reached"
    return self.count


@external
@view
def now() -> uint256:
    """
    @notice The timestamp of the block this call runs in.
    """
    return block.timestamp
