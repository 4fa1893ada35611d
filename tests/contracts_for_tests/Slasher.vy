# pragma version ~=0.4.3
"""
@title Slasher
@notice Test-only protocol contract that asks a registry to slash stake and keeps what it
        gets: the last amount the registry returned and the ether it received.
"""

interface Registry:
    def slash(account: address, amount: uint256) -> uint256: nonpayable


REGISTRY: public(immutable(address))

taken: public(uint256)
received: public(uint256)


@deploy
def __init__(registry: address):
    """
    @param registry The registry to slash on.
    """
    REGISTRY = registry


@external
def slash(account: address, amount: uint256) -> uint256:
    """
    @notice Slash up to `amount` of `account`'s stake; record what the registry returned.
    """
    self.taken = extcall Registry(REGISTRY).slash(account, amount)
    return self.taken


@external
@payable
def __default__():
    """
    @notice Accept ether (the slashed stake) and count it.
    """
    self.received += msg.value
