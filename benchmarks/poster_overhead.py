"""Benchmark: the Poster scenario with full 429 accounting against a bare FastHttpUser posting the
same requests, side by side in one Locust run (equal numbers of users), against `mmv3 serve`.

    python benchmarks/poster_overhead.py                      # no rate limit, then rate limit 10/100
    python benchmarks/poster_overhead.py --users 20 --seconds 30

Prints each case's request rates and their ratio (goal: Poster >= 80 % of the bare rate), each
class run alone with the Locust process's CPU time per request (what the accounting costs when the
load generator, not the server, is the bottleneck), and the cost of one Accounting.record call.
Results go in benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import csv
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
POST = "/api/v3/teams/{team_id}/channels/{channel_id}/posts/create"


def serve(rate_limit: str | None) -> tuple[subprocess.Popen, str]:
    limit = ["--rate-limit", rate_limit] if rate_limit else ["--no-rate-limit"]
    command = [
        sys.executable,
        "-m",
        "mmv3.cli",
        "serve",
        "--port",
        "0",
        "--db",
        ":memory:",
        "--bcrypt-cost",
        "4",
        *limit,
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    line = process.stdout.readline() if process.stdout else ""
    match = re.search(r"listening on (http://\S+)", line)
    if not match:
        process.kill()
        raise SystemExit(f"mmv3 serve did not start: {line.strip()}")
    return process, match.group(1)


def run_case(rate_limit: str | None, users: int, seconds: int, classes: tuple[str, ...]) -> dict[str, float]:
    """One Locust run of `classes` (users of each); request rates and the Locust process's CPU time."""
    server, url = serve(rate_limit)
    try:
        with tempfile.TemporaryDirectory() as work:
            locustfiles = f"{REPO / 'loadtests' / 'locustfile.py'},{REPO / 'benchmarks' / 'bare_poster.py'}"
            command = [
                sys.executable, "-m", "locust", "-f", locustfiles, "--headless", "--only-summary",
                "--host", url, "-u", str(len(classes) * users), "-r", str(len(classes) * users), "-t", f"{seconds}s",
                "--csv", f"{work}/bench", "--mmv3-wait", "0", "--mmv3-retry-after", "ignore",
                "--mmv3-pool-size", str(users), "--mmv3-channels", "0", "--mmv3-no-probe", "--mmv3-no-plots",
                "--mmv3-report-dir", f"{work}/reports", "--mmv3-allure-dir", "none",
                *classes,
            ]  # fmt: skip
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            done = subprocess.run(command, cwd=work, capture_output=True, text=True, timeout=seconds + 120)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            if done.returncode not in (0, 1):
                raise SystemExit(f"locust failed ({done.returncode}):\n{done.stderr[-2000:]}")
            with open(f"{work}/bench_stats.csv", newline="") as handle:
                rows = {(r["Type"], r["Name"]): r for r in csv.DictReader(handle)}
    finally:
        server.terminate()
        server.wait(timeout=10)

    def rate(*keys: tuple[str, str]) -> float:
        return sum(float(rows[k]["Requests/s"]) for k in keys if k in rows)

    poster = rate(("POST", POST), ("throttled", POST))
    bare = rate(("POST", "bare " + POST))
    total = sum(int(r["Request Count"]) for k, r in rows.items() if k[1] != "Aggregated")
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return {
        "poster_rps": poster,
        "bare_rps": bare,
        "ratio": poster / bare if bare else float("nan"),
        "cpu_us_per_request": cpu / total * 1e6 if total else float("nan"),
    }


def record_cost(calls: int = 200_000) -> float:
    """Microseconds per Accounting.record of a 429 (the most work: headers, type and body checks)."""
    sys.path.insert(0, str(REPO / "src"))
    from mmv3.load.accounting import Accounting

    acc = Accounting()
    started = time.perf_counter()
    for i in range(calls):
        acc.record(
            sent=1_700_000_000 + i / 1000,
            elapsed_ms=2.0,
            status=429,
            name=POST,
            limit=101,
            remaining=0,
            reset=11,
            retry_after=1,
            content_type="text/plain; charset=utf-8",
            body=b"limit exceeded\n",
        )
    return (time.perf_counter() - started) / calls * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=10, help="users of each class (default 10)")
    parser.add_argument("--seconds", type=int, default=20, help="run time of each case (default 20)")
    args = parser.parse_args()
    print(f"Accounting.record: {record_cost():.2f} us per 429")
    cases = (("no rate limit", None), ("rate limit 10/100 (almost every answer a 429)", "10/100"))
    for label, limit in cases:
        both = run_case(limit, args.users, args.seconds, ("Poster", "BarePoster"))
        print(
            f"{label}, side by side: Poster {both['poster_rps']:.1f} req/s, bare FastHttpUser "
            f"{both['bare_rps']:.1f} req/s, ratio {both['ratio'] * 100:.0f} %"
        )
        poster = run_case(limit, args.users, args.seconds, ("Poster",))
        bare = run_case(limit, args.users, args.seconds, ("BarePoster",))
        print(
            f"{label}, alone: Poster {poster['poster_rps']:.1f} req/s at {poster['cpu_us_per_request']:.0f} us "
            f"Locust CPU per request; bare {bare['bare_rps']:.1f} req/s at {bare['cpu_us_per_request']:.0f} us"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
