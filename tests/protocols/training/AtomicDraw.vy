# pragma version ~=0.4.3
"""
@title A model owner that tries to start a round and draw it in the same transaction
@notice Test-only. Were it allowed, the MO could pick the moment of the draw (and so the
        block whose state seeds it) by simulating first and sending only when it likes
        the outcome. The market refuses: the draw must run in a later block.
"""

interface Registry:
    def register(roles: uint256, encryption_key: Bytes[33]): payable

interface TrainingMarket:
    def create_model(model_type: bytes32, method_hash: bytes32, key_hash: bytes32) -> uint256: nonpayable
    def request_training(
        model_id: uint256, dataset_id: uint256, subsets_per_round: uint256, max_rounds: uint256
    ) -> uint256: payable
    def start_round(training_id: uint256, model_hash: bytes32): nonpayable
    def draw_round(training_id: uint256): nonpayable

ROLE_MODEL_OWNER: constant(uint256) = 2

MARKET: immutable(address)


@deploy
def __init__(registry: address, market: address, key: Bytes[33]):
    MARKET = market
    extcall Registry(registry).register(ROLE_MODEL_OWNER, key)


@external
@payable
def request(dataset_id: uint256) -> uint256:
    """
    @notice Record a model and request one single-subset, single-round training of it.
    """
    model_id: uint256 = extcall TrainingMarket(MARKET).create_model(
        keccak256("type"), keccak256("method"), keccak256("key")
    )
    return extcall TrainingMarket(MARKET).request_training(model_id, dataset_id, 1, 1, value=msg.value)


@external
def start_and_draw(training_id: uint256):
    """
    @notice Start the next round and draw it at once.
    """
    extcall TrainingMarket(MARKET).start_round(training_id, keccak256("model"))
    extcall TrainingMarket(MARKET).draw_round(training_id)


@external
def start(training_id: uint256):
    """
    @notice Start the next round only.
    """
    extcall TrainingMarket(MARKET).start_round(training_id, keccak256("model"))
