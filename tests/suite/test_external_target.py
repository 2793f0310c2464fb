"""The suite against a server given by --base-url, as users run it -- and no secret in its reports.

The target is a reference server in this process behind a tap that notes every secret crossing
the wire: passwords in request bodies, session tokens in Authorization headers, Token headers and
MMAUTHTOKEN cookies. After the run, not one of them may appear anywhere under the reports
directory (JUnit XML, matrix, Allure results and attachments), in any spelling.
"""

from __future__ import annotations

import io
import json
import secrets
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import pytest
import requests

from mmv3.redact import SECRET_KEYS
from mmv3.server.app import ReferenceServer
from mmv3.server.config import Config, ServerOptions
from mmv3.server.runner import RunningServer

from .conformance_run import run_suite

pytestmark = pytest.mark.slow


class SecretTap:
    """WSGI middleware noting every secret value in requests and answers."""

    def __init__(self, app: ReferenceServer) -> None:
        self.app = app
        self.store = app.store  # RunningServer closes it on stop
        self.seen: set[str] = set()

    def __call__(self, environ: dict, start_response: Any) -> Any:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        self._from_body(body)
        auth = environ.get("HTTP_AUTHORIZATION", "")
        if " " in auth:
            self.seen.add(auth.split(" ", 1)[1])
        for part in environ.get("HTTP_COOKIE", "").split(";"):
            name, _, value = part.strip().partition("=")
            if name == "MMAUTHTOKEN" and value:
                self.seen.add(value)

        def tapped(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            for name, value in headers:
                if name.lower() == "token":
                    self.seen.add(value)
                elif name.lower() == "set-cookie" and value.startswith("MMAUTHTOKEN="):
                    token = value.split(";", 1)[0].split("=", 1)[1]
                    if token:
                        self.seen.add(token)
            return start_response(status, headers, exc_info)

        return self.app(environ, tapped)

    def _from_body(self, body: bytes) -> None:
        try:
            value = json.loads(body)
        except ValueError:
            return
        todo = [value]
        while todo:
            item = todo.pop()
            if isinstance(item, dict):
                for key, inner in item.items():
                    # (A config's secrets come back masked as asterisks: no secret.)
                    if key.lower() in SECRET_KEYS and isinstance(inner, str) and inner.strip("*"):
                        self.seen.add(inner)
                    todo.append(inner)
            elif isinstance(item, list):
                todo += item


def _account(url: str, name: str) -> tuple[str, str]:
    password = secrets.token_urlsafe(12)
    body = {"username": name, "email": f"{name}@example.com", "password": password}
    answer = requests.post(f"{url}/api/v3/users/create", json=body, timeout=10)
    assert answer.status_code == 200, answer.text
    return name, password


@pytest.fixture(scope="module")
def external_run(tmp_path_factory):
    config = Config({"TeamSettings": {"EnableOpenServer": True}})
    config["RateLimitSettings.Enable"] = True
    config["RateLimitSettings.PerSec"] = 500
    config["RateLimitSettings.MaxBurst"] = 100
    tap = SecretTap(ReferenceServer(config, ServerOptions(db=":memory:", bcrypt_cost=4)))
    server = RunningServer(tap).start()  # type: ignore[arg-type]  # any WSGI app with a store
    try:
        admin, admin_password = _account(server.url, "extadmin")  # the first account is the admin
        user, password = _account(server.url, "extuser")
        env = {
            "MMV3_USER": user,
            "MMV3_PASSWORD": password,
            "MMV3_ADMIN": admin,
            "MMV3_ADMIN_PASSWORD": admin_password,
        }
        reports = tmp_path_factory.mktemp("external-reports")
        run = run_suite(
            ["--base-url", server.url, "-m", "not ratelimit"], reports=reports, env=env, timeout=900
        )
        tap.seen |= {admin_password, password}
        yield run, tap.seen
    finally:
        server.stop()


def test_the_suite_runs_against_a_given_target(external_run):
    run, _ = external_run
    assert run.cases, run.tail()
    unexpected = [f"{c.module}::{c.test}[{c.route}]: {c.message[:200]}" for c in run.failures]
    assert not unexpected, "\n".join(unexpected[:30])
    assert run.matrix()["environment"]["Target"].startswith("http://127.0.0.1:"), run.matrix()["environment"]


def test_no_secret_is_written_under_reports(external_run):
    run, seen = external_run
    spellings = {
        form
        for secret in seen
        if len(secret) >= 6
        for form in (secret, json.dumps(secret)[1:-1], quote(secret, safe=""), quote_plus(secret))
    }
    assert len(spellings) > 20, "the tap saw too few secrets for this test to mean anything"
    leaks = []
    for path in Path(run.reports).rglob("*"):
        if path.is_file():
            text = path.read_text(encoding="utf-8", errors="replace")
            leaks += [f"{path.name}: …{s[:4]}…" for s in spellings if s in text]
    assert not leaks, f"{len(leaks)} secrets written under reports/:\n" + "\n".join(sorted(set(leaks))[:20])
