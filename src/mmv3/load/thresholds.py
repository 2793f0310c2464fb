"""CI gates of a load run: a small YAML file, checked when the run ends.

```yaml
failure_ratio: 0.01            # failed / answered requests; 429s are not failures (unless counted so)
goodput_rps_min: 5             # accepted requests per second over the run
max_throttled_ratio: 0.99      # 429s / answered requests
latency_ms:                    # per request name as Locust shows it, or "Aggregated": accepted requests
  Aggregated: {p95: 500}
  "POST /api/v3/users/login": {p95: 800, p99: 1500}  # skipped when logins were warm-up only
scenarios:                     # runs of a scenario (Locust user class) add its own latency limits
  LoginStorm:
    latency_ms: {"POST /api/v3/users/login": {p95: 2000}}
ratelimit:
  accepted_rate_within_pct: 5  # sustained accepted rate vs the rate the headers advertise
  burst_within: 2              # burst admitted vs Limit - 1, in requests
  first_429_after_burst: true  # no 429 before the advertised burst is spent
  oracle: all                  # every oracle verdict must pass; or a list of verdict names; or none
```

Latency thresholds judge the steady phase: a scenario's warm-up requests (Locust request type
`warmup`, a user's first login) are in no row they read, "Aggregated" included; a request name sent
only as warm-up is skipped rather than breached. Every failed check is a `Breach` printed as one
line; a run with any breach exits `EXIT_BREACH`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from mmv3.load.accounting import THROTTLED, WARMUP
from mmv3.load.oracle import FAILED, PASSED, SKIPPED, OracleReport

# The exit code of a run that breached a threshold (Locust itself uses 1 for request failures
# and 2 for an unhandled error in the locustfile).
EXIT_BREACH = 3

_TOP = ("failure_ratio", "goodput_rps_min", "max_throttled_ratio", "latency_ms", "scenarios", "ratelimit")
_SCENARIO = ("latency_ms",)
_RATELIMIT = ("accepted_rate_within_pct", "burst_within", "first_429_after_burst", "oracle")
_PERCENTILES = {"p50": 0.50, "p90": 0.90, "p95": 0.95, "p99": 0.99}
# What a latency threshold on "Aggregated" reads: not Locust's row of that name, which times
# every request (429s and warm-up included), but the accepted ones (summary.json: p95_accepted_ms).
AGGREGATED_COVERS = "accepted requests: 429s and warm-up excluded"


class ThresholdsError(ValueError):
    """The thresholds file cannot be used (one line saying where and why)."""


@dataclass(frozen=True)
class Thresholds:
    failure_ratio: float | None = None
    goodput_rps_min: float | None = None
    max_throttled_ratio: float | None = None
    latency_ms: dict[str, dict[str, float]] = field(default_factory=dict)
    # scenario (Locust user class) -> its own latency_ms, used by runs of that scenario
    scenarios: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)
    accepted_rate_within_pct: float | None = None
    burst_within: int | None = None
    first_429_after_burst: bool = False
    oracle: str | tuple[str, ...] = "none"  # "all", "none" or verdict names

    @classmethod
    def load(cls, path: str | Path) -> Thresholds:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise ThresholdsError(f"{path}: cannot read ({exc.strerror or exc})") from None
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" line {mark.line + 1}" if mark is not None else ""
            raise ThresholdsError(f"{path}:{where} not valid YAML") from None
        return cls.from_data(data or {}, source=str(path))

    @classmethod
    def from_data(cls, data: Any, source: str = "thresholds") -> Thresholds:
        if not isinstance(data, Mapping):
            raise ThresholdsError(f"{source}: must be a mapping of threshold names to limits")
        _known(data, _TOP, source)
        rate = data.get("ratelimit") or {}
        if not isinstance(rate, Mapping):
            raise ThresholdsError(f"{source}: ratelimit must be a mapping")
        _known(rate, _RATELIMIT, f"{source}: ratelimit")
        latency = _latency(data.get("latency_ms"), f"{source}: latency_ms")
        scenarios: dict[str, dict[str, dict[str, float]]] = {}
        sections = data.get("scenarios") or {}
        if not isinstance(sections, Mapping):
            raise ThresholdsError(f"{source}: scenarios must map scenario names to their thresholds")
        for scenario, section in sections.items():
            where = f"{source}: scenarios.{scenario}"
            if not isinstance(section, Mapping):
                raise ThresholdsError(f"{where} must be a mapping")
            _known(section, _SCENARIO, where)
            scenarios[str(scenario)] = _latency(section.get("latency_ms"), f"{where}.latency_ms")
        oracle = rate.get("oracle", "none")
        if isinstance(oracle, list):
            oracle = tuple(str(name) for name in oracle)
        elif oracle not in ("all", "none"):
            raise ThresholdsError(f"{source}: ratelimit.oracle must be all, none or a list of verdict names")
        burst = rate.get("burst_within")
        return cls(
            failure_ratio=_optional(data, "failure_ratio", source),
            goodput_rps_min=_optional(data, "goodput_rps_min", source),
            max_throttled_ratio=_optional(data, "max_throttled_ratio", source),
            latency_ms=latency,
            scenarios=scenarios,
            accepted_rate_within_pct=_optional(rate, "accepted_rate_within_pct", f"{source}: ratelimit"),
            burst_within=None if burst is None else int(_number(burst, f"{source}: ratelimit.burst_within")),
            first_429_after_burst=bool(rate.get("first_429_after_burst", False)),
            oracle=oracle,
        )

    def for_scenarios(self, names: Iterable[str]) -> Thresholds:
        """The thresholds of a run of these scenarios: the top-level latency limits with each
        scenario's own on top; where two scenarios of the run limit the same figure, the larger
        limit (their requests are mixed in the run's rows)."""
        ran = [name for name in names if name in self.scenarios]
        if not ran:
            return self
        latency = {name: dict(limits) for name, limits in self.latency_ms.items()}
        own: dict[str, dict[str, float]] = {}
        for scenario in ran:
            for name, limits in self.scenarios[scenario].items():
                mine = own.setdefault(name, {})
                for key, limit in limits.items():
                    mine[key] = max(mine.get(key, limit), limit)
        for name, limits in own.items():
            latency.setdefault(name, {}).update(limits)
        return replace(self, latency_ms=latency)


def _latency(data: Any, where: str) -> dict[str, dict[str, float]]:
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise ThresholdsError(f"{where} must map request names to percentiles")
    latency: dict[str, dict[str, float]] = {}
    for name, limits in data.items():
        if not isinstance(limits, Mapping) or not limits:
            raise ThresholdsError(f"{where}.{name} must map p50/p90/p95/p99 to milliseconds")
        _known(limits, tuple(_PERCENTILES), f"{where}.{name}")
        latency[str(name)] = {key: _number(value, f"{where}.{name}.{key}") for key, value in limits.items()}
    return latency


def _known(data: Mapping[str, Any], allowed: tuple[str, ...], where: str) -> None:
    unknown = sorted(set(map(str, data)) - set(allowed))
    if unknown:
        raise ThresholdsError(f"{where}: unknown key {', '.join(unknown)} (known: {', '.join(allowed)})")


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ThresholdsError(f"{where}: must be a number >= 0, got {value!r}")
    return float(value)


def _optional(data: Mapping[str, Any], key: str, where: str) -> float | None:
    value = data.get(key)
    return None if value is None else _number(value, f"{where}.{key}" if ":" in where else f"{where}: {key}")


@dataclass(frozen=True)
class EntryStats:
    """One row of Locust's statistics, as the thresholds read it."""

    method: str
    name: str
    requests: int
    failures: int
    percentiles: dict[str, float | None] = field(default_factory=dict)  # "p95" -> ms

    @property
    def key(self) -> str:
        return f"{self.method} {self.name}"


@dataclass
class RunStats:
    """The run's numbers that thresholds are checked against (built from Locust's stats)."""

    entries: list[EntryStats]
    aggregated: dict[str, float | None]  # percentiles of accepted requests
    answered: int  # requests that got an answer, 429s included
    failures: int  # failed requests, 429s excluded unless `throttled_is_failure`
    throttled: int
    accepted_rps: float
    offered_rps: float
    throttled_is_failure: bool = False

    @property
    def failure_ratio(self) -> float:
        base = self.answered if self.throttled_is_failure else self.answered - self.throttled
        failures = self.failures + (self.throttled if self.throttled_is_failure else 0)
        if base > 0:
            return failures / base
        return 1.0 if failures else 0.0  # nothing answered: every request that failed counts whole

    @property
    def measurable(self) -> bool:
        """Did any request get an answer or fail? (Else the ratios have nothing to measure.)"""
        return self.answered > 0 or self.failures > 0

    @property
    def throttled_ratio(self) -> float:
        return self.throttled / self.answered if self.answered else 0.0

    def find(self, name: str) -> list[EntryStats]:
        """Rows named `name`: "METHOD name" exactly, or every method of "name" but the throttled
        and warm-up rows."""
        exact = [e for e in self.entries if e.key == name]
        if exact:
            return exact
        return [e for e in self.entries if e.name == name and e.method not in (THROTTLED, WARMUP)]

    def warmup_only(self, name: str) -> bool:
        """Whether `name` ("METHOD name" or "name") was sent only as a warm-up request."""
        return any(
            e.method == WARMUP and e.requests and (name == e.name or name.endswith(f" {e.name}"))
            for e in self.entries
        )


@dataclass(frozen=True)
class Outcome:
    """One threshold's result: passed, failed (a breach) or skipped (nothing to measure)."""

    name: str
    status: str
    message: str

    @property
    def breached(self) -> bool:
        return self.status == FAILED


Breach = Outcome


def check(thresholds: Thresholds, stats: RunStats, oracle: OracleReport | None) -> list[Outcome]:
    out: list[Outcome] = []
    t = thresholds

    def judge(name: str, ok: bool, message: str) -> None:
        out.append(Outcome(name, PASSED if ok else FAILED, message))

    if t.failure_ratio is not None and not stats.measurable:
        out.append(
            Outcome("failure_ratio", SKIPPED, "no request was answered or failed: no ratio to measure")
        )
    elif t.failure_ratio is not None:
        ratio = stats.failure_ratio
        judge(
            "failure_ratio",
            ratio <= t.failure_ratio,
            f"failure ratio {ratio:.4f} (limit {t.failure_ratio:g}"
            + (", 429s counted as failures)" if stats.throttled_is_failure else ", 429s excluded)"),
        )
    if t.goodput_rps_min is not None:
        judge(
            "goodput_rps_min",
            stats.accepted_rps >= t.goodput_rps_min,
            f"goodput {stats.accepted_rps:.2f} accepted req/s (minimum {t.goodput_rps_min:g})",
        )
    if t.max_throttled_ratio is not None and not stats.answered:
        out.append(Outcome("max_throttled_ratio", SKIPPED, "no request was answered: no ratio to measure"))
    elif t.max_throttled_ratio is not None:
        judge(
            "max_throttled_ratio",
            stats.throttled_ratio <= t.max_throttled_ratio,
            f"throttled ratio {stats.throttled_ratio:.4f} (limit {t.max_throttled_ratio:g})",
        )
    for name, limits in t.latency_ms.items():
        for key, limit in limits.items():
            label = f"latency {key} {name}"
            if name == "Aggregated":
                values = [stats.aggregated.get(key)]
            else:
                values = [e.percentiles.get(key) for e in stats.find(name)]
            values = [v for v in values if v is not None]
            if not values and stats.warmup_only(name):
                message = f"{key} of {name}: sent only as warm-up in this run, not judged"
                out.append(Outcome(label, SKIPPED, message))
                continue
            if not values:
                out.append(Outcome(label, FAILED, f"{key} of {name}: no requests of that name were answered"))
                continue
            worst = max(values)
            what = f"{key} of {name}" + (f" ({AGGREGATED_COVERS})" if name == "Aggregated" else "")
            judge(label, worst <= limit, f"{what} {worst:g} ms (limit {limit:g} ms)")
    _ratelimit(t, oracle, out)
    return out


def _ratelimit(t: Thresholds, oracle: OracleReport | None, out: list[Outcome]) -> None:
    wanted = t.accepted_rate_within_pct is not None or t.burst_within is not None or t.first_429_after_burst
    if oracle is None:
        if wanted or t.oracle != "none":
            out.append(Outcome("ratelimit", SKIPPED, "no rate-limit oracle in this run"))
        return
    adv = oracle.advertised
    rate = adv.rate or (oracle.expected.per_sec if oracle.expected else None)
    burst = (
        adv.max_burst
        if adv.max_burst is not None
        else (oracle.expected.max_burst if oracle.expected else None)
    )
    for m in oracle.sources:
        label = f" [{m.source}]" if len(oracle.sources) > 1 else ""
        if t.accepted_rate_within_pct is not None:
            name = "accepted_rate_within_pct" + label
            if m.sustained_rate is None or not rate:
                why = (
                    "the headers advertise no refill rate"
                    if not rate
                    else "not throttled long enough to measure"
                )
                out.append(Outcome(name, SKIPPED, f"sustained accepted rate not judged: {why}"))
            else:
                off = abs(m.sustained_rate - rate) / rate * 100
                out.append(
                    Outcome(
                        name,
                        PASSED if off <= t.accepted_rate_within_pct else FAILED,
                        f"sustained accepted rate {m.sustained_rate:.2f}/s is {off:.1f} % off the advertised "
                        f"{rate:.2f}/s (limit {t.accepted_rate_within_pct:g} %)",
                    )
                )
        if t.burst_within is not None:
            name = "burst_within" + label
            if m.burst is None or burst is None:
                out.append(Outcome(name, SKIPPED, "burst not measured (no 429, or no Limit advertised)"))
            else:
                out.append(
                    Outcome(
                        name,
                        PASSED if abs(m.burst - burst) <= t.burst_within else FAILED,
                        f"burst admitted {m.burst}, advertised Limit-1 = {burst} (within {t.burst_within})",
                    )
                )
        if t.first_429_after_burst:
            name = "first_429_after_burst" + label
            if m.admitted_before_first_429 is None or burst is None:
                out.append(Outcome(name, SKIPPED, "no 429 in the run (or no Limit advertised)"))
            else:
                slack = t.burst_within if t.burst_within is not None else oracle.tolerances.burst
                out.append(
                    Outcome(
                        name,
                        PASSED if m.admitted_before_first_429 >= burst - slack else FAILED,
                        f"first 429 after {m.admitted_before_first_429} admitted requests (burst {burst})",
                    )
                )
    if t.oracle == "none":
        return
    names = None if t.oracle == "all" else set(t.oracle)
    for verdict in oracle.verdicts:
        base = verdict.name.split("[", 1)[0]
        if names is not None and verdict.name not in names and base not in names:
            continue
        out.append(Outcome(f"oracle {verdict.name}", verdict.status, verdict.message))
    if names:
        seen = {v.name.split("[", 1)[0] for v in oracle.verdicts} | {v.name for v in oracle.verdicts}
        for missing in sorted(names - seen):
            out.append(
                Outcome(
                    f"oracle {missing}", SKIPPED, f"the oracle gave no verdict named {missing!r} in this run"
                )
            )


_VERB = {PASSED: "passed", FAILED: "breached", SKIPPED: "skipped"}


def outcome_line(outcome: Outcome) -> str:
    """`threshold passed|breached|skipped: NAME: MESSAGE` (the message holds the measured value)."""
    return f"threshold {_VERB.get(outcome.status, outcome.status)}: {outcome.name}: {outcome.message}"


def outcome_lines(outcomes: list[Outcome]) -> list[str]:
    """One line per threshold, for the console: passed ones too, with what was measured."""
    return [outcome_line(o) for o in outcomes]


def tally(outcomes: list[Outcome]) -> str:
    """`7 passed, 0 breached, 1 skipped`."""
    counts = {verb: 0 for verb in _VERB.values()}
    for o in outcomes:
        verb = _VERB.get(o.status, o.status)
        counts[verb] = counts.get(verb, 0) + 1
    return ", ".join(f"{n} {verb}" for verb, n in counts.items())


def breach_lines(outcomes: list[Outcome]) -> list[str]:
    """One line per breach."""
    return [outcome_line(o) for o in outcomes if o.breached]
