"""The report in a real browser (Playwright driving Debian's Chromium), built by the real Allure 3 CLI
from real results: a conformance subset and a short Locust run, written into one run directory as
`mmv3 check` does. Opened from file://, the report shows both, a second run's report shows the
first in its trend, nothing is fetched from the network, and no password or token is in the file.

Both targets are reference servers in this process behind the secret tap of the suite's own
no-secret test, which notes every password and session token that crosses the wire.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import io
import json
import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest

from mmv3.report import AllureMissing, add_report_arguments, build_report, find_allure, run_report_command
from mmv3.server.app import ReferenceServer
from mmv3.server.config import Config, ServerOptions
from mmv3.server.runner import RunningServer
from tests.browser import ARGS, CHROMIUM, missing_tool, require_chromium
from tests.load.locust_runs import Run, locust
from tests.report.allure_html import embedded_files, trend_points
from tests.suite.conformance_run import SuiteRun, run_suite
from tests.suite.secret_tap import SecretTap, create_account

pytestmark = pytest.mark.slow

FIRST, SECOND = "20261127-010000", "20261127-020000"
ROUTE = "POST /api/v3/users/login"  # a route the headers family checks


@dataclass
class Built:
    reports: Path
    first: Path
    second: Path
    secrets: set[str]
    printed: str


def _tapped_server(per_sec: int, burst: int) -> tuple[SecretTap, RunningServer]:
    config = Config({"TeamSettings": {"EnableOpenServer": True}})
    config["RateLimitSettings.Enable"] = True
    config["RateLimitSettings.PerSec"] = per_sec
    config["RateLimitSettings.MaxBurst"] = burst
    tap = SecretTap(ReferenceServer(config, ServerOptions(db=":memory:", bcrypt_cost=4)))
    return tap, RunningServer(tap).start()  # type: ignore[arg-type]  # any WSGI app with a store


def _results(run_dir: Path, suite: str) -> int:
    count = 0
    for path in (run_dir / "allure-results").glob("*-result.json"):
        labels = json.loads(path.read_text())["labels"]
        count += {"name": "parentSuite", "value": suite} in labels
    return count


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Built:
    """Built once per session, even across xdist workers (as tests.load.locust_runs.shared_run)."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # shared by the workers of one session
    record = root / "report-browser.json"
    with open(root / "report-browser.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if record.exists():
            data = json.loads(record.read_text())
            return Built(
                *(Path(data[k]) for k in ("reports", "first", "second")),
                set(data["secrets"]),
                data["printed"],
            )
        made = _build(root / "report-browser")
        record.write_text(
            json.dumps({**{k: str(v) for k, v in vars(made).items()}, "secrets": sorted(made.secrets)})
        )
        return made


def _build(reports: Path) -> Built:
    try:
        allure = find_allure()
    except AllureMissing as exc:
        missing_tool(str(exc))
    reports.mkdir()
    first = reports / FIRST
    first.mkdir()
    suite_tap, suite_server = _tapped_server(500, 100)
    load_tap, load_server = _tapped_server(10, 20)  # Locust meets the limiter within the run
    try:
        admin, admin_password = create_account(suite_server.url, "repadmin")  # the first account is the admin
        user, password = create_account(suite_server.url, "repuser")
        load_admin, load_password = create_account(load_server.url, "loadadmin")
        suite_env = {
            "MMV3_USER": user,
            "MMV3_PASSWORD": password,
            "MMV3_ADMIN": admin,
            "MMV3_ADMIN_PASSWORD": admin_password,
        }
        with ThreadPoolExecutor(2) as pool:  # both write into the run's one allure-results/
            suite = pool.submit(
                run_suite,
                [
                    "--base-url",
                    suite_server.url,
                    "-m",
                    "headers",
                    "--alluredir",
                    str(first / "allure-results"),
                ],
                reports=first,
                env=suite_env,
                timeout=120,
            )
            load = pool.submit(
                locust,
                first,
                "Poster",
                "-u", "4", "-r", "4", "-t", "4s",
                "--mmv3-pool-size", "2",
                host=load_server.url,
                run_name="poster",
                timeout=90,
                env={"MMV3_ADMIN": load_admin, "MMV3_ADMIN_PASSWORD": load_password},
            )  # fmt: skip
            suite_run: SuiteRun = suite.result()
            load_run: Run = load.result()
    finally:
        suite_server.stop()
        load_server.stop()
    assert suite_run.returncode == 0, suite_run.tail()
    assert load_run.returncode in (0, 1), load_run.describe()  # 1: Locust's own rule on a failed request
    assert _results(first, "headers") > 50 and _results(first, "load") > 5, "a run wrote no results"
    (first / "run.json").write_text(json.dumps({"run_id": FIRST, "target": suite_server.url}))

    second = reports / SECOND  # the next run: same results, its own run directory
    shutil.copytree(first / "allure-results", second / "allure-results")
    (second / "run.json").write_text(json.dumps({"run_id": SECOND, "target": suite_server.url}))

    build_report(first, reports, allure=allure)
    parser = argparse.ArgumentParser()
    add_report_arguments(parser)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):  # `mmv3 report --reports DIR`: the newest run
        assert (
            run_report_command(parser.parse_args(["--reports", str(reports), "--allure", str(allure)])) == 0
        )
    return Built(reports, first, second, suite_tap.seen | load_tap.seen, printed.getvalue())


@pytest.fixture(scope="module")
def browser():
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def _open(browser, report: Path, fragment: str = ""):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    fetched: list[str] = []
    page.on("request", lambda request: fetched.append(request.url))
    page.goto(report.resolve().as_uri() + fragment)
    return page, fetched


def test_the_second_report_is_printed_in_one_line(built) -> None:
    assert built.printed.startswith(f"mmv3 report: {built.second / 'report.html'} ("), built.printed
    assert built.printed.count("\n") == 1 and built.printed.endswith(", trend over 1 earlier run)\n")


def test_conformance_and_load_results_are_in_the_report(built, browser) -> None:
    from playwright.sync_api import expect

    page, fetched = _open(browser, built.second / "report.html")
    try:
        tree = page.locator("#app")
        expect(tree.get_by_text("headers", exact=True)).to_be_visible(timeout=15_000)
        expect(tree.get_by_text("load", exact=True)).to_be_visible()

        page.get_by_placeholder("Search tests").fill(ROUTE)
        # the suites tree: check family → route group → route → check
        tree.get_by_text("headers", exact=True).click()
        tree.get_by_text("users", exact=True).click()
        tree.get_by_text(ROUTE, exact=True).first.click()
        tree.get_by_text(f"test_version_id[{ROUTE}]", exact=True).click()
        expect(page.get_by_text("Mattermost API v3", exact=True)).to_be_visible()
        expect(page.get_by_text(ROUTE, exact=True).first).to_be_visible()
        # each test remembers the run before: its History tab counts one result
        expect(page.get_by_role("button", name="History 1", exact=True)).to_be_visible()

        page.goto((built.second / "report.html").resolve().as_uri())
        page.get_by_placeholder("Search tests").fill("limiter_active")
        tree.get_by_text("load", exact=True).click()
        tree.get_by_text("rate-limit oracle", exact=True).click()
        tree.get_by_text("poster", exact=True).click()  # the run name is the sub-suite
        tree.get_by_text("rate-limit oracle: limiter_active", exact=True).click()
        expect(page.get_by_text("Load and rate limiting", exact=True)).to_be_visible()
    finally:
        page.close()
    assert fetched and all(url.startswith(("file:", "data:", "blob:")) for url in fetched), fetched


def test_the_second_report_shows_the_first_in_its_trend(built, browser) -> None:
    from playwright.sync_api import expect

    assert trend_points(built.first / "report.html") == ["current"]
    assert trend_points(built.second / "report.html") == [f"mmv3 {FIRST}", "current"]
    for report, with_history in ((built.first, False), (built.second, True)):
        page, _ = _open(browser, report / "report.html", "#charts")
        try:
            widget = page.locator("div[data-drop-shadow]").filter(
                has=page.get_by_text("Status dynamics", exact=True)
            )
            expect(widget).to_be_visible(timeout=15_000)
            if with_history:
                expect(widget).to_contain_text("Latest")  # the run itself, after the one before it
                expect(widget).not_to_contain_text("No history information available")
            else:
                expect(widget).to_contain_text("No history information available")
        finally:
            page.close()


def test_no_password_or_token_is_in_the_report(built) -> None:
    spellings = {
        form
        for secret in built.secrets
        if len(secret) >= 6
        for form in (secret, json.dumps(secret)[1:-1], quote(secret, safe=""), quote_plus(secret))
    }
    assert len(spellings) > 20, "the taps saw too few secrets for this test to mean anything"
    leaks = []
    for report in (built.first / "report.html", built.second / "report.html"):
        texts = {"report.html": report.read_text("utf-8")}
        texts.update({name: data.decode("utf-8", "replace") for name, data in embedded_files(report).items()})
        assert len(texts) > 100, "the report embeds too few files: not an Allure single-file report?"
        leaks += [
            f"{report.parent.name}/{name}: …{s[:4]}…"
            for name, text in texts.items()
            for s in spellings
            if s in text
        ]
    for history in (built.reports / "history").glob("*.jsonl"):
        leaks += [f"history: …{s[:4]}…" for s in spellings if s in history.read_text("utf-8")]
    assert not leaks, f"{len(leaks)} secrets in the report:\n" + "\n".join(sorted(set(leaks))[:20])
