"""The target profile: what a run found the target to be -- version and build, licensed or not,
rate limiting on or off and with what Limit and refill rate -- and its comparison with a
recorded one (the `profile:` section of an expectations file), so that a gate notices when the
target is no longer the one its baseline was written against.

File shape (every key optional; only the keys given are compared)::

    profile:
      version: "4.9"          # compared on major.minor ("4.9.0" is read as 4.9)
      build: "1234"           # a different build is a note, not a failure
      licensed: false
      rate_limit:
        enabled: true
        limit: 101            # X-Ratelimit-Limit, exactly
        rate: 10.0            # refill in requests/s as measured, within RATE_TOLERANCE
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

RATE_TOLERANCE = 0.2  # relative; the rate is measured, so it is never exact
PROFILE_FILE = "target-profile.json"


class ProfileError(ValueError):
    """An ill-formed `profile:` section (one-line message)."""


@dataclass
class TargetProfile:
    version: str | None = None
    build: str | None = None
    licensed: bool | None = None
    rate_limited: bool | None = None
    limit: int | None = None
    rate: float | None = None  # refill, requests per second, as the rate-limit family measured it

    def to_dict(self) -> dict[str, Any]:
        """The YAML/JSON shape, without unknown values."""
        out: dict[str, Any] = {}
        for key in ("version", "build", "licensed"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        limiting: dict[str, Any] = {}
        if self.rate_limited is not None:
            limiting["enabled"] = self.rate_limited
        if self.rate_limited is not False:
            if self.limit is not None:
                limiting["limit"] = self.limit
            if self.rate is not None:
                limiting["rate"] = round(self.rate, 2)
        if limiting:
            out["rate_limit"] = limiting
        return out

    @classmethod
    def from_dict(cls, data: Any, where: str = "profile") -> TargetProfile:
        if not isinstance(data, dict):
            raise ProfileError(f"{where} must be a mapping")
        unknown = sorted(set(data) - {"version", "build", "licensed", "rate_limit"})
        if unknown:
            raise ProfileError(f"{where}: unknown key(s) {', '.join(map(str, unknown))}")
        limiting = data.get("rate_limit") or {}
        if not isinstance(limiting, dict):
            raise ProfileError(f"{where}.rate_limit must be a mapping (enabled, limit, rate)")
        unknown = sorted(set(limiting) - {"enabled", "limit", "rate"})
        if unknown:
            raise ProfileError(f"{where}.rate_limit: unknown key(s) {', '.join(map(str, unknown))}")
        out = cls()
        if data.get("version") is not None:
            out.version = str(data["version"])
            if not re.fullmatch(r"\d+\.\d+(\.\d+)?", out.version):
                raise ProfileError(f"{where}.version must look like 4.9 or 4.9.0, got {out.version!r}")
        if data.get("build") is not None:
            out.build = str(data["build"])
        for key, target in (("licensed", data), ("enabled", limiting)):
            value = target.get(key)
            if value is not None and not isinstance(value, bool):
                raise ProfileError(f"{where}: {key} must be true or false, got {value!r}")
        out.licensed = data.get("licensed")
        out.rate_limited = limiting.get("enabled")
        try:
            out.limit = int(limiting["limit"]) if limiting.get("limit") is not None else None
            out.rate = float(limiting["rate"]) if limiting.get("rate") is not None else None
        except (TypeError, ValueError):
            raise ProfileError(f"{where}.rate_limit: limit and rate must be numbers") from None
        if (out.limit is not None or out.rate is not None) and out.rate_limited is None:
            out.rate_limited = True
        return out

    def describe(self) -> str:
        """One line: `Mattermost 4.9.0 (build 1234), unlicensed, rate limiting on (Limit 101, 10.0/s)`."""
        parts = [f"Mattermost {self.version or '?'}" + (f" (build {self.build})" if self.build else "")]
        if self.licensed is not None:
            parts.append("licensed" if self.licensed else "unlicensed")
        parts.append(f"rate limiting {_limiting(self)}")
        return ", ".join(parts)


def _limiting(profile: TargetProfile) -> str:
    if profile.rate_limited is None:
        return "unknown"
    if not profile.rate_limited:
        return "off"
    figures = []
    if profile.limit is not None:
        figures.append(f"Limit {profile.limit}")
    if profile.rate is not None:
        figures.append(f"refill {profile.rate:.1f}/s")
    return "on" + (f" ({', '.join(figures)})" if figures else "")


def _minor(version: str | None) -> tuple[str, ...] | None:
    match = re.match(r"(\d+)\.(\d+)", version or "")
    return match.groups() if match else None


def compare(expected: TargetProfile, actual: TargetProfile) -> tuple[list[str], list[str]]:
    """(differences that fail the run, notes) between a recorded profile and this run's."""
    differences: list[str] = []
    notes: list[str] = []
    if expected.version is not None:
        want, got = _minor(expected.version), _minor(actual.version)
        if got is None:
            differences.append(f"version: expected {expected.version}, the target reported none")
        elif want != got:
            differences.append(f"version: expected {'.'.join(want or ())}, found {actual.version}")
    if expected.build is not None and actual.build is not None and expected.build != actual.build:
        notes.append(f"build: recorded {expected.build}, now {actual.build} (same version)")
    if expected.licensed is not None:
        if actual.licensed is None:
            notes.append("licensed: the target did not say")
        elif expected.licensed != actual.licensed:
            differences.append(f"licensed: expected {_yes(expected.licensed)}, found {_yes(actual.licensed)}")
    if expected.rate_limited is not None and expected.rate_limited != actual.rate_limited:
        found = "off (no X-Ratelimit-* headers)" if actual.rate_limited is False else _limiting(actual)
        differences.append(f"rate limiting: expected {_limiting(expected)}, found {found}")
        return differences, notes
    if not actual.rate_limited:
        return differences, notes
    if expected.limit is not None and actual.limit is not None and expected.limit != actual.limit:
        differences.append(f"rate limit: expected X-Ratelimit-Limit {expected.limit}, found {actual.limit}")
    if expected.rate is not None:
        if actual.rate is None:
            notes.append(
                f"refill rate: recorded {expected.rate:.1f}/s, not measured in this run "
                "(the rate-limit family did not run or could not measure it)"
            )
        elif abs(actual.rate - expected.rate) > RATE_TOLERANCE * expected.rate:
            differences.append(
                f"rate limit: expected a refill of {expected.rate:.1f}/s, measured {actual.rate:.1f}/s "
                f"(more than {RATE_TOLERANCE:.0%} off)"
            )
    return differences, notes


def _yes(value: bool) -> str:
    return "licensed" if value else "unlicensed"


def measured_rate(measured: dict[str, Any]) -> float | None:
    """The refill rate the rate-limit family measured: the steady rate once throttled, else the
    middle of the range the Remaining sequence bounds it to, when that range is narrow."""
    steady = measured.get("ratelimit.steady_rate")
    if steady:
        return float(steady)
    bounds = measured.get("ratelimit.refill_range")
    if bounds and bounds[0] and bounds[1] and bounds[1] <= 1.5 * bounds[0]:
        return (bounds[0] + bounds[1]) / 2
    return None
