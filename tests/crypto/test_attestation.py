"""Execution reports and software attestation."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct
from hypothesis import given
from hypothesis import strategies as st

from mercato.crypto import (
    Attestation,
    ExecutionReport,
    SignedReport,
    SoftwareAttestation,
    keccak,
)
from mercato.errors import ConfigError, InputError, IntegrityError
from mercato.storage import blob_hash

EXECUTOR = Account.create()
OTHER = Account.create()


def make_report(**changes: Any) -> ExecutionReport:
    """Return a valid report by EXECUTOR, with some fields changed."""
    fields: dict[str, Any] = {
        "job_id": "auction-3/training",
        "executor": EXECUTOR.address,
        "inputs": {"data": blob_hash(b"data"), "algorithm": blob_hash(b"algo")},
        "output_hash": blob_hash(b"model"),
        "metrics": {"accuracy": 0.91, "epochs": 3},
        "started_at": 1_700_000_000,
        "finished_at": 1_700_000_060,
        "environment": {"python": "3.11.7", "sklearn": "1.5.0"},
    }
    fields.update(changes)
    return ExecutionReport(**fields)


def test_canonical_bytes_are_sorted_compact_json() -> None:
    # prepare
    report = make_report()

    # act
    encoded = report.canonical_bytes()

    # assert
    parsed = json.loads(encoded)
    assert encoded == json.dumps(parsed, sort_keys=True, separators=(",", ":")).encode()
    assert b" " not in encoded.replace(b"auction-3/training", b"")
    assert report.report_hash == keccak(encoded)


def test_equal_reports_hash_equally_regardless_of_input_order() -> None:
    # prepare
    report = make_report()
    reordered = make_report(
        inputs=dict(reversed(list(report.inputs.items()))),
        metrics={"epochs": 3.0, "accuracy": 0.91},
    )

    # act / assert
    assert reordered.report_hash == report.report_hash
    assert reordered == report


@given(
    metrics=st.dictionaries(
        st.text(min_size=1, max_size=8),
        st.floats(allow_nan=False, allow_infinity=False),
        max_size=5,
    ),
    environment=st.dictionaries(st.text(min_size=1, max_size=8), st.text(max_size=8), max_size=5),
)
def test_report_survives_canonical_json(
    metrics: dict[str, float], environment: dict[str, str]
) -> None:
    # prepare
    report = make_report(metrics=metrics, environment=environment)

    # act
    restored = ExecutionReport.from_dict(json.loads(report.canonical_bytes()))

    # assert
    assert restored == report
    assert restored.report_hash == report.report_hash


def test_attest_then_verify_returns_the_executor() -> None:
    # prepare
    attestation = SoftwareAttestation(bytes(EXECUTOR.key))

    # act
    signed = attestation.attest(make_report())

    # assert
    assert SoftwareAttestation().verify(signed) == EXECUTOR.address
    assert signed.report.environment["isolation"] == "software"
    assert isinstance(attestation, Attestation)


def test_signed_report_survives_bytes() -> None:
    # prepare
    signed = SoftwareAttestation(bytes(EXECUTOR.key)).attest(make_report())

    # act
    restored = SignedReport.from_bytes(signed.to_bytes())

    # assert
    assert restored == signed
    assert SoftwareAttestation().verify(restored) == EXECUTOR.address


def test_altered_report_fails_verification() -> None:
    # prepare
    signed = SoftwareAttestation(bytes(EXECUTOR.key)).attest(make_report())
    inflated = dataclasses.replace(signed.report, metrics={"accuracy": 0.99, "epochs": 3})

    # act / assert
    with pytest.raises(IntegrityError, match="or was altered"):
        SoftwareAttestation().verify(dataclasses.replace(signed, report=inflated))


def test_signature_by_someone_else_fails_verification() -> None:
    # prepare: OTHER signs a report that names EXECUTOR
    report = make_report(environment={"isolation": "software"})
    forged = OTHER.sign_message(encode_defunct(primitive=report.report_hash)).signature
    signed = SignedReport(report, bytes(forged))

    # act / assert
    with pytest.raises(IntegrityError, match=f"signed by {OTHER.address}"):
        SoftwareAttestation().verify(signed)


def test_cannot_attest_a_report_naming_another_executor() -> None:
    # act / assert
    with pytest.raises(InputError, match="signing key"):
        SoftwareAttestation(bytes(OTHER.key)).attest(make_report())


def test_software_attestation_refuses_hardware_claims() -> None:
    # prepare
    report = make_report(environment={"isolation": "sgx"})

    # act / assert
    with pytest.raises(InputError, match="software signature"):
        SoftwareAttestation(bytes(EXECUTOR.key)).attest(report)


def test_verify_rejects_other_schemes() -> None:
    # prepare
    signed = SoftwareAttestation(bytes(EXECUTOR.key)).attest(make_report())

    # act / assert
    with pytest.raises(IntegrityError, match="scheme"):
        SoftwareAttestation().verify(dataclasses.replace(signed, scheme="tdx-quote"))


@pytest.mark.parametrize("signature", [b"", b"\x01" * 65, b"\x00" * 64 + b"\x05"])
def test_malformed_signature_fails_verification(signature: bytes) -> None:
    # prepare
    signed = SoftwareAttestation(bytes(EXECUTOR.key)).attest(make_report())

    # act / assert
    with pytest.raises(IntegrityError):
        SoftwareAttestation().verify(dataclasses.replace(signed, signature=signature))


def test_attest_without_a_key_raises_config_error() -> None:
    # act / assert
    with pytest.raises(ConfigError, match="no private key"):
        SoftwareAttestation().attest(make_report())


@pytest.mark.parametrize(
    "changes",
    [
        {"executor": "0x1234"},
        {"job_id": ""},
        {"output_hash": "0xabc"},
        {"inputs": {"data": "not a hash"}},
        {"metrics": {"loss": float("nan")}},
        {"metrics": {"ok": True}},
        {"environment": {"python": 3}},
        {"finished_at": 1_600_000_000},
        {"started_at": -1},
    ],
    ids=lambda changes: next(iter(changes)),
)
def test_malformed_report_raises_input_error(changes: dict[str, Any]) -> None:
    # act / assert
    with pytest.raises(InputError):
        make_report(**changes)


@pytest.mark.parametrize(
    "data",
    [b"not json", b"[]", b'{"schema": "other"}', b'{"schema": "mercato/signed-report/v1"}'],
)
def test_malformed_signed_report_bytes_raise_input_error(data: bytes) -> None:
    # act / assert
    with pytest.raises(InputError):
        SignedReport.from_bytes(data)


def test_report_mappings_are_read_only() -> None:
    # prepare
    report = make_report()

    # act / assert
    with pytest.raises(TypeError):
        report.metrics["accuracy"] = 1.0  # type: ignore[index]
