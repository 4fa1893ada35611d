# pragma version ~=0.4.3
"""
@title A model market that answers `purchase` with whatever a test set (P5's tests)
"""

struct Sale:
    buyer: address
    seller: address
    plain_root: bytes32
    score: uint256
    paid: bool

_sales: HashMap[uint256, HashMap[uint256, Sale]]


@external
def set_purchase(request_id: uint256, index: uint256, sale: Sale):
    self._sales[request_id][index] = sale


@view
@external
def purchase(request_id: uint256, index: uint256) -> (address, address, bytes32, uint256, bool):
    s: Sale = self._sales[request_id][index]
    return s.buyer, s.seller, s.plain_root, s.score, s.paid
