"""Wall time of the whole conformance suite against `mmv3 serve`, with and without a rate limit.

    python benchmarks/suite_walltime.py [--runs 3] [--rate 10/100 --rate 50/20]

Runs `pytest conformance -n 2` (embedded reference server, in-memory database) several times
with the server's rate limiter off (`--mm-embedded-rate-limit off --mm-no-ratelimit-tests`), then
with limits (default Mattermost's 10/s burst 100, and 50/s burst 20), and prints medians. For the
limited runs it also prints the floor that the limit sets: (requests - burst) / rate, where
`requests` are the paced requests the run reports ("Requests sent, paced" in its matrix).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(extra: list[str], reports: Path) -> tuple[float, dict]:
    # As on a user's machine: Python caches bytecode (this sandbox sets PYTHONDONTWRITEBYTECODE,
    # which makes every process compile all its imports again).
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "conformance", "-q", "-n", "2", "-p", "no:cacheprovider",
         "--mm-reports", str(reports), *extra],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800,
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
    parser.add_argument(
        "--rate", action="append", help="PERSEC/BURST of limited runs (repeatable; default 10/100 and 50/20)"
    )
    args = parser.parse_args()
    rates = args.rate or ["10/100", "50/20"]
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        free = [
            run(["--mm-embedded-rate-limit", "off", "--mm-no-ratelimit-tests"], tmp / f"free{i}")[0]
            for i in range(args.runs)
        ]
        limited = {
            rate: [
                run(["--mm-embedded-rate-limit", rate], tmp / f"lim{rate.replace('/', '-')}{i}")
                for i in range(args.runs)
            ]
            for rate in rates
        }
    print(f"conformance suite, -n 2, embedded reference server, {args.runs} runs each")
    print(
        f"rate limit off: median {statistics.median(free):.1f} s  (runs: {', '.join(f'{t:.1f}' for t in free)})"
    )
    for rate, results in limited.items():
        per_sec, burst = (float(x) for x in rate.split("/"))
        times = [t for t, _ in results]
        # The rate-limit checks send from a bucket of their own (X-Forwarded-For): only the paced
        # requests are held back by the run's bucket.
        paced = [int(env.get("Requests sent, paced", 0)) for _, env in results]
        throttled = [int(env.get("429 answers to paced requests", -1)) for _, env in results]
        floors = [(n - burst) / per_sec for n in paced]
        ratios = [t / f for t, f in zip(times, floors, strict=True)]
        print(
            f"rate limit {rate}: median {statistics.median(times):.1f} s (runs: {', '.join(f'{t:.1f}' for t in times)}); "
            f"paced requests {', '.join(map(str, paced))}; floor {', '.join(f'{f:.1f}' for f in floors)} s; "
            f"wall / floor {', '.join(f'{r:.2f}' for r in ratios)} (median {statistics.median(ratios):.2f}); "
            f"429s met by paced requests {', '.join(map(str, throttled))}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
