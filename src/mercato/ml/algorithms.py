"""Algorithms as traded assets: a family from a whitelist plus its hyper-parameters.

An algorithm provider sells an :class:`AlgorithmSpec`, a small JSON document, never code:
the executor builds the estimator from the whitelist in :mod:`mercato.ml.families`, so a
spec cannot make it run anything else. Hyper-parameters are checked by name, type, range and
cost before anyone bids with the spec.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from mercato.errors import InputError
from mercato.ml.families import FAMILIES, LIMITS, Family, HyperValue
from mercato.ml.seed import check_seed
from mercato.ontology import load_ontology
from mercato.ontology.canonical import Committed, canonical_json, load_document

SPEC_VERSION = 1
MAX_SPEC_BYTES = 16 * 1024
_FIELDS = ("family", "hyperparameters", "ontology_class", "version")
_WHAT = "algorithm spec"


@dataclass(frozen=True)
class AlgorithmSpec(Committed):
    """An algorithm asset: a whitelisted family, its ontology class and its hyper-parameters.

    An empty ``ontology_class`` means the family's own class; a given one must be subsumed
    by it. The family's defaults are folded into ``hyperparameters``, so the spec's bytes
    pin down every setting Mercato chooses.
    """

    family: str
    ontology_class: str = ""
    hyperparameters: Mapping[str, HyperValue] = field(default_factory=dict)

    def __post_init__(self) -> None:
        family = _family(self.family)
        ontology = load_ontology()
        curie = ontology.curie(self.ontology_class or family.ontology_class)
        if not ontology.is_subclass(curie, family.ontology_class):
            raise InputError(
                f"algorithm {self.family!r}: class {curie!r} is not a kind of "
                f"{family.ontology_class!r}"
            )
        params = {**family.defaults, **_check_hyperparameters(self.family, self.hyperparameters)}
        _validate_with_sklearn(self.family, family, params)
        object.__setattr__(self, "ontology_class", curie)
        object.__setattr__(self, "hyperparameters", MappingProxyType(dict(sorted(params.items()))))

    def __hash__(self) -> int:
        return hash(self.to_json_bytes())

    def to_json_bytes(self) -> bytes:
        """Canonical encoding: UTF-8 JSON, sorted keys, no whitespace."""
        params = {
            k: list(v) if isinstance(v, tuple) else v for k, v in self.hyperparameters.items()
        }
        return canonical_json(
            {
                "family": self.family,
                "hyperparameters": params,
                "ontology_class": self.ontology_class,
                "version": SPEC_VERSION,
            }
        )

    @classmethod
    def from_json_bytes(cls, raw: bytes | str) -> AlgorithmSpec:
        """Read and validate a spec; raises InputError on the first problem."""
        document = load_document(raw, _WHAT, MAX_SPEC_BYTES, _FIELDS)
        if document["version"] != SPEC_VERSION or isinstance(document["version"], bool):
            raise InputError(f"{_WHAT}: unsupported version {document['version']!r}")
        if not isinstance(document["ontology_class"], str):
            raise InputError(f"{_WHAT}: ontology_class must be a string")
        return cls(
            family=document["family"],
            ontology_class=document["ontology_class"],
            hyperparameters=document["hyperparameters"],
        )


def build_estimator(spec: AlgorithmSpec, seed: int) -> Any:
    """A fresh, unfitted scikit-learn estimator for ``spec``, seeded for determinism."""
    family = FAMILIES[spec.family]
    estimator = family.estimator(**spec.hyperparameters, random_state=check_seed(seed))
    return make_pipeline(StandardScaler(), estimator) if family.scale_features else estimator


def _family(name: object) -> Family:
    if isinstance(name, str) and name in FAMILIES:
        return FAMILIES[name]
    close = difflib.get_close_matches(str(name), list(FAMILIES), n=1)
    hint = f"Did you mean {close[0]!r}?" if close else f"Known: {', '.join(FAMILIES)}."
    raise InputError(f"unknown algorithm family {name!r}. {hint}")


def _check_hyperparameters(name: str, params: object) -> dict[str, HyperValue]:
    if not isinstance(params, Mapping):
        raise InputError(f"algorithm {name!r}: hyperparameters must be an object")
    allowed = FAMILIES[name].allowed
    checked: dict[str, HyperValue] = {}
    for key, value in params.items():
        if key not in allowed:
            raise InputError(
                f"algorithm {name!r}: hyper-parameter {key!r} is not allowed; "
                f"allowed: {', '.join(sorted(allowed))}"
            )
        checked[key] = _check_value(name, key, value)
    _check_limits(name, checked)
    return checked


def _check_value(name: str, key: str, value: object) -> HyperValue:
    items = tuple(value) if isinstance(value, list | tuple) else (value,)
    for item in items:
        if item is not None and not isinstance(item, str | int | float | bool):
            raise InputError(
                f"algorithm {name!r}: hyper-parameter {key!r} must be a string, number, "
                f"boolean, null or a list of those"
            )
        if isinstance(item, float) and not math.isfinite(item):
            raise InputError(f"algorithm {name!r}: hyper-parameter {key!r} must be finite")
    return items if isinstance(value, list | tuple) else items[0]


def _check_limits(name: str, params: Mapping[str, HyperValue]) -> None:
    for key in ("n_estimators", "max_iter"):
        value = params.get(key)
        if isinstance(value, int) and value > LIMITS[key]:
            raise InputError(f"algorithm {name!r}: {key} {value} is above the limit {LIMITS[key]}")
    layers = params.get("hidden_layer_sizes")
    layers = (layers,) if isinstance(layers, int) else layers
    if isinstance(layers, tuple) and (
        len(layers) > LIMITS["layers"]
        or any(isinstance(w, int) and w > LIMITS["layer_width"] for w in layers)
    ):
        raise InputError(
            f"algorithm {name!r}: hidden_layer_sizes allows at most {LIMITS['layers']} layers "
            f"of at most {LIMITS['layer_width']} units"
        )


def _validate_with_sklearn(name: str, family: Family, params: Mapping[str, HyperValue]) -> None:
    # scikit-learn checks types and ranges itself, but only when fitting; ask it now so a bad
    # spec is refused before anyone bids with it.
    try:
        family.estimator(**params)._validate_params()
    except (ValueError, TypeError) as exc:
        raise InputError(f"algorithm {name!r}: bad hyper-parameter: {exc}") from None
