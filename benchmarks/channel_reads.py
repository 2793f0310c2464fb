"""Reads of one channel as it grows: `mmv3 serve`'s req/s at 1,000 and 30,000 posts.

    python benchmarks/channel_reads.py [--posts 1000 30000] [--seconds 5] [--connections 16]

For each size: starts `mmv3 serve --no-rate-limit` on a free port with a throwaway SQLite file,
provisions an admin, a team and a channel, fills the channel with that many posts (16 posting
threads over HTTP, as the issue measured, Faker-free short messages with a few shared words),
then runs wrk (Debian's `wrk`) against GET …/posts/page/0/60, GET …/posts/{mid}/before/0/60,
GET …/posts/since/{t}, POST …/posts/search and GET …/channels/, and prints req/s per request and
size. Only 127.0.0.1 is loaded.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
from server_throughput import lua_post, provision, start_server, wrk  # noqa: E402

WORDS = "alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike tango".split()


def fill(url: str, ids: dict[str, str], count: int) -> list[dict]:
    path = f"{url}/api/v3/teams/{ids['team']}/channels/{ids['channel']}/posts/create"
    auth = {"Authorization": "Bearer " + ids["token"]}
    rng = random.Random(7)
    messages = [" ".join(rng.choice(WORDS) for _ in range(8)) for _ in range(count)]

    def post(chunk: list[str]) -> list[dict]:
        with requests.Session() as http:
            http.trust_env = False
            return [
                http.post(
                    path, headers=auth, json={"channel_id": ids["channel"], "message": m}, timeout=30
                ).json()
                for m in chunk
            ]

    chunks = [messages[i::16] for i in range(16)]
    with ThreadPoolExecutor(16) as pool:
        return [p for made in pool.map(post, chunks) for p in made]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--posts", type=int, nargs="+", default=[1000, 30000])
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()
    rows = []
    for count in args.posts:
        with tempfile.TemporaryDirectory(prefix="mmv3-reads-") as tmp:
            proc, url = start_server(Path(tmp))
            try:
                ids = provision(url)
                began = time.monotonic()
                made = sorted(fill(url, ids, count), key=lambda p: p["create_at"])
                fill_s = time.monotonic() - began
                channel = f"/api/v3/teams/{ids['team']}/channels/{ids['channel']}"
                mid = made[len(made) // 2]
                cases = {
                    "GET …/posts/page/0/60": ("GET", f"{channel}/posts/page/0/60", None),
                    "GET …/posts/{mid}/before/0/60": ("GET", f"{channel}/posts/{mid['id']}/before/0/60", None),
                    "GET …/posts/since/{last-60}": ("GET", f"{channel}/posts/since/{made[-60]['create_at']}", None),
                    "POST …/posts/search (kilo tango)": (
                        "POST", f"/api/v3/teams/{ids['team']}/posts/search", {"terms": "kilo tango"}
                    ),
                    "GET …/channels/": ("GET", f"/api/v3/teams/{ids['team']}/channels/", None),
                }  # fmt: skip
                for name, (method, path, body) in cases.items():
                    if method == "POST":
                        script = lua_post(path, body, ids["token"])
                    else:
                        script = (
                            f'wrk.headers["Authorization"] = "Bearer {ids["token"]}"\nwrk.path = "{path}"\n'
                        )
                    rate = wrk(url, script, args.seconds, args.connections, Path(tmp))
                    rows.append((name, count, rate))
                    print(f"{name:36} {count:>6} posts  {rate:9.1f} req/s", flush=True)
                print(f"(filled {count} posts in {fill_s:.1f} s)", flush=True)
            finally:
                proc.terminate()
                proc.wait(timeout=30)
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
