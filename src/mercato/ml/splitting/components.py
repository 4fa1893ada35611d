"""The shared shapes of a split model: components, how data flows through them, their hashes.

A :class:`Component` is what one vendor holds: a kind (which numpy function runs it), named
arrays and a few settings. Its bytes are a safetensors file whose only metadata entry is the
settings as canonical JSON, so the same component always gives the same bytes and the same
``keccak(bytes)``; :func:`load_component` reads them back without unpickling anything.

A :class:`SplitModel` lists its components in order and names its flow:

- ``chain``: each component's output is the next one's input (blocks of layers);
- ``combine``: every component but the last gets the rows; the last (the combiner) gets
  their outputs joined along the first axis, in order (groups of an ensemble's members);
- ``route``: the first component sends each row to one of the others by index, which answer
  for the rows sent to them (a decision tree's top part and its subtrees).
"""

from __future__ import annotations

import importlib
import json
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from mercato.crypto.commit import keccak
from mercato.crypto.fairswap import plain_leaf
from mercato.crypto.merkle import MerkleTree
from mercato.errors import InputError

Flow = Literal["chain", "combine", "route"]

SETTINGS_KEY = "mercato.component"
"""The one safetensors metadata entry: the component's kind and settings as canonical JSON."""
MAX_HEADER = 100_000_000
"""Largest safetensors header read back, so a damaged length cannot ask for terabytes."""

RUNNERS = {
    "dense": "mercato.ml.splitting.layers",
    "trees": "mercato.ml.splitting.ensemble",
    "vote": "mercato.ml.splitting.ensemble",
    "tree-top": "mercato.ml.splitting.subtrees",
    "subtree": "mercato.ml.splitting.subtrees",
    "partial-scores": "mercato.ml.splitting.linear",
}
"""Which module runs each kind of component (each has ``run_<kind>(component, inputs)``)."""


@dataclass(frozen=True)
class Component:
    """One part of a split model: a kind, named arrays and settings, runnable on numpy rows."""

    index: int
    kind: str
    arrays: Mapping[str, NDArray[Any]]
    settings: Mapping[str, Any] = field(default_factory=dict)

    def to_bytes(self) -> bytes:
        """Serialise deterministically: safetensors with the settings as canonical JSON."""
        from safetensors.numpy import save

        header = {"index": self.index, "kind": self.kind, "settings": dict(self.settings)}
        arrays = {name: np.ascontiguousarray(array) for name, array in self.arrays.items()}
        return save(arrays, metadata={SETTINGS_KEY: _canonical(header)})

    @property
    def hash(self) -> bytes:
        """``keccak`` of the component's bytes."""
        return keccak(self.to_bytes())

    def run(self, inputs: NDArray[Any]) -> NDArray[Any]:
        """Run this component on numpy inputs."""
        module = importlib.import_module(RUNNERS[self.kind])
        runner = getattr(module, "run_" + self.kind.replace("-", "_"))
        try:
            result: NDArray[Any] = runner(self, inputs)
        except (ValueError, IndexError, KeyError, TypeError) as exc:
            shape = getattr(inputs, "shape", "?")
            raise InputError(
                f"component {self.index} ({self.kind}) cannot run on inputs of shape {shape}: {exc}"
            ) from None
        return result


@dataclass(frozen=True)
class SplitModel:
    """A model split into ordered components, and how outputs flow between them."""

    technique: str
    flow: Flow
    components: tuple[Component, ...]

    def predict(self, inputs: NDArray[Any], groups: Sequence[int] | None = None) -> NDArray[Any]:
        """Pass rows through the components as the flow says and return the final output.

        ``groups`` (``combine`` flow only) picks which of the combined components answer, by
        position; by default all do.
        """
        rows = np.asarray(inputs)
        if self.flow == "chain":
            for component in self.components:
                rows = component.run(rows)
            return rows
        if self.flow == "combine":
            members = self.components[:-1]
            chosen = range(len(members)) if groups is None else _check_groups(groups, len(members))
            outputs = [members[position].run(rows) for position in chosen]
            return self.components[-1].run(np.concatenate(outputs))
        top, *parts = self.components
        route = top.run(rows)
        answers = [part.run(rows[route == position]) for position, part in enumerate(parts)]
        result = np.empty(len(rows), dtype=answers[0].dtype)
        for position, answer in enumerate(answers):
            result[route == position] = answer
        return result


def component_hashes(model: SplitModel) -> list[bytes]:
    """Return ``keccak(bytes)`` of each component, in order."""
    return [component.hash for component in model.components]


def component_leaf(index: int, component_hash: bytes) -> bytes:
    """Leaf data of the model's signature tree: ``uint64(index) || keccak(component bytes)``.

    The same layout as a FairSwap plaintext leaf, so a contract checks both alike.
    """
    return plain_leaf(index, component_hash)


def signature_tree(model: SplitModel) -> MerkleTree:
    """Return the Merkle tree over the model's components (leaf ``i``: :func:`component_leaf`)."""
    hashes = component_hashes(model)
    return MerkleTree([component_leaf(index, digest) for index, digest in enumerate(hashes)])


def model_root(model: SplitModel) -> bytes:
    """Return the model signature: the Merkle root of the component hashes."""
    return signature_tree(model).root


def load_component(data: bytes) -> Component:
    """Read a component back from its bytes; only arrays and JSON are parsed."""
    from safetensors import SafetensorError
    from safetensors.numpy import load

    if len(data) < 8:
        raise InputError("not a component: shorter than a safetensors header")
    (length,) = struct.unpack("<Q", data[:8])
    if length > min(MAX_HEADER, len(data) - 8):
        raise InputError("not a component: its safetensors header length is out of range")
    try:
        header = json.loads(data[8 : 8 + length])
        described = json.loads(header["__metadata__"][SETTINGS_KEY])
        arrays = load(data)
        index, kind, settings = described["index"], described["kind"], described["settings"]
    except (SafetensorError, ValueError, KeyError, TypeError) as exc:
        raise InputError(f"not a component: {exc}") from None
    if kind not in RUNNERS or not isinstance(index, int) or not isinstance(settings, dict):
        raise InputError(f"not a component: unknown kind {kind!r} or malformed settings")
    return Component(index=index, kind=kind, arrays=dict(arrays), settings=settings)


def check_parts(parts: int, available: int, what: str) -> None:
    """Refuse a part count below 1 or above the number of things to share out."""
    if isinstance(parts, bool) or not isinstance(parts, int) or parts < 1:
        raise InputError(f"a model splits into at least 1 part, not {parts!r}")
    if parts > available:
        raise InputError(
            f"cannot split {available} {what} into {parts} parts; use at most {available}"
        )


def shares(count: int, parts: int) -> list[range]:
    """Cut ``range(count)`` into ``parts`` contiguous ranges whose sizes differ by at most one."""
    bounds = [count * part // parts for part in range(parts + 1)]
    return [range(bounds[part], bounds[part + 1]) for part in range(parts)]


def numeric_classes(classes: NDArray[Any]) -> NDArray[Any]:
    """Return a model's class labels as an array a safetensors file can hold."""
    labels = np.asarray(classes)
    if labels.dtype.kind not in "biuf":
        raise InputError(f"only numeric class labels split; this model has {labels.dtype} labels")
    return labels


def _check_groups(groups: Sequence[int], count: int) -> list[int]:
    chosen = list(groups)
    if not chosen or any(not 0 <= group < count for group in chosen):
        raise InputError(f"groups must be a non-empty subset of 0..{count - 1}, not {chosen}")
    if len(set(chosen)) != len(chosen):
        raise InputError(f"groups must not repeat: {chosen}")
    return sorted(chosen)


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))
