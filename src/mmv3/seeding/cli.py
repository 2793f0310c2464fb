"""`mmv3 seed`: arguments, the progress line, the summary, and the fast path for `mmv3 serve`."""

from __future__ import annotations

import argparse
import csv
import os
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from mmv3 import exitcodes
from mmv3.seeding.profiles import PROFILES, Profile, resolve

EXIT_FOR = {
    "usage": exitcodes.USAGE,
    "limit": exitcodes.USAGE,
    "unreachable": exitcodes.UNREACHABLE,
    "not-v3": exitcodes.NOT_V3,
    "credentials": exitcodes.CREDENTIALS,
    "failed": exitcodes.CREDENTIALS,  # "the test data could not be created"
}
SUMMARY_ORDER = (
    "teams",
    "open channels",
    "private channels",
    "direct channels",
    "group channels",
    "users",
    "team memberships",
    "channel memberships",
    "root posts",
    "replies",
    "reactions",
    "files",
    "preferences",
)


def add_seed_arguments(parser: argparse.ArgumentParser) -> None:
    target = parser.add_mutually_exclusive_group()
    target.add_argument("--base-url", metavar="URL", help="the v3 server to fill through its API")
    target.add_argument(
        "--fast",
        metavar="DATABASE",
        help="write straight into a `mmv3 serve` SQLite database instead (run before serving it)",
    )
    parser.add_argument(
        "--admin", metavar="LOGIN", help="a system admin (password from --admin-password-env)"
    )
    parser.add_argument(
        "--admin-password-env", metavar="VAR", default="MMV3_ADMIN_PASSWORD",
        help="variable holding the admin's password (default MMV3_ADMIN_PASSWORD)",
    )  # fmt: skip
    parser.add_argument(
        "--profile", default="small", choices=sorted(PROFILES),
        help="size: small (10^3 posts), medium (10^5), large (10^6 posts, 10^4 users); default small",
    )  # fmt: skip
    counts = parser.add_argument_group("counts", "override the profile's counts")
    for name in ("teams", "channels-per-team", "users", "posts"):
        counts.add_argument(f"--{name}", type=int, metavar="N")
    parser.add_argument("--seed", type=int, default=4049, help="seed of the generated data (default 4049)")
    parser.add_argument(
        "--prefix", help="name prefix of everything made (default: mm + 6 random characters, per run)"
    )
    parser.add_argument("--workers", type=int, default=8, help="concurrent requests at most (default 8)")
    parser.add_argument(
        "--max-time", metavar="DURATION", help="stop after this long (e.g. 10m): a partial seed"
    )
    parser.add_argument(
        "--progress-every", type=float, default=10.0, metavar="SECONDS",
        help="seconds between progress lines when stderr is no terminal (default 10)",
    )  # fmt: skip
    parser.add_argument(
        "--timeout", type=float, default=30.0, metavar="SECONDS", help="per request (default 30)"
    )
    parser.add_argument(
        "--raise-team-limit", action="store_true",
        help="when a team would outgrow TeamSettings.MaxUsersPerTeam, save the server's config with a higher one",
    )  # fmt: skip
    parser.add_argument(
        "--pool-csv", metavar="FILE",
        help="write the seeded accounts (username,password) for `locust ... --mmv3-pool-csv FILE`",
    )  # fmt: skip


class Progress:
    """One progress line every `every` seconds (rewritten in place on a terminal)."""

    def __init__(self, profile: Profile, stream: TextIO, every: float) -> None:
        self.profile = profile
        self.stream = stream
        self.tty = stream.isatty()
        self.every = 1.0 if self.tty else max(0.5, every)
        self.started = time.monotonic()
        self.last = self.started
        self.shown = False

    def line(self, counts: Any, requests: int) -> str:
        elapsed = time.monotonic() - self.started
        posts = counts["root posts"] + counts["replies"]
        rate = requests / elapsed if elapsed > 0 else 0.0
        share = posts / self.profile.posts if self.profile.posts else 1.0
        return (
            f"seed: users {counts['users']}/{self.profile.users}, posts {posts}/{self.profile.posts} "
            f"({share:.0%}), {requests} requests, {rate:.1f} req/s, {_clock(elapsed)}"
        )

    def __call__(self, result: Any) -> None:
        now = time.monotonic()
        if now - self.last < self.every:
            return
        self.last = now
        self.write(self.line(result.counts, result.requests))

    def write(self, text: str) -> None:
        if self.tty:
            self.stream.write("\r" + text + "\033[K")
        else:
            self.stream.write(text + "\n")
        self.stream.flush()
        self.shown = True

    def close(self) -> None:
        if self.tty and self.shown:
            self.stream.write("\n")
            self.stream.flush()


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    if seconds >= 60:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds}s"


def _fail(message: str, code: int) -> int:
    print(f"mmv3 seed: {message}", file=sys.stderr)
    return code


def run_seed_command(args: argparse.Namespace) -> int:
    from mmv3.check import UsageError, parse_duration

    try:
        profile = resolve(
            args.profile,
            teams=args.teams,
            channels_per_team=args.channels_per_team,
            users=args.users,
            posts=args.posts,
        )
        max_time = parse_duration(args.max_time) if args.max_time else None
    except (ValueError, UsageError) as exc:
        return _fail(str(exc), exitcodes.USAGE)
    if args.workers < 1 or args.timeout <= 0:
        return _fail("--workers must be >= 1 and --timeout > 0", exitcodes.USAGE)
    if args.fast:
        return run_fast(args, profile, max_time)
    if not args.base_url:
        return _fail(
            "say where: --base-url URL (any v3 server) or --fast DATABASE (mmv3 serve)", exitcodes.USAGE
        )
    if not args.admin:
        return _fail("--base-url needs --admin LOGIN (a system admin)", exitcodes.USAGE)
    password = os.environ.get(args.admin_password_env, "")
    if not password:
        return _fail(f"--admin needs its password in the environment variable {args.admin_password_env}", 2)
    return run_api(args, profile, password, max_time)


def run_api(args: argparse.Namespace, profile: Profile, password: str, max_time: float | None) -> int:
    from mmv3.provision import run_prefix
    from mmv3.seeding.api import ApiSeeder, SeedError
    from mmv3.seeding.plan import build

    prefix = args.prefix or run_prefix(random.SystemRandom())
    if not prefix.isalnum() or not prefix.islower() or len(prefix) > 20:
        return _fail(f"--prefix must be 1-20 lower-case letters or digits, got {prefix!r}", exitcodes.USAGE)
    progress = Progress(profile, sys.stderr, args.progress_every)
    started = time.monotonic()
    deadline = started + max_time if max_time else None
    try:
        seeder = ApiSeeder(
            args.base_url,
            prefix=prefix,
            workers=args.workers,
            timeout=args.timeout,
            deadline=deadline,
            raise_team_limit=args.raise_team_limit,
            on_progress=progress,
        )
        version = seeder.connect(args.admin, password)
        plan = build(profile, args.seed)
        seeder.check_team_limit(plan)
        print(
            f"mmv3 seed: {profile.describe()} into {seeder.root.base_url} (v{version}), "
            f"prefix {prefix}, seed {args.seed}",
            file=sys.stderr,
        )
        result = seeder.run(plan)
    except SeedError as exc:
        progress.close()
        partial = getattr(locals().get("seeder"), "result", None)
        if partial is not None and partial.requests > 3:
            print(_summary_line(partial.counts), file=sys.stderr)
        return _fail(str(exc), EXIT_FOR.get(exc.kind, exitcodes.CREDENTIALS))
    progress.close()
    if args.pool_csv:
        _write_pool(Path(args.pool_csv), result.accounts)
    state = "complete" if result.complete else f"partial (stopped by {result.stopped})"
    print(
        f"mmv3 seed: {state} in {_clock(result.elapsed)}, prefix {prefix}, teams {', '.join(result.team_names)}"
    )
    print("  " + _summary_line(result.counts))
    rate = result.requests / result.elapsed if result.elapsed else 0.0
    print(
        f"  requests {result.requests} ({rate:.1f}/s), waited for the rate limit {result.waited:.0f} s, "
        f"429 answers met {result.throttled}"
    )
    if args.pool_csv:
        print(f"  accounts written to {args.pool_csv} (passwords: keep the file private)")
    return exitcodes.OK


def _summary_line(counts: Any) -> str:
    posts = counts["root posts"] + counts["replies"]
    parts = [f"{kind} {counts[kind]}" for kind in SUMMARY_ORDER if kind in counts]
    return f"posts {posts}: " + ", ".join(parts)


def _write_pool(path: Path, accounts: list[tuple[str, str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        os.chmod(path, 0o600)
        writer = csv.writer(handle)
        writer.writerow(["username", "password"])
        writer.writerows(sorted(accounts))


class _OutOfTime(Exception):
    pass


def fast_progress(profile: Profile, progress: Progress, deadline: float | None) -> Callable[..., None]:
    """A progress callback for `mmv3.server.bulk.fill`: takes what it is given (a count, a
    mapping of counts, or text), prints at most one line per interval, stops the fill at the
    deadline by raising from the callback."""

    def report(*args: Any, **kwargs: Any) -> None:
        if deadline is not None and time.monotonic() >= deadline:
            raise _OutOfTime()
        now = time.monotonic()
        if now - progress.last < progress.every:
            return
        progress.last = now
        shown = " ".join(str(a) for a in args)
        if kwargs:
            shown = (shown + " " if shown else "") + ", ".join(f"{k} {v}" for k, v in kwargs.items())
        progress.write(f"seed --fast: {shown}, {_clock(now - progress.started)}")

    return report


def run_fast(args: argparse.Namespace, profile: Profile, max_time: float | None) -> int:
    database = Path(args.fast)
    if not database.parent.exists() and str(database.parent) not in ("", "."):
        return _fail(f"--fast {database}: the folder {database.parent} does not exist", exitcodes.USAGE)
    try:
        from mmv3.server.bulk import fill
    except ImportError:
        return _fail(
            "this mmv3 has no fast path (mmv3.server.bulk is missing): use --base-url", exitcodes.INTERNAL
        )
    progress = Progress(profile, sys.stderr, args.progress_every)
    deadline = progress.started + max_time if max_time else None
    print(f"mmv3 seed: {profile.describe()} into {database} (fast path), seed {args.seed}", file=sys.stderr)
    try:
        counts = fill(
            database,
            teams=profile.teams,
            users=profile.users,
            channels_per_team=profile.channels_per_team,
            posts=profile.posts,
            seed=args.seed,
            progress=fast_progress(profile, progress, deadline),
        )
    except _OutOfTime:
        progress.close()
        return _fail(f"stopped by --max-time after {_clock(time.monotonic() - progress.started)}: partial", 0)
    progress.close()
    elapsed = time.monotonic() - progress.started
    shown = ", ".join(f"{kind} {value}" for kind, value in dict(counts).items())
    print(f"mmv3 seed: complete in {_clock(elapsed)} into {database}")
    print(f"  {shown}")
    return exitcodes.OK
