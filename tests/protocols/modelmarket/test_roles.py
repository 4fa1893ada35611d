"""P4's agent roles as ``mercato agent run`` plans them, without a chain: the seller's model
file is read and checked before anything else, each role needs its registry role; and what
the commands keep in the state folder for the agents (test sets, offers, votes)."""

from __future__ import annotations

import stat
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from mercato.cli.app import app
from mercato.errors import ConfigError, InputError
from mercato.protocols.modelmarket import roles, state_files
from mercato.protocols.modelmarket.documents import HiddenTestSet
from mercato.protocols.modelmarket.executor import Vote
from mercato.protocols.modelmarket.models import read_seller_model
from mercato.protocols.modelmarket.seller import Offer
from mercato.protocols.roles import Role

ADDRESS = "0xAbCdEf0123456789aBcDeF0123456789AbCdEf01"


def _skops_model(path: Path, features: int) -> Path:
    import skops.io
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(40, features)), np.arange(40) % 2
    skops.io.dump(LogisticRegression().fit(X, y), path)
    return path


def _torch_state_dict(path: Path, features: int) -> Path:
    from safetensors.numpy import save_file

    rng = np.random.default_rng(0)
    save_file(
        {
            "0.weight": rng.normal(size=(8, features)).astype(np.float32),
            "0.bias": np.zeros(8, dtype=np.float32),
            "2.weight": rng.normal(size=(3, 8)).astype(np.float32),
            "2.bias": np.zeros(3, dtype=np.float32),
        },
        str(path),
    )
    return path


# the plans -----------------------------------------------------------------------------------
def test_each_role_needs_its_registry_role() -> None:
    assert (roles.plan_buyer({}).label, roles.plan_buyer({}).needs) == ("buyer", Role.CLIENT)
    executor = roles.plan_executor({"lazy": True})
    assert (executor.label, executor.needs) == ("executor", Role.COMPUTE_PROVIDER)


def test_a_seller_plan_reads_its_model_and_the_features_it_takes(tmp_path: Path) -> None:
    plan = roles.plan_seller({"model": _skops_model(tmp_path / "m.skops", 64)})
    torch = read_seller_model(_torch_state_dict(tmp_path / "t.safetensors", 12))

    assert (plan.label, plan.needs) == ("seller", Role.MODEL_OWNER)
    assert read_seller_model(tmp_path / "m.skops").features == 64
    assert (torch.features, torch.kind) == (12, "torch MLP")
    assert torch.data == (tmp_path / "t.safetensors").read_bytes()


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        (None, b"", "a seller agent offers a model: --model FILE (.skops or .safetensors)"),
        ("absent.skops", None, "absent.skops: no such file"),
        ("model.pkl", b"\x80\x04", ".pkl files are pickles"),
        ("model.skops", b"not a zip", "not a readable skops file"),
        ("model.safetensors", b"PK\x03\x04 a zip", "not a readable safetensors file"),
    ],
)
def test_a_seller_plan_refuses_a_model_the_executors_cannot_score(
    tmp_path: Path, name: str | None, content: bytes | None, message: str
) -> None:
    path = None if name is None else tmp_path / name
    if path is not None and content is not None:
        path.write_bytes(content)

    with pytest.raises(InputError) as refused:
        roles.plan_seller({"model": path})

    assert message in str(refused.value)


def test_a_model_named_for_another_format_is_refused(tmp_path: Path) -> None:
    skops = _skops_model(tmp_path / "m.skops", 4)
    renamed = tmp_path / "m.safetensors"
    renamed.write_bytes(skops.read_bytes())

    with pytest.raises(InputError) as refused:
        read_seller_model(renamed)

    assert "m.safetensors" in str(refused.value)


def test_an_executor_given_a_model_is_refused_before_anything_is_read() -> None:
    result = CliRunner().invoke(
        app, ["agent", "run", "--once", "--role", "executor", "--model", "m.skops"]
    )

    assert isinstance(result.exception, InputError), result.output
    assert str(result.exception) == "--model is a seller option; this agent is an executor"


# the state folder ----------------------------------------------------------------------------
def _test_set(seed: int) -> HiddenTestSet:
    rng = np.random.default_rng(seed)
    return HiddenTestSet.cut(rng.normal(size=(64, 3)), np.arange(64) % 2, 32, seed=seed)


def test_a_test_set_is_kept_secret_and_named_after_its_request(tmp_path: Path) -> None:
    test_set = _test_set(1)

    pending = state_files.keep_pending_test(tmp_path, test_set)
    path = state_files.settle_test(pending, tmp_path, 7)

    assert not pending.exists()
    assert path.name == "modelmarket-request-7.test"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    kept = state_files.read_test_set(tmp_path, 7)
    assert kept is not None and kept.root == test_set.root
    assert state_files.kept_requests(tmp_path) == [7]
    assert state_files.read_test_set(tmp_path, 8) is None


def test_a_test_set_of_another_deployment_is_kept_aside(tmp_path: Path) -> None:
    old, new = _test_set(1), _test_set(2)
    state_files.settle_test(state_files.keep_pending_test(tmp_path, old), tmp_path, 1)

    state_files.settle_test(state_files.keep_pending_test(tmp_path, new), tmp_path, 1)

    kept = state_files.read_test_set(tmp_path, 1)
    aside = tmp_path / f"modelmarket-request-1.test.replaced-{old.root.hex()[:12]}"
    assert kept is not None and kept.root == new.root
    assert HiddenTestSet.from_bytes(aside.read_bytes()).root == old.root
    assert state_files.kept_requests(tmp_path) == [1]


def test_offers_and_votes_are_kept_secret_per_account(tmp_path: Path) -> None:
    offer = Offer(3, 1, b"\x07" * 32, b"model", b"model")
    vote = Vote((910_000, 0), 0b100, b"\x08" * 32, b"\x09" * 32)

    offered = state_files.keep_offer(tmp_path, ADDRESS, offer)
    voted = state_files.keep_vote(tmp_path, 4, ADDRESS, vote)

    assert state_files.read_offer(tmp_path, 3, ADDRESS.lower()) == offer
    assert state_files.read_vote(tmp_path, 4, ADDRESS) == vote
    assert {stat.S_IMODE(p.stat().st_mode) for p in (offered, voted)} == {0o600}
    assert state_files.kept_files(tmp_path, "offer", ADDRESS) == [3]
    assert state_files.kept_files(tmp_path, "vote", ADDRESS) == [4]
    assert state_files.kept_files(tmp_path, "offer", "0x" + "00" * 20) == []


def test_a_malformed_state_file_is_refused_in_one_line(tmp_path: Path) -> None:
    state_files.offer_path(tmp_path, 3, ADDRESS).write_text("{}")
    state_files.test_path(tmp_path, 3).write_text("[]")

    with pytest.raises(ConfigError, match="not a model-market offer"):
        state_files.read_offer(tmp_path, 3, ADDRESS)
    with pytest.raises(ConfigError, match=r"modelmarket-request-3\.test"):
        state_files.read_test_set(tmp_path, 3)
