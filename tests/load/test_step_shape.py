"""StepShape: the offered rate steps below, at and above the server's limit (open model)."""

from __future__ import annotations

from mmv3.server import running_server
from tests.load.locust_runs import LOCUSTFILE, SHAPES, locust

STEPS = ((0.5, 5), (1, 5), (3, 5))  # factor of 20/s, seconds


def test_steps_below_at_and_above_the_limit(tmp_path) -> None:
    with running_server(rate_limit="20/20") as server:
        run = locust(
            tmp_path,
            "Poster",
            "--mmv3-steps", ",".join(f"{f}x{s}" for f, s in STEPS),
            "--mmv3-step-rate", "20",
            "--mmv3-pool-size", "4",
            "--mmv3-channels", "0",
            host=server.url,
            locustfile=f"{LOCUSTFILE},{SHAPES}",
            timeout=90,
        )  # fmt: skip
    assert run.returncode == 0, run.describe()
    assert "Shape test stopping" in run.stderr
    summary = run.summary
    start = summary["started_epoch"]
    rows = (run.run_dir / "timeline.csv").read_text().splitlines()
    header = rows[0].split(",")
    table = [dict(zip(header, line.split(","), strict=True)) for line in rows[1:]]

    def stage(number: int) -> list[dict[str, str]]:
        begin = (
            start + sum(s for _, s in STEPS[:number]) + 2
        )  # skip the shape's tick (1 s) and the new users' logins
        end = start + sum(s for _, s in STEPS[: number + 1]) - 0.5
        return [r for r in table if begin <= int(r["second"]) and int(r["second"]) + 1 <= end]

    below, at, above = stage(0), stage(1), stage(2)
    assert below and at and above
    for rows_, rate in ((below, 10), (at, 20), (above, 60)):
        offered = sum(int(r["offered"]) for r in rows_) / len(rows_)
        assert abs(offered - rate) <= 0.2 * rate + 1, (rate, rows_)
    assert sum(int(r["throttled"]) for r in below + at) == 0
    assert sum(int(r["throttled"]) for r in above) > 0
    assert sum(int(r["accepted"]) for r in above) / len(above) <= 20 + 2
