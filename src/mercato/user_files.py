"""Files a user names (command line or Python API), read and written with one-line errors."""

from __future__ import annotations

from pathlib import Path

from mercato.errors import InputError


def read_user_file(path: Path, limit: int, *, keep: bool = True) -> bytes:
    """The bytes of ``path`` (b"" when ``keep`` is false: only checked); InputError when it is
    missing, a folder, larger than ``limit`` bytes or unreadable."""
    try:
        if not path.exists():
            raise InputError(f"{path}: no such file")
        if not path.is_file():
            raise InputError(f"{path}: not a file")
        if path.stat().st_size > limit:
            raise InputError(f"{path}: larger than {limit // 2**20} MiB")
        return path.read_bytes() if keep else b""
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from None


def write_user_file(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path``, creating its folder; InputError when that cannot be done."""
    if path.is_dir():
        raise InputError(f"{path}: is a folder; give a file name")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    except OSError as exc:
        raise InputError(f"{path}: cannot write: {exc.strerror or exc}") from None
    return path
