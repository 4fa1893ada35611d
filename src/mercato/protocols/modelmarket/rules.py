"""P4's rules: whether a step on a request is acceptable, as plain functions.

Each ``*_problem`` function returns why a step would fail (ModelMarket.vy's asserts, said
before anything is sent), or None when it is acceptable; :func:`schedule_of` reads a price
schedule as the command line writes it. The CLI raises the problem as an InputError, the
agents skip the step (or take it when there is none); nobody restates the contract. Light:
the functions judge views (:mod:`~mercato.protocols.modelmarket.views`) and plain values,
and read nothing themselves. Problems name the command-line options and commands that fix
them; ``now`` is the chain's time, ``block`` the number of the block a transaction sent now
lands in. The ``*_credits`` functions, with :func:`price_for` and :func:`winners_of`, say
what each money-moving step of the contract credits whom, for the audit to recompute.
"""

from __future__ import annotations

from collections.abc import Sequence

from mercato.errors import InputError
from mercato.protocols.modelmarket.limits import (
    MAX_AMOUNT,
    MAX_GROUPS,
    MAX_POINTS,
    MAX_SAMPLE,
    MAX_SELLERS,
    MAX_VOLUNTEERS,
    MAX_WINNERS,
    MIN_GROUPS,
    SCORE_SCALE,
)
from mercato.protocols.modelmarket.views import (
    TEST_FLAG,
    Request,
    RequestStatus,
    Submission,
    SubmissionState,
)
from mercato.protocols.rules import funds_problem, party_problem, state_problem
from mercato.protocols.rules import range_problem as range_problem  # the CLI checks options with it
from mercato.timefmt import format_deadline, same_address
from mercato.units import format_ether, parse_amount

Schedule = tuple[tuple[int, int], ...]
"""(score in parts per million, price in wei) points, as the contract takes them."""

COMMAND = "mercato modelmarket"


def _entry(request: Request) -> str:
    return f"request {request.request_id}"


# posting a request ---------------------------------------------------------------------
def source_problem(
    sample: str | None, data: object | None, label: str | None, schema: object | None
) -> str | None:
    """Unless the buyer's test rows come from one place: a sample set (``--sample-data``)
    or its own file (``--data``, described by ``--label`` or ``--schema``)."""
    if data is None and (label is not None or schema is not None):
        return "--label and --schema describe a data file: pass it with --data"
    if sample is None and data is None:
        return (
            "no test rows: pass your own file (--data FILE with --label or --schema) or "
            "--sample-data"
        )
    if sample is not None and data is not None:
        return "pass --sample-data or --data, not both"
    return None


def schedule_of(text: str) -> Schedule:
    """The schedule that ``"0.7:0.01,0.9:0.03"`` (score:price in ETH, or with a unit such as
    ``20gwei``) writes; InputError if it is not one. Scores go on chain in parts per
    million, rounded to the nearest."""
    points = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        score_text, colon, price_text = part.partition(":")
        if not colon:
            raise InputError(f"--schedule point '{part}' is not SCORE:PRICE (e.g. 0.7:0.01)")
        try:
            score = float(score_text)
        except ValueError:
            raise InputError(f"--schedule score '{score_text.strip()}' is not a number") from None
        if not 0 <= score <= 1:
            raise InputError(f"--schedule score {score_text.strip()} is not between 0 and 1")
        points.append((round(score * SCORE_SCALE), parse_amount(price_text)))
    return tuple(points)


def schedule_problem(text: str) -> str | None:
    """Unless ``text`` is a schedule the contract takes: 1 to 8 points, scores increasing,
    prices above 0 and not falling."""
    try:
        points = schedule_of(text)
    except InputError as exc:
        return str(exc)
    if not 0 < len(points) <= MAX_POINTS:
        return f"--schedule needs 1 to {MAX_POINTS} SCORE:PRICE points, got {len(points)}"
    for i, (score, price) in enumerate(points):
        if price == 0:
            return "--schedule prices must be above 0"
        if price > MAX_AMOUNT:
            return f"--schedule price {format_ether(price)} is more than 2^128 wei"
        if i and score <= points[i - 1][0]:
            return "--schedule scores must increase from one point to the next"
        if i and price < points[i - 1][1]:
            return "--schedule prices must not fall as the score rises"
    return None


def amount_problem(wei: int, option: str) -> str | None:
    """Unless ``wei`` fits the contract's amounts (stakes, fee, bond)."""
    if wei <= MAX_AMOUNT:
        return None
    return f"{option} {format_ether(wei)} is more than the contract takes (2^128 wei at most)"


def groups_problem(groups: int) -> str | None:
    return range_problem(groups, MIN_GROUPS, MAX_GROUPS, "--groups")


def sample_problem(sample: int, groups: int) -> str | None:
    """Unless ``sample`` groups may be revealed of ``groups``: 1 to 8, a quarter at most."""
    return range_problem(sample, 1, min(MAX_SAMPLE, groups // 4), "--sample")


def rows_problem(rows: int, classes: int, groups: int, name: str) -> str | None:
    """Unless the ``rows`` of ``name`` (of ``classes`` classes) cut into ``groups`` groups."""
    if classes < 2:
        return f"{name} holds {classes} class(es): a classification test set needs 2 or more"
    if rows < groups:
        return (
            f"{name} has {rows} rows, too few for {groups} test groups (a row each at least): "
            "pass more rows or fewer --groups"
        )
    return None


def post_funds_problem(address: str, balance: int, escrowed: int) -> str | None:
    """Unless ``address`` holds k x the top price + the executors' fees + the bond."""
    return funds_problem(address, balance, escrowed, "request")


# the buyer's steps ---------------------------------------------------------------------
def buyer_problem(request: Request, caller: str, action: str) -> str | None:
    """Unless ``caller`` is the request's buyer (``action``: ``reveal the sample of``)."""
    return party_problem(request.buyer, caller, "buyer", _entry(request), action)


def test_file_problem(request: Request, root: bytes | None, path: str) -> str | None:
    """Unless the test set kept in ``path`` (its Merkle ``root``; None: no file) is the
    request's."""
    if root is None:
        return (
            f"no hidden test set of {_entry(request)} in {path}: pass the --state-dir you "
            "posted it with"
        )
    if root != request.test_root:
        return (
            f"the test set in {path} is not the one {_entry(request)} committed to (another "
            "deployment?): its root differs"
        )
    return None


def reveal_sample_problem(request: Request, caller: str, now: int) -> str | None:
    """Unless ``caller`` may reveal the drawn sample now."""
    problem = buyer_problem(request, caller, "reveal the sample of")
    if problem is not None:
        return problem
    if request.status is not RequestStatus.SAMPLING:
        return f"{_entry(request)} has no sample to reveal: it is {request.status.label}"
    if now >= request.deadline:
        return (
            f"the sample of {_entry(request)} was due by {format_deadline(request.deadline, now)}; "
            f"anyone may cancel it now ({COMMAND} advance {request.request_id})"
        )
    if request.sample_seed == bytes(32):
        return (
            f"the sample of {_entry(request)} is not drawn yet: draw it first "
            f"({COMMAND} advance {request.request_id})"
        )
    return None


def submission_problem(request: Request, index: int) -> str | None:
    """Unless ``index`` names one of the request's submissions."""
    if 0 <= index < request.sellers:
        return None
    return f"{_entry(request)} has no submission {index} (it has {request.sellers})"


def reject_problem(request: Request, caller: str, submission: Submission) -> str | None:
    """Unless ``caller`` may reject ``submission``'s delivery now."""
    problem = buyer_problem(request, caller, "reject a delivery of")
    if problem is not None:
        return problem
    wanted = (RequestStatus.SUBMITTING, RequestStatus.DRAWING)
    if request.status not in wanted:
        return (
            f"too late to reject a delivery of {_entry(request)}: it is "
            f"{request.status.label} (rejections end when the executors are drawn)"
        )
    if submission.state is not SubmissionState.SUBMITTED:
        return f"submission {submission.index} of {_entry(request)} is {submission.state.label}"
    return None


def seal_problem(
    request: Request, caller: str, submission: Submission | None, sealed: bool
) -> str | None:
    """Unless ``caller`` (the buyer, or the seller of ``submission``) may seal its blob to
    the executors now; ``sealed``: it did already."""
    problem = state_problem(
        request.status, (RequestStatus.COMMITTING,), _entry(request), "seal anything to"
    )
    if problem is not None:
        return problem
    if not same_address(request.buyer, caller):
        if submission is None:
            return f"only the buyer and the sellers of {_entry(request)} seal; you are {caller}"
        if submission.state is not SubmissionState.SUBMITTED:
            return f"your submission {submission.index} is {submission.state.label}: it is out"
    if sealed:
        return f"you already sealed your blob to the executors of {_entry(request)}"
    return None


def take_problem(request: Request, caller: str, submission: Submission, now: int) -> str | None:
    """Unless ``caller`` may open ``submission``'s model: its buyer, the key revealed."""
    problem = buyer_problem(request, caller, "take a model of")
    if problem is not None:
        return problem
    state = submission.state
    if state in (SubmissionState.KEY_REVEALED, SubmissionState.PAID):
        return None
    index = submission.index
    if state is SubmissionState.WON:
        return (
            f"seller {index} of {_entry(request)} has not revealed its key yet; if it does not "
            f"by {format_deadline(request.deadline, now)}, finish refunds you "
            f"({COMMAND} finish {request.request_id} {index})"
        )
    if state is SubmissionState.CHEATED:
        return f"seller {index}'s model of {_entry(request)} was proved bad: you were refunded"
    return f"submission {index} of {_entry(request)} is {state.label}: you did not buy it"


def complain_problem(request: Request, submission: Submission, now: int) -> str | None:
    """Unless the complaint window of ``submission`` is open."""
    if submission.state is SubmissionState.KEY_REVEALED and now < submission.deadline:
        return None
    return (
        f"seller {submission.index}'s model of {_entry(request)} has a bad chunk, but the "
        "complaint window is closed: the seller is paid"
    )


# the sellers' steps --------------------------------------------------------------------
def submit_problem(
    request: Request, caller: str, submitted: bool, volunteered: bool, now: int
) -> str | None:
    """Unless ``caller`` (``submitted`` and ``volunteered`` already?) may submit now."""
    entry = _entry(request)
    problem = state_problem(request.status, (RequestStatus.SUBMITTING,), entry, "submit to")
    if problem is not None:
        if request.status is RequestStatus.SAMPLING:
            return f"{entry} does not take submissions yet: its sample is not revealed"
        return problem
    if now >= request.deadline:
        return (
            f"submissions to {entry} closed at {format_deadline(request.deadline, now)}; anyone "
            f"may draw the executors now ({COMMAND} advance {request.request_id})"
        )
    if same_address(request.buyer, caller):
        return f"you are the buyer of {entry}: you cannot sell to yourself"
    if submitted:
        return f"you already submitted to {entry}"
    if volunteered:
        return f"you volunteered to execute {entry}: an executor cannot sell"
    if request.sellers >= MAX_SELLERS:
        return f"{entry} has its {MAX_SELLERS} sellers already"
    return None


def stake_problem(
    address: str, balance: int, stake: int, request: Request, name: str
) -> str | None:
    """Unless ``address`` holds the ``stake`` (``name``: ``seller stake``) it would lock."""
    return funds_problem(address, balance, stake, "request", name)


def features_problem(
    request: Request, task_features: int, model_features: int | None, path: str
) -> str | None:
    """Unless the model in ``path`` takes the task's features (None: it does not say)."""
    if model_features is None or model_features == task_features:
        return None
    return f"{path} takes {model_features} features; {_entry(request)}'s task has {task_features}"


def offer_problem(
    request: Request, caller: str, submission: Submission | None, key_hash: bytes | None, path: str
) -> str | None:
    """Unless ``path`` keeps the key of ``caller``'s submission (``key_hash``: the keccak of
    the key kept; None: nothing kept)."""
    if submission is None:
        return f"you ({caller}) did not submit to {_entry(request)}"
    if key_hash is None:
        return (
            f"no key of your submission to {_entry(request)} in {path}: pass the --state-dir "
            "you submitted with"
        )
    if key_hash != submission.key_hash:
        return f"the key in {path} is not the one you committed to (another deployment?)"
    return None


def reveal_key_problem(request: Request, submission: Submission, now: int) -> str | None:
    """Unless the seller of ``submission`` may reveal its key now."""
    entry = _entry(request)
    if submission.state is SubmissionState.KEY_REVEALED:
        return f"you already revealed your key to {entry}"
    if submission.state is not SubmissionState.WON or request.status is not RequestStatus.SWAPPING:
        return f"no sale of {entry} waits for your key: your submission is {submission.state.label}"
    if now >= request.deadline:
        return (
            f"the key deadline of {entry} passed at {format_deadline(request.deadline, now)}: "
            "the sale is lost"
        )
    return None


# the executors' steps ------------------------------------------------------------------
def volunteer_problem(
    request: Request, caller: str, volunteered: bool, submitted: bool, now: int
) -> str | None:
    """Unless ``caller`` may volunteer to execute the request now."""
    entry = _entry(request)
    wanted = (RequestStatus.SAMPLING, RequestStatus.SUBMITTING)
    problem = state_problem(request.status, wanted, entry, "volunteer for")
    if problem is not None:
        return problem
    if request.status is RequestStatus.SUBMITTING and now >= request.deadline:
        return f"{entry} took executors until {format_deadline(request.deadline, now)}"
    if same_address(request.buyer, caller):
        return f"you are the buyer of {entry}: you cannot execute it"
    if volunteered:
        return f"you already volunteered for {entry}"
    if submitted:
        return f"you submitted a model to {entry}: a seller cannot execute"
    if request.volunteers >= MAX_VOLUNTEERS:
        return f"{entry} has its {MAX_VOLUNTEERS} volunteers already"
    return None


def _executor_problem(request: Request, index: int | None) -> str | None:
    if index is None or not request.drawn >> index & 1:
        return f"you are not an executor of {_entry(request)}"
    return None


def commit_problem(request: Request, index: int | None, now: int) -> str | None:
    """Unless volunteer ``index`` (None: the caller did not volunteer) may commit now."""
    entry = _entry(request)
    problem = state_problem(request.status, (RequestStatus.COMMITTING,), entry, "benchmark")
    if problem is not None:
        return problem
    if now >= request.deadline:
        return (
            f"the commit deadline of {entry} passed at {format_deadline(request.deadline, now)}; "
            f"anyone may open the reveals now ({COMMAND} advance {request.request_id})"
        )
    problem = _executor_problem(request, index)
    if problem is not None:
        return problem
    assert index is not None
    if request.committed >> index & 1:
        return f"you already committed to your scores of {entry}"
    return None


def unsealed_problem(request: Request, missing: Sequence[str]) -> str | None:
    """Unless every party has sealed its blob (``missing``: who has not, in words)."""
    if not missing:
        return None
    return (
        f"{', '.join(missing)} of {_entry(request)} not sealed to the executors yet: benchmark "
        "once they are (or --anyway, flagging what is missing)"
    )


def reveal_problem(request: Request, index: int | None, now: int) -> str | None:
    """Unless volunteer ``index`` may reveal its committed scores now."""
    entry = _entry(request)
    problem = state_problem(request.status, (RequestStatus.REVEALING,), entry, "reveal scores of")
    if problem is not None:
        return problem
    if now >= request.deadline:
        return f"the reveals of {entry} closed at {format_deadline(request.deadline, now)}"
    problem = _executor_problem(request, index)
    if problem is not None:
        return problem
    assert index is not None
    if not request.committed >> index & 1:
        return f"you did not commit to scores of {entry}: nothing to reveal"
    if request.revealed >> index & 1:
        return f"you already revealed your scores of {entry}"
    return None


def vote_problem(request: Request, kept: bool, matches: bool, path: str) -> str | None:
    """Unless ``path`` keeps (``kept``) the vote the executor committed to (``matches``)."""
    if not kept:
        return (
            f"no committed scores of {_entry(request)} in {path}: pass the --state-dir you "
            "benchmarked with"
        )
    if not matches:
        return f"the scores in {path} are not the ones you committed to (another deployment?)"
    return None


# anyone's steps ------------------------------------------------------------------------
def advance_problem(request: Request, now: int, block: int) -> str | None:
    """Unless ``advance`` moves the request on now: a draw whose block has come, or a
    deadline passed."""
    entry, status, number = _entry(request), request.status, request.request_id
    if status.final:
        return f"{entry} is over ({status.label}): nothing to advance"
    if status is RequestStatus.SAMPLING:
        if now >= request.deadline:
            return None  # cancelled: the buyer did not reveal its sample in time
        if request.sample_seed != bytes(32):
            return (
                f"the sample of {entry} is drawn and waits for the buyer to reveal it until "
                f"{format_deadline(request.deadline, now)}"
            )
    if status in (RequestStatus.SAMPLING, RequestStatus.DRAWING):
        if block <= request.target_block:
            return f"the draw of {entry} waits for block {request.target_block + 1}"
        return None
    if status is RequestStatus.REVEALING:
        return f"{entry} waits for its tally ({COMMAND} tally {number})"
    if status is RequestStatus.SWAPPING:
        return f"{entry} settles sale by sale ({COMMAND} finish {number} INDEX)"
    if now < request.deadline:
        phase = "submissions" if status is RequestStatus.SUBMITTING else "commitments"
        return f"the {phase} of {entry} close at {format_deadline(request.deadline, now)}"
    return None


def tally_problem(request: Request, now: int) -> str | None:
    """Unless anyone may tally the request now: every committed executor revealed, or the
    reveal deadline passed."""
    entry = _entry(request)
    problem = state_problem(request.status, (RequestStatus.REVEALING,), entry, "tally")
    if problem is not None:
        return problem
    if request.revealed != request.committed and now < request.deadline:
        return (
            f"executors of {entry} may reveal until {format_deadline(request.deadline, now)}; "
            "tally after, or once all have"
        )
    return None


def finish_problem(request: Request, submission: Submission, now: int) -> str | None:
    """Unless anyone may settle ``submission``'s sale now: its complaint window over, or
    the key deadline passed without its key."""
    entry, index = _entry(request), submission.index
    problem = state_problem(request.status, (RequestStatus.SWAPPING,), entry, "finish a sale of")
    if problem is not None:
        return problem
    if submission.state is SubmissionState.KEY_REVEALED:
        if now < submission.deadline:
            return (
                f"the buyer may complain about seller {index}'s model of {entry} until "
                f"{format_deadline(submission.deadline, now)}; finish after"
            )
        return None
    if submission.state is not SubmissionState.WON:
        return f"submission {index} of {entry} is {submission.state.label}: no sale to settle"
    if now < request.deadline:
        return (
            f"seller {index} of {entry} may reveal its key until "
            f"{format_deadline(request.deadline, now)}; finish after"
        )
    return None


# what the contract pays ----------------------------------------------------------------
# ModelMarket.vy moves money in these steps; the functions say what each step must credit,
# so that an auditor recomputes every payment from the chain's events (the contract cannot
# call Python: these mirror it, and the audit compares them with its Credited events).
Credits = dict[str, int]
"""Wei credited by one step, by address (each address once; no zero amounts)."""


def _credit(credits: Credits, address: str, amount: int) -> None:
    if amount:
        credits[address] = credits.get(address, 0) + amount


def _count(mask: int) -> int:
    return bin(mask).count("1")


def price_for(schedule: Sequence[tuple[int, int]], score: int) -> int:
    """The schedule's price for ``score`` (ppm): the price of the highest point at or
    below it, 0 below the first (``_price``)."""
    price = 0
    for point, point_price in schedule:
        if point > score:
            break
        price = point_price
    return price


def winners_of(
    scores: Sequence[int],
    flags: int,
    live: Sequence[bool],
    schedule: Sequence[tuple[int, int]],
    k: int,
) -> tuple[int, tuple[int, ...]]:
    """(mask of the winners, each submission's price, 0 unless it won): the best ``k``
    live submissions that no flag names and the schedule prices above 0, ties to the
    earlier submission (``_winners``)."""
    eligible = [i for i, alive in enumerate(live) if alive and not flags >> (i + 1) & 1]
    winners = 0
    for _ in range(min(k, MAX_WINNERS)):
        best = None
        for i in eligible:
            if not winners >> i & 1 and (best is None or scores[i] > scores[best]):
                best = i
        if best is None or price_for(schedule, scores[best]) == 0:
            break
        winners |= 1 << best
    prices = tuple(
        price_for(schedule, scores[i]) if winners >> i & 1 else 0 for i in range(len(live))
    )
    return winners, prices


def undrawn_credits(request: Request, volunteers: Sequence[str], drawn: int) -> Credits:
    """Drawing the executors: every volunteer not drawn has its stake back."""
    credits: Credits = {}
    for i, volunteer in enumerate(volunteers):
        if not drawn >> i & 1:
            _credit(credits, volunteer, request.executor_stake)
    return credits


def cancel_credits(
    request: Request, volunteers: Sequence[str], live_sellers: Sequence[str], locked: int
) -> Credits:
    """A cancellation before the benchmark: every live seller's and volunteer's stake back,
    what the request still ``locked`` beyond them to the buyer (``_cancel``)."""
    credits: Credits = {}
    for seller in live_sellers:
        _credit(credits, seller, request.seller_stake)
    for volunteer in volunteers:
        _credit(credits, volunteer, request.executor_stake)
    refund = locked - request.seller_stake * len(live_sellers)
    _credit(credits, request.buyer, refund - request.executor_stake * len(volunteers))
    return credits


def fail_credits(
    request: Request,
    volunteers: Sequence[str],
    live_sellers: Sequence[str],
    revealed: int,
    locked: int,
) -> Credits:
    """No majority (or no commitment): the sellers' stakes back; the executors that revealed
    their stake and an equal share of the silent ones' stakes; the buyer the rest (``_fail``)."""
    credits: Credits = {}
    for seller in live_sellers:
        _credit(credits, seller, request.seller_stake)
    rest = locked - request.seller_stake * len(live_sellers)
    revealers = _count(revealed)
    if revealers:
        slashed = _count(request.drawn & ~revealed) * request.executor_stake
        pay = request.executor_stake + slashed // revealers
        for i, volunteer in enumerate(volunteers):
            if revealed >> i & 1:
                _credit(credits, volunteer, pay)
        rest -= pay * revealers
    _credit(credits, request.buyer, rest)
    return credits


def executor_pay(request: Request, agreed: int) -> tuple[int, int]:
    """(what each executor that agreed is paid: stake, fee and a share of the slashed
    stakes; the stakes slashed from the drawn executors that did not agree)."""
    slashed = _count(request.drawn & ~agreed) * request.executor_stake
    return request.executor_stake + request.executor_fee + slashed // _count(agreed), slashed


def tally_credits(
    request: Request,
    volunteers: Sequence[str],
    sellers: Sequence[str],
    live: Sequence[bool],
    agreed: int,
    scores: Sequence[int],
    flags: int,
    schedule: Sequence[tuple[int, int]],
) -> tuple[Credits, int]:
    """What the tally with the majority's ``scores`` and ``flags`` credits (the executors
    that ``agreed``; the sellers, by submission, ``live`` if still in) and the buyer's
    refund within it (``tally``)."""
    credits: Credits = {}
    pay, slashed = executor_pay(request, agreed)
    for i, volunteer in enumerate(volunteers):
        if agreed >> i & 1:
            _credit(credits, volunteer, pay)
    agreeing = _count(agreed)
    refund = _count(request.drawn & ~agreed) * request.executor_fee + slashed % agreeing
    budget = request.k * request.top_price
    if flags & TEST_FLAG:
        still_in = [seller for seller, alive in zip(sellers, live, strict=True) if alive]
        share = request.bond // len(still_in) if still_in else 0
        for seller in still_in:
            _credit(credits, seller, request.seller_stake + share)
        refund += budget + request.bond - share * len(still_in)
    else:
        winners, prices = winners_of(scores, flags, live, schedule, request.k)
        refund += budget - sum(prices) + request.bond
        for i, (seller, alive) in enumerate(zip(sellers, live, strict=True)):
            if not alive or winners >> i & 1:
                continue
            if flags >> (i + 1) & 1:
                refund += request.seller_stake
            else:
                _credit(credits, seller, request.seller_stake)
    _credit(credits, request.buyer, refund)
    return credits, refund


def settle_credits(request: Request, seller: str, price: int, state: SubmissionState) -> Credits:
    """A winner's sale settled in ``state``: PAID owes the seller its price and stake;
    CHEATED (a proved complaint) and DEFAULTED (no key) owe them to the buyer."""
    payee = seller if state is SubmissionState.PAID else request.buyer
    return {payee: price + request.seller_stake}
