"""The web UI in a real browser (Playwright driving Debian's Chromium): `locust -f
loadtests/locustfile.py` with no --host starts `mmv3 serve` itself; a run started from the form
shows its 429s in the "Rate limit" tab and stops from the STOP button."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time
import urllib.request

import pytest

from tests.browser import ARGS, CHROMIUM, require_chromium
from tests.load.locust_runs import clean_environment, command, free_port


def _wait_for(url: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.2)


def _reachable(url: str) -> bool:
    try:
        urllib.request.urlopen(url + "/api/v3/general/ping", timeout=2).close()
    except OSError:
        return False
    return True


@pytest.fixture
def web_ui(tmp_path):
    port = free_port()
    process = subprocess.Popen(
        command(
            "--web-host",
            "127.0.0.1",
            "--web-port",
            str(port),
            "--mmv3-pool-size",
            "4",
            "--mmv3-report-dir",
            str(tmp_path / "reports"),
            "--mmv3-run-name",
            "ui",
            "--mmv3-allure-dir",
            "none",
            "--mmv3-no-plots",
            "Poster",
        ),  # fmt: skip
        cwd=tmp_path,
        env=clean_environment(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_for(url + "/", 30)
        yield url, tmp_path, process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()


def test_rate_limit_tab_counts_429s(web_ui) -> None:
    require_chromium()
    from playwright.sync_api import expect, sync_playwright

    url, workdir, process = web_ui
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(url + "/")
            host = page.locator("input[name=host]").input_value()
            assert re.fullmatch(r"http://127\.0\.0\.1:\d+", host), host  # the embedded mmv3 serve
            page.fill("input[name=userCount]", "10")
            page.fill("input[name=spawnRate]", "10")
            page.get_by_role("button", name="Start").click()

            page.get_by_role("tab", name="Rate limit").click()
            throttled = page.get_by_role("row").filter(has_text="throttled (429) in total")
            expect(throttled).to_be_visible(timeout=15_000)
            deadline = time.monotonic() + 40
            count = 0
            while time.monotonic() < deadline:
                count = int(throttled.locator("td").nth(1).inner_text().strip() or 0)
                if count > 0:
                    break
                page.wait_for_timeout(500)
            assert count > 0, page.inner_text("body")
            verdict = page.get_by_role("row").filter(has_text="oracle verdict")
            expect(verdict).to_be_visible()

            page.get_by_role("button", name="Stop").click()
            expect(page.get_by_text("STOPPED", exact=False).first).to_be_visible(timeout=30_000)
        finally:
            browser.close()

    summary = workdir / "reports" / "ui" / "summary.json"
    deadline = time.monotonic() + 30
    while not summary.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    data = json.loads(summary.read_text())
    assert data["reason"] == "stopped" and data["totals"]["throttled"] >= count
    assert data["target"] == host

    process.send_signal(signal.SIGTERM)
    process.communicate(timeout=30)
    assert not _reachable(host), "the embedded mmv3 serve outlived Locust"
