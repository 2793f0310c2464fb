"""With no --host, a reference server (`mmv3 serve`) is started on the fly for the run.

It runs as a subprocess on 127.0.0.1 with a free port and an in-memory database, with the
arguments of --mmv3-serve (default: rate limit 10/s burst 100, Mattermost's defaults), and is
stopped when Locust quits.
"""

from __future__ import annotations

import atexit
import re
import subprocess
import sys
from typing import Any

import gevent
from locust import events

from state import current, logger

_READY = re.compile(r"listening on (http://\S+)")
_START_TIMEOUT = 30


class EmbeddedServer:
    def __init__(self, args: tuple[str, ...]) -> None:
        command = [sys.executable, "-m", "mmv3.cli", "serve", "--host", "127.0.0.1", "--port", "0"]
        command += ["--db", ":memory:", *args]
        # Its own session: a Ctrl-C in the terminal must not stop it before the end-of-run report.
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, start_new_session=True)
        line = ""
        with gevent.Timeout(_START_TIMEOUT, False):
            line = self.process.stdout.readline() if self.process.stdout else ""
        match = _READY.search(line)
        if not match:
            self.stop()
            raise RuntimeError(f"`mmv3 serve {' '.join(args)}` did not start: {line.strip() or 'no output'}")
        self.url = match.group(1)
        self.banner = line.strip()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stdout:
            self.process.stdout.close()


@events.init.add_listener
def start_when_no_host(environment: Any, **_kwargs: Any) -> None:
    state = current(environment)
    if state.is_worker or environment.host:
        return
    try:
        server = EmbeddedServer(state.settings.serve_args)
    except (OSError, RuntimeError) as exc:
        sys.stderr.write(f"mmv3: no --host given and the reference server could not start: {exc}\n")
        sys.exit(2)
    state.embedded_server = server
    environment.host = server.url
    if environment.parsed_options is not None:
        environment.parsed_options.host = server.url
    # Stopped at exit, after every quitting listener (the end-of-run report still talks to it).
    atexit.register(server.stop)
    logger.info("no --host given; started %s", server.banner)
