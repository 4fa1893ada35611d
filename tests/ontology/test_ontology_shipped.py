"""The shipped Turtle file itself: packaged, documented, and every class in one category."""

from __future__ import annotations

from importlib import resources

import pytest
from rdflib import OWL, RDF, RDFS, Graph, URIRef

from mercato.errors import InputError
from mercato.ontology import NAMESPACE, ONTOLOGY_VERSION, Ontology, load_ontology

HEADER = """
@prefix mc: <https://mercato.dev/ontology#> .
@prefix owl: <http://www.w3.org/2002/07/owl#> .
@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .
mc:DataAsset a owl:Class . mc:AlgorithmAsset a owl:Class . mc:InfrastructureAsset a owl:Class .
"""


def _shipped_graph() -> Graph:
    text = resources.files("mercato.ontology").joinpath("mercato.ttl").read_text("utf-8")
    return Graph().parse(data=text, format="turtle")


def test_every_class_has_a_label_and_a_comment() -> None:
    graph = _shipped_graph()
    classes = [c for c in graph.subjects(RDF.type, OWL.Class) if isinstance(c, URIRef)]

    missing = [
        str(c)
        for c in classes
        if graph.value(c, RDFS.label) is None or graph.value(c, RDFS.comment) is None
    ]

    assert classes
    assert missing == []


def test_shipped_ontology_has_the_expected_version_and_roots() -> None:
    onto = load_ontology()

    assert onto.version == ONTOLOGY_VERSION
    assert {"mc:DataAsset", "mc:AlgorithmAsset", "mc:InfrastructureAsset"} <= set(onto.classes())
    assert all(c.startswith("mc:") for c in onto.classes())


def test_ontology_is_read_once_per_process() -> None:
    assert load_ontology() is load_ontology()


def test_class_under_two_roots_is_refused() -> None:
    text = HEADER + "mc:Both a owl:Class ; rdfs:subClassOf mc:DataAsset, mc:AlgorithmAsset ."

    with pytest.raises(InputError, match="'mc:Both' must sit under exactly one category root"):
        Ontology.from_turtle(text)


def test_class_under_no_root_is_refused() -> None:
    text = HEADER + "mc:Orphan a owl:Class ."

    with pytest.raises(
        InputError, match="'mc:Orphan' must sit under exactly one category root, not none"
    ):
        Ontology.from_turtle(text)


def test_subclass_of_undeclared_class_is_refused() -> None:
    text = HEADER + "mc:Child a owl:Class ; rdfs:subClassOf mc:Typo ."

    with pytest.raises(InputError, match="'mc:Child' is a subclass of undeclared 'mc:Typo'"):
        Ontology.from_turtle(text)


def test_bad_turtle_is_an_input_error() -> None:
    with pytest.raises(InputError, match="ontology: not valid Turtle"):
        Ontology.from_turtle("mc:Broken a ")


def test_namespace_matches_the_turtle_prefix() -> None:
    graph = _shipped_graph()

    assert (URIRef(NAMESPACE + "DataAsset"), RDF.type, OWL.Class) in graph
