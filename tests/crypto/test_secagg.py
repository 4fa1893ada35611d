"""Secure aggregation: pairwise masks, self masks, dropout recovery by Shamir shares."""

from __future__ import annotations

import numpy as np
import pytest

from mercato.crypto.secagg import (
    SCALE,
    SecAggParty,
    max_abs,
    quantise,
    reveal_share,
    unmask,
)
from mercato.errors import InputError, IntegrityError, ProtocolError

CONTEXT = b"task 7 / round 1"
N = 10
D = 1_000
THRESHOLD = 6


def _round(
    updates: np.ndarray, context: bytes = CONTEXT
) -> tuple[list[SecAggParty], dict[int, bytes], dict[int, bytes], dict[int, dict[int, bytes]]]:
    parties = [SecAggParty.create(i, context) for i in range(len(updates))]
    public = {p.index: p.public_key for p in parties}
    commitments = {p.index: p.seed_commitment for p in parties}
    # inbox[holder][owner] = the bundle the owner sealed to the holder
    inbox: dict[int, dict[int, bytes]] = {p.index: {} for p in parties}
    for p in parties:
        peers = {j: k for j, k in public.items() if j != p.index}
        for holder, bundle in p.share_secrets(peers, THRESHOLD).items():
            inbox[holder][p.index] = bundle
    return parties, public, commitments, inbox


def _peers(public: dict[int, bytes], index: int) -> dict[int, bytes]:
    return {j: k for j, k in public.items() if j != index}


def _reveal(
    inbox: dict[int, dict[int, bytes]], survivors: set[int], holders: set[int]
) -> list[bytes]:
    return [
        reveal_share(bundle, owner_survived=owner in survivors)
        for holder in sorted(holders)
        for owner, bundle in inbox[holder].items()
    ]


@pytest.fixture
def updates() -> np.ndarray:
    return np.random.default_rng(4).normal(0.0, 1.0, size=(N, D))


def test_unmasked_sum_equals_plain_sum(updates: np.ndarray) -> None:
    # prepare
    parties, public, commitments, inbox = _round(updates)
    masked = {p.index: p.mask(updates[p.index], _peers(public, p.index)) for p in parties}
    everyone = set(range(N))

    # act
    total = unmask(masked, public, commitments, _reveal(inbox, everyone, everyone), CONTEXT)

    # assert
    np.testing.assert_allclose(total, updates.sum(axis=0), rtol=0, atol=N / (2 * SCALE))


def test_two_dropouts_after_masking_give_the_survivors_sum(updates: np.ndarray) -> None:
    # prepare
    parties, public, commitments, inbox = _round(updates)
    masked = {p.index: p.mask(updates[p.index], _peers(public, p.index)) for p in parties}
    survivors = set(range(N)) - {2, 7}
    for gone in (2, 7):
        del masked[gone]
    # THRESHOLD + 1 survivors reveal: each owner among them still gets THRESHOLD from the others
    holders = set(sorted(survivors)[: THRESHOLD + 1])

    # act
    total = unmask(masked, public, commitments, _reveal(inbox, survivors, holders), CONTEXT)

    # assert
    expected = updates[sorted(survivors)].sum(axis=0)
    np.testing.assert_allclose(total, expected, rtol=0, atol=N / (2 * SCALE))


def test_masked_vector_is_unrelated_to_the_update() -> None:
    # prepare: a constant update makes any leak easy to see
    update = np.full(100_000, 0.5)
    parties = [SecAggParty.create(i, CONTEXT) for i in range(3)]
    public = {p.index: p.public_key for p in parties}

    # act
    masked = parties[0].mask(update, _peers(public, 0))

    # assert: uniform over uint32 (16 bins, chi-squared far below its 0.1% point of 37.7)
    counts = np.bincount(masked >> np.uint32(28), minlength=16)
    expected = masked.size / 16
    assert ((counts - expected) ** 2 / expected).sum() < 37.7
    assert np.mean(masked == quantise(update, 3)) < 1e-3


def test_fewer_than_threshold_shares_cannot_recover(updates: np.ndarray) -> None:
    # prepare
    parties, public, commitments, inbox = _round(updates)
    masked = {p.index: p.mask(updates[p.index], _peers(public, p.index)) for p in parties}
    del masked[3]
    survivors = set(masked)
    holders = set(sorted(survivors)[: THRESHOLD - 1])

    # act / assert
    with pytest.raises(ProtocolError, match=r"only 5 shares .* 6 needed"):
        unmask(masked, public, commitments, _reveal(inbox, survivors, holders), CONTEXT)


def test_wrong_context_gives_a_wrong_sum(updates: np.ndarray) -> None:
    # prepare: party 4 masks for another round, so its pairwise masks do not cancel
    parties, public, commitments, inbox = _round(updates)
    impostor = SecAggParty(4, b"task 7 / round 2", parties[4]._private, parties[4]._self_seed)
    masked = {p.index: p.mask(updates[p.index], _peers(public, p.index)) for p in parties}
    masked[4] = impostor.mask(updates[4], _peers(public, 4))
    everyone = set(range(N))

    # act
    total = unmask(masked, public, commitments, _reveal(inbox, everyone, everyone), CONTEXT)

    # assert
    assert np.max(np.abs(total - updates.sum(axis=0))) > 1.0


def test_tampered_seed_share_is_detected(updates: np.ndarray) -> None:
    # prepare
    parties, public, commitments, inbox = _round(updates)
    masked = {p.index: p.mask(updates[p.index], _peers(public, p.index)) for p in parties}
    everyone = set(range(N))
    shares = _reveal(inbox, everyone, everyone)
    shares = [s[:-1] + bytes([s[-1] ^ 1]) for s in shares]

    # act / assert
    with pytest.raises(IntegrityError, match="does not match its commitment"):
        unmask(masked, public, commitments, shares, CONTEXT)


def test_wrong_commitment_is_detected(updates: np.ndarray) -> None:
    # prepare
    parties, public, commitments, inbox = _round(updates)
    masked = {p.index: p.mask(updates[p.index], _peers(public, p.index)) for p in parties}
    everyone = set(range(N))
    commitments[0] = bytes(32)

    # act / assert
    with pytest.raises(IntegrityError, match="party 0"):
        unmask(masked, public, commitments, _reveal(inbox, everyone, everyone), CONTEXT)


def test_out_of_range_value_is_rejected() -> None:
    # prepare
    parties = [SecAggParty.create(i, CONTEXT) for i in range(N)]
    public = {p.index: p.public_key for p in parties}
    update = np.zeros(D)
    update[5] = max_abs(N) * 1.01

    # act / assert
    with pytest.raises(InputError, match="exceeds"):
        parties[0].mask(update, _peers(public, 0))


def test_mismatched_lengths_are_rejected(updates: np.ndarray) -> None:
    # prepare
    parties, public, commitments, inbox = _round(updates)
    masked = {p.index: p.mask(updates[p.index], _peers(public, p.index)) for p in parties}
    masked[1] = masked[1][:-1]
    everyone = set(range(N))

    # act / assert
    with pytest.raises(InputError, match="differ in length"):
        unmask(masked, public, commitments, _reveal(inbox, everyone, everyone), CONTEXT)


def test_unknown_party_is_rejected(updates: np.ndarray) -> None:
    # prepare
    parties, public, commitments, inbox = _round(updates)
    masked = {p.index: p.mask(updates[p.index], _peers(public, p.index)) for p in parties}
    masked[42] = masked[0]
    everyone = set(range(N))

    # act / assert
    with pytest.raises(InputError, match="unknown parties"):
        unmask(masked, public, commitments, _reveal(inbox, everyone, everyone), CONTEXT)


def test_revealing_the_wrong_half_is_rejected(updates: np.ndarray) -> None:
    # prepare: a holder reveals a survivor's key share, which would unmask it
    parties, public, commitments, inbox = _round(updates)
    masked = {p.index: p.mask(updates[p.index], _peers(public, p.index)) for p in parties}
    everyone = set(range(N))
    shares = [*_reveal(inbox, everyone, everyone), reveal_share(inbox[1][0], owner_survived=False)]

    # act / assert
    with pytest.raises(InputError, match="private key share of party 0"):
        unmask(masked, public, commitments, shares, CONTEXT)


@pytest.mark.parametrize(
    ("peers", "threshold"),
    [
        ({0: bytes(32)}, 2),
        ({1: b"short"}, 2),
        ({1: bytes(32), 2: bytes(32)}, 4),
        ({1: bytes(32)}, 1),
    ],
)
def test_bad_peers_or_threshold_are_rejected(peers: dict[int, bytes], threshold: int) -> None:
    # prepare
    party = SecAggParty.create(0, CONTEXT)

    # act / assert
    with pytest.raises(InputError):
        party.share_secrets(peers, threshold)


def test_bad_index_is_rejected() -> None:
    # act / assert
    with pytest.raises(InputError, match="party index"):
        SecAggParty.create(-1, CONTEXT)


def test_derived_parties_are_reproducible_per_context_and_unrelated_across_contexts() -> None:
    # prepare
    secret = bytes(range(32))

    # act
    first = SecAggParty.derive(3, b"task 1 round 1", secret)
    again = SecAggParty.derive(3, b"task 1 round 1", secret)
    other_round = SecAggParty.derive(3, b"task 1 round 2", secret)
    other_secret = SecAggParty.derive(3, b"task 1 round 1", bytes(range(1, 33)))

    # assert
    assert first.public_key == again.public_key
    assert first.seed_commitment == again.seed_commitment
    assert len({first.public_key, other_round.public_key, other_secret.public_key}) == 3
    assert first.seed_commitment not in (other_round.seed_commitment, other_secret.seed_commitment)


def test_derivation_refuses_a_short_secret() -> None:
    with pytest.raises(InputError, match="at least 32 bytes"):
        SecAggParty.derive(0, b"ctx", b"short")
