"""Asset ontology and requirement matching for the P1 procurement auction."""

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
