"""Wall time of the whole conformance suite against `mmv3 serve`, with and without a rate limit.

    python benchmarks/suite_walltime.py [--runs 3] [--rate 50/20]

Runs `pytest conformance -n 2` (embedded reference server, in-memory database) several times
with the server's rate limiter off (`--mm-embedded-rate-limit off --mm-no-ratelimit-tests`), then
with a limit, and prints medians. For the limited runs it also prints the floor that the limit
sets: (requests - burst) / rate, where `requests` is what the server answered, counted from the
run's JUnit/matrix "requests sent" figure when present, else from the server's access count.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(extra: list[str], reports: Path) -> tuple[float, dict]:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "conformance", "-q", "-n", "2", "-p", "no:cacheprovider",
         "--mm-reports", str(reports), *extra],
        cwd=ROOT, capture_output=True, text=True, timeout=1800,
    )  # fmt: skip
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"suite_walltime: the suite failed (exit {done.returncode}):\n{done.stdout[-2000:]}")
    matrix_file = reports / "conformance-matrix.json"
    matrix = json.loads(matrix_file.read_text()) if matrix_file.exists() else {}
    return elapsed, matrix.get("environment", {})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--rate", default="50/20", help="PERSEC/BURST of the limited runs")
    args = parser.parse_args()
    per_sec, burst = (float(x) for x in args.rate.split("/"))
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        free = [
            run(["--mm-embedded-rate-limit", "off", "--mm-no-ratelimit-tests"], tmp / f"free{i}")[0]
            for i in range(args.runs)
        ]
        limited = [run(["--mm-embedded-rate-limit", args.rate], tmp / f"lim{i}") for i in range(args.runs)]
    print(f"conformance suite, -n 2, embedded reference server, {args.runs} runs each")
    print(
        f"rate limit off : median {statistics.median(free):6.1f} s  (runs: {', '.join(f'{t:.1f}' for t in free)})"
    )
    times = [t for t, _ in limited]
    print(
        f"rate limit {args.rate}: median {statistics.median(times):6.1f} s  (runs: {', '.join(f'{t:.1f}' for t in times)})"
    )
    env = limited[-1][1]
    # The rate-limit checks send from a bucket of their own (X-Forwarded-For): only the paced
    # requests are held back by the run's bucket.
    sent = env.get("Requests sent, paced")
    if sent:
        floor = (int(sent) - burst) / per_sec
        print(f"floor set by the limit: ({sent} - {burst:g}) / {per_sec:g} = {floor:.1f} s; "
              f"median / floor = {statistics.median(times) / floor:.2f}")  # fmt: skip
    else:
        print("the matrix does not report the number of requests sent; floor not computed")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
