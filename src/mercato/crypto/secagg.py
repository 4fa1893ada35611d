"""Secure aggregation by pairwise masking with dropout recovery (Bonawitz et al. 2017, SecAgg).

Protocol, one round. Parties (data owners) have indices ``0 .. n-1`` and a shared ``context``
(task and round, so that masks are never reused across rounds):

1. Each party is created (:meth:`SecAggParty.create`) with an X25519 key pair and a random
   32-byte self seed ``b_i``; it publishes its public key and
   :attr:`SecAggParty.seed_commitment` (``SHA-256(context || b_i)``).
2. Each party deals (:meth:`SecAggParty.share_secrets`) Shamir shares of ``b_i`` and of its
   X25519 private key, threshold ``t``, one bundle per peer and one for itself, each to be
   sealed to its holder.
3. Each party masks (:meth:`SecAggParty.mask`) its float update ``x_i``::

       y_i = q(x_i) + PRG(b_i) + sum_{j>i} PRG(s_ij) - sum_{j<i} PRG(s_ij)   (mod 2**32)

   with ``s_ij = HKDF-SHA256(X25519(sk_i, pk_j))`` bound to the context and the sorted pair.
4. Parties whose masked vector does not arrive are *dropped*. For every owner, each surviving
   holder reveals (:func:`reveal_share`) exactly one half of its bundle: the self-seed share
   if the owner survived, the key share if it dropped; never both.
5. Anyone runs :func:`unmask` on the published masked vectors, public keys, commitments and
   revealed shares: it reconstructs each survivor's ``b_i`` and each dropped party's key
   (checked against the commitment and the public key), removes the self masks and the
   dropped parties' pairwise masks, and returns the sum of the survivors' updates. Being a
   pure function of public data, a wrong published aggregate is provable by recomputing it.

Threat model. The aggregator (the model owner) sees only masked vectors, which are uniform
mod ``2**32`` to anyone holding fewer than ``t`` shares of a party's secrets, so individual
updates stay hidden as long as fewer than ``t`` parties collude with it (pick ``t > n/2`` so
that a lying aggregator cannot collect both halves for one party from honest holders). It
learns the sum, nothing else. Secure aggregation does NOT resist poisoning: the aggregator
cannot inspect individual updates, so robust rules (Multi-Krum, median, trimmed mean) need
the robust mode, where updates are visible to the aggregator. Parties are assumed to follow
the protocol when sharing (a party that hands out bad shares is caught by the integrity checks
at unmask time, but cannot be recovered).

Fixed point. Values are scaled by :data:`SCALE` (``2**16``), rounded, and taken mod
:data:`MODULUS` (``2**32``); the sum is read back as a signed 32-bit integer. For ``n``
parties each value must satisfy ``|x| <= max_abs(n)`` (``(2**31 - 1) // n / 2**16``, about
3276 for 10 parties) so the sum cannot wrap; the quantisation error of a sum is at most
``n / 2**17``. NumPy ``uint32`` array arithmetic wraps mod ``2**32``, which is exactly the
group we work in.

PRG. A seed is the key of AES-256-CTR (zero nonce; each seed keys one stream) encrypting
zeros; the key stream is read as little-endian ``uint32``.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np
from Crypto.Protocol.SecretSharing import Shamir
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from numpy.typing import ArrayLike, NDArray

from mercato.errors import InputError, IntegrityError, ProtocolError

SCALE_BITS = 16
SCALE: int = 1 << SCALE_BITS
MODULUS: int = 1 << 32
INT32_MAX: int = (1 << 31) - 1
KEY_SIZE = 32
SEED_SIZE = 32
MAX_PARTIES: int = 1 << 16
PAIR_INFO = b"mercato-secagg-pair-v1"
SEED_COMMITMENT_TAG = b"mercato-secagg-seed-v1"
DERIVE_KEY_INFO = b"mercato-secagg-derive-key-v1"
DERIVE_SEED_INFO = b"mercato-secagg-derive-seed-v1"
# Shamir in pycryptodome shares 16-byte secrets; 32-byte secrets go as two halves.
_HALF = 16
_SEED, _KEY = 0, 1
_KIND_NAMES = {_SEED: "self seed", _KEY: "private key"}
_HEADER = struct.Struct(">BHHHH")  # kind, owner, holder, share x, threshold
SHARE_SIZE = _HEADER.size + 2 * _HALF

Masked = NDArray[np.uint32]


def max_abs(n_parties: int) -> float:
    """Largest ``|value|`` that ``n_parties`` updates may hold so that their sum cannot wrap."""
    return (INT32_MAX // n_parties) / SCALE


def quantise(values: ArrayLike, n_parties: int) -> Masked:
    """Fixed-point ``round(values * SCALE) mod 2**32``; :class:`InputError` if out of range."""
    x = np.asarray(values, dtype=np.float64)
    if x.ndim != 1:
        raise InputError(f"an update must be a flat vector, got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise InputError("an update holds NaN or infinity")
    limit = max_abs(n_parties)
    worst = float(np.max(np.abs(x), initial=0.0))
    if worst > limit:
        raise InputError(
            f"update value {worst:g} exceeds {limit:g}, the largest that {n_parties} parties "
            f"can sum at scale 2**{SCALE_BITS}; clip or rescale the update first"
        )
    wrapped: Masked = (np.rint(x * SCALE).astype(np.int64) % MODULUS).astype(np.uint32)
    return wrapped


def dequantise(total: Masked) -> NDArray[np.float64]:
    """Read a sum mod ``2**32`` back as signed fixed point and divide by :data:`SCALE`."""
    signed = np.asarray(total, dtype=np.uint32).view(np.int32)
    result: NDArray[np.float64] = signed.astype(np.float64) / SCALE
    return result


def prg(seed: bytes, length: int) -> Masked:
    """Expand a 32-byte seed to ``length`` uniform ``uint32`` with AES-256-CTR."""
    encryptor = Cipher(algorithms.AES256(seed), modes.CTR(bytes(16))).encryptor()
    stream = encryptor.update(bytes(4 * length)) + encryptor.finalize()
    return np.frombuffer(stream, dtype="<u4").astype(np.uint32)


def pairwise_seed(
    private: X25519PrivateKey, peer_public: bytes, context: bytes, i: int, j: int
) -> bytes:
    """``s_ij``: HKDF-SHA256 of the X25519 secret, bound to the context and the sorted pair."""
    low, high = sorted((i, j))
    info = PAIR_INFO + struct.pack(">I", len(context)) + context + struct.pack(">HH", low, high)
    shared = private.exchange(_public_key(peer_public, j))
    return HKDF(algorithm=hashes.SHA256(), length=SEED_SIZE, salt=None, info=info).derive(shared)


def seed_commitment(self_seed: bytes, context: bytes) -> bytes:
    """``SHA-256(tag || len(context) || context || b_i)``: anyone can check a recovered seed."""
    return hashlib.sha256(
        SEED_COMMITMENT_TAG + struct.pack(">I", len(context)) + context + self_seed
    ).digest()


@dataclass(frozen=True)
class SecAggParty:
    """One data owner's secrets for one round: X25519 key pair and self seed ``b_i``."""

    index: int
    context: bytes
    _private: X25519PrivateKey = field(repr=False)
    _self_seed: bytes = field(repr=False)

    @classmethod
    def create(cls, index: int, context: bytes) -> SecAggParty:
        """Fresh key pair and self seed from the operating system's CSPRNG."""
        _check_index(index)
        return cls(
            index, bytes(context), X25519PrivateKey.generate(), secrets.token_bytes(SEED_SIZE)
        )

    @classmethod
    def derive(cls, index: int, context: bytes, secret: bytes) -> SecAggParty:
        """Key pair and self seed derived from a long-term ``secret`` and the ``context``.

        HKDF-SHA256 with distinct labels: the same secret and context give the same party, so
        a data owner's agent can recompute its round secrets after a restart instead of
        storing them; different contexts (rounds) give unrelated ones. ``secret`` must be at
        least 32 bytes of key material that nobody else holds.
        """
        _check_index(index)
        if not isinstance(secret, bytes | bytearray) or len(secret) < KEY_SIZE:
            raise InputError(f"a derivation secret must be at least {KEY_SIZE} bytes")
        key = _derive(bytes(secret), DERIVE_KEY_INFO, context)
        seed = _derive(bytes(secret), DERIVE_SEED_INFO, context)
        return cls(index, bytes(context), X25519PrivateKey.from_private_bytes(key), seed)

    @property
    def public_key(self) -> bytes:
        """The 32-byte raw X25519 public key, to publish."""
        return self._private.public_key().public_bytes_raw()

    @property
    def seed_commitment(self) -> bytes:
        """Commitment to ``b_i``, to publish beside the public key."""
        return seed_commitment(self._self_seed, self.context)

    def share_secrets(self, peers_public: Mapping[int, bytes], threshold: int) -> dict[int, bytes]:
        """Shamir-share ``b_i`` and the private key among the peers and itself, ``threshold``
        needed.

        Returns one bundle of :data:`SHARE_SIZE` x 2 bytes per holder, to be sealed to it: one
        per peer and one for this party (as in SecAgg, where the dealer is among the holders),
        so that any ``threshold`` surviving parties can rebuild a survivor's seed, the
        survivor included, and a dropped party's key without it.
        """
        holders = sorted([*self._check_peers(peers_public), self.index])
        if not 2 <= threshold <= len(holders):
            raise InputError(
                f"threshold must be between 2 and {len(holders)} (the peers and this party), "
                f"got {threshold}"
            )
        seed_shares = _split(self._self_seed, threshold, len(holders))
        key_shares = _split(self._private.private_bytes_raw(), threshold, len(holders))
        bundles = {}
        for (x, seed_part), (_, key_part), holder in zip(
            seed_shares, key_shares, holders, strict=True
        ):
            seed_record = _HEADER.pack(_SEED, self.index, holder, x, threshold) + seed_part
            key_record = _HEADER.pack(_KEY, self.index, holder, x, threshold) + key_part
            bundles[holder] = seed_record + key_record
        return bundles

    def mask(self, update: ArrayLike, peers_public: Mapping[int, bytes]) -> Masked:
        """``q(x_i) + PRG(b_i) + sum_{j>i} PRG(s_ij) - sum_{j<i} PRG(s_ij)`` mod ``2**32``."""
        peers = self._check_peers(peers_public)
        masked = quantise(update, len(peers) + 1)
        masked += prg(self._self_seed, masked.size)
        for j in peers:
            mask = prg(
                pairwise_seed(self._private, peers_public[j], self.context, self.index, j),
                masked.size,
            )
            if j > self.index:
                masked += mask
            else:
                masked -= mask
        return masked

    def _check_peers(self, peers_public: Mapping[int, bytes]) -> list[int]:
        if self.index in peers_public:
            raise InputError(f"party {self.index} is listed among its own peers")
        if not peers_public:
            raise InputError("secure aggregation needs at least one peer")
        for j, key in peers_public.items():
            _check_index(j)
            _public_key(key, j)
        return sorted(peers_public)


def reveal_share(bundle: bytes, *, owner_survived: bool) -> bytes:
    """The half of a share bundle that a holder may reveal: seed share if the owner survived."""
    if not isinstance(bundle, bytes | bytearray) or len(bundle) != 2 * SHARE_SIZE:
        raise InputError(f"a share bundle must be {2 * SHARE_SIZE} bytes")
    return bytes(bundle[:SHARE_SIZE] if owner_survived else bundle[SHARE_SIZE:])


def unmask(
    masked: Mapping[int, ArrayLike],
    public_keys: Mapping[int, bytes],
    seed_commitments: Mapping[int, bytes],
    revealed: Iterable[bytes],
    context: bytes,
) -> NDArray[np.float64]:
    """Sum of the survivors' updates from published data alone.

    ``masked`` holds the survivors' masked vectors; ``public_keys`` and ``seed_commitments``
    every party that took part in masking (those absent from ``masked`` dropped); ``revealed``
    the shares from :func:`reveal_share`. Raises :class:`InputError` on malformed input,
    :class:`ProtocolError` when fewer than ``t`` shares of a needed secret were revealed, and
    :class:`IntegrityError` when a reconstructed secret does not match what its owner published.
    """
    if not masked:
        raise InputError("no masked vectors to aggregate")
    if set(public_keys) != set(seed_commitments):
        raise InputError("public keys and seed commitments must list the same parties")
    unknown = sorted(set(masked) - set(public_keys))
    if unknown:
        raise InputError(
            f"masked vectors from unknown parties {unknown}; only joined parties count"
        )
    vectors = {i: _check_masked(v, i) for i, v in masked.items()}
    lengths = {v.size for v in vectors.values()}
    if len(lengths) != 1:
        raise InputError(f"masked vectors differ in length: {sorted(lengths)}")
    length = lengths.pop()
    survivors = sorted(vectors)
    dropped = sorted(set(public_keys) - set(vectors))
    shares = _group_shares(revealed, public_keys, set(survivors))

    total = np.zeros(length, dtype=np.uint32)
    for v in vectors.values():
        total += v
    for i in survivors:
        seed = _combine(shares.get((_SEED, i), {}), _SEED, i)
        if not hmac.compare_digest(seed_commitment(seed, context), seed_commitments[i]):
            raise IntegrityError(
                f"reconstructed self seed of party {i} does not match its commitment"
            )
        total -= prg(seed, length)
    for d in dropped:
        private = X25519PrivateKey.from_private_bytes(_combine(shares.get((_KEY, d), {}), _KEY, d))
        if private.public_key().public_bytes_raw() != public_keys[d]:
            raise IntegrityError(
                f"reconstructed private key of party {d} does not match its public key"
            )
        for i in survivors:
            mask = prg(pairwise_seed(private, public_keys[i], context, d, i), length)
            # survivor i added PRG(s_id) when d > i and subtracted it when d < i
            if d > i:
                total -= mask
            else:
                total += mask
    return dequantise(total)


def _derive(secret: bytes, label: bytes, context: bytes) -> bytes:
    info = label + struct.pack(">I", len(context)) + context
    return HKDF(algorithm=hashes.SHA256(), length=SEED_SIZE, salt=None, info=info).derive(secret)


def _split(secret: bytes, threshold: int, n: int) -> list[tuple[int, bytes]]:
    low = Shamir.split(threshold, n, secret[:_HALF], ssss=False)
    high = Shamir.split(threshold, n, secret[_HALF:], ssss=False)
    return [(x, a + b) for (x, a), (_, b) in zip(low, high, strict=True)]


def _combine(shares: Mapping[int, tuple[int, bytes]], kind: int, owner: int) -> bytes:
    thresholds = {t for t, _ in shares.values()}
    if len(thresholds) > 1:
        raise InputError(f"shares of party {owner}'s {_KIND_NAMES[kind]} disagree on the threshold")
    needed = thresholds.pop() if thresholds else None
    if needed is None or len(shares) < needed:
        raise ProtocolError(
            f"only {len(shares)} shares of party {owner}'s {_KIND_NAMES[kind]} were revealed, "
            f"{needed or 'more'} needed; wait for more holders to reveal"
        )
    # pycryptodome wants exactly the threshold number of shares
    chosen = sorted(shares.items())[:needed]
    low = Shamir.combine([(x, part[:_HALF]) for x, (_, part) in chosen], ssss=False)
    high = Shamir.combine([(x, part[_HALF:]) for x, (_, part) in chosen], ssss=False)
    return bytes(low + high)


def _group_shares(
    revealed: Iterable[bytes], public_keys: Mapping[int, bytes], survivors: set[int]
) -> dict[tuple[int, int], dict[int, tuple[int, bytes]]]:
    grouped: dict[tuple[int, int], dict[int, tuple[int, bytes]]] = {}
    for record in revealed:
        if not isinstance(record, bytes | bytearray) or len(record) != SHARE_SIZE:
            raise InputError(f"a revealed share must be {SHARE_SIZE} bytes")
        kind, owner, holder, x, threshold = _HEADER.unpack_from(record)
        if kind not in _KIND_NAMES or owner not in public_keys or holder not in public_keys:
            raise InputError(
                f"share of kind {kind} from party {owner} to {holder} names an unknown party"
            )
        if (kind == _KEY) == (owner in survivors):
            want = "self seed" if owner in survivors else "private key"
            raise InputError(
                f"revealed the {_KIND_NAMES[kind]} share of party {owner}, which needs its {want}"
            )
        grouped.setdefault((kind, owner), {})[x] = (threshold, bytes(record[_HEADER.size :]))
    return grouped


def _check_masked(vector: ArrayLike, index: int) -> Masked:
    array = np.asarray(vector)
    if array.ndim != 1 or array.dtype != np.uint32:
        raise InputError(f"masked vector of party {index} must be a flat uint32 array")
    return array


def _check_index(index: int) -> None:
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < MAX_PARTIES:
        raise InputError(f"party index must be an int in [0, {MAX_PARTIES}), got {index!r}")


def _public_key(raw: bytes, index: int) -> X25519PublicKey:
    if not isinstance(raw, bytes | bytearray) or len(raw) != KEY_SIZE:
        raise InputError(f"public key of party {index} must be {KEY_SIZE} raw bytes")
    return X25519PublicKey.from_public_bytes(bytes(raw))
