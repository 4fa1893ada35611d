"""Where a deployment may be saved: asked before deploying, so a bad place costs no gas."""

from __future__ import annotations

from pathlib import Path

import pytest

from mercato.protocols.deployment import ABI_FOLDER, Deployment, save_problem

DEPLOYMENT = Deployment(
    31337,
    1,
    "0x" + "11" * 20,
    {
        "auction_house": "0x" + "22" * 20,
        "training_market": "0x" + "33" * 20,
        "data_market": "0x" + "44" * 20,
        "model_market": "0x" + "55" * 20,
        "api_market": "0x" + "66" * 20,
    },
)


@pytest.mark.parametrize("where", ["new/deep/d.json", "d.json"])
def test_a_writable_place_has_no_problem_and_nothing_is_created(tmp_path: Path, where: str) -> None:
    # prepare
    path = tmp_path / where

    # act
    problem = save_problem(path)

    # assert: no probe file or folder left behind, and save then works
    assert problem is None
    assert list(tmp_path.iterdir()) == []
    DEPLOYMENT.save(path)
    assert Deployment.load(path) == DEPLOYMENT


def test_an_existing_deployment_may_be_overwritten_untouched_until_then(tmp_path: Path) -> None:
    # prepare
    path = tmp_path / "d.json"
    DEPLOYMENT.save(path)
    before = path.read_bytes()

    # act
    problem = save_problem(path)

    # assert
    assert problem is None
    assert path.read_bytes() == before


@pytest.mark.parametrize(
    ("where", "reason"),
    [
        ("folder", "it is a folder"),
        ("file/d.json", "file is not a folder"),
        ("abi-is-a-file/d.json", f"abi-is-a-file/{ABI_FOLDER} is not a folder"),
        ("abi-file-is-a-folder/d.json", "it is a folder"),
    ],
)
def test_a_place_that_cannot_be_written_is_named(tmp_path: Path, where: str, reason: str) -> None:
    # prepare
    (tmp_path / "folder").mkdir()
    (tmp_path / "file").write_text("")
    (tmp_path / "abi-is-a-file").mkdir()
    (tmp_path / "abi-is-a-file" / ABI_FOLDER).write_text("")
    (tmp_path / "abi-file-is-a-folder" / ABI_FOLDER / "Registry.json").mkdir(parents=True)

    # act
    problem = save_problem(tmp_path / where)

    # assert
    assert problem is not None
    assert problem.startswith("cannot write ")
    assert reason in problem


def test_a_folder_that_cannot_be_made_is_named() -> None:
    # act
    problem = save_problem(Path("/proc/nope/d.json"))

    # assert
    assert problem == "cannot write /proc/nope/d.json: No such file or directory"
