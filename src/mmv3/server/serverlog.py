"""The reference server's own log: recent lines kept in memory, shown by `GET /admin/logs`.

Lines are formatted as Mattermost 4.9 writes its log file (`[2026/11/26 16:58:11 UTC] [INFO] …`)
and every AppError a handler answers (except 404s) is logged at error level, as the real server
does. Nothing here is written to disk; no line carries a token or a password (request paths
only, never query strings or bodies).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

MAX_LINES = 10000  # what /admin/logs returns at most (the real server's page size)


class ServerLog:
    def __init__(self, limit: int = MAX_LINES, clock: Callable[[], float] = time.time) -> None:
        self._lines: deque[str] = deque(maxlen=limit)
        self._lock = threading.Lock()
        self._clock = clock

    def write(self, level: str, message: str) -> None:
        stamp = time.strftime("%Y/%m/%d %H:%M:%S", time.gmtime(self._clock()))
        line = f"[{stamp} UTC] [{level}] {message}".replace("\n", " ")
        with self._lock:
            self._lines.append(line)

    def info(self, message: str) -> None:
        self.write("INFO", message)

    def error(self, message: str) -> None:
        self.write("EROR", message)

    def lines(self) -> list[str]:
        with self._lock:
            return list(self._lines)

    def file_chunks(self) -> list[str]:
        """The lines as 4.9's getLogs answers them: it reads the log file backwards cutting before
        each newline, so every chunk but the first starts with "\\n" and a lone "\\n" ends the list."""
        lines = self.lines()
        if not lines:
            return []
        return [lines[0], *(f"\n{line}" for line in lines[1:]), "\n"]
