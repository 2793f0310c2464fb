"""The series the web UI's rate-limit chart draws (`/mmv3/ratelimit/series`), on synthetic traffic
answered by a GCRA: per-second offered / accepted / throttled, the refill line, the first 429."""

from __future__ import annotations

from mmv3.load.live_chart import chart_series
from mmv3.load.oracle import evaluate
from mmv3.ratelimit import Quota
from tests.load.synthetic import T0, poisson_times, replay

QUOTA = Quota(per_sec=10, max_burst=20)


def test_series_of_a_throttled_run() -> None:
    times = poisson_times(30, 20, start=T0 + 0.6)  # the first request 0.6 s into its second
    acc = replay(times, QUOTA)
    series = chart_series(acc, evaluate(acc))
    points = series["points"]
    assert [p["t"] for p in points] == list(range(len(points))) and len(points) >= 20
    assert sum(p["offered"] for p in points) == len(times)
    assert all(p["offered"] == p["accepted"] + p["throttled"] for p in points)
    assert series["refill_rate"] is not None and abs(series["refill_rate"] - 10) < 0.5
    assert series["refill_rate_origin"] == "advertised" and series["limit"] == 21
    first = series["first_429"]
    # 21 admitted at once, then 10/s: the first 429 comes within the first 3 seconds
    assert first is not None and 0.5 < first["after_s"] < 3 and first["admitted_before"] >= 21
    assert series["start_epoch"] == int(T0) and series["first_request_offset"] == 0.6
    second = int(first["after_s"] + series["first_request_offset"])  # the bin it falls in
    assert points[second]["throttled"] > 0
    assert all(p["throttled"] == 0 for p in points[:second])
    assert first["after_s"] == round(evaluate(acc).first_429_after, 3)  # the table's figure
    late = points[5:-1]  # throttled: about 10 accepted per second, the rest 429s
    assert 8 <= sum(p["accepted"] for p in late) / len(late) <= 12


def test_a_running_series_leaves_out_the_second_in_progress() -> None:
    acc = replay(poisson_times(30, 10), QUOTA)
    oracle = evaluate(acc)
    now = T0 + 5.5
    running = chart_series(acc, oracle, now=now)
    assert running["points"][-1]["t"] == 4  # seconds 0..4 are complete, 5 is still filling
    assert len(chart_series(acc, oracle, window=3)["points"]) == 3
    assert chart_series(acc, oracle, window=3)["points"][0]["t"] == 7  # t keeps its origin


def test_without_a_limiter_no_429_no_refill_line_unless_expected() -> None:
    acc = replay(poisson_times(5, 5), None)
    series = chart_series(acc, evaluate(acc))
    assert series["first_429"] is None and series["refill_rate"] is None and series["points"]
    expected = chart_series(acc, evaluate(acc), expected=QUOTA)
    assert expected["refill_rate"] == 10 and expected["refill_rate_origin"] == "expected"


def test_an_empty_run_has_an_empty_series() -> None:
    from mmv3.load.accounting import Accounting

    acc = Accounting()
    series = chart_series(acc, evaluate(acc), now=T0)
    assert series["points"] == [] and series["first_429"] is None and series["start_epoch"] is None
