"""The P4 cast on top of the CLI tests' market: a buyer, three sellers, three executors.

The buyer is the cast's CLIENT (account 1). The sellers are MODEL (4) and accounts 16 and
17, registered as model owners here; the executors COMPUTE (5) and accounts 18 and 19,
registered as compute providers. Each seller brings a scikit-learn model of digits trained
on the part of the set that the buyer's ``--sample-data digits`` leaves out, in
:data:`SELLERS` order: a logistic regression on 150 rows, a shallow decision tree and a
support vector classifier on every row (the best).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .helpers import CLIENT, COMPUTE, MODEL, Cli

SELLERS = (MODEL, 16, 17)
EXECUTORS = (COMPUTE, 18, 19)
PERIOD = 600
SCHEDULE = "0.5:0.01,0.8:0.02"
"""0.01 ETH from a score of 0.5, 0.02 from 0.8. On the buyer's hidden groups (drawn at
random) the logistic regression scores about 0.9, the tree about 0.5, the SVC about 0.99."""
PRICES = (10**16, 2 * 10**16)
SELLER_STAKE = 10**15
EXECUTOR_STAKE = 2 * 10**15
EXECUTOR_FEE = 10**14
BOND = 10**15


def register_cast(cli: Cli) -> None:
    """Register the sellers and executors the CLI tests' cast lacks."""
    cli.register("model-owner", *SELLERS[1:])
    cli.register("compute-provider", *EXECUTORS[1:])


def model_files(folder: Path) -> list[Path]:
    """Each seller's .skops model of digits, written into ``folder`` (in SELLERS order)."""
    import skops.io
    from sklearn.linear_model import LogisticRegression
    from sklearn.svm import SVC
    from sklearn.tree import DecisionTreeClassifier

    from mercato.ml.datasets import seller_and_buyer_parts

    sold, _ = seller_and_buyer_parts("digits")
    X, y = sold.X, sold.y
    models = (
        LogisticRegression(max_iter=3000).fit(X[:150], y[:150]),
        DecisionTreeClassifier(max_depth=4, random_state=0).fit(X[150:550], y[150:550]),
        SVC(gamma=0.001).fit(X, y),
    )
    paths = []
    for number, model in enumerate(models):
        path = folder / f"seller-{number}.skops"
        skops.io.dump(model, path)
        paths.append(path)
    return paths


def post(cli: Cli, *extra: object) -> int:
    """``modelmarket post --json`` of digits' held-out rows by CLIENT; the request's id."""
    posted: dict[str, Any] = cli.json(
        "modelmarket", "post", "--sample-data", "digits", "--schedule", SCHEDULE,
        "--k", 2, "--executors", 3, "--period", PERIOD,
        "--seller-stake", f"{SELLER_STAKE}wei", "--executor-stake", f"{EXECUTOR_STAKE}wei",
        "--executor-fee", f"{EXECUTOR_FEE}wei", "--bond", f"{BOND}wei",
        "--account", CLIENT, *extra,
    )  # fmt: skip
    return int(posted["request"]["request_id"])


def open_submissions(cli: Cli, request_id: int) -> None:
    """Draw the sample and reveal it: the request takes submissions."""
    cli.ok("modelmarket", "advance", request_id, "--account", COMPUTE)
    cli.ok("modelmarket", "reveal-sample", request_id, "--account", CLIENT)
