"""`mmv3 check`: the conformance suite (and, when asked, a bounded headless load run) against one
target, every result under reports/<run-id>/, a short summary and one documented exit code.

The suite and Locust run as subprocesses: pytest keeps its own plugins and exit codes, and Locust's
gevent patching never reaches this process. Passwords travel to them in environment variables,
never on a command line, and the run directory holds only redacted files.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from mmv3 import exitcodes, junit, paths, redact, retention

FAMILIES = ("auth", "schema", "errors", "headers", "ratelimit", "security", "invariants")
SCENARIOS = ("LoginStorm", "Poster", "Mixed")
RUN_FILE = "run.json"

# pytest's own exit codes and the suite's preflight codes (mmv3.suite.preflight.ExitCode),
# folded into the contract of mmv3.exitcodes.
_PYTEST_EXITS = {
    0: exitcodes.OK,
    1: exitcodes.CONFORMANCE_FAILED,
    2: exitcodes.INTERRUPTED,
    3: exitcodes.INTERNAL,
    4: exitcodes.USAGE,
    5: exitcodes.USAGE,  # the selection matched no check
    10: exitcodes.UNREACHABLE,
    11: exitcodes.UNREACHABLE,
    12: exitcodes.NOT_V3,
    13: exitcodes.CREDENTIALS,
    14: exitcodes.CREDENTIALS,
    15: exitcodes.INTERNAL,
    16: exitcodes.NOTHING_JUDGED,  # every selected check skipped (mmv3.suite.judged)
}
# Locust run by loadtests/locustfile.py: 3 = a threshold breached, 2 = bad option, 6 = provisioning
# failed, 9 / 10 / 11 = no request sent / nothing judged / workers lost (mmv3.load.vacuity).
_LOCUST_EXITS = {
    0: exitcodes.OK,
    1: exitcodes.THRESHOLDS_BREACHED,
    3: exitcodes.THRESHOLDS_BREACHED,
    6: exitcodes.CREDENTIALS,
    9: exitcodes.NOTHING_JUDGED,
    10: exitcodes.NOTHING_JUDGED,
    11: exitcodes.NOTHING_JUDGED,
}
# The one line each of those Locust exits prints (the last one names the step).
_LOCUST_LINE = r"mmv3:? ((?:provisioning failed|empty run|nothing judged|workers): .*)"
# When several things went wrong, the most fundamental one names the run.
_PRECEDENCE = (
    exitcodes.USAGE,
    exitcodes.TOOL_MISSING,
    exitcodes.INTERNAL,
    exitcodes.UNREACHABLE,
    exitcodes.NOT_V3,
    exitcodes.CREDENTIALS,
    exitcodes.NOTHING_JUDGED,
    exitcodes.CONFORMANCE_FAILED,
    exitcodes.THRESHOLDS_BREACHED,
    exitcodes.INTERRUPTED,
)


class UsageError(ValueError):
    """A bad option value: one line, exit USAGE."""


def add_check_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Run the conformance suite against a v3 server (the bundled reference server when no "
        "--base-url is given), optionally a bounded headless load run, and exit with a documented code."
    )
    target = parser.add_argument_group("target")
    target.add_argument(
        "--base-url", metavar="URL", help="the server under test (default: start `mmv3 serve`)"
    )
    target.add_argument("--user", metavar="LOGIN", help="regular user's login id (or MMV3_USER)")
    target.add_argument("--admin", metavar="LOGIN", help="system admin's login id (or MMV3_ADMIN; optional)")
    target.add_argument("--team", metavar="NAME", help="existing team to work in (or MMV3_TEAM)")
    target.add_argument(
        "--password-env",
        default="MMV3_PASSWORD",
        metavar="VAR",
        help="environment variable holding the user's password (default MMV3_PASSWORD)",
    )
    target.add_argument(
        "--admin-password-env",
        default="MMV3_ADMIN_PASSWORD",
        metavar="VAR",
        help="environment variable holding the admin's password (default MMV3_ADMIN_PASSWORD)",
    )
    conformance = parser.add_argument_group("conformance")
    conformance.add_argument(
        "--expect",
        default="auto",
        metavar="FILE",
        help="known deviations: a YAML file, a shipped name such as mattermost-4.9, auto (default: the "
        "shipped file of the target's version, none for mmv3's own reference server) or none",
    )
    conformance.add_argument(
        "--server-version",
        metavar="X",
        help="judge the target as Mattermost X (e.g. 3.10) instead of the version it reports",
    )
    conformance.add_argument(
        "--strict", action="store_true", help="unknown extra fields fail the schema check"
    )
    conformance.add_argument(
        "--record",
        metavar="DIR",
        help="also write every exchange of the conformance run under DIR as a corpus "
        "(redacted HAR 1.2 per route group, as tests/corpus/)",
    )
    conformance.add_argument(
        "--families",
        metavar="LIST",
        help=f"comma-separated check families to run (default all: {','.join(FAMILIES)})",
    )
    conformance.add_argument("--no-ratelimit-tests", action="store_true", help="skip the rate-limit family")
    conformance.add_argument(
        "--ratelimit",
        choices=("on", "off", "auto"),
        default="auto",
        help="whether the target must rate-limit (default auto: detected and printed; on/off: a "
        "target that does otherwise fails)",
    )
    conformance.add_argument(
        "-n", "--workers", default="2", metavar="N", help="pytest-xdist workers (default 2; 0 = none)"
    )
    conformance.add_argument("--seed", type=int, metavar="N", help="seed of the generated test data")
    load = parser.add_argument_group("load")
    load.add_argument(
        "--load", metavar="SCENARIO", help=f"also run a headless load run: {', '.join(SCENARIOS)}"
    )
    load.add_argument(
        "--load-time", default="60s", metavar="DURATION", help="its length, e.g. 30s, 2m (default 60s)"
    )
    load.add_argument("--load-users", type=int, default=10, metavar="N", help="simulated users (default 10)")
    load.add_argument(
        "--load-max-requests",
        type=int,
        default=100_000,
        metavar="N",
        help="stop the load run after this many requests (default 100000)",
    )
    load.add_argument(
        "--thresholds",
        metavar="FILE",
        help="thresholds of the load run (default: loadtests/thresholds.yaml)",
    )
    out = parser.add_argument_group("output")
    out.add_argument(
        "--reports", default="reports", metavar="DIR", help="where reports/<run-id>/ goes (default reports)"
    )
    out.add_argument("--run-id", metavar="ID", help="name of the run directory (default: UTC time stamp)")
    out.add_argument(
        "--keep",
        metavar="N",
        default=os.environ.get(retention.KEEP_ENV),
        help="after the run, keep the newest N runs under --reports and remove older run directories "
        f"(only those mmv3 check made; default ${retention.KEEP_ENV}, else keep all)",
    )
    out.add_argument(
        "--report", action="store_true", help="build the Allure HTML report of the run (mmv3 report)"
    )
    out.add_argument(
        "--write-baseline",
        metavar="FILE",
        help="write the run's failing checks as a known-deviations file for later --expect runs",
    )
    out.add_argument(
        "-v", "--verbose", action="store_true", help="show pytest's and Locust's output as they run"
    )
    out.add_argument(
        "-q", "--quiet", action="store_true", help="no progress line while the conformance suite runs"
    )
    out.add_argument(
        "--progress",
        default=os.environ.get("MMV3_PROGRESS") or "15",
        metavar="SECONDS",
        help="off a terminal, seconds between two progress lines (default 15, or $MMV3_PROGRESS; 0: "
        "none); on a terminal the line is rewritten in place",
    )
    out.add_argument(
        "--max-time",
        default="30m",
        metavar="DURATION",
        help="stop the whole check after this long, whatever the target does (default 30m)",
    )


def parse_duration(text: str) -> float:
    """`90`, `90s`, `2m`, `1h30m` → seconds."""
    match = re.fullmatch(r"\s*(?:(\d+)h)?\s*(?:(\d+)m)?\s*(?:(\d+)s?)?\s*", text or "")
    if not match or not any(match.groups()):
        raise UsageError(f"not a duration: {text!r} (e.g. 30s, 2m, 1h)")
    hours, minutes, seconds = (int(g) if g else 0 for g in match.groups())
    total = hours * 3600 + minutes * 60 + seconds
    if total <= 0:
        raise UsageError(f"a duration must be positive: {text!r}")
    return float(total)


@dataclass
class Step:
    """One subprocess of the check: what it was, how it ended."""

    name: str
    exit_code: int | None = None
    mapped: int = exitcodes.OK
    message: str = ""
    seconds: float = 0.0
    started: float | None = None  # wall clock, for run.json
    finished: float | None = None
    output: str = ""  # what the step wrote (the report step: report.html)


@dataclass
class CheckRun:
    args: argparse.Namespace
    run_dir: Path
    started: float = field(default_factory=time.time)
    steps: list[Step] = field(default_factory=list)
    secrets: list[str] = field(default_factory=list)

    @property
    def allure_dir(self) -> Path:
        return self.run_dir / "allure-results"

    @property
    def load_dir(self) -> Path:
        return self.run_dir / "load"


def new_run_dir(reports: Path, run_id: str | None) -> Path:
    if run_id:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", run_id):
            raise UsageError(f"--run-id may hold letters, digits, '.', '_' and '-' only: {run_id!r}")
        candidate = reports / run_id
        if candidate.exists():
            raise UsageError(f"run directory exists already: {candidate}")
    else:
        stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
        candidate, n = reports / stamp, 1
        while candidate.exists():
            n += 1
            candidate = reports / f"{stamp}-{n}"
    candidate.mkdir(parents=True)
    return candidate


def _validate(args: argparse.Namespace) -> tuple[float, float | None]:
    if args.base_url and not re.match(r"https?://[^/\s]+", args.base_url):
        raise UsageError(f"--base-url must be an http(s) URL: {args.base_url!r}")
    if args.base_url:
        try:
            _ = urlsplit(args.base_url).port  # out of range raises
        except ValueError:
            raise UsageError(f"--base-url has no valid port (1-65535): {args.base_url!r}") from None
    if args.families:
        unknown = sorted(set(args.families.split(",")) - set(FAMILIES))
        if unknown:
            raise UsageError(f"unknown check families: {', '.join(unknown)} (known: {', '.join(FAMILIES)})")
    if args.server_version and not re.match(r"^\s*v?\d+\.\d+", args.server_version):
        raise UsageError(
            f"--server-version: not a Mattermost version: {args.server_version!r} (e.g. 3.10, 4.9.0)"
        )
    if not str(args.progress).isdigit():
        raise UsageError(f"--progress must be a number of seconds, 0 or more: {args.progress!r}")
    if not str(args.workers).isdigit():
        raise UsageError(f"--workers must be a number: {args.workers!r}")
    max_time = parse_duration(args.max_time)
    try:
        args.keep = retention.parse_keep(args.keep)
    except retention.RetentionError as exc:
        raise UsageError(str(exc)) from None
    load_time = None
    if args.load:
        if args.load not in SCENARIOS:
            raise UsageError(f"unknown load scenario {args.load!r} (known: {', '.join(SCENARIOS)})")
        load_time = parse_duration(args.load_time)
        if args.load_users < 1 or args.load_max_requests < 1:
            raise UsageError("--load-users and --load-max-requests must be at least 1")
    for name in ("expect", "thresholds"):
        value = getattr(args, name)
        if value and ("/" in value or value.endswith((".yaml", ".yml"))) and not Path(value).is_file():
            raise UsageError(f"--{name}: no such file: {value}")
    if args.base_url:
        user = args.user or os.environ.get("MMV3_USER")
        if not user:
            raise UsageError(
                f"--base-url needs --user LOGIN (or MMV3_USER), its password in ${args.password_env}"
            )
        if not os.environ.get(args.password_env):
            raise UsageError(f"--user {user} needs its password in ${args.password_env}")
        admin = args.admin or os.environ.get("MMV3_ADMIN")
        if admin and not os.environ.get(args.admin_password_env):
            raise UsageError(f"--admin {admin} needs its password in ${args.admin_password_env}")
    return max_time, load_time


# ------------------------------------------------------------------------------------ steps
def _run(
    command: list[str],
    env: dict[str, str],
    log: Path,
    timeout: float,
    verbose: bool,
    tick: Callable[[], None] | None = None,
) -> int | None:
    """Run a subprocess, output to `log` (and the terminal when verbose); None when it timed out.
    `tick` is called about twice a second while it runs (the progress line)."""
    with open(log, "w", encoding="utf-8") as handle:
        process = subprocess.Popen(
            command,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            start_new_session=True,  # so that a timeout can stop it with all of its children
        )
        pump = threading.Thread(target=_pump, args=(process.stdout, handle, verbose), daemon=True)
        pump.start()
        end = time.monotonic() + timeout
        while True:
            try:
                process.wait(timeout=max(0.0, min(0.5, end - time.monotonic())))
                break
            except subprocess.TimeoutExpired:
                if time.monotonic() >= end:
                    _kill(process)
                    pump.join(timeout=5)
                    return None
                if tick is not None:
                    tick()
        pump.join()
    return process.returncode


def _pump(stream: Any, handle: Any, verbose: bool) -> None:
    for line in stream:
        handle.write(line)
        if verbose:
            sys.stdout.write(line)
            sys.stdout.flush()


def _kill(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=10)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _child_env(run: CheckRun) -> dict[str, str]:
    args = run.args
    env = dict(os.environ)
    env.pop("PYTEST_ADDOPTS", None)  # the check decides the pytest options
    for var, value in (("MMV3_USER", args.user), ("MMV3_ADMIN", args.admin), ("MMV3_TEAM", args.team)):
        if value:
            env[var] = value
    has_admin = bool(args.admin or os.environ.get("MMV3_ADMIN"))
    env.pop("MMV3_ADMIN_PASSWORD", None)  # an admin password with no admin is not an error: ignored
    for target, source in (
        ("MMV3_PASSWORD", args.password_env),
        ("MMV3_ADMIN_PASSWORD", args.admin_password_env if has_admin else None),
    ):
        value = os.environ.get(source) if source else None
        if value:
            env[target] = value
            run.secrets.append(value)
    return env


def _last_line(log: Path, pattern: str) -> str:
    try:
        lines = log.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return ""
    for line in reversed(lines):
        found = re.search(pattern, line)
        if found:
            return found.group(1).strip(" !")
    return ""


def _run_step(
    run: CheckRun,
    step: Step,
    command: list[str],
    env: dict[str, str],
    log: Path,
    timeout: float,
    tick: Callable[[], None] | None = None,
) -> int | None:
    """Run one step's subprocess, time it, and scrub the passwords out of its log."""
    begun, step.started = time.monotonic(), time.time()
    code = _run(command, env, log, timeout, run.args.verbose, tick)
    step.seconds, step.finished = time.monotonic() - begun, time.time()
    step.exit_code = code
    _scrub(log, run.secrets)
    return code


def run_conformance(run: CheckRun, timeout: float) -> Step:
    args = run.args
    step = Step("conformance")
    suite = paths.conformance_dir()
    if suite is None:
        step.mapped, step.message = exitcodes.TOOL_MISSING, "the conformance suite is not installed with mmv3"
        return step
    command = [
        sys.executable, "-m", "pytest", str(suite), "-p", "no:cacheprovider", "-p", "no:faker", "-q",
        "--mm-reports", str(run.run_dir), "--alluredir", str(run.allure_dir), "--clean-alluredir",
        "--junitxml", str(run.run_dir / "junit-conformance.xml"), "-o", "junit_suite_name=mmv3-conformance",
    ]  # fmt: skip
    if int(args.workers):
        command += ["-n", str(args.workers)]
    if args.base_url:
        command += ["--base-url", args.base_url]
    if args.expect:
        command += ["--mm-expect", args.expect]
    if args.server_version:
        command += ["--mm-version", args.server_version]
    if args.strict:
        command.append("--mm-strict")
    if args.record:
        command += ["--mm-record", str(Path(args.record).resolve())]
    if args.no_ratelimit_tests:
        command.append("--mm-no-ratelimit-tests")
    if args.ratelimit != "auto":
        command += ["--mm-ratelimit", args.ratelimit]
    if args.seed is not None:
        command += ["--mm-seed", str(args.seed)]
    if args.families:
        command += ["-m", " or ".join(args.families.split(","))]
    log = run.run_dir / "conformance.log"
    console = _progress_console(run)
    if console is not None:
        command += ["--mm-progress-file", str(console.state_file)]
    try:
        code = _run_step(run, step, command, _child_env(run), log, timeout, console and console.tick)
    finally:
        if console is not None:
            console.close()
            console.state_file.unlink(missing_ok=True)
    if code is None:
        step.mapped, step.message = (
            exitcodes.UNREACHABLE,
            f"the conformance run did not finish in {timeout:.0f} s",
        )
    else:
        step.mapped = _PYTEST_EXITS.get(code, exitcodes.INTERNAL)
        if step.mapped == exitcodes.NOTHING_JUDGED:
            step.message = _last_line(log, r"mmv3 (nothing judged: .*)") or "nothing was judged"
        elif code >= 10:
            step.message = (
                _last_line(log, r"mmv3 preflight: (.*)")
                or _last_line(log, r"^mmv3: (the target .* stopped answering: .*)")
                or f"preflight failed ({code})"
            )
        elif step.mapped in (exitcodes.INTERNAL, exitcodes.USAGE):
            step.message = (
                _last_line(log, r"^mmv3: (worker .* died while running .*)")
                or _last_line(log, r"^(?:E\s+|ERROR: )?(.*\S)$")
            ) + f" (see {log})"
    return step


def _progress_console(run: CheckRun) -> Any:
    """The conformance step's progress line (None with -q, --progress 0 off a terminal, or -v on
    one, where pytest's own output scrolls)."""
    from mmv3.suite.progress import Console

    args = run.args
    console = Console(run.run_dir / ".progress.json", interval=float(args.progress))
    if args.quiet or (console.tty and args.verbose) or (not console.tty and not console.interval):
        return None
    return console


def file_unanswered(step: Step, matrix: dict[str, Any] | None) -> None:
    """Checks that failed for want of an answer (category `transport`: a reset, a timeout, an answer
    cut short) make the run "the target did not answer" (4), never a conformance failure (1)."""
    if step.mapped not in (exitcodes.OK, exitcodes.CONFORMANCE_FAILED) or not matrix:
        return
    unanswered = [
        (route, check)
        for route, entry in sorted(matrix.get("routes", {}).items())
        for family in entry.get("families", {}).values()
        for check in family.get("checks", [])
        if check.get("status") == "failed" and check.get("category") == "transport"
    ]
    if unanswered:
        route, check = unanswered[0]
        step.mapped = exitcodes.UNREACHABLE
        step.message = (
            f"{len(unanswered)} check(s) got no answer from the target (transport failures, not "
            f"conformance failures), e.g. {check.get('check')} {route}: {check.get('reason', '')}"
        )[:400]


def run_load(run: CheckRun, load_time: float, timeout: float, target: str | None) -> Step:
    args = run.args
    step = Step("load")
    locustfile = paths.loadtests_dir()
    if locustfile is None:
        step.mapped, step.message = exitcodes.TOOL_MISSING, "the load tests are not installed with mmv3"
        return step
    if importlib.util.find_spec("locust") is None:
        step.mapped = exitcodes.TOOL_MISSING
        step.message = "Locust is not installed: python -m pip install 'mmv3[load]'"
        return step
    thresholds = args.thresholds or str(locustfile / "thresholds.yaml")
    command = [
        sys.executable, "-m", "locust", "-f", str(locustfile / "locustfile.py"), "--headless",
        "-u", str(args.load_users), "-r", str(args.load_users), "-t", f"{int(load_time)}s",
        "--stop-timeout", "5", "--only-summary",
        "--mmv3-thresholds", thresholds, "--mmv3-max-requests", str(args.load_max_requests),
        "--mmv3-report-dir", str(run.run_dir), "--mmv3-run-name", "load",
        "--mmv3-allure-dir", str(run.allure_dir), args.load,
    ]  # fmt: skip
    if target:
        command[5:5] = ["--host", target]  # after `-f locustfile.py`
    env = _child_env(run)
    if args.admin:
        env["MMV3_ADMIN"] = args.admin
    log = run.run_dir / "load.log"
    code = _run_step(run, step, command, env, log, timeout)
    if code is None:
        step.mapped, step.message = exitcodes.INTERNAL, f"the load run did not end in {timeout:.0f} s"
    elif code == 2:
        step.mapped = exitcodes.USAGE
        step.message = _last_line(log, r"(mmv3.*|.*error.*)") or f"Locust refused the run (see {log})"
    else:
        step.mapped = _LOCUST_EXITS.get(code, exitcodes.INTERNAL)
        if step.mapped == exitcodes.INTERNAL:
            step.message = f"Locust ended with {code} (see {log})"
        elif code not in (0, 1, 3):
            step.message = _last_line(log, _LOCUST_LINE) or f"Locust ended with {code} (see {log})"
    summary = load_summary(run.load_dir)
    if summary is None and step.mapped in (exitcodes.OK, exitcodes.THRESHOLDS_BREACHED):
        step.mapped, step.message = exitcodes.INTERNAL, f"the load run wrote no summary (see {log})"
    junit.write_load(run.run_dir / "junit-load.xml", summary, step.seconds, error=step.message or None)
    return step


def _scrub(path: Path, secrets: list[str]) -> None:
    if secrets and path.exists():
        text = path.read_text(encoding="utf-8", errors="replace")
        path.write_text(redact.literal(text, secrets), encoding="utf-8")


def load_summary(load_dir: Path) -> dict[str, Any] | None:
    try:
        return json.loads((load_dir / "summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def target_profile(run_dir: Path) -> dict[str, Any] | None:
    """What the conformance run found the target to be, and how that compares with --expect."""
    from mmv3.suite.profile import PROFILE_FILE

    try:
        return json.loads((run_dir / PROFILE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def profile_lines(found: dict[str, Any] | None, ratelimit: str) -> list[str]:
    """`target: Mattermost 4.9.0 ..., rate limiting on (...)` and each difference from --expect."""
    if not found:
        return []
    from mmv3.suite.profile import TargetProfile

    how = " (--ratelimit auto: detected)" if ratelimit == "auto" else f" (--ratelimit {ratelimit})"
    lines = [f"target: {TargetProfile.from_dict(found.get('profile') or {}).describe()}{how}"]
    lines += [f"  note: {n}" for n in found.get("notes", [])]
    if found.get("differences"):
        where = found.get("expected_from") or "--ratelimit"
        lines.append(f"target profile differs from {where}:")
        lines += [f"  {d}" for d in found["differences"]]
    return lines


def conformance_matrix(run_dir: Path) -> dict[str, Any] | None:
    try:
        return json.loads((run_dir / "conformance-matrix.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


# ---------------------------------------------------------------------------------- summary
_BAD = ("failed", "xpassed", "error")


def summary_lines(matrix: dict[str, Any] | None, load: dict[str, Any] | None, limit: int = 20) -> list[str]:
    """The short summary: per group and per family, the oracle's verdict, the first failures."""
    lines: list[str] = []
    if matrix:
        environment = matrix.get("environment") or {}
        for key in ("Version profile", "Known deviations"):
            if key in environment:
                lines.append(f"{key.lower()}: {environment[key]}")
        groups: dict[str, dict[str, int]] = {}
        failures: list[str] = []
        for route, entry in sorted(matrix.get("routes", {}).items()):
            tally = groups.setdefault(entry.get("group", "?"), {"routes": 0, "bad": 0})
            tally["routes"] += 1
            bad = False
            for family in entry.get("families", {}).values():
                for check in family.get("checks", []):
                    if check.get("status") in _BAD:
                        bad = True
                        reason = check.get("reason", "")
                        failures.append(
                            f"  {check['status'].upper():<7} {check['check']:<26} {route}  {reason}"[:200]
                        )
            tally["bad"] += bad
        lines.append("conformance by group:")
        row = []
        for group, tally in sorted(groups.items()):
            mark = "ok" if not tally["bad"] else f"{tally['bad']} failing"
            row.append(f"{group} {tally['routes'] - tally['bad']}/{tally['routes']} ({mark})")
        lines += ["  " + ", ".join(row[i : i + 4]) for i in range(0, len(row), 4)]
        lines.append("conformance by check family:")
        for family, counts in matrix.get("families", {}).items():
            bad = sum(counts.get(s, 0) for s in _BAD)
            parts = ", ".join(f"{n} {s}" for s, n in counts.items())
            lines.append(f"  {family:<10} {'FAIL' if bad else 'ok':<5} {parts}")
        if failures:
            lines.append(f"failing checks ({len(failures)}):")
            lines += failures[:limit]
            if len(failures) > limit:
                lines.append(f"  … {len(failures) - limit} more in the matrix")
    if load:
        totals = load.get("totals", {})
        lines.append(
            f"load: {load.get('locust', {}).get('requests', 0)} requests, "
            f"{totals.get('goodput_rps', 0):.1f} accepted/s, throttled ratio {totals.get('throttled_ratio', 0):.3f}, "
            f"failure ratio {totals.get('failure_ratio', 0):.4f}"
        )
        verdicts = (load.get("oracle") or {}).get("verdicts", [])
        failed = [v for v in verdicts if v.get("status") == "failed"]
        measured = [v for v in verdicts if v.get("status") in ("passed", "failed")]
        if measured:
            word = "FAILED" if failed else "passed"
            lines.append(
                f"rate-limit oracle: {word} ({len(measured) - len(failed)}/{len(measured)} verdicts)"
            )
            lines += [f"  {v.get('name')}: {v.get('message', '')}" for v in failed]
        else:
            lines.append("rate-limit oracle: nothing to judge (no rate limit seen)")
        breaches = (load.get("thresholds") or {}).get("breaches", [])
        lines += [f"  {b}" for b in breaches]
    return lines


def failure_lines(
    matrix: dict[str, Any] | None, differences: list[str] | None = None, limit: int = 20
) -> list[str]:
    """Each failing check (and each difference from the recorded target profile) as one line for
    stderr, `FAILED <check> <route>: <reason>`, the first `limit` and then how many more."""
    lines = [f"target profile differs: {d}" for d in differences or []]
    for route, entry in sorted((matrix or {}).get("routes", {}).items()):
        for family in entry.get("families", {}).values():
            for check in family.get("checks", []):
                if check.get("status") in _BAD:
                    reason = " ".join(str(check.get("reason") or "").split())
                    reason = reason if len(reason) <= 160 else reason[:159] + "…"
                    lines.append(f"{check['status'].upper()} {check['check']} {route}: {reason}")
    if len(lines) > limit:
        lines[limit:] = [f"… and {len(lines) - limit} more (see conformance-matrix.md)"]
    return lines


def overall(steps: list[Step]) -> int:
    codes = {s.mapped for s in steps if s.mapped != exitcodes.OK}
    for code in _PRECEDENCE:
        if code in codes:
            return code
    return exitcodes.OK


def baseline(matrix: dict[str, Any]) -> list[Any]:
    """Every check that failed (or failed as a known deviation) in this run, as deviations."""
    from mmv3.suite.expectations import Deviation

    out = []
    for route, entry in sorted(matrix.get("routes", {}).items()):
        for family in entry.get("families", {}).values():
            for check in family.get("checks", []):
                if check.get("status") in ("failed", "error", "xfailed"):
                    reason = " ".join(str(check.get("reason") or "failed").split())[:300]
                    out.append(Deviation(route, check["check"], reason))
    return out


def _stamp(when: float | None) -> str | None:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(when)) if when is not None else None


def step_entry(step: Step) -> dict[str, Any]:
    """A step as run.json lists it."""
    entry: dict[str, Any] = {
        "name": step.name,
        "started": _stamp(step.started),
        "finished": _stamp(step.finished),
        "exit_code": step.exit_code,
        "verdict": exitcodes.DESCRIPTIONS.get(step.mapped),
        "message": step.message,
        "seconds": round(step.seconds, 1),
    }
    if step.output:
        entry["output"] = step.output
    return entry


def build_report_step(run: CheckRun) -> Step:
    """`--report`: build the HTML report; its outcome never changes the run's exit code."""
    from mmv3.report import ReportError, build_report

    step = Step("report", started=time.time())
    begun = time.monotonic()
    try:
        step.output = str(build_report(run.run_dir, Path(run.args.reports)))
        step.exit_code = exitcodes.OK
    except ReportError as exc:
        step.exit_code = step.mapped = exc.exit_code
        step.message = str(exc)
    step.seconds, step.finished = time.monotonic() - begun, time.time()
    return step


def write_run_file(run: CheckRun, code: int, target: str, report: Step | None = None) -> Path:
    """run.json; `report` is the report step (None: not asked for, listed as not built)."""
    found = target_profile(run.run_dir) or {}
    body = {
        "run_id": run.run_dir.name,
        "target": redact.url(target),
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(run.started)),
        "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "exit_code": code,
        "verdict": exitcodes.DESCRIPTIONS.get(code, str(code)),
        "profile": found.get("profile"),
        "profile_differences": found.get("differences", []),
        "steps": [step_entry(s) for s in run.steps],
        # The report's outcome, apart from the steps: it never changes the run's exit code.
        "report": step_entry(report)
        if report is not None
        else {"name": "report", "exit_code": None, "message": "not built (`mmv3 report RUN_DIR` builds it)"},
    }
    path = run.run_dir / RUN_FILE
    path.write_text(redact.literal(json.dumps(body, indent=1), run.secrets), encoding="utf-8")
    return path


def run_check_command(args: argparse.Namespace) -> int:
    try:
        max_time, load_time = _validate(args)
        run = CheckRun(args, new_run_dir(Path(args.reports), args.run_id))
    except (UsageError, OSError) as exc:
        print(f"mmv3 check: {exc}", file=sys.stderr)
        return exitcodes.USAGE
    deadline = time.monotonic() + max_time
    target = args.base_url or "embedded mmv3 reference server"
    print(f"mmv3 check: {redact.url(target)} → {run.run_dir}", flush=True)
    step = run_conformance(run, max(1.0, deadline - time.monotonic()))
    file_unanswered(step, conformance_matrix(run.run_dir))
    run.steps.append(step)
    reachable = step.mapped in (exitcodes.OK, exitcodes.CONFORMANCE_FAILED, exitcodes.NOTHING_JUDGED)
    if args.load and reachable:
        # Locust needs its own bound: the run's length plus provisioning, probe and reports.
        bound = min(load_time + 120.0, max(1.0, deadline - time.monotonic()))
        run.steps.append(run_load(run, load_time, bound, args.base_url))
    code = overall(run.steps)
    for line in profile_lines(target_profile(run.run_dir), args.ratelimit):
        print(line)
    for line in summary_lines(
        conformance_matrix(run.run_dir), load_summary(run.load_dir) if args.load else None
    ):
        print(line)
    for s in run.steps:
        if s.message:
            print(f"mmv3 check: {s.name}: {s.message}", file=sys.stderr)
        if s.name == "conformance" and s.mapped == exitcodes.CONFORMANCE_FAILED:
            differences = (target_profile(run.run_dir) or {}).get("differences")
            for line in failure_lines(conformance_matrix(run.run_dir), differences):
                print(f"mmv3 check: conformance: {line}", file=sys.stderr)
    write_run_file(run, code, target)
    matrix = conformance_matrix(run.run_dir)
    if args.write_baseline and matrix:
        from mmv3.suite.expectations import dump
        from mmv3.suite.profile import TargetProfile

        deviations = baseline(matrix)
        found = (target_profile(run.run_dir) or {}).get("profile")
        detected = TargetProfile.from_dict(found) if found else None
        dump(args.write_baseline, redact.url(target), deviations, detected)
        recorded = f", target profile: {detected.describe()}" if detected else ""
        print(f"baseline: {args.write_baseline} ({len(deviations)} known deviations{recorded})")
    has_results = run.allure_dir.is_dir() and any(run.allure_dir.glob("*-result.json"))
    if args.report and has_results:
        report = build_report_step(run)
        if report.output:
            print(f"report: {report.output}")
        else:
            print(f"mmv3 check: no HTML report: {report.message}", file=sys.stderr)
        write_run_file(run, code, target, report)  # run.json now lists the report step too
    elif has_results:  # a run that judged nothing has nothing to show
        print(f"report: `mmv3 report {run.run_dir}` builds the HTML report")
    if args.keep:
        prune_old_runs(run, args.keep)
    print(f"results: {run.run_dir}  (exit {code}: {exitcodes.DESCRIPTIONS.get(code, '')})")
    return code


def prune_old_runs(run: CheckRun, keep: int) -> None:
    pruned = retention.prune(run.run_dir.parent, keep, run.run_dir)
    if pruned.removed:
        plural = "run" if len(pruned.removed) == 1 else "runs"
        print(
            f"reports: removed {len(pruned.removed)} older {plural} (--keep {keep}), "
            f"{pruned.freed_bytes / 1e6:.1f} MB freed"
        )
    for failure in pruned.failed:
        print(f"mmv3 check: --keep: could not remove {failure}", file=sys.stderr)
