"""A data set's schema: its features and their types, its label and classes, its ontology class.

A participant describes the data file it holds with a small JSON document::

    {"version": 1, "label": "diagnosis", "classes": ["benign", "malignant"],
     "features": [{"name": "age", "type": "integer"}, {"name": "bmi", "type": "number"}],
     "ontology": "mc:MedicalTabularData"}

Mercato checks the file against it before anything is sealed or sent (see
:mod:`mercato.ml.data_files`). ``classes`` orders the labels: the i-th class is label ``i`` of
the data set. ``mercato data schema FILE --label COLUMN`` writes one inferred from a file.
This module is light: it imports neither the file readers nor the ontology's RDF graph.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mercato.errors import InputError

SCHEMA_VERSION = 1
FEATURE_TYPES = ("number", "integer", "boolean")
"""``number`` accepts integers and decimals, ``integer`` whole numbers, ``boolean`` true/false."""
DEFAULT_ONTOLOGY_CLASS = "mc:TabularData"
MAX_SCHEMA_BYTES = 1024 * 1024
_FIELDS = {"version", "label", "classes", "features", "ontology"}
_OPTIONAL = {"name"}

Label = str | int


@dataclass(frozen=True)
class Feature:
    """One feature column: its name and the type its values must have."""

    name: str
    type: str = "number"

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise InputError("schema: every feature needs a non-empty name")
        if self.type not in FEATURE_TYPES:
            raise InputError(
                f"schema: feature {self.name!r} has type {self.type!r}; "
                f"expected one of {', '.join(FEATURE_TYPES)}"
            )


@dataclass(frozen=True)
class DataSchema:
    """What a data file holds; construction checks every field and raises InputError."""

    label: str
    classes: tuple[Label, ...]
    features: tuple[Feature, ...]
    ontology: str = DEFAULT_ONTOLOGY_CLASS
    name: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.label, str) or not self.label:
            raise InputError("schema: label must name a column")
        classes = tuple(self.classes)
        if len(classes) < 2:
            raise InputError(f"schema: need at least two classes, got {list(classes)}")
        for value in classes:
            if isinstance(value, bool) or not isinstance(value, str | int):
                raise InputError(f"schema: class {value!r} must be a string or an integer")
        if len({str(c) for c in classes}) != len(classes):
            raise InputError(f"schema: classes repeat a value: {list(classes)}")
        features = tuple(f if isinstance(f, Feature) else Feature(**f) for f in self.features)
        if not features:
            raise InputError("schema: need at least one feature")
        names = [f.name for f in features]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise InputError(f"schema: feature {repeated[0]!r} appears more than once")
        if self.label in names:
            raise InputError(f"schema: the label {self.label!r} is also listed as a feature")
        if not isinstance(self.ontology, str) or not self.ontology:
            raise InputError("schema: ontology must name a data class, e.g. mc:TabularData")
        if not isinstance(self.name, str):
            raise InputError("schema: name must be a string")
        object.__setattr__(self, "classes", classes)
        object.__setattr__(self, "features", features)

    @property
    def feature_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.features)

    @property
    def class_names(self) -> tuple[str, ...]:
        """The classes as text, in label order."""
        return tuple(str(c) for c in self.classes)

    def index_of(self, value: object) -> int | None:
        """The label index of a raw label value, or None when it is no declared class."""
        key = str(value)
        for index, declared in enumerate(self.classes):
            if str(declared) == key:
                return index
        return None

    def to_document(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "version": SCHEMA_VERSION,
            "label": self.label,
            "classes": list(self.classes),
            "features": [{"name": f.name, "type": f.type} for f in self.features],
            "ontology": self.ontology,
        }
        if self.name:
            document["name"] = self.name
        return document

    def to_json(self) -> str:
        return json.dumps(self.to_document(), indent=2) + "\n"

    @classmethod
    def parse(cls, raw: str | bytes, where: str = "schema") -> DataSchema:
        """Read a schema document; raises InputError naming the first problem."""
        if len(raw) > MAX_SCHEMA_BYTES:
            raise InputError(f"{where}: larger than {MAX_SCHEMA_BYTES} bytes")
        try:
            document = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise InputError(f"{where}: not JSON: {exc}") from None
        if not isinstance(document, dict):
            raise InputError(f"{where}: must be a JSON object")
        missing = sorted(_FIELDS - document.keys())
        if missing:
            raise InputError(f"{where}: missing field {missing[0]!r}")
        unknown = sorted(document.keys() - _FIELDS - _OPTIONAL)
        if unknown:
            raise InputError(f"{where}: unknown field {unknown[0]!r}")
        if document["version"] != SCHEMA_VERSION or isinstance(document["version"], bool):
            raise InputError(
                f"{where}: unsupported version {document['version']!r} "
                f"(this Mercato reads version {SCHEMA_VERSION})"
            )
        if not isinstance(document["classes"], list):
            raise InputError(f"{where}: classes must be a list")
        features = document["features"]
        if not isinstance(features, list) or not all(isinstance(f, dict) for f in features):
            raise InputError(f"{where}: features must be a list of {{name, type}} objects")
        for feature in features:
            extra = sorted(feature.keys() - {"name", "type"})
            if extra or "name" not in feature:
                raise InputError(f"{where}: a feature must be {{name, type}}, got {feature}")
        return cls(
            label=document["label"],
            classes=tuple(document["classes"]),
            features=tuple(Feature(**f) for f in features),
            ontology=document["ontology"],
            name=document.get("name", ""),
        )

    @classmethod
    def read(cls, path: Path | str) -> DataSchema:
        from mercato.user_files import read_user_file

        path = Path(path)
        return cls.parse(read_user_file(path, MAX_SCHEMA_BYTES), where=f"schema {path}")
