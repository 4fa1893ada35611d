"""Semantic matchmaking: asset classes and their subsumption in the shipped ontology.

A provider's asset matches a requirement when its class is the required class or one of its
descendants along ``rdfs:subClassOf``. Plain RDFS reasoning is enough for that, so rdflib's
graph walk is used rather than an OWL reasoner.
"""

from __future__ import annotations

import difflib
import functools
from importlib import resources

from rdflib import OWL, RDF, RDFS, Graph, URIRef

from mercato.errors import InputError
from mercato.ontology.category import CATEGORY_ROOTS, Category

NAMESPACE = "https://mercato.dev/ontology#"
PREFIX = "mc"
ONTOLOGY_RESOURCE = "mercato.ttl"
ONTOLOGY_VERSION = "https://mercato.dev/ontology/1"
SUGGESTION_CUTOFF = 0.6


class Ontology:
    """The asset classes of one ontology graph, their categories and their subsumption.

    Class names are accepted as a CURIE (``mc:TabularData``) or as a full IRI in
    :data:`NAMESPACE`; every method returns CURIEs.
    """

    def __init__(self, graph: Graph) -> None:
        declared = sorted(
            str(s)
            for s in set(graph.subjects(RDF.type, OWL.Class))
            if isinstance(s, URIRef) and str(s).startswith(NAMESPACE)
        )
        self._ancestors = {_to_curie(iri): _ancestors(graph, URIRef(iri)) for iri in declared}
        self._labels = {
            _to_curie(iri): str(graph.value(URIRef(iri), RDFS.label) or _to_curie(iri))
            for iri in declared
        }
        version = next(graph.objects(None, OWL.versionIRI), None)
        self.version: str | None = None if version is None else str(version)
        self._categories = {cls: self._check_class(cls) for cls in self._ancestors}

    @classmethod
    def from_turtle(cls, text: str) -> Ontology:
        """Ontology read from Turtle text; raises InputError if it does not parse or is unsound."""
        graph = Graph()
        try:
            graph.parse(data=text, format="turtle")
        except Exception as exc:  # rdflib raises several unrelated types for bad syntax
            raise InputError(f"ontology: not valid Turtle: {exc}") from exc
        return cls(graph)

    def classes(self, category: Category | None = None) -> tuple[str, ...]:
        """CURIEs of every declared class, or of the classes of one category, sorted."""
        return tuple(
            c
            for c in sorted(self._ancestors)
            if category is None or self._categories[c] is category
        )

    def curie(self, name: str) -> str:
        """Canonical CURIE of a declared class; raises InputError for an unknown class."""
        if not isinstance(name, str):
            raise InputError(f"ontology class must be a string, not {type(name).__name__}")
        curie = _to_curie(name)
        if curie not in self._ancestors:
            raise InputError(self._unknown_message(curie))
        return curie

    def iri(self, name: str) -> str:
        """Full IRI of a declared class."""
        return NAMESPACE + self.curie(name).removeprefix(f"{PREFIX}:")

    def label(self, name: str) -> str:
        """Human-readable ``rdfs:label`` of a class."""
        return self._labels[self.curie(name)]

    def superclasses(self, name: str) -> frozenset[str]:
        """Every class that subsumes ``name``, itself included."""
        return self._ancestors[self.curie(name)]

    def is_subclass(self, asset_class: str, required_class: str) -> bool:
        """True when ``asset_class`` is ``required_class`` or one of its descendants."""
        return self.curie(required_class) in self.superclasses(asset_class)

    def category_of(self, name: str) -> Category:
        """The category (data, algorithm, infrastructure) whose root subsumes ``name``."""
        return self._categories[self.curie(name)]

    def _check_class(self, cls: str) -> Category:
        undeclared = sorted(a for a in self._ancestors[cls] if a not in self._ancestors)
        if undeclared:
            raise InputError(f"ontology: {cls!r} is a subclass of undeclared {undeclared[0]!r}")
        roots = [cat for cat, root in CATEGORY_ROOTS.items() if root in self._ancestors[cls]]
        if len(roots) != 1:
            found = ", ".join(r.label for r in roots) or "none"
            raise InputError(
                f"ontology: {cls!r} must sit under exactly one category root, not {found}"
            )
        return roots[0]

    def _unknown_message(self, shown: str) -> str:
        by_lower = {c.lower(): c for c in self._ancestors}
        close = difflib.get_close_matches(shown.lower(), by_lower, n=1, cutoff=SUGGESTION_CUTOFF)
        if close:
            return f"unknown ontology class {shown!r}. Did you mean {by_lower[close[0]]!r}?"
        return (
            f"unknown ontology class {shown!r}; name a class as '{PREFIX}:Name' or by its IRI "
            f"in {NAMESPACE} (see Ontology.classes())"
        )


@functools.cache
def load_ontology() -> Ontology:
    """The ontology shipped with Mercato, read once per process."""
    text = resources.files("mercato.ontology").joinpath(ONTOLOGY_RESOURCE).read_text("utf-8")
    return Ontology.from_turtle(text)


def _to_curie(name: str) -> str:
    return f"{PREFIX}:{name.removeprefix(NAMESPACE)}" if name.startswith(NAMESPACE) else name


def _ancestors(graph: Graph, cls: URIRef) -> frozenset[str]:
    # transitive_objects yields the start node too, so every class subsumes itself.
    return frozenset(
        _to_curie(str(node))
        for node in graph.transitive_objects(cls, RDFS.subClassOf)
        if isinstance(node, URIRef) and str(node).startswith(NAMESPACE)
    )
