"""P3's rules: whether a step on a task is acceptable, as plain functions.

Each ``*_problem`` function returns why a step would fail (the contract's asserts, said
before anything is sent), or None when it is acceptable; :func:`rule_for` and
:func:`task_bound` compute a task's terms from what the model owner asked. The CLI raises
the problem as an InputError, the agents skip the step, the demo posts with the same terms;
nobody restates the contract. Light: the functions judge views
(:mod:`~mercato.protocols.datamarket.views`) and plain values, and read nothing themselves.
Problems name the command-line options and commands that fix them.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from mercato.protocols.datamarket.limits import (
    DEFAULT_MULTIPLE,
    DEFAULT_ROBUST_RULE,
    MAX_MULTIPLE,
    MAX_REWARD,
    MIN_MULTIPLE,
    MULTIPLE_SCALE,
    ROBUST_RULES,
    RULE_MEAN,
)
from mercato.protocols.datamarket.views import Mode, Phase, Task, TaskStatus
from mercato.protocols.rules import funds_problem, party_problem
from mercato.protocols.rules import range_problem as range_problem  # the CLI checks options with it
from mercato.timefmt import format_deadline, format_time, same_address
from mercato.units import compact_ether, format_ether

if TYPE_CHECKING:
    from mercato.ml.datasets import Dataset
    from mercato.protocols.datamarket.documents import TaskSpec
    from mercato.protocols.datamarket.state_files import JoinedPart, OwnerHead


# posting a task ------------------------------------------------------------------------
def mode_of(text: str) -> Mode | None:
    """The mode called ``text`` (``secure``, ``robust``), or None."""
    return next((mode for mode in Mode if text.strip().lower() == mode.label), None)


def mode_problem(text: str) -> str | None:
    """Unless ``text`` names a mode."""
    return None if mode_of(text) else f"--mode must be secure or robust, got '{text}'"


def rule_problem(mode: Mode, rule: str | None) -> str | None:
    """Unless the aggregation ``rule`` (None: the mode's default) fits ``mode``."""
    if rule is None:
        return None
    if mode is Mode.SECURE and rule != RULE_MEAN:
        return (
            f"--rule {rule} does not fit secure mode: secure aggregation only gives the "
            f"model owner the sum, so the rule is {RULE_MEAN}; use --mode robust for {rule}"
        )
    if mode is Mode.ROBUST and rule not in ROBUST_RULES:
        return f"--rule in robust mode must be one of {', '.join(ROBUST_RULES)}, got '{rule}'"
    return None


def rule_for(mode: Mode, rule: str | None) -> str:
    """The task's rule: ``rule``, or the mode's default."""
    if rule is not None:
        return rule
    return RULE_MEAN if mode is Mode.SECURE else DEFAULT_ROBUST_RULE


def _most_excluded(data_owners: int) -> int:
    return (data_owners - 3) // 2  # 2f + 3 <= n: Multi-Krum still has a majority to pick from


def bound_problem(
    mode: Mode, data_owners: int, threshold: int | None, excluded: int | None
) -> str | None:
    """Unless the Shamir ``threshold`` (secure) or the most ``excluded`` (robust) fits."""
    if mode is Mode.SECURE:
        if excluded is not None:
            return "--max-excluded applies to robust mode; secure mode takes --threshold"
        if threshold is None:
            return None
        return range_problem(threshold, data_owners // 2 + 1, data_owners, "--threshold")
    if threshold is not None:
        return "--threshold applies to secure mode; robust mode takes --max-excluded"
    most = _most_excluded(data_owners)
    if excluded is None or 0 <= excluded <= most:
        return None
    return (
        f"--max-excluded must be 0 to {most} for {data_owners} data owners "
        f"(2 x excluded + 3 <= data owners), got {excluded}"
    )


def task_bound(
    mode: Mode, data_owners: int, threshold: int | None = None, excluded: int | None = None
) -> int:
    """The contract's ``bound``: the Shamir threshold (secure, default a majority) or the
    most exclusions a round (robust, default the most :func:`bound_problem` allows)."""
    if mode is Mode.SECURE:
        return data_owners // 2 + 1 if threshold is None else threshold
    return _most_excluded(data_owners) if excluded is None else excluded


def multiple_problem(mode: Mode, multiple: float | None) -> str | None:
    """Unless the outlier ``multiple`` (robust mode; a number of times the median, in steps
    of 0.01) fits the contract's range; secure mode takes none."""
    if multiple is None:
        return None
    if mode is Mode.SECURE:
        return "--outlier-multiple applies to robust mode; secure mode excludes nobody"
    low, high = MIN_MULTIPLE / MULTIPLE_SCALE, MAX_MULTIPLE / MULTIPLE_SCALE
    if not low <= multiple <= high:
        return (
            f"--outlier-multiple must be {low:g} to {high:g} (times the median), got {multiple:g}"
        )
    if abs(multiple * MULTIPLE_SCALE - round(multiple * MULTIPLE_SCALE)) > 1e-6:
        return f"--outlier-multiple takes at most two decimals, got {multiple:g}"
    return None


def task_multiple(mode: Mode, multiple: float | None = None) -> int:
    """The contract's ``outlier_multiple`` in hundredths: 0 in secure mode, else ``multiple``
    (default :data:`~mercato.protocols.datamarket.limits.DEFAULT_MULTIPLE`)."""
    if mode is Mode.SECURE:
        return 0
    return DEFAULT_MULTIPLE if multiple is None else round(multiple * MULTIPLE_SCALE)


def reward_problem(reward: int, data_owners: int, rounds: int, given: str) -> str | None:
    """Unless ``reward`` wei (typed as ``given``) splits into one equal share per update."""
    if not 0 < reward <= MAX_REWARD:
        return f"--reward must be above 0 and at most {format_ether(MAX_REWARD)}, got {given}"
    shares = data_owners * rounds
    if reward % shares == 0:
        return None
    lower, higher = reward // shares * shares, (reward // shares + 1) * shares
    suggest = (
        f"{compact_ether(lower)} or {compact_ether(higher)} ETH"
        if lower
        else f"{compact_ether(higher)} ETH"
    )
    return (
        f"--reward {given} ({format_ether(reward)}) does not split into {shares} equal shares "
        f"({data_owners} data owners x {rounds} rounds); try {suggest}"
    )


def wants_problem(spec: TaskSpec, wants: str | None, dataset: str, own_class: str) -> str | None:
    """Unless the classes the task wants (``--wants``) take the MO's own data of ``dataset``."""
    if spec.wants(own_class):
        return None
    return f"--wants {wants} does not describe your own data: {dataset} is {own_class}"


def balance_problem(address: str, balance: int, reward: int) -> str | None:
    """Unless ``address`` holds the ``reward`` the task locks."""
    return funds_problem(address, balance, reward, "task")


def round_pay(per_update: int, excluded: int, kept: int) -> int:
    """What each of the ``kept`` data owners of a finalised round is credited: its share and
    an equal part of the ``excluded`` shares (DataMarket.vy's ``finalise_round``), so that
    excluding an honest data owner gains the model owner nothing."""
    return per_update + excluded * per_update // kept


# the model owner's steps ----------------------------------------------------------------
def owner_problem(task: Task, caller: str, action: str) -> str | None:
    """Unless ``caller`` is the task's model owner (``action``: ``aggregate``)."""
    return party_problem(task.mo, caller, "model owner", f"task {task.task_id}", action)


def aggregate_problem(task: Task, caller: str, now: int | None = None) -> str | None:
    """Unless a round waits for ``caller``'s aggregation (and, given ``now``, in time)."""
    problem = owner_problem(task, caller, "aggregate")
    if problem is not None:
        return problem
    if task.status is not TaskStatus.RUNNING or task.phase is not Phase.AGGREGATE:
        return f"task {task.task_id} has no round waiting for aggregation: {task.waiting}"
    if now is not None and now >= task.deadline:
        return (
            f"the aggregation deadline of round {task.round} of task {task.task_id} passed at "
            f"{format_time(task.deadline)}; the data owners claim now "
            f"(mercato datamarket claim {task.task_id})"
        )
    return None


def finish_problem(task: Task, caller: str) -> str | None:
    """Unless ``caller`` may fine-tune its private head: the task is over, not cancelled."""
    problem = owner_problem(task, caller, "finish")
    if problem is not None:
        return problem
    if task.status is TaskStatus.CANCELLED:
        return (
            f"task {task.task_id} was cancelled before it started: nothing to fine-tune; "
            "withdraw the refund (mercato datamarket withdraw)"
        )
    if task.status not in (TaskStatus.FINISHED, TaskStatus.EXPIRED):
        return (
            f"task {task.task_id} is {task.status.label} ({task.waiting}); finish it once it "
            "is over"
        )
    return None


def take_problem(task: Task, caller: str) -> str | None:
    """Unless ``caller`` may take the task's final model: its model owner, the task over."""
    problem = owner_problem(task, caller, "take its final model")
    if problem is not None:
        return problem
    if task.status is TaskStatus.CANCELLED:
        return f"task {task.task_id} was cancelled before it started: it has no final model"
    if not task.status.final:
        return (
            f"task {task.task_id} is {task.status.label} ({task.waiting}); its final model is "
            "there once it is over"
        )
    return None


def head_problem(task_id: int, head: OwnerHead | None, path: Path, model_hash: str) -> str | None:
    """Unless ``head`` (from ``path``) was pretrained for the task's public ``model_hash``."""
    if head is None:
        return (
            f"no private head of task {task_id} in {path}: finish with the --state-dir you "
            "posted it with"
        )
    if head.model_hash != model_hash:
        return (
            f"the head of task {task_id} in {path} was pretrained for another public model "
            "(another deployment at the same address?): it does not fit this task"
        )
    return None


# the data owner's steps -----------------------------------------------------------------
def join_problem(task: Task, caller: str, index: int | None, now: int) -> str | None:
    """Unless ``caller`` (``index``: its place in the task, if any) may join the task now."""
    if task.status is not TaskStatus.JOINING:
        return f"task {task.task_id} is not open for joining: it is {task.status.label}"
    if now >= task.deadline:
        return (
            f"the join period of task {task.task_id} ended at {format_time(task.deadline)}; anyone "
            f"may cancel it now (mercato datamarket advance {task.task_id})"
        )
    if same_address(task.mo, caller):
        return f"you are the model owner of task {task.task_id}: you cannot join it"
    if index is not None:
        return f"you already joined task {task.task_id} as data owner {index}"
    return None


def part_problem(part: int, data_owners: int) -> str | None:
    """Unless ``part`` is one of a cut for ``data_owners``."""
    return range_problem(part, 0, data_owners - 1, "--part")


def data_problem(task_id: int, spec: TaskSpec, data: Dataset) -> str | None:
    """Unless the task wants ``data`` (its ontology class) and its model takes it."""
    if not spec.wants(data.ontology_class):
        return (
            f"task {task_id} wants data of {', '.join(spec.data_classes)}; "
            f"{data.name!r} is {data.ontology_class} (a data file declares its class in its "
            "schema's ontology)"
        )
    return fit_problem(task_id, spec, data)


def fit_problem(task_id: int, spec: TaskSpec, data: Dataset) -> str | None:
    """Unless the task's model takes ``data``: the feature count (and names, where both have
    them) and every class ``data`` holds (by name, where it names them)."""
    from mercato.ml import columns

    features = () if spec.inputs is None else spec.inputs.features
    return columns.fit_problem(
        f"task {task_id}'s model", spec.build_model().n_features, features, spec.class_names,
        data,
    )  # fmt: skip


def cut_problem(task_id: int, spec: TaskSpec, use: str = "join it with") -> str | None:
    """Unless the task takes a sample set's cut (it was posted from a sample set)."""
    if spec.inputs is None:
        return None
    return (
        f"task {task_id} was posted from the model owner's own file, not from a sample set's "
        f"cut: {use} your own file (--data FILE with --label or --schema)"
    )


def source_problem(
    dataset: str | None, data: object | None, sample: str = "--dataset"
) -> str | None:
    """Unless exactly one data source is given: a sample set (``sample``) or a file (--data)."""
    if (dataset is None) != (data is None):
        return None
    if dataset is None:
        return f"no data: pass your own file (--data FILE with --label or --schema) or {sample}"
    return f"pass {sample} or --data, not both"


def act_problem(task: Task, caller: str, index: int | None, now: int) -> str | None:
    """Unless the current phase waits for a post of ``caller`` (member ``index``) in time."""
    if index is None:
        return f"you ({caller}) did not join task {task.task_id}"
    if task.status is not TaskStatus.RUNNING:
        return f"nothing in task {task.task_id} waits for you: {task.waiting}"
    if task.phase is Phase.AGGREGATE or index not in task.waiting_for:
        reason = (
            f"round {task.round} waits for the model owner to aggregate"
            if task.phase is Phase.AGGREGATE  # every submitter counts as waiting for the MO
            else f"you dropped out of round {task.round}"
            if index not in task.active_members
            else f"you already posted in the {task.phase.label} phase of round {task.round}"
        )
        return f"nothing in task {task.task_id} waits for you: {reason}"
    if now >= task.deadline:
        return (
            f"the {task.phase.label} phase of round {task.round} of task {task.task_id} ended "
            f"at {format_time(task.deadline)}; anyone may close it (mercato datamarket advance "
            f"{task.task_id})"
        )
    return None


def choice_problem(
    dataset: str | None, part: int | None, data: object | None = None, *, needed: bool = False
) -> str | None:
    """Unless the data is given whole (``--dataset`` and ``--part``, or a file ``--data``)
    or, unless it is ``needed``, not at all (what join recorded)."""
    if data is not None and (dataset is not None or part is not None):
        return "pass --dataset and --part, or your own file (--data), not both"
    if needed and data is None and dataset is None and part is None:
        return (
            "no data: pass your own file (--data FILE with --label or --schema), or --dataset "
            "and --part"
        )
    if (dataset is None) == (part is None):
        return None
    if needed:
        return "pass both --dataset and --part"
    return "pass both --dataset and --part, or neither (the part recorded by join)"


def recorded_problem(task: Task, recorded: JoinedPart | None, path: Path) -> str | None:
    """Unless the parts file at ``path`` recorded the part the DO joined the task with."""
    if recorded is not None:
        return None
    return (
        f"round {task.round} of task {task.task_id} asks for your update and {path} holds no "
        "part for it: pass what you joined with (--data FILE, or --dataset and --part)"
    )


# anyone's steps ---------------------------------------------------------------------------
def advance_problem(task: Task, now: int) -> str | None:
    """Unless a deadline passed that lets anyone cancel the task or end a phase."""
    if task.status.final:
        return f"task {task.task_id} is over ({task.status.label}): nothing to advance"
    if task.phase is Phase.AGGREGATE:
        return (
            f"round {task.round} of task {task.task_id} waits for the model owner until "
            f"{format_deadline(task.deadline, now)}; after that, claim "
            f"(mercato datamarket claim {task.task_id})"
        )
    if now < task.deadline:
        period = "join period" if task.status is TaskStatus.JOINING else f"{task.phase.label} phase"
        return (
            f"the {period} of task {task.task_id} ends at {format_deadline(task.deadline, now)}; "
            "advance after it"
        )
    return None


def claim_problem(task: Task, now: int) -> str | None:
    """Unless the model owner missed the aggregation deadline of the current round."""
    if task.status is not TaskStatus.RUNNING or task.phase is not Phase.AGGREGATE:
        return f"no round of task {task.task_id} waits for aggregation: {task.waiting}"
    if now < task.deadline:
        return (
            f"the model owner may still finalise round {task.round} of task {task.task_id} "
            f"until {format_deadline(task.deadline, now)}; claim after"
        )
    return None


def check_problem(
    task: Task, round_number: int, finalised: bool, failed: Phase | None
) -> str | None:
    """Unless round ``round_number`` was finalised (``failed``: the phase it failed in)."""
    problem = range_problem(round_number, 1, task.rounds, "the round")
    if problem is not None or finalised:
        return problem
    why = f"it failed in its {failed.label} phase" if failed is not None else task.waiting
    return f"round {round_number} of task {task.task_id} was not finalised, nothing to check: {why}"
