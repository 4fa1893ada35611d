"""Typed handles on deployed contracts: ABI encoding, calls, transactions, decoded events.

The backends move raw bytes; this module is the one place that knows the ABI, so the same
handle works on the embedded EVM and on a JSON-RPC node.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import TYPE_CHECKING, Any

from eth_abi.abi import decode, encode
from eth_utils.abi import function_signature_to_4byte_selector
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from mercato.chain.base import Chain, Log, Receipt, TxRequest
from mercato.chain.compile import compile_contract
from mercato.errors import ContractRevert, InputError
from mercato.hashes import Hash

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount


def _abi_type(param: dict[str, Any]) -> str:
    """The canonical type string of an ABI parameter (tuples spelled out)."""
    kind = str(param["type"])
    if kind.startswith("tuple"):
        inner = ",".join(_abi_type(c) for c in param["components"])
        return f"({inner}){kind[len('tuple') :]}"
    return kind


@lru_cache(maxsize=4096)
def _checksum(address: str) -> str:
    return str(to_checksum_address(address))


def _normalise(value: Any, kind: str) -> Any:
    """Checksum addresses, hashes as :class:`Hash`, recurse into tuples and arrays."""
    if kind == "address":
        return _checksum(value)
    if kind == "bytes32":
        return Hash(value)
    if kind.endswith("]"):
        inner = kind[: kind.rindex("[")]
        return [_normalise(v, inner) for v in value]
    if kind.startswith("("):
        parts = _split_tuple(kind[1:-1])
        return tuple(_normalise(v, k) for v, k in zip(value, parts, strict=True))
    return value


def _hash_input(value: Any, kind: str) -> Any:
    """A ``bytes32`` argument given as a blob hash string (``"0x" + 64 hex``) as its bytes."""
    if kind == "bytes32" and isinstance(value, str):
        return Hash(value)
    if kind == "bytes32[]" and isinstance(value, (list, tuple)):
        return [Hash(v) if isinstance(v, str) else v for v in value]
    return value


def _split_tuple(inner: str) -> list[str]:
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(inner):
        depth += ch == "("
        depth -= ch == ")"
        if ch == "," and depth == 0:
            parts.append(inner[start:i])
            start = i + 1
    if inner:
        parts.append(inner[start:])
    return parts


@dataclass(frozen=True)
class Event:
    """A decoded event log."""

    name: str
    args: dict[str, Any]
    address: str
    block_number: int
    tx_hash: str
    log_index: int

    def __getitem__(self, key: str) -> Any:
        return self.args[key]

    def get(self, key: str, default: Any = None) -> Any:
        """The argument ``key``, or ``default`` if this event has no such argument."""
        return self.args.get(key, default)


@dataclass(frozen=True)
class TxResult:
    """A mined transaction; its events are decoded when first read."""

    receipt: Receipt
    contract: Contract

    @cached_property
    def events(self) -> list[Event]:
        """The events the contract emitted in this transaction."""
        return self.contract.decode_logs(self.receipt.logs)

    @property
    def gas_used(self) -> int:
        return self.receipt.gas_used

    def event(self, name: str) -> Event:
        """The first event called ``name`` (raises KeyError if there is none)."""
        for event in self.events:
            if event.name == name:
                return event
        raise KeyError(f"transaction emitted no {name} event")


@dataclass(frozen=True)
class _Function:
    name: str
    selector: bytes
    inputs: list[str]
    outputs: list[str]


@dataclass(frozen=True)
class _EventSpec:
    name: str
    indexed: list[tuple[str, str]]
    data: list[tuple[str, str]]
    order: list[str]


class ABI:
    """Encoder and decoder for one contract's ABI."""

    def __init__(self, abi: list[dict[str, Any]]) -> None:
        self.raw = abi
        self.functions: dict[tuple[str, int], _Function] = {}
        self.constructor: list[str] = []
        self.events: dict[bytes, _EventSpec] = {}
        for item in abi:
            if item["type"] == "function":
                inputs = [_abi_type(p) for p in item["inputs"]]
                signature = f"{item['name']}({','.join(inputs)})"
                self.functions[(item["name"], len(inputs))] = _Function(
                    item["name"],
                    function_signature_to_4byte_selector(signature),
                    inputs,
                    [_abi_type(p) for p in item["outputs"]],
                )
            elif item["type"] == "constructor":
                self.constructor = [_abi_type(p) for p in item["inputs"]]
            elif item["type"] == "event":
                types = [_abi_type(p) for p in item["inputs"]]
                topic = keccak(text=f"{item['name']}({','.join(types)})")
                self.events[topic] = _EventSpec(
                    item["name"],
                    [
                        (p["name"], t)
                        for p, t in zip(item["inputs"], types, strict=True)
                        if p["indexed"]
                    ],
                    [
                        (p["name"], t)
                        for p, t in zip(item["inputs"], types, strict=True)
                        if not p["indexed"]
                    ],
                    [p["name"] for p in item["inputs"]],
                )

    def function(self, name: str, argc: int) -> _Function:
        try:
            return self.functions[(name, argc)]
        except KeyError:
            arities = sorted(n for (f, n) in self.functions if f == name)
            if arities:
                raise InputError(f"{name} takes {arities} arguments, got {argc}") from None
            raise InputError(f"the contract has no function '{name}'") from None

    def encode_call(self, name: str, args: Sequence[Any]) -> bytes:
        fn = self.function(name, len(args))
        values = [_hash_input(a, t) for a, t in zip(args, fn.inputs, strict=True)]
        return fn.selector + encode(fn.inputs, values)

    def decode_output(self, name: str, argc: int, data: bytes) -> Any:
        fn = self.function(name, argc)
        values = [
            _normalise(v, t) for v, t in zip(decode(fn.outputs, data), fn.outputs, strict=True)
        ]
        return values[0] if len(values) == 1 else tuple(values)

    def _event_spec(self, name: str) -> tuple[bytes, _EventSpec]:
        for topic, spec in self.events.items():
            if spec.name == name:
                return topic, spec
        raise InputError(f"the contract has no event '{name}'")

    def indexed_arguments(self, name: str) -> list[str]:
        """Names of event ``name``'s indexed arguments, in order."""
        return [arg for arg, _ in self._event_spec(name)[1].indexed]

    def event_topics(self, name: str, **indexed: Any) -> list[bytes | None]:
        """The ``topics`` filter of event ``name`` whose indexed arguments equal ``indexed``."""
        topic, spec = self._event_spec(name)
        names = [arg for arg, _ in spec.indexed]
        unknown = sorted(set(indexed) - set(names))
        if unknown:
            raise InputError(f"{name} has no indexed argument {unknown[0]!r}; indexed: {names}")
        topics: list[bytes | None] = [topic]
        for arg, kind in spec.indexed:
            topics.append(encode([kind], [indexed[arg]]) if arg in indexed else None)
        while topics[-1] is None:
            topics.pop()
        return topics

    def decode_log(self, log: Log) -> Event | None:
        """Decode ``log`` if this ABI declares its event, else ``None``."""
        if not log.topics or (spec := self.events.get(log.topics[0])) is None:
            return None
        args: dict[str, Any] = {}
        for (name, kind), topic in zip(spec.indexed, log.topics[1:], strict=True):
            args[name] = _normalise(decode([kind], topic)[0], kind)
        data_types = [kind for _, kind in spec.data]
        for (name, kind), value in zip(spec.data, decode(data_types, log.data), strict=True):
            args[name] = _normalise(value, kind)
        ordered = {name: args[name] for name in spec.order}
        return Event(spec.name, ordered, log.address, log.block_number, log.tx_hash, log.log_index)


class Contract:
    """A deployed contract on a chain, called by function name."""

    def __init__(self, chain: Chain, address: str, abi: ABI, name: str = "") -> None:
        self.chain = chain
        self.address = to_checksum_address(address)
        self.abi = abi
        self.name = name

    @classmethod
    def at(cls, chain: Chain, name: str, address: str) -> Contract:
        """Attach to the deployed contract ``name`` (a source in mercato/contracts)."""
        return cls(chain, address, ABI(compile_contract(name).abi), name)

    @classmethod
    def deploy(
        cls, chain: Chain, name: str, *args: Any, sender: LocalAccount, value: int = 0
    ) -> tuple[Contract, Receipt]:
        """Compile (cached) and deploy ``contracts/<name>.vy`` with constructor ``args``."""
        compiled = compile_contract(name)
        abi = ABI(compiled.abi)
        initcode = compiled.bytecode + encode(abi.constructor, list(args))
        receipt = chain.deploy(sender, initcode, value)
        assert receipt.contract_address is not None
        return cls(chain, receipt.contract_address, abi, name), receipt

    def call(self, fn: str, *args: Any, sender: str | None = None) -> Any:
        """Call a view function and return its decoded result."""
        data = self.abi.encode_call(fn, args)
        try:
            output = self.chain.call(self.address, data, sender=sender)
        except ContractRevert as exc:
            raise ContractRevert(exc.reason, function=fn) from None
        return self.abi.decode_output(fn, len(args), output)

    def tx(
        self, fn: str, *args: Any, sender: LocalAccount, value: int = 0, gas: int | None = None
    ) -> TxRequest:
        """A transaction request for ``fn`` (send it with ``chain.send`` or ``send_many``)."""
        return TxRequest(sender, self.address, self.abi.encode_call(fn, args), value, gas)

    def transact(
        self, fn: str, *args: Any, sender: LocalAccount, value: int = 0, gas: int | None = None
    ) -> TxResult:
        """Send a transaction calling ``fn``; raise ContractRevert with the reason on revert."""
        request = self.tx(fn, *args, sender=sender, value=value, gas=gas)
        try:
            receipt = self.chain.send(request)
        except ContractRevert as exc:
            raise ContractRevert(exc.reason, function=fn) from None
        return TxResult(receipt, self)

    def decode_logs(self, logs: Iterable[Log]) -> list[Event]:
        """The events among ``logs`` that this contract emitted."""
        events = []
        for log in logs:
            if log.address.lower() == self.address.lower():
                event = self.abi.decode_log(log)
                if event is not None:
                    events.append(event)
        return events

    def events(
        self,
        from_block: int = 0,
        to_block: int | None = None,
        name: str | None = None,
        **indexed: Any,
    ) -> list[Event]:
        """Decoded events of this contract in a block range; only those called ``name`` whose
        indexed arguments equal ``indexed``, if given (filtered by the node, by topic)."""
        if name is None:
            if indexed:
                raise InputError("filtering by indexed arguments needs the event's name")
            return self.decode_logs(self.chain.get_logs(from_block, to_block, self.address))
        topics = self.abi.event_topics(name, **indexed)
        return self.decode_logs(self.chain.get_logs(from_block, to_block, self.address, topics))
