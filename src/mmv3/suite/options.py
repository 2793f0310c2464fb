"""The suite's options: each one a command-line flag, an environment variable and an ini key.

Precedence: command line, then environment, then the ini/toml section (`[pytest]` in
pytest.ini, `[tool.pytest.ini_options]` in pyproject.toml), then the default.
The target URL is pytest-base-url's `--base-url` / `PYTEST_BASE_URL` / `base_url`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from mmv3 import versions
from mmv3.ratelimit import Quota
from mmv3.suite.expectations import AUTO, NONE, bundled

# The embedded reference server's rate limit: fast enough that draining and refilling the
# bucket in the rate-limit checks takes a fraction of a second, slow enough for a Python
# client to exceed it, and roomy enough that the paced rest of the run is not held back.
EMBEDDED_RATE_LIMIT = "100/20"
DEFAULT_SEED = 4049


@dataclass(frozen=True)
class Option:
    flag: str
    env: str
    help: str
    default: Any = None
    kind: str = "string"  # string | bool | float | int | list
    metavar: str | None = None

    @property
    def dest(self) -> str:
        return self.flag.lstrip("-").replace("-", "_")

    @property
    def ini(self) -> str:
        return self.dest


OPTIONS: tuple[Option, ...] = (
    Option("--mm-user", "MMV3_USER", "login id (username or email) of a regular user", metavar="LOGIN"),
    Option("--mm-password", "MMV3_PASSWORD", "password of --mm-user (prefer the environment variable)"),
    Option(
        "--mm-admin",
        "MMV3_ADMIN",
        "login id of a system admin (optional: admin-only checks are skipped without it)",
        metavar="LOGIN",
    ),
    Option("--mm-admin-password", "MMV3_ADMIN_PASSWORD", "password of --mm-admin"),
    Option(
        "--mm-team",
        "MMV3_TEAM",
        "name of an existing team to work in (default: a team created for the run)",
        metavar="NAME",
    ),
    Option("--mm-seed", "MMV3_SEED", "seed of the generated test data", DEFAULT_SEED, "int", "N"),
    Option(
        "--mm-expect",
        "MMV3_EXPECT",
        "YAML file of known deviations (route + check + reason): they are reported as expected "
        "failures and fail the run when they pass; a shipped name (mattermost-4.9), `auto` (the "
        "shipped file of the target's version, see README) or `none` (default)",
        metavar="FILE",
    ),
    Option(
        "--mm-version",
        "MMV3_VERSION",
        "judge the target as Mattermost X (e.g. 3.10, 4.9.0) instead of the version it reports: "
        "the routes it serves and the fields it has (schemas/versions.json)",
        metavar="X",
    ),
    Option(
        "--mm-strict", "MMV3_STRICT", "unknown extra fields in bodies fail the schema check", False, "bool"
    ),
    Option("--mm-no-ratelimit-tests", "MMV3_NO_RATELIMIT_TESTS", "skip the rate-limit family", False, "bool"),
    Option(
        "--mm-ratelimit",
        "MMV3_RATELIMIT",
        "whether the target must rate-limit: on, off, or auto (detected; without headers the "
        "rate-limit checks are skipped); with on or off a target that does otherwise fails the run",
        "auto",
        metavar="on|off|auto",
    ),
    Option("--mm-timeout", "MMV3_TIMEOUT", "seconds to wait for an answer", 10.0, "float", "SECONDS"),
    Option(
        "--mm-connect-timeout",
        "MMV3_CONNECT_TIMEOUT",
        "seconds to wait for a connection",
        5.0,
        "float",
        "SECONDS",
    ),
    Option(
        "--mm-slow-timeout",
        "MMV3_SLOW_TIMEOUT",
        "seconds to wait for a route that is slow by design (default: its x-mmv3-slow timeout in "
        "the catalogue, 90 s for GET /admin/recycle_db_conn)",
        None,
        "float",
        "SECONDS",
    ),
    Option(
        "--mm-reports",
        "MMV3_REPORTS",
        "directory for the matrix, JUnit XML and Allure results",
        "reports",
        metavar="DIR",
    ),
    Option(
        "--mm-progress",
        "MMV3_PROGRESS",
        "seconds between two progress lines (checks and families done, verdicts, requests sent, "
        "time left); 0 for none; -q silences them too",
        15,
        "int",
        "SECONDS",
    ),
    Option(
        "--mm-progress-file",
        "MMV3_PROGRESS_FILE",
        "keep the run's progress in this JSON file, rewritten as checks finish (what `mmv3 check` shows)",
        metavar="FILE",
    ),
    Option(
        "--mm-record",
        "MMV3_RECORD",
        "write every exchange of the run as a corpus under DIR: redacted HAR 1.2 files per route "
        "group, entries annotated with _route, _case and _check (the layout of tests/corpus/)",
        metavar="DIR",
    ),
    Option(
        "--mm-embedded-rate-limit",
        "MMV3_EMBEDDED_RATE_LIMIT",
        f"rate limit of the embedded reference server, PERSEC/BURST or off (default {EMBEDDED_RATE_LIMIT})",
        EMBEDDED_RATE_LIMIT,
        metavar="PERSEC/BURST",
    ),
    Option(
        "--mm-embedded-fault",
        "MMV3_EMBEDDED_FAULTS",
        "switch a fault on in the embedded reference server (repeatable; for mmv3's own tests)",
        (),
        "list",
        "NAME",
    ),
)


def add_options(parser: pytest.Parser) -> None:
    group = parser.getgroup("mmv3", "mmv3 conformance (Mattermost API v3)")
    for option in OPTIONS:
        kwargs: dict[str, Any] = {"dest": option.dest, "default": None, "help": option.help}
        if option.kind == "bool":
            kwargs["action"] = "store_true"
        elif option.kind == "list":
            kwargs["action"] = "append"
        if option.metavar and option.kind != "bool":
            kwargs["metavar"] = option.metavar
        group.addoption(option.flag, **kwargs)
        ini_type = "bool" if option.kind == "bool" else "linelist" if option.kind == "list" else "string"
        parser.addini(option.ini, f"{option.help} (as {option.flag})", type=ini_type, default=None)


@dataclass(frozen=True)
class Settings:
    """Resolved option values, plain data (also shipped to xdist workers)."""

    base_url: str | None
    user: str | None
    password: str | None = field(repr=False)
    admin: str | None
    admin_password: str | None = field(repr=False)
    team: str | None
    seed: int
    expect: str | None  # a file, or expectations.AUTO (chosen after preflight); None for none
    version: str | None  # --mm-version: the version profile in force instead of the reported one
    strict: bool
    no_ratelimit_tests: bool
    ratelimit: str
    timeout: float
    connect_timeout: float
    reports: Path
    embedded_rate_limit: str | None
    embedded_faults: tuple[str, ...]
    slow_timeout: float | None = None
    progress: int = 15  # seconds between progress lines, 0: none
    progress_file: str | None = None
    record: str | None = None  # --mm-record: the corpus directory

    @property
    def embedded(self) -> bool:
        return not self.base_url


def _raw(config: pytest.Config, option: Option) -> Any:
    value = config.getoption(option.dest)
    if value is not None and value != []:
        return value
    env = os.environ.get(option.env)
    if env is not None and env != "":
        return env
    ini = config.getini(option.ini)
    if ini not in (None, "", []):
        return ini
    return option.default


def _convert(option: Option, value: Any) -> Any:
    if option.kind == "bool":
        if isinstance(value, str):
            lowered = value.strip().lower()
            if lowered not in ("1", "true", "yes", "on", "0", "false", "no", "off", ""):
                raise pytest.UsageError(
                    f"{option.flag} / {option.env}: expected true or false, got {value!r}"
                )
            return lowered in ("1", "true", "yes", "on")
        return bool(value)
    if option.kind in ("int", "float"):
        if value is None:
            return None
        try:
            number = int(value) if option.kind == "int" else float(value)
        except (TypeError, ValueError):
            raise pytest.UsageError(
                f"{option.flag} / {option.env}: expected a number, got {value!r}"
            ) from None
        if option.kind == "float" and number <= 0:
            raise pytest.UsageError(f"{option.flag}: must be greater than 0, got {value!r}")
        return number
    if option.kind == "list":
        if isinstance(value, str):
            value = value.replace(",", " ").split()
        return tuple(str(v).strip() for v in value if str(v).strip())
    return value if value is None else str(value)


def resolve(config: pytest.Config) -> Settings:
    """Read every option (UsageError, one line, for a bad value)."""
    values = {option.dest.removeprefix("mm_"): _convert(option, _raw(config, option)) for option in OPTIONS}
    base_url = config.getoption("base_url", None) or config.getini("base_url") or None
    ratelimit = (values["ratelimit"] or "auto").lower()
    if ratelimit not in ("auto", "on", "off"):
        raise pytest.UsageError(f"--mm-ratelimit must be on, off or auto, got {values['ratelimit']!r}")
    embedded_limit = values.pop("embedded_rate_limit")
    if embedded_limit and embedded_limit.lower() in ("off", "none", "0"):
        embedded_limit = None
    elif embedded_limit:
        try:
            Quota.parse(embedded_limit)
        except ValueError as exc:
            raise pytest.UsageError(f"--mm-embedded-rate-limit: {exc}") from None
    if base_url:
        missing = [
            flag
            for flag, value in (("--mm-user", values["user"]), ("--mm-password", values["password"]))
            if not value
        ]
        if missing:
            raise pytest.UsageError(
                f"--base-url {base_url} needs {' and '.join(missing)} (or MMV3_USER / MMV3_PASSWORD)"
            )
        if values["admin"] and not values["admin_password"]:
            raise pytest.UsageError("--mm-admin needs --mm-admin-password (or MMV3_ADMIN_PASSWORD)")
        if not values["admin"]:
            values["admin_password"] = None  # a password without an admin is ignored, not an error
        if values["embedded_fault"]:
            raise pytest.UsageError("--mm-embedded-fault applies to the embedded server only (no --base-url)")
    if values["version"]:
        try:
            versions.parse(values["version"])
        except versions.VersionError as exc:
            raise pytest.UsageError(f"--mm-version: {exc}") from None
    if (values["expect"] or "").lower() in (AUTO, NONE):
        values["expect"] = AUTO if values["expect"].lower() == AUTO else None
    elif values["expect"] and not Path(values["expect"]).is_file():
        shipped = bundled(f"{values['expect']}.yaml")
        if "/" in values["expect"] or not shipped.is_file():
            raise pytest.UsageError(f"--mm-expect: no such file: {values['expect']}")
        values["expect"] = str(shipped)
    values["embedded_faults"] = values.pop("embedded_fault")
    if values["progress"] < 0:
        raise pytest.UsageError(f"--mm-progress: seconds, 0 or more, got {values['progress']!r}")
    return Settings(
        base_url=base_url,
        reports=Path(values.pop("reports")),
        embedded_rate_limit=embedded_limit,
        ratelimit=ratelimit,
        **{k: v for k, v in values.items() if k != "ratelimit"},
    )
