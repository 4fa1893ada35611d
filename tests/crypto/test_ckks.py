"""CKKS model privacy: compute providers step an encrypted logistic regression they cannot read."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from mercato.crypto.ckks import (
    CKKS_TOLERANCE,
    SIGMOID_COEFFICIENTS,
    SIGMOID_INTERVAL,
    CkksContext,
    EncryptedWeights,
    decrypt_weights,
    encrypt_weights,
    encrypted_logreg_step,
    fit_logreg,
    logreg_predict,
    plain_logreg_step,
    poly_sigmoid,
    within_tolerance,
)
from mercato.errors import InputError
from mercato.ml import load_dataset

STEP_EXAMPLES = 48  # the cost of a step grows with the examples: keep unit tests small
STEP_FEATURES = 6
LEARNING_RATE = 0.1
ACCURACY_EXAMPLES = 200
ACCURACY_EPOCHS = 3
ACCURACY_GAP = 0.03  # the goal: within 3 points of plaintext logistic regression


@pytest.fixture(scope="module")
def context() -> Iterator[CkksContext]:
    """The model owner's context, with the secret key (key generation takes about a second)."""
    yield CkksContext.create()


@pytest.fixture(scope="module")
def public(context: CkksContext) -> CkksContext:
    """What a compute provider receives: the public context, read back from its bytes."""
    return CkksContext.from_bytes(context.public().to_bytes())


@pytest.fixture(scope="module")
def small_data() -> tuple[np.ndarray, np.ndarray]:
    """A few standardised breast-cancer examples and features, labels 0 and 1."""
    cancer = load_dataset("breast_cancer")
    X = StandardScaler().fit_transform(cancer.X[:STEP_EXAMPLES, :STEP_FEATURES])
    return X, cancer.y[:STEP_EXAMPLES]


def test_weights_survive_encryption_within_ckks_noise(context: CkksContext) -> None:
    weights = np.random.default_rng(0).normal(size=31)

    encrypted = encrypt_weights(context, weights)
    restored = EncryptedWeights.from_bytes(context, encrypted.to_bytes())

    assert restored.size == 31
    np.testing.assert_allclose(decrypt_weights(context, restored), weights, atol=1e-5)


def test_encryption_is_randomised(context: CkksContext) -> None:
    weights = np.ones(5)

    first = encrypt_weights(context, weights).to_bytes()
    second = encrypt_weights(context, weights).to_bytes()

    assert first != second


def test_the_public_context_cannot_decrypt(context: CkksContext, public: CkksContext) -> None:
    ciphertext = encrypt_weights(context, np.arange(4.0)).to_bytes()
    at_provider = EncryptedWeights.from_bytes(public, ciphertext)

    assert context.has_secret_key and not public.has_secret_key
    with pytest.raises(ValueError, match="doesn't hold a secret_key"):
        at_provider.raw.decrypt()  # TenSEAL itself refuses, not only our wrapper
    with pytest.raises(InputError, match="only the model owner decrypts"):
        decrypt_weights(public, at_provider)
    with pytest.raises(InputError, match="holds no secret key to include"):
        public.to_bytes(include_secret_key=True)


def test_the_secret_key_leaves_only_when_asked(context: CkksContext) -> None:
    shared = CkksContext.from_bytes(context.to_bytes())
    backup = CkksContext.from_bytes(context.to_bytes(include_secret_key=True))

    assert not shared.has_secret_key
    assert backup.has_secret_key


def test_a_provider_step_needs_no_secret_key_and_matches_plaintext(
    context: CkksContext, public: CkksContext, small_data: tuple[np.ndarray, np.ndarray]
) -> None:
    X, y = small_data
    weights = np.random.default_rng(1).normal(scale=0.1, size=STEP_FEATURES + 1)
    sent = encrypt_weights(context, weights).to_bytes()

    stepped = encrypted_logreg_step(EncryptedWeights.from_bytes(public, sent), X, y, LEARNING_RATE)
    returned = EncryptedWeights.from_bytes(context, stepped.to_bytes())

    expected = plain_logreg_step(weights, X, y, LEARNING_RATE)
    assert within_tolerance(decrypt_weights(context, returned), expected)


def test_replicas_differ_in_bytes_and_agree_within_tolerance(
    context: CkksContext, public: CkksContext, small_data: tuple[np.ndarray, np.ndarray]
) -> None:
    X, y = small_data
    sent = encrypt_weights(context, np.zeros(STEP_FEATURES + 1)).to_bytes()

    results = [
        encrypted_logreg_step(EncryptedWeights.from_bytes(public, sent), X, y, LEARNING_RATE)
        for _ in range(2)
    ]

    first, second = (r.to_bytes() for r in results)
    assert first != second
    decrypted = [
        decrypt_weights(context, EncryptedWeights.from_bytes(context, b)) for b in (first, second)
    ]
    assert within_tolerance(decrypted[0], decrypted[1], CKKS_TOLERANCE)
    assert not within_tolerance(decrypted[0], decrypted[1] + 10 * CKKS_TOLERANCE)


def test_a_used_ciphertext_cannot_be_stepped_again(
    context: CkksContext, public: CkksContext, small_data: tuple[np.ndarray, np.ndarray]
) -> None:
    X, y = small_data
    encrypted = encrypt_weights(context, np.zeros(STEP_FEATURES + 1))
    once = encrypted_logreg_step(encrypted, X, y, LEARNING_RATE)

    with pytest.raises(InputError, match="must be a fresh encryption"):
        encrypted_logreg_step(once, X, y, LEARNING_RATE)


@pytest.mark.parametrize(
    ("features", "labels", "message"),
    [
        (np.zeros((4, 3)), np.zeros(4, dtype=int), r"7 weights need 6 features \(bias last\)"),
        (np.zeros((4, 6)), np.full(4, 2), "needs labels 0 and 1"),
        (np.zeros((4, 6)), np.zeros(3, dtype=int), r"need X of shape \(n, d\)"),
    ],
)
def test_a_step_rejects_data_that_does_not_fit(
    context: CkksContext, features: np.ndarray, labels: np.ndarray, message: str
) -> None:
    encrypted = encrypt_weights(context, np.zeros(STEP_FEATURES + 1))

    with pytest.raises(InputError, match=message):
        encrypted_logreg_step(encrypted, features, labels, LEARNING_RATE)


def test_garbage_bytes_are_rejected(context: CkksContext) -> None:
    with pytest.raises(InputError, match="not a readable CKKS vector"):
        EncryptedWeights.from_bytes(context, b"not a ciphertext")
    with pytest.raises(InputError, match="not a readable TenSEAL context"):
        CkksContext.from_bytes(b"not a context")


def test_polynomial_sigmoid_is_the_documented_least_squares_fit() -> None:
    z = np.linspace(-SIGMOID_INTERVAL, SIGMOID_INTERVAL, 10_001)

    error = np.abs(poly_sigmoid(z) - 1 / (1 + np.exp(-z)))

    a0, a1, a3 = SIGMOID_COEFFICIENTS
    assert (
        a0 == 0.5
        and a1 == pytest.approx(0.1501, abs=1e-4)
        and a3 == pytest.approx(-0.00159, abs=1e-5)
    )
    assert error.max() < 0.115


def test_within_tolerance_compares_every_entry_and_the_length() -> None:
    assert within_tolerance(np.zeros(3), np.full(3, 1e-4))
    assert not within_tolerance(np.zeros(3), np.array([0.0, 0.0, 1.0]))
    assert not within_tolerance(np.zeros(3), np.zeros(4))


@pytest.mark.slow
def test_ckks_trained_logreg_is_within_three_points_of_plaintext(context: CkksContext) -> None:
    cancer = load_dataset("breast_cancer")
    X_train, X_test, y_train, y_test = train_test_split(
        cancer.X, cancer.y, train_size=ACCURACY_EXAMPLES, random_state=0, stratify=cancer.y
    )
    scaler = StandardScaler().fit(X_train)
    X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)

    encrypted = fit_logreg(X_train, y_train, ACCURACY_EPOCHS, LEARNING_RATE, context=context)
    plain = fit_logreg(X_train, y_train, ACCURACY_EPOCHS, LEARNING_RATE)

    ckks_accuracy = float(np.mean(logreg_predict(encrypted, X_test) == y_test))
    plain_accuracy = float(np.mean(logreg_predict(plain, X_test) == y_test))
    assert abs(ckks_accuracy - plain_accuracy) <= ACCURACY_GAP
    assert plain_accuracy > 0.85
