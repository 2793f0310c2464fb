"""Known deviations (`--mm-expect FILE`): route/check pairs expected to fail, each with its reason.

File format (YAML)::

    target: Mattermost 4.9.0          # free text, shown in reports
    deviations:
      - route: POST /api/v3/users/revoke_session   # METHOD TEMPLATE, as in the test ids; * globs
        check: auth.forbidden                        # a check id, or a family name for all its checks
        reason: no ownership check, any user may revoke any session

A matching failure is reported as an expected failure; a matching check that passes fails
the run (the deviation is gone: remove the entry), so CI gates on regressions both ways.

An optional `profile:` section records what the target was (version, build, licensed, rate
limiting with its Limit and refill rate; see `mmv3.suite.profile`): a run whose target differs
from it fails, naming the difference.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path

import yaml

from mmv3.checks import FAMILIES
from mmv3.suite.profile import ProfileError, TargetProfile


class ExpectationsError(ValueError):
    """An unreadable or ill-formed expectations file (one-line message)."""


@dataclass
class Deviation:
    route: str
    check: str
    reason: str
    # True where the deviation shows only under some server settings (e.g. a feature switched on):
    # then a pass is not "deviation gone", since the same release passes with the feature off.
    may_pass: bool = False

    def matches(self, route: str, check_id: str) -> bool:
        family = check_id.split(".", 1)[0]
        check_ok = self.check in (check_id, family) or fnmatchcase(check_id, self.check)
        return check_ok and (self.route == route or fnmatchcase(route, self.route))


@dataclass
class Expectations:
    source: str | None = None
    target: str = ""
    deviations: list[Deviation] = field(default_factory=list)
    profile: TargetProfile | None = None

    def find(self, route: str, check_id: str) -> Deviation | None:
        for deviation in self.deviations:
            if deviation.matches(route, check_id):
                return deviation
        return None

    def reason(self, route: str, check_id: str) -> str | None:
        deviation = self.find(route, check_id)
        return deviation.reason if deviation else None


def load(path: str | Path | None) -> Expectations:
    if not path:
        return Expectations()
    source = Path(path)
    try:
        data = yaml.safe_load(source.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ExpectationsError(f"{source}: cannot be read: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise ExpectationsError(f"{source}: not valid YAML{where}") from None
    if data is None:
        return Expectations(str(source))
    if not isinstance(data, dict) or not isinstance(data.get("deviations", []), list):
        raise ExpectationsError(f"{source}: expected a mapping with a `deviations` list")
    deviations = []
    for index, entry in enumerate(data.get("deviations") or [], 1):
        if not isinstance(entry, dict):
            raise ExpectationsError(f"{source}: deviation #{index} is not a mapping")
        missing = [key for key in ("route", "check", "reason") if not str(entry.get(key) or "").strip()]
        if missing:
            raise ExpectationsError(f"{source}: deviation #{index} lacks {', '.join(missing)}")
        route, check, reason = (str(entry[key]).strip() for key in ("route", "check", "reason"))
        if check.split(".", 1)[0] not in FAMILIES:
            raise ExpectationsError(
                f"{source}: deviation #{index}: check {check!r} is not in a family ({', '.join(FAMILIES)})"
            )
        may_pass = entry.get("may_pass", False)
        if not isinstance(may_pass, bool):
            raise ExpectationsError(f"{source}: deviation #{index}: may_pass must be true or false")
        deviations.append(Deviation(route, check, reason, may_pass))
    profile = None
    if data.get("profile") is not None:
        try:
            profile = TargetProfile.from_dict(data["profile"])
        except ProfileError as exc:
            raise ExpectationsError(f"{source}: {exc}") from None
    return Expectations(str(source), str(data.get("target") or ""), deviations, profile)


def dump(
    path: str | Path, target: str, deviations: list[Deviation], profile: TargetProfile | None = None
) -> Path:
    """Write an expectations file (a baseline: today's deviations, so CI fails on new ones only,
    and the target's profile, so CI fails when the target is no longer the same)."""
    body: dict = {"target": target}
    if profile is not None and profile.to_dict():
        body["profile"] = profile.to_dict()
    body["deviations"] = [{"route": d.route, "check": d.check, "reason": d.reason} for d in deviations]
    header = (
        "# Known deviations written by `mmv3 check --write-baseline`: review each reason, then gate\n"
        "# later runs with `mmv3 check --expect THIS_FILE` (new deviations fail, fixed ones too,\n"
        "# and so does a target whose profile -- version, license, rate limiting -- differs).\n"
    )
    out = Path(path)
    out.write_text(
        header + yaml.safe_dump(body, sort_keys=False, allow_unicode=True, width=120), encoding="utf-8"
    )
    return out


def bundled(name: str = "mattermost-4.9.yaml") -> Path:
    """An expectations file shipped with mmv3 (e.g. the deviations of real Mattermost 4.9)."""
    return Path(__file__).parent / "expectations" / name


AUTO, NONE = "auto", "none"
_SHIPPED = re.compile(r"^mattermost-(\d+)\.(\d+)\.yaml$")


def shipped(directory: Path | None = None) -> dict[tuple[int, int], Path]:
    """The shipped deviations files (`mattermost-<major>.<minor>.yaml`), by (major, minor)."""
    directory = directory or bundled().parent
    found = {}
    for path in directory.glob("mattermost-*.yaml"):
        match = _SHIPPED.match(path.name)
        if match:
            found[(int(match.group(1)), int(match.group(2)))] = path
    return dict(sorted(found.items()))


def choose(version: str | None, directory: Path | None = None) -> tuple[Path | None, str]:
    """`--expect auto`: the shipped deviations of the nearest release line not newer than `version`.

    The rule: the file of the same major version with the highest minor not above the target's
    (4.10 -> mattermost-4.9.yaml; 4.9.0 -> mattermost-4.9.yaml); none when that major has no such
    file (3.10 while only 4.9 is shipped). Returns the file (or None) and a one-line reason.
    """
    match = re.match(r"^\s*v?(\d+)\.(\d+)", version or "")
    if not match:
        return None, f"no version to pick shipped deviations by ({version or 'none reported'})"
    major, minor = int(match.group(1)), int(match.group(2))
    files = shipped(directory)
    fitting = [key for key in files if key[0] == major and key[1] <= minor]
    if not fitting:
        names = ", ".join(p.name for p in files.values()) or "none"
        return (
            None,
            f"no shipped deviations for Mattermost {major}.{minor} or an older {major}.x (shipped: {names})",
        )
    key = fitting[-1]
    exact = "" if key == (major, minor) else f", the nearest not newer than {major}.{minor}"
    return files[key], f"{files[key].name} (shipped for Mattermost {key[0]}.{key[1]}{exact})"
