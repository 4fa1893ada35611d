"""A model owner's own trained model as round 1 of its trainings (``training model --model``).

A training's first round trains the model the MO publishes then; without a file it is the
trainer's seeded start (:func:`~mercato.protocols.training.model_owner.initial_weights`).
``mercato training model --model own.skops|own.safetensors`` reads the file into the
trainer's flat weights over the rows as the method scales them
(:func:`mercato.ml.model_files.starting_weights`, which never unpickles: a scikit-learn
``LogisticRegression`` for ``numpy-logreg``, a one-hidden-layer ReLU ``MLPClassifier`` or a
torch state dict for ``torch-mlp``, alone or after a ``StandardScaler``, a Mercato
``.safetensors`` of the same trainer) and records, in ``training-starts-<address>.json``
in the agent state folder, where the file is and the hash of those weights, keyed by the
market and the model id. The MO's agent reads the file again when a training of that
model is approved, and refuses in one line a file that changed since.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mercato.agents.files import EntryFile
from mercato.errors import InputError

if TYPE_CHECKING:
    from mercato.ml.columns import Inputs
    from mercato.ml.trainers import Trainer, Weights
    from mercato.protocols.marketplace import Marketplace

START_FILE = "training-starts-{address}.json"
STARTS_VERSION = 1


@dataclass(frozen=True)
class StartingFile:
    """Where a model's starting weights come from and the hash they had when recorded."""

    path: str
    """Absolute path of the ``.skops`` or ``.safetensors`` file."""
    weights_hash: str
    """0x-hex keccak-256 of the weights (MCWT bytes) read from it."""

    @classmethod
    def read(
        cls, path: Path | str, trainer: Trainer, inputs: Inputs | None = None
    ) -> tuple[StartingFile, Weights]:
        """Read the file as ``trainer``'s weights over rows scaled by ``inputs`` (the method's),
        InputError in one line otherwise."""
        from mercato.ml.model_files import starting_weights

        weights = starting_weights(path, trainer, inputs)
        return cls(str(Path(path).resolve()), _hash(weights)), weights

    def load(self, trainer: Trainer, model_id: int, inputs: Inputs | None = None) -> Weights:
        """The weights as recorded for model ``model_id``; InputError if the file cannot be
        read or holds other weights now."""
        from mercato.ml.model_files import starting_weights

        weights = starting_weights(self.path, trainer, inputs)
        now = _hash(weights)
        if now != self.weights_hash:
            raise InputError(
                f"{self.path} changed since model {model_id} was created from it: its weights "
                f"hash to {now[:10]}.., not {self.weights_hash[:10]}..; put back that file"
            )
        return weights

    @property
    def name(self) -> str:
        return Path(self.path).name


def _hash(weights: Weights) -> str:
    import numpy as np

    from mercato.crypto.commit import keccak
    from mercato.ml.trainers import weights_to_bytes

    return "0x" + keccak(weights_to_bytes(np.asarray(weights))).hex()


def _decode(value: object) -> StartingFile:
    if not isinstance(value, dict):
        raise InputError("a recorded starting model must be a JSON object")
    try:
        return StartingFile(**value)
    except TypeError as exc:
        raise InputError(f"a recorded starting model has unknown fields: {exc}") from None


_STARTS: EntryFile[StartingFile] = EntryFile(
    "training starting models", "models", STARTS_VERSION, _decode, lambda e: asdict(e)
)


def start_file(folder: Path, address: str) -> Path:
    """Where the starting models of the MO at ``address`` are recorded."""
    return folder / START_FILE.format(address=address.lower())


def model_key(market: Marketplace, model_id: int) -> str:
    """The key of a model's entry: the training market's address and the model id."""
    return f"{market.training_market.address.lower()}/{model_id}"


def record_start(
    folder: Path, market: Marketplace, address: str, model_id: int, start: StartingFile
) -> Path:
    """Record that model ``model_id`` starts from ``start``; the file's path."""
    return _STARTS.record(start_file(folder, address), model_key(market, model_id), start)


def recorded_start(
    folder: Path, market: Marketplace, address: str, model_id: int
) -> StartingFile | None:
    """The file model ``model_id`` starts from, if ``training model --model`` recorded one."""
    return _STARTS.read(start_file(folder, address)).get(model_key(market, model_id))
