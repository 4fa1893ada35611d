# pragma version ~=0.4.3
"""
@title Escrow with pull payments
@notice Shared module: money a protocol contract holds is either locked in one of its state
        machines or owed to an address, which withdraws it itself. The contract that uses
        this module keeps the invariant self.balance == locked + sum(owed); no running totals
        are stored, because nothing on chain reads them and each would cost a storage write
        per payment (the Python side and the audit recompute them from state).
"""

owed: public(HashMap[address, uint256])

event Credited:
    account: indexed(address)
    amount: uint256

event Withdrawn:
    account: indexed(address)
    amount: uint256


@external
@nonreentrant
def withdraw():
    """
    @notice Send the caller everything it is owed.
    """
    amount: uint256 = self.owed[msg.sender]
    assert amount > 0, "escrow: nothing to withdraw"
    self.owed[msg.sender] = 0
    log Withdrawn(account=msg.sender, amount=amount)
    raw_call(msg.sender, b"", value=amount)


@internal
def _credit(account: address, amount: uint256):
    """Move ``amount`` of locked money to what ``account`` is owed."""
    if amount == 0:
        return
    self.owed[account] += amount
    log Credited(account=account, amount=amount)
