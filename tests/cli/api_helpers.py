"""The P5 cast on top of the CLI tests' market: a provider, two vendors, an orchestrator and
a consumer, and the API they share.

The provider is MODEL (account 4, a model owner); the vendors are COMPUTE (5) and account
18, the orchestrator account 19 (both registered as compute providers here); the consumer is
the cast's CLIENT (1). The model is a small scikit-learn MLP of digits, split into two
layer blocks: slot 0 holds the first, slot 1 the second.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mercato.chain.contract import Contract

from .helpers import CLIENT, COMPUTE, MODEL, Cli, address

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

    from mercato.chain.base import Chain

PROVIDER = MODEL
VENDORS = (COMPUTE, 18)
ORCHESTRATOR = 19
CONSUMER = CLIENT
EPOCH = 600
PRICE = 10**14
SHARES = (3 * 10**13, 3 * 10**13)
STAKES = {"vendor": 10**15, "orchestrator": 2 * 10**15}
DISPUTE_BOND = 2 * 10**15
"""The CLI's default --dispute-bond (0.002 ETH)."""
MODEL_FILE = "mlp.skops"


def register_cast(cli: Cli) -> None:
    """Register the compute providers the CLI tests' cast lacks."""
    cli.register("compute-provider", VENDORS[1], ORCHESTRATOR)


def digits_rows(folder: Path) -> tuple[Any, Any]:
    """Digits' rows and the MLP trained on them (written to ``folder/mlp.skops`` once)."""
    import skops.io
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    from mercato.ml.datasets import load_dataset

    digits = load_dataset("digits")
    path = folder / MODEL_FILE
    if path.is_file():
        return digits.X, skops.io.load(path, trusted=skops.io.get_untrusted_types(file=path))
    model = MLPClassifier(hidden_layer_sizes=(16,), max_iter=200, random_state=0)
    with warnings.catch_warnings():  # not converged: it need not be good, only the same split
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(digits.X[:600], digits.y[:600])
    skops.io.dump(model, path)
    return digits.X, model


def register_args(orchestrator_url: str, model: Path) -> list[object]:
    """``api register``'s arguments for the cast's API (the provider acting)."""
    return [
        "api", "register", "--model", model, "--parts", 2,
        "--slot", f"{address(VENDORS[0])}:0", "--slot", f"{address(VENDORS[1])}:1",
        "--orchestrator", address(ORCHESTRATOR), "--orchestrator-url", orchestrator_url,
        "--price", f"{PRICE}wei", "--share", f"{SHARES[0]}wei", "--share", f"{SHARES[1]}wei",
        "--vendor-stake", f"{STAKES['vendor']}wei",
        "--orchestrator-stake", f"{STAKES['orchestrator']}wei",
        "--join-period", EPOCH, "--epoch", EPOCH, "--window", EPOCH, "--response", EPOCH // 4,
        "--classes", ",".join(str(d) for d in range(10)), "--account", PROVIDER,
    ]  # fmt: skip


def register_api(cli: Cli, orchestrator_url: str, *extra: object) -> dict[str, Any]:
    """``api register --json`` of the cast's API (``extra``: more options)."""
    digits_rows(cli.home)
    args = register_args(orchestrator_url, cli.home / MODEL_FILE)
    registered: dict[str, Any] = cli.json(*args, *extra)
    return registered


def deploy_fake_model_market(chain: Chain, deployer: LocalAccount) -> Contract:
    """The P5 tests' stand-in model market (its ``purchase`` answers what a test sets)."""
    import vyper
    from eth_abi.abi import encode

    from mercato.chain.contract import ABI

    path = Path(__file__).parents[1] / "protocols" / "apimarket" / "FakeModelMarket.vy"
    output = vyper.compile_code(path.read_text(), output_formats=["abi", "bytecode"])
    abi = ABI(output["abi"])
    bytecode = bytes.fromhex(output["bytecode"].removeprefix("0x"))
    receipt = chain.deploy(deployer, bytecode + encode(abi.constructor, []))
    assert receipt.contract_address is not None
    return Contract(chain, receipt.contract_address, abi, "FakeModelMarket")
