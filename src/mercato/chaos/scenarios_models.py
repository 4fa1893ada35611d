"""The chaos scenarios of the model markets: P4 (a model market's request) and P5 (an API).

They follow the README's walk-throughs with development accounts of their own (16 and up,
so that a soak runs them beside P1-P3 on one node). The node funds the first
:data:`~mercato.chain.anvil.DEV_ACCOUNT_COUNT` accounts only: each market's opening funds
the others it uses as the node funds those (``anvil_setBalance``), before anyone stakes.
Registering costs nothing on the harness's node (free gas).
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from mercato.chaos.scenarios import ENTRY, AgentSpec, Commands, Scenario, ServiceSpec
from mercato.protocols.marketplace import Marketplace
from mercato.protocols.roles import Role

logger = logging.getLogger(__name__)

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


# P5: an API market -----------------------------------------------------------------------
API_PROVIDER, API_VENDORS, API_ORCHESTRATOR, API_CONSUMER = 22, (23, 24, 25), 26, 27
API_MODEL = "decision_tree"
"""The provider's model (a seller's of P4), split into its top and two subtrees: components
0, 1 and 2, one vendor each."""
API_PERIODS_S = {"--join-period": 60, "--epoch": 20, "--window": 15, "--response": 10}
"""One epoch of calls, its batch due an epoch later, then the window: an API ends about a
minute after it went live. Joining ends as soon as everyone joined and accepted."""
API_CALLS = 3
"""Calls the consumer makes while the API is live..."""
CALL_TRIES = 30
"""...in at most this many tries, a second apart (a try fails while a fault lasts, before
the API is live or before the consumer's agent deposited)."""
CALL_PAUSE_S = 1.0
API_ROWS = 4
"""Rows of each call: the first rows of the sample set's held-out part."""


def api_rows(folder: Path | None = None) -> Path:
    """The consumer's rows (a .npy) in ``folder`` (default :data:`MODEL_FOLDER`), made once."""
    from mercato.user_files import secret_folder

    folder = MODEL_FOLDER if folder is None else folder
    path = folder / f"{SAMPLE_SET}-rows-{API_ROWS}.npy"
    if path.is_file():
        return path
    import numpy as np

    from mercato.ml.datasets import seller_and_buyer_parts

    _, held_out = seller_and_buyer_parts(SAMPLE_SET)
    secret_folder(folder)
    partial = path.with_suffix(".partial.npy")
    np.save(partial, np.asarray(held_out.X[:API_ROWS], dtype=np.float64))
    partial.replace(path)
    return path


def _open_api(market: Marketplace, commands: Commands) -> int:
    """An API of the provider's tree over three vendors in base mode (no P4 purchase), its
    orchestrator to serve on a free loopback port."""
    from mercato.chain.accounts import dev_account
    from mercato.chaos.services import HOST, free_port

    fund(market, (API_PROVIDER, *API_VENDORS, API_ORCHESTRATOR, API_CONSUMER))
    slots = [arg for component, account in enumerate(API_VENDORS)
             for arg in ("--slot", f"{dev_account(account).address}:{component}")]  # fmt: skip
    periods = [str(arg) for option, seconds in API_PERIODS_S.items() for arg in (option, seconds)]
    registered = commands(
        "api", "register", "--model", str(seller_model(API_MODEL)), "--parts", "2", *slots,
        "--orchestrator", dev_account(API_ORCHESTRATOR).address,
        "--orchestrator-url", f"http://{HOST}:{free_port()}", "--price", "0.001",
        *("--share", "0.0002") * len(API_VENDORS), *periods, "--account", str(API_PROVIDER),
    )  # fmt: skip
    return int(registered["api"]["api"])


def _call_api(commands: Commands, api_id: int) -> None:
    """The consumer's :data:`API_CALLS` calls once it can make them; a call the orchestrator
    did not answer is sent again (``--retry``: charged once)."""
    from mercato.errors import MercatoError

    rows, made, retry = api_rows(), 0, False
    for _ in range(CALL_TRIES):
        what = ("--retry",) if retry else ("--rows", str(rows))
        try:
            commands("api", "call", str(api_id), *what, "--account", str(API_CONSUMER))
        except MercatoError as exc:
            retry = retry or "--retry" in str(exc)
            logger.info("chaos: API %d: a call failed: %s", api_id, str(exc)[-300:])
        else:
            made, retry = made + 1, False
            if made == API_CALLS:
                return
        time.sleep(CALL_PAUSE_S)
    logger.warning("chaos: API %d: %d of %d calls made", api_id, made, API_CALLS)


API_ONE_SHOT = frozenset(
    {"join", "accept", "deposit", "commit_batch", "finalize_batch", "commit_output",
     "reveal_output", "release"}
)  # fmt: skip
"""Sent at most once per API by each participant; ``deposit`` too here: the consumer pays
in through its agent only, once the API is live."""


def _api_locked(market: Marketplace, api_id: int) -> int:
    return int(market.api_market.api(api_id).locked)


APIMARKET = Scenario(
    protocol="apimarket",
    registrations=(
        (API_PROVIDER, Role.MODEL_OWNER),
        *((i, Role.COMPUTE_PROVIDER) for i in API_VENDORS),
        (API_ORCHESTRATOR, Role.COMPUTE_PROVIDER),
        (API_CONSUMER, Role.CLIENT),
    ),
    agents=(
        AgentSpec("provider", API_PROVIDER, ("--role", "api-provider")),
        *(AgentSpec(f"vendor-{i}", i, ("--role", "vendor")) for i in API_VENDORS),
        AgentSpec("consumer", API_CONSUMER, ("--role", "consumer")),
        ServiceSpec("orchestrator", API_ORCHESTRATOR, ("orchestrator", "serve", "--api", ENTRY)),
    ),
    open_market=_open_api,
    locked=_api_locked,
    credits=None,
    one_shot=API_ONE_SHOT,
    traffic=_call_api,
)
