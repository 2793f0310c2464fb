"""The options of a load run: declared once here (the Locust glue adds them to Locust's own
parser, with their environment variables), parsed and checked into `Settings`."""

from __future__ import annotations

import argparse
import re
import shlex
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mmv3.load.oracle import Tolerances
from mmv3.ratelimit import Quota

# Every run is bounded in time: this applies when --run-time is not given.
DEFAULT_RUN_TIME = 60
DEFAULT_STEPS = "0.5x10,1x10,2x20"
DEFAULT_SERVE = "--rate-limit 10/100"


class SettingsError(ValueError):
    """An option has an unusable value (one line naming the option)."""


@dataclass(frozen=True)
class Option:
    """One --mmv3-* option. `name` is its argparse dest, chosen for Locust's web UI: the form
    labels a field from it (``max_requests`` -> "Max Requests") and sends it back under a name
    derived from that label, so it is plain lower-case words joined by underscores, no digits
    (``mmv3_max_requests`` would show as "Mmv 3Max Requests" and come back as ``mmv_3max_requests``,
    a name Locust then ignores). `help` is shown after the label and in --help."""

    flag: str
    env: str
    default: Any
    help: str
    name: str
    type: Any = str
    secret: bool = False  # never shown in the web UI, never written to reports
    flag_only: bool = False  # a switch (store_true)
    choices: tuple[str, ...] | None = None
    per_run: bool = True  # False: read once at start-up, so not offered in the web UI's form
    master_only: bool = False  # used on the master only: a worker neither reads nor checks it

    @property
    def dest(self) -> str:
        """The attribute of Locust's parsed options that holds the value."""
        return self.name

    @property
    def key(self) -> str:
        """The flag as an identifier (``mmv3_max_requests``), the key `Settings` reads it by."""
        return self.flag.lstrip("-").replace("-", "_")


OPTIONS: tuple[Option, ...] = (
    Option(
        "--mmv3-admin",
        "MMV3_ADMIN",
        "",
        "login of the system admin that provisions the run; optional, its password comes from the"
        " environment",
        name="admin_login",
        master_only=True,
    ),
    Option(
        "--mmv3-admin-password",
        "MMV3_ADMIN_PASSWORD",
        "",
        "the admin's password; prefer the environment variable",
        name="admin_password",
        secret=True,
        master_only=True,
    ),
    Option(
        "--mmv3-pool-csv",
        "MMV3_POOL_CSV",
        "",
        "CSV file of existing accounts, header username,password, used instead of new ones",
        name="existing_accounts_file",
        master_only=True,
    ),
    Option(
        "--mmv3-pool-size",
        "MMV3_POOL_SIZE",
        20,
        "accounts to create for the run",
        name="accounts_to_create",
        type=int,
        master_only=True,
    ),
    Option(
        "--mmv3-team",
        "MMV3_TEAM",
        "",
        "an existing team to run in, one that `mmv3 seed` made; its accounts come from --mmv3-pool-csv",
        name="existing_team",
        master_only=True,
    ),
    Option(
        "--mmv3-channels",
        "MMV3_CHANNELS",
        1,
        "channels to create per team besides town-square and off-topic",
        name="extra_channels_per_team",
        type=int,
        master_only=True,
    ),
    Option(
        "--mmv3-expect",
        "MMV3_EXPECT",
        "",
        "the quota the server should enforce, PERSEC/BURST, e.g. 10/100; empty: judge by its headers",
        name="expected_quota",
        master_only=True,
    ),
    Option(
        "--mmv3-burst-tolerance",
        "MMV3_BURST_TOLERANCE",
        2,
        "rate-limit oracle: requests the measured burst may differ by",
        name="burst_tolerance",
        type=int,
        master_only=True,
    ),
    Option(
        "--mmv3-rate-tolerance",
        "MMV3_RATE_TOLERANCE",
        5.0,
        "rate-limit oracle: percent the sustained accepted rate may differ by",
        name="rate_tolerance_percent",
        type=float,
        master_only=True,
    ),
    Option(
        "--mmv3-thresholds",
        "MMV3_THRESHOLDS",
        "",
        "YAML file of thresholds checked when the run ends, e.g. loadtests/thresholds.yaml",
        name="thresholds_file",
        master_only=True,
    ),
    Option(
        "--mmv3-report-dir",
        "MMV3_REPORT_DIR",
        "reports/load",
        "directory that receives the run's report directory",
        name="report_directory",
        master_only=True,
    ),
    Option(
        "--mmv3-run-name",
        "MMV3_RUN_NAME",
        "",
        "name of the run's report directory; empty: a time stamp",
        name="report_name",
        master_only=True,
    ),
    Option(
        "--mmv3-allure-dir",
        "MMV3_ALLURE_DIR",
        "reports/allure-results",
        "directory of the Allure results; none: write none",
        name="allure_results_directory",
        master_only=True,
    ),
    Option(
        "--mmv3-throttled-as-failure",
        "MMV3_THROTTLED_AS_FAILURE",
        False,
        "count 429s as failures; off: they get their own throttled rows, outside the failure ratio",
        name="throttled_as_failures",
        flag_only=True,
    ),
    Option(
        "--mmv3-retry-after",
        "MMV3_RETRY_AFTER",
        "honour",
        "honour: after a 429 a user waits Retry-After before its next task; ignore: it does not",
        name="retry_after",
        choices=("honour", "ignore"),
    ),
    Option(
        "--mmv3-max-requests",
        "MMV3_MAX_REQUESTS",
        0,
        "stop the run after this many requests; 0: no limit but the run time",
        name="max_requests",
        type=int,
    ),
    Option(
        "--mmv3-arrival-rate",
        "MMV3_ARRIVAL_RATE",
        0.0,
        "open model: tasks start at this many per second in total, latency from the scheduled time; 0: off",
        name="arrival_rate",
        type=float,
    ),
    Option(
        "--mmv3-steps",
        "MMV3_STEPS",
        DEFAULT_STEPS,
        "StepShape stages, FACTORxSECONDS of the step base rate, comma-separated",
        name="step_stages",
    ),
    Option(
        "--mmv3-step-rate",
        "MMV3_STEP_RATE",
        0.0,
        "StepShape base rate per second; 0: the expected quota's rate, else 10",
        name="step_base_rate",
        type=float,
    ),
    Option(
        "--mmv3-wait",
        "MMV3_WAIT",
        "",
        "closed model think time, MIN-MAX seconds; empty: each scenario's own",
        name="think_time",
    ),
    Option(
        "--mmv3-serve",
        "MMV3_SERVE",
        DEFAULT_SERVE,
        "arguments of the `mmv3 serve` started when no --host is given",
        name="embedded_server_args",
        master_only=True,
        per_run=False,  # the server starts once, with Locust
    ),
    Option(
        "--mmv3-bucket-by",
        "MMV3_BUCKET_BY",
        "host",
        "rate-limit buckets the oracle assumes: host, one per load-generator host; run, one in all",
        name="rate_limit_buckets",
        choices=("host", "run"),
    ),
    Option(
        "--mmv3-no-probe",
        "MMV3_NO_PROBE",
        False,
        "skip the Retry-After probe when the load has stopped",
        name="skip_retry_after_probe",
        flag_only=True,
        master_only=True,
    ),
    Option(
        "--mmv3-no-plots",
        "MMV3_NO_PLOTS",
        False,
        "do not draw the PNG plots of the report",
        name="skip_plots",
        flag_only=True,
        master_only=True,
    ),
    Option(
        "--mmv3-seed",
        "MMV3_SEED",
        4049,
        "seed of the generated accounts and messages",
        name="random_seed",
        type=int,
    ),
)


@dataclass(frozen=True)
class Step:
    factor: float
    seconds: float


@dataclass(frozen=True)
class Settings:
    admin: tuple[str, str] | None
    pool_csv: str
    pool_size: int
    channels: int
    team: str
    expected: Quota | None
    tolerances: Tolerances
    thresholds: str
    report_dir: Path
    allure_dir: Path | None
    throttled_as_failure: bool
    honour_retry_after: bool
    max_requests: int
    arrival_rate: float
    steps: tuple[Step, ...]
    step_rate: float
    wait: tuple[float, float] | None
    serve_args: tuple[str, ...]
    bucket_by: str
    probe: bool
    plots: bool
    seed: int
    run_name: str

    @classmethod
    def from_namespace(cls, ns: argparse.Namespace | Any, *, worker: bool = False) -> Settings:
        """The settings of `ns`; on a worker (`worker=True`) the master-only options keep their
        defaults unread and unchecked: the master validates them, and its options replace the
        worker's own with every spawn message."""
        get = lambda option: getattr(ns, option.dest, option.default)  # noqa: E731
        values = {o.key: o.default if worker and o.master_only else get(o) for o in OPTIONS}
        user, password = values["mmv3_admin"] or "", values["mmv3_admin_password"] or ""
        if bool(user) != bool(password):
            raise SettingsError("--mmv3-admin and --mmv3-admin-password (MMV3_ADMIN_PASSWORD) go together")
        expected = None
        if values["mmv3_expect"]:
            try:
                expected = Quota.parse(values["mmv3_expect"])
            except ValueError as exc:
                raise SettingsError(f"--mmv3-expect: {exc}") from None
        for name in ("mmv3_pool_size", "mmv3_channels", "mmv3_max_requests", "mmv3_burst_tolerance"):
            if int(values[name]) < 0:
                raise SettingsError(f"--{name.replace('_', '-')} must be >= 0, got {values[name]}")
        if int(values["mmv3_pool_size"]) < 1 and not values["mmv3_pool_csv"]:
            raise SettingsError("--mmv3-pool-size must be at least 1")
        if values["mmv3_team"] and not values["mmv3_pool_csv"]:
            raise SettingsError(
                "--mmv3-team needs --mmv3-pool-csv: the team's accounts (mmv3 seed --pool-csv)"
            )
        for name in ("mmv3_arrival_rate", "mmv3_step_rate", "mmv3_rate_tolerance"):
            if float(values[name]) < 0:
                raise SettingsError(f"--{name.replace('_', '-')} must be >= 0, got {values[name]}")
        step_rate = float(values["mmv3_step_rate"]) or (expected.per_sec if expected else 10.0)
        allure = str(values["mmv3_allure_dir"] or "")
        run_name = values["mmv3_run_name"] or time.strftime("%Y%m%d-%H%M%S")
        if not re.fullmatch(r"[A-Za-z0-9._-]+", run_name):
            raise SettingsError(f"--mmv3-run-name may hold letters, digits, . _ - only, got {run_name!r}")
        try:
            serve = tuple(shlex.split(values["mmv3_serve"] or ""))
        except ValueError as exc:
            raise SettingsError(f"--mmv3-serve: {exc}") from None
        return cls(
            admin=(user, password) if user else None,
            pool_csv=values["mmv3_pool_csv"] or "",
            pool_size=int(values["mmv3_pool_size"]),
            channels=int(values["mmv3_channels"]),
            team=values["mmv3_team"] or "",
            expected=expected,
            tolerances=Tolerances(
                burst=int(values["mmv3_burst_tolerance"]), rate=float(values["mmv3_rate_tolerance"]) / 100
            ),
            thresholds=values["mmv3_thresholds"] or "",
            report_dir=Path(values["mmv3_report_dir"] or "reports/load"),
            allure_dir=None if allure.lower() in ("", "none", "off") else Path(allure),
            throttled_as_failure=_flag(values["mmv3_throttled_as_failure"]),
            honour_retry_after=values["mmv3_retry_after"] != "ignore",
            max_requests=int(values["mmv3_max_requests"]),
            arrival_rate=float(values["mmv3_arrival_rate"]),
            steps=parse_steps(values["mmv3_steps"] or DEFAULT_STEPS),
            step_rate=step_rate,
            wait=parse_wait(values["mmv3_wait"]) if values["mmv3_wait"] else None,
            serve_args=serve,
            bucket_by=values["mmv3_bucket_by"],
            probe=not _flag(values["mmv3_no_probe"]),
            plots=not _flag(values["mmv3_no_plots"]),
            seed=int(values["mmv3_seed"]),
            run_name=run_name,
        )

    @property
    def run_dir(self) -> Path:
        return self.report_dir / self.run_name

    def public(self) -> dict[str, Any]:
        """The settings as written into summary.json (no secrets)."""
        return {
            "admin": self.admin[0] if self.admin else None,
            "pool_csv": self.pool_csv or None,
            "pool_size": self.pool_size,
            "channels": self.channels,
            "team": self.team or None,
            "expected": f"{self.expected.per_sec:g}/{self.expected.max_burst}" if self.expected else None,
            "throttled_as_failure": self.throttled_as_failure,
            "retry_after": "honour" if self.honour_retry_after else "ignore",
            "max_requests": self.max_requests or None,
            "arrival_rate": self.arrival_rate or None,
            "bucket_by": self.bucket_by,
            "thresholds": self.thresholds or None,
            "seed": self.seed,
        }


def _flag(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


def parse_steps(text: str) -> tuple[Step, ...]:
    """ "0.5x10,1x10,2x20" -> stages of (factor of the step rate, seconds)."""
    steps = []
    for part in text.split(","):
        match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*[x*]\s*(\d+(?:\.\d+)?)\s*s?\s*", part)
        if not match:
            raise SettingsError(
                f"--mmv3-steps: each stage is FACTORxSECONDS (e.g. 0.5x10), got {part.strip()!r}"
            )
        factor, seconds = float(match.group(1)), float(match.group(2))
        if seconds <= 0:
            raise SettingsError(f"--mmv3-steps: a stage must last more than 0 s, got {part.strip()!r}")
        steps.append(Step(factor, seconds))
    return tuple(steps)


def parse_wait(text: str) -> tuple[float, float]:
    """ "0.5-2" -> (0.5, 2.0); "1" -> (1.0, 1.0)."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(?:-\s*(\d+(?:\.\d+)?))?\s*", text)
    if not match:
        raise SettingsError(f"--mmv3-wait must be MIN-MAX seconds (e.g. 0.5-2), got {text!r}")
    low = float(match.group(1))
    high = float(match.group(2)) if match.group(2) else low
    if high < low:
        raise SettingsError(f"--mmv3-wait: MIN must not exceed MAX, got {text!r}")
    return low, high
