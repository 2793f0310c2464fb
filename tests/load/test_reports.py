"""The run's files: PNG plots and Allure result JSON."""

from __future__ import annotations

import json

from mmv3.load.allure_results import EPIC, Result, write_results
from mmv3.load.plots import LATENCY_PNG, RATES_PNG, REMAINING_PNG, write_plots
from mmv3.ratelimit import Quota
from tests.load.synthetic import poisson_times, replay

PNG = b"\x89PNG\r\n\x1a\n"


def test_plots_are_pngs(tmp_path) -> None:
    rows = replay(poisson_times(40, 6), Quota(10, 20)).timeline()
    written = write_plots(rows, tmp_path, advertised_rate=10, limit=21, first_429_after=0.7)
    assert [p.name for p in written] == [RATES_PNG, LATENCY_PNG, REMAINING_PNG]
    for path in written:
        assert path.read_bytes().startswith(PNG) and path.stat().st_size > 5000


def test_plots_without_headers(tmp_path) -> None:
    rows = replay(poisson_times(10, 3), None).timeline()
    assert all(p.read_bytes().startswith(PNG) for p in write_plots(rows, tmp_path))


def test_allure_results(tmp_path) -> None:
    attachment = tmp_path / "timeline.csv"
    attachment.write_text("t,offered\n0,1\n")
    results = [
        Result("burst", "passed", "burst admitted 100", "rate-limit oracle"),
        Result("latency p95 Aggregated", "failed", "p95 400 ms (limit 100 ms)", "threshold"),
    ]
    out = tmp_path / "allure"
    paths = write_results(
        out, results, run="r1", attachments=[attachment], start_ms=1, stop_ms=2, target="http://h"
    )
    bodies = [json.loads(p.read_text()) for p in paths]
    assert [b["status"] for b in bodies] == ["passed", "failed"]
    failed = bodies[1]
    assert failed["statusDetails"]["message"] == "p95 400 ms (limit 100 ms)"
    labels = {label["name"]: label["value"] for label in failed["labels"]}
    assert labels["epic"] == EPIC and labels["story"] == "threshold" and labels["subSuite"] == "r1"
    (attached,) = failed["attachments"]
    assert attached["type"] == "text/csv" and (out / attached["source"]).read_text().startswith("t,offered")
    assert bodies[0]["historyId"] != bodies[1]["historyId"]
    # the same test in the next run keeps its history id
    again = json.loads(write_results(out, results[:1], run="r2", start_ms=3, stop_ms=4)[0].read_text())
    assert again["historyId"] == bodies[0]["historyId"]
