"""The data owner's steps in P3: check a task, join, and post what each phase asks.

A DO's round secrets (X25519 key pair, self-mask seed) are derived from its long-term
secret, the market, the task and the round (:meth:`SecAggParty.derive`), so every step can be
recomputed after a restart and nothing secret is stored. Each step reads the chain first and
does nothing if the task does not wait for this DO (:func:`act`), so running it twice does not
post twice.

A DO never sees another DO's update: in secure mode it receives only share bundles sealed to
it and publishes only its masked update; in robust mode its update is sealed to the MO.
Before training on a round's model it checks the previous round with
:func:`~mercato.protocols.datamarket.aggregation.check_round` (secure mode: the aggregate
recomputed from the public blobs; both modes: the model is the old one plus the aggregate)
and refuses to go on if the MO finalised a wrong one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mercato.chain.contract import TxResult
from mercato.crypto.secagg import SecAggParty, reveal_share
from mercato.errors import InputError, ProtocolError
from mercato.ml.datasets import Dataset
from mercato.ml.poison import Poisoner
from mercato.ml.trainers.weights import Weights, weights_from_bytes, weights_to_bytes
from mercato.protocols.datamarket import history
from mercato.protocols.datamarket.aggregation import check_round
from mercato.protocols.datamarket.cut import market_cut
from mercato.protocols.datamarket.documents import (
    RevealBlob,
    SharesBlob,
    TaskSpec,
    pack_masked,
    secagg_context,
    shares_context,
    update_context,
)
from mercato.protocols.datamarket.inputs import task_data
from mercato.protocols.datamarket.market import Mode, Phase, Task, TaskStatus
from mercato.protocols.datamarket.rules import (
    choice_problem,
    cut_problem,
    data_problem,
    part_problem,
    recorded_problem,
)
from mercato.protocols.datamarket.state_files import parts_file, read_parts, task_key
from mercato.protocols.datamarket.views import load_spec as load_spec
from mercato.protocols.identity import Identity
from mercato.protocols.marketplace import Marketplace
from mercato.storage.base import hash_bytes, hash_hex
from mercato.storage.envelope import open_envelope, seal


@dataclass(frozen=True)
class Contribution:
    """What a DO brings to a task: its private data (as read: each task aligns and scales
    it, :func:`~mercato.protocols.datamarket.inputs.task_data`) and, in tests and the demo,
    a poisoner."""

    data: Dataset
    poisoner: Poisoner | None = None


def contribution_for(
    market: Marketplace,
    me: Identity,
    task: Task,
    folder: Path,
    dataset: str | None = None,
    part: int | None = None,
    own: Dataset | None = None,
) -> Contribution:
    """The data this DO submits for ``task``: its own file's data ``own``, or part ``part``
    of the task's cut of ``dataset``, else what its parts file in ``folder`` recorded (a
    recorded file is read again and refused if it changed since); InputError if that is no
    data of the task (:mod:`~mercato.protocols.datamarket.rules`)."""
    spec = load_spec(market, task.task_id)
    _refuse(choice_problem(dataset, part, own))
    data = own
    if data is None and (dataset is None or part is None):
        recorded = read_parts(folder, me.address).get(task_key(market, task.task_id))
        _refuse(recorded_problem(task, recorded, parts_file(folder, me.address)))
        assert recorded is not None
        if recorded.data is not None:
            data = recorded.data.load(f"joined task {task.task_id}")
        dataset, part = recorded.dataset, recorded.part
    if data is None:
        assert dataset is not None and part is not None
        _refuse(cut_problem(task.task_id, spec) or part_problem(part, task.data_owners))
        data = market_cut(dataset, task.data_owners, spec.seed).parts[part]
    _refuse(data_problem(task.task_id, spec, data))
    return Contribution(data)


def _refuse(problem: str | None) -> None:
    if problem is not None:
        raise InputError(problem)


def load_model(market: Marketplace, model_hash: bytes) -> Weights:
    """A public model (MCWT) from the blob store."""
    return weights_from_bytes(market.store.get(hash_hex(model_hash)))


def check_task(market: Marketplace, task_id: int, data: Dataset) -> TaskSpec:
    """The task's spec if ``data`` is what it wants and fits its model; InputError if not."""
    spec = load_spec(market, task_id)
    _refuse(data_problem(task_id, spec, data))
    return spec


def party(
    market: Marketplace, me: Identity, task_id: int, round_number: int, index: int
) -> SecAggParty:
    """This DO's secure-aggregation secrets for one round."""
    context = secagg_context(market.data_market.address, task_id, round_number)
    return SecAggParty.derive(index, context, me.secagg_secret)


def join(market: Marketplace, me: Identity, task_id: int, data: Dataset) -> TxResult:
    """Check the task wants ``data``, then join it (:func:`send_join`)."""
    check_task(market, task_id, data)
    return send_join(market, me, market.data_market.task(task_id))


def send_join(market: Marketplace, me: Identity, task: Task) -> TxResult:
    """Join ``task`` as it was read, with round 1's key in secure mode (checks nothing)."""
    dm = market.data_market
    if task.mode is Mode.ROBUST:
        return dm.join(me.account, task.task_id)
    first = party(market, me, task.task_id, 1, 0)  # the keys do not depend on the index
    return dm.join(me.account, task.task_id, first.public_key, first.seed_commitment)


def act(market: Marketplace, me: Identity, task_id: int, contribution: Contribution) -> bool:
    """Post what the task's current phase asks of this DO, if anything; whether it posted."""
    dm = market.data_market
    task = dm.task(task_id)
    index = dm.index_of(task_id, me.address)
    if task.status is not TaskStatus.RUNNING or index is None:
        return False
    if index not in task.waiting_for:
        return False
    post_phase(market, me, task, index, contribution)
    return True


def post_phase(
    market: Marketplace, me: Identity, task: Task, index: int, contribution: Contribution | None
) -> TxResult:
    """Post what the current phase of ``task`` asks of member ``index`` (checks nothing; the
    data, ``contribution``, is read only to submit)."""
    if task.phase is Phase.KEYS:
        mine = party(market, me, task.task_id, task.round, index)
        return market.data_market.post_keys(
            me.account, task.task_id, mine.public_key, mine.seed_commitment
        )
    if task.phase is Phase.SHARES:
        return post_shares(market, me, task, index)
    if task.phase is Phase.REVEAL:
        return reveal(market, me, task, index)
    if task.phase is not Phase.SUBMIT or contribution is None:
        raise ProtocolError(f"task {task.task_id} asks for no post in its {task.phase.label} phase")
    return submit(market, me, task, index, contribution)


def post_shares(market: Marketplace, me: Identity, task: Task, index: int) -> TxResult:
    """Deal Shamir shares of this round's secrets to every DO that posted keys, sealed to
    each holder's registered key (one for this DO too)."""
    dm = market.data_market
    keys = history.round_keys(dm, task.task_id, task.round)
    holders = task.active_members
    peers = {j: keys.public_keys[j] for j in holders if j != index}
    mine = party(market, me, task.task_id, task.round, index)
    bundles = mine.share_secrets(peers, task.threshold)
    envelopes = {}
    for holder, bundle in bundles.items():
        key = market.registry.encryption_key(dm.member(task.task_id, holder))
        context = shares_context(dm.address, task.task_id, task.round, index, holder)
        envelopes[holder] = seal(bundle, [key], context)
    blob = market.store.put(SharesBlob(owner=index, envelopes=envelopes).to_bytes())
    return dm.post_shares(me.account, task.task_id, hash_bytes(blob))


def local_update(
    market: Marketplace, task: Task, spec: TaskSpec, contribution: Contribution
) -> Weights:
    """This round's update of the public model on the DO's data (poisoned, if told to)."""
    last = _last_finalised(market, task)
    if last:
        check_round(market, task.task_id, last)  # never train on a wrongly aggregated model
    model = spec.build_model()
    public = load_model(market, history.model_before(market.data_market, task.task_id, task.round))
    seed = spec.seed_of(task.round)
    data = task_data(spec, contribution.data)  # the task's columns, labels and scaling
    if contribution.poisoner is not None:
        return contribution.poisoner.update(model, public, data, spec.local_epochs, seed)
    return model.local_update(public, data, spec.local_epochs, seed)


def submit(
    market: Marketplace, me: Identity, task: Task, index: int, contribution: Contribution
) -> TxResult:
    """Train, then submit the update: masked (secure) or sealed to the MO (robust)."""
    dm = market.data_market
    spec = load_spec(market, task.task_id)
    update = local_update(market, task, spec, contribution)
    if task.mode is Mode.SECURE:
        keys = history.round_keys(dm, task.task_id, task.round)
        peers = {j: keys.public_keys[j] for j in task.active_members if j != index}
        masked = party(market, me, task.task_id, task.round, index).mask(update, peers)
        blob = market.store.put(pack_masked(masked))
    else:
        recipients = [market.registry.encryption_key(task.mo), me.encryption_public]
        context = update_context(dm.address, task.task_id, task.round, index)
        blob = market.store.put(seal(weights_to_bytes(update), recipients, context))
    return dm.submit(me.account, task.task_id, hash_bytes(blob))


def reveal(market: Marketplace, me: Identity, task: Task, index: int) -> TxResult:
    """Reveal, for each DO that dealt shares this round, the seed share if it submitted and
    the key share if it dropped: never both, so no update is ever unmasked alone."""
    dm = market.data_market
    submitted = set(task.active_members)
    shares = []
    for owner, event in sorted(history.posts(dm, task.task_id, task.round, "shares").items()):
        blob = SharesBlob.from_bytes(market.store.get(hash_hex(event["shares_hash"])))
        envelope = blob.envelopes.get(index)
        if envelope is None:
            raise ProtocolError(
                f"task {task.task_id} round {task.round}: DO {owner} dealt no share to DO {index}"
            )
        context = shares_context(dm.address, task.task_id, task.round, owner, index)
        bundle = open_envelope(envelope, me.encryption_private, context)
        shares.append(reveal_share(bundle, owner_survived=owner in submitted))
    blob_id = market.store.put(RevealBlob(holder=index, shares=tuple(shares)).to_bytes())
    return dm.reveal(me.account, task.task_id, hash_bytes(blob_id))


def _last_finalised(market: Marketplace, task: Task) -> int:
    done = [r for r in history.finalised(market.data_market, task.task_id) if r < task.round]
    return max(done) if done else 0


def joined_tasks(market: Marketplace, me: Identity) -> tuple[int, ...]:
    """Ids of the tasks this DO joined."""
    events = market.data_market.contract.events(0, None, "Joined", data_owner=me.address)
    return tuple(sorted({int(e["task_id"]) for e in events}))
