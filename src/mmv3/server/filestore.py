"""The server's file storage (Mattermost's `FileSettings` "local" driver): bytes by relative path.

Files live under the server's data directory (`ServerOptions.data_dir`, else `data/` beside the
database). A server on an in-memory database keeps its files in memory too, so tests and
throwaway servers never touch the disk. Paths are Mattermost's (`users/<id>/profile.png`);
anything that would leave the data directory is refused.
"""

from __future__ import annotations

import secrets
import threading
from pathlib import Path, PurePosixPath

from mmv3.server.config import ServerOptions


class FileStoreError(Exception):
    """A path outside the data directory, or a disk failure (one-line message)."""


class FileStore:
    def __init__(self, root: Path | None) -> None:
        self.root = root
        self._memory: dict[str, bytes] = {}
        self._lock = threading.Lock()

    @classmethod
    def for_options(cls, options: ServerOptions) -> FileStore:
        if options.data_dir:
            return cls(Path(options.data_dir))
        if options.db and options.db != ":memory:":
            return cls(Path(options.db).parent / "data")
        return cls(None)

    @staticmethod
    def _clean(path: str) -> str:
        parts = PurePosixPath(path).parts
        if not parts or path.startswith("/") or any(part in ("..", ".", "") for part in parts):
            raise FileStoreError(f"refusing file path {path!r}")
        return "/".join(parts)

    def read(self, path: str) -> bytes | None:
        key = self._clean(path)
        if self.root is None:
            with self._lock:
                return self._memory.get(key)
        try:
            return (self.root / key).read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise FileStoreError(f"cannot read {key}: {exc.strerror}") from None

    def write(self, path: str, data: bytes) -> None:
        key = self._clean(path)
        if self.root is None:
            with self._lock:
                self._memory[key] = bytes(data)
            return
        target = self.root / key
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(
                f".{target.name}.{secrets.token_hex(4)}.tmp"
            )  # concurrent writers never share one
            tmp.write_bytes(data)
            tmp.replace(target)
        except OSError as exc:
            raise FileStoreError(f"cannot write {key}: {exc.strerror}") from None

    def delete(self, path: str) -> bool:
        key = self._clean(path)
        if self.root is None:
            with self._lock:
                return self._memory.pop(key, None) is not None
        try:
            (self.root / key).unlink()
            return True
        except FileNotFoundError:
            return False
