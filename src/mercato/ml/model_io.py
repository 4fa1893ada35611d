"""Model bytes: pickle out, and a guarded load back in.

scikit-learn models only serialise with pickle, and unpickling runs whatever the bytes name.
Two guards stand between a client and an executor's bytes:

1. the keccak-256 hash must equal the one the executor committed on chain, so the bytes are
   the ones the executor answers for (nobody altered them in the blob store or in transit);
2. the unpickler resolves only the NumPy and scikit-learn names that Mercato's whitelisted
   families produce (see :data:`ALLOWED_GLOBALS`), so a malicious executor cannot name
   ``os.system`` or any other callable.

The second guard matters because the first does not stop a malicious executor: it commits
the hash of whatever bytes it likes. The allow-list follows scikit-learn's private module
paths; when an upgrade moves one, loading fails with IntegrityError naming it, and the test
that loads every family shows where.
"""

from __future__ import annotations

import io
import pickle
from typing import Any

from eth_utils.crypto import keccak

from mercato.errors import InputError, IntegrityError

PICKLE_PROTOCOL = 5
HASH_BYTES = 32

_NUMPY = {
    ("numpy", "dtype"),
    ("numpy", "ndarray"),
    ("numpy.random._mt19937", "MT19937"),
    ("numpy.random._pickle", "__bit_generator_ctor"),
    ("numpy.random._pickle", "__randomstate_ctor"),
} | {
    (f"{core}.{module}", name)
    for core in ("numpy.core", "numpy._core")
    for module, name in (
        ("multiarray", "_reconstruct"),
        ("multiarray", "scalar"),
        ("numeric", "_frombuffer"),
    )
}
_SKLEARN = {
    ("sklearn._loss._loss", "CyHalfBinomialLoss"),
    ("sklearn._loss._loss", "CyHalfMultinomialLoss"),
    ("sklearn._loss._loss", "__pyx_unpickle_CyHalfBinomialLoss"),
    ("sklearn._loss._loss", "__pyx_unpickle_CyHalfMultinomialLoss"),
    ("sklearn._loss.link", "Interval"),
    ("sklearn._loss.link", "LogitLink"),
    ("sklearn._loss.link", "MultinomialLogit"),
    ("sklearn._loss.loss", "HalfBinomialLoss"),
    ("sklearn._loss.loss", "HalfMultinomialLoss"),
    ("sklearn.dummy", "DummyClassifier"),
    ("sklearn.ensemble._forest", "RandomForestClassifier"),
    ("sklearn.ensemble._gb", "GradientBoostingClassifier"),
    ("sklearn.linear_model._logistic", "LogisticRegression"),
    ("sklearn.neural_network._multilayer_perceptron", "MLPClassifier"),
    ("sklearn.neural_network._stochastic_optimizers", "AdamOptimizer"),
    ("sklearn.neural_network._stochastic_optimizers", "SGDOptimizer"),
    ("sklearn.pipeline", "Pipeline"),
    ("sklearn.preprocessing._data", "StandardScaler"),
    ("sklearn.preprocessing._label", "LabelBinarizer"),
    ("sklearn.svm._classes", "SVC"),
    ("sklearn.tree._classes", "DecisionTreeClassifier"),
    ("sklearn.tree._classes", "DecisionTreeRegressor"),
    ("sklearn.tree._tree", "Tree"),
}
ALLOWED_GLOBALS: frozenset[tuple[str, str]] = frozenset(_NUMPY | _SKLEARN)


def dump_model(model: Any) -> bytes:
    """Pickle a fitted model with a fixed protocol, so equal models give equal bytes."""
    return pickle.dumps(model, protocol=PICKLE_PROTOCOL)


def model_digest(model_bytes: bytes) -> bytes:
    """keccak-256 of the model bytes: what the executor commits on chain."""
    return bytes(keccak(model_bytes))


def load_model(model_bytes: bytes, expected_hash: bytes) -> Any:
    """Unpickle a model after checking its hash against the committed one.

    Raises IntegrityError when the hash differs or the bytes name anything outside
    :data:`ALLOWED_GLOBALS`; nothing is unpickled before the hash matches.
    """
    if not isinstance(expected_hash, bytes) or len(expected_hash) != HASH_BYTES:
        raise InputError(f"expected hash must be {HASH_BYTES} bytes")
    actual = model_digest(model_bytes)
    if actual != expected_hash:
        raise IntegrityError(
            f"model hash 0x{actual.hex()} does not match the committed 0x{expected_hash.hex()}"
        )
    try:
        return _AllowListUnpickler(io.BytesIO(model_bytes)).load()
    except IntegrityError:
        raise
    except Exception as exc:  # a corrupt pickle can fail in many ways; all mean the same
        raise IntegrityError(f"model bytes do not unpickle: {exc}") from None


class _AllowListUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in ALLOWED_GLOBALS:
            raise IntegrityError(f"model bytes name {module}.{name}, which is not allowed")
        return super().find_class(module, name)
