"""What P4's parties keep between commands, in the agent state folder (``--state-dir``).

- ``modelmarket-request-<id>.test``: the buyer's hidden test set of request ``<id>``, every
  group with its salt (:meth:`HiddenTestSet.to_bytes`); ``modelmarket post`` writes it,
  ``reveal-sample``, ``seal`` and ``take`` read it, and the ``buyer`` agent follows every
  request whose file it finds;
- ``modelmarket-offer-<id>-<address>.json``: a seller's key and model for request ``<id>``
  (:class:`~mercato.protocols.modelmarket.seller.Offer`), for ``seal`` and ``reveal-key``;
- ``modelmarket-vote-<id>-<address>.json``: the scores an executor committed to, with the
  salt (:class:`~mercato.protocols.modelmarket.executor.Vote`), for ``reveal``.

Each is secret until its time (the salts, the key, the vote): it is written with mode 0600
to a temporary file, then renamed (:func:`mercato.user_files.write_secret`), so nobody else
reads it and nobody reads half of it.
Each command checks what it reads against the chain (the test root, the key hash, the
commitment), so a file of another deployment is refused.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from mercato.errors import ConfigError, InputError
from mercato.protocols.modelmarket.documents import HiddenTestSet
from mercato.protocols.modelmarket.executor import Vote
from mercato.protocols.modelmarket.seller import Offer
from mercato.user_files import secret_folder, write_secret

TEST_FILE = "modelmarket-request-{request_id}.test"
PENDING_FILE = "modelmarket-posting-{root}.test"
OFFER_FILE = "modelmarket-offer-{request_id}-{address}.json"
VOTE_FILE = "modelmarket-vote-{request_id}-{address}.json"
TEST_PATTERN = re.compile(r"modelmarket-request-(\d+)\.test")


def make_folder(folder: Path) -> Path:
    """The state folder, created (0700) if missing; ConfigError if it cannot be."""
    return secret_folder(folder, "state folder")


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from None


# the buyer's test sets -------------------------------------------------------------------
def test_path(folder: Path, request_id: int) -> Path:
    return folder / TEST_FILE.format(request_id=request_id)


def keep_pending_test(folder: Path, test_set: HiddenTestSet) -> Path:
    """Keep a test set before its request is posted (so that no posted request lacks it)."""
    return write_secret(folder / PENDING_FILE.format(root=test_set.root.hex()), test_set.to_bytes())


def settle_test(pending: Path, folder: Path, request_id: int) -> Path:
    """Name a pending test set after the request posted with it; a file of the same name
    from another deployment is kept beside it (``.replaced-<root>``)."""
    path = test_path(folder, request_id)
    previous = read_test_set(folder, request_id)
    if previous is not None:
        path.rename(path.with_name(f"{path.name}.replaced-{previous.root.hex()[:12]}"))
    os.replace(pending, path)
    return path


def read_test_set(folder: Path, request_id: int) -> HiddenTestSet | None:
    """The test set kept for request ``request_id``, or None; ConfigError if unreadable."""
    path = test_path(folder, request_id)
    data = _read(path)
    if data is None:
        return None
    try:
        return HiddenTestSet.from_bytes(data)
    except InputError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def kept_requests(folder: Path) -> list[int]:
    """The requests whose test sets the folder keeps, in id order."""
    if not folder.is_dir():
        return []
    found = (TEST_PATTERN.fullmatch(p.name) for p in folder.iterdir())
    return sorted(int(match.group(1)) for match in found if match)


# the sellers' offers and the executors' votes ------------------------------------------
def offer_path(folder: Path, request_id: int, address: str) -> Path:
    return folder / OFFER_FILE.format(request_id=request_id, address=address.lower())


def keep_offer(folder: Path, address: str, offer: Offer) -> Path:
    path = offer_path(folder, offer.request_id, address)
    return write_secret(path, json.dumps(offer.to_record()).encode())


def read_offer(folder: Path, request_id: int, address: str) -> Offer | None:
    """The offer ``address`` keeps for the request, or None; ConfigError if unreadable."""
    path = offer_path(folder, request_id, address)
    data = _read(path)
    if data is None:
        return None
    try:
        return Offer.from_record(json.loads(data))
    except (ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"{path}: not a model-market offer: {exc}") from None


def vote_path(folder: Path, request_id: int, address: str) -> Path:
    return folder / VOTE_FILE.format(request_id=request_id, address=address.lower())


def keep_vote(folder: Path, request_id: int, address: str, vote: Vote) -> Path:
    path = vote_path(folder, request_id, address)
    return write_secret(path, json.dumps(vote.to_record()).encode())


def read_vote(folder: Path, request_id: int, address: str) -> Vote | None:
    """The vote ``address`` keeps for the request, or None; ConfigError if unreadable."""
    path = vote_path(folder, request_id, address)
    data = _read(path)
    if data is None:
        return None
    try:
        return Vote.from_record(json.loads(data))
    except (ValueError, KeyError, TypeError, AssertionError) as exc:
        raise ConfigError(f"{path}: not a model-market vote: {exc}") from None


def kept_files(folder: Path, kind: str, address: str) -> list[int]:
    """The requests for which ``address`` keeps a file of ``kind`` (``offer``, ``vote``)."""
    pattern = re.compile(rf"modelmarket-{kind}-(\d+)-{address.lower()}\.json")
    if not folder.is_dir():
        return []
    found = (pattern.fullmatch(p.name) for p in folder.iterdir())
    return sorted(int(match.group(1)) for match in found if match)
