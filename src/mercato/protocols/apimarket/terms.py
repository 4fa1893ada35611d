"""The terms of one API as the services need them: who holds which component, prices, epochs.

:class:`ApiTerms` is what the chain view of a live API gives the off-chain services (the
vendor, the orchestrator and the consumer's client); they take it as a plain value, so they
run alike against the chain or against terms written by hand in a test.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, cast

from eth_utils.address import is_address, to_checksum_address

from mercato.errors import InputError, ProtocolError

Flow = Literal["chain", "combine", "route"]

FLOWS: tuple[Flow, ...] = ("chain", "combine", "route")
MAX_COMPONENTS = 8
MAX_SLOTS = 16


@dataclass(frozen=True)
class Slot:
    """One vendor's place in an API: the vendor's address and the component it holds."""

    vendor: str
    component: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "vendor", _address(self.vendor, "slot vendor"))


@dataclass(frozen=True)
class ApiTerms:
    """One live API: market, prices, slots, orchestrator, model and epochs.

    ``shares[j]`` is paid per call to the vendor that ran component ``j``; the slots of one
    component are its replicas; epoch ``e`` is ``[epoch_start + e·period, ... + period)``.
    """

    market: str
    api: int
    price: int
    shares: tuple[int, ...]
    slots: tuple[Slot, ...]
    orchestrator: str
    components: int
    flow: Flow
    subsets: bool
    epoch_start: int
    epoch_period: int
    model_root: bytes

    def __post_init__(self) -> None:
        # frozen: normalise once, here (checksummed addresses, tuples)
        object.__setattr__(self, "market", _address(self.market, "market"))
        object.__setattr__(self, "orchestrator", _address(self.orchestrator, "orchestrator"))
        object.__setattr__(self, "shares", tuple(self.shares))
        object.__setattr__(self, "slots", tuple(self.slots))
        problem = terms_problem(self)
        if problem is not None:
            raise InputError(f"API terms: {problem}")

    def epoch_at(self, now: int) -> int:
        """Return the epoch that chain time ``now`` falls in; before the start, refuse."""
        if now < self.epoch_start:
            raise ProtocolError(
                f"API {self.api} starts at {self.epoch_start}, it is only {now}: no epoch yet"
            )
        return (now - self.epoch_start) // self.epoch_period

    def replicas(self, component: int) -> tuple[int, ...]:
        """Return the slot indices that hold ``component``, in slot order."""
        return tuple(index for index, slot in enumerate(self.slots) if slot.component == component)

    def slot_of(self, vendor: str) -> int | None:
        """Return the slot index of ``vendor``, or None if it holds no slot."""
        for index, slot in enumerate(self.slots):
            if slot.vendor.lower() == vendor.lower():
                return index
        return None

    def first_components(self) -> tuple[int, ...]:
        """Return the components that take the consumer's rows themselves."""
        if self.flow == "combine":
            return tuple(range(self.components - 1))
        return (0,)

    def to_json(self) -> dict[str, Any]:
        """Return the terms as a JSON-ready dict (addresses checksummed, hashes hex)."""
        return {
            "market": self.market,
            "api": self.api,
            "price": self.price,
            "shares": list(self.shares),
            "slots": [{"vendor": slot.vendor, "component": slot.component} for slot in self.slots],
            "orchestrator": self.orchestrator,
            "components": self.components,
            "flow": self.flow,
            "subsets": self.subsets,
            "epoch_start": self.epoch_start,
            "epoch_period": self.epoch_period,
            "model_root": "0x" + self.model_root.hex(),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ApiTerms:
        """Read terms written by :meth:`to_json`; a missing or malformed field says which."""
        if not isinstance(data, Mapping):
            raise InputError("API terms must be a JSON object")
        try:
            slots = tuple(
                Slot(
                    vendor=_address(slot["vendor"], "slot vendor"),
                    component=_int(slot, "component"),
                )
                for slot in data["slots"]
            )
            return cls(
                market=_address(data["market"], "market"),
                api=_int(data, "api"),
                price=_int(data, "price"),
                shares=tuple(_int({"share": share}, "share") for share in data["shares"]),
                slots=slots,
                orchestrator=_address(data["orchestrator"], "orchestrator"),
                components=_int(data, "components"),
                flow=cast(Flow, data["flow"]),
                subsets=bool(data["subsets"]),
                epoch_start=_int(data, "epoch_start"),
                epoch_period=_int(data, "epoch_period"),
                model_root=_hash(data["model_root"], "model_root"),
            )
        except KeyError as exc:
            raise InputError(f"API terms: missing field {exc.args[0]!r}") from None
        except TypeError as exc:
            raise InputError(f"API terms: malformed ({exc})") from None


def terms_problem(terms: ApiTerms) -> str | None:
    """Say what is inconsistent in ``terms``, or None when they describe a servable API."""
    if terms.flow not in FLOWS:
        return f"flow must be one of {', '.join(FLOWS)}, not {terms.flow!r}"
    if not 1 <= terms.components <= MAX_COMPONENTS:
        return f"an API has 1 to {MAX_COMPONENTS} components, not {terms.components}"
    if terms.flow != "chain" and terms.components < 2:
        return f"a {terms.flow} flow needs at least 2 components"
    if terms.subsets and terms.flow != "combine":
        return "random subsets of members are only for the combine flow"
    if len(terms.shares) != terms.components:
        return f"{len(terms.shares)} shares for {terms.components} components"
    if any(share < 0 for share in terms.shares) or terms.price < sum(terms.shares):
        return f"price {terms.price} must cover the shares {list(terms.shares)}"
    if not 1 <= len(terms.slots) <= MAX_SLOTS:
        return f"an API has 1 to {MAX_SLOTS} slots, not {len(terms.slots)}"
    vendors = [slot.vendor.lower() for slot in terms.slots]
    if len(set(vendors)) != len(vendors):
        return "a vendor holds at most one slot"
    if terms.orchestrator.lower() in vendors:
        return "the orchestrator cannot be a vendor of its API"
    held = {slot.component for slot in terms.slots}
    if held != set(range(terms.components)):
        last = terms.components - 1
        return f"slots hold components {sorted(held)}; every one of 0..{last} needs one"
    if terms.epoch_period <= 0 or terms.epoch_start < 0:
        start, period = terms.epoch_start, terms.epoch_period
        return f"epochs need a start ≥ 0 and a period > 0, not {start}, {period}"
    if len(terms.model_root) != 32:
        return "the model root is 32 bytes"
    return None


def _int(data: Mapping[str, Any], name: str) -> int:
    value = data[name]
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InputError(f"API terms: {name} must be an integer ≥ 0, not {value!r}")
    return value


def _address(value: Any, name: str) -> str:
    if not isinstance(value, str) or not is_address(value):
        raise InputError(f"API terms: {name} must be an address, not {value!r}")
    return str(to_checksum_address(value))


def _hash(value: Any, name: str) -> bytes:
    try:
        data = bytes.fromhex(value.removeprefix("0x"))
    except (AttributeError, ValueError):
        raise InputError(f"API terms: {name} must be 32 bytes of hex, not {value!r}") from None
    if len(data) != 32:
        raise InputError(f"API terms: {name} must be 32 bytes of hex, not {value!r}")
    return data
