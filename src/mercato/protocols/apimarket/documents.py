"""The blobs P5's hashes point to: the API document and the components sealed to vendors.

- :class:`ApiDocument`: what consumers and vendors read before they take part — how the
  components connect (the flow), the hash of each component, the input and output schema,
  where each slot's component was sealed, and the P4 purchase the model comes from. Its blob
  hash goes on chain as the API's ``doc_hash``; the model root beside it is the Merkle root of
  the component hashes, which the document repeats so anyone can check the two agree.
- :func:`seal_components`: component ``j``'s bytes sealed to each vendor holding it (the
  registry's encryption key), so a vendor opens only its own component and nobody else any.

Associated data binds each sealed blob to its API and slot. Light: no chain client.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from mercato.crypto.commit import keccak
from mercato.crypto.merkle import MerkleTree
from mercato.errors import InputError
from mercato.ml.splitting import SplitModel, component_leaf
from mercato.protocols.apimarket.terms import FLOWS, MAX_COMPONENTS, MAX_SLOTS
from mercato.storage.base import BlobStore, blob_hash, hash_bytes, validate_blob_hash
from mercato.storage.envelope import open_envelope, seal

DOCUMENT_SCHEMA = "mercato/apimarket-api/v1"


def purpose(model_root: bytes, what: str) -> bytes:
    """Associated data of a blob sealed for ``what`` of the API with this model root
    (``component of slot 2``); the root, not the API id, since the id comes after sealing."""
    return f"mercato/apimarket/{model_root.hex()}/{what}".encode()


@dataclass(frozen=True)
class Purchase:
    """The P4 sale an API's model comes from: the model market, the request, the submission."""

    market: str
    request_id: int
    index: int


@dataclass(frozen=True)
class ApiDocument:
    """What an API is: its model's parts and how they connect, its schema, its sealed parts."""

    technique: str
    """How the model was split (``layers``, ``features``, ``ensemble``, ``subtrees``)."""
    flow: str
    """How data passes between components (``chain``, ``combine``, ``route``)."""
    component_hashes: tuple[str, ...]
    """Blob hash of each component's bytes, in order: the leaves of the model root."""
    features: int
    output: str
    """What the last component returns (``labels``, ``probabilities``, ``scores``)."""
    sealed: tuple[str, ...] = ()
    """Per slot, the blob of its component sealed to its vendor."""
    subsets: bool = False
    """Whether the orchestrator may answer a call with a random subset of an ensemble's
    members (``combine`` flow only)."""
    classes: tuple[str, ...] = ()
    """Class names in label order, when the output is labels or probabilities."""
    purchase: Purchase | None = None
    orchestrator_url: str = ""
    """Where consumers call the API (the orchestrator's public address, agreed off chain)."""
    description: str = ""
    schema: str = field(default=DOCUMENT_SCHEMA)

    def __post_init__(self) -> None:
        if self.schema != DOCUMENT_SCHEMA:
            raise InputError(f"not an API document (schema {self.schema!r})")
        if self.flow not in FLOWS:
            raise InputError(f"an API's flow is one of {', '.join(FLOWS)}, got {self.flow!r}")
        if not 0 < len(self.component_hashes) <= MAX_COMPONENTS:
            raise InputError(f"an API has 1 to {MAX_COMPONENTS} components")
        if len(self.sealed) > MAX_SLOTS:
            raise InputError(f"an API has at most {MAX_SLOTS} slots")
        for value in (*self.component_hashes, *self.sealed):
            validate_blob_hash(value)
        if isinstance(self.features, bool) or not isinstance(self.features, int):
            raise InputError(f"an API's features must be a whole number, got {self.features!r}")
        if self.features < 1:
            raise InputError("an API takes at least one feature")
        if self.subsets and self.flow != "combine":
            raise InputError("only an ensemble (combine flow) can answer with subsets")
        if self.subsets and self.technique == "features":
            raise InputError("a model split by features needs every group: no subsets")
        texts = (self.technique, self.output, self.description, self.orchestrator_url,
                 *self.classes)  # fmt: skip
        if not all(isinstance(text, str) for text in texts):
            raise InputError("an API's technique, output, classes and description are text")

    @property
    def components(self) -> int:
        return len(self.component_hashes)

    @property
    def model_root(self) -> bytes:
        """The Merkle root of the component hashes (what the contract holds)."""
        leaves = [
            component_leaf(index, hash_bytes(digest))
            for index, digest in enumerate(self.component_hashes)
        ]
        return MerkleTree(leaves).root

    def component_proof(self, index: int) -> list[bytes]:
        """The Merkle proof of component ``index``'s hash under the model root."""
        leaves = [
            component_leaf(position, hash_bytes(digest))
            for position, digest in enumerate(self.component_hashes)
        ]
        return MerkleTree(leaves).proof(index)

    def to_bytes(self) -> bytes:
        """Canonical JSON: the same document always gives the same blob hash."""
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":")).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> ApiDocument:
        try:
            fields = json.loads(data)
        except (ValueError, UnicodeDecodeError) as exc:
            raise InputError(f"API document is not JSON: {exc}") from exc
        if not isinstance(fields, dict):
            raise InputError("API document must be a JSON object")
        try:
            purchase = fields.get("purchase")
            fields["purchase"] = None if purchase is None else Purchase(**purchase)
            for name in ("component_hashes", "sealed", "classes"):
                fields[name] = tuple(fields.get(name, ()))
            return cls(**fields)
        except TypeError as exc:
            raise InputError(f"API document has wrong fields: {exc}") from exc

    @property
    def hash(self) -> bytes:
        """The document's blob hash as 32 bytes (the contract's ``doc_hash``)."""
        return keccak(self.to_bytes())


def document_of(
    model: SplitModel,
    features: int,
    *,
    output: str = "labels",
    subsets: bool = False,
    classes: Sequence[str] = (),
    purchase: Purchase | None = None,
    orchestrator_url: str = "",
    description: str = "",
) -> ApiDocument:
    """The document of ``model`` before its components are sealed to the slots' vendors."""
    return ApiDocument(
        technique=model.technique,
        flow=model.flow,
        component_hashes=tuple("0x" + c.hash.hex() for c in model.components),
        features=features,
        output=output,
        subsets=subsets,
        classes=tuple(classes),
        purchase=purchase,
        orchestrator_url=orchestrator_url,
        description=description,
    )


def seal_components(
    document: ApiDocument,
    model: SplitModel,
    slot_components: Sequence[int],
    vendor_keys: Sequence[bytes],
    store: BlobStore,
) -> ApiDocument:
    """Seal component ``slot_components[v]`` to ``vendor_keys[v]`` for every slot, store the
    blobs and return the document that lists them."""
    if len(slot_components) != len(vendor_keys):
        raise InputError("one vendor key per slot")
    sealed = []
    root = document.model_root
    for slot, (component, key) in enumerate(zip(slot_components, vendor_keys, strict=True)):
        if not 0 <= component < document.components:
            raise InputError(f"slot {slot} names component {component}; the model has "
                             f"{document.components}")  # fmt: skip
        data = model.components[component].to_bytes()
        sealed.append(store.put(seal(data, [key], purpose(root, f"component of slot {slot}"))))
    return ApiDocument(**{**_fields(document), "sealed": tuple(sealed)})


def open_component(
    document: ApiDocument, slot: int, component: int, store: BlobStore, private_key: bytes
) -> bytes:
    """A vendor's component bytes, opened from its sealed blob and checked against the
    document's hash of that component (InputError if either does not hold)."""
    if not 0 <= slot < len(document.sealed):
        raise InputError(f"the API document seals no component for slot {slot}")
    envelope = store.get(document.sealed[slot])
    data = open_envelope(
        envelope, private_key, purpose(document.model_root, f"component of slot {slot}")
    )
    if blob_hash(data) != document.component_hashes[component]:
        raise InputError(
            f"the component sealed to slot {slot} is not component {component} of the model root"
        )
    return data


def _fields(document: ApiDocument) -> Mapping[str, Any]:
    return {name: getattr(document, name) for name in document.__dataclass_fields__}
