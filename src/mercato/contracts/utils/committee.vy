# pragma version ~=0.4.3
"""
@title A committee that commits, then reveals, then follows its majority
@notice Shared module (P4's executors score models, P5's replicas re-execute a disputed step):
        members of a committee named by `key` commit to a hidden vote, reveal it, and the
        vote that at least `needed` members revealed wins. The protocol contract keeps
        who may act and when (its own masks and deadlines) and what the vote means; this
        module keeps the commitments and the votes, checks each reveal against its
        commitment and finds the majority. Members are numbered 0..MAX_MEMBERS-1 within a
        committee; `revealed` masks carry one bit per member.
"""

from utils import bits

MAX_MEMBERS: constant(uint256) = 32

_commitments: HashMap[bytes32, HashMap[uint256, bytes32]]
_votes: HashMap[bytes32, HashMap[uint256, bytes32]]


@internal
def _commit(key: bytes32, member: uint256, commitment: bytes32):
    """Record `member`'s commitment (once)."""
    assert commitment != empty(bytes32), "committee: empty commitment"
    assert self._commitments[key][member] == empty(bytes32), "committee: already committed"
    self._commitments[key][member] = commitment


@internal
def _reveal(key: bytes32, member: uint256, opened: bytes32, vote: bytes32):
    """Record `member`'s vote; `opened` is the commitment its reveal hashes to."""
    assert self._commitments[key][member] != empty(bytes32), "committee: nothing to reveal"
    assert self._votes[key][member] == empty(bytes32), "committee: already revealed"
    assert opened == self._commitments[key][member], "committee: reveal does not match the commitment"
    self._votes[key][member] = vote


@internal
def _set_vote(key: bytes32, member: uint256, vote: bytes32):
    """Record a vote that needs no commitment (for example one already signed off chain)."""
    self._votes[key][member] = vote


@view
@internal
def _majority(key: bytes32, revealed: uint256, needed: uint256) -> (bytes32, uint256):
    """The vote that at least `needed` of the `revealed` members cast, and who cast it;
    (empty, 0) if none."""
    for i: uint256 in range(MAX_MEMBERS):
        if revealed >> i == 0:
            break
        if (revealed >> i) & 1 == 0:
            continue
        vote: bytes32 = self._votes[key][i]
        agreed: uint256 = 0
        for j: uint256 in range(MAX_MEMBERS):
            if revealed >> j == 0:
                break
            if (revealed >> j) & 1 == 1 and self._votes[key][j] == vote:
                agreed |= 1 << j
        if bits._count(agreed) >= needed:
            return vote, agreed
    return empty(bytes32), 0
