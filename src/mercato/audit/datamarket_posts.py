"""The data owners' side of a P3 task: who posted what in each phase, and whether it holds.

Three checks of :mod:`mercato.audit.datamarket`: every DO still in a phase posted in it
(:func:`check_posted_in_time`); every posted blob is in the store and well formed, and each
reveal gives one share of the right half per dealer (:func:`check_posts_well_formed`); every
revealed share lies on its dealer's polynomial, which anyone checks against the commitments
and public keys on chain (:func:`check_reveals`).
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from itertools import combinations

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from mercato.audit.datamarket_ledger import RoundRecord, TaskLedger
from mercato.audit.report import CheckBuilder
from mercato.crypto import secagg
from mercato.errors import MercatoError
from mercato.protocols.datamarket.documents import (
    RevealBlob,
    SharesBlob,
    secagg_context,
    unpack_masked,
)
from mercato.protocols.datamarket.views import Phase

# The share records' layout is secagg's own (kind, owner, holder, x, threshold); the
# auditor reads it with secagg's parser and rebuilds secrets with secagg's combiner.
_SEED, _KEY = secagg._SEED, secagg._KEY
MAX_SUBSETS = 5_000
"""Subsets of revealed shares tried to find the honest ones before giving up on naming."""


# 1. posted in time ------------------------------------------------------------------------
def check_posted_in_time(ledger: TaskLedger, check: CheckBuilder) -> None:
    """Each DO still in a phase posted in it before the deadline; nobody else posted."""
    if ledger.no_round(check):
        return
    for record in ledger.rounds.values():
        for phase, kind, active in ledger.phase_posts(record):
            posted = record.posted(kind)
            for index in sorted(set(posted) - set(active)):
                check.fail(
                    ledger.against_contract(
                        f"round {record.number}: {ledger.do(index)} posted its {kind} in the "
                        f"{phase.label} phase without being in it",
                        record.number,
                    )
                )
            missing = [i for i in active if i not in posted]
            if missing and not _phase_ended(ledger, record, phase):
                check.undecided(
                    f"round {record.number}'s {phase.label} phase is open: waiting for "
                    f"{', '.join(ledger.do(i) for i in missing)}"
                )
                continue
            for index in missing:
                check.fail(
                    ledger.against_do(
                        index,
                        f"round {record.number}: {ledger.do(index)} did not post its {kind} "
                        f"before the {phase.label} phase's deadline (dropped out of the round; "
                        "unpaid for it)",
                        record.number,
                    )
                )
            check.ran(
                f"round {record.number} {phase.label}: {len(posted)} of {len(active)} posted "
                "in time"
            )


def _phase_ended(ledger: TaskLedger, record: RoundRecord, phase: Phase) -> bool:
    """Whether a later phase, the round's end or the task's end followed ``phase``."""
    later = [p for p in record.phases if p > phase]
    return bool(later or record.failed or record.finalised or ledger.task.status.final)


# 2. blobs well formed ----------------------------------------------------------------------
def check_posts_well_formed(ledger: TaskLedger, check: CheckBuilder) -> None:
    """Every posted blob is in the store and of its kind; each reveal reveals the right half."""
    if ledger.no_round(check):
        return
    for record in ledger.rounds.values():
        if ledger.secure:
            _check_shares(ledger, check, record)
            _check_masked(ledger, check, record)
            _check_reveal_shapes(ledger, check, record)
        else:
            _check_sealed_updates(ledger, check, record)


def _check_shares(ledger: TaskLedger, check: CheckBuilder, record: RoundRecord) -> None:
    holders = record.active(Phase.SHARES)
    for owner, event in sorted(record.posted("shares").items()):
        blob = ledger.document(bytes(event["shares_hash"]), SharesBlob.from_bytes)
        if isinstance(blob, str):
            check.fail(
                ledger.against_do(
                    owner,
                    f"round {record.number}: {ledger.do(owner)}'s shares: {blob}",
                    record.number,
                )
            )
            continue
        if blob.owner != owner or sorted(blob.envelopes) != sorted(holders):
            check.fail(
                ledger.against_do(
                    owner,
                    f"round {record.number}: {ledger.do(owner)}'s shares blob says owner "
                    f"{blob.owner} and deals to {sorted(blob.envelopes)}, not to the "
                    f"{list(holders)} that posted keys",
                    record.number,
                )
            )
            continue
        if ledger.index is not None and ledger.index in blob.envelopes:
            opened = ledger.open_bundle(blob.envelopes[ledger.index], record.number, owner)
            if opened.content is None or len(opened.content) != 2 * secagg.SHARE_SIZE:
                why = opened.problem or "it is not a share bundle"
                check.fail(
                    ledger.against_do(
                        owner,
                        f"round {record.number}: the share bundle {ledger.do(owner)} dealt to "
                        f"the viewer (DO {ledger.index}): {why}",
                        record.number,
                    )
                )
    check.ran(
        f"round {record.number}: {len(record.posted('shares'))} shares blob(s) deal to "
        "every DO that posted keys"
    )
    if ledger.index is not None and record.posted("shares"):
        check.ran(f"round {record.number}: the bundles dealt to the viewer open")


def _check_masked(ledger: TaskLedger, check: CheckBuilder, record: RoundRecord) -> None:
    for index, event in sorted(record.posted("update").items()):
        masked = ledger.document(bytes(event["update_hash"]), unpack_masked)
        if isinstance(masked, str):
            problem = masked
        elif ledger.n_public is not None and masked.size != ledger.n_public:
            problem = f"it holds {masked.size} values, the public model {ledger.n_public}"
        else:
            continue
        check.fail(
            ledger.against_do(
                index,
                f"round {record.number}: {ledger.do(index)}'s masked update: {problem}",
                record.number,
            )
        )
    if record.posted("update"):
        check.ran(
            f"round {record.number}: every masked update is in the store, of the model's size"
        )


def _check_sealed_updates(ledger: TaskLedger, check: CheckBuilder, record: RoundRecord) -> None:
    opens = ledger.is_mo or ledger.index is not None
    for index, event in sorted(record.posted("update").items()):
        data, problem = ledger.blob(bytes(event["update_hash"]))
        if data is None:
            check.fail(
                ledger.against_do(
                    index,
                    f"round {record.number}: {ledger.do(index)}'s sealed update: {problem}",
                    record.number,
                )
            )
            continue
        if ledger.is_mo or index == ledger.index:
            opened = ledger.open_update(record.number, index)
            if opened.content is None:
                check.fail(
                    ledger.against_do(
                        index,
                        f"round {record.number}: "
                        f"{ledger.do(index)}'s sealed update: "
                        f"{opened.problem}",
                        record.number,
                    )
                )
    if record.posted("update"):
        check.ran(f"round {record.number}: every sealed update is in the store")
        if opens:
            whose = "every" if ledger.is_mo else "the viewer's own"
            check.ran(f"round {record.number}: {whose} sealed update opens")
        else:
            check.skip("whether the sealed updates open: needs the MO's key (a DO's opens its own)")


def _check_reveal_shapes(ledger: TaskLedger, check: CheckBuilder, record: RoundRecord) -> None:
    dealers = set(record.posted("shares"))
    submitted = set(record.posted("update"))
    for holder, event in sorted(record.posted("reveal").items()):
        problems = _reveal_problems(ledger, event, holder, dealers, submitted)
        for problem in problems:
            check.fail(
                ledger.against_do(
                    holder,
                    f"round {record.number}: {ledger.do(holder)}'s reveal: {problem}",
                    record.number,
                )
            )
    if record.posted("reveal"):
        check.ran(
            f"round {record.number}: each reveal gives one share per dealer: the seed "
            "share of a submitter, the key share of a dropout"
        )


def _reveal_problems(
    ledger: TaskLedger, event: object, holder: int, dealers: set[int], submitted: set[int]
) -> list[str]:
    assert hasattr(event, "args")
    blob = ledger.document(bytes(event.args["reveal_hash"]), RevealBlob.from_bytes)
    if isinstance(blob, str):
        return [blob]
    if blob.holder != holder:
        return [f"the blob names holder {blob.holder}"]
    problems: list[str] = []
    seen: set[int] = set()
    for share in blob.shares:
        header = _header(share)
        if header is None:
            problems.append(f"a share of {len(share)} bytes, not {secagg.SHARE_SIZE}")
            continue
        kind, owner, share_holder, _, threshold = header
        if share_holder != holder or owner not in dealers or owner in seen:
            problems.append(
                f"a share of DO {owner} held by DO {share_holder}: not one it holds once"
            )
            continue
        seen.add(owner)
        want = _SEED if owner in submitted else _KEY
        if kind != want:
            problems.append(
                f"revealed DO {owner}'s {'private key' if kind == _KEY else 'self seed'} "
                f"share, but DO {owner} {'submitted' if owner in submitted else 'dropped'}: "
                "only the other half may be revealed"
            )
        elif threshold != ledger.task.threshold:
            problems.append(
                f"DO {owner}'s share says threshold {threshold}, the task's is "
                f"{ledger.task.threshold}"
            )
    for owner in sorted(dealers - seen):
        problems.append(f"no share of DO {owner}, which dealt it one")
    return problems


def _header(share: bytes) -> tuple[int, int, int, int, int] | None:
    if len(share) != secagg.SHARE_SIZE:
        return None
    kind, owner, holder, x, threshold = secagg._HEADER.unpack_from(share)
    return int(kind), int(owner), int(holder), int(x), int(threshold)


# 3. reveals match commitments --------------------------------------------------------------
def check_reveals(ledger: TaskLedger, check: CheckBuilder) -> None:
    """Every revealed share lies on its dealer's polynomial (secure mode)."""
    if not ledger.secure:
        check.ran("robust mode: no secrets are shared or revealed")
        return
    if ledger.no_round(check):
        return
    for record in ledger.rounds.values():
        if not record.posted("reveal"):
            continue
        _check_round_reveals(ledger, check, record)


def _check_round_reveals(ledger: TaskLedger, check: CheckBuilder, record: RoundRecord) -> None:
    keys = ledger.round_keys(record.number)
    context = secagg_context(ledger.market.data_market.address, ledger.task_id, record.number)
    submitted = set(record.posted("update"))
    grouped: dict[int, list[tuple[int, bytes]]] = {}  # dealer -> (holder, share)
    for holder, event in sorted(record.posted("reveal").items()):
        blob = ledger.document(bytes(event["reveal_hash"]), RevealBlob.from_bytes)
        if isinstance(blob, str):
            continue  # said by the blobs' check
        for share in blob.shares:
            header = _header(share)
            if header is None or header[2] != holder or header[1] not in keys:
                continue
            kind, owner = header[0], header[1]
            if kind == (_SEED if owner in submitted else _KEY):
                grouped.setdefault(owner, []).append((holder, share))
    for owner, shares in sorted(grouped.items()):
        key = keys[owner]

        def right(secret: bytes, owner: int = owner, key: object = key) -> bool:
            assert hasattr(key, "args")
            if owner in submitted:
                commitment = bytes(key.args["seed_commitment"])
                return hmac.compare_digest(secagg.seed_commitment(secret, context), commitment)
            public = X25519PrivateKey.from_private_bytes(secret).public_key().public_bytes_raw()
            return public == bytes(key.args["public_key"])

        what = "self seed" if owner in submitted else "private key"
        bad, found = _wrong_shares(shares, ledger.task.threshold, right)
        if not found:
            check.undecided(
                f"round {record.number}: no {ledger.task.threshold} of the {len(shares)} "
                f"revealed shares of DO {owner}'s {what} rebuild it: DO {owner} dealt bad "
                "shares or too many holders revealed wrong ones (the auditor cannot tell who)"
            )
            continue
        for holder in bad:
            check.fail(
                ledger.against_do(
                    holder,
                    f"round {record.number}: {ledger.do(holder)} revealed a share of DO "
                    f"{owner}'s {what} that does not match its "
                    f"{'commitment' if owner in submitted else 'public key'} on chain",
                    record.number,
                )
            )
    check.ran(
        f"round {record.number}: every revealed share rebuilds its dealer's committed "
        "seed or public key"
    )


def _wrong_shares(
    shares: Sequence[tuple[int, bytes]], threshold: int, right: object
) -> tuple[list[int], bool]:
    """The holders whose share is off the polynomial that some ``threshold`` of the shares
    rebuild to a secret ``right`` accepts; (holders, whether such a subset was found)."""
    assert callable(right)
    if len(shares) < threshold:
        return [], False
    for tried, subset in enumerate(combinations(range(len(shares)), threshold)):
        if tried >= MAX_SUBSETS:
            break
        secret = _combine([shares[i][1] for i in subset])
        if secret is None or not right(secret):
            continue
        base = [shares[i][1] for i in subset[:-1]]
        bad = [
            holder
            for k, (holder, share) in enumerate(shares)
            if k not in subset and _combine([*base, share]) != secret
        ]
        return bad, True
    return [], False


def _combine(records: Sequence[bytes]) -> bytes | None:
    """The secret ``records`` (shares of one secret, threshold many) rebuild, or None."""
    grouped: dict[int, tuple[int, bytes]] = {}
    kind = owner = 0
    for record in records:
        kind, owner, _, x, threshold = secagg._HEADER.unpack_from(record)
        grouped[x] = (threshold, bytes(record[secagg._HEADER.size :]))
    try:
        return secagg._combine(grouped, kind, owner)
    except (MercatoError, ValueError):
        return None
