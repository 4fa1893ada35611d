"""The client's requirements document: validation, canonical bytes and matching."""

from __future__ import annotations

import json
from typing import Any

import pytest

from mercato.errors import InputError
from mercato.ontology import (
    NAMESPACE,
    ONTOLOGY_VERSION,
    AssetOffer,
    Category,
    Requirements,
    matches,
)

# keccak-256 of the canonical bytes pinned below (cross-checked with pycryptodome): the hash
# of a published document must never change under a client's feet.
GOLDEN_DIGEST = "91cf99824ac75eff2776cbaf22f8be16f4a83b14606f1c6c6a3d5d64dc941b7f"


def _document(**changes: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "classes": {
            "data": "mc:LabelledImages",
            "algorithm": "mc:ClassificationAlgorithm",
            "infrastructure": "mc:AttestedCompute",
        },
        "constraints": {"max_training_seconds": 600},
        "metric": {"name": "accuracy", "minimum": 0.9},
        "ontology": ONTOLOGY_VERSION,
        "task": "classify handwritten digits",
        "version": 1,
    }
    document.update(changes)
    return document


def _requirements() -> Requirements:
    return Requirements(
        data="mc:LabelledImages",
        algorithm="mc:ClassificationAlgorithm",
        infrastructure="mc:AttestedCompute",
        task="classify handwritten digits",
        metric="accuracy",
        minimum=0.9,
        constraints={"max_training_seconds": 600},
    )


def test_parse_reads_a_valid_document() -> None:
    raw = json.dumps(_document(), indent=2)

    parsed = Requirements.parse(raw)

    assert parsed == _requirements()
    assert parsed.required_class(Category.DATA) == "mc:LabelledImages"
    assert parsed.minimum == 0.9


def test_canonical_bytes_are_sorted_and_compact() -> None:
    raw = _requirements().to_json_bytes()

    assert raw == (
        b'{"classes":{"algorithm":"mc:ClassificationAlgorithm","data":"mc:LabelledImages",'
        b'"infrastructure":"mc:AttestedCompute"},"constraints":{"max_training_seconds":600},'
        b'"metric":{"minimum":0.9,"name":"accuracy"},"ontology":"https://mercato.dev/ontology/1",'
        b'"task":"classify handwritten digits","version":1}'
    )


def test_digest_is_keccak_of_canonical_bytes_and_pinned() -> None:
    requirements = _requirements()

    assert requirements.digest().hex() == GOLDEN_DIGEST


def test_digest_ignores_key_order_whitespace_and_class_spelling() -> None:
    document = _document()
    document["classes"]["data"] = NAMESPACE + "LabelledImages"
    reordered = json.dumps(dict(reversed(list(document.items()))), indent=4)

    parsed = Requirements.parse(reordered.encode("utf-8"))

    assert parsed.digest() == _requirements().digest()
    assert hash(parsed) == hash(_requirements())


def test_round_trip_through_canonical_bytes() -> None:
    requirements = _requirements()

    assert Requirements.parse(requirements.to_json_bytes()) == requirements


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"{not json", r"^requirements: malformed JSON at line 1 column 2: "),
        (b"\xff\xfe{}", r"^requirements: not UTF-8 text \(byte 0\)$"),
        (b"[1, 2]", r"^requirements: document must be a JSON object$"),
        (b'{"task": "a", "task": "b"}', r"^requirements: duplicate key 'task'$"),
        (b"x" * (64 * 1024 + 1), r"^requirements: document is larger than 65536 bytes$"),
    ],
)
def test_unreadable_document_is_refused(raw: bytes, message: str) -> None:
    with pytest.raises(InputError, match=message):
        Requirements.parse(raw)


def test_nan_is_refused() -> None:
    raw = json.dumps(_document()).replace("0.9", "NaN")

    with pytest.raises(InputError, match=r"^requirements: NaN is not a valid JSON number$"):
        Requirements.parse(raw)


def test_missing_field_is_named() -> None:
    document = _document()
    del document["task"]

    with pytest.raises(InputError, match=r"^requirements: missing field 'task'$"):
        Requirements.parse(json.dumps(document))


def test_unknown_field_is_named() -> None:
    with pytest.raises(InputError, match=r"^requirements: unknown field 'price'$"):
        Requirements.parse(json.dumps(_document(price=5)))


def test_missing_category_is_named() -> None:
    document = _document()
    del document["classes"]["algorithm"]

    with pytest.raises(
        InputError, match=r"^requirements: no class required for category 'algorithm'$"
    ):
        Requirements.parse(json.dumps(document))


def test_unknown_category_is_named() -> None:
    document = _document()
    document["classes"]["compute"] = "mc:GPUCompute"

    with pytest.raises(InputError, match=r"^requirements: unknown category 'compute' in classes; "):
        Requirements.parse(json.dumps(document))


def test_class_in_the_wrong_category_is_refused() -> None:
    document = _document()
    document["classes"]["data"] = "mc:GPUCompute"

    with pytest.raises(
        InputError,
        match=r"^requirements: data class 'mc:GPUCompute' belongs to category 'infrastructure'$",
    ):
        Requirements.parse(json.dumps(document))


def test_unknown_class_is_refused_with_a_suggestion() -> None:
    document = _document()
    document["classes"]["algorithm"] = "mc:RandomForrest"

    with pytest.raises(
        InputError,
        match=r"^requirements: algorithm: unknown ontology class 'mc:RandomForrest'\. "
        r"Did you mean 'mc:RandomForest'\?$",
    ):
        Requirements.parse(json.dumps(document))


@pytest.mark.parametrize("minimum", [1.5, -0.1])
def test_metric_out_of_range_is_refused(minimum: float) -> None:
    document = _document(metric={"name": "accuracy", "minimum": minimum})

    with pytest.raises(
        InputError, match=rf"^requirements: minimum accuracy {minimum} is out of range \[0, 1\]$"
    ):
        Requirements.parse(json.dumps(document))


@pytest.mark.parametrize(
    ("metric", "message"),
    [
        ({"name": "auc", "minimum": 0.5}, r"^requirements: unknown metric 'auc'; expected one of "),
        (
            {"name": "accuracy", "minimum": True},
            r"^requirements: minimum accuracy must be a number",
        ),
        ({"name": "accuracy"}, r"^requirements: missing field 'metric.minimum'$"),
        (
            {"name": "accuracy", "minimum": 0.9, "max": 1},
            r"^requirements: unknown field 'metric.max'$",
        ),
    ],
)
def test_bad_metric_is_refused(metric: dict[str, Any], message: str) -> None:
    with pytest.raises(InputError, match=message):
        Requirements.parse(json.dumps(_document(metric=metric)))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"version": 2}, r"^requirements: unsupported version 2 \(this Mercato reads version 1\)$"),
        (
            {"ontology": "https://example.org/other"},
            r"^requirements: written for ontology 'https://example.org/other'",
        ),
        ({"task": ""}, r"^requirements: task must be a non-empty string$"),
        (
            {"constraints": {"gpu": {"count": 2}}},
            r"^requirements: constraint 'gpu' must be a string, number",
        ),
        ({"constraints": []}, r"^requirements: constraints must be a JSON object$"),
    ],
)
def test_bad_top_level_value_is_refused(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(InputError, match=message):
        Requirements.parse(json.dumps(_document(**changes)))


def test_direct_construction_is_validated_too() -> None:
    with pytest.raises(
        InputError,
        match=r"^requirements: infrastructure class 'mc:SVM' belongs to category 'algorithm'$",
    ):
        Requirements(
            data="mc:DataAsset",
            algorithm="mc:AlgorithmAsset",
            infrastructure="mc:SVM",
            task="t",
            metric="accuracy",
            minimum=0.5,
        )


@pytest.mark.parametrize(
    ("category", "asset", "expected"),
    [
        (Category.DATA, "mc:HandwrittenDigitImages", True),
        (Category.DATA, "mc:TumourDiagnosisRecords", False),
        (Category.ALGORITHM, "mc:GradientBoosting", True),
        (Category.ALGORITHM, "mc:HandwrittenDigitImages", False),
        (Category.INFRASTRUCTURE, "mc:SoftwareAttestedCompute", True),
        (Category.INFRASTRUCTURE, "mc:GPUCompute", False),
    ],
)
def test_matches_uses_the_required_class_of_the_category(
    category: Category, asset: str, expected: bool
) -> None:
    assert matches(_requirements(), category, asset) is expected


def test_offer_matches_through_its_category() -> None:
    offer = AssetOffer(Category.DATA, NAMESPACE + "HandwrittenDigitImages", "digits")

    assert offer.asset_class == "mc:HandwrittenDigitImages"
    assert offer.matches(_requirements())


def test_offer_in_the_wrong_category_is_refused() -> None:
    with pytest.raises(
        InputError,
        match=r"^offer 'sgx box': class 'mc:IntelSGX' belongs to category 'infrastructure', "
        r"not 'data'$",
    ):
        AssetOffer(Category.DATA, "mc:IntelSGX", "sgx box")
