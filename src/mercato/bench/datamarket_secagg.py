"""What P3's secure aggregation costs off chain, beside what a DO's local training costs.

Secure aggregation (:mod:`mercato.crypto.secagg`) for ``n`` data owners (DO) and updates of
``parameters`` float32 values, one round, every DO on this one machine:

- each DO deals Shamir shares of its self seed and key (``share_secrets``), seals one
  bundle to each holder (:func:`mercato.storage.envelope.seal`, as the DO's step does),
  and masks its update (``mask``: quantise, self mask, one pairwise mask per peer);
- each surviving holder opens the bundles sealed to it and reveals one half of each
  (``open_envelope`` + ``reveal_share``);
- anyone unmasks the sum (``unmask``): with every DO submitting, and with ``dropouts`` DOs
  that dealt their shares and then never submitted (their pairwise masks are rebuilt
  from their reconstructed keys).

Each unmasked sum is checked against the plain sum of the updates (within the fixed-point
error ``n / 2**17``); a wrong sum raises :class:`IntegrityError`, so no figure of a broken
run is reported. Times are medians over ``repeats`` rounds; per-DO figures are a DO's mean
within a round. The totals add every DO's work as if one machine did it all; in a market the
DOs work in parallel, so a round's critical path is one DO's work plus the unmasking.

Training: one local epoch of a DO of the demo's market on its digits slice
(``PartedMLP.local_update``) for a model whose public part has about 100,000 parameters
(:data:`HIDDEN_100K`) and for the demo's model, so the secure-aggregation cost can be read
against the training it protects.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from mercato.bench.common import fresh_identities
from mercato.bench.datamarket_accuracy import DATASET, demo_model
from mercato.bench.flow import timed
from mercato.crypto.secagg import SecAggParty, max_abs, reveal_share, unmask
from mercato.errors import InputError, IntegrityError
from mercato.ml.federated_sim import market_data
from mercato.ml.model_parts import PartedMLP
from mercato.protocols.datamarket.scenario import DATA_OWNERS, SEED
from mercato.protocols.identity import Identity
from mercato.storage.envelope import open_envelope, seal

DEFAULT_PARAMETERS = 100_000
DEFAULT_DROPOUTS = 2
DEFAULT_REPEATS = 3
HIDDEN_100K: tuple[int, ...] = (512, 128)
"""64 -> 512 -> 128 -> 10 on digits: 100,234 public parameters."""
UPDATE_SIGMA = 0.01
"""Standard deviation of the stand-in updates: the size of a training delta."""
CONTEXT = b"mercato bench p3: secure aggregation"


def _median(values: list[float]) -> float:
    return float(statistics.median(values))


@dataclass(frozen=True)
class _Round:
    """One measured round: seconds of each part, and how far the sums were off."""

    keys: float
    deal: float
    seal: float
    mask: float
    mask_survivors: float
    """Masking by the DOs that stay (the dropped ones dealt shares, then never submitted)."""
    open_reveal: float
    unmask: float
    unmask_dropouts: float
    error: float
    error_dropouts: float


@dataclass(frozen=True)
class SecAggCost:
    """Median seconds of each part of a secure-aggregation round (module docstring)."""

    data_owners: int
    parameters: int
    threshold: int
    dropouts: int
    repeats: int
    rounds: tuple[_Round, ...]

    def _median_of(self, part: str) -> float:
        return _median([getattr(r, part) for r in self.rounds])

    def per_do(self, part: str) -> float:
        """One DO's share of ``part`` of a round (``mask``, ``deal``, ``seal``, ...)."""
        return self._median_of(part) / self.data_owners

    @property
    def unmask_seconds(self) -> float:
        return self._median_of("unmask")

    @property
    def unmask_dropouts_seconds(self) -> float:
        return self._median_of("unmask_dropouts")

    @property
    def seconds(self) -> float:
        """Masking by every DO, share dealing by every DO, unmasking with no dropout."""
        return _median([r.mask + r.deal + r.unmask for r in self.rounds])

    @property
    def seconds_dropouts(self) -> float:
        """Dealing by every DO, masking by the survivors, unmasking without the dropped."""
        return _median([r.deal + r.mask_survivors + r.unmask_dropouts for r in self.rounds])

    @property
    def seconds_with_envelopes(self) -> float:
        """:attr:`seconds` plus sealing the share bundles and opening them to reveal."""
        return _median([r.mask + r.deal + r.seal + r.open_reveal + r.unmask for r in self.rounds])

    @property
    def critical_path(self) -> float:
        """One DO's dealing, sealing, masking, opening, then the unmasking: DOs in parallel."""
        one_do = sum(self.per_do(part) for part in ("deal", "seal", "mask", "open_reveal"))
        return one_do + self.unmask_seconds

    @property
    def max_error(self) -> float:
        """Largest difference between an unmasked sum and the plain sum, any round."""
        return max(max(r.error, r.error_dropouts) for r in self.rounds)

    def as_dict(self) -> dict[str, Any]:
        def ms(seconds: float) -> float:
            return round(1000 * seconds, 3)

        return {
            "data_owners": self.data_owners,
            "parameters": self.parameters,
            "threshold": self.threshold,
            "dropouts": self.dropouts,
            "repeats": self.repeats,
            "seconds": round(self.seconds, 4),
            "seconds_with_dropouts": round(self.seconds_dropouts, 4),
            "seconds_with_envelopes": round(self.seconds_with_envelopes, 4),
            "critical_path_seconds": round(self.critical_path, 4),
            "mask_ms_per_do": ms(self.per_do("mask")),
            "deal_shares_ms_per_do": ms(self.per_do("deal")),
            "seal_shares_ms_per_do": ms(self.per_do("seal")),
            "open_and_reveal_ms_per_do": ms(self.per_do("open_reveal")),
            "key_generation_ms_per_do": ms(self.per_do("keys")),
            "unmask_ms_0_dropouts": ms(self.unmask_seconds),
            f"unmask_ms_{self.dropouts}_dropouts": ms(self.unmask_dropouts_seconds),
            "max_abs_error": self.max_error,
            "error_bound": self.data_owners / 2**17,
            "sum_matches_plain_sum": self.max_error <= _tolerance(self.data_owners),
        }


def _tolerance(data_owners: int) -> float:
    """Fixed-point error of a sum of ``data_owners`` values, plus float32 rounding slack."""
    return data_owners / 2**17 + 1e-6


def secagg_cost(
    data_owners: int = 10,
    parameters: int = DEFAULT_PARAMETERS,
    *,
    dropouts: int = DEFAULT_DROPOUTS,
    repeats: int = DEFAULT_REPEATS,
    seed: int = SEED,
) -> SecAggCost:
    """Time ``repeats`` secure-aggregation rounds (module docstring) and check every sum."""
    for name, value, low in (
        ("data_owners", data_owners, 3),
        ("parameters", parameters, 1),
        ("repeats", repeats, 1),
        ("dropouts", dropouts, 0),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise InputError(f"{name} must be an integer of at least {low}, got {value!r}")
    threshold = data_owners // 2 + 1
    if data_owners - dropouts < threshold:
        raise InputError(
            f"{dropouts} dropouts leave {data_owners - dropouts} of {data_owners} DOs, under the "
            f"threshold {threshold}: the round would fail; drop fewer"
        )
    rng = np.random.default_rng(seed)
    updates = rng.normal(0.0, UPDATE_SIGMA, size=(data_owners, parameters)).astype(np.float32)
    if float(np.max(np.abs(updates))) > max_abs(data_owners):
        raise InputError("the stand-in updates exceed the fixed-point range")
    identities = list(fresh_identities(data_owners))
    rounds = tuple(_round(updates, identities, threshold, dropouts, r) for r in range(repeats))
    return SecAggCost(data_owners, parameters, threshold, dropouts, repeats, rounds)


def _round(
    updates: np.ndarray[Any, Any],
    identities: list[Identity],
    threshold: int,
    dropouts: int,
    repeat: int,
) -> _Round:
    n = len(identities)
    context = CONTEXT + b" %d" % repeat
    parties, keys = timed(lambda: [SecAggParty.create(i, context) for i in range(n)])
    public = {i: p.public_key for i, p in enumerate(parties)}
    commitments = {i: p.seed_commitment for i, p in enumerate(parties)}

    def peers(i: int) -> dict[int, bytes]:
        return {j: key for j, key in public.items() if j != i}

    bundles, deal = timed(lambda: [p.share_secrets(peers(p.index), threshold) for p in parties])

    def bound(owner: int, holder: int) -> bytes:
        return context + b" shares %d to %d" % (owner, holder)

    envelopes, sealing = timed(
        lambda: [
            {
                holder: seal(bundle, [identities[holder].encryption_public], bound(owner, holder))
                for holder, bundle in dealt.items()
            }
            for owner, dealt in enumerate(bundles)
        ]
    )
    masked: dict[int, Any] = {}
    mask_times = []
    for p in parties:
        began = time.perf_counter()
        masked[p.index] = p.mask(updates[p.index], peers(p.index))
        mask_times.append(time.perf_counter() - began)
    masking = sum(mask_times)

    def revealed_by(holders: list[int], survivors: set[int]) -> list[bytes]:
        return [
            reveal_share(
                open_envelope(
                    envelopes[owner][holder],
                    identities[holder].encryption_private,
                    bound(owner, holder),
                ),
                owner_survived=owner in survivors,
            )
            for holder in holders
            for owner in range(n)
        ]

    everyone = list(range(n))
    revealed, open_reveal = timed(lambda: revealed_by(everyone, set(everyone)))
    total, unmasking = timed(lambda: unmask(masked, public, commitments, revealed, context))
    error = _check(total, updates.astype(np.float64).sum(axis=0), n, "with every DO")

    survivors = everyone[: n - dropouts]
    kept = set(survivors)
    revealed_dropouts = revealed_by(survivors, kept)
    total_dropouts, unmasking_dropouts = timed(
        lambda: unmask(
            {i: masked[i] for i in survivors}, public, commitments, revealed_dropouts, context
        )
    )
    plain = updates[survivors].astype(np.float64).sum(axis=0)
    error_dropouts = _check(total_dropouts, plain, len(survivors), f"with {dropouts} dropouts")
    return _Round(
        keys, deal, sealing, masking, sum(mask_times[: n - dropouts]), open_reveal, unmasking,
        unmasking_dropouts, error, error_dropouts,
    )  # fmt: skip


def _check(total: Any, plain: Any, summed: int, what: str) -> float:
    """How far the unmasked sum is from the plain sum; IntegrityError beyond the bound."""
    error = float(np.max(np.abs(np.asarray(total) - plain), initial=0.0))
    if error > _tolerance(summed):
        raise IntegrityError(
            f"secure aggregation {what}: the unmasked sum is off by {error:g}, "
            f"more than the fixed-point bound {_tolerance(summed):g}"
        )
    return error


@dataclass(frozen=True)
class EpochCost:
    """Median seconds of one local epoch of a DO, for one model."""

    hidden: tuple[int, ...]
    parameters: int
    examples: int
    seconds: float
    repeats: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "hidden": list(self.hidden),
            "public_parameters": self.parameters,
            "examples": self.examples,
            "seconds": round(self.seconds, 4),
            "repeats": self.repeats,
        }


def epoch_cost(
    hidden: tuple[int, ...] | None = HIDDEN_100K,
    *,
    repeats: int = DEFAULT_REPEATS,
    seed: int = SEED,
) -> EpochCost:
    """One epoch of ``PartedMLP.local_update`` by the demo's first DO on its digits slice
    (``hidden`` None: the demo's model); a first, untimed epoch warms torch up."""
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
        raise InputError(f"repeats must be a positive integer, got {repeats!r}")
    data = market_data(DATASET, DATA_OWNERS, seed=seed)
    demo = demo_model(data)
    model = demo if hidden is None else PartedMLP(demo.n_features, demo.n_classes, hidden)
    public, _ = model.init(seed)
    part = data.parts[0]
    model.local_update(public, part, 1, seed)
    times = [timed(lambda: model.local_update(public, part, 1, seed))[1] for _ in range(repeats)]
    return EpochCost(model.hidden, model.n_public, len(part.y), _median(times), repeats)
