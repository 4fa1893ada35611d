"""P5 handlers for each role's agent: the chain duties of provider, vendor, orchestrator and
consumer of the API market (the calls themselves go over HTTP, not through agents).

Each ``attach_*`` function registers plain handlers on an :class:`~mercato.agents.Agent`.
Every agent keeps the APIs it takes part in moving (:func:`api_deadlines`, kept by
:func:`~mercato.agents.deadlines.keep_deadlines`): it cancels an API nobody completed by its
join deadline, finalizes each batch once its window closed, settles claims and challenges
left unanswered, resolves disputes whose committee is done, and releases an API after its
last window; then it withdraws what it is owed. So no silent party can lock anybody's money.

- a vendor opens the component sealed to it (checked against the model root), starts or
  names its HTTP service, seals the service's URL to the orchestrator (and to itself, so a
  restarted vendor knows where it must serve) and joins with its stake; once a batch is on
  chain it checks that every step it journaled is in the batch under its slot and claims
  each missing one (or every step of an epoch whose batch never came); in a dispute of its
  component it re-runs the step from the input the orchestrator kept, commits to the
  output's hash and reveals it.
- the orchestrator accepts with its stake; after each epoch it commits the epoch's batch from
  its journal (the records file stored first); it answers each claim with the step's leaf
  and each challenge with the consumer's signed request; it stops routing to a slashed slot;
  once an epoch's batch is finalized and nothing of it is open, it rotates the epoch out of
  its journal into an archive journal beside it.
- a consumer deposits once the API is live and sends the disputes its client found.

Every one-shot call (join, accept, deposit, an output's commitment, a batch, a claim) may
land and then lose its receipt to a crash or an outage: the store rolls the handler back and
the event is handled again. So each handler reads the chain first and, if its call landed
already, carries on as if it had just sent it (a retried call would revert and the event be
given up: the party would never follow the API).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mercato.agents.agent import Agent, AgentContext
from mercato.agents.deadlines import Deadlines, keep_deadlines
from mercato.chain.contract import Event
from mercato.crypto.commit import keccak
from mercato.errors import MercatoError
from mercato.protocols.apimarket import history
from mercato.protocols.apimarket.documents import open_component
from mercato.protocols.apimarket.journal import JournalReader
from mercato.protocols.apimarket.market import output_commitment
from mercato.protocols.apimarket.messages import Receipt, array_hash
from mercato.protocols.apimarket.records import Batch
from mercato.protocols.apimarket.serving import document_for, seal_joined_endpoint, terms_for
from mercato.protocols.apimarket.views import Api, ApiStatus, DisputeState
from mercato.storage.base import hash_bytes, hash_hex
from mercato.units import format_ether
from mercato.user_files import write_secret

if TYPE_CHECKING:
    from mercato.protocols.apimarket.market import ApiMarket
    from mercato.protocols.apimarket.orchestrator import Orchestrator
    from mercato.protocols.identity import Identity
    from mercato.protocols.marketplace import Marketplace

logger = logging.getLogger(__name__)

API_KEY = "apimarket-api:"
COMPONENT_KEY = "apimarket-component:"
"""Vendor: ``<api>`` -> its slot and where its opened component is kept."""
OUTPUT_KEY = "apimarket-output:"
"""Vendor: ``<dispute>`` -> the output hash and salt it committed to (kept before sending)."""
CHECKED_KEY = "apimarket-checked:"
"""Vendor: ``<api>:<epoch>`` -> its steps of that epoch were checked against the batch."""
BATCHED_KEY = "apimarket-batched:"
"""Orchestrator: ``<api>:<epoch>`` -> that epoch's batch is on chain."""
CONTEST_KEY = "apimarket-contest:"
"""Consumer: ``<api>:<epoch>:<seq>:<component>`` -> a receipt to dispute (put by its client)."""

StartService = Callable[[int, int, bytes], str]
"""A vendor's service for (API, slot, component bytes): started if need be; its URL."""
Journal = Callable[[int], list[dict[str, Any]]]
"""A vendor's journaled steps of an API (what its service answered)."""


def journaled_steps(folder: Path) -> Journal:
    """The :data:`Journal` of vendor services that journal API ``N`` to
    ``folder/api-N.journal`` (in another thread or process): each call reads only what was
    appended since the last."""
    readers: dict[int, JournalReader] = {}

    def journal(api_id: int) -> list[dict[str, Any]]:
        reader = readers.get(api_id)
        if reader is None:
            reader = readers[api_id] = JournalReader(folder / f"api-{api_id}.journal")
        return [entry for entry in reader.entries() if entry.get("kind") == "step"]

    return journal


def api_deadlines(market: Marketplace, me: Identity) -> Deadlines[Api]:
    """The APIs an agent takes part in, moved on when their time has come."""
    am = market.api_market

    def move(api_id: int, api: Api, now: int) -> bool:
        if api.status is ApiStatus.JOINING:
            if now >= api.join_deadline:
                am.advance(me.account, api_id)
            return True
        if api.open:  # batches, claims, challenges, disputes or calls wait: read which, once
            items = history.open_items(am, api_id, market.deployment.block)
            for epoch in items.batches:
                if now >= api.close(epoch):
                    am.finalize_batch(me.account, api_id, epoch)
            for claim_id in items.claims:
                if now >= am.claim_of(claim_id).deadline:
                    am.settle_claim(me.account, claim_id)
            for challenge_id in items.challenges:
                if now >= am.challenge_of(challenge_id).deadline:
                    am.settle_challenge(me.account, challenge_id)
            for dispute_id in items.disputes:
                dispute = am.dispute_of(dispute_id)
                ends = dispute.reveal_deadline or dispute.commit_deadline + api.response_period
                if dispute.revealed == dispute.members or now >= ends:
                    am.resolve(me.account, dispute_id)
            api = am.api(api_id)
        if now >= api.close(api.last_epoch) and api.open == 0:
            am.release(me.account, api_id)
        return True

    return Deadlines(API_KEY, am.api, move)


def attach_provider(agent: Agent, market: Marketplace, me: Identity) -> None:
    """A provider: follows the APIs it registered until they end (see :func:`api_deadlines`)."""
    am = market.api_market
    deadlines = api_deadlines(market, me)

    @agent.on("ApiRegistered", contract=am.contract)
    def registered(event: Event, ctx: AgentContext) -> None:
        if event["provider"] == me.address:
            deadlines.follow(ctx, int(event["api"]))

    keep_deadlines(agent, me, am, deadlines)


def attach_vendor(
    agent: Agent,
    market: Marketplace,
    me: Identity,
    start_service: StartService,
    journal: Journal,
    folder: Path,
) -> None:
    """A vendor: joins each API that names it in a slot, claims the steps a batch left out
    and re-runs disputed steps of its component in the committee."""
    am = market.api_market
    deadlines = api_deadlines(market, me)

    @agent.on("ApiRegistered", contract=am.contract)
    def join(event: Event, ctx: AgentContext) -> None:
        api_id = int(event["api"])
        vendors = [str(v) for v in event["slot_vendors"]]
        if me.address not in vendors or deadlines.follows(ctx, api_id):
            return
        slot = vendors.index(me.address)
        component = int(event["slot_components"][slot])
        joined = am.slot(api_id, slot).joined
        try:
            document = document_for(market, api_id)
            data = open_component(document, slot, component, market.store, me.encryption_private)
            url = start_service(api_id, slot, data)
            if not joined:
                key = market.registry.encryption_key(str(event["orchestrator"]))
                endpoint = market.store.put(seal_joined_endpoint(url, key, me.encryption_public))
        except MercatoError as exc:
            logger.info("API %d: not joining: %s", api_id, exc)
            return
        path = write_secret(folder / f"api-{api_id}-slot-{slot}.component", data)
        ctx.state.put(f"{COMPONENT_KEY}{api_id}", {"slot": slot, "path": str(path)})
        deadlines.follow(ctx, api_id)
        if joined:  # the join landed before a crash or an outage: serve and follow the API
            logger.info("API %d: joined slot %d already; serving and following it", api_id, slot)
            return
        am.join(me.account, api_id, slot, hash_bytes(endpoint))
        logger.info(
            "API %d: joined slot %d (component %d) with stake %s",
            api_id, slot, component, format_ether(int(event["vendor_stake"])),
        )  # fmt: skip

    @agent.on("Disputed", contract=am.contract)
    def reexecute(event: Event, ctx: AgentContext) -> None:
        api_id, dispute_id = int(event["api"]), int(event["dispute_id"])
        mine = ctx.state.get(f"{COMPONENT_KEY}{api_id}")
        kept = f"{OUTPUT_KEY}{dispute_id}"
        if not isinstance(mine, dict) or kept in ctx.state:
            return
        if not int(event["members"]) >> int(mine["slot"]) & 1:
            return
        from mercato.ml.splitting import load_component

        rows = _disputed_input(market, me, api_id, bytes(event["hash_in"]))
        if rows is None:
            logger.info("API %d: dispute %d: the step's input is not available", api_id, dispute_id)
            return
        output = load_component(Path(str(mine["path"])).read_bytes()).run(rows)
        hash_out, salt = array_hash(output), output_salt(me, dispute_id)
        ctx.state.put(kept, {"hash_out": hash_out.hex(), "salt": salt.hex()})
        if am.dispute_of(dispute_id).committed >> int(mine["slot"]) & 1:
            # committed before a crash or an outage (the same salt: the reveal still opens it)
            logger.info("API %d: dispute %d: output committed already", api_id, dispute_id)
            return
        am.commit_output(
            me.account, dispute_id, output_commitment(dispute_id, me.address, hash_out, salt)
        )
        agrees = "agrees with" if hash_out == bytes(event["hash_out"]) else "contradicts"
        logger.info("API %d: dispute %d: re-ran the step; our output %s the receipt's",
                    api_id, dispute_id, agrees)  # fmt: skip

    def work(ctx: AgentContext) -> None:
        now = market.chain.timestamp()
        for key in ctx.state.keys(OUTPUT_KEY):
            dispute_id = int(key.removeprefix(OUTPUT_KEY))
            dispute = am.dispute_of(dispute_id)
            if dispute.state is not DisputeState.OPEN:
                ctx.state.delete(key)
                continue
            slot = _slot_of(ctx, dispute.api)
            open_to_reveal = dispute.reveal_deadline != 0 or now >= dispute.commit_deadline
            if slot is None or dispute.revealed >> slot & 1 or not open_to_reveal:
                continue
            kept = ctx.state.get(key)
            assert isinstance(kept, dict)
            am.reveal_output(
                me.account, dispute_id, bytes.fromhex(kept["hash_out"]), bytes.fromhex(kept["salt"])
            )
            logger.info("API %d: dispute %d: output revealed", dispute.api, dispute_id)
        for key in ctx.state.keys(COMPONENT_KEY):
            api_id = int(key.removeprefix(COMPONENT_KEY))
            _claim_left_out(market, me, ctx, api_id, journal(api_id), now)

    agent.every_tick(work)
    keep_deadlines(agent, me, am, deadlines)


def attach_orchestrator(
    agent: Agent, market: Marketplace, me: Identity, service: Callable[[int], Orchestrator | None]
) -> None:
    """The orchestrator: accepts the APIs that name it, commits each epoch's batch from its
    service's journal, answers claims and challenges, excludes slashed slots."""
    am = market.api_market
    deadlines = api_deadlines(market, me)

    @agent.on("ApiRegistered", contract=am.contract)
    def accept(event: Event, ctx: AgentContext) -> None:
        api_id = int(event["api"])
        if event["orchestrator"] != me.address or deadlines.follows(ctx, api_id):
            return
        deadlines.follow(ctx, api_id)
        if am.api(api_id).accepted:  # it landed before a crash or an outage: follow the API
            logger.info("API %d: accepted already; following it", api_id)
            return
        am.accept(me.account, api_id)
        logger.info("API %d: accepted to orchestrate (stake %s)", api_id,
                    format_ether(int(event["orchestrator_stake"])))  # fmt: skip

    @agent.on("Claimed", contract=am.contract)
    def answer_claim(event: Event, ctx: AgentContext) -> None:
        api_id, claim_id = int(event["api"]), int(event["claim_id"])
        orchestrator = service(api_id)
        if orchestrator is None or int(event["state"]) != 1:
            return
        batch = _batch(orchestrator, am.api(api_id), int(event["epoch"]))
        consumer, seq = str(event["consumer"]), int(event["seq"])
        try:
            index = (
                None if batch is None else batch.index_of(consumer, seq, int(event["component"]))
            )
        except MercatoError:
            index = None
        if index is None or batch is None or batch.records[index].slot != int(event["slot"]):
            logger.warning("API %d: claim %d names a step our batch does not hold", api_id,
                           claim_id)  # fmt: skip
            return
        record = batch.records[index]
        am.answer_claim(me.account, claim_id, index, record.hash_out, batch.proof(index))
        logger.info("API %d: claim %d answered with the step's leaf %d", api_id, claim_id, index)

    @agent.on("Challenged", contract=am.contract)
    def answer_challenge(event: Event, ctx: AgentContext) -> None:
        api_id, challenge_id = int(event["api"]), int(event["challenge_id"])
        orchestrator = service(api_id)
        if orchestrator is None:
            return
        evidence = orchestrator.evidence(int(event["epoch"]), str(event["consumer"]),
                                         int(event["seq"]))  # fmt: skip
        if evidence is None:
            logger.warning("API %d: challenge %d names a call we never took", api_id, challenge_id)
            return
        from mercato.protocols.apimarket.messages import Request, signature_from_json

        request = Request.from_json(evidence["request"])
        signature = signature_from_json(evidence["request_sig"])
        am.answer_challenge(me.account, challenge_id, request.input_hash, signature)
        logger.info("API %d: challenge %d answered with the consumer's signed request",
                    api_id, challenge_id)  # fmt: skip

    @agent.on("DisputeResolved", contract=am.contract)
    def exclude(event: Event, ctx: AgentContext) -> None:
        orchestrator = service(int(event["api"]))
        slashed = int(event["slashed"])
        if orchestrator is not None:
            for slot in range(slashed.bit_length()):
                if slashed >> slot & 1:
                    orchestrator.exclude(slot)

    def commit(ctx: AgentContext) -> None:
        now = market.chain.timestamp()
        for key in ctx.state.keys(API_KEY):
            api_id = int(key.removeprefix(API_KEY))
            api, orchestrator = am.api(api_id), service(api_id)
            if api.status is not ApiStatus.LIVE or orchestrator is None:
                continue
            for epoch in range(api.epoch_at(now)):
                done = f"{BATCHED_KEY}{api_id}:{epoch}"
                if done in ctx.state or now >= api.due(epoch):
                    continue
                if am.batch(api_id, epoch).committed:  # landed before a crash or an outage
                    orchestrator.mark_committed(epoch)
                    ctx.state.put(done, True)
                    continue
                batch = _batch(orchestrator, api, epoch)
                if batch is not None:
                    records_hash = market.store.put(batch.to_bytes())
                    am.commit_batch(me.account, batch, hash_bytes(records_hash))
                    orchestrator.mark_committed(epoch)
                    logger.info(
                        "API %d: epoch %d committed: %d calls, %d steps", api_id, epoch,
                        sum(batch.calls), len(batch),
                    )  # fmt: skip
                ctx.state.put(done, True)

    def rotate(ctx: AgentContext) -> None:
        for key in ctx.state.keys(API_KEY):
            api_id = int(key.removeprefix(API_KEY))
            orchestrator = service(api_id)
            if orchestrator is not None:
                rotate_finished_epochs(market, api_id, orchestrator)

    agent.every_tick(commit)
    agent.every_tick(rotate)
    keep_deadlines(agent, me, am, deadlines)


def rotate_finished_epochs(market: Marketplace, api_id: int, orchestrator: Orchestrator) -> int:
    """Rotate out of the orchestrator's journal each epoch nobody can ask about any more:
    its batch finalized and no claim, challenge or dispute of it open (none can open once
    its window closed, and finalizing waits for that); how many epochs were rotated."""
    am = market.api_market
    api, now = am.api(api_id), market.chain.timestamp()
    closed = [e for e in orchestrator.held_epochs() if now >= api.close(e)]
    done = [e for e in closed if am.batch(api_id, e).finalized]
    if not done:
        return 0
    items = history.open_items(am, api_id, market.deployment.block)
    asked = {int(event["epoch"]) for found in (items.claims, items.challenges, items.disputes)
             for event in found.values()}  # fmt: skip
    rotated = 0
    for epoch in done:
        if epoch in asked:
            continue
        orchestrator.mark_committed(epoch)
        moved = orchestrator.rotate(epoch)
        logger.info("API %d: epoch %d finished: %d journal entries moved to its archive",
                    api_id, epoch, moved)  # fmt: skip
        rotated += 1
    return rotated


def attach_consumer(agent: Agent, market: Marketplace, me: Identity, deposit: int) -> None:
    """A consumer: deposits ``deposit`` into each API once live, and sends each dispute its
    client put in its state (:func:`contest`)."""
    am = market.api_market
    deadlines = api_deadlines(market, me)

    @agent.on("ApiLive", contract=am.contract)
    def pay_in(event: Event, ctx: AgentContext) -> None:
        api_id = int(event["api"])
        if deadlines.follows(ctx, api_id):
            return
        deadlines.follow(ctx, api_id)
        if am.events("Deposited", api=api_id, consumer=me.address):
            # it landed before a crash or an outage: depositing again would pay in twice
            logger.info("API %d: deposited already; following it", api_id)
            return
        am.deposit(me.account, api_id, deposit)
        logger.info("API %d: deposited %s", api_id, format_ether(deposit))

    def send_disputes(ctx: AgentContext) -> None:
        for key in ctx.state.keys(CONTEST_KEY):
            record = ctx.state.get(key)
            ctx.state.delete(key)
            assert isinstance(record, dict)
            from mercato.protocols.apimarket.messages import signature_from_json

            receipt = Receipt.from_json(record["receipt"])
            proof = [bytes.fromhex(p) for p in record["proof"]]
            dispute_id, _ = am.dispute(
                me.account, receipt, signature_from_json(record["receipt_sig"]), proof
            )
            logger.info(
                "API %d: disputed call %d of epoch %d at component %d (dispute %d)",
                receipt.api, receipt.seq, receipt.epoch, receipt.component, dispute_id,
            )  # fmt: skip

    agent.every_tick(send_disputes)
    keep_deadlines(agent, me, am, deadlines)


def contest(ctx: AgentContext, receipt: Receipt, receipt_sig: str, proof: list[bytes]) -> None:
    """Ask a consumer's agent to dispute ``receipt`` (with its signature, as JSON, and the
    Merkle proof of its component hash)."""
    key = f"{CONTEST_KEY}{receipt.api}:{receipt.epoch}:{receipt.seq}:{receipt.component}"
    ctx.state.put(key, {"receipt": receipt.to_json(), "receipt_sig": receipt_sig,
                        "proof": [p.hex() for p in proof]})  # fmt: skip


def output_salt(me: Identity, dispute_id: int) -> bytes:
    """The salt of ``me``'s output commitment in dispute ``dispute_id``: drawn from its key,
    so a handler run again after a crash commits (or reveals) with the same one."""
    return keccak(bytes(me.account.key) + b"apimarket-output-salt" + dispute_id.to_bytes(32))


# ------------------------------------------------------------------------------------------
def _slot_of(ctx: AgentContext, api_id: int) -> int | None:
    mine = ctx.state.get(f"{COMPONENT_KEY}{api_id}")
    return int(mine["slot"]) if isinstance(mine, dict) else None


def _batch(orchestrator: Orchestrator, api: Api, epoch: int) -> Batch | None:
    records = orchestrator.records_for(epoch)
    return Batch.build(records, api.slots) if records else None


def _disputed_input(market: Marketplace, me: Identity, api_id: int, hash_in: bytes) -> Any:
    from mercato.protocols.apimarket.consumer import ask_input
    from mercato.protocols.apimarket.endpoints import HttpTransport

    document = document_for(market, api_id)
    terms = terms_for(market, api_id, document)
    try:
        return ask_input(HttpTransport(), document.orchestrator_url, terms, hash_in,
                         bytes(me.account.key))  # fmt: skip
    except MercatoError as exc:
        logger.info("API %d: cannot fetch a disputed step's input: %s", api_id, exc)
        return None


def _claim_left_out(
    market: Marketplace,
    me: Identity,
    ctx: AgentContext,
    api_id: int,
    steps: list[dict[str, Any]],
    now: int,
) -> None:
    """Claim each journaled step of an epoch whose batch is on chain without it, or whose
    batch never came by its due time."""
    from mercato.protocols.apimarket.messages import Assignment, Request, signature_from_json

    am = market.api_market
    api = am.api(api_id)
    slot = _slot_of(ctx, api_id)
    if slot is None or api.status is not ApiStatus.LIVE:
        return
    by_epoch: dict[int, list[dict[str, Any]]] = {}
    for entry in steps:
        by_epoch.setdefault(int(entry["assignment"]["epoch"]), []).append(entry)
    for epoch, entries in sorted(by_epoch.items()):
        done = f"{CHECKED_KEY}{api_id}:{epoch}"
        if done in ctx.state or now >= api.close(epoch):
            continue
        event = history.batch_event(am, api_id, epoch)
        if event is None and now < api.due(epoch):
            continue  # the batch may still come
        held = _claimed(am, me, api_id, epoch)  # a claim may have landed before an outage
        if event is not None:
            batch = Batch.from_bytes(market.store.get(hash_hex(bytes(event["records_hash"]))),
                                     api.slots)  # fmt: skip
            held |= {(r.consumer.lower(), r.seq, r.component) for r in batch.records
                     if r.slot == slot}  # fmt: skip
        for entry in entries:
            request = Request.from_json(entry["request"])
            assignment = Assignment.from_json(entry["assignment"])
            if (request.consumer.lower(), request.seq, assignment.component) in held:
                continue
            claim_id, result = am.claim(
                me.account, request, assignment, signature_from_json(entry["request_sig"]),
                signature_from_json(entry["assignment_sig"]), history.counts_of(event),
            )  # fmt: skip
            state = result.event("Claimed")["state"]
            logger.info(
                "API %d: epoch %d's batch left out our step of call %d: claim %d (%s)",
                api_id, epoch, request.seq, claim_id, "paid" if int(state) != 1 else "open",
            )  # fmt: skip
        ctx.state.put(done, True)


def _claimed(am: ApiMarket, me: Identity, api_id: int, epoch: int) -> set[tuple[str, int, int]]:
    """The steps of ``epoch`` that ``me`` claimed already: (consumer, seq, component)."""
    return {
        (str(e["consumer"]).lower(), int(e["seq"]), int(e["component"]))
        for e in am.events("Claimed", api=api_id, vendor=me.address)
        if int(e["epoch"]) == epoch
    }
