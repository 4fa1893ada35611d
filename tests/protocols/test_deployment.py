"""The deployment file: addresses, and the ABI of every contract written beside it."""

from __future__ import annotations

import json
from pathlib import Path

from mercato.chain.compile import compile_contract
from mercato.protocols.deployment import Deployment

DEPLOYMENT = Deployment(
    chain_id=31337,
    block=1,
    registry="0x" + "11" * 20,
    markets={
        "auction_house": "0x" + "22" * 20,
        "training_market": "0x" + "33" * 20,
        "data_market": "0x" + "44" * 20,
        "model_market": "0x" + "55" * 20,
        "api_market": "0x" + "66" * 20,
    },
)


def test_save_writes_the_abi_of_each_contract_beside_the_deployment_file(tmp_path: Path) -> None:
    # prepare
    path = tmp_path / "market" / "deployment.json"

    # act
    DEPLOYMENT.save(path)

    # assert: the file names each ABI file, relative to its folder; each is the compiler's ABI
    named = json.loads(path.read_text())["abi"]
    assert named == {
        "registry": "abi/Registry.json",
        "auction_house": "abi/AuctionHouse.json",
        "training_market": "abi/TrainingMarket.json",
        "data_market": "abi/DataMarket.json",
        "model_market": "abi/ModelMarket.json",
        "api_market": "abi/ApiMarket.json",
    }
    for file in named.values():
        abi = json.loads((path.parent / file).read_text())
        assert abi == compile_contract(Path(file).stem).abi
        assert {"event", "function", "constructor"} <= {item["type"] for item in abi}
    assert Deployment.load(path) == DEPLOYMENT


def test_a_deployment_file_without_abi_names_still_loads(tmp_path: Path) -> None:
    # prepare: a file written before the ABI files were
    path = tmp_path / "deployment.json"
    DEPLOYMENT.save(path)
    payload = json.loads(path.read_text())
    del payload["abi"]
    path.write_text(json.dumps(payload))

    # act / assert
    assert Deployment.load(path) == DEPLOYMENT
