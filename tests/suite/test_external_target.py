"""The suite against a server given by --base-url, as users run it -- and no secret in its reports.

The target is a reference server in this process behind a tap that notes every secret crossing
the wire: passwords in request bodies, session tokens in Authorization headers, Token headers and
MMAUTHTOKEN cookies. After the run, not one of them may appear anywhere under the reports
directory (JUnit XML, matrix, Allure results and attachments), in any spelling.
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest

from mmv3.server.app import ReferenceServer
from mmv3.server.config import Config, ServerOptions
from mmv3.server.runner import RunningServer

from .conformance_run import run_suite
from .secret_tap import SecretTap, create_account

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def external_run(tmp_path_factory):
    config = Config({"TeamSettings": {"EnableOpenServer": True}})
    config["RateLimitSettings.Enable"] = True
    config["RateLimitSettings.PerSec"] = 500
    config["RateLimitSettings.MaxBurst"] = 100
    tap = SecretTap(ReferenceServer(config, ServerOptions(db=":memory:", bcrypt_cost=4)))
    server = RunningServer(tap).start()  # type: ignore[arg-type]  # any WSGI app with a store
    try:
        admin, admin_password = create_account(server.url, "extadmin")  # the first account is the admin
        user, password = create_account(server.url, "extuser")
        env = {
            "MMV3_USER": user,
            "MMV3_PASSWORD": password,
            "MMV3_ADMIN": admin,
            "MMV3_ADMIN_PASSWORD": admin_password,
        }
        reports = tmp_path_factory.mktemp("external-reports")
        corpus = reports / "corpus"  # under reports/: the secret test below reads it too
        run = run_suite(
            ["--base-url", server.url, "-m", "not ratelimit", "--mm-record", str(corpus)],
            reports=reports,
            env=env,
            timeout=900,
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


def test_the_recorded_corpus_holds_every_exchange_once(external_run):
    run, _ = external_run
    corpus = Path(run.reports) / "corpus"
    entries = [
        entry
        for har in sorted(corpus.glob("*.har"))
        for entry in json.loads(har.read_text(encoding="utf-8"))["log"]["entries"]
    ]
    summary = json.loads((corpus / "recording.json").read_text(encoding="utf-8"))
    assert len(entries) == summary["entries"] > 1000, summary
    assert not (corpus / ".parts").exists()
    assert {"ok", "no_token", "bad_input", "forbidden", "other"} <= {e["_case"] for e in entries}
    assert all(e["_route"].startswith("/api/v3/") or e["_route"].startswith("/") for e in entries)
    keys = [(e["startedDateTime"], e["request"]["method"], e["request"]["url"], e["time"]) for e in entries]
    assert len(keys) == len(set(keys)), "a shared success exchange was written more than once"
    headers = [h for e in entries for h in e["request"]["headers"] if h["name"].lower() == "authorization"]
    assert headers and all(h["value"] == "<redacted>" for h in headers)


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
