"""Asset ontology and requirement matching for the P1 procurement auction."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mercato._lazy import lazy_package

if TYPE_CHECKING:
    from mercato.ontology.category import CATEGORY_ROOTS, Category
    from mercato.ontology.match import NAMESPACE, ONTOLOGY_VERSION, PREFIX, Ontology, load_ontology
    from mercato.ontology.requirements import AssetOffer, Requirements, matches

__all__ = [
    "CATEGORY_ROOTS",
    "NAMESPACE",
    "ONTOLOGY_VERSION",
    "PREFIX",
    "AssetOffer",
    "Category",
    "Ontology",
    "Requirements",
    "load_ontology",
    "matches",
]

lazy_package(
    __name__,
    {
        "CATEGORY_ROOTS": "category",
        "NAMESPACE": "match",
        "ONTOLOGY_VERSION": "match",
        "PREFIX": "match",
        "AssetOffer": "requirements",
        "Category": "category",
        "Ontology": "match",
        "Requirements": "requirements",
        "load_ontology": "match",
        "matches": "requirements",
    },
)
