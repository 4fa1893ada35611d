"""Decode the reason a contract gave when it reverted."""

from __future__ import annotations

from eth_abi.abi import decode

ERROR_SELECTOR = bytes.fromhex("08c379a0")  # Error(string)
PANIC_SELECTOR = bytes.fromhex("4e487b71")  # Panic(uint256)


def decode_revert(data: bytes) -> str:
    """The human-readable reason in revert ``data`` (empty string if none)."""
    if data[:4] == ERROR_SELECTOR:
        try:
            (reason,) = decode(["string"], data[4:])
            return str(reason)
        except Exception:  # malformed payload: report the raw bytes instead
            return "0x" + data.hex()
    if data[:4] == PANIC_SELECTOR and len(data) >= 36:
        return f"panic 0x{int.from_bytes(data[4:36], 'big'):02x}"
    return "0x" + data.hex() if data else ""
