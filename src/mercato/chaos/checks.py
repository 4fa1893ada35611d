"""What must hold after a chaos run, read from the chain (and the auditor, where it exists).

- ``ended``: the entry reached a final state of its protocol (no state follows it);
- ``payments``: what the contract credited each party equals what the rules give for the
  final state (the scenario's ``credits``), and the protocol's auditor
  (:data:`mercato.audit.AUDITORS`), if it is installed, passes its public audit;
- ``once``: no participant's one-shot transaction (``adjudicate``, ``deliver``, ...)
  succeeded twice for the same entry: a handler's effect never happened twice. Reverted
  repeats are counted as ``wasted`` (a retried send whose first try had landed) but pass;
- ``money``: the contract's balance equals what it locks plus what it owes every party, and
  it locks nothing at the end.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from eth_abi.abi import decode

from mercato.chaos.scenarios import Scenario
from mercato.protocols.catalog import unit
from mercato.protocols.marketplace import Marketplace


@dataclass(frozen=True)
class CheckResult:
    """One check's verdict and what it saw."""

    name: str
    passed: bool
    detail: str

    def record(self) -> dict[str, Any]:
        return {"name": self.name, "passed": self.passed, "detail": self.detail}


@dataclass(frozen=True)
class Sent:
    """One transaction from a participant to the protocol's contract."""

    sender: str
    function: str
    key: tuple[int, ...]
    """Its leading integer arguments (the entry's id, a category, a round)."""
    ok: bool


def is_final(scenario: Scenario, state: str) -> bool:
    """Whether ``state`` ends an entry of the scenario's protocol (nothing can follow)."""
    return not unit(scenario.protocol).states.get(state, ())


def finished(market: Marketplace, scenario: Scenario, entry: int) -> bool:
    """Final, and every party has withdrawn what it was owed (the agents' last step)."""
    wrapper = market.wrapper(unit(scenario.protocol).field)
    if not is_final(scenario, wrapper.state(entry)):
        return False
    return all(wrapper.owed(party) == 0 for party in wrapper.parties(entry))


def check_ended(market: Marketplace, scenario: Scenario, entry: int) -> CheckResult:
    state = market.wrapper(unit(scenario.protocol).field).state(entry)
    return CheckResult("ended", is_final(scenario, state), f"{scenario.protocol} {entry}: {state}")


def check_credits(credited: Mapping[str, int], expected: Mapping[str, int]) -> CheckResult:
    """Each account was credited exactly what the rules give (none for anyone else)."""
    wrong = [
        f"{account}: credited {credited.get(account, 0)}, the rules give {expected.get(account, 0)}"
        for account in sorted(set(credited) | set(expected))
        if credited.get(account, 0) != expected.get(account, 0)
    ]
    detail = "; ".join(wrong) or f"{len(expected)} parties credited as the rules give"
    return CheckResult("payments", not wrong, detail)


def check_payments(market: Marketplace, scenario: Scenario, entry: int) -> list[CheckResult]:
    """The credits against the rules, then the protocol's auditor if it exists."""
    from mercato.audit import auditor_for

    wrapper = market.wrapper(unit(scenario.protocol).field)
    credited: Counter[str] = Counter()
    for event in wrapper.events("Credited", from_block=market.deployment.block):
        credited[str(event["account"])] += int(event["amount"])
    results = []
    if scenario.credits is not None:
        results.append(check_credits(credited, scenario.credits(market, entry)))
    auditor = auditor_for(scenario.protocol)
    if auditor is None and scenario.credits is None:
        results.append(CheckResult("audit", False, f"no auditor of {scenario.protocol}"))
    elif auditor is not None:
        report = auditor.run(market, entry, None)
        results.append(CheckResult("audit", report.passed, report.summary()))
    return results


def sent_to(market: Marketplace, scenario: Scenario, senders: Sequence[str]) -> list[Sent]:
    """Every transaction ``senders`` sent to the protocol's contract, read block by block."""
    contract = market.wrapper(unit(scenario.protocol).field).contract
    functions = {f.selector: f for f in contract.abi.functions.values()}
    ours = {s.lower() for s in senders}
    address = contract.address.lower()
    chain: Any = market.chain
    found: list[Sent] = []
    for number in range(market.deployment.block, chain.block_number() + 1):
        block = chain.rpc("eth_getBlockByNumber", hex(number), True)
        txs = [
            tx
            for tx in block["transactions"]
            if (tx.get("to") or "").lower() == address and tx["from"].lower() in ours
        ]
        if not txs:
            continue
        receipts = {r["transactionHash"]: r for r in chain.rpc("eth_getBlockReceipts", hex(number))}
        for tx in txs:
            data = bytes.fromhex(tx["input"][2:])
            function = functions.get(data[:4])
            if function is None:
                continue
            args = decode(function.inputs, data[4:])
            key = []
            for kind, value in zip(function.inputs, args, strict=True):
                if not kind.startswith("uint") or "[" in kind:
                    break
                key.append(int(value))
            ok = int(receipts[tx["hash"]]["status"], 16) == 1
            found.append(Sent(tx["from"].lower(), function.name, tuple(key), ok))
    return found


def check_once(sent: Sequence[Sent], one_shot: frozenset[str]) -> CheckResult:
    """No one-shot function succeeded twice for the same sender and key."""
    effects = Counter(
        (s.sender, s.function, s.key) for s in sent if s.function in one_shot and s.ok
    )
    wasted = sum(1 for s in sent if s.function in one_shot and not s.ok)
    twice = [f"{sender[:10]} {fn}{key} x{n}" for (sender, fn, key), n in effects.items() if n > 1]
    detail = (
        "; ".join(twice)
        if twice
        else f"{sum(effects.values())} one-shot effects, each once ({wasted} reverted repeats)"
    )
    return CheckResult("once", not twice, detail)


def check_money(balance: int, locked: int, owed: Mapping[str, int]) -> CheckResult:
    """balance = locked + owed, and nothing locked (the market has ended)."""
    total = sum(owed.values())
    problems = []
    if balance != locked + total:
        problems.append(f"balance {balance} != locked {locked} + owed {total}")
    if locked:
        problems.append(f"{locked} wei still locked")
    detail = "; ".join(problems) or f"balance {balance} = owed {total}, nothing locked"
    return CheckResult("money", not problems, detail)


def check_all(
    market: Marketplace, scenario: Scenario, entry: int, senders: Sequence[str]
) -> list[CheckResult]:
    """Every check of one run, in order."""
    wrapper = market.wrapper(unit(scenario.protocol).field)
    owed = {party: wrapper.owed(party) for party in wrapper.parties(entry)}
    money = check_money(market.chain.balance(wrapper.address), scenario.locked(market, entry), owed)
    return [
        check_ended(market, scenario, entry),
        *check_payments(market, scenario, entry),
        check_once(sent_to(market, scenario, senders), scenario.one_shot),
        money,
    ]
