"""The executor's steps (a compute provider): volunteer, gather what was sealed to it,
benchmark, sign an execution report, commit to its scores, reveal them.

An executor keeps its vote (scores, flags, report, salt) between commit and reveal
(:class:`Vote`, in its agent state). The report says what it ran: the test root and each
model's plaintext root as inputs, the hash of its vote as output, the scores as metrics,
signed by :class:`~mercato.crypto.attestation.SoftwareAttestation` (the interface a
hardware enclave's quote can fill later).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from mercato.chain.contract import TxResult
from mercato.crypto.attestation import ExecutionReport, SoftwareAttestation
from mercato.protocols.identity import Identity
from mercato.protocols.marketplace import Marketplace
from mercato.protocols.modelmarket import history
from mercato.protocols.modelmarket.documents import purpose, read_groups
from mercato.protocols.modelmarket.evaluation import Benchmark, benchmark
from mercato.protocols.modelmarket.market import score_commitment, vote_hash
from mercato.protocols.modelmarket.views import RequestStatus, SubmissionState
from mercato.storage.base import hash_bytes, hash_hex
from mercato.storage.envelope import open_envelope

VOLUNTEER_STATES = (RequestStatus.SAMPLING, RequestStatus.SUBMITTING)


@dataclass(frozen=True)
class Vote:
    """What an executor committed to."""

    scores: tuple[int, ...]
    flags: int
    report_hash: bytes
    salt: bytes

    def to_record(self) -> dict[str, object]:
        return {
            "scores": list(self.scores),
            "flags": self.flags,
            "report_hash": self.report_hash.hex(),
            "salt": self.salt.hex(),
        }

    @classmethod
    def from_record(cls, record: dict[str, object]) -> Vote:
        scores = record["scores"]
        assert isinstance(scores, list)
        return cls(
            tuple(int(s) for s in scores),
            int(str(record["flags"])),
            bytes.fromhex(str(record["report_hash"])),
            bytes.fromhex(str(record["salt"])),
        )


def volunteer(market: Marketplace, me: Identity, request_id: int) -> bool:
    """Volunteer with the stake while the request takes executors; whether sent."""
    mm = market.model_market
    request = mm.request(request_id)
    if request.status not in VOLUNTEER_STATES or me.address == request.buyer:
        return False
    if me.address in mm.volunteers(request_id):
        return False
    if request.status is RequestStatus.SUBMITTING and market.chain.timestamp() >= request.deadline:
        return False
    mm.volunteer(me.account, request_id, request.executor_stake)
    return True


def _opened(
    market: Marketplace, me: Identity, request_id: int, sender: str, what: str
) -> bytes | None:
    """The blob ``sender`` sealed to the executors, opened with our key; None if there is
    none or it does not open for us (both count against the sender)."""
    blob = history.sealed_by(market.model_market, request_id, sender)
    if blob is None:
        return None
    try:
        return open_envelope(
            market.store.get(blob), me.encryption_private, purpose(request_id, what)
        )
    except Exception:  # missing, corrupt or not sealed to us: the sender's fault
        return None


def ready(market: Marketplace, request_id: int) -> bool:
    """Whether the buyer and every seller still in have sealed their blobs."""
    mm = market.model_market
    request = mm.request(request_id)
    senders = [request.buyer] + [
        s.seller for s in mm.submissions(request_id) if s.state is SubmissionState.SUBMITTED
    ]
    return all(history.sealed_by(mm, request_id, sender) is not None for sender in senders)


def run_benchmark(market: Marketplace, me: Identity, request_id: int) -> tuple[Benchmark, bytes]:
    """Gather, check and score; returns the benchmark and the blob hash of the signed report."""
    mm = market.model_market
    started = int(time.time())
    request = mm.request(request_id)
    submissions = mm.submissions(request_id)
    sample = history.sample_groups(market, request_id) or {}
    test = _opened(market, me, request_id, request.buyer, "test")
    hidden = None
    if test is not None:
        try:
            hidden = read_groups(test)
        except Exception:
            hidden = {}
    models = [_opened(market, me, request_id, s.seller, f"model {s.index}") for s in submissions]
    result = benchmark(
        request.test_root,
        request.groups,
        sample,
        hidden,
        models,
        [s.plain_root for s in submissions],
        [s.state is SubmissionState.SUBMITTED for s in submissions],
    )
    report = ExecutionReport(
        job_id=f"modelmarket/{market.chain.chain_id}/{mm.address}/{request_id}",
        executor=me.address,
        inputs={
            "test": hash_hex(request.test_root),
            **{f"model-{s.index}": hash_hex(s.plain_root) for s in submissions},
        },
        output_hash=hash_hex(vote_hash(result.scores, result.flags)),
        metrics={f"accuracy-{i}": s / 1e6 for i, s in enumerate(result.scores)},
        started_at=started,
        finished_at=max(started, int(time.time())),
        environment={"flags": str(result.flags), "problems": "; ".join(result.problems)},
    )
    signed = SoftwareAttestation(bytes(me.account.key)).attest(report)
    return result, hash_bytes(market.store.put(signed.to_bytes()))


def commit(
    market: Marketplace,
    me: Identity,
    request_id: int,
    keep: Callable[[Vote, Benchmark], None] = lambda vote, found: None,
) -> tuple[Vote, Benchmark, TxResult]:
    """Benchmark and commit; ``keep`` stores the vote before the commitment is sent (a vote
    lost after committing could not be revealed, and the stake would go)."""
    result, report_hash = run_benchmark(market, me, request_id)
    salt = secrets.token_bytes(32)
    vote = Vote(result.scores, result.flags, report_hash, salt)
    keep(vote, result)
    commitment = score_commitment(
        request_id, me.address, vote.scores, vote.flags, report_hash, salt
    )
    sent = market.model_market.commit_scores(me.account, request_id, commitment)
    return vote, result, sent


def reveal(market: Marketplace, me: Identity, request_id: int, vote: Vote) -> bool:
    """Reveal a committed vote while the reveals are open; whether sent."""
    mm = market.model_market
    request = mm.request(request_id)
    if (
        request.status is not RequestStatus.REVEALING
        or market.chain.timestamp() >= request.deadline
    ):
        return False
    position = mm.volunteers(request_id).index(me.address)
    if not request.committed >> position & 1 or request.revealed >> position & 1:
        return False
    mm.reveal_scores(me.account, request_id, vote.scores, vote.flags, vote.report_hash, vote.salt)
    return True
