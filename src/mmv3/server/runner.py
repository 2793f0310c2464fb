"""Running the reference server: in the foreground for `mmv3 serve`, in a thread for tests."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from mmv3.server.app import ReferenceServer
from mmv3.server.config import Config, ServerOptions
from mmv3.server.http import WSGIServer


class RunningServer:
    """A reference server listening on a port, with its URL and a way to stop it."""

    def __init__(self, app: ReferenceServer, host: str = "127.0.0.1", port: int = 0) -> None:
        self.app = app
        # Binding raises OSError on a busy port: `mmv3 serve` turns it into a one-line error.
        self.httpd = WSGIServer((host, port), app)
        self.host = host
        self.port = self.httpd.server_port
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def serve_forever(self) -> None:
        self.httpd.serve_forever(poll_interval=0.05)  # shutdown() waits up to one interval

    def start(self) -> RunningServer:
        self._thread = threading.Thread(target=self.serve_forever, name="mmv3-serve", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.app.store.close()


@contextmanager
def running_server(
    *,
    rate_limit: str | None = None,
    faults: tuple[str, ...] | list[str] = (),
    config: Config | dict | None = None,
    db: str = ":memory:",
    bcrypt_cost: int = 4,
    host: str = "127.0.0.1",
    port: int = 0,
    limiter_clock: Callable[[], float] | None = None,
) -> Iterator[RunningServer]:
    """A reference server in a background thread on a free port, stopped on exit.

    `rate_limit` is "PERSEC/BURST" or None for no limiter. Ready when the block starts:
    the socket is bound and listening before the thread is started.
    """
    from mmv3.ratelimit import Quota
    from mmv3.server.faults import check_names

    cfg = config if isinstance(config, Config) else Config(config or None)
    cfg.set_rate_limit(Quota.parse(rate_limit) if rate_limit else None)
    options = ServerOptions(db=db, bcrypt_cost=bcrypt_cost, faults=check_names(tuple(faults)))
    if limiter_clock is not None:
        options = dataclasses.replace(options, limiter_clock=limiter_clock)
    server = RunningServer(ReferenceServer(cfg, options), host, port).start()
    try:
        yield server
    finally:
        server.stop()
