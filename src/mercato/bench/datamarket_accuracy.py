"""P3's accuracy beside OmniLytics' "62% to 83%": the demo's market played without the chain.

Every run is :func:`mercato.ml.federated_sim.run_federation` with the demo's settings:
scikit-learn's digits, the model owner's small class-balanced slice, :data:`DATA_OWNERS` data
owners on non-IID slices, the demo's :class:`PartedMLP`,
:data:`ROUNDS` rounds of :data:`LOCAL_EPOCHS`
local epochs, the demo's seed. The runs differ only in who poisons and which rule merges:

- honest: every DO honest, merged by the mean (what secure aggregation gives) and by
  Multi-Krum (what robustness costs when nobody attacks);
- poisoned: the demo's two poisoners (:data:`mercato.protocols.datamarket.scenario.POISONERS`)
  against every rule; ``mean`` is the undefended market, as secure aggregation would be;
- by poison kind: the same two DOs both poisoning with one kind (label_flip, scale, noise),
  against every rule.

Multi-Krum tolerates ``f`` = the demo's two exclusions (as many as the DOs allow) and
excludes only outliers beyond the task's multiple (default
:data:`~mercato.ml.aggregate.krum.DEFAULT_MULTIPLE`; None: textbook Multi-Krum, which always
drops ``f``); ``fairness`` counts, per poisoning, the poisoners it caught and the honest DOs it
excluded. The pretraining is the same in every run (same seed), so ``accuracy_before`` is one
number.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mercato.errors import InputError
from mercato.ml.aggregate.krum import DEFAULT_MULTIPLE, MULTIPLE_SCALE
from mercato.ml.federated_sim import RULES, MarketData, MarketRun, market_data, run_federation
from mercato.ml.model_parts import PartedMLP
from mercato.ml.poison import POISONS, Poisoner
from mercato.protocols.datamarket.scenario import (
    DATA_OWNERS,
    DO_NAMES,
    LOCAL_EPOCHS,
    MAX_EXCLUDED,
    POISONERS,
    ROUNDS,
    SEED,
)

DATASET = "digits"
UNDEFENDED = "mean"
ROBUST = "multikrum"
HONEST_RULES: tuple[str, ...] = (UNDEFENDED, ROBUST)
PAPER_ACCURACY_BEFORE = 0.62
PAPER_ACCURACY_AFTER = 0.83
"""OmniLytics: "a CNN improves from 62% to 83% accuracy within 500 ms of blockchain processing"."""
HONEST = "honest"
"""The key of the all-honest market in :attr:`MarketAccuracy.excluded`."""
DEMO = "demo"
"""The key of the demo's mix of poisoners in :attr:`MarketAccuracy.poisoned`."""

ProgressCallback = Callable[[int], None]


def poisoner_indices(data_owners: int, count: int = len(POISONERS)) -> tuple[int, ...]:
    """``count`` DO indices: the demo's poisoners (join order) that exist, then the last ones."""
    demo = [DO_NAMES.index(name) for name in POISONERS]
    chosen = [i for i in demo if i < data_owners][:count]
    for i in range(data_owners - 1, -1, -1):
        if len(chosen) >= count:
            break
        if i not in chosen:
            chosen.append(i)
    return tuple(sorted(chosen))


def tolerated(data_owners: int) -> int:
    """Poisoners Multi-Krum resists here: the demo's, if ``n >= 2f + 3`` allows it."""
    return min(MAX_EXCLUDED, max(0, (data_owners - 3) // 2))


@dataclass(frozen=True)
class MarketAccuracy:
    """Test accuracy of the MO's model before and after the market, per poisoning and rule."""

    before: float
    honest: dict[str, float]
    """Rule -> accuracy after, every DO honest."""
    poisoned: dict[str, dict[str, float]]
    """Poisoning (``demo`` or a poison kind) -> rule -> accuracy after."""
    excluded: dict[str, tuple[tuple[int, ...], ...]]
    """Poisoning (or ``honest``) -> the DOs Multi-Krum excluded in each round."""
    poisoners: dict[str, dict[int, str]]
    """Poisoning -> DO index -> poison kind."""
    data_owners: int
    rounds: int
    local_epochs: int
    f: int
    model: dict[str, Any]
    seed: int
    multiple: int | None = DEFAULT_MULTIPLE
    """Multi-Krum's outlier multiple in hundredths; None: textbook (always drops ``f``)."""

    def fairness(self) -> dict[str, dict[str, int]]:
        """Poisoning (or ``honest``) -> poisoner exclusions caught of those possible, and
        honest DOs excluded, over every round of the Multi-Krum market."""
        result = {}
        for poisoning, rounds in self.excluded.items():
            poisoners = set(self.poisoners.get(poisoning, {}))
            result[poisoning] = {
                "poisoners_caught": sum(len(poisoners & set(r)) for r in rounds),
                "poisoner_rounds": len(poisoners) * len(rounds),
                "honest_excluded": sum(len(set(r) - poisoners) for r in rounds),
            }
        return result

    @property
    def after_honest(self) -> float:
        return self.honest[UNDEFENDED]

    @property
    def after_poisoned_robust(self) -> float | None:
        return self.poisoned.get(DEMO, {}).get(ROBUST)

    @property
    def after_poisoned_undefended(self) -> float | None:
        return self.poisoned.get(DEMO, {}).get(UNDEFENDED)

    def as_dict(self) -> dict[str, Any]:
        return {
            "dataset": DATASET,
            "data_owners": self.data_owners,
            "rounds": self.rounds,
            "local_epochs": self.local_epochs,
            "multikrum_f": self.f,
            "outlier_multiple": None if self.multiple is None else self.multiple / MULTIPLE_SCALE,
            "trimmed_mean_f": self.f,
            "model": self.model,
            "seed": self.seed,
            "before": round(self.before, 4),
            "honest": {rule: round(v, 4) for rule, v in self.honest.items()},
            "poisoned": {
                poisoning: {rule: round(v, 4) for rule, v in rules.items()}
                for poisoning, rules in self.poisoned.items()
            },
            "poisoners": {
                poisoning: {str(i): kind for i, kind in who.items()}
                for poisoning, who in self.poisoners.items()
            },
            "excluded_per_round_multikrum": {
                poisoning: [list(r) for r in rounds] for poisoning, rounds in self.excluded.items()
            },
            "fairness_multikrum": self.fairness(),
        }


def demo_model(data: MarketData) -> PartedMLP:
    """The demo's model for ``data``: its features, its classes, the default hidden layers."""
    n_classes = int(max(int(data.test.y.max()), *(int(p.y.max()) for p in data.parts))) + 1
    return PartedMLP(int(data.mo.X.shape[1]), n_classes)


def poisonings(data_owners: int, kinds: Sequence[str]) -> dict[str, dict[int, Poisoner]]:
    """The demo's poisoners (at their indices in join order, or stand-ins for those beyond
    ``data_owners`` that poison alike) and, for each kind, the same DOs poisoning with it."""
    demo_kinds = [p for _, p in sorted(POISONERS.items(), key=lambda i: DO_NAMES.index(i[0]))]
    chosen = poisoner_indices(data_owners)
    result = {DEMO: dict(zip(chosen, demo_kinds, strict=False))}
    for kind in kinds:
        if kind not in POISONS:
            raise InputError(f"no poison named {kind!r}; known: {', '.join(POISONS)}")
        result[kind] = {i: Poisoner(kind) for i in chosen}
    return result


def usable_rules(rules: Sequence[str], data_owners: int) -> list[str]:
    """``rules`` but the trimmed mean when trimming ``f`` from each end leaves nothing."""
    f = tolerated(data_owners)
    return [rule for rule in rules if rule != "trimmed_mean" or 2 * f < data_owners]


def market_accuracy(
    data_owners: int = DATA_OWNERS,
    *,
    rounds: int = ROUNDS,
    local_epochs: int = LOCAL_EPOCHS,
    rules: Sequence[str] = RULES,
    kinds: Sequence[str] = POISONS,
    seed: int = SEED,
    progress: ProgressCallback | None = None,
    multiple: int | None = DEFAULT_MULTIPLE,
) -> MarketAccuracy:
    """Play the market honestly and under each poisoning with each rule (module docstring)."""
    for rule in rules:
        if rule not in RULES:
            raise InputError(f"no aggregation rule named {rule!r}; known: {', '.join(RULES)}")
    if UNDEFENDED not in rules:
        raise InputError(f"the rules must include {UNDEFENDED!r}, the undefended market")
    data = market_data(DATASET, data_owners, seed=seed)
    model = demo_model(data)
    f = tolerated(data_owners)
    usable = usable_rules(rules, data_owners)

    def play(rule: str, poisoners: Mapping[int, Poisoner]) -> MarketRun:
        run = run_federation(
            model,
            data,
            rounds=rounds,
            local_epochs=local_epochs,
            rule=rule,
            f=f,
            poisoners=poisoners,
            seed=seed,
            multiple=multiple,
        )
        if progress is not None:
            progress(1)
        return run

    honest_runs = {rule: play(rule, {}) for rule in HONEST_RULES if rule in usable}
    before = next(iter(honest_runs.values())).accuracy_before
    poisoned: dict[str, dict[str, float]] = {}
    excluded: dict[str, tuple[tuple[int, ...], ...]] = {}
    if ROBUST in honest_runs:
        excluded[HONEST] = honest_runs[ROBUST].excluded
    who: dict[str, dict[int, str]] = {}
    for poisoning, poisoners in poisonings(data_owners, kinds).items():
        poisoned[poisoning] = {}
        who[poisoning] = {i: p.kind for i, p in poisoners.items()}
        for rule in usable:
            run = play(rule, poisoners)
            poisoned[poisoning][rule] = run.accuracy_after
            if rule == ROBUST:
                excluded[poisoning] = run.excluded
    return MarketAccuracy(
        before=before,
        honest={rule: run.accuracy_after for rule, run in honest_runs.items()},
        poisoned=poisoned,
        excluded=excluded,
        poisoners=who,
        data_owners=data_owners,
        rounds=rounds,
        local_epochs=local_epochs,
        f=f,
        model=model.spec(),
        seed=seed,
        multiple=multiple,
    )


def runs_of(data_owners: int, rules: Sequence[str], kinds: Sequence[str]) -> int:
    """How many markets :func:`market_accuracy` plays (for a progress bar)."""
    usable = usable_rules(rules, data_owners)
    return sum(1 for rule in HONEST_RULES if rule in usable) + (1 + len(kinds)) * len(usable)
