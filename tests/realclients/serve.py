"""`mmv3 serve` as a subprocess on a free port, with a bot (system admin) and another user."""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CLIENTS = Path(os.environ.get("MMV3_CLIENTS_DIR", ROOT / ".mmv3" / "clients"))
HERE = Path(__file__).resolve().parent
BOT, OTHER = "daybot", "dayother"
PASSWORDS = {"MMV3_BOT_PASSWORD": "Bot-day-pass-1", "MMV3_OTHER_PASSWORD": "Other-day-pass-1"}
_SERVE = "import sys; from mmv3.cli import main; sys.exit(main())"


@contextlib.contextmanager
def mmv3_serve(faults: tuple[str, ...] = ()) -> Iterator[str]:
    """Start `mmv3 serve --port 0 --db :memory:` with BOT and OTHER (and fault switches); yield its URL."""
    env = {
        **os.environ,
        "MMV3_ADMIN_PASSWORD": PASSWORDS["MMV3_BOT_PASSWORD"],
        "MMV3_PASSWORD": PASSWORDS["MMV3_OTHER_PASSWORD"],
    }
    args = ["serve", "--port", "0", "--db", ":memory:", "--no-rate-limit", "--bcrypt-cost", "4"]
    args += ["--admin", BOT, "--user", OTHER]
    for fault in faults:
        args += ["--fault", fault]
    process = subprocess.Popen(
        [sys.executable, "-c", _SERVE, *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        url, lines, deadline = None, [], time.monotonic() + 60
        while url is None and time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            lines.append(line)
            found = re.search(r"listening on (http://127\.0\.0\.1:\d+)", line)
            url = found and found.group(1)
        if not url:
            raise RuntimeError(f"mmv3 serve did not start: {''.join(lines)}")
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        process.stdout.close()


def day_command(client: str, base: str, bot: str, other: str) -> list[str]:
    """The command that runs one client's day: client is "js" or "python"."""
    if client == "js":
        return ["node", str(HERE / "day.js"), base, bot, other]
    return [sys.executable, str(HERE / "day_bot.py"), base, bot, other]


def run_day(command: list[str], passwords: dict[str, str]) -> tuple[int, list[dict], str]:
    """Run one day; its exit code, its transcript and the tail of its stderr."""
    import json

    env = {**os.environ, **passwords, "MMV3_CLIENTS_DIR": str(CLIENTS)}
    try:
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=180)
    except subprocess.TimeoutExpired:
        return 124, [], f"{command[1]} did not finish within 180 s"
    steps = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    return done.returncode, steps, done.stderr[-2000:]


RECORDED = HERE / "real-4.9"  # the days' transcripts against a live real 4.9 (compare.py --record)


def recorded(client: str) -> list[dict]:
    """The transcript compare.py --record took against real 4.9 for one client ("js" or "python")."""
    import json

    text = (RECORDED / f"{client}.jsonl").read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def differences(theirs: list[dict], ours: list[dict]) -> list[tuple[dict, dict]]:
    """The steps whose lines differ, paired by step name in the real day's order."""
    mine = {s["step"]: s for s in ours}
    return [(s, mine.get(s["step"], {})) for s in theirs if mine.get(s["step"]) != s]
