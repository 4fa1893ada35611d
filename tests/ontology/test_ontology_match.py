"""Subsumption, categories and class-name handling of the shipped ontology."""

from __future__ import annotations

import pytest

from mercato.errors import InputError
from mercato.ontology import NAMESPACE, Category, Ontology, load_ontology


@pytest.fixture(scope="module")
def onto() -> Ontology:
    return load_ontology()


@pytest.mark.parametrize(
    ("asset", "required"),
    [
        ("mc:HandwrittenDigitImages", "mc:LabelledImages"),
        ("mc:TumourDiagnosisRecords", "mc:MedicalTabularData"),
        ("mc:RandomForest", "mc:TreeEnsemble"),
        ("mc:IntelSGX", "mc:TEECompute"),
    ],
)
def test_direct_subclass_is_subsumed(onto: Ontology, asset: str, required: str) -> None:
    assert onto.is_subclass(asset, required)


@pytest.mark.parametrize(
    ("asset", "required"),
    [
        ("mc:HandwrittenDigitImages", "mc:DataAsset"),
        ("mc:HandwrittenDigitImages", "mc:ClassificationData"),
        ("mc:TumourDiagnosisRecords", "mc:TabularData"),
        ("mc:WineChemistryRecords", "mc:ClassificationData"),
        ("mc:MultilayerPerceptron", "mc:ClassificationAlgorithm"),
        ("mc:AMDSEV", "mc:AttestedCompute"),
        ("mc:IntelTDX", "mc:InfrastructureAsset"),
    ],
)
def test_transitive_subclass_is_subsumed(onto: Ontology, asset: str, required: str) -> None:
    assert onto.is_subclass(asset, required)


def test_class_is_subsumed_by_itself(onto: Ontology) -> None:
    assert all(onto.is_subclass(cls, cls) for cls in onto.classes())


@pytest.mark.parametrize(
    ("asset", "required"),
    [
        ("mc:LabelledImages", "mc:HandwrittenDigitImages"),  # superclass is not a subclass
        ("mc:WineChemistryRecords", "mc:MedicalTabularData"),  # sibling branch
        ("mc:LogisticRegression", "mc:TreeEnsemble"),
        ("mc:SoftwareAttestedCompute", "mc:TEECompute"),  # no hardware isolation
        ("mc:GPUCompute", "mc:CPUCompute"),
    ],
)
def test_unrelated_class_is_not_subsumed(onto: Ontology, asset: str, required: str) -> None:
    assert not onto.is_subclass(asset, required)


@pytest.mark.parametrize(
    ("asset", "required"),
    [
        ("mc:HandwrittenDigitImages", "mc:AlgorithmAsset"),
        ("mc:SVM", "mc:DataAsset"),
        ("mc:IntelSGX", "mc:ClassificationAlgorithm"),
        ("mc:ClassificationData", "mc:ClassificationAlgorithm"),
    ],
)
def test_class_never_matches_across_categories(onto: Ontology, asset: str, required: str) -> None:
    assert not onto.is_subclass(asset, required)


@pytest.mark.parametrize(
    ("cls", "category"),
    [
        ("mc:DataAsset", Category.DATA),
        ("mc:HandwrittenDigitImages", Category.DATA),
        ("mc:GradientBoosting", Category.ALGORITHM),
        ("mc:SoftwareAttestedCompute", Category.INFRASTRUCTURE),
    ],
)
def test_category_of_follows_the_root(onto: Ontology, cls: str, category: Category) -> None:
    assert onto.category_of(cls) is category


def test_full_iri_and_curie_name_the_same_class(onto: Ontology) -> None:
    iri = NAMESPACE + "HandwrittenDigitImages"

    assert onto.curie(iri) == "mc:HandwrittenDigitImages"
    assert onto.iri("mc:HandwrittenDigitImages") == iri
    assert onto.is_subclass(iri, NAMESPACE + "ImageData")


def test_unknown_class_suggests_the_closest_name(onto: Ontology) -> None:
    with pytest.raises(InputError) as caught:
        onto.is_subclass("mc:TabularDat", "mc:DataAsset")

    assert (
        str(caught.value)
        == "unknown ontology class 'mc:TabularDat'. Did you mean 'mc:TabularData'?"
    )


def test_unknown_iri_is_reported_as_curie(onto: Ontology) -> None:
    with pytest.raises(
        InputError, match=r"^unknown ontology class 'mc:Svm'\. Did you mean 'mc:SVM'\?$"
    ):
        onto.category_of(NAMESPACE + "Svm")


def test_unknown_class_without_close_match_explains_the_naming(onto: Ontology) -> None:
    with pytest.raises(InputError, match=r"unknown ontology class 'owl:Thing'; name a class as"):
        onto.curie("owl:Thing")


def test_classes_of_one_category_stay_in_it(onto: Ontology) -> None:
    algorithms = onto.classes(Category.ALGORITHM)

    assert "mc:LogisticRegression" in algorithms
    assert all(onto.category_of(c) is Category.ALGORITHM for c in algorithms)
    assert len(onto.classes()) == sum(len(onto.classes(c)) for c in Category)


def test_category_numbering_is_the_on_chain_encoding() -> None:
    assert [int(c) for c in Category] == [0, 1, 2]
    assert [c.label for c in Category] == ["data", "algorithm", "infrastructure"]
    assert [c.root for c in Category] == [
        "mc:DataAsset",
        "mc:AlgorithmAsset",
        "mc:InfrastructureAsset",
    ]


def test_unknown_category_label_is_refused() -> None:
    with pytest.raises(InputError, match="unknown asset category 'compute'"):
        Category.from_label("compute")
