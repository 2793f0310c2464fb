"""`mmv3 check`: its exit-code contract, run directory, summary, baseline gating and JUnit output.

The slow tests run the real command (a subprocess) against reference servers on 127.0.0.1,
with a check family selected so that each run takes seconds.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import requests
import yaml

from mmv3 import check, exitcodes, junit
from mmv3.server import running_server
from tests.suite.hostile import hostile_server


def mmv3_check(
    *args: str, env: dict[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("MMV3_", "PYTEST_"))}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "mmv3.cli", "check", *args],
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def only_run_dir(reports: Path) -> Path:
    runs = [p for p in reports.iterdir() if p.is_dir()]
    assert len(runs) == 1, runs
    return runs[0]


# ------------------------------------------------------------------------------- unit level
@pytest.mark.parametrize(
    ("text", "seconds"), [("90", 90), ("90s", 90), ("2m", 120), ("1h30m", 5400), ("1m5s", 65)]
)
def test_durations(text, seconds):
    assert check.parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "soon", "0s", "-5s", "5x"])
def test_bad_durations(text):
    with pytest.raises(check.UsageError):
        check.parse_duration(text)


def test_the_most_fundamental_failure_names_the_run():
    steps = [check.Step("conformance", mapped=exitcodes.CONFORMANCE_FAILED)]
    assert check.overall(steps) == exitcodes.CONFORMANCE_FAILED
    steps.append(check.Step("load", mapped=exitcodes.THRESHOLDS_BREACHED))
    assert check.overall(steps) == exitcodes.CONFORMANCE_FAILED
    assert check.overall(steps[1:]) == exitcodes.THRESHOLDS_BREACHED
    assert check.overall([check.Step("conformance", mapped=exitcodes.UNREACHABLE)]) == exitcodes.UNREACHABLE
    assert check.overall([check.Step("x")]) == exitcodes.OK


def test_exit_codes_are_distinct_and_described():
    codes = [v for k, v in vars(exitcodes).items() if k.isupper() and isinstance(v, int)]
    assert len(codes) == len(set(codes))
    assert set(codes) == set(exitcodes.DESCRIPTIONS)


def test_a_run_that_judged_nothing_is_folded_into_its_own_code():
    from mmv3.load import vacuity
    from mmv3.suite.preflight import ExitCode

    assert check._PYTEST_EXITS[ExitCode.NOTHING_JUDGED] == exitcodes.NOTHING_JUDGED
    for code in (vacuity.EXIT_EMPTY, vacuity.EXIT_NOTHING_JUDGED, vacuity.EXIT_WORKERS):
        assert check._LOCUST_EXITS[code] == exitcodes.NOTHING_JUDGED
    assert check._LOCUST_EXITS[vacuity.EXIT_PROVISIONING] == exitcodes.CREDENTIALS
    # a vacuous step outranks findings (they may be all the run had), not a broken target
    vacuous = check.Step("load", mapped=exitcodes.NOTHING_JUDGED)
    assert check.overall([check.Step("conformance", mapped=exitcodes.CONFORMANCE_FAILED), vacuous]) == 9
    assert check.overall([check.Step("conformance", mapped=exitcodes.CREDENTIALS), vacuous]) == 6


MATRIX = {
    "families": {"auth": {"passed": 3, "failed": 1}, "headers": {"passed": 2}},
    "routes": {
        "GET /api/v3/users/me": {
            "group": "users",
            "families": {
                "auth": {
                    "checks": [{"check": "auth.no_token", "status": "failed", "reason": "answered 200"}]
                },
                "headers": {"checks": [{"check": "headers.request_id", "status": "passed"}]},
            },
        },
        "GET /api/v3/teams/all": {
            "group": "teams",
            "families": {
                "auth": {"checks": [{"check": "auth.no_token", "status": "xfailed", "reason": "known"}]}
            },
        },
    },
}


def test_summary_names_groups_families_and_failures():
    text = "\n".join(check.summary_lines(MATRIX, None))
    assert "users 0/1 (1 failing)" in text
    assert "teams 1/1 (ok)" in text
    assert "auth       FAIL" in text and "headers    ok" in text
    assert "FAILED  auth.no_token" in text and "GET /api/v3/users/me  answered 200" in text


def test_each_failing_check_is_one_line_for_stderr_and_the_list_is_capped():
    lines = check.failure_lines(MATRIX, ["rate limiting: expected on, found off"])
    assert lines == [
        "target profile differs: rate limiting: expected on, found off",
        "FAILED auth.no_token GET /api/v3/users/me: answered 200",
    ]  # the known deviation (xfailed) is not a failure
    many = {"routes": {
        f"GET /api/v3/r{i:02}": {"group": "g", "families": {"auth": {"checks": [
            {"check": "auth.no_token", "status": "failed", "reason": "a\nlong\n reason " * 30}
        ]}}} for i in range(25)
    }}  # fmt: skip
    lines = check.failure_lines(many)
    assert len(lines) == 21 and lines[-1].startswith("… and 5 more")
    assert all("\n" not in line and len(line) < 220 for line in lines)


def test_checks_that_got_no_answer_make_the_run_unreachable_not_failed():
    """A transport failure (reset, timeout, answer cut short) is the target not answering: exit 4
    with one line, even next to conformance failures; without one the verdict stays."""
    transport = {
        "check": "auth.revoked",
        "status": "failed",
        "category": "transport",
        "reason": "no answer: cannot reach the server for GET http://127.0.0.1:1/api/v3/users/me: connection reset by the server",
    }
    matrix = json.loads(json.dumps(MATRIX))
    matrix["routes"]["GET /api/v3/users/me"]["families"]["auth"]["checks"].append(transport)
    step = check.Step("conformance", exit_code=1, mapped=exitcodes.CONFORMANCE_FAILED)
    check.file_unanswered(step, matrix)
    assert step.mapped == exitcodes.UNREACHABLE
    assert step.message.startswith("1 check(s) got no answer from the target (transport failures")
    assert "auth.revoked GET /api/v3/users/me: no answer:" in step.message and "\n" not in step.message
    as_before = check.Step("conformance", exit_code=1, mapped=exitcodes.CONFORMANCE_FAILED)
    check.file_unanswered(as_before, MATRIX)
    assert (as_before.mapped, as_before.message) == (exitcodes.CONFORMANCE_FAILED, "")
    gone = check.Step("conformance", exit_code=10, mapped=exitcodes.UNREACHABLE, message="stopped answering")
    check.file_unanswered(gone, matrix)
    assert gone.message == "stopped answering"  # the run's own line is kept


def test_baseline_lists_failures_and_known_deviations(tmp_path):
    from mmv3.suite import expectations

    deviations = check.baseline(MATRIX)
    assert [(d.route, d.check) for d in deviations] == [
        ("GET /api/v3/teams/all", "auth.no_token"),
        ("GET /api/v3/users/me", "auth.no_token"),
    ]
    path = expectations.dump(tmp_path / "baseline.yaml", "http://x", deviations)
    loaded = expectations.load(path)  # what --expect reads back
    assert loaded.reason("GET /api/v3/users/me", "auth.no_token") == "answered 200"


def test_load_junit_has_a_case_per_threshold_and_verdict():
    summary = {
        "thresholds": {
            "outcomes": [
                {"name": "failure_ratio", "status": "passed", "message": "0.0"},
                {"name": "latency p95 Aggregated", "status": "failed", "message": "p95 900 ms (limit 500)"},
            ]
        },
        "oracle": {"verdicts": [{"name": "burst", "status": "skipped", "message": "no limiter"}]},
    }
    suite = junit.load_suite(summary, 12.0)
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped"), suite.get("errors")) == (
        "3",
        "1",
        "1",
        "0",
    )
    failure = suite.find("testcase[@name='latency p95 Aggregated']/failure")
    assert failure is not None and "900 ms" in failure.get("message")
    broken = junit.load_suite(None, 1.0, error="Locust ended with 1")
    assert broken.get("errors") == "1"


# ---------------------------------------------------------------------------- the command
@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--families", "auth,nope"], "unknown check families: nope"),
        (["--keep", "0"], "--keep must be a number of runs, 1 or more"),
        (["--load", "Stampede"], "unknown load scenario"),
        (["--load", "Poster", "--load-time", "soon"], "not a duration"),
        (["--base-url", "ftp://example"], "must be an http(s) URL"),
        (["--base-url", "http://127.0.0.1:9", "--user", "someone"], "MMV3_PASSWORD"),
        (["--expect", "missing/expect.yaml"], "no such file"),
    ],
)
def test_bad_usage_is_one_line_and_exit_2(args, words, tmp_path):
    done = mmv3_check(*args, "--reports", str(tmp_path))
    assert done.returncode == exitcodes.USAGE, done.stderr
    assert words in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "Traceback" not in done.stderr + done.stdout


def _accounts(url: str) -> dict[str, str]:
    env = {}
    for role, user_var, password_var in (
        ("admin", "MMV3_ADMIN", "MMV3_ADMIN_PASSWORD"),
        ("user", "MMV3_USER", "MMV3_PASSWORD"),
    ):
        password = "pw-" + secrets.token_urlsafe(12)
        body = {"username": f"check{role}", "email": f"check{role}@example.com", "password": password}
        assert requests.post(f"{url}/api/v3/users/create", json=body, timeout=10).status_code == 200
        env[user_var], env[password_var] = f"check{role}", password
    return env


@pytest.mark.slow
def test_embedded_run_passes_and_fills_the_run_directory(tmp_path):
    # --report without a usable Allure CLI: one line saying so, and the run's verdict stands.
    done = mmv3_check(
        "--families", "headers", "--reports", str(tmp_path), "--report",
        env={"MMV3_ALLURE": str(tmp_path / "no-allure")},
    )  # fmt: skip
    assert done.returncode == exitcodes.OK, done.stdout + done.stderr
    assert done.stderr.count("\n") == 1 and "mmv3 check: no HTML report:" in done.stderr, done.stderr
    assert "npm install" in done.stderr
    run_dir = only_run_dir(tmp_path)
    for name in (
        "run.json",
        "junit-conformance.xml",
        "conformance-matrix.json",
        "conformance-matrix.md",
        "conformance.log",
    ):
        assert (run_dir / name).is_file(), name
    assert list((run_dir / "allure-results").glob("*-result.json"))
    run = json.loads((run_dir / "run.json").read_text())
    assert run["exit_code"] == 0 and run["run_id"] == run_dir.name
    assert run["steps"][0]["started"] <= run["steps"][0]["finished"]
    report = run["report"]  # the report step is recorded, here: no Allure CLI, exit 7, no file
    assert report["exit_code"] == exitcodes.TOOL_MISSING and "output" not in report and report["finished"]
    junit_root = ET.parse(run_dir / "junit-conformance.xml").getroot()
    suite = junit_root if junit_root.tag == "testsuite" else junit_root.find("testsuite")
    assert int(suite.get("tests")) > 100 and suite.get("failures") == "0"
    assert "conformance by check family:" in done.stdout and "headers    ok" in done.stdout
    # --expect auto (the default) against the embedded server: no deviations, and the summary says so.
    assert "known deviations: none (auto: the embedded reference server" in done.stdout
    assert "version profile: 4.9.0: as in the source of 4.9.0" in done.stdout
    assert f"results: {run_dir}" in done.stdout


@pytest.mark.slow
def test_a_faulty_server_fails_and_a_baseline_turns_it_into_known_deviations(tmp_path):
    with running_server(faults=("headers-no-version-id",)) as server:
        env = _accounts(server.url)
        common = ["--base-url", server.url, "--families", "headers", "--workers", "0"]
        first = mmv3_check(
            *common, "--reports", str(tmp_path / "a"), "--write-baseline", str(tmp_path / "b.yaml"), env=env
        )
        assert first.returncode == exitcodes.CONFORMANCE_FAILED, first.stdout + first.stderr
        assert "headers    FAIL" in first.stdout and "headers.version_id" in first.stdout
        # exit 1 names each failing check on stderr, one line each (README, "Gate releases")
        errors = first.stderr.splitlines()
        assert errors and all(
            line.startswith("mmv3 check: conformance: FAILED headers.version_id ") for line in errors[:-1]
        ), errors
        assert len(errors) == 21 and "GET /api/v3/admin/config: no X-Version-Id" in first.stderr, errors
        assert errors[-1].startswith("mmv3 check: conformance: … and ") and errors[-1].endswith(
            "more (see conformance-matrix.md)"
        ), errors
        baseline = yaml.safe_load((tmp_path / "b.yaml").read_text())
        assert baseline["deviations"] and {d["check"] for d in baseline["deviations"]} == {
            "headers.version_id"
        }
        gated = mmv3_check(
            *common, "--reports", str(tmp_path / "c"), "--expect", str(tmp_path / "b.yaml"), env=env
        )
        assert gated.returncode == exitcodes.OK, gated.stdout + gated.stderr
    for reports in ("a", "c"):
        for path in (tmp_path / reports).rglob("*"):
            if path.is_file():
                text = path.read_text(errors="replace")
                assert env["MMV3_PASSWORD"] not in text and env["MMV3_ADMIN_PASSWORD"] not in text, path


@pytest.mark.slow
def test_a_baseline_records_the_target_profile_and_fails_a_target_that_stopped_rate_limiting(tmp_path):
    baseline = tmp_path / "b.yaml"
    with running_server(rate_limit="100/20") as limited:
        env = _accounts(limited.url)
        first = mmv3_check(
            "--base-url", limited.url, "--families", "ratelimit", "--workers", "0",
            "--reports", str(tmp_path / "a"), "--write-baseline", str(baseline), env=env,
        )  # fmt: skip
    assert first.returncode == exitcodes.OK, first.stdout + first.stderr
    assert "target: Mattermost 4.9.0" in first.stdout and "(--ratelimit auto: detected)" in first.stdout
    recorded = yaml.safe_load(baseline.read_text())["profile"]
    assert recorded["version"] == "4.9.0" and recorded["licensed"] is False
    limiting = recorded["rate_limit"]
    assert limiting["enabled"] is True and limiting["limit"] == 21
    # The 100/s refill as measured; on a busy machine the client may be too slow to measure it,
    # and then the baseline says nothing about the rate (later runs do not compare it).
    assert "rate" not in limiting or 80 <= limiting["rate"] <= 120, limiting
    run = json.loads((only_run_dir(tmp_path / "a") / "run.json").read_text())
    assert run["profile"] == recorded and run["profile_differences"] == []
    with running_server() as unlimited:
        env = _accounts(unlimited.url)
        common = ["--base-url", unlimited.url, "--families", "headers", "--workers", "0"]
        gated = mmv3_check(*common, "--reports", str(tmp_path / "c"), "--expect", str(baseline), env=env)
        strict = mmv3_check(*common, "--reports", str(tmp_path / "d"), "--ratelimit", "on", env=env)
    assert gated.returncode == exitcodes.CONFORMANCE_FAILED, gated.stdout + gated.stderr
    assert f"target profile differs from {baseline}:" in gated.stdout
    assert "rate limiting: expected on (Limit 21" in gated.stdout and "found off" in gated.stdout
    run = json.loads((only_run_dir(tmp_path / "c") / "run.json").read_text())
    assert run["profile"]["rate_limit"] == {"enabled": False} and len(run["profile_differences"]) == 1
    environment = (only_run_dir(tmp_path / "c") / "allure-results" / "environment.properties").read_text()
    assert "rate limiting off" in environment
    assert strict.returncode == exitcodes.CONFORMANCE_FAILED, strict.stdout + strict.stderr
    assert "rate limiting: --mm-ratelimit on, found off" in strict.stdout


@pytest.mark.slow
def test_bad_credentials_exit_6(tmp_path):
    with running_server() as server:
        env = _accounts(server.url)
        env["MMV3_PASSWORD"] = "not-the-password"
        done = mmv3_check(
            "--base-url", server.url, "--families", "headers", "--reports", str(tmp_path), env=env
        )
    assert done.returncode == exitcodes.CREDENTIALS, done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    assert "not-the-password" not in done.stdout + done.stderr


@pytest.mark.slow
@pytest.mark.parametrize(("kind", "code"), [("hang", exitcodes.UNREACHABLE), ("html", exitcodes.NOT_V3)])
def test_hostile_targets_give_one_line_and_their_code(kind, code, tmp_path):
    env = {"MMV3_USER": "u", "MMV3_PASSWORD": "p", "MMV3_TIMEOUT": "2", "MMV3_CONNECT_TIMEOUT": "2"}
    with hostile_server(kind) as url:
        done = mmv3_check("--base-url", url, "--reports", str(tmp_path), env=env, timeout=120)
    assert done.returncode == code, done.stdout + done.stderr
    errors = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(errors) == 1 and errors[0].startswith("mmv3 check: conformance: "), done.stderr
    assert "Traceback" not in done.stdout + done.stderr


@pytest.mark.slow
def test_dead_target_exit_4(tmp_path):
    with running_server() as server:
        url = server.url  # a port that was just free and is closed again below
    done = mmv3_check(
        "--base-url", url, "--reports", str(tmp_path), env={"MMV3_USER": "u", "MMV3_PASSWORD": "p"}
    )
    assert done.returncode == exitcodes.UNREACHABLE, done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr


@pytest.mark.slow
def test_load_run_breaching_a_threshold_exits_3_with_junit(tmp_path):
    strict = tmp_path / "strict.yaml"
    strict.write_text("latency_ms:\n  Aggregated: {p50: 0}\n")  # no real server answers in 0 ms
    # Two accounts: provisioning (and its wait for a full bucket) must leave the 8 s time to send,
    # or the run is empty (exit 9), not a breach.
    done = mmv3_check(
        "--families", "headers", "--load", "Poster", "--load-time", "8s", "--load-users", "2",
        "--thresholds", str(strict), "--reports", str(tmp_path / "r"),
        env={"MMV3_POOL_SIZE": "2"},
    )  # fmt: skip
    assert done.returncode == exitcodes.THRESHOLDS_BREACHED, done.stdout + done.stderr
    run_dir = only_run_dir(tmp_path / "r")
    assert json.loads((run_dir / "load" / "summary.json").read_text())["locust"]["requests"] > 0
    suite = ET.parse(run_dir / "junit-load.xml").getroot().find("testsuite")
    assert suite.get("failures") == "1", ET.tostring(suite)
    assert (run_dir / "load" / "summary.json").is_file()
    assert "load: " in done.stdout and "threshold breached" in done.stdout


def test_the_example_ci_workflow_uses_real_options_and_files():
    """The CI example must keep working as mmv3 changes: its `mmv3 check` line parses, and the
    files it names exist."""
    import shlex

    from mmv3.cli import build_parser

    root = Path(__file__).resolve().parent.parent
    workflow = yaml.safe_load((root / ".github/workflows/conformance.yml").read_text())
    steps = workflow["jobs"]["conformance"]["steps"]
    serve = next(s["run"] for s in steps if "mmv3 serve" in s.get("run", ""))
    serve_line = next(line for line in serve.splitlines() if line.strip().startswith("mmv3 serve"))
    serve_words = shlex.split(
        serve_line.split(">")[0].replace('"$MMV3_ADMIN"', "a").replace('"$MMV3_USER"', "u")
    )
    serve_args = build_parser().parse_args(serve_words[1:])
    assert (serve_args.admin, serve_args.user) == ("a", "u"), "the example server makes no accounts"
    script = next(s["run"] for s in steps if "mmv3 check" in s.get("run", ""))
    line = script.replace("\\\n", " ").strip()
    words = shlex.split(line.replace("${{ github.run_id }}", "1"))
    assert words[:2] == ["mmv3", "check"]
    args = build_parser().parse_args(words[1:])
    assert args.expect and (root / args.expect).is_file()
    assert args.thresholds and (root / args.thresholds).is_file()
    assert args.load in check.SCENARIOS and args.report
    from mmv3.suite import expectations

    assert expectations.load(root / args.expect).deviations == []
    from mmv3.report import ALLURE_VERSION

    assert f"allure@{ALLURE_VERSION}" in json.dumps(steps), "the workflow installs another Allure CLI"


@pytest.mark.slow
def test_nothing_judged_by_either_step_exits_9(tmp_path):
    """`--families ratelimit` against a server that does not rate-limit judges nothing; so does a
    load run whose thresholds ask only the (idle) rate-limit oracle. One line each, exit 9."""
    ratelimit_only = tmp_path / "ratelimit-only.yaml"
    ratelimit_only.write_text("ratelimit:\n  burst_within: 2\n  oracle: all\n")
    with running_server() as server:
        env = _accounts(server.url)
        done = mmv3_check(
            "--base-url", server.url, "--families", "ratelimit", "-n", "0",
            "--load", "Poster", "--load-time", "4s", "--load-users", "2",
            "--thresholds", str(ratelimit_only), "--reports", str(tmp_path / "r"),
            env=env,
        )  # fmt: skip
    assert done.returncode == exitcodes.NOTHING_JUDGED, done.stdout + done.stderr
    errors = [line for line in done.stderr.splitlines() if line.strip()]
    assert errors[0].startswith("mmv3 check: conformance: nothing judged: all "), errors
    assert "selected checks were skipped" in errors[0]
    assert errors[1].startswith("mmv3 check: load: nothing judged: every threshold of"), errors
    assert len(errors) == 2 and "Traceback" not in done.stdout + done.stderr
    run = json.loads((only_run_dir(tmp_path / "r") / check.RUN_FILE).read_text())
    assert [s["exit_code"] for s in run["steps"]] == [16, 10]


def test_an_admin_password_without_an_admin_is_ignored(tmp_path: Path) -> None:
    """README §1 exports MMV3_ADMIN_PASSWORD as optional: with no --admin it must not stop the run
    (here the target is unreachable, and that is what the one line must say)."""
    env = {"MMV3_ADMIN_PASSWORD": "x", "MMV3_PASSWORD": "y"}
    result = mmv3_check(
        "--base-url", "http://127.0.0.1:1", "--user", "u", "--reports", str(tmp_path), env=env
    )
    assert result.returncode == exitcodes.UNREACHABLE, result.stderr
    assert "cannot reach http://127.0.0.1:1" in result.stderr and "--mm-" not in result.stderr
    assert "mmv3 report" not in result.stdout  # nothing to show: the report is not advertised


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--base-url", "http://127.0.0.1:99999", "--user", "u"], {"MMV3_PASSWORD": "y"}, "no valid port"),
        (["--base-url", "http://127.0.0.1:1"], {}, "--base-url needs --user LOGIN"),
        (["--base-url", "http://127.0.0.1:1", "--user", "u", "--admin", "a"], {"MMV3_PASSWORD": "y"},
         "--admin a needs its password in $MMV3_ADMIN_PASSWORD"),
        (["--bogus"], {}, "usage: mmv3 check"),
    ],
)  # fmt: skip
def test_usage_errors_speak_mmv3_checks_own_options(tmp_path: Path, args, env, message) -> None:
    result = mmv3_check(*args, "--reports", str(tmp_path), env=env, timeout=60)
    assert result.returncode == exitcodes.USAGE
    assert message in result.stderr and "--mm-" not in result.stderr and "pytest" not in result.stderr
