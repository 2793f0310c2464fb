"""Requests per second of `mmv3 serve` (rate limit off), load from wrk in a separate process.

    python benchmarks/server_throughput.py [--runs 3] [--seconds 10] [--connections 16]

Starts `mmv3 serve --no-rate-limit` (bcrypt cost 10, as real Mattermost) on a free port with a
throwaway SQLite file, provisions an admin, a team and a channel, then runs wrk against
GET /api/v3/users/me (Bearer token), POST …/posts/create and POST /api/v3/users/login, several
times each, and prints the median req/s. Needs Debian's wrk (`apt-get install -y wrk`).
Only 127.0.0.1 is ever loaded.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import requests

PASSWORD = "bench-Passw0rd"


def start_server(tmp: Path) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "mmv3.cli", "serve", "--port", "0", "--no-rate-limit",
         "--db", str(tmp / "bench.db"), "--bcrypt-cost", "10"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    line = proc.stdout.readline() if proc.stdout else ""
    match = re.search(r"http://127\.0\.0\.1:\d+", line)
    if not match:
        proc.kill()
        sys.exit(f"server_throughput: mmv3 serve did not start: {line.strip()!r}")
    return proc, match.group(0)


def provision(url: str) -> dict[str, str]:
    api = url + "/api/v3"
    requests.post(f"{api}/users/create", json={"username": "bench", "email": "bench@example.com",
                                               "password": PASSWORD}, timeout=10).raise_for_status()  # fmt: skip
    login = requests.post(f"{api}/users/login", json={"login_id": "bench", "password": PASSWORD}, timeout=10)
    login.raise_for_status()
    auth = {"Authorization": "Bearer " + login.headers["Token"]}
    team = requests.post(f"{api}/teams/create", headers=auth, timeout=10,
                         json={"name": "bench-team", "display_name": "Bench", "type": "O"}).json()  # fmt: skip
    channel = requests.post(f"{api}/teams/{team['id']}/channels/create", headers=auth, timeout=10,
                            json={"name": "bench-channel", "display_name": "Bench", "type": "O",
                                  "team_id": team["id"]}).json()  # fmt: skip
    return {"token": login.headers["Token"], "team": team["id"], "channel": channel["id"]}


def lua_post(path: str, body: dict, token: str | None) -> str:
    headers = 'wrk.headers["Content-Type"] = "application/json"\n'
    if token:
        headers += f'wrk.headers["Authorization"] = "Bearer {token}"\n'
    return f'wrk.method = "POST"\nwrk.path = "{path}"\nwrk.body = {json.dumps(json.dumps(body))}\n{headers}'


def wrk(url: str, script: str, seconds: int, connections: int, tmp: Path) -> float:
    script_file = tmp / "bench.lua"
    script_file.write_text(script)
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "-s", str(script_file), url],
        capture_output=True, text=True, timeout=seconds + 30,
    ).stdout  # fmt: skip
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors:
        sys.exit(f"server_throughput: {errors.group(1)} error responses:\n{out}")
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("server_throughput: wrk not found; install it with `apt-get install -y wrk`")
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        proc, url = start_server(tmp)
        try:
            ids = provision(url)
            cases = {
                "GET /users/me": f'wrk.headers["Authorization"] = "Bearer {ids["token"]}"\nwrk.path = "/api/v3/users/me"\n',
                "POST posts/create": lua_post(
                    f"/api/v3/teams/{ids['team']}/channels/{ids['channel']}/posts/create",
                    {"channel_id": ids["channel"], "message": "benchmark post with a few words in it"},
                    ids["token"],
                ),
                "POST /users/login": lua_post(
                    "/api/v3/users/login", {"login_id": "bench", "password": PASSWORD}, None
                ),
            }
            print(
                f"mmv3 serve, rate limit off, wrk -t2 -c{args.connections} -d{args.seconds}s, {args.runs} runs"
            )
            for name, script in cases.items():
                rates = [wrk(url, script, args.seconds, args.connections, tmp) for _ in range(args.runs)]
                shown = ", ".join(f"{r:.0f}" for r in rates)
                print(f"{name:<20} median {statistics.median(rates):8.0f} req/s   (runs: {shown})")
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
