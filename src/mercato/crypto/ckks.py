"""CKKS model privacy (TenSEAL): compute providers train a logistic regression they never see.

Roles. The model owner (MO) creates a :class:`CkksContext`, which holds the secret key, and
hands compute providers (COs) its public part (:meth:`CkksContext.public`: public, relin and
Galois keys, no secret key). The MO encrypts the weights; a CO runs
:func:`encrypted_logreg_step` on the ciphertext with its own plaintext data and returns a
ciphertext; only the MO can decrypt. A CO can encrypt (it holds the public key) but not
decrypt: TenSEAL refuses without the secret key, and :func:`decrypt_weights` says so first.

Parameters (:data:`POLY_MODULUS_DEGREE`, :data:`COEFF_MOD_BIT_SIZES`,
:data:`GLOBAL_SCALE_BITS`). Degree 8192 gives 4096 slots and allows a coefficient modulus of
at most 218 bits at 128-bit security (SEAL refuses more). ``49 + 4 x 30 + 49 = 218``: four
30-bit primes pay for the four rescales of one step (data product, two ciphertext products
of the polynomial, gradient product), at a scale of ``2**30``; the 49-bit first prime leaves
19 bits for the integer part of results, and the last 49-bit prime is the special prime of
key switching. One step uses up the chain, so the MO decrypts and re-encrypts between steps
(it aggregates in plaintext anyway); a CO cannot refresh a ciphertext without the key.

Model. Binary logistic regression, weights ``[w_1 .. w_d, b]`` (bias last), probability
``sigmoid(x . w + b)``. The sigmoid is replaced by the odd least-squares polynomial
``1/2 + a1 z + a3 z^3`` fitted on ``[-8, 8]`` (:data:`SIGMOID_COEFFICIENTS`, about
``0.1501 z - 0.001592 z^3``); it is off by at most 0.114 on the interval (at its ends),
and outside it the cubic turns back, so features must be standardised and the learning rate
small enough that ``|x . w + b|`` stays within 8. One step is one full-batch gradient step of mean
cross-entropy: ``w <- w - lr / n * X1^T (p(X1 w) - y)`` with ``X1 = [X | 1]``.
:func:`plain_logreg_step` is the same step in NumPy with the same polynomial, the reference
that CKKS results are compared with.

Approximate and randomised. Encryption is randomised, so ciphertext bytes differ between
replicas even for the same inputs; the decrypted results agree within CKKS noise (about
``1e-5`` per weight after one step, measured). Replica consensus in CKKS mode therefore
compares decrypted weights with :func:`within_tolerance` and :data:`CKKS_TOLERANCE`.

TenSEAL detail worth knowing: adding a plaintext *vector* to a ciphertext encodes it into
every slot, not just the first ``size``, and a later matrix product then mixes those copies
in. The step therefore adds its plaintext term as a fresh encryption, keeping unused slots
zero.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from mercato.errors import InputError

POLY_MODULUS_DEGREE = 8192
COEFF_MOD_BIT_SIZES: tuple[int, ...] = (49, 30, 30, 30, 30, 49)
GLOBAL_SCALE_BITS = 30
SLOTS = POLY_MODULUS_DEGREE // 2
# TenSEAL's vector-matrix product replicates the vector once, so it needs twice its size.
MAX_CHUNK = SLOTS // 2
SIGMOID_INTERVAL = 8.0
SIGMOID_FIT_POINTS = 4001
CKKS_TOLERANCE = 1e-3
MAX_CIPHERTEXT_BYTES = 64 * 1024 * 1024
MAX_CONTEXT_BYTES = 512 * 1024 * 1024

Vector = NDArray[np.float64]


def fit_odd_sigmoid(interval: float = SIGMOID_INTERVAL) -> tuple[float, float, float]:
    """``(1/2, a1, a3)``: least-squares fit of ``sigmoid(z) - 1/2`` by ``a1 z + a3 z^3``.

    Uniform grid of :data:`SIGMOID_FIT_POINTS` points on ``[-interval, interval]``. The fit of
    ``sigmoid`` by a full cubic on a symmetric interval has the same coefficients (its even
    part is the constant 1/2), so nothing is lost by fitting the odd part alone.
    """
    z = np.linspace(-interval, interval, SIGMOID_FIT_POINTS)
    basis = np.stack([z, z**3], axis=1)
    (a1, a3), *_ = np.linalg.lstsq(basis, 1.0 / (1.0 + np.exp(-z)) - 0.5, rcond=None)
    return 0.5, float(a1), float(a3)


SIGMOID_COEFFICIENTS: tuple[float, float, float] = fit_odd_sigmoid()


def poly_sigmoid(z: Vector) -> Vector:
    """The polynomial sigmoid ``1/2 + a1 z + a3 z^3`` used in both modes."""
    a0, a1, a3 = SIGMOID_COEFFICIENTS
    result: Vector = a0 + z * (a1 + a3 * z * z)
    return result


class CkksContext:
    """A TenSEAL CKKS context: with the secret key on the MO's side, without it on a CO's."""

    def __init__(self, raw: Any) -> None:
        self._raw = raw

    @classmethod
    def create(cls) -> CkksContext:
        """A fresh key set (secret, public, relinearisation and Galois keys)."""
        import tenseal as ts

        raw = ts.context(
            ts.SCHEME_TYPE.CKKS,
            poly_modulus_degree=POLY_MODULUS_DEGREE,
            coeff_mod_bit_sizes=list(COEFF_MOD_BIT_SIZES),
        )
        raw.global_scale = 2.0**GLOBAL_SCALE_BITS
        raw.generate_galois_keys()
        return cls(raw)

    @classmethod
    def from_bytes(cls, data: bytes) -> CkksContext:
        """Load :meth:`to_bytes` output; InputError if TenSEAL cannot read it."""
        import tenseal as ts

        _check_bytes("context", data, MAX_CONTEXT_BYTES)
        try:
            return cls(ts.context_from(bytes(data)))
        except (ValueError, RuntimeError, TypeError) as exc:
            raise InputError(f"ckks: not a readable TenSEAL context: {exc}") from None

    @property
    def has_secret_key(self) -> bool:
        """Whether this context can decrypt."""
        return bool(self._raw.has_secret_key())

    @property
    def raw(self) -> Any:
        """The underlying ``tenseal.Context``."""
        return self._raw

    def public(self) -> CkksContext:
        """A copy without the secret key: what the MO hands to compute providers."""
        raw = self._raw.copy()
        if raw.has_secret_key():
            raw.make_context_public()
        return CkksContext(raw)

    def to_bytes(self, *, include_secret_key: bool = False) -> bytes:
        """Serialised context; the secret key only when asked for (the MO's own backup)."""
        if include_secret_key and not self.has_secret_key:
            raise InputError("ckks: this context holds no secret key to include")
        data: bytes = self._raw.serialize(save_secret_key=include_secret_key)
        return data


@dataclass(frozen=True, eq=False)
class EncryptedWeights:
    """A CKKS ciphertext of a weight vector, bound to a context."""

    raw: Any
    size: int

    def to_bytes(self) -> bytes:
        """The ciphertext's bytes (randomised: equal weights give different bytes)."""
        data: bytes = self.raw.serialize()
        return data

    @classmethod
    def from_bytes(cls, context: CkksContext, data: bytes) -> EncryptedWeights:
        """Load a ciphertext under ``context``; InputError if TenSEAL cannot read it."""
        import tenseal as ts

        _check_bytes("ciphertext", data, MAX_CIPHERTEXT_BYTES)
        try:
            raw = ts.ckks_vector_from(context.raw, bytes(data))
        except (ValueError, RuntimeError, TypeError) as exc:
            raise InputError(f"ckks: not a readable CKKS vector: {exc}") from None
        return cls(raw, int(raw.size()))


def encrypt_weights(context: CkksContext, weights: Sequence[float] | Vector) -> EncryptedWeights:
    """Encrypt a finite 1-D vector of at most :data:`MAX_CHUNK` values."""
    import tenseal as ts

    values = np.asarray(weights, dtype=np.float64)
    if values.ndim != 1 or not 1 <= len(values) <= MAX_CHUNK:
        raise InputError(f"ckks: weights must be a vector of 1 to {MAX_CHUNK} values")
    if not np.isfinite(values).all():
        raise InputError("ckks: weights hold NaN or infinite values")
    return EncryptedWeights(ts.ckks_vector(context.raw, values.tolist()), len(values))


def decrypt_weights(context: CkksContext, encrypted: EncryptedWeights) -> Vector:
    """Decrypt with the MO's secret key; InputError for a context without one."""
    if not context.has_secret_key:
        raise InputError("ckks: this context holds no secret key; only the model owner decrypts")
    try:
        return np.array(encrypted.raw.decrypt(context.raw.secret_key()), dtype=np.float64)
    except ValueError as exc:
        raise InputError(f"ckks: cannot decrypt: {exc}") from None


def encrypted_logreg_step(
    encrypted: EncryptedWeights,
    X: NDArray[np.floating[Any]],
    y: NDArray[np.integer[Any]],
    learning_rate: float,
) -> EncryptedWeights:
    """One full-batch gradient step on encrypted weights with plaintext ``X`` and 0/1 ``y``.

    Needs only the public context the ciphertext is bound to. Examples are processed in
    chunks of at most :data:`MAX_CHUNK`; each chunk costs about ``n_chunk + 2 (d + 1)``
    rotations. The input must be a fresh encryption (a step uses up the modulus chain).
    """
    import tenseal as ts

    X1, targets = _design(X, y, encrypted.size, learning_rate)
    n = len(targets)
    a0, a1, a3 = SIGMOID_COEFFICIENTS
    w = encrypted.raw
    try:
        step = None
        for first in range(0, n, MAX_CHUNK):
            rows = X1[first : first + MAX_CHUNK]
            z = w.matmul(rows.T.tolist())
            a3_z = w.matmul((a3 * rows.T).tolist())
            odd = (a3_z * z + a1) * z  # p(z) - 1/2
            part = odd.matmul((-learning_rate / n * rows).tolist())
            step = part if step is None else step + part
        # the part of the gradient that does not depend on w, added as a fresh encryption
        constant = -learning_rate / n * (a0 - targets) @ X1
        result = w + step + ts.ckks_vector(w.context(), constant.tolist())
    except ValueError as exc:
        raise InputError(
            f"ckks: cannot run the step ({exc}); the weights must be a fresh encryption"
        ) from None
    return EncryptedWeights(result, encrypted.size)


def plain_logreg_step(
    weights: Vector, X: NDArray[np.floating[Any]], y: NDArray[np.integer[Any]], learning_rate: float
) -> Vector:
    """The same step as :func:`encrypted_logreg_step` in NumPy, with the same polynomial."""
    values = np.asarray(weights, dtype=np.float64)
    X1, targets = _design(X, y, len(values), learning_rate)
    gradient = X1.T @ (poly_sigmoid(X1 @ values) - targets) / len(targets)
    result: Vector = values - learning_rate * gradient
    return result


def logreg_predict(weights: Vector, X: NDArray[np.floating[Any]]) -> NDArray[np.int64]:
    """Class 1 where ``x . w + b >= 0`` (probability at least 1/2), else class 0."""
    values = np.asarray(weights, dtype=np.float64)
    scores = np.asarray(X, dtype=np.float64) @ values[:-1] + values[-1]
    labels: NDArray[np.int64] = (scores >= 0).astype(np.int64)
    return labels


def fit_logreg(
    X: NDArray[np.floating[Any]],
    y: NDArray[np.integer[Any]],
    epochs: int,
    learning_rate: float,
    context: CkksContext | None = None,
) -> Vector:
    """Train from zero weights for ``epochs`` full-batch steps, encrypted if given a context.

    With a context, each epoch plays both roles: the MO encrypts, a CO steps under the public
    context (through bytes, as on the wire), the MO decrypts.
    """
    weights = np.zeros(np.shape(X)[1] + 1)
    public = context.public() if context is not None else None
    for _ in range(epochs):
        if context is None or public is None:
            weights = plain_logreg_step(weights, X, y, learning_rate)
            continue
        sent = encrypt_weights(context, weights).to_bytes()
        returned = encrypted_logreg_step(
            EncryptedWeights.from_bytes(public, sent), X, y, learning_rate
        ).to_bytes()
        weights = decrypt_weights(context, EncryptedWeights.from_bytes(context, returned))
    return weights


def within_tolerance(a: Vector, b: Vector, tol: float = CKKS_TOLERANCE) -> bool:
    """Whether two decrypted weight vectors agree: same length, every entry within ``tol``."""
    left, right = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if left.shape != right.shape:
        return False
    return bool(np.all(np.abs(left - right) <= tol))


def _design(
    X: NDArray[np.floating[Any]], y: NDArray[np.integer[Any]], size: int, learning_rate: float
) -> tuple[Vector, Vector]:
    features = np.asarray(X, dtype=np.float64)
    labels = np.asarray(y)
    if features.ndim != 2 or labels.shape != (len(features),) or len(features) == 0:
        raise InputError("ckks: need X of shape (n, d) and y of shape (n,) with n > 0")
    if features.shape[1] + 1 != size:
        raise InputError(
            f"ckks: {size} weights need {size - 1} features (bias last), X has {features.shape[1]}"
        )
    if not np.isin(labels, (0, 1)).all():
        raise InputError("ckks: binary logistic regression needs labels 0 and 1")
    if not np.isfinite(features).all():
        raise InputError("ckks: X holds NaN or infinite values")
    if not 0 < learning_rate < np.inf:
        raise InputError(f"ckks: learning rate must be positive, got {learning_rate}")
    design = np.hstack([features, np.ones((len(features), 1))])
    return design, labels.astype(np.float64)


def _check_bytes(what: str, data: bytes, limit: int) -> None:
    if not isinstance(data, bytes | bytearray) or not data:
        raise InputError(f"ckks: {what} must be non-empty bytes")
    if len(data) > limit:
        raise InputError(f"ckks: {what} is larger than {limit} bytes")
