"""The rpc backend: any Ethereum JSON-RPC node (anvil locally; geth, Besu, reth, an L2 remotely).

JSON-RPC is a POST of a small JSON document, so this backend speaks it directly over one
``requests`` session, single requests and batches: a command that only reads the chain loads
neither web3 nor eth-account (about a second to import). Transactions are signed locally
(:mod:`mercato.chain.signing`) and sent raw, so the node needs no unlocked accounts. Nonces
come from a per-sender cache seeded from the node's pending count, which lets many
transactions be in flight at once. Fees are read from the node once (again only if the node
refuses them); a node whose gas price is zero is sent zero fees.

Differences from the embedded backend that callers may notice:

- ``estimate_gas`` returns the node's estimate (the smallest gas limit that succeeds), which can
  exceed the gas the transaction then uses (refunds, the 63/64 rule).
- ``send_many`` sends in JSON-RPC batches and waits for no receipt in between; a transaction
  without a gas limit is estimated on the pending state, after the earlier ones were sent.
  When one reverts, the later ones were already sent and are mined anyway: every receipt is
  collected, then the first failure is raised.
- ``Log.log_index`` is the position in the block (the node's numbering); the embedded chain
  mines one transaction per block, so the two agree whenever blocks hold one transaction.
- ``time_travel`` mines an empty block to make the new time visible.

``send_wave`` (this backend only) is for a development node that mines on request (anvil
``--no-mining``): a whole wave of signed transactions, one ``evm_mine``, receipts in batches.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import requests
from eth_utils.address import to_checksum_address

from mercato.chain.accounts import dev_accounts
from mercato.chain.base import Log, LogFilter, LogReader, Receipt, TxRequest
from mercato.chain.factory import check_rpc_url
from mercato.chain.revert import decode_revert
from mercato.chain.signing import sign_dynamic_fee
from mercato.errors import (
    ChainError,
    ConfigError,
    ContractRevert,
    InputError,
    MercatoError,
    NodeUnreachable,
    RaceLost,
)

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

RPC_TIMEOUT_S = 30.0
"""How long one HTTP request to the node may take."""
RECEIPT_TIMEOUT_S = 120.0
"""How long to wait for a sent transaction to be mined."""
RECEIPT_POLL_FIRST_S = 0.0005
RECEIPT_POLL_MAX_S = 0.25
BATCH_SIZE = 200
"""Requests per JSON-RPC batch (geth accepts up to 1,000)."""
WAVE_BLOCK_SIZE = 100
"""send_wave's transactions per mined block: anvil reads a receipt in time that grows with
its block (0.12 ms at 100 transactions, 0.3 ms at 400, 1.2 ms at 800, measured here)."""
MAX_IN_FLIGHT = 1_000
"""send_many waits for receipts once this many of its transactions are unmined: anvil
under automine stalls and bloats on bursts of thousands."""
GAS_MARGIN_PERCENT = 20
"""Added to the node's gas estimate, so a state change between estimate and mining is absorbed."""
DEFAULT_PRIORITY_FEE_WEI = 10**9
BASE_FEE_HEADROOM = 2
"""maxFeePerGas = 2 x base fee + tip: stays valid while the base fee doubles (six full blocks)."""
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
DEV_BALANCE_WEI = 10_000 * 10**18
"""What a development account holds when first handed out (as anvil and the embedded chain)."""
CALLS = frozenset({"eth_call", "eth_estimateGas"})
"""Methods whose errors may be a contract's revert."""


def _revert_reason(data: Any, message: str = "") -> str:
    """The revert reason in a node's error ``data`` (hex string, dict or nothing) or message."""
    if isinstance(data, dict):  # some nodes nest it: {"message": ..., "data": "0x..."}
        return _revert_reason(data.get("data"), str(data.get("message") or message))
    if isinstance(data, str):
        hex_part = data.removeprefix("Reverted ")  # some nodes prefix the payload
        if hex_part.startswith("0x"):
            try:
                payload = bytes.fromhex(hex_part[2:])
            except ValueError:
                payload = b""
            if payload:
                return decode_revert(payload)
    prefix = "execution reverted: "
    return message[len(prefix) :] if message.startswith(prefix) else ""


def _root_cause(exc: BaseException) -> str:
    """The innermost reason under requests' and urllib3's wrappers ("Connection refused")."""
    seen: list[BaseException] = []
    current: object = exc
    while isinstance(current, BaseException) and current not in seen:
        seen.append(current)
        nested = current.args[0] if current.args else None
        current = current.__cause__ or getattr(current, "reason", None) or nested
    innermost = seen[-1]
    if isinstance(innermost, OSError) and innermost.strerror:
        return innermost.strerror
    return str(innermost)


def _is_revert(error: dict[str, Any]) -> bool:
    """Whether a node's error to a call is the contract reverting (not out of gas, no funds).

    Code 3 and "execution reverted" are geth's and anvil's; a hex ``data`` payload is a
    revert's return data (a custom error, a panic) on nodes that say nothing else.
    """
    data = error.get("data")
    return (
        error.get("code") == 3
        or "revert" in str(error.get("message", "")).lower()
        or (isinstance(data, str) and data.startswith("0x") and len(data) > 2)
    )


def _hex(data: bytes) -> str:
    return "0x" + bytes(data).hex()


def _what(tx: TxRequest) -> str:
    """How a revert names the failed step (as the embedded chain does)."""
    return "deploy" if tx.to is None else "transaction"


@lru_cache(maxsize=4096)
def _checksum(address: str) -> str:
    """``to_checksum_address``, remembered: a wave's logs and calls name a few contracts."""
    return str(to_checksum_address(address))


def _log(raw: dict[str, Any]) -> Log:
    return Log(
        address=_checksum(raw["address"]),
        topics=tuple(bytes.fromhex(topic[2:]) for topic in raw["topics"]),
        data=bytes.fromhex(raw["data"][2:]),
        block_number=int(raw["blockNumber"], 16),
        tx_hash=raw["transactionHash"],
        log_index=int(raw["logIndex"], 16),
    )


@dataclass(frozen=True)
class _Signed:
    """A transaction signed and ready to send."""

    tx: TxRequest
    raw: str
    hash: str
    gas: int


class RpcChain(LogReader):
    """A chain behind a JSON-RPC endpoint, with locally signed transactions."""

    backend = "rpc"

    def __init__(self, url: str, chain_id: int | None = None) -> None:
        self.url = check_rpc_url(url)
        self._session = requests.Session()
        self._session.headers["Content-Type"] = "application/json"
        if urlsplit(url).hostname in LOOPBACK_HOSTS:
            self._session.trust_env = False  # a proxy from the environment must not catch these
        self._ids = itertools.count(1)  # JSON-RPC request ids; next() is atomic under the GIL
        self._nonces: dict[str, int] = {}
        self._nonce_lock = threading.Lock()
        self._fees: dict[str, int] | None = None
        self._block_gas_limit = 0
        self._funded: set[str] = set()
        node_chain_id = int(self.rpc("eth_chainId"), 16)
        if chain_id is not None and chain_id != node_chain_id:
            raise ConfigError(
                f"the node at {url} serves chain id {node_chain_id}, not {chain_id}: "
                "check the RPC URL or the configured chain id"
            )
        self.chain_id = node_chain_id

    # raw access -------------------------------------------------------------------------
    def rpc(self, method: str, *params: Any) -> Any:
        """Call any JSON-RPC ``method`` (node-specific ones too) and return its result."""
        return self._request(method, list(params))

    def _request(self, method: str, params: list[Any], what: str = "") -> Any:
        """One request; ``what`` names the step in a ContractRevert ("call", "deploy"...)."""
        response = self._post(method, self._message(method, params))
        if not isinstance(response, dict) or not ("result" in response or "error" in response):
            raise ChainError(f"{method}: the node at {self.url} sent no JSON-RPC response")
        if "error" in response:
            raise self._error(method, response["error"], what)
        return response["result"]

    def _batch(self, calls: Sequence[tuple[str, list[Any]]]) -> list[dict[str, Any]]:
        """Send several requests in one HTTP round trip; responses in request order."""
        messages = [self._message(method, params) for method, params in calls]
        responses = self._post(calls[0][0], messages)
        if not isinstance(responses, list):  # the node rejected the batch as a whole
            error = responses.get("error") if isinstance(responses, dict) else None
            raise self._error("batch", error or responses)
        by_id = {r.get("id"): r for r in responses if isinstance(r, dict)}
        if any(m["id"] not in by_id for m in messages):
            raise ChainError(
                f"the node at {self.url} answered a batch of {len(messages)} requests "
                "without a response to each"
            )
        return [by_id[m["id"]] for m in messages]  # nodes may answer in any order

    def _message(self, method: str, params: list[Any]) -> dict[str, Any]:
        return {"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": params}

    def _post(self, method: str, payload: dict[str, Any] | list[dict[str, Any]]) -> Any:
        """POST ``payload`` and return the decoded answer: the single place where transport
        errors enter Mercato (node errors inside an answer go through :meth:`_error`)."""
        try:
            response = self._session.post(self.url, data=json.dumps(payload), timeout=RPC_TIMEOUT_S)
            response.raise_for_status()
            return response.json()
        except requests.Timeout as exc:
            raise NodeUnreachable(
                f"the node at {self.url} did not answer {method} within {RPC_TIMEOUT_S} s"
            ) from exc
        except requests.ConnectionError as exc:
            raise NodeUnreachable(
                f"cannot reach the node at {self.url}: {_root_cause(exc)}. "
                "Is the node running, and is the URL (--rpc-url, MERCATO_RPC_URL or "
                "ETH_RPC_URL) right?"
            ) from exc
        except (requests.RequestException, ValueError) as exc:  # HTTP error status, not JSON
            raise ChainError(f"{method} failed talking to {self.url}: {exc}") from exc

    def _error(self, method: str, error: Any, what: str = "") -> ChainError:
        """The node's JSON-RPC ``error`` as ours: a ContractRevert with its reason if a call
        reverted, else a ChainError naming the method and the node."""
        error = error if isinstance(error, dict) else {"message": str(error)}
        message = str(error.get("message", error))
        if method in CALLS and _is_revert(error):
            return ContractRevert(_revert_reason(error.get("data"), message), function=what)
        return ChainError(f"{method} failed on the node at {self.url}: {message}")

    # accounts ---------------------------------------------------------------------------
    def dev_accounts(self, count: int) -> list[LocalAccount]:
        accounts = dev_accounts(count)
        new = [a.address for a in accounts if a.address not in self._funded]
        if new:
            balances = self._batch([("eth_getBalance", [a, "latest"]) for a in new])
            for address, response in zip(new, balances, strict=True):
                # anvil funds its first accounts itself; fund others on first use, as the
                # embedded chain does (a node without anvil_setBalance leaves them as they are)
                if int(response.get("result") or "0x0", 16) == 0:
                    with suppress(ChainError):
                        self.set_balance(address, DEV_BALANCE_WEI)
                self._funded.add(address)
        return accounts

    def balance(self, address: str) -> int:
        return int(self.rpc("eth_getBalance", to_checksum_address(address), "latest"), 16)

    def set_balance(self, address: str, wei: int) -> None:
        self.rpc("anvil_setBalance", to_checksum_address(address), hex(wei))

    # transactions -----------------------------------------------------------------------
    def deploy(self, sender: LocalAccount, initcode: bytes, value: int = 0) -> Receipt:
        return self.send(TxRequest(sender, None, initcode, value))

    def send(self, tx: TxRequest) -> Receipt:
        signed = self._sign(tx)
        try:
            self.rpc("eth_sendRawTransaction", signed.raw)
        except ChainError as exc:
            self._forget_nonce(tx.sender.address)
            reason = str(exc).lower()
            if "nonce too low" in reason:
                pass  # another process sent for this account: re-read its nonce and sign again
            elif any(word in reason for word in ("fee", "underpriced")):
                self._fees = None  # the base fee outgrew the fees read at start: read them again
            else:
                raise
            signed = self._sign(tx)
            try:
                self.rpc("eth_sendRawTransaction", signed.raw)
            except ChainError:
                self._forget_nonce(tx.sender.address)
                raise
        return self._receipt(self._wait([signed.hash])[0], signed)

    def send_many(self, txs: Sequence[TxRequest]) -> list[Receipt]:
        sent: list[_Signed] = []  # accepted by the node, in order
        mined: list[dict[str, Any]] = []  # raw receipts of sent[: len(mined)]
        queued: list[_Signed] = []
        send_failure: MercatoError | None = None
        try:
            for tx in txs:
                # an estimate must see the earlier transactions of the batch: send them first
                if queued and (tx.gas is None or len(queued) >= BATCH_SIZE):
                    self._flush(queued, sent)
                    if len(sent) - len(mined) >= MAX_IN_FLIGHT:  # pace the node
                        mined += self._wait([s.hash for s in sent[len(mined) :]])
                queued.append(self._sign(tx, block="pending"))
            self._flush(queued, sent)
        except MercatoError as exc:  # settle what was sent before reporting, as embedded does
            send_failure = exc
            for signed in queued:  # signed but never sent: hand their nonces back
                self._forget_nonce(signed.tx.sender.address)
        mined += self._wait([s.hash for s in sent[len(mined) :]])
        return self._settle(sent, mined, send_failure)

    def send_wave(self, txs: Sequence[TxRequest]) -> list[Receipt]:
        """Send ``txs`` together, mine them with ``evm_mine`` and return receipts in order.

        For a development node that mines on request (anvil ``--no-mining``), where it
        sustains thousands of transactions per second. The wave goes out in blocks of
        :data:`WAVE_BLOCK_SIZE`: each is signed locally, sent in one JSON-RPC batch, mined
        with ``evm_mine`` and its receipts read in one batch, while the next is being signed
        (signing is client work, the rest is the node's, so the two overlap). Small blocks
        matter: anvil's cost per receipt grows with the size of its block. Every transaction
        needs an explicit gas limit (an estimate would see none of the wave); one that must
        run in a later block than another goes in a later wave. As with ``send_many``, every
        sent transaction is mined and its receipt read before the first failure is raised.
        On a node that mines by itself the extra ``evm_mine`` adds empty blocks.
        """
        if any(tx.gas is None for tx in txs):
            raise InputError("send_wave needs an explicit gas limit on every transaction")
        if not txs:
            return []
        self._fee_fields()  # read from the node here: the signing thread makes no request
        self._load_nonces([tx.sender.address for tx in txs])
        sent: list[_Signed] = []
        mined: list[dict[str, Any]] = []
        send_failure: MercatoError | None = None
        with ThreadPoolExecutor(max_workers=1) as node:
            in_flight: Future[tuple[list[dict[str, Any]], MercatoError | None]] | None = None
            for start in range(0, len(txs), WAVE_BLOCK_SIZE):
                signed = [self._sign(tx) for tx in txs[start : start + WAVE_BLOCK_SIZE]]
                if in_flight is not None:
                    receipts, send_failure = in_flight.result()
                    mined += receipts
                    if send_failure is not None:  # stop: these were signed, never sent
                        for unsent in signed:
                            self._forget_nonce(unsent.tx.sender.address)
                        in_flight = None
                        break
                in_flight = node.submit(self._send_block, signed, sent)
            if in_flight is not None:
                receipts, send_failure = in_flight.result()
                mined += receipts
        return self._settle(sent, mined, send_failure)

    def _settle(
        self,
        sent: Sequence[_Signed],
        mined: Sequence[dict[str, Any]],
        send_failure: MercatoError | None,
    ) -> list[Receipt]:
        """Receipts of every mined transaction, in order; then raise the first failure (a
        reverted transaction comes before the send failure that followed it)."""
        receipts: list[Receipt] = []
        receipt_failure: MercatoError | None = None
        for signed, raw in zip(sent, mined, strict=True):
            try:
                receipts.append(self._receipt(raw, signed))
            except ChainError as exc:
                receipt_failure = receipt_failure or exc
        failure = receipt_failure or send_failure  # the one that comes first in order
        if failure is not None:
            raise failure
        return receipts

    def _send_block(
        self, signed: list[_Signed], sent: list[_Signed]
    ) -> tuple[list[dict[str, Any]], MercatoError | None]:
        """Send ``signed`` in one batch and mine what the node accepted: (raw receipts, why
        some were refused)."""
        first = len(sent)
        failure: MercatoError | None = None
        try:
            self._flush(list(signed), sent)
        except MercatoError as exc:
            failure = exc
        return self._mine([s.hash for s in sent[first:]]), failure

    def _load_nonces(self, addresses: Sequence[str]) -> None:
        """Read the pending nonces of the senders not cached yet, in batches."""
        with self._nonce_lock:
            unknown = [a for a in dict.fromkeys(addresses) if a not in self._nonces]
        for start in range(0, len(unknown), BATCH_SIZE):
            chunk = unknown[start : start + BATCH_SIZE]
            responses = self._batch([("eth_getTransactionCount", [a, "pending"]) for a in chunk])
            with self._nonce_lock:
                for address, response in zip(chunk, responses, strict=True):
                    if "error" in response:
                        raise self._error("eth_getTransactionCount", response["error"])
                    self._nonces.setdefault(address, int(response["result"], 16))

    def _mine(self, hashes: Sequence[str]) -> list[dict[str, Any]]:
        """Mine blocks until ``hashes`` are all mined; their raw receipts, in order."""
        found: dict[str, dict[str, Any]] = {}
        missing = list(dict.fromkeys(hashes))
        while missing:
            self.rpc("evm_mine")
            before = len(found)
            found.update(self._poll(missing))
            missing = [h for h in missing if h not in found]
            if missing and len(found) == before:  # a block took none of them: wait, then fail
                found.update(zip(missing, self._wait(missing), strict=True))
                break
        return [found[h] for h in hashes]

    def _flush(self, queued: list[_Signed], sent: list[_Signed]) -> None:
        """Send ``queued`` in one batch, move the accepted ones to ``sent``."""
        if not queued:
            return
        responses = self._batch([("eth_sendRawTransaction", [s.raw]) for s in queued])
        refused: dict[str, ChainError] = {}
        for signed, response in zip(queued, responses, strict=True):
            sender = signed.tx.sender.address
            if "error" in response:
                refused.setdefault(sender, self._error("eth_sendRawTransaction", response["error"]))
                self._forget_nonce(sender)
            elif sender not in refused:
                sent.append(signed)
            # else: accepted behind a refused nonce, it stays queued in the node; not waited on
        queued.clear()
        if refused:
            first = next(iter(refused.values()))
            raise ChainError(f"the node refused transactions of {len(refused)} sender(s): {first}")

    def call(self, to: str, data: bytes, sender: str | None = None, value: int = 0) -> bytes:
        request = {"to": _checksum(to), "data": _hex(data), "value": hex(value)}
        if sender is not None:
            request["from"] = _checksum(sender)
        return bytes.fromhex(self._request("eth_call", [request, "latest"], "call")[2:])

    def estimate_gas(self, tx: TxRequest) -> int:
        return self._estimate(tx, "latest")

    def _estimate(self, tx: TxRequest, block: str) -> int:
        request = {"from": tx.sender.address, "data": _hex(tx.data), "value": hex(tx.value)}
        if tx.to is not None:
            request["to"] = _checksum(tx.to)
        return int(self._request("eth_estimateGas", [request, block], _what(tx)), 16)

    # reading ----------------------------------------------------------------------------
    def select_logs(self, where: LogFilter) -> list[Log]:
        latest = self.block_number()
        last = latest if where.to_block is None else min(where.to_block, latest)
        # nodes refuse ranges past the head, where the embedded chain has no logs
        if where.from_block > last:
            return []
        query: dict[str, Any] = {"fromBlock": hex(where.from_block), "toBlock": hex(last)}
        if where.address is not None:
            query["address"] = to_checksum_address(where.address)
        if where.topics:
            query["topics"] = [None if t is None else "0x" + bytes(t).hex() for t in where.topics]
        return [_log(raw) for raw in self.rpc("eth_getLogs", query)]

    def block_number(self) -> int:
        return int(self.rpc("eth_blockNumber"), 16)

    def timestamp(self) -> int:
        return int(self.rpc("eth_getBlockByNumber", "latest", False)["timestamp"], 16)

    def block_hash(self, number: int) -> bytes:
        block = self.rpc("eth_getBlockByNumber", hex(number), False)
        return bytes.fromhex(block["hash"][2:]) if block else bytes(32)

    def time_travel(self, seconds: int) -> None:
        if seconds < 0:
            raise ChainError("time travel goes forward only")
        self.rpc("evm_increaseTime", seconds)
        self.rpc("evm_mine")

    def close(self) -> None:
        self._session.close()

    # internals --------------------------------------------------------------------------
    def _fee_fields(self) -> dict[str, int]:
        """Fee fields for every transaction, read from the node on first use."""
        if self._fees is None:
            block = self.rpc("eth_getBlockByNumber", "latest", False)
            self._block_gas_limit = int(block["gasLimit"], 16)
            gas_price = int(self.rpc("eth_gasPrice"), 16)
            if block.get("baseFeePerGas") is None:
                self._fees = {"gasPrice": gas_price}
            elif gas_price == 0:  # a gas-free node (anvil --base-fee 0, a free-gas consortium)
                self._fees = {"type": 2, "maxFeePerGas": 0, "maxPriorityFeePerGas": 0}
            else:
                try:
                    tip = int(self.rpc("eth_maxPriorityFeePerGas"), 16)
                except ChainError:
                    tip = DEFAULT_PRIORITY_FEE_WEI
                base = int(block["baseFeePerGas"], 16)
                self._fees = {
                    "type": 2,
                    "maxFeePerGas": BASE_FEE_HEADROOM * base + tip,
                    "maxPriorityFeePerGas": tip,
                }
        return self._fees

    def _sign(self, tx: TxRequest, block: str = "latest") -> _Signed:
        """Sign ``tx`` with the sender's next nonce (gas estimated on ``block`` if not given)."""
        fees = self._fee_fields()
        gas = tx.gas
        if gas is None:
            estimate = self._estimate(tx, block)
            gas = min(estimate * (100 + GAS_MARGIN_PERCENT) // 100, self._block_gas_limit)
            gas = max(gas, estimate)
        nonce = self._next_nonce(tx.sender.address)
        if fees.get("type") == 2:
            raw, tx_hash = sign_dynamic_fee(
                tx.sender,
                chain_id=self.chain_id,
                nonce=nonce,
                max_priority_fee=fees["maxPriorityFeePerGas"],
                max_fee=fees["maxFeePerGas"],
                gas=gas,
                to=tx.to,
                value=tx.value,
                data=tx.data,
            )
            return _Signed(tx, "0x" + raw.hex(), "0x" + tx_hash.hex(), gas)
        fields: dict[str, Any] = {
            "chainId": self.chain_id,
            "nonce": nonce,
            "value": tx.value,
            "data": tx.data,
            "gas": gas,
            **fees,
        }
        if tx.to is not None:
            fields["to"] = _checksum(tx.to)
        signed = tx.sender.sign_transaction(fields)
        return _Signed(
            tx, "0x" + bytes(signed.raw_transaction).hex(), "0x" + bytes(signed.hash).hex(), gas
        )

    def _next_nonce(self, address: str) -> int:
        with self._nonce_lock:
            nonce = self._nonces.get(address)
            if nonce is None:
                nonce = int(self.rpc("eth_getTransactionCount", address, "pending"), 16)
            self._nonces[address] = nonce + 1
            return nonce

    def _forget_nonce(self, address: str) -> None:
        """The node refused a transaction: re-read the nonce from the node next time."""
        with self._nonce_lock:
            self._nonces.pop(address, None)

    def _wait(self, hashes: Sequence[str]) -> list[dict[str, Any]]:
        """The receipts of ``hashes`` once all are mined, polled in batches with back-off."""
        found: dict[str, dict[str, Any]] = {}
        missing = list(dict.fromkeys(hashes))
        deadline = time.monotonic() + RECEIPT_TIMEOUT_S
        pause = RECEIPT_POLL_FIRST_S
        while missing:
            found.update(self._poll(missing))
            missing = [h for h in missing if h not in found]
            if not missing:
                break
            if time.monotonic() > deadline:
                raise ChainError(
                    f"{len(missing)} transaction(s) not mined within {RECEIPT_TIMEOUT_S} s "
                    f"(first: {missing[0]}): is the node at {self.url} mining?"
                )
            time.sleep(pause)
            pause = min(pause * 2, RECEIPT_POLL_MAX_S)
        return [found[h] for h in hashes]

    def _poll(self, hashes: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The raw receipts of those of ``hashes`` that are mined, read in batches."""
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(hashes), BATCH_SIZE):
            chunk = hashes[start : start + BATCH_SIZE]
            calls = [("eth_getTransactionReceipt", [h]) for h in chunk]
            for tx_hash, response in zip(chunk, self._batch(calls), strict=True):
                if "error" in response:
                    raise self._error("eth_getTransactionReceipt", response["error"])
                if response.get("result") is not None:
                    found[tx_hash] = dict(response["result"])
        return found

    def _receipt(self, raw: dict[str, Any], signed: _Signed) -> Receipt:
        block_number = int(raw["blockNumber"], 16)
        gas_used = int(raw["gasUsed"], 16)
        if int(raw["status"], 16) != 1:
            raise self._failure(signed, block_number, gas_used)
        contract = raw.get("contractAddress")
        return Receipt(
            tx_hash=raw["transactionHash"],
            block_number=block_number,
            gas_used=gas_used,
            logs=tuple(_log(log) for log in raw["logs"]),
            contract_address=to_checksum_address(contract) if contract else None,
        )

    def _failure(self, signed: _Signed, block_number: int, gas_used: int) -> ChainError:
        """Why a mined transaction failed: replay it on the state its block started from."""
        tx, gas = signed.tx, signed.gas
        what = _what(tx)
        request = {
            "from": tx.sender.address,
            "data": _hex(tx.data),
            "value": hex(tx.value),
            "gas": hex(gas),
        }
        if tx.to is not None:
            request["to"] = _checksum(tx.to)
        try:
            self._request("eth_call", [request, hex(max(block_number - 1, 0))], what)
        except ContractRevert as exc:
            return exc
        except ChainError:
            pass  # out of gas and other EVM failures are not reverts
        # It ran fine on the block's starting state: unless it used all its gas, a
        # transaction before it in the same block changed what it relied on.
        where = (
            f"{what} {signed.hash} failed in block {block_number} "
            f"(gas used {gas_used} of limit {gas}"
        )
        if gas_used >= gas:
            return ChainError(f"{where}; out of gas)")
        return RaceLost(f"{where}; an earlier transaction in its block changed the state it "
                        "relied on)")  # fmt: skip
