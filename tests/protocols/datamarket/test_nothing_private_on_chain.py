"""What never goes on chain (DESIGN.md): after a secure and a robust task, no log and no
transaction's calldata holds raw data, an update, a model, a share or a private head."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mercato.ml.trainers.weights import weights_to_bytes
from mercato.protocols.datamarket import data_owner, history, model_owner
from mercato.protocols.datamarket.documents import RevealBlob, SharesBlob
from mercato.protocols.datamarket.market import Mode
from mercato.storage.base import hash_hex

from ..onchain import TappedChain
from .offchain import build_world

WINDOW = 16


def windows(blob: bytes, count: int = 4) -> list[bytes]:
    """A few 16-byte pieces spread over ``blob`` (past any header)."""
    body = blob[16:] if len(blob) > 64 else blob
    step = max(1, (len(body) - WINDOW) // count)
    return [body[i : i + WINDOW] for i in range(0, len(body) - WINDOW + 1, step)][:count]


def test_no_private_asset_reaches_the_chain(tmp_path: Path) -> None:
    # prepare: one secure and one robust task, each run to the end
    chain = TappedChain()
    p3 = build_world(tmp_path, data_owners=5, chain=chain)
    secrets: list[bytes] = []
    for mode, bound in ((Mode.SECURE, 3), (Mode.ROBUST, 1)):
        task_id = p3.post(mode, bound)
        p3.run_round(task_id)
        model_owner.aggregate(p3.market, p3.mo, task_id)
        tuned = model_owner.finish(p3.market, task_id, p3.spec, p3.owner_model, p3.data.mo, 2)
        secrets.append(weights_to_bytes(tuned.private))
        for i in range(5):
            spec = data_owner.load_spec(p3.market, task_id)
            public = data_owner.load_model(p3.market, history.model_before(p3.dm, task_id, 1))
            update = p3.model.local_update(public, p3.data.parts[i], 1, spec.seed_of(1))
            secrets.append(weights_to_bytes(update))
        for kind in ("update", "shares", "reveal"):
            for event in history.posts(p3.dm, task_id, 1, kind).values():
                secrets.append(p3.market.store.get(hash_hex(event[f"{kind}_hash"])))
        for event in history.posts(p3.dm, task_id, 1, "shares").values():
            blob = SharesBlob.from_bytes(p3.market.store.get(hash_hex(event["shares_hash"])))
            secrets.extend(blob.envelopes.values())
        for event in history.posts(p3.dm, task_id, 1, "reveal").values():
            reveal = p3.market.store.get(hash_hex(event["reveal_hash"]))
            secrets.extend(RevealBlob.from_bytes(reveal).shares)
        finalised = history.finalised(p3.dm, task_id)[1]
        for name in ("model_hash", "aggregate_hash"):
            secrets.append(p3.market.store.get(hash_hex(finalised[name])))
    for part in (p3.data.mo, *p3.data.parts):
        secrets.append(np.ascontiguousarray(part.X).tobytes())
    secrets.append(weights_to_bytes(p3.owner_model.private))
    secrets.append(weights_to_bytes(p3.owner_model.public))

    # act: everything the chain holds or ever received
    logs = chain.logs(p3.dm.address)
    on_chain = chain.everything(p3.dm.address)

    # assert
    assert len(logs) > 40 and len(chain.calldata) > 40
    pieces = [w for secret in secrets for w in windows(secret) if any(w)]
    assert len(pieces) > 100
    leaked = [w.hex() for w in pieces if w in on_chain]
    assert not leaked
