"""P1 with a participant's own files: a CSV sold, requirements that ask for features and
classes, and the client's model taken out as a .skops file that scores what the client measured."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score

from mercato.errors import ProtocolError
from mercato.ml.algorithms import AlgorithmSpec
from mercato.ml.data_files import read_data
from mercato.ml.datasets import load_dataset
from mercato.ml.evaluate import evaluate
from mercato.ml.model_files import read_model
from mercato.ml.schema import DataSchema
from mercato.ontology.category import Category
from mercato.ontology.requirements import Requirements
from mercato.protocols.auction import client as client_steps
from mercato.protocols.auction import provider as provider_steps
from mercato.protocols.auction.house import Status
from mercato.protocols.auction.provider import Offer
from mercato.protocols.identity import Identity
from mercato.protocols.marketplace import Marketplace
from mercato.protocols.results import export_result
from mercato.protocols.roles import Role
from mercato.units import ether

CLINIC = Path(__file__).resolve().parents[3] / "examples" / "clinic"
SCHEMA = DataSchema.read(CLINIC / "patients.schema.json")
FEATURES = ("age", "bmi", "systolic_bp", "glucose", "hba1c", "smoker")


def requirements(**asked: tuple[str, ...]) -> Requirements:
    return Requirements(
        data="mc:MedicalTabularData",
        algorithm="mc:ClassificationAlgorithm",
        infrastructure="mc:AttestedCompute",
        task="predict a patient's cardiometabolic risk",
        metric="accuracy",
        minimum=0.8,
        **asked,
    )


@pytest.fixture(scope="module")
def sold() -> Offer:
    data = read_data(CLINIC / "patients.csv", schema=SCHEMA)
    return Offer(Category.DATA, data.ontology_class, ether("0.3"), data.to_bytes())


def deliver(blobs: Path, sold: Offer) -> tuple[Marketplace, Identity, Identity, int]:
    """An auction for the clinic CSV run to a delivery on the embedded chain, not yet reviewed."""
    market = Marketplace.create(store=blobs)
    people = list(map(Identity, market.chain.dev_accounts(6)))
    _, client, arbiter, data_owner, model_owner, compute = people
    for who, role in [(client, Role.CLIENT), (arbiter, Role.ARBITER),
                      (data_owner, Role.DATA_OWNER), (model_owner, Role.MODEL_OWNER),
                      (compute, Role.COMPUTE_PROVIDER)]:  # fmt: skip
        market.registry.register(who, role)
    wanted = requirements(features=("age", "hba1c"), labels=("low", "high"))
    auction_id = client_steps.open_auction(
        market, client, wanted, max_prices=[ether(1)] * 3, duration=3600, arbiter=arbiter.address
    )
    algorithm = AlgorithmSpec("logistic_regression", hyperparameters={"C": 1.0})
    offers = {
        data_owner: sold,
        model_owner: Offer(
            Category.ALGORITHM, algorithm.ontology_class, 0, algorithm.to_json_bytes()
        ),
        compute: Offer(Category.INFRASTRUCTURE, "mc:SoftwareAttestedCompute", 0),
    }
    house = market.auction_house
    for who, offer in offers.items():
        assert offer.matches(wanted)
        house.bid(who.account, auction_id, offer.category, ether("0.5"))
    house.adjudicate(client.account, auction_id)
    for who in (data_owner, model_owner):
        provider_steps.hand_over(market, who, auction_id, offers[who])
    provider_steps.execute(market, compute, auction_id)
    return market, client, compute, auction_id


@pytest.fixture(scope="module")
def delivered(tmp_path_factory: pytest.TempPathFactory, sold: Offer) -> tuple:
    """An auction for the clinic CSV run to a confirmed delivery on the embedded chain."""
    market, client, compute, auction_id = deliver(tmp_path_factory.mktemp("blobs"), sold)
    held_out = read_data(CLINIC / "holdout.csv", schema=SCHEMA)
    review = client_steps.review_delivery(market, client, auction_id, held_out)
    client_steps.settle_review(market, client, review)
    return market, client, compute, auction_id, review, held_out


def test_a_data_offer_matches_only_when_it_has_what_is_asked(sold: Offer) -> None:
    # act
    fits = sold.mismatch(requirements(features=FEATURES[:2], labels=("high",)))
    lacks_feature = sold.mismatch(requirements(features=("age", "cholesterol")))
    lacks_class = sold.mismatch(requirements(labels=("low", "medium")))
    unnamed = Offer(Category.DATA, "mc:TumourDiagnosisRecords", 0,
                    load_dataset("breast_cancer").to_bytes())  # fmt: skip

    # assert
    assert fits is None
    assert lacks_feature == "the data lacks the required feature(s) 'cholesterol'"
    assert lacks_class == "the data lacks the required class(es) 'medium'"
    assert unnamed.mismatch(requirements()) is None
    assert unnamed.mismatch(requirements(features=("age",))) is not None


def test_requirements_asking_nothing_of_the_data_keep_their_bytes() -> None:
    # act
    plain = requirements()
    asking = requirements(features=("age",), labels=("high",))

    # assert
    assert b"features" not in plain.to_json_bytes()
    assert Requirements.parse(asking.to_json_bytes()) == asking
    assert json.loads(asking.to_json_bytes())["features"] == ["age"]


def test_the_client_takes_the_model_and_it_scores_what_the_client_measured(
    delivered: tuple, tmp_path: Path
) -> None:
    # prepare
    market, client, _, auction_id, review, held_out = delivered

    # act
    result = client_steps.take_model(market, client, auction_id, held_out)
    model_file, metrics_file = export_result(result, tmp_path / "risk.skops")
    reloaded = read_model(model_file)

    # assert
    assert market.auction_house.auction(auction_id).status is Status.CONFIRMED
    assert review.accepted
    assert result.metrics == review.metrics
    assert evaluate(reloaded, held_out.X, held_out.y) == review.metrics
    record = json.loads(metrics_file.read_text())
    assert record["model_hash"] == "0x" + market.auction_house.auction(auction_id).model_hash.hex()
    assert record["measured_on"]["rows"] == 200
    assert record["reported"]["required"] == {"metric": "accuracy", "minimum": 0.8}


def test_only_the_client_takes_the_model(delivered: tuple) -> None:
    # prepare
    market, _, compute, auction_id, _, _ = delivered

    # act / assert
    with pytest.raises(ProtocolError, match="only the client of auction"):
        client_steps.take_model(market, compute, auction_id)


def test_the_review_matches_the_clients_rows_to_a_model_that_names_its_classes(
    tmp_path: Path, sold: Offer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # prepare: the delivered model predicts the class names themselves; the client's rows,
    # read with --label, order them otherwise (sorted: high, low)
    market, client, _, auction_id = deliver(tmp_path / "blobs", sold)
    patients = read_data(CLINIC / "patients.csv", schema=SCHEMA)
    names = np.array(SCHEMA.class_names)
    model = LogisticRegression(max_iter=2000).fit(patients.X, names[patients.y])
    monkeypatch.setattr(client_steps, "load_model", lambda *_: model)
    held_out = read_data(CLINIC / "holdout.csv", label="risk")
    truth = accuracy_score(np.array(held_out.labels)[held_out.y], model.predict(held_out.X))

    # act
    review = client_steps.review_delivery(market, client, auction_id, held_out)
    taken = client_steps.take_model(market, client, auction_id, held_out)

    # assert
    assert held_out.labels == ("high", "low")
    assert truth >= 0.8
    assert review.metrics["accuracy"] == pytest.approx(truth)
    assert review.accepted, review.problems
    assert taken.metrics == review.metrics
    assert taken.measured_on["classes"] == ["high", "low"]
    assert taken.measured_on["class_order"] == "model"
