"""The chaos scenarios of the model markets: P4 (a model market's request) and P5 (an API).

They follow the README's walk-throughs with development accounts of their own (16 and up,
so that a soak runs them beside P1-P3 on one node). The node funds the first
:data:`~mercato.chain.anvil.DEV_ACCOUNT_COUNT` accounts only: each market's opening funds
the others it uses as the node funds those (``anvil_setBalance``), before anyone stakes.
Registering costs nothing on the harness's node (free gas).
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from mercato.chaos.scenarios import AgentSpec, Commands, Scenario
from mercato.protocols.marketplace import Marketplace
from mercato.protocols.roles import Role

ETHER = 10**18
FUNDS = 10 * ETHER
"""What an account the node does not fund is given when its market opens."""
SAMPLE_SET = "digits"
"""The sample set whose held-out part is the P4 buyer's hidden test rows (its other part
trains the sellers' models)."""
MODEL_FOLDER = Path(tempfile.gettempdir()) / f"mercato-chaos-models-{os.getuid()}"
"""Where the P4 sellers' model files are made, once per user of the machine."""


def fund(market: Marketplace, accounts: tuple[int, ...]) -> None:
    """Top up to :data:`FUNDS` each account the node does not fund, as it funds the others
    (a soak opens many markets: an account is never set below what it holds)."""
    from mercato.chain.accounts import dev_account
    from mercato.chain.anvil import DEV_ACCOUNT_COUNT

    for account in accounts:
        address = dev_account(account).address
        if account >= DEV_ACCOUNT_COUNT and market.chain.balance(address) < FUNDS:
            market.chain.set_balance(address, FUNDS)


# P4: the model market --------------------------------------------------------------------
BUYER, SELLERS, EXECUTORS = 16, (17, 18), (19, 20, 21)
MODEL_PERIOD_S = 30
"""Seconds every phase of the request lasts at most: the submissions and the complaint
window are waited out, so a request takes about three periods."""
SELLER_MODELS = {17: "logistic_regression", 18: "decision_tree"}
"""Each seller's model, trained on the sample set's sellers' part."""


def seller_model(kind: str, folder: Path | None = None) -> Path:
    """The model file of ``kind`` (a .skops), trained on the sellers' part of
    :data:`SAMPLE_SET` unless ``folder`` (default :data:`MODEL_FOLDER`) already holds it."""
    from mercato.user_files import secret_folder, write_secret

    folder = MODEL_FOLDER if folder is None else folder
    path = folder / f"{SAMPLE_SET}-{kind}.skops"
    if path.is_file():
        return path
    import skops.io
    from sklearn.linear_model import LogisticRegression
    from sklearn.tree import DecisionTreeClassifier

    from mercato.ml.datasets import seller_and_buyer_parts

    sold, _ = seller_and_buyer_parts(SAMPLE_SET)
    model = (
        LogisticRegression(max_iter=3000)
        if kind == "logistic_regression"
        else DecisionTreeClassifier(max_depth=8, random_state=0)
    )
    model.fit(sold.X, sold.y)
    secret_folder(folder)
    return write_secret(path, bytes(skops.io.dumps(model)))


@dataclass(frozen=True)
class SellerSpec(AgentSpec):
    """A P4 seller's agent: ``--model FILE``, the file made when its command is first asked
    (the harness asks just before it starts the agent)."""

    model: str = "logistic_regression"

    def command(self) -> tuple[str, ...]:
        return (*super().command(), "--model", str(seller_model(self.model)))


MODEL_ONE_SHOT = frozenset(
    {"reveal_sample", "reject_delivery", "submit", "volunteer", "seal", "commit_scores",
     "reveal_scores", "tally", "reveal_key", "complain", "finish"}
)  # fmt: skip
"""Sent at most once per request by each participant (``finish`` once per submission)."""


def _open_request(market: Marketplace, commands: Commands) -> int:
    """A request for the best model on the sample set's held-out part, 32 groups of which 4
    are revealed, priced as in the README, one bought, three executors."""
    fund(market, (BUYER, *SELLERS, *EXECUTORS))
    posted = commands(
        "modelmarket", "post", "--sample-data", SAMPLE_SET, "--groups", "32",
        "--sample", "4", "--schedule", "0.7:0.01,0.8:0.02,0.85:0.03", "--k", "1",
        "--executors", str(len(EXECUTORS)), "--period", str(MODEL_PERIOD_S),
        "--account", str(BUYER),
    )  # fmt: skip
    return int(posted["request"]["request_id"])


def _request_locked(market: Marketplace, request_id: int) -> int:
    return int(market.model_market.request(request_id).locked)


MODELMARKET = Scenario(
    protocol="modelmarket",
    registrations=(
        (BUYER, Role.CLIENT),
        *((i, Role.MODEL_OWNER) for i in SELLERS),
        *((i, Role.COMPUTE_PROVIDER) for i in EXECUTORS),
    ),
    agents=(
        AgentSpec("buyer", BUYER, ("--role", "buyer")),
        *(SellerSpec(f"seller-{i}", i, ("--role", "seller"), SELLER_MODELS[i]) for i in SELLERS),
        *(AgentSpec(f"executor-{i}", i, ("--role", "executor")) for i in EXECUTORS),
    ),
    open_market=_open_request,
    locked=_request_locked,
    credits=None,
    one_shot=MODEL_ONE_SHOT,
)
