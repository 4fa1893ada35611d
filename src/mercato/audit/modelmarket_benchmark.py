"""Audit checks of a P4 request's benchmark: the draws, the sample, the sealed test set and
models, and the scores.

Checks 1-5 of :mod:`mercato.audit.modelmarket`. The rules are the protocol's own: the
draws of :mod:`mercato.protocols.draws`, the test-set and scoring rule of
:func:`mercato.protocols.modelmarket.evaluation.benchmark`, the FairSwap plaintext root of
:func:`mercato.crypto.fairswap.plain_root` and the majority of
:func:`mercato.protocols.modelmarket.history.majority`.
"""

from __future__ import annotations

from collections.abc import Sequence

from eth_utils.crypto import keccak

from mercato.audit.modelmarket_ledger import RequestLedger
from mercato.audit.report import CheckBuilder
from mercato.crypto.fairswap import plain_root
from mercato.errors import InputError, MercatoError
from mercato.protocols.draws import BLOCKHASH_WINDOW, distinct_indices, select
from mercato.protocols.modelmarket import history
from mercato.protocols.modelmarket.documents import read_group
from mercato.protocols.modelmarket.views import (
    TEST_FLAG,
    RequestStatus,
    indices_of,
    model_flag,
)
from mercato.storage.base import hash_hex


def draw_seed(block_hash: bytes, request_id: int, what: bytes) -> bytes:
    """``keccak256(blockhash(target) || uint256(request) || what)``: the seed of the draw of
    ``what`` (``b"sample"``, ``b"executors"``), as ModelMarket.vy takes it."""
    return keccak(block_hash + request_id.to_bytes(32, "big") + what)


def _draw_problems(
    ledger: RequestLedger, asked: int, status: RequestStatus, drawn_block: int, target: int,
    block_hash: bytes,
) -> list[str]:  # fmt: skip
    """What is wrong with a draw's target and block hash: the target must be the block that
    asked (``asked``) or its last re-target, drawn within the block-hash window, and the
    logged hash the chain's."""
    problems = []
    expected = asked
    for moved in ledger.named("Retargeted", status=int(status)):
        if int(moved["target_block"]) != moved.block_number:
            problems.append(
                f"re-targeted to block {moved['target_block']} in block {moved.block_number}"
            )
        expected = moved.block_number
    if target != expected:
        problems.append(f"drawn from block {target}, not block {expected}")
    if not 0 < drawn_block - target <= BLOCKHASH_WINDOW:
        problems.append(
            f"drawn in block {drawn_block}, not within {BLOCKHASH_WINDOW} after {target}"
        )
    try:
        chain_hash: bytes | None = ledger.market.chain.block_hash(target)
    except MercatoError:
        chain_hash = None
    if chain_hash and chain_hash != bytes(32) and chain_hash != block_hash:
        problems.append(
            f"the logged hash {hash_hex(block_hash)} of block {target} is not the chain's "
            f"{hash_hex(chain_hash)}"
        )
    return problems


def check_draws(ledger: RequestLedger, check: CheckBuilder) -> None:
    """The sample and the executors are what the hash of the block after each asking gives."""
    request, rid = ledger.request, ledger.request_id
    drawn = ledger.last("SampleDrawn")
    if drawn is None:
        if request.status.final:
            check.ran("no sample was drawn: the request ended before anyone drew it")
        else:
            check.undecided(f"the sample is not drawn yet ({request.status.label})")
        return
    posted = ledger.posted
    block_hash, target = bytes(drawn["block_hash"]), int(drawn["target_block"])
    problems = _draw_problems(
        ledger, posted.block_number, RequestStatus.SAMPLING, drawn.block_number, target, block_hash
    )
    seed = draw_seed(block_hash, rid, b"sample")
    expected = distinct_indices(seed, request.groups, request.sample)
    indices = [int(i) for i in drawn["indices"]]
    if indices != expected:
        problems.append(f"drew groups {indices}; the block hash gives {expected}")
    if request.sample_seed != seed:
        problems.append(
            f"keeps the sample seed {hash_hex(request.sample_seed)}, not {hash_hex(seed)}"
        )
    for problem in problems:
        check.fail(ledger.against_contract(f"the sample: {problem}"))
    check.ran(f"the sample {indices} is the draw of block {target}'s hash")

    closed, executors = ledger.last("SubmissionsClosed"), ledger.last("ExecutorsDrawn")
    if executors is None or closed is None:
        if request.status.final:
            check.ran("no executors were drawn: the request ended before the benchmark")
        else:
            check.undecided(f"the executors are not drawn yet ({request.status.label})")
        return
    block_hash, target = bytes(executors["block_hash"]), int(executors["target_block"])
    problems = _draw_problems(
        ledger, closed.block_number, RequestStatus.DRAWING, executors.block_number, target,
        block_hash,
    )  # fmt: skip
    volunteers = int(closed["volunteers"])
    mask, _ = select(draw_seed(block_hash, rid, b"executors"), volunteers, request.executors, 0)
    if int(executors["drawn"]) != mask or request.drawn != mask:
        problems.append(
            f"drew volunteers {list(indices_of(int(executors['drawn'])))}; the block hash gives "
            f"{list(indices_of(mask))}"
        )
    named = [ledger.volunteers[i] for i in indices_of(mask) if i < len(ledger.volunteers)]
    if [a.lower() for a in ledger.drawn_executors] != [a.lower() for a in named]:
        problems.append(f"names executors {ledger.drawn_executors}, not volunteers {named}")
    for problem in problems:
        check.fail(ledger.against_contract(f"the executors: {problem}"))
    check.ran(
        f"executors {list(indices_of(mask))} of {volunteers} volunteer(s) are the draw of block "
        f"{target}'s hash"
    )


def check_sample(ledger: RequestLedger, check: CheckBuilder) -> None:
    """The buyer revealed the drawn groups, their blob holds them, and they fit the task."""
    request = ledger.request
    drawn, revealed = ledger.last("SampleDrawn"), ledger.last("SampleRevealed")
    if isinstance(ledger.task, str):
        check.fail(ledger.against_buyer(f"posted a task it did not store: {ledger.task}"))
    if revealed is None:
        if drawn is None and request.status.final:
            check.ran("no sample was drawn, so none was revealed")
        elif drawn is not None and request.status.final:
            check.fail(
                ledger.against_buyer(
                    f"never revealed the drawn sample {[int(i) for i in drawn['indices']]} by its "
                    "deadline: the request was cancelled"
                )
            )
        else:
            check.undecided("the buyer has not revealed the sample yet")
        return
    indices = [int(i) for i in revealed["indices"]]
    if drawn is None or indices != [int(i) for i in drawn["indices"]]:
        check.fail(ledger.against_contract(f"took the reveal of groups {indices}, not those drawn"))
    sample = ledger.sample
    if isinstance(sample, str) or sample is None:
        check.fail(ledger.against_buyer(f"revealed a sample that cannot be read: {sample}"))
        return
    check.ran(f"the sample blob holds groups {indices} with the hashes proved on chain")
    if isinstance(ledger.task, str):
        return
    for index, blob in sorted(sample.items()):
        try:
            X, y = read_group(blob)
        except InputError as exc:
            check.fail(ledger.against_buyer(f"sample group {index}: {exc}"))
            continue
        classes = len(ledger.task.classes)
        if X.shape[1] != ledger.task.features or y.min() < 0 or y.max() >= classes:
            check.fail(
                ledger.against_buyer(
                    f"sample group {index} has {X.shape[1]} features and labels "
                    f"{int(y.min())}..{int(y.max())}; the task says {ledger.task.features} "
                    f"features and {classes} classes"
                )
            )
    check.ran(f"every sample group is rows of the task's {ledger.task.features} features")


def _benchmark_open(ledger: RequestLedger, check: CheckBuilder, what: str) -> bool:
    """Whether the benchmark stage was reached and is over (else say why not, and stop)."""
    if not ledger.benchmarked:
        if ledger.request.status.final:
            check.ran(f"no benchmark: the request ended before the executors were drawn ({what})")
        else:
            check.undecided(f"the executors are not drawn yet ({what})")
        return False
    return True


def _commitments_closed(ledger: RequestLedger) -> bool:
    """The commit phase is over: a blob not sealed by now counts against its sender."""
    return ledger.request.status is not RequestStatus.COMMITTING


def _check_envelope(
    ledger: RequestLedger, check: CheckBuilder, sender: str, blame: object, what: str
) -> bytes | None:
    """Public part: ``sender`` sealed ``what`` to every drawn executor; its blob hash."""
    assert callable(blame)
    sealed = ledger.sealed(sender)
    executors = len(ledger.drawn_executors)
    if sealed is None:
        if _commitments_closed(ledger):
            check.fail(blame(f"never sealed {what} to the executors"))
        else:
            check.undecided(f"{what} not sealed to the executors yet")
        return None
    value = bytes(sealed["blob_hash"])
    count = ledger.recipients(value)
    if count is None:
        check.fail(blame(f"sealed {what} as {hash_hex(value)}, which {ledger.blob(value).problem}"))
        return None
    if count < executors:
        check.fail(blame(f"sealed {what} to {count} key(s), not each of the {executors} executors"))
    return value


def check_test_set(ledger: RequestLedger, check: CheckBuilder) -> None:
    """The buyer sealed to the executors hidden groups that, with the sample, give its root."""
    if not _benchmark_open(ledger, check, "no test set sealed"):
        return
    value = _check_envelope(
        ledger, check, ledger.request.buyer, ledger.against_buyer, "the hidden groups"
    )
    if value is None:
        return
    check.ran(f"the buyer sealed the hidden groups to the {len(ledger.drawn_executors)} executors")
    if not ledger.is_executor:
        check.skip("whether the hidden groups give the test root: needs a drawn executor's key")
        tallied = ledger.tallied
        if tallied is not None and int(tallied["flags"]) & TEST_FLAG:
            check.undecided(
                "the executors' majority flagged the hidden groups; a drawn executor's key "
                "re-checks them against the test root"
            )
        return
    found = ledger.benchmark
    if ledger.hidden is None:
        problem = ledger.open(value, "test").problem
        check.fail(ledger.against_buyer(f"the hidden groups it sealed do not open: {problem}"))
    elif found.flags & TEST_FLAG:
        check.fail(
            ledger.against_buyer(f"the hidden groups it sealed: {'; '.join(found.problems)}")
        )
    else:
        check.ran(
            f"with an executor's key, the {len(ledger.hidden)} hidden groups and the sample give "
            "the test root"
        )


def check_models(ledger: RequestLedger, check: CheckBuilder) -> None:
    """Each seller still in sealed to the executors the model whose plaintext root it
    committed to."""
    if not _benchmark_open(ledger, check, "no model sealed"):
        return
    live = ledger.live(ledger.tallied)
    indices = [s.index for s, alive in zip(ledger.submissions, live, strict=True) if alive]
    if not indices:
        check.ran("no submission was left to benchmark")
        return
    opened = 0
    for index in indices:
        submission = ledger.submissions[index]

        def blame(text: str, index: int = index) -> object:
            return ledger.against_seller(index, text)

        value = _check_envelope(ledger, check, submission.seller, blame, "its model")
        if value is None or not ledger.is_executor:
            continue
        model = ledger.model(index)
        if model is None:
            problem = ledger.open(value, f"model {index}").problem
            check.fail(
                ledger.against_seller(index, f"the model it sealed does not open: {problem}")
            )
        elif plain_root(model) != submission.plain_root:
            check.fail(
                ledger.against_seller(
                    index,
                    f"the model it sealed has plaintext root {hash_hex(plain_root(model))}, not "
                    f"the committed {hash_hex(submission.plain_root)}",
                )
            )
        else:
            opened += 1
    check.ran(f"{len(indices)} seller(s) sealed their models to the executors")
    if ledger.is_executor:
        check.ran(f"with an executor's key, {opened} model(s) give their committed plaintext root")
    else:
        check.skip("whether each sealed model is the one committed: needs a drawn executor's key")


def _excused(ledger: RequestLedger, flags: int) -> bool:
    """The flags name a blob that was not sealed to every drawn executor: an executor left
    out flags it honestly."""
    executors = len(ledger.drawn_executors)
    senders = [(TEST_FLAG, ledger.request.buyer)] + [
        (model_flag(s.index), s.seller) for s in ledger.submissions
    ]
    for bit, sender in senders:
        sealed = ledger.sealed(sender)
        if flags & bit and sealed is not None:
            count = ledger.recipients(bytes(sealed["blob_hash"]))
            if count is not None and count < executors:
                return True
    return False


def _vote(scores: Sequence[int], flags: int) -> str:
    return f"scores {list(scores)} flags {flags}"


def check_scores(ledger: RequestLedger, check: CheckBuilder) -> None:
    """Every drawn executor committed and revealed; the tally is the majority's vote; with a
    drawn executor's key, every vote is recomputed from the sealed blobs."""
    if not _benchmark_open(ledger, check, "nothing scored"):
        return
    request = ledger.request
    reveals_over = ledger.tallied is not None or request.status.final
    drawn = ledger.drawn_executors
    committed = {str(e["executor"]).lower() for e in ledger.named("ScoresCommitted")}
    reveals = {str(e["executor"]).lower(): e for e in ledger.named("ScoresRevealed")}
    for executor in drawn:
        if executor.lower() not in committed:
            if _commitments_closed(ledger):
                check.fail(
                    ledger.against_executor(executor, "drawn, and never committed to scores")
                )
        elif executor.lower() not in reveals and reveals_over:
            check.fail(ledger.against_executor(executor, "committed to scores and never revealed"))
    if not reveals_over:
        check.undecided(f"the executors' reveals are not over ({request.status.label})")
        return
    tallied = ledger.tallied
    majority = history.majority(ledger.market.model_market, ledger.request_id, request.executors)
    if tallied is None:
        if majority is not None and ledger.named("ScoresRevealed"):
            check.fail(
                ledger.against_contract(f"failed the request though a majority revealed {majority}")
            )
        check.ran(f"{len(reveals)} of {len(drawn)} executor(s) revealed; no majority agreed")
        agreed: tuple[int, ...] | None = None
    else:
        agreed = tuple(int(s) for s in tallied["scores"])
        vote = (agreed, int(tallied["flags"]))
        if majority != vote:
            check.fail(
                ledger.against_contract(f"tallied {_vote(*vote)}, not the majority's {majority}")
            )
        check.ran(f"the tally is the majority's vote: {_vote(*vote)}")
    recomputed = ledger.benchmark if ledger.is_executor else None
    for executor in drawn:
        event = reveals.get(executor.lower())
        if event is None:
            continue
        vote = (tuple(int(s) for s in event["scores"]), int(event["flags"]))
        if recomputed is not None:
            differ = vote[1] ^ recomputed.flags
            if (
                vote != (recomputed.scores, recomputed.flags)
                and differ
                and _excused(ledger, differ)
            ):
                check.note(
                    f"executor {executor} flagged differently from us only blobs that were "
                    "not sealed to every drawn executor: its vote and ours are both excused"
                )
            elif vote != (recomputed.scores, recomputed.flags):
                check.fail(
                    ledger.against_executor(
                        executor,
                        f"revealed {_vote(*vote)}; the benchmark of the sealed blobs gives "
                        f"{_vote(recomputed.scores, recomputed.flags)}",
                    )
                )
        elif majority is not None and vote != majority and not _excused(ledger, vote[1]):
            check.fail(
                ledger.against_executor(
                    executor,
                    f"outvoted: revealed {_vote(*vote)}; the majority of the drawn executors "
                    f"revealed {_vote(*majority)}",
                )
            )
    if recomputed is not None:
        check.ran(
            "with an executor's key, the benchmark re-run on the sealed blobs gives "
            f"{_vote(recomputed.scores, recomputed.flags)}"
        )
    else:
        check.skip("each score re-run on the hidden groups: needs a drawn executor's key")
