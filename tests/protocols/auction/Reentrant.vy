# pragma version ~=0.4.3
"""
@title Reentrancy attacker (test only)
@notice Registers itself as a provider, bids through the auction house and, when `withdraw`
        pays it, re-enters `withdraw` from `__default__` to be paid a second time.
        With `SWALLOW` it ignores the failure of the re-entry (so it keeps the first
        payment); without, the failure propagates and the whole withdrawal reverts.
"""

interface Registry:
    def register(roles: uint256, encryption_key: Bytes[33]): payable

interface AuctionHouse:
    def bid(auction_id: uint256, category: uint256, amount: uint256, references: DynArray[uint256, 8]): nonpayable
    def withdraw(): nonpayable


HOUSE: public(immutable(address))
SWALLOW: public(immutable(bool))

payments: public(uint256)
reentered: public(bool)
reentry_succeeded: public(bool)


@deploy
def __init__(house: address, swallow: bool):
    """
    @param house The auction house to attack.
    @param swallow Ignore the failure of the re-entry instead of propagating it.
    """
    HOUSE = house
    SWALLOW = swallow


@external
def register(registry: address, roles: uint256, encryption_key: Bytes[33]):
    """
    @notice Register this contract in the registry.
    """
    extcall Registry(registry).register(roles, encryption_key)


@external
def bid(auction_id: uint256, category: uint256, amount: uint256):
    """
    @notice Bid without references.
    """
    extcall AuctionHouse(HOUSE).bid(auction_id, category, amount, [])


@external
def attack():
    """
    @notice Withdraw what this contract is owed; the payment triggers the re-entry.
    """
    extcall AuctionHouse(HOUSE).withdraw()


@external
@payable
def __default__():
    """
    @notice Count the payment and, the first time, try to withdraw again.
    """
    self.payments += 1
    if self.reentered:
        return
    self.reentered = True
    if SWALLOW:
        self.reentry_succeeded = raw_call(HOUSE, method_id("withdraw()"), revert_on_failure=False)
    else:
        extcall AuctionHouse(HOUSE).withdraw()
