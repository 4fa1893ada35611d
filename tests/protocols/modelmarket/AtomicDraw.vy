# pragma version ~=0.4.3
"""
@title A client that asks for a draw and draws it in the same transaction
@notice Test-only. Were it allowed, a buyer could simulate posting and drawing first and
        send only when it liked the sample (or anyone, closing submissions, the executors).
        The model market refuses: each draw waits for a block after the one that asked.
"""

interface Registry:
    def register(roles: uint256, encryption_key: Bytes[33]): payable


struct Periods:
    sample: uint256
    submit: uint256
    commit: uint256
    reveal: uint256
    key: uint256
    complaint: uint256


interface ModelMarket:
    def post_request(
        task_hash: bytes32,
        test_root: bytes32,
        groups: uint256,
        sample: uint256,
        schedule_scores: DynArray[uint256, 8],
        schedule_prices: DynArray[uint256, 8],
        k: uint256,
        executors: uint256,
        seller_stake: uint256,
        executor_stake: uint256,
        executor_fee: uint256,
        bond: uint256,
        periods: Periods,
    ) -> uint256: payable
    def advance(request_id: uint256): nonpayable


ROLE_CLIENT: constant(uint256) = 8
PERIOD: constant(uint256) = 3600

MARKET: immutable(address)


@deploy
def __init__(registry: address, market: address, key: Bytes[33]):
    MARKET = market
    extcall Registry(registry).register(ROLE_CLIENT, key)


@external
@payable
def post(test_root: bytes32) -> uint256:
    """
    @notice Post a request buying one model at msg.value, one executor, nothing staked.
    """
    return self._post(test_root, msg.value)


@external
@payable
def post_and_draw(test_root: bytes32):
    """
    @notice Post a request and draw its sample at once.
    """
    request_id: uint256 = self._post(test_root, msg.value)
    extcall ModelMarket(MARKET).advance(request_id)


@external
def advance_twice(request_id: uint256):
    """
    @notice Advance a request twice in one transaction (close submissions, then draw).
    """
    extcall ModelMarket(MARKET).advance(request_id)
    extcall ModelMarket(MARKET).advance(request_id)


@internal
def _post(test_root: bytes32, price: uint256) -> uint256:
    return extcall ModelMarket(MARKET).post_request(
        keccak256("task"),
        test_root,
        64,
        4,
        [500000],
        [price],
        1,
        1,
        0,
        0,
        0,
        0,
        Periods(sample=PERIOD, submit=PERIOD, commit=PERIOD, reveal=PERIOD, key=PERIOD, complaint=PERIOD),
        value=price,
    )
