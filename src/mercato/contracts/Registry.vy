# pragma version ~=0.4.3
"""
@title Participant registry
@notice One registry for every Mercato protocol. A participant is known only by its address;
        it registers a bitmask of roles, a secp256k1 public key (33 bytes, compressed) that
        others seal envelopes to, and an optional stake. Leaving takes EXIT_DELAY so that a
        protocol can still hold a participant to account before its stake goes: the ADMIN
        (the deployer) authorizes protocol contracts as slashers, once each and for good,
        and a slasher may take stake from any participant, also while its exit is pending.
        A slasher is trusted with every stake, so only contracts whose code the admin
        vetted (Mercato's own markets) should be authorized; none can be revoked. Once the
        admin freezes the list, nobody can ever add a slasher, and participants know every
        contract that can take their stake.

        Gas: the external functions' selectors put `register` and `has_role` each alone in
        a bucket of a power-of-two selector table, so they cost what they did before
        slashing existed (the P1 auction benchmark); check `mercato bench gas` after adding
        or renaming an external function or a public variable.
"""

from interfaces import IRegistry
from utils import role_bits

implements: IRegistry

KEY_LENGTH: constant(uint256) = 33

EXIT_DELAY: public(immutable(uint256))
ADMIN: public(immutable(address))

roles: public(HashMap[address, uint256])
encryption_key: public(HashMap[address, Bytes[KEY_LENGTH]])
stake: public(HashMap[address, uint256])
exit_after: public(HashMap[address, uint256])
slashers: public(HashMap[address, bool])
slashers_frozen: public(bool)

event Registered:
    account: indexed(address)
    roles: uint256
    encryption_key: Bytes[KEY_LENGTH]
    stake: uint256

event ExitRequested:
    account: indexed(address)
    exit_after: uint256

event StakeWithdrawn:
    account: indexed(address)
    amount: uint256

event SlasherAuthorized:
    slasher: indexed(address)
    admin: indexed(address)

event SlashersFrozen:
    admin: indexed(address)

event Slashed:
    account: indexed(address)
    slasher: indexed(address)
    amount: uint256


@deploy
def __init__(exit_delay: uint256):
    """
    @param exit_delay Seconds between asking to leave and getting the stake back.
    """
    EXIT_DELAY = exit_delay
    ADMIN = msg.sender


@external
@payable
def register(roles: uint256, encryption_key: Bytes[KEY_LENGTH]):
    """
    @notice Register or update the caller's roles and key; any value sent adds to its stake.
    @param roles Bitmask of role bits (utils/role_bits.vy; at least one).
    @param encryption_key Compressed secp256k1 public key (0x02 or 0x03 then 32 bytes).
    """
    assert roles != 0 and roles & role_bits.ALL == roles, "registry: unknown or empty roles"
    assert len(encryption_key) == KEY_LENGTH, "registry: key must be 33 bytes"
    prefix: uint256 = convert(slice(encryption_key, 0, 1), uint256)
    assert prefix == 2 or prefix == 3, "registry: key is not a compressed point"
    assert self.exit_after[msg.sender] == 0, "registry: exit in progress"
    self.roles[msg.sender] = roles
    self.encryption_key[msg.sender] = encryption_key
    self.stake[msg.sender] += msg.value
    log Registered(
        account=msg.sender, roles=roles, encryption_key=encryption_key, stake=self.stake[msg.sender]
    )


@external
def request_exit():
    """
    @notice Drop every role now; the stake can be withdrawn after EXIT_DELAY.
    """
    assert self.roles[msg.sender] != 0, "registry: not registered"
    self.roles[msg.sender] = 0
    self.exit_after[msg.sender] = block.timestamp + EXIT_DELAY
    log ExitRequested(account=msg.sender, exit_after=block.timestamp + EXIT_DELAY)


@external
@nonreentrant
def withdraw_stake():
    """
    @notice Withdraw the whole stake once the exit delay has passed.
    """
    exit_after: uint256 = self.exit_after[msg.sender]
    assert exit_after != 0, "registry: no exit requested"
    assert block.timestamp >= exit_after, "registry: exit delay not over"
    amount: uint256 = self.stake[msg.sender]
    self.stake[msg.sender] = 0
    self.exit_after[msg.sender] = 0
    log StakeWithdrawn(account=msg.sender, amount=amount)
    if amount > 0:
        raw_call(msg.sender, b"", value=amount)


@external
def authorize_slasher(slasher: address):
    """
    @notice The admin lets the contract `slasher` take stake (see `slash`); for good.
    @param slasher A deployed contract, not yet authorized.
    """
    assert msg.sender == ADMIN, "registry: only the admin authorizes slashers"
    assert not self.slashers_frozen, "registry: slashers are frozen"
    assert slasher.is_contract, "registry: slasher is not a contract"
    assert not self.slashers[slasher], "registry: slasher already authorized"
    self.slashers[slasher] = True
    log SlasherAuthorized(slasher=slasher, admin=msg.sender)


@external
def freeze_slashers():
    """
    @notice The admin closes the list of slashers for good.
    """
    assert msg.sender == ADMIN, "registry: only the admin freezes slashers"
    assert not self.slashers_frozen, "registry: slashers are frozen"
    self.slashers_frozen = True
    log SlashersFrozen(admin=msg.sender)


@external
@nonreentrant
def slash(account: address, amount: uint256) -> uint256:
    """
    @notice An authorized slasher takes up to `amount` of `account`'s stake, also while its
            exit is pending, and receives it (the caller must accept ether).
    @return The wei taken: min(amount, stake), 0 when the account has no stake.
    """
    assert self.slashers[msg.sender], "registry: caller is not an authorized slasher"
    taken: uint256 = min(amount, self.stake[account])
    if taken == 0:
        return 0
    self.stake[account] -= taken
    log Slashed(account=account, slasher=msg.sender, amount=taken)
    raw_call(msg.sender, b"", value=taken)
    return taken


@external
@view
def has_role(account: address, role: uint256) -> bool:
    """
    @notice Whether ``account`` currently holds every role bit in ``role``.
    """
    return role != 0 and self.roles[account] & role == role
