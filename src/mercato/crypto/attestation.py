"""Execution reports and the ``Attestation`` interface that vouches for them.

An executor (a compute provider) describes a job it ran in an :class:`ExecutionReport`;
an :class:`Attestation` turns the report into a :class:`SignedReport` and checks one.
:class:`SoftwareAttestation` signs with the executor's Ethereum key. A hardware quote
verifier (SGX, SEV-SNP, TDX) can implement the same interface later.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Protocol, runtime_checkable

from eth_account import Account
from eth_account.messages import encode_defunct
from eth_keys.exceptions import BadSignature
from eth_utils.address import is_address, to_checksum_address
from eth_utils.exceptions import ValidationError

from mercato.crypto.commit import keccak
from mercato.errors import ConfigError, InputError, IntegrityError
from mercato.storage.base import validate_blob_hash

REPORT_SCHEMA = "mercato/execution-report/v1"
SIGNED_REPORT_SCHEMA = "mercato/signed-report/v1"
SOFTWARE_SCHEME = "eip191-secp256k1"
"""Signature scheme of :class:`SoftwareAttestation`: EIP-191 personal_sign over the report hash."""
ISOLATION_KEY = "isolation"
SOFTWARE_ISOLATION = "software"
SIGNATURE_SIZE = 65


@dataclass(frozen=True)
class ExecutionReport:
    """What an executor says it ran: inputs, output, metrics, timing and environment.

    Hashes are blob hashes (``"0x"`` + 64 hex digits); ``started_at`` and ``finished_at``
    are Unix seconds. The mappings are copied and made read-only.
    """

    job_id: str
    executor: str
    inputs: Mapping[str, str]
    output_hash: str
    metrics: Mapping[str, float]
    started_at: int
    finished_at: int
    environment: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.job_id, str) or not self.job_id:
            raise InputError("execution report needs a non-empty job_id string")
        if not isinstance(self.executor, str) or not is_address(self.executor):
            raise InputError(f"executor {self.executor!r} is not an Ethereum address")
        for name in ("started_at", "finished_at"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise InputError(f"{name} must be Unix seconds (a non-negative int), got {value!r}")
        if self.finished_at < self.started_at:
            raise InputError(
                f"finished_at {self.finished_at} is before started_at {self.started_at}"
            )
        inputs = {_key("input", k): validate_blob_hash(v) for k, v in _items(self.inputs)}
        metrics = {_key("metric", k): _metric(k, v) for k, v in _items(self.metrics)}
        environment = {_key("environment", k): _text(k, v) for k, v in _items(self.environment)}
        set_field = object.__setattr__  # the dataclass is frozen; normalise once, here
        set_field(self, "executor", to_checksum_address(self.executor))
        set_field(self, "output_hash", validate_blob_hash(self.output_hash))
        set_field(self, "inputs", MappingProxyType(inputs))
        set_field(self, "metrics", MappingProxyType(metrics))
        set_field(self, "environment", MappingProxyType(environment))

    def __hash__(self) -> int:
        return hash(self.report_hash)

    def to_dict(self) -> dict[str, Any]:
        """Return the report as plain JSON-ready data, with its schema name."""
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        plain = {k: dict(v) if isinstance(v, Mapping) else v for k, v in values.items()}
        return {"schema": REPORT_SCHEMA, **plain}

    @classmethod
    def from_dict(cls, data: object) -> ExecutionReport:
        """Rebuild a report from :meth:`to_dict` output; raise InputError if malformed."""
        if not isinstance(data, dict) or data.get("schema") != REPORT_SCHEMA:
            raise InputError(f"not an execution report: expected schema {REPORT_SCHEMA!r}")
        names = {f.name for f in dataclasses.fields(cls)}
        if set(data) != names | {"schema"}:
            raise InputError(f"execution report must have exactly the fields {sorted(names)}")
        return cls(**{name: data[name] for name in names})

    def canonical_bytes(self) -> bytes:
        """Return the report as canonical JSON: sorted keys, no spaces, UTF-8."""
        return canonical_json(self.to_dict())

    @property
    def report_hash(self) -> bytes:
        """The 32-byte keccak256 of :meth:`canonical_bytes`; this is what gets signed."""
        return keccak(self.canonical_bytes())


@dataclass(frozen=True)
class SignedReport:
    """An execution report with the evidence that vouches for it."""

    report: ExecutionReport
    signature: bytes
    scheme: str = SOFTWARE_SCHEME

    def to_bytes(self) -> bytes:
        """Serialise as canonical JSON with the signature in hex."""
        return canonical_json(
            {
                "schema": SIGNED_REPORT_SCHEMA,
                "scheme": self.scheme,
                "signature": "0x" + bytes(self.signature).hex(),
                "report": self.report.to_dict(),
            }
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> SignedReport:
        """Parse :meth:`to_bytes` output; raise InputError if malformed."""
        try:
            parsed = json.loads(data)
        except (ValueError, TypeError) as exc:
            raise InputError(f"signed report is not valid JSON: {exc}") from None
        if not isinstance(parsed, dict) or parsed.get("schema") != SIGNED_REPORT_SCHEMA:
            raise InputError(f"not a signed report: expected schema {SIGNED_REPORT_SCHEMA!r}")
        scheme, signature = parsed.get("scheme"), parsed.get("signature")
        if not isinstance(scheme, str) or not isinstance(signature, str):
            raise InputError("signed report needs 'scheme' and 'signature' strings")
        try:
            signature_bytes = bytes.fromhex(signature.removeprefix("0x"))
        except ValueError:
            raise InputError("signed report signature is not hex") from None
        return cls(ExecutionReport.from_dict(parsed.get("report")), signature_bytes, scheme)


@runtime_checkable
class Attestation(Protocol):
    """Vouches for execution reports and checks reports vouched for by others."""

    def attest(self, report: ExecutionReport) -> SignedReport:
        """Return ``report`` with evidence that its executor produced it."""
        ...

    def verify(self, signed: SignedReport) -> str:
        """Return the executor's address if the evidence holds; raise IntegrityError if not."""
        ...


class SoftwareAttestation:
    """Attestation by the executor's Ethereum signature (EIP-191) over the report hash.

    A software signature proves who reported, not what ran or that it ran in isolation: the
    executor could have read the inputs, or run other code, and still signed. This is NOT
    hardware isolation. A TEE quote verifier can implement :class:`Attestation` later.

    Without ``private_key`` the instance can only verify.
    """

    def __init__(self, private_key: bytes | str | None = None) -> None:
        self._account = Account.from_key(private_key) if private_key is not None else None

    @property
    def address(self) -> str | None:
        """The checksummed address of the signing key, if there is one."""
        return None if self._account is None else str(self._account.address)

    def attest(self, report: ExecutionReport) -> SignedReport:
        """Sign ``report``, marking it ``isolation: software`` if it says nothing."""
        if self._account is None:
            raise ConfigError("this SoftwareAttestation has no private key: pass one to attest")
        if report.executor != self._account.address:
            raise InputError(
                f"report names executor {report.executor} but the signing key is "
                f"{self._account.address}"
            )
        isolation = report.environment.get(ISOLATION_KEY, SOFTWARE_ISOLATION)
        if isolation != SOFTWARE_ISOLATION:
            raise InputError(
                f"report claims isolation {isolation!r}; a software signature can only attest "
                f"{SOFTWARE_ISOLATION!r}"
            )
        report = dataclasses.replace(
            report, environment={**report.environment, ISOLATION_KEY: SOFTWARE_ISOLATION}
        )
        message = encode_defunct(primitive=report.report_hash)
        signed = self._account.sign_message(message)
        return SignedReport(report, bytes(signed.signature), SOFTWARE_SCHEME)

    def verify(self, signed: SignedReport) -> str:
        """Return the signer's address if it signed this exact report as its executor."""
        if signed.scheme != SOFTWARE_SCHEME:
            raise IntegrityError(
                f"report is attested with scheme {signed.scheme!r}, not {SOFTWARE_SCHEME!r}"
            )
        isolation = signed.report.environment.get(ISOLATION_KEY)
        if isolation != SOFTWARE_ISOLATION:
            raise IntegrityError(
                f"software-signed report claims isolation {isolation!r}, not {SOFTWARE_ISOLATION!r}"
            )
        if len(signed.signature) != SIGNATURE_SIZE:
            raise IntegrityError(
                f"signature must be {SIGNATURE_SIZE} bytes, got {len(signed.signature)}"
            )
        message = encode_defunct(primitive=signed.report.report_hash)
        try:
            signer = str(Account.recover_message(message, signature=signed.signature))
        except (BadSignature, ValidationError, ValueError):
            raise IntegrityError(
                "report signature is malformed: no signer can be recovered"
            ) from None
        if signer != signed.report.executor:
            raise IntegrityError(
                f"report for job {signed.report.job_id!r} names executor "
                f"{signed.report.executor} but was signed by {signer}, or was altered"
            )
        return signer


def canonical_json(data: object) -> bytes:
    """Encode ``data`` as canonical JSON: sorted keys, no spaces, UTF-8, no NaN."""
    return json.dumps(
        data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def _items(mapping: object) -> list[tuple[object, object]]:
    if not isinstance(mapping, Mapping):
        raise InputError(f"expected a mapping, got {type(mapping).__name__}")
    return list(mapping.items())


def _key(kind: str, key: object) -> str:
    if not isinstance(key, str) or not key:
        raise InputError(f"{kind} names must be non-empty strings, got {key!r}")
    return key


def _metric(name: object, value: object) -> float:
    # ints become floats so that 1 and 1.0 give the same canonical bytes
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InputError(f"metric {name!r} must be a finite number, got {value!r}")
    return float(value)


def _text(name: object, value: object) -> str:
    if not isinstance(value, str):
        raise InputError(f"environment value {name!r} must be a string, got {value!r}")
    return value
