"""The web UI in a real browser (Playwright driving Debian's Chromium): `locust -f
loadtests/locustfile.py` with no --host starts `mmv3 serve` itself; a run started from the form
shows its 429s in the "Rate limit" tab and stops from the STOP button; the tab's chart draws the
run, and the form's custom parameters read as words and reach the run."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time
import urllib.request

import pytest

from tests.browser import ARGS, CHROMIUM, require_chromium
from tests.load.locust_runs import REPO, clean_environment, command, free_port

SCREENSHOT = REPO / "reports" / "webui-ratelimit-chart.png"


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


def _start(tmp_path, *extra: str, env: dict[str, str] | None = None):
    """`locust -f loadtests/locustfile.py` with its web UI on a free port of 127.0.0.1 (no --host:
    it starts `mmv3 serve` itself)."""
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
            *extra,
            "Poster",
        ),  # fmt: skip
        cwd=tmp_path,
        env={**clean_environment(), **(env or {})},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    return f"http://127.0.0.1:{port}", process


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        process.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()


@pytest.fixture
def web_ui(tmp_path):
    url, process = _start(tmp_path)
    try:
        _wait_for(url + "/", 30)
        yield url, tmp_path, process
    finally:
        _stop(process)


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


# A burst of 20 (not Mattermost's 100): the first 429 comes within seconds of the start.
SMALL_BURST = {"MMV3_SERVE": "--rate-limit 10/20"}


def _series_until(url: str, ready, seconds: float) -> dict:
    deadline = time.monotonic() + seconds
    while True:
        with urllib.request.urlopen(url + "/mmv3/ratelimit/series", timeout=5) as response:
            series = json.loads(response.read())
        if ready(series) or time.monotonic() > deadline:
            return series
        time.sleep(0.5)


def test_the_chart_series_endpoint_returns_the_run(tmp_path) -> None:
    """What the chart polls, from a run the web UI started itself (--autostart, bounded by -t and
    a request cap); no browser needed."""
    url, process = _start(
        tmp_path, "--autostart", "-u", "10", "-r", "10", "-t", "25s", "--mmv3-max-requests", "400",
        env=SMALL_BURST,
    )  # fmt: skip
    try:
        _wait_for(url + "/", 30)
        series = _series_until(url, lambda s: s["first_429"] and len(s["points"]) >= 4, 40)
    finally:
        _stop(process)
    points = series["points"]
    assert series["first_429"] is not None, series
    assert len(points) >= 4 and [p["t"] for p in points] == list(range(points[0]["t"], points[-1]["t"] + 1))
    assert all(p["offered"] >= p["accepted"] + p["throttled"] for p in points)
    assert sum(p["throttled"] for p in points) > 0 and sum(p["accepted"] for p in points) >= 21
    assert series["refill_rate"] is not None and abs(series["refill_rate"] - 10) < 1, series
    assert series["refill_rate_origin"] == "advertised" and series["limit"] == 21
    assert series["first_429"]["admitted_before"] >= 21 - 2
    assert series["unit"].startswith("requests per second")


LABEL = re.compile(r"[A-Z][a-z]+( [A-Z][a-z]+)* \(.+\)")


def test_rate_limit_chart_and_form_labels(tmp_path) -> None:
    """The form's custom parameters read as words, a value typed there reaches the run (its
    request cap ends it), and the Rate limit tab draws offered, accepted and throttled req/s
    with the refill line and the first 429 above the verdict table."""
    require_chromium()
    from playwright.sync_api import expect, sync_playwright

    url, process = _start(tmp_path, env=SMALL_BURST)
    try:
        _wait_for(url + "/", 30)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
            try:
                page = browser.new_page(viewport={"width": 1400, "height": 1100})
                errors: list[str] = []
                page.on("pageerror", lambda exc: errors.append(str(exc)))
                page.goto(url + "/")
                page.get_by_text("Custom parameters").click()
                cap = page.get_by_label(re.compile(r"^Max Requests \(stop the run after"))
                expect(cap).to_be_visible()
                labels = page.evaluate(
                    """() => [...document.querySelectorAll('label')]
                        .filter(l => l.querySelector('input') || l.htmlFor)
                        .map(l => l.innerText.trim()).filter(Boolean)"""
                )
                custom = [
                    text for text in labels if "(" in text and not text.startswith(("Number of", "Ramp up"))
                ]
                assert len(custom) > 20, labels
                assert [text for text in custom if not LABEL.fullmatch(text) or "Mmv" in text] == []
                assert any(text.startswith("Throttled As Failures (count 429s") for text in custom), custom
                page.screenshot(path=str(SCREENSHOT.with_name("webui-custom-parameters.png")), full_page=True)

                cap.fill("300")
                page.fill("input[name=userCount]", "10")
                page.fill("input[name=spawnRate]", "10")
                page.get_by_role("button", name="Start").click()
                page.get_by_role("tab", name="Rate limit").click()
                # Provisioning (accounts, then a wait for a full bucket) takes seconds, while Locust
                # still calls its runner "ready": the page must not fall back to its start form.
                form = page.get_by_text("Start new load test")
                deadline = time.monotonic() + 6
                while time.monotonic() < deadline:
                    assert not form.is_visible(), "the start form came back while the run provisioned"
                    page.wait_for_timeout(250)

                chart = page.locator("#mmv3-ratelimit-chart")
                expect(chart).to_be_visible(timeout=15_000)
                marker = chart.locator("[data-marker=first-429]")
                try:
                    expect(marker).to_have_count(1, timeout=45_000)
                finally:
                    assert errors == []
                expect(chart.locator("[data-line=refill-rate]")).to_have_count(1)
                # The first 429 may fall in the run's first one-second bin: wait (bounded) for the
                # chart to draw a second bin of every series before counting its points.
                page.wait_for_function(
                    """() => ['offered', 'accepted', 'throttled'].every(key => {
                        const line = document.querySelector(`#mmv3-ratelimit-chart polyline[data-series=${key}]`);
                        return line && line.getAttribute('points').trim().split(/\\s+/).length >= 2;
                    })""",
                    timeout=30_000,
                )
                drawn = {
                    key: len(chart.locator(f"polyline[data-series={key}]").get_attribute("points").split())
                    for key in ("offered", "accepted", "throttled")
                }
                assert min(drawn.values()) >= 2, drawn
                # the verdict table stays, right under the chart
                below = page.evaluate(
                    "() => document.getElementById('mmv3-ratelimit-chart').nextElementSibling.innerText"
                )
                assert "Rate limit" in below and "oracle verdict" in below
                expect(chart).to_contain_text("refill rate")
                expect(chart).to_contain_text("first 429")

                # the form's request cap (not the default run time of 60 s) ends the run; the chart
                # then shows every second of it
                expect(chart.locator(".mmv3-chart-status")).to_contain_text(": stopped", timeout=60_000)
                page.wait_for_function("() => document.body.innerText.includes('STOPPED')", timeout=10_000)
                SCREENSHOT.parent.mkdir(exist_ok=True)
                page.screenshot(path=str(SCREENSHOT), full_page=True)
                assert errors == []
            finally:
                browser.close()
        summary = tmp_path / "reports" / "ui" / "summary.json"
        deadline = time.monotonic() + 30
        while not summary.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        data = json.loads(summary.read_text())
    finally:
        _stop(process)
    assert data["settings"]["max_requests"] == 300
    assert 300 <= data["totals"]["offered"] <= 300 + 10  # users stop at their next request
    assert data["totals"]["throttled"] > 0
