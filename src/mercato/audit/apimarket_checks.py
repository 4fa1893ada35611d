"""Audit checks of one P5 API: its registration, its batches, and each claim, challenge,
dispute and slash (checks 1 to 6 of :mod:`mercato.audit.apimarket`).

Every rule is the protocol's own (:mod:`mercato.protocols.apimarket.rules`, the records of
:mod:`~mercato.protocols.apimarket.records`, the document of
:mod:`~mercato.protocols.apimarket.documents`); these functions only read the ledger, ask
the rules and name who broke one.
"""

from __future__ import annotations

from mercato.audit.apimarket_ledger import ApiLedger, same
from mercato.audit.report import CheckBuilder
from mercato.chain.contract import Event
from mercato.errors import InputError, MercatoError
from mercato.protocols.apimarket import rules
from mercato.protocols.apimarket.documents import ApiDocument, open_component
from mercato.protocols.apimarket.endpoints import open_endpoint
from mercato.protocols.apimarket.records import Batch
from mercato.protocols.apimarket.views import (
    ChallengeState,
    ClaimState,
    DisputeState,
    Periods,
)
from mercato.storage.base import hash_hex


# 1. registration -----------------------------------------------------------------------------
def check_registration(ledger: ApiLedger, check: CheckBuilder) -> None:
    """1. Was the API's registration consistent?"""
    _registered_terms(ledger, check)
    document = ledger.document
    if isinstance(document, str):
        check.fail(ledger.against_provider(f"registered {document}"))
    else:
        _document(ledger, check, document)
        _sealed_components(ledger, check, document)
    _purchase(ledger, check, document)
    _joins(ledger, check)


def _registered_terms(ledger: ApiLedger, check: CheckBuilder) -> None:
    api, event = ledger.api, ledger.registered
    logged = {
        "provider": str(event["provider"]),
        "orchestrator": str(event["orchestrator"]),
        "model_root": bytes(event["model_root"]),
        "components": int(event["components"]),
        "shares": tuple(int(s) for s in event["shares"]),
        "price": int(event["price"]),
        "vendor_stake": int(event["vendor_stake"]),
        "orchestrator_stake": int(event["orchestrator_stake"]),
        "challenge_bond": int(event["challenge_bond"]),
        "dispute_bond": int(event["dispute_bond"]),
        "periods": tuple(int(p) for p in event["periods"]),
        "slots": [
            (str(v), int(c))
            for v, c in zip(event["slot_vendors"], event["slot_components"], strict=True)
        ],
    }
    stored = {
        "provider": api.provider,
        "orchestrator": api.orchestrator,
        "model_root": api.model_root,
        "components": api.components,
        "shares": api.shares,
        "price": api.price,
        "vendor_stake": api.vendor_stake,
        "orchestrator_stake": api.orchestrator_stake,
        "challenge_bond": api.challenge_bond,
        "dispute_bond": api.dispute_bond,
        "periods": api.periods.as_tuple(),
        "slots": [(s.vendor, s.component) for s in ledger.slots],
    }
    for name, value in logged.items():
        if value != stored[name]:
            check.fail(
                ledger.against_contract(
                    f"ApiRegistered logged {name} {value!r}; the contract holds {stored[name]!r}"
                )
            )
    slots = logged["slots"]
    assert isinstance(slots, list)
    problems = [
        rules.slots_problem(slots, api.components, api.provider, api.orchestrator),
        rules.shares_problem(list(api.shares), api.components, api.price),
        rules.periods_problem(Periods(*api.periods.as_tuple())),
    ]
    for problem in problems:
        if problem is not None:
            check.fail(
                ledger.against_contract(
                    f"the contract registered terms its rules refuse: {problem}"
                )
            )
    check.ran(
        f"the registered terms ({api.components} component(s), {api.slots} slot(s), price, "
        "shares, stakes, bonds, periods) are the contract's and follow the rules"
    )


def _document(ledger: ApiLedger, check: CheckBuilder, document: ApiDocument) -> None:
    api = ledger.api
    if document.model_root != api.model_root:
        check.fail(
            ledger.against_provider(
                f"the API document's component hashes have the Merkle root "
                f"{hash_hex(document.model_root)}, not the registered model root "
                f"{hash_hex(api.model_root)}"
            )
        )
    if document.components != api.components:
        check.fail(
            ledger.against_provider(
                f"the API document lists {document.components} component(s); the API "
                f"registered {api.components}"
            )
        )
    if len(document.sealed) != api.slots:
        check.fail(
            ledger.against_provider(
                f"the API document seals {len(document.sealed)} component(s) for "
                f"{api.slots} slot(s)"
            )
        )
    missing = [s for s in document.sealed if ledger.blob(bytes.fromhex(s[2:]))[0] is None]
    for sealed in missing:
        check.fail(ledger.against_provider(f"the sealed component {sealed} is not in the store"))
    check.ran(
        "the API document is in the store; its component hashes give the registered model "
        "root (Merkle tree of uint64(j) || hash j) and it seals a component for every slot"
    )


def _sealed_components(ledger: ApiLedger, check: CheckBuilder, document: ApiDocument) -> None:
    slot = ledger.viewer_slot
    if slot is None or ledger.viewer is None:
        check.skip("that each sealed component opens to its slot's component (a vendor's key)")
        return
    component = ledger.slots[slot].component
    try:
        open_component(
            document, slot, component, ledger.market.store, ledger.viewer.encryption_private
        )
    except MercatoError as exc:
        check.fail(
            ledger.against_provider(
                f"the component sealed to slot {slot} does not open to "
                f"component {component} of the model root: {exc}"
            )
        )
    check.ran(
        f"slot {slot}'s sealed component opens, with its vendor's key, to component "
        f"{component} of the model root"
    )


def _purchase(ledger: ApiLedger, check: CheckBuilder, document: ApiDocument | str) -> None:
    shown = ledger.named("PurchaseShown")
    claimed = None if isinstance(document, str) else document.purchase
    if not shown:
        if claimed is not None:
            check.fail(
                ledger.against_provider(
                    f"the API document names P4 request {claimed.request_id} (submission "
                    f"{claimed.index}) but the registration showed no purchase"
                )
            )
        check.ran("no P4 purchase shown at registration")
        return
    event = shown[0]
    where = (str(event["model_market"]), int(event["request_id"]), int(event["index"]))
    if claimed is not None and (claimed.market, claimed.request_id, claimed.index) != where:
        check.fail(
            ledger.against_provider(
                f"the API document names the purchase {claimed.market} request "
                f"{claimed.request_id} submission {claimed.index}; the registration showed "
                f"{where[0]} request {where[1]} submission {where[2]}"
            )
        )
    from mercato.protocols.modelmarket.market import ModelMarket

    try:
        buyer, seller, plain_root, score, paid = ModelMarket(
            ledger.market.chain, where[0]
        ).purchase(where[1], where[2])
    except MercatoError as exc:
        check.undecided(f"the model market {where[0]} cannot be read: {exc}")
        return
    if not same(buyer, ledger.provider) or not paid:
        check.fail(
            ledger.against_contract(
                f"P4 request {where[1]} submission {where[2]}: buyer {buyer}, paid {paid}; the "
                f"registration needs the provider {ledger.provider} and a paid sale"
            )
        )
    if (str(seller), bytes(plain_root), int(score)) != (
        str(event["seller"]),
        bytes(event["plain_root"]),
        int(event["score"]),
    ):
        check.fail(
            ledger.against_contract(
                f"PurchaseShown logged seller {event['seller']} score {event['score']}; the "
                f"model market says seller {seller} score {score}"
            )
        )
    check.note(
        f"the sold model's plain root {hash_hex(bytes(plain_root))} is of its bytes, which only "
        "the provider holds: the audit cannot tie them to the components"
    )
    check.ran(
        f"the model was bought by the provider in P4 request {where[1]} (submission {where[2]}, "
        f"seller {seller}, score {int(score)} ppm) and the sale is paid"
    )


def _joins(ledger: ApiLedger, check: CheckBuilder) -> None:
    for event in ledger.named("Joined"):
        slot = int(event["slot"])
        if not same(str(event["vendor"]), ledger.vendor(slot)) or int(event["component"]) != (
            ledger.slots[slot].component
        ):
            check.fail(
                ledger.against_contract(
                    f"slot {slot} was joined by {event['vendor']}, not its vendor"
                )
            )
    if not ledger.is_orchestrator or ledger.viewer is None:
        check.skip("that every vendor's endpoint opens for the orchestrator (its key)")
        return
    for event in ledger.named("Joined"):
        slot = int(event["slot"])
        blob, problem = ledger.blob(bytes(event["endpoint_hash"]))
        try:
            if blob is None:
                raise InputError(problem)
            open_endpoint(blob, ledger.viewer.encryption_private)
        except MercatoError as exc:
            check.fail(
                ledger.against_vendor(
                    slot, f"slot {slot} joined with an endpoint the orchestrator cannot open: {exc}"
                )
            )
    check.ran("every vendor's endpoint opens, with the orchestrator's key, to a URL")


# 2. batches ----------------------------------------------------------------------------------
def check_batches(ledger: ApiLedger, check: CheckBuilder) -> None:
    """2. Does every batch's records file give the root and counts committed on chain?"""
    committed = ledger.named("BatchCommitted")
    for event in committed:
        epoch = int(event["epoch"])
        batch = ledger.batch(event)
        if isinstance(batch, str):
            check.fail(ledger.against_orchestrator(f"epoch {epoch}: {batch}", epoch))
            continue
        _batch_agrees(ledger, check, event, batch)
    if committed:
        check.ran(
            f"{len(committed)} batch(es): each records file rebuilds the committed Merkle root, "
            "counts (consumers, calls, steps) and counts hash, every step under a slot that "
            "runs its component"
        )
    if ledger.api.start and not ledger.api.status.final:
        last = min(ledger.api.epoch_at(ledger.now), ledger.api.last_epoch + 1)
        due = [e for e in range(last) if ledger.now < ledger.api.due(e)]
        due = [e for e in due if e not in {int(c["epoch"]) for c in committed}]
        if due:
            check.note(f"epoch(s) {', '.join(map(str, due))}: the batch may still come")
    if not committed:
        check.ran("no batch was committed")


def _batch_agrees(ledger: ApiLedger, check: CheckBuilder, event: Event, batch: Batch) -> None:
    epoch = int(event["epoch"])
    counts = (
        [str(c) for c in event["consumers"]],
        [int(c) for c in event["calls"]],
        [int(s) for s in event["steps"]],
    )
    wrong = []
    if (batch.api, batch.epoch) != (ledger.api_id, epoch):
        wrong.append(f"its records are of API {batch.api} epoch {batch.epoch}")
    if batch.root != bytes(event["root"]):
        wrong.append(
            f"its records give the root {hash_hex(batch.root)}, not the committed "
            f"{hash_hex(bytes(event['root']))}"
        )
    if (batch.consumers, batch.calls, batch.steps) != counts:
        wrong.append(
            f"its records count calls {dict(zip(batch.consumers, batch.calls, strict=True))} "
            f"and steps {batch.steps}; the batch committed "
            f"{dict(zip(counts[0], counts[1], strict=True))} and {counts[2]}"
        )
    if batch.counts_hash != bytes(event["counts_hash"]):
        wrong.append("its counts do not hash to the committed counts hash")
    for record in batch.records:
        if ledger.slots[record.slot].component != record.component:
            wrong.append(
                f"call {record.seq} of {record.consumer} ran component "
                f"{record.component} on slot {record.slot}, which runs another"
            )
            break
    for text in wrong:
        check.fail(ledger.against_orchestrator(f"epoch {epoch}'s batch: {text}", epoch))


# 3. claims -----------------------------------------------------------------------------------
def check_claims(ledger: ApiLedger, check: CheckBuilder) -> None:
    """3. Was every vendor's claim settled by the rules, and who caused it?"""
    batches = ledger.by_id("BatchCommitted", "epoch")
    answered = ledger.by_id("ClaimAnswered", "claim_id")
    settled = ledger.by_id("ClaimSettled", "claim_id")
    claims = ledger.named("Claimed")
    for event in claims:
        claim_id, epoch, slot = int(event["claim_id"]), int(event["epoch"]), int(event["slot"])
        consumer, seq = str(event["consumer"]), int(event["seq"])
        what = f"claim {claim_id} (epoch {epoch}, call {seq} of {consumer}, slot {slot})"
        batch_event = batches.get(epoch)
        before = batch_event is not None and _earlier(batch_event, event)
        counted = _calls_of(batch_event, consumer) if before else 0
        rule = rules.claim_state(before, counted, seq)
        state = ClaimState(int(event["state"]))
        if state is not rule:
            check.fail(
                ledger.against_contract(
                    f"{what} was {state.label}; the rules make it {rule.label}", epoch
                )
            )
            continue
        if state is ClaimState.PAID_MISSED:
            check.fail(
                ledger.against_orchestrator(
                    f"{what}: the orchestrator assigned the step (signed) and committed no "
                    f"batch of epoch {epoch} by its due time",
                    epoch,
                )
            )
        elif state is ClaimState.PAID_UNREPORTED:
            check.fail(
                ledger.against_orchestrator(
                    f"{what}: the consumer signed call {seq}, but the batch counts {counted} "
                    "call(s) of it",
                    epoch,
                )
            )
        elif claim_id in settled:
            check.fail(
                ledger.against_orchestrator(
                    f"{what}: the batch counts the call but the orchestrator showed no leaf of the "
                    f"step it assigned to slot {slot} within the response time",
                    epoch,
                )
            )
        elif claim_id in answered:
            _answered_claim(ledger, check, event, answered[claim_id], what)
        else:
            check.undecided(
                f"{what} is open: the orchestrator may answer until "
                f"{int(event['deadline'])}, then anyone settles it"
            )
    check.ran(
        f"{len(claims)} claim(s): each settled as the batch (or its absence) required"
        if claims
        else "no vendor claimed a step: every step was in its batch"
    )


def _earlier(first: Event, second: Event) -> bool:
    """``first`` came before ``second`` on chain."""
    return (first.block_number, first.log_index) < (second.block_number, second.log_index)


def _calls_of(batch_event: Event | None, consumer: str) -> int:
    if batch_event is None:
        return 0
    for who, calls in zip(batch_event["consumers"], batch_event["calls"], strict=True):
        if same(str(who), consumer):
            return int(calls)
    return 0


def _answered_claim(
    ledger: ApiLedger, check: CheckBuilder, claimed: Event, answer: Event, what: str
) -> None:
    epoch, slot = int(claimed["epoch"]), int(claimed["slot"])
    batch_event = ledger.by_id("BatchCommitted", "epoch")[epoch]
    batch = ledger.batch(batch_event)
    if isinstance(batch, str):
        check.undecided(f"{what} was answered, but {batch}")
        return
    index = int(answer["index"])
    record = batch.records[index] if index < len(batch) else None
    shown = record is not None and (
        same(record.consumer, str(claimed["consumer"]))
        and record.seq == int(claimed["seq"])
        and record.component == int(claimed["component"])
        and record.slot == slot
    )
    if not shown:
        check.fail(
            ledger.against_contract(
                f"{what} was answered with leaf {index}, which the records file gives another step",
                epoch,
            )
        )
        return
    check.fail(
        ledger.against_vendor(
            slot,
            f"{what}: the vendor claimed a step its batch already paid it for (leaf {index} "
            "of the records file, inside its slot's range)",
            epoch,
        )
    )


# 4. challenges -------------------------------------------------------------------------------
def check_challenges(ledger: ApiLedger, check: CheckBuilder) -> None:
    """4. Was every consumer's challenge justified, and answered or refunded by the rules?"""
    answered = ledger.by_id("ChallengeAnswered", "challenge_id")
    settled = ledger.by_id("ChallengeSettled", "challenge_id")
    challenges = ledger.named("Challenged")
    for event in challenges:
        challenge_id, epoch = int(event["challenge_id"]), int(event["epoch"])
        consumer, seq = str(event["consumer"]), int(event["seq"])
        what = f"challenge {challenge_id} (epoch {epoch}, call {seq} of {consumer})"
        if challenge_id in answered:
            check.fail(
                ledger.against_consumer(
                    consumer,
                    f"{what}: the orchestrator showed the consumer's own signed request "
                    f"for the call (input {hash_hex(bytes(answered[challenge_id]['input_hash']))})"
                    ": "
                    "it denied a call it made",
                    epoch,
                )
            )
        elif challenge_id in settled:
            check.fail(
                ledger.against_orchestrator(
                    f"{what}: the batch charged the consumer for a call the orchestrator could "
                    "show no signed request of",
                    epoch,
                )
            )
        else:
            check.undecided(
                f"{what} is open: the orchestrator may answer until "
                f"{int(event['deadline'])}, then anyone refunds it"
            )
    state_of = {ChallengeState.ANSWERED: answered, ChallengeState.REFUNDED: settled}
    for state, found in state_of.items():
        for challenge_id in found:
            stored = ledger.market.api_market.challenge_of(challenge_id).state
            if stored is not state:
                check.fail(
                    ledger.against_contract(
                        f"challenge {challenge_id} is {stored.label} after its {state.label} event"
                    )
                )
    check.ran(
        f"{len(challenges)} challenge(s): each answered with the consumer's signed request or "
        "refunded from the orchestrator's stake"
        if challenges
        else "no consumer challenged a call"
    )


# 5. disputes and 6. slashes ------------------------------------------------------------------
def check_disputes(ledger: ApiLedger, check: CheckBuilder) -> None:
    """5. Was every dispute's verdict the rules' (model root, committee majority)?"""
    for dispute_id, disputed in ledger.by_id("Disputed", "dispute_id").items():
        what = (
            f"dispute {dispute_id} (epoch {disputed['epoch']}, call {disputed['seq']} of "
            f"{disputed['consumer']}, slot {disputed['slot']})"
        )
        resolved = ledger.by_id("DisputeResolved", "dispute_id").get(dispute_id)
        if resolved is None:
            check.undecided(
                f"{what} is open: its committee commits and reveals, then anyone resolves it"
            )
            continue
        expected = dispute_rule(ledger, disputed, resolved)
        if isinstance(expected, str):
            check.undecided(f"{what}: {expected}")
            continue
        _verdict(ledger, check, disputed, resolved, expected, what)
    disputes = ledger.named("Disputed")
    check.ran(
        f"{len(disputes)} dispute(s): each verdict recomputed from the model root and the "
        "committee's revealed outputs"
        if disputes
        else "no consumer disputed an output"
    )


def in_model(ledger: ApiLedger, component: int, component_hash: bytes) -> bool | str:
    """Whether ``component_hash`` is component ``component`` under the registered root (by
    the document's hashes, whose root is the registered one), or why it cannot be told."""
    document = ledger.document
    if isinstance(document, str):
        return f"cannot tell if the receipt's component hash is in the model: {document}"
    if document.model_root != ledger.api.model_root or component >= document.components:
        return (
            "cannot tell if the receipt's component hash is in the model: the document's "
            "hashes are not the model root's"
        )
    return bytes.fromhex(document.component_hashes[component][2:]) == component_hash


def out_before(ledger: ApiLedger, event: Event) -> int:
    """The slots slashed by disputes resolved before ``event``."""
    out = 0
    for resolved in ledger.named("DisputeResolved"):
        if _earlier(resolved, event):
            out |= int(resolved["slashed"])
    return out


def dispute_rule(
    ledger: ApiLedger, disputed: Event, resolved: Event, wrong_component: bool | None = None
) -> rules.DisputeSettlement | str:
    """The settlement the rules give a dispute, from its events (or why they cannot);
    ``wrong_component``: whether the receipt's component hash is outside the model, if
    given (else found from the API document)."""
    dispute_id, slot = int(disputed["dispute_id"]), int(disputed["slot"])
    if wrong_component is None:
        inside = in_model(ledger, int(disputed["component"]), bytes(disputed["component_hash"]))
        if isinstance(inside, str):
            return inside
        wrong_component = not inside
    votes = {slot: bytes(disputed["hash_out"])}
    revealed = 0
    for event in ledger.named("OutputRevealed", dispute_id=dispute_id):
        votes[int(event["slot"])] = bytes(event["hash_out"])
        revealed |= 1 << int(event["slot"])
    return rules.dispute_settlement(
        slot=slot,
        members=int(disputed["members"]),
        votes=votes,
        revealed=revealed,
        out=out_before(ledger, resolved),
        bond=int(disputed["bond"]),
        vendor_stake=ledger.api.vendor_stake,
        wrong_component=wrong_component,
    )


def _verdict(
    ledger: ApiLedger,
    check: CheckBuilder,
    disputed: Event,
    resolved: Event,
    rule: rules.DisputeSettlement,
    what: str,
) -> None:
    epoch, slot = int(disputed["epoch"]), int(disputed["slot"])
    consumer = str(disputed["consumer"])
    state = DisputeState(int(resolved["state"]))
    logged = (state, int(resolved["agreed"]), int(resolved["slashed"]))
    if logged != (rule.state, rule.agreed, rule.slashed):
        if state is DisputeState.WRONG_COMPONENT:
            check.fail(
                ledger.against_consumer(
                    consumer,
                    f"{what}: slot {slot}'s vendor was slashed for a component outside "
                    "the model, but its receipt's hash "
                    f"{hash_hex(bytes(disputed['component_hash']))}"
                    f" is component {disputed['component']} of the model root: the consumer gave "
                    "a false Merkle proof",
                    epoch,
                )
            )
        else:
            check.fail(
                ledger.against_contract(
                    f"{what} was {state.label} (agreed {logged[1]:#b}, slashed {logged[2]:#b}); "
                    f"the rules give {rule.state.label} (agreed {rule.agreed:#b}, slashed "
                    f"{rule.slashed:#b})",
                    epoch,
                )
            )
        return
    if state is DisputeState.WRONG_COMPONENT:
        check.fail(
            ledger.against_vendor(
                slot,
                f"{what}: the vendor signed a receipt for component hash "
                f"{hash_hex(bytes(disputed['component_hash']))}, which the model does not have",
                epoch,
            )
        )
    elif state is DisputeState.LIAR:
        check.fail(
            ledger.against_vendor(
                slot,
                f"{what}: the vendor returned {hash_hex(bytes(disputed['hash_out']))}; the "
                f"replicas' majority computed {hash_hex(rule.majority or b'')}",
                epoch,
            )
        )
    elif state is DisputeState.HONEST:
        check.fail(
            ledger.against_consumer(
                consumer,
                f"{what}: the replicas' majority computed the vendor's output "
                f"{hash_hex(bytes(disputed['hash_out']))}: the dispute was unjustified",
                epoch,
            )
        )
    accused = 1 << slot
    for other in range(rule.slashed.bit_length()):
        if rule.slashed >> other & 1 and not accused >> other & 1:
            check.fail(
                ledger.against_vendor(
                    other,
                    f"{what}: replica slot {other} revealed an output against the majority",
                    epoch,
                )
            )


def check_slashes(ledger: ApiLedger, check: CheckBuilder) -> None:
    """6. Was each slash justified by a dispute the rules settle that way?"""
    slashed = 0
    for resolved in ledger.named("DisputeResolved"):
        slashed |= int(resolved["slashed"])
    if slashed != ledger.api.out:
        check.fail(
            ledger.against_contract(
                f"slots out {ledger.api.out:#b}; the disputes slashed {slashed:#b}"
            )
        )
    disputes = ledger.by_id("Disputed", "dispute_id")
    for resolved in ledger.named("DisputeResolved"):
        if not int(resolved["slashed"]):
            continue
        dispute_id = int(resolved["dispute_id"])
        disputed = disputes[dispute_id]
        rule = dispute_rule(ledger, disputed, resolved)
        if isinstance(rule, str):
            check.undecided(f"dispute {dispute_id}'s slash: {rule}")
            continue
        unjust = int(resolved["slashed"]) & ~rule.slashed
        for slot in range(unjust.bit_length()):
            if not unjust >> slot & 1:
                continue
            who = (
                ledger.against_consumer(
                    str(disputed["consumer"]),
                    f"dispute {dispute_id} slashed slot {slot}'s vendor {ledger.vendor(slot)} "
                    "by a false Merkle proof of an honest component hash",
                    int(disputed["epoch"]),
                )
                if DisputeState(int(resolved["state"])) is DisputeState.WRONG_COMPONENT
                else ledger.against_contract(
                    f"dispute {dispute_id} slashed slot {slot}; the rules slash {rule.slashed:#b}",
                    int(disputed["epoch"]),
                )
            )
            check.fail(who)
    count = slashed.bit_count()
    check.ran(
        f"{count} slot(s) slashed, each by a dispute whose verdict the rules give"
        if count
        else "no slot was slashed"
    )
