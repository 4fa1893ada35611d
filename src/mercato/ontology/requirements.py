"""The client's requirements document and matching of provider assets against it.

The document is published in the blob store and its keccak-256 hash goes on chain, so it
has one canonical byte form: UTF-8 JSON with sorted keys and no whitespace. Class names are
stored as CURIEs, so a document written with full IRIs hashes the same.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

from mercato.errors import InputError
from mercato.ontology.canonical import (
    Committed,
    as_object,
    canonical_json,
    check_fields,
    load_json_object,
)
from mercato.ontology.category import Category
from mercato.ontology.match import ONTOLOGY_VERSION, load_ontology

REQUIREMENTS_VERSION = 1
MAX_DOCUMENT_BYTES = 64 * 1024
MAX_TASK_CHARS = 4096
# Every metric a client may require, with the closed range its minimum must lie in.
METRIC_RANGES: Mapping[str, tuple[float, float]] = MappingProxyType(
    {
        "accuracy": (0.0, 1.0),
        "balanced_accuracy": (0.0, 1.0),
        "f1_macro": (0.0, 1.0),
    }
)
_FIELDS = ("classes", "constraints", "metric", "ontology", "task", "version")
# asked of the data only when given, and written only when not empty: a document without
# them keeps its bytes and hash
_DATA_FIELDS = ("features", "labels")
MAX_NAMES = 1024
_METRIC_FIELDS = ("minimum", "name")
_WHAT = "requirements"

Scalar = str | int | float | bool | None


@dataclass(frozen=True)
class Requirements(Committed):
    """What a client buys: one required ontology class per category and a quality bar.

    Construction validates every field against the shipped ontology and raises InputError
    with one line naming the first problem; class names are normalised to CURIEs.
    """

    data: str
    algorithm: str
    infrastructure: str
    task: str
    metric: str
    minimum: float
    constraints: Mapping[str, Scalar] = field(default_factory=dict)
    ontology: str = ONTOLOGY_VERSION
    features: tuple[str, ...] = ()
    """Feature columns the data must have (by name, as its schema names them)."""
    labels: tuple[str, ...] = ()
    """Classes the data's labels must cover (as its schema names them)."""

    def __post_init__(self) -> None:
        shipped = load_ontology().version
        if self.ontology != shipped:
            raise InputError(
                f"requirements: written for ontology {self.ontology!r}, "
                f"but this Mercato ships {shipped!r}"
            )
        for category in Category:
            object.__setattr__(self, category.label, _check_class(self, category))
        if not isinstance(self.task, str) or not self.task:
            raise InputError("requirements: task must be a non-empty string")
        if len(self.task) > MAX_TASK_CHARS:
            raise InputError(f"requirements: task is longer than {MAX_TASK_CHARS} characters")
        object.__setattr__(self, "minimum", _check_metric(self.metric, self.minimum))
        object.__setattr__(self, "constraints", _check_constraints(self.constraints))
        for name in _DATA_FIELDS:
            object.__setattr__(self, name, _check_names(name, getattr(self, name)))

    def __hash__(self) -> int:
        return hash(self.to_json_bytes())

    def required_class(self, category: Category) -> str:
        """CURIE of the class required for ``category``."""
        return str(getattr(self, Category(category).label))

    def to_json_bytes(self) -> bytes:
        """Canonical encoding: UTF-8 JSON, sorted keys, no whitespace."""
        document = {
            "classes": {c.label: self.required_class(c) for c in Category},
            "constraints": dict(self.constraints),
            "metric": {"minimum": self.minimum, "name": self.metric},
            "ontology": self.ontology,
            "task": self.task,
            "version": REQUIREMENTS_VERSION,
        }
        for name in _DATA_FIELDS:
            if getattr(self, name):
                document[name] = list(getattr(self, name))
        return canonical_json(document)

    @classmethod
    def parse(cls, raw: bytes | str) -> Requirements:
        """Read and validate a requirements document; raises InputError on the first problem."""
        document = load_json_object(raw, _WHAT, MAX_DOCUMENT_BYTES)
        given = {name: document.pop(name) for name in _DATA_FIELDS if name in document}
        check_fields(document, _FIELDS, _WHAT)
        if document["version"] != REQUIREMENTS_VERSION or isinstance(document["version"], bool):
            raise InputError(
                f"requirements: unsupported version {document['version']!r} "
                f"(this Mercato reads version {REQUIREMENTS_VERSION})"
            )
        classes = as_object(document["classes"], _WHAT, "classes")
        labels = tuple(c.label for c in Category)
        for label in sorted(classes):
            if label not in labels:
                raise InputError(
                    f"requirements: unknown category {label!r} in classes; "
                    f"expected {', '.join(labels)}"
                )
        for category in Category:
            if category.label not in classes:
                raise InputError(f"requirements: no class required for category {category.label!r}")
        metric = as_object(document["metric"], _WHAT, "metric")
        check_fields(metric, _METRIC_FIELDS, _WHAT, "metric.")
        return cls(
            data=classes["data"],
            algorithm=classes["algorithm"],
            infrastructure=classes["infrastructure"],
            task=document["task"],
            metric=metric["name"],
            minimum=metric["minimum"],
            constraints=as_object(document["constraints"], _WHAT, "constraints"),
            ontology=document["ontology"],
            **{name: _names_list(name, value) for name, value in given.items()},
        )


@dataclass(frozen=True)
class AssetOffer:
    """A provider's asset as the auction sees it: its category, ontology class and name."""

    category: Category
    asset_class: str
    name: str

    def __post_init__(self) -> None:
        ontology = load_ontology()
        curie = ontology.curie(self.asset_class)
        actual = ontology.category_of(curie)
        if actual is not Category(self.category):
            raise InputError(
                f"offer {self.name!r}: class {curie!r} belongs to category {actual.label!r}, "
                f"not {Category(self.category).label!r}"
            )
        object.__setattr__(self, "category", Category(self.category))
        object.__setattr__(self, "asset_class", curie)

    def matches(self, requirements: Requirements) -> bool:
        """True when this asset may bid for its category in an auction with ``requirements``."""
        return matches(requirements, self.category, self.asset_class)


def data_problem(
    requirements: Requirements, features: Sequence[str], labels: Sequence[str]
) -> str | None:
    """Why data with these feature columns and classes does not give what ``requirements``
    ask (every required feature and class), or None."""
    missing = [name for name in requirements.features if name not in features]
    if missing:
        return f"the data lacks the required feature(s) {', '.join(map(repr, missing))}"
    absent = [name for name in requirements.labels if name not in labels]
    if absent:
        return f"the data lacks the required class(es) {', '.join(map(repr, absent))}"
    return None


def matches(requirements: Requirements, category: Category, asset_class: str) -> bool:
    """True when ``asset_class`` is subsumed by the class ``requirements`` set for ``category``."""
    return load_ontology().is_subclass(asset_class, requirements.required_class(category))


def _check_class(requirements: Requirements, category: Category) -> str:
    name = getattr(requirements, category.label)
    ontology = load_ontology()
    try:
        curie = ontology.curie(name)
    except InputError as exc:
        raise InputError(f"requirements: {category.label}: {exc}") from None
    actual = ontology.category_of(curie)
    if actual is not category:
        raise InputError(
            f"requirements: {category.label} class {curie!r} belongs to category {actual.label!r}"
        )
    return curie


def _check_metric(name: object, minimum: object) -> float:
    if not isinstance(name, str) or name not in METRIC_RANGES:
        known = ", ".join(sorted(METRIC_RANGES))
        raise InputError(f"requirements: unknown metric {name!r}; expected one of {known}")
    if isinstance(minimum, bool) or not isinstance(minimum, int | float):
        raise InputError(f"requirements: minimum {name} must be a number, not {minimum!r}")
    low, high = METRIC_RANGES[name]
    if not (math.isfinite(minimum) and low <= minimum <= high):
        raise InputError(
            f"requirements: minimum {name} {minimum!r} is out of range [{low:g}, {high:g}]"
        )
    return float(minimum)


def _names_list(name: str, value: object) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise InputError(f"requirements: {name} must be a list of names")
    return tuple(value)


def _check_names(name: str, values: object) -> tuple[str, ...]:
    names = tuple(values) if isinstance(values, list | tuple) else None
    if names is None or not all(isinstance(v, str) and v for v in names):
        raise InputError(f"requirements: {name} must be a list of non-empty names")
    if len(names) > MAX_NAMES:
        raise InputError(f"requirements: more than {MAX_NAMES} {name}")
    if len(set(names)) != len(names):
        raise InputError(f"requirements: {name} repeat a name")
    return names


def _check_constraints(constraints: object) -> Mapping[str, Scalar]:
    if not isinstance(constraints, Mapping):
        raise InputError("requirements: constraints must be an object of name -> value")
    for key, value in constraints.items():
        if not isinstance(key, str) or not key:
            raise InputError(f"requirements: constraint name {key!r} must be a non-empty string")
        if value is not None and not isinstance(value, str | int | float | bool):
            raise InputError(
                f"requirements: constraint {key!r} must be a string, number, boolean or null"
            )
        if isinstance(value, float) and not math.isfinite(value):
            raise InputError(f"requirements: constraint {key!r} must be a finite number")
    return MappingProxyType(dict(sorted(constraints.items())))
