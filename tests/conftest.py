"""Fixtures shared by every test: a chain on each backend, funded accounts, test contracts.

A test that takes ``chain`` runs twice: on the embedded EVM and on anvil (marked ``rpc``;
deselect with ``-m "not rpc"``). One anvil serves the whole session; every test runs between
``evm_snapshot`` and ``evm_revert``, so each starts from the same fresh state. anvil runs
gas-free (base fee and tip zero), so balances move by exactly the values sent, as on the
embedded chain. Without the anvil binary the rpc tests are skipped locally and fail in CI.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from eth_abi.abi import encode
from eth_account.signers.local import LocalAccount

from mercato.chain import ABI, Anvil, Chain, Contract, EmbeddedChain, RpcChain
from mercato.errors import ConfigError

TEST_CONTRACTS_DIR = Path(__file__).parent / "contracts_for_tests"
LOOPBACK = "127.0.0.1"
ACCOUNT_COUNT = 10

DeployTestContract = Callable[..., Contract]

DEMO_MODULES = (
    "tests/protocols/test_demo_on_chain.py",
    "tests/web/test_web_api.py",
    "tests/web/test_web_dashboard.py",
    "tests/web/test_web_browser.py",
    "tests/cli/test_demo_serve.py",
)
"""The modules that read the one ``demo_run`` (embedded) or the one ``served_demo`` (on
anvil): one scheduling unit, so one worker runs each demo once; test_demo_serve.py, which
stops the served demo, last."""
FIRST_MODULES = ("tests/docs/test_readme.py", *DEMO_MODULES)
"""Started first, longest first: the README's walk-throughs are the longest stretch of one
worker (minutes of waiting for deadlines on a node), then the modules that run a whole demo,
so the other workers run everything else meanwhile instead of one worker finishing them
alone at the end."""


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Move :data:`FIRST_MODULES` to the front, in their order (the order within is kept)."""
    root = config.rootpath

    def rank(item: pytest.Item) -> int:
        module = item.path.relative_to(root).as_posix()
        return FIRST_MODULES.index(module) if module in FIRST_MODULES else len(FIRST_MODULES)

    items.sort(key=rank)


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """Under ``--dist loadfile``: hand whole test files to workers in collection order, with the
    files of :data:`DEMO_MODULES` as one unit: a module's fixtures (trained models,
    deployed markets) are built once, on one worker. ``--dist loadgroup`` cannot do this with
    pytest 9, whose ``item.nodeid`` no longer shows the group xdist writes into it."""
    if config.getoption("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class ModuleUnits(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::", 1)[0]
            return "demos" if module in DEMO_MODULES else module

    config.option.loadscopereorder = False  # keep FIRST_MODULES first
    return ModuleUnits(config, log)


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One `mercato demo --json` on a tapped embedded chain, for this test process
    (tests/protocols/demo_run.py)."""
    from tests.protocols.demo_run import TappedChain, run_demo

    run = run_demo(tmp_path_factory.mktemp("demo-run"))
    yield run
    TappedChain.close(run.chain)


@pytest.fixture(scope="session")
def served_demo(anvil: Anvil, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One `mercato demo --serve --json` process on its own anvil, for this test process
    (tests/served_demo.py); ``anvil`` only skips (or fails in CI) without the binary."""
    from tests.served_demo import serve_demo

    demo = serve_demo(tmp_path_factory.mktemp("served-demo"))
    try:
        yield demo
    finally:
        demo.stop()


@pytest.fixture(scope="session")
def anvil() -> Iterator[Anvil]:
    """One gas-free anvil node for the session."""
    try:
        node = Anvil(free_gas=True).start()
    except ConfigError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the rpc tier, but anvil is missing: {exc}", pytrace=False)
        pytest.skip(f"anvil not installed, rpc tier skipped: {exc}")
    try:
        yield node
    finally:
        node.stop()


@pytest.fixture
def rpc_chain(anvil: Anvil) -> Iterator[RpcChain]:
    """An RpcChain on the session's anvil; every change is undone after the test."""
    chain = RpcChain(anvil.url)
    snapshot = chain.rpc("evm_snapshot")
    try:
        yield chain
    finally:
        reverted = chain.rpc("evm_revert", snapshot)
        chain.rpc("anvil_dropAllTransactions")  # nothing a test left pending leaks on
        chain.close()
        if reverted is not True:
            raise RuntimeError(f"anvil could not revert to snapshot {snapshot}: state leaks")


@pytest.fixture(
    params=[
        pytest.param("embedded", id="embedded"),
        pytest.param("rpc", id="rpc", marks=pytest.mark.rpc),
    ]
)
def chain(request: pytest.FixtureRequest) -> Iterator[Chain]:
    """A fresh chain, once per backend."""
    if request.param == "rpc":
        yield request.getfixturevalue("rpc_chain")
        return
    embedded = EmbeddedChain()
    try:
        yield embedded
    finally:
        embedded.close()


@pytest.fixture
def accounts(chain: Chain) -> list[LocalAccount]:
    """Ten funded development accounts (10,000 ether each)."""
    return chain.dev_accounts(ACCOUNT_COUNT)


@cache
def _compile(name: str) -> tuple[ABI, bytes]:
    """ABI and bytecode of ``tests/contracts_for_tests/<name>.vy``, compiled once a session."""
    import vyper

    path = TEST_CONTRACTS_DIR / f"{name}.vy"
    output = vyper.compile_code(
        path.read_text(), contract_path=path.name, output_formats=["abi", "bytecode"]
    )
    return ABI(output["abi"]), bytes.fromhex(output["bytecode"].removeprefix("0x"))


@pytest.fixture
def compile_test_contract() -> Callable[[str], tuple[ABI, bytes]]:
    """``compile_test_contract("Counter")`` gives ABI and bytecode of a test-only contract."""
    return _compile


@pytest.fixture
def deploy_test_contract(chain: Chain) -> DeployTestContract:
    """Deploy a test-only contract: ``deploy_test_contract("Counter", 0, sender=alice)``."""

    def deploy(name: str, *args: Any, sender: LocalAccount, value: int = 0) -> Contract:
        abi, bytecode = _compile(name)
        receipt = chain.deploy(sender, bytecode + encode(abi.constructor, list(args)), value)
        assert receipt.contract_address is not None
        return Contract(chain, receipt.contract_address, abi, name)

    return deploy


DUMMY_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    # keep a developer's real AWS settings out of the tests
    "AWS_CONFIG_FILE": "/nonexistent/mercato-test-aws-config",
    "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/mercato-test-aws-credentials",
}
UNSET_AWS_ENV = ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3")


def free_port() -> int:
    """Return a TCP port on loopback that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """Run moto's S3-compatible server on loopback for the session; yield its URL."""
    from moto.server import ThreadedMotoServer

    with pytest.MonkeyPatch.context() as env:
        for name, value in DUMMY_AWS_ENV.items():
            env.setenv(name, value)
        for name in UNSET_AWS_ENV:
            env.delenv(name, raising=False)
        port = free_port()
        server = ThreadedMotoServer(ip_address=LOOPBACK, port=port, verbose=False)
        server.start()
        try:
            yield f"http://{LOOPBACK}:{port}"
        finally:
            server.stop()


@pytest.fixture
def dead_endpoint() -> str:
    """The URL of a loopback port on which nothing listens."""
    return f"http://{LOOPBACK}:{free_port()}"
