"""Commitments, Merkle trees and execution attestations."""

from __future__ import annotations

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
