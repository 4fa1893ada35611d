"""Commitments, Merkle trees and execution attestations."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mercato._lazy import lazy_package

if TYPE_CHECKING:
    from mercato.crypto.attestation import (
        Attestation,
        ExecutionReport,
        SignedReport,
        SoftwareAttestation,
        canonical_json,
    )
    from mercato.crypto.commit import commit, keccak, new_nonce, verify_commitment
    from mercato.crypto.merkle import MerkleTree, hash_pair, leaf_hash, verify_proof

__all__ = [
    "Attestation",
    "ExecutionReport",
    "MerkleTree",
    "SignedReport",
    "SoftwareAttestation",
    "canonical_json",
    "commit",
    "hash_pair",
    "keccak",
    "leaf_hash",
    "new_nonce",
    "verify_commitment",
    "verify_proof",
]

lazy_package(
    __name__,
    {
        "Attestation": "attestation",
        "ExecutionReport": "attestation",
        "MerkleTree": "merkle",
        "SignedReport": "attestation",
        "SoftwareAttestation": "attestation",
        "canonical_json": "attestation",
        "commit": "commit",
        "hash_pair": "merkle",
        "keccak": "commit",
        "leaf_hash": "merkle",
        "new_nonce": "commit",
        "verify_commitment": "commit",
        "verify_proof": "merkle",
    },
)
