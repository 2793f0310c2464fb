"""A hostile target gives a bounded run with one clear line and a distinct exit status, never a
hang or a traceback."""

from __future__ import annotations

import pytest

from mmv3.suite.preflight import ExitCode

from .conformance_run import run_suite
from .hostile import hostile_server

pytestmark = pytest.mark.slow

TIMEOUTS = ["--mm-timeout", "2", "--mm-connect-timeout", "2"]
CREDENTIALS = {"MMV3_USER": "someone", "MMV3_PASSWORD": "not-a-real-password"}
# A run against a hostile target must end well within this (preflight waits at most 2 s).
BOUND_SECONDS = 45

CASES = {
    "hang": (ExitCode.TIMEOUT, "did not answer in time"),
    "reset": (ExitCode.UNREACHABLE, "connection reset"),
    "garbage": (ExitCode.UNREACHABLE, "connection broken"),
    "html": (ExitCode.NOT_V3, "does not speak Mattermost API v3"),
    "junk_json": (ExitCode.NOT_V3, "is not JSON"),
}


def _assert_one_clear_line(run, code: ExitCode, phrase: str) -> None:
    output = run.stdout + run.stderr
    assert run.returncode == int(code), f"exit {run.returncode}, expected {int(code)}:\n{run.tail()}"
    assert "Traceback" not in output, run.tail(60)
    lines = [line for line in output.splitlines() if "mmv3 preflight:" in line]
    assert len(lines) == 1, f"expected one preflight line, got {lines!r}"
    assert phrase in lines[0], lines[0]
    assert run.seconds < BOUND_SECONDS, f"took {run.seconds:.1f} s"


@pytest.mark.parametrize("kind", sorted(CASES))
def test_hostile_target(kind, tmp_path):
    code, phrase = CASES[kind]
    with hostile_server(kind) as url:
        run = run_suite(["--base-url", url, *TIMEOUTS], reports=tmp_path, env=CREDENTIALS, timeout=120)
    _assert_one_clear_line(run, code, phrase)


def test_nothing_listening(tmp_path):
    from .hostile import free_port

    url = f"http://127.0.0.1:{free_port()}"
    run = run_suite(["--base-url", url, *TIMEOUTS], reports=tmp_path, env=CREDENTIALS, timeout=120)
    _assert_one_clear_line(run, ExitCode.UNREACHABLE, "connection refused")


def test_missing_credentials_is_a_usage_error(tmp_path):
    run = run_suite(["--base-url", "http://127.0.0.1:9"], reports=tmp_path, timeout=120)
    assert run.returncode == 4, run.tail()
    assert "needs --mm-user and --mm-password" in run.stderr
    assert "Traceback" not in run.stdout + run.stderr


def test_a_target_that_dies_mid_run_stops_the_run(tmp_path):
    """Preflight passes, then the server goes away: the run ends with one line and exit 10."""
    import socket
    import threading

    import requests

    from mmv3.server.app import ReferenceServer
    from mmv3.server.config import Config, ServerOptions
    from mmv3.server.runner import RunningServer

    class DiesAfter:
        def __init__(self, app, budget: int) -> None:
            self.app, self.store, self.budget = app, app.store, budget
            self.server = None

        def __call__(self, environ, start_response):
            self.budget -= 1
            if self.budget == 0:
                threading.Thread(target=self._die, daemon=True).start()
            if self.budget <= 0:
                # Kept-alive connections go too: drop this one without an answer.
                connection = environ.get("werkzeug.socket")
                if connection is not None:
                    connection.shutdown(socket.SHUT_RDWR)
                    connection.close()
                return []
            return self.app(environ, start_response)

        def _die(self) -> None:
            self.server.httpd.shutdown()
            self.server.httpd.server_close()  # new connections are refused

    config = Config({"TeamSettings": {"EnableOpenServer": True}, "RateLimitSettings": {"Enable": False}})
    app = DiesAfter(ReferenceServer(config, ServerOptions(db=":memory:", bcrypt_cost=4)), budget=400)
    server = RunningServer(app).start()  # type: ignore[arg-type]
    app.server = server
    try:
        for name in ("dyadmin", "dyuser"):
            body = {"username": name, "email": f"{name}@example.com", "password": "a-password-1"}
            assert (
                requests.post(f"{server.url}/api/v3/users/create", json=body, timeout=10).status_code == 200
            )
        env = {"MMV3_USER": "dyuser", "MMV3_PASSWORD": "a-password-1"}
        run = run_suite(
            ["--base-url", server.url, "-m", "auth", *TIMEOUTS], reports=tmp_path, env=env, timeout=300
        )
    finally:
        app._die()
    output = run.stdout + run.stderr
    assert run.returncode == int(ExitCode.UNREACHABLE), run.tail()
    assert "the target stopped answering" in output and "Traceback" not in output, run.tail()
    assert run.seconds < 90, f"took {run.seconds:.1f} s"
