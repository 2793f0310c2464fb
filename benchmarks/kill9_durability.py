"""Benchmark: the reference server survives `kill -9` under load with every acknowledged post.

    python benchmarks/kill9_durability.py                    # 3 runs, 20 users, kill 5 s into the load
    python benchmarks/kill9_durability.py --runs 5 --users 30 --kill-after 8

Each run starts `mmv3 serve --no-rate-limit --db <fresh file>` on 127.0.0.1 (bcrypt cost 10, the
default), makes its first account (the system admin), and runs Locust's `Poster` scenario headless
as a subprocess with no think time, with `benchmarks/ack_recorder.py` writing down every post the
server answered 200 to. Once posts have been acknowledged for `--kill-after` seconds the server
gets SIGKILL; Locust is stopped; the server is started again on the same file, and every
acknowledged post is read back (`GET /api/v3/teams/{team_id}/posts/{post_id}` as the admin).

Prints per run: posts acknowledged, found after the restart, lost, 5xx answers before the kill,
and the rate of acknowledged posts. Results go in benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[1]
ADMIN, PASSWORD = "kill9admin", "Kill9-bench-pass"


def serve(db: Path, log: Path) -> tuple[subprocess.Popen, str]:
    command = [sys.executable, "-m", "mmv3.cli", "serve", "--host", "127.0.0.1", "--port", "0"]
    command += ["--db", str(db), "--no-rate-limit"]
    with open(log, "ab") as errors:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=errors, text=True)
    line = process.stdout.readline() if process.stdout else ""
    match = re.search(r"listening on (http://\S+)", line)
    if not match:
        process.kill()
        raise SystemExit(f"mmv3 serve did not start: {line.strip() or 'no output'} (see {log})")
    return process, match.group(1)


def read_log(path: Path) -> tuple[list[tuple[str, float]], list[tuple[int, float]], int]:
    """(acknowledged post ids with their time, 5xx answers with their time, other answers)."""
    acks, errors, other = [], [], 0
    if not path.exists():
        return acks, errors, other
    for line in path.read_text(encoding="utf-8").splitlines():
        parts = line.split()
        if len(parts) != 3:
            continue  # a line cut short by the stop
        kind, value, when = parts
        if kind == "ack":
            acks.append((value, float(when)))
        elif kind == "5xx":
            errors.append((int(value), float(when)))
        else:
            other += 1
    return acks, errors, other


def one_run(work: Path, users: int, kill_after: float, deadline_s: float) -> dict[str, float]:
    db, acklog, serve_log = work / "mmv3.db", work / "acks.log", work / "serve.log"
    server, url = serve(db, serve_log)
    http = requests.Session()
    http.trust_env = False  # 127.0.0.1 only
    body = {"username": ADMIN, "email": f"{ADMIN}@example.com", "password": PASSWORD}
    http.post(url + "/api/v3/users/create", json=body, timeout=30).raise_for_status()

    env = {k: v for k, v in os.environ.items() if not k.startswith(("MMV3_", "LOCUST_"))}
    env.update(MMV3_ACK_LOG=str(acklog), MMV3_ADMIN=ADMIN, MMV3_ADMIN_PASSWORD=PASSWORD)
    locustfiles = f"{REPO / 'loadtests' / 'locustfile.py'},{REPO / 'benchmarks' / 'ack_recorder.py'}"
    command = [
        sys.executable, "-m", "locust", "-f", locustfiles, "--headless", "--only-summary",
        "--host", url, "-u", str(users), "-r", str(users), "-t", f"{int(deadline_s)}s",
        "--mmv3-wait", "0", "--mmv3-pool-size", str(users), "--mmv3-no-probe", "--mmv3-no-plots",
        "--mmv3-report-dir", str(work / "reports"), "--mmv3-allure-dir", "none", "Poster",
    ]  # fmt: skip
    with open(work / "locust.log", "wb") as out:
        locust = subprocess.Popen(command, cwd=work, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        # Kill once posts have been acknowledged for `kill_after` seconds (bounded poll).
        first = None
        stop_at = time.monotonic() + deadline_s
        while time.monotonic() < stop_at and locust.poll() is None:
            if first is None and acklog.exists() and acklog.stat().st_size:
                first = time.monotonic()
            if first is not None and time.monotonic() - first >= kill_after:
                break
            time.sleep(0.05)
        if first is None:
            raise SystemExit(f"no post was acknowledged (see {work / 'locust.log'})")
        killed_at = time.time()
        server.send_signal(signal.SIGKILL)
        server.wait(timeout=10)
        locust.send_signal(signal.SIGTERM)
        locust.wait(timeout=60)
    finally:
        if locust.poll() is None:
            locust.kill()
            locust.wait()
        if server.poll() is None:
            server.kill()
            server.wait()
        if server.stdout:
            server.stdout.close()

    acks, errors, _other = read_log(acklog)
    before_kill = [e for e in errors if e[1] <= killed_at]
    server, url = serve(db, serve_log)  # the same file, as after a crash
    try:
        response = http.post(
            url + "/api/v3/users/login", json={"login_id": ADMIN, "password": PASSWORD}, timeout=30
        )
        response.raise_for_status()
        http.headers["Authorization"] = f"Bearer {response.headers['Token']}"
        teams = http.get(url + "/api/v3/teams/all", timeout=30).json()
        team_id = next(iter(teams))
        found = 0
        for post_id, _when in acks:
            answer = http.get(f"{url}/api/v3/teams/{team_id}/posts/{post_id}", timeout=30)
            found += answer.status_code == 200 and post_id in answer.json().get("posts", {})
    finally:
        server.terminate()
        server.wait(timeout=20)
        if server.stdout:
            server.stdout.close()
    span = (acks[-1][1] - acks[0][1]) if len(acks) > 1 else 0.0
    return {
        "acknowledged": len(acks),
        "found": found,
        "lost": len(acks) - found,
        "5xx_before_kill": len(before_kill),
        "5xx_total": len(errors),
        "ack_rate": len(acks) / span if span else 0.0,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="runs (default 3)")
    parser.add_argument("--users", type=int, default=20, help="Locust users, no think time (default 20)")
    parser.add_argument(
        "--kill-after",
        type=float,
        default=5.0,
        help="seconds of acknowledged posts before the kill (default 5)",
    )
    parser.add_argument(
        "--deadline", type=float, default=90.0, help="longest run before the kill (default 90 s)"
    )
    args = parser.parse_args()
    totals = {"acknowledged": 0, "found": 0, "lost": 0, "5xx_before_kill": 0}
    for number in range(1, args.runs + 1):
        with tempfile.TemporaryDirectory(prefix="mmv3-kill9-") as work:
            result = one_run(Path(work), args.users, args.kill_after, args.deadline)
        for key in totals:
            totals[key] += result[key]
        print(
            f"run {number}: {result['acknowledged']} posts acknowledged ({result['ack_rate']:.0f}/s), "
            f"{result['found']} found after kill -9 and restart, {result['lost']} lost, "
            f"{result['5xx_before_kill']} 5xx before the kill",
            flush=True,
        )
    print(
        f"all {args.runs} runs: {totals['acknowledged']} acknowledged, {totals['found']} found, "
        f"{totals['lost']} lost, {totals['5xx_before_kill']} 5xx before the kill"
    )
    return 1 if totals["lost"] or totals["5xx_before_kill"] else 0


if __name__ == "__main__":
    sys.exit(main())
