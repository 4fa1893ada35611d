# pragma version ~=0.4.3
"""
@title Re-entrant participant (test only)
@notice A contract that takes part in any protocol and re-enters whoever pays it. Its
        operator (the deployer) makes it call any target with any calldata and value
        (`execute`), so it registers, bids, posts, deposits or withdraws like any
        participant. Once armed (`arm`), the next ether it receives makes `__default__` call
        the stored target with the stored calldata, once, and record whether that re-entry
        succeeded. With `propagate` the re-entry's failure reverts the payment that
        triggered it; without, the failure is swallowed and the payment kept.
"""

MAX_CALLDATA: constant(uint256) = 2048
MAX_OUTPUT: constant(uint256) = 256

OPERATOR: public(immutable(address))

reentry_target: public(address)
reentry_calldata: public(Bytes[MAX_CALLDATA])
propagate: public(bool)
armed: public(bool)
reentered: public(bool)
reentry_succeeded: public(bool)
payments: public(uint256)
received: public(uint256)


@deploy
def __init__():
    OPERATOR = msg.sender


@external
@payable
def execute(target: address, data: Bytes[MAX_CALLDATA]) -> Bytes[MAX_OUTPUT]:
    """
    @notice Call `target` with `data`, forwarding msg.value; a revert bubbles up.
    @return The call's output (its first MAX_OUTPUT bytes).
    """
    assert msg.sender == OPERATOR, "reentrant: only the operator"
    return raw_call(target, data, max_outsize=MAX_OUTPUT, value=msg.value)


@external
def arm(target: address, data: Bytes[MAX_CALLDATA], propagate: bool):
    """
    @notice Re-enter `target` with `data` the next time this contract receives ether.
    @param propagate Let the re-entry's failure revert the payment instead of swallowing it.
    """
    assert msg.sender == OPERATOR, "reentrant: only the operator"
    self.reentry_target = target
    self.reentry_calldata = data
    self.propagate = propagate
    self.armed = True


@external
@payable
def __default__():
    """
    @notice Count the payment and, if armed, re-enter once.
    """
    self.payments += 1
    self.received += msg.value
    if not self.armed:
        return
    self.armed = False
    self.reentered = True
    if self.propagate:
        raw_call(self.reentry_target, self.reentry_calldata)
        self.reentry_succeeded = True
    else:
        self.reentry_succeeded = raw_call(
            self.reentry_target, self.reentry_calldata, revert_on_failure=False
        )
