# pragma version ~=0.4.3
"""
@title Models of the training market
@notice Stateful module: TrainingMarket.vy `initializes:` it and exports its functions; the
        trainings module `uses:` it to check who owns a model. A model owner (MO) records
        its model; only the owner is stored (a model is its owner), the rest is in the
        ModelCreated event, which is the record.
"""

from interfaces import IRegistry
from utils import role_bits
from training import settings

uses: settings


next_model_id: public(uint256)
_model_owner: HashMap[uint256, address]


event ModelCreated:
    model_id: indexed(uint256)
    owner: indexed(address)
    model_type: bytes32
    method_hash: bytes32
    key_hash: bytes32


@deploy
def __init__():
    # ids start at 1; writing a non-zero counter is cheaper
    self.next_model_id = 1


@external
def create_model(model_type: bytes32, method_hash: bytes32, key_hash: bytes32) -> uint256:
    """
    @notice Record a model: its type, the hash of its training method (what each CO runs)
            and the hash of the public key COs seal model locations to. Only the owner is
            stored; the rest is in the event, which is the record.
    @return The new model's id.
    """
    assert staticcall IRegistry(settings.REGISTRY).has_role(msg.sender, role_bits.MODEL_OWNER), "training: caller is not a registered model owner"
    assert method_hash != empty(bytes32) and key_hash != empty(bytes32), "training: empty hash"
    model_id: uint256 = self.next_model_id
    assert model_id <= settings.MAX_ID, "training: too many models"
    self.next_model_id = model_id + 1
    self._model_owner[model_id] = msg.sender
    log ModelCreated(
        model_id=model_id, owner=msg.sender, model_type=model_type, method_hash=method_hash, key_hash=key_hash
    )
    return model_id


@external
@view
def model_owner(model_id: uint256) -> address:
    """
    @notice The owner of a model (the zero address if there is no such model); the rest of
            the model's record is its ModelCreated event.
    """
    return self._model_owner[model_id]
