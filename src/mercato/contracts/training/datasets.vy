# pragma version ~=0.4.3
"""
@title Datasets and cloud instances of the training market
@notice Stateful module: TrainingMarket.vy `initializes:` it and exports its functions; the
        trainings module `uses:` it (it reads datasets, instances and prices, and spends
        nonces). A data owner (DO) lists a dataset split into m private subsets, each
        replicated to n compute providers (CO); each replica is a cloud instance (CI) that
        the DO creates, the CO joins with keccak256(subset || nonce) and the DO verifies or
        flags. A dataset is ready for training once every slot holds a verified instance.

        Storage: a dataset is two words (owner and shape, prices) plus its metadata hash;
        the CI ids of a subset's replicas share one word; a CI is one word. The data hashes
        and nonces of joins live in events only. A nonce is spent once per contract, by a
        join or by a job (so no CO can reuse another's declaration).
"""

from interfaces import IRegistry
from utils import draw
from utils import role_bits
from training import settings

uses: settings


MAX_SUBSETS: constant(uint256) = draw.MAX_ITEMS
MAX_REPLICAS: constant(uint256) = 8

# Instance status
FREE: constant(uint256) = 1
JOINED: constant(uint256) = 2
VERIFIED: constant(uint256) = 3
FLAGGED: constant(uint256) = 4

ADDRESS_MASK: constant(uint256) = 2**160 - 1
BYTE_MASK: constant(uint256) = 2**8 - 1
SHORT_MASK: constant(uint256) = 2**16 - 1
ID_MASK: constant(uint256) = 2**32 - 1
PRICE_MASK: constant(uint256) = 2**128 - 1


struct Dataset:
    owner: address
    subsets: uint256
    replicas: uint256
    verified: uint256  # instances verified; the dataset is ready at subsets * replicas


struct Instance:
    co: address
    dataset_id: uint256
    subset: uint256
    replica: uint256
    status: uint256


struct DatasetView:
    owner: address
    subsets: uint256
    replicas: uint256
    verified: uint256
    data_price: uint256
    job_price: uint256
    meta_hash: bytes32


struct InstanceView:
    co: address
    dataset_id: uint256
    subset: uint256
    replica: uint256
    status: uint256


next_dataset_id: public(uint256)
next_instance_id: public(uint256)
# owner | subsets << 160 | replicas << 168 | verified << 176
_dataset: HashMap[uint256, uint256]
# data_price | job_price << 128
_prices: HashMap[uint256, uint256]
_meta_hash: HashMap[uint256, bytes32]
# the current CI id of replica r of a subset at bits [32r, 32r + 32): _replicas[dataset][subset]
_replicas: HashMap[uint256, HashMap[uint256, uint256]]
# co | dataset_id << 160 | subset << 192 | replica << 200 | status << 208
_instance: HashMap[uint256, uint256]
nonce_used: public(HashMap[bytes32, bool])


event DatasetCreated:
    dataset_id: indexed(uint256)
    owner: indexed(address)
    meta_hash: bytes32
    subsets: uint256
    replicas: uint256
    data_price: uint256
    job_price: uint256

event InstanceCreated:
    instance_id: indexed(uint256)
    dataset_id: indexed(uint256)
    co: indexed(address)
    subset: uint256
    replica: uint256
    envelope_hash: bytes32

event InstanceJoined:
    instance_id: indexed(uint256)
    dataset_id: indexed(uint256)
    co: indexed(address)
    data_hash: bytes32
    nonce: bytes32

event InstanceVerified:
    instance_id: indexed(uint256)
    owner: indexed(address)
    co: indexed(address)
    dataset_id: uint256
    ok: bool


@deploy
def __init__():
    # ids start at 1; writing a non-zero counter is cheaper
    self.next_dataset_id = 1
    self.next_instance_id = 1


@external
def create_dataset(
    meta_hash: bytes32, subsets: uint256, replicas: uint256, data_price: uint256, job_price: uint256
) -> uint256:
    """
    @notice List a dataset split into `subsets` private subsets of `replicas` replicas each.
    @param meta_hash Hash of the dataset's public description (stored off chain).
    @param subsets Number m of private subsets (1 to 32).
    @param replicas Number n of replicas of each subset (1 to 8).
    @param data_price Wei the DO earns per completed training.
    @param job_price Wei a CO earns per accepted job (one subset replica, one round).
    @return The new dataset's id.
    """
    assert staticcall IRegistry(settings.REGISTRY).has_role(msg.sender, role_bits.DATA_OWNER), "training: caller is not a registered data owner"
    assert meta_hash != empty(bytes32), "training: empty metadata hash"
    assert subsets > 0 and subsets <= MAX_SUBSETS, "training: subsets out of range"
    assert replicas > 0 and replicas <= MAX_REPLICAS, "training: replicas out of range"
    assert data_price <= settings.MAX_PRICE and job_price <= settings.MAX_PRICE, "training: price out of range"
    dataset_id: uint256 = self.next_dataset_id
    assert dataset_id <= settings.MAX_ID, "training: too many datasets"
    self.next_dataset_id = dataset_id + 1
    self._store_dataset(dataset_id, Dataset(owner=msg.sender, subsets=subsets, replicas=replicas, verified=0))
    if data_price | job_price != 0:
        self._prices[dataset_id] = data_price | (job_price << 128)
    self._meta_hash[dataset_id] = meta_hash
    log DatasetCreated(
        dataset_id=dataset_id,
        owner=msg.sender,
        meta_hash=meta_hash,
        subsets=subsets,
        replicas=replicas,
        data_price=data_price,
        job_price=job_price,
    )
    return dataset_id


@external
def create_instance(
    dataset_id: uint256, subset: uint256, replica: uint256, co: address, envelope_hash: bytes32
) -> uint256:
    """
    @notice The DO records that it handed replica `replica` of subset `subset` to `co`
            (off chain, sealed to the CO's registered key). One live instance per slot: a
            slot can be handed to another CO only after its instance was flagged.
    @param co A registered compute provider that holds no other replica of this subset.
    @param envelope_hash Blob hash of the envelope that seals the replica to `co` (only
           `co` can open it; the hash tells the CO where to fetch it and binds the DO to it).
    @return The new instance's id.
    """
    d: Dataset = self._load_dataset(dataset_id)
    assert msg.sender == d.owner, "training: only the dataset's owner creates instances"
    assert envelope_hash != empty(bytes32), "training: empty envelope hash"
    assert subset < d.subsets and replica < d.replicas, "training: no such subset or replica"
    assert staticcall IRegistry(settings.REGISTRY).has_role(co, role_bits.COMPUTE_PROVIDER), "training: instance holder is not a registered compute provider"
    replicas_word: uint256 = self._replicas[dataset_id][subset]
    for r: uint256 in range(MAX_REPLICAS):
        if r == d.replicas:
            break
        other: uint256 = (replicas_word >> (32 * r)) & ID_MASK
        if other == 0:
            continue
        held: Instance = self._load_instance(other)
        if r == replica:
            assert held.status == FLAGGED, "training: slot already has an instance"
        elif held.status != FLAGGED:
            assert held.co != co, "training: compute provider already holds a replica of this subset"
    instance_id: uint256 = self.next_instance_id
    assert instance_id <= settings.MAX_ID, "training: too many instances"
    self.next_instance_id = instance_id + 1
    self._store_instance(
        instance_id, Instance(co=co, dataset_id=dataset_id, subset=subset, replica=replica, status=FREE)
    )
    offset: uint256 = 32 * replica
    self._replicas[dataset_id][subset] = (replicas_word & ~(ID_MASK << offset)) | (instance_id << offset)
    log InstanceCreated(
        instance_id=instance_id, dataset_id=dataset_id, co=co, subset=subset, replica=replica, envelope_hash=envelope_hash
    )
    return instance_id


@external
def join_instance(instance_id: uint256, data_hash: bytes32, nonce: bytes32):
    """
    @notice The instance's CO declares what it received: keccak256(subset || nonce) and
            the nonce, which no one may use again in this contract (so a CO cannot copy
            another replica's declaration).
    """
    i: Instance = self._load_instance(instance_id)
    assert msg.sender == i.co, "training: caller is not the instance's compute provider"
    assert i.status == FREE, "training: instance already joined"
    assert data_hash != empty(bytes32), "training: empty data hash"
    self._spend_nonce(nonce)
    i.status = JOINED
    self._store_instance(instance_id, i)
    log InstanceJoined(
        instance_id=instance_id, dataset_id=i.dataset_id, co=msg.sender, data_hash=data_hash, nonce=nonce
    )


@external
def verify_instance(instance_id: uint256, ok: bool):
    """
    @notice The DO checks the joined hash against its own keccak256(subset || nonce):
            `ok` marks the instance verified, otherwise flagged (its slot may then be handed
            to another CO). A training can be approved once every slot is verified.
    """
    i: Instance = self._load_instance(instance_id)
    d: Dataset = self._load_dataset(i.dataset_id)
    assert msg.sender == d.owner, "training: only the dataset's owner verifies"
    assert i.status == JOINED, "training: instance not joined"
    if ok:
        i.status = VERIFIED
        d.verified += 1
        self._store_dataset(i.dataset_id, d)
    else:
        i.status = FLAGGED
    self._store_instance(instance_id, i)
    log InstanceVerified(instance_id=instance_id, owner=msg.sender, co=i.co, dataset_id=i.dataset_id, ok=ok)


@external
@view
def dataset(dataset_id: uint256) -> DatasetView:
    """
    @notice Everything the chain holds about one dataset.
    """
    d: Dataset = self._load_dataset(dataset_id)
    prices: uint256 = self._prices[dataset_id]
    return DatasetView(
        owner=d.owner,
        subsets=d.subsets,
        replicas=d.replicas,
        verified=d.verified,
        data_price=prices & PRICE_MASK,
        job_price=prices >> 128,
        meta_hash=self._meta_hash[dataset_id],
    )


@external
@view
def instance_at(dataset_id: uint256, subset: uint256, replica: uint256) -> uint256:
    """
    @notice The id of the current instance of a slot (0 if none was created).
    """
    assert replica < MAX_REPLICAS, "training: no such subset or replica"
    return (self._replicas[dataset_id][subset] >> (32 * replica)) & ID_MASK


@external
@view
def instance(instance_id: uint256) -> InstanceView:
    """
    @notice Everything the chain holds about one cloud instance.
    """
    i: Instance = self._load_instance(instance_id)
    return InstanceView(co=i.co, dataset_id=i.dataset_id, subset=i.subset, replica=i.replica, status=i.status)


@internal
@view
def _load_dataset(dataset_id: uint256) -> Dataset:
    word: uint256 = self._dataset[dataset_id]
    assert word != 0, "training: unknown dataset"
    return Dataset(
        owner=convert(convert(word & ADDRESS_MASK, uint160), address),
        subsets=(word >> 160) & BYTE_MASK,
        replicas=(word >> 168) & BYTE_MASK,
        verified=(word >> 176) & SHORT_MASK,
    )


@internal
def _store_dataset(dataset_id: uint256, d: Dataset):
    self._dataset[dataset_id] = convert(d.owner, uint256) | (d.subsets << 160) | (d.replicas << 168) | (d.verified << 176)


@internal
@view
def _load_instance(instance_id: uint256) -> Instance:
    word: uint256 = self._instance[instance_id]
    assert word != 0, "training: unknown instance"
    return Instance(
        co=convert(convert(word & ADDRESS_MASK, uint160), address),
        dataset_id=(word >> 160) & ID_MASK,
        subset=(word >> 192) & BYTE_MASK,
        replica=(word >> 200) & BYTE_MASK,
        status=(word >> 208) & BYTE_MASK,
    )


@internal
def _store_instance(instance_id: uint256, i: Instance):
    self._instance[instance_id] = (
        convert(i.co, uint256) | (i.dataset_id << 160) | (i.subset << 192) | (i.replica << 200) | (i.status << 208)
    )



@internal
def _spend_nonce(nonce: bytes32):
    """
    @notice Mark a nonce a CO declared (in a join or a job) as used in this contract.
    """
    assert not self.nonce_used[nonce], "training: nonce already used"
    self.nonce_used[nonce] = True
