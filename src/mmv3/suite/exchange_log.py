"""The exchanges of the running check, kept raw and turned into redacted HAR entries on demand.

It stands where the client expects a recorder (`record`, `add_secret`). A run learns hundreds
of secrets (every throwaway session's token and password); redacting each attachment against
all of them is what would make reporting slow, so each batch of entries is redacted by a
`HarRecorder` that knows only the secrets actually present in that batch.
"""

from __future__ import annotations

import threading
from typing import Any

from mmv3.client import HarRecorder
from mmv3.redact import spellings


class ExchangeLog:
    def __init__(self, *, max_body: int = 64 * 1024) -> None:
        self._lock = threading.Lock()
        self._exchanges: list[Any] = []
        self._secrets: dict[str, tuple[str, ...]] = {}  # secret -> its spellings
        self.max_body = max_body

    # -- the recorder interface the client uses ----------------------------------------------
    def record(self, exchange: Any) -> None:
        with self._lock:
            self._exchanges.append(exchange)

    def add_secret(self, *values: str | None) -> None:
        with self._lock:
            for value in values:
                if value and value not in self._secrets:
                    self._secrets[value] = tuple(spellings(value))

    # -- batches -------------------------------------------------------------------------------
    def __len__(self) -> int:
        with self._lock:
            return len(self._exchanges)

    def clear(self) -> None:
        with self._lock:
            self._exchanges.clear()

    def exchanges(self, start: int = 0) -> list[Any]:
        """The raw exchanges recorded since `start` (with secrets: for counting, never for reports)."""
        with self._lock:
            return self._exchanges[start:]

    def entries(self, start: int = 0) -> list[dict]:
        """Redacted HAR entries of the exchanges recorded since `start`."""
        with self._lock:
            batch = self._exchanges[start:]
            secrets = dict(self._secrets)
        if not batch:
            return []
        blob = "\n".join(_texts(batch))
        present = [s for s, forms in secrets.items() if any(form in blob for form in forms)]
        recorder = HarRecorder(secrets=present, max_body=self.max_body)
        for exchange in batch:
            recorder.record(exchange)
        return recorder.har()["log"]["entries"]

    def secrets(self) -> list[str]:
        with self._lock:
            return list(self._secrets)


def _texts(batch: list[Any]) -> list[str]:
    out = []
    for exchange in batch:
        out.append(exchange.url)
        out += [value for _, value in exchange.request_headers]
        out += [value for _, value in exchange.response_headers]
        for body in (exchange.request_body, exchange.response_body):
            if body:
                out.append(body.decode("utf-8", errors="replace") if isinstance(body, bytes) else str(body))
        if exchange.error:
            out.append(exchange.error)
    return out
