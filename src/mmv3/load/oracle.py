"""The rate-limit oracle: what a server's limiter did under load, against what its headers
advertise and what a GCRA with that quota would have done with the same requests.

Measured, per rate-limit bucket (source):
- the time to the first 429 and the requests admitted before it;
- the burst: replaying the admitted requests through a bucket of unbounded size refilled at the
  measured rate, the bucket content at the first 429 is the capacity the server granted
  (for GCRA it lies in (MaxBurst, MaxBurst + 1]), so `burst` estimates MaxBurst = Limit - 1;
- the sustained accepted rate once throttled: requests admitted strictly between the first and
  the last 429 of each throttled spell, over its length. A GCRA whose bucket is empty at both
  ends admits exactly rate x length (+-1) in between, so this reads the refill rate directly.

Advertised: Limit (= MaxBurst + 1), and the refill rate that every (Remaining, Reset) pair
seen is consistent with (see `HeaderView.note_rate`).

Model: `mmv3.ratelimit.GCRA` with the advertised quota (or the expected one, or the measured
one when the headers say nothing) replays the send times and predicts the first 429 and how
many requests are admitted. Verdicts compare all three within `Tolerances`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from mmv3.load.accounting import ACCEPTED, DENIED, Accounting, HeaderView
from mmv3.ratelimit import GCRA, Quota

PASSED, FAILED, SKIPPED = "passed", "failed", "skipped"


@dataclass(frozen=True)
class Tolerances:
    burst: int = 2  # requests, burst measured vs advertised
    rate: float = 0.05  # fraction, sustained accepted rate vs advertised / model
    onset: float = 0.5  # seconds, first 429 observed vs predicted
    spell_gap: float = 2.0  # seconds without a 429 that end a throttled spell
    min_throttled: float = 3.0  # seconds of throttling needed to judge the sustained rate


@dataclass
class Verdict:
    name: str
    status: str  # passed / failed / skipped
    message: str
    expected: Any = None
    observed: Any = None

    @property
    def failed(self) -> bool:
        return self.status == FAILED


@dataclass
class Advertised:
    """What the X-Ratelimit-* headers say the quota is."""

    limit: int | None = None
    max_burst: int | None = None
    rate: float | None = None  # middle of the consistent range, when the range is narrow enough
    rate_low: float | None = None
    rate_high: float | None = None
    consistent: bool = True  # False: no single rate explains every (Remaining, Reset) pair
    limits_seen: list[int] = field(default_factory=list)
    answered: int = 0
    with_headers: int = 0

    def quota(self) -> Quota | None:
        if self.max_burst is None or not self.rate:
            return None
        return Quota(per_sec=self.rate, max_burst=self.max_burst)


@dataclass
class Measured:
    """One bucket's figures (a source: all requests from one client address)."""

    source: str
    requests: int = 0
    accepted: int = 0
    throttled: int = 0
    first_request_at: float | None = None
    first_429_at: float | None = None
    time_to_first_429: float | None = None
    admitted_before_first_429: int | None = None
    burst_estimate: float | None = None  # bucket content at the first 429 (in (MaxBurst, MaxBurst+1])
    burst: int | None = None  # MaxBurst as measured
    throttled_seconds: float = 0.0
    spells: int = 0
    accepted_in_spells: int = 0
    offered_in_spells: int = 0
    sustained_rate: float | None = None
    offered_rate_when_throttled: float | None = None
    # the model's view of the same requests
    model_quota: str | None = None
    predicted_first_429_at: float | None = None
    predicted_time_to_first_429: float | None = None
    predicted_admitted_before_first_429: int | None = None
    predicted_accepted: int | None = None
    predicted_throttled: int | None = None
    predicted_accepted_in_spells: int | None = None


@dataclass
class OracleReport:
    advertised: Advertised
    expected: Quota | None
    reference: Quota | None  # the quota the model replays
    reference_origin: str  # advertised / expected / measured / none
    sources: list[Measured]
    verdicts: list[Verdict]
    tolerances: Tolerances
    retry_probe: dict[str, Any] | None = None

    @property
    def passed(self) -> bool:
        return not any(v.failed for v in self.verdicts)

    @property
    def deviations(self) -> list[Verdict]:
        return [v for v in self.verdicts if v.failed]

    def verdict(self, name: str) -> Verdict | None:
        return next((v for v in self.verdicts if v.name == name), None)

    # aggregate figures over all sources
    @property
    def first_429_after(self) -> float | None:
        times = [m.time_to_first_429 for m in self.sources if m.time_to_first_429 is not None]
        return min(times) if times else None

    @property
    def sustained_rate(self) -> float | None:
        rates = [m.sustained_rate for m in self.sources if m.sustained_rate is not None]
        return sum(rates) if rates else None

    def summary(self) -> str:
        """One line for the console and the live view."""
        if not self.verdicts:
            return "no requests yet"
        failed = self.deviations
        if failed:
            return f"{len(failed)} deviation(s): " + "; ".join(f"{v.name}: {v.message}" for v in failed)
        judged = [v for v in self.verdicts if v.status == PASSED]
        if not judged:
            return "nothing to judge yet (" + self.verdicts[0].message + ")"
        return f"conforms ({len(judged)} check(s) passed)"

    def to_dict(self) -> dict[str, Any]:
        def quota(q: Quota | None) -> dict[str, Any] | None:
            return None if q is None else {"per_sec": q.per_sec, "max_burst": q.max_burst, "limit": q.limit}

        return {
            "passed": self.passed,
            "summary": self.summary(),
            "advertised": asdict(self.advertised),
            "expected": quota(self.expected),
            "model": {"quota": quota(self.reference), "origin": self.reference_origin},
            "first_429_after_s": self.first_429_after,
            "sustained_accepted_rps": self.sustained_rate,
            "sources": [asdict(m) for m in self.sources],
            "retry_probe": self.retry_probe,
            "tolerances": asdict(self.tolerances),
            "verdicts": [asdict(v) for v in self.verdicts],
        }


# -- the analysis -----------------------------------------------------------------------------
def advertised_quota(view: HeaderView) -> Advertised:
    out = Advertised(answered=view.answered, with_headers=view.with_headers)
    if view.limits:
        out.limits_seen = sorted(view.limits)
        out.limit = max(view.limits, key=view.limits.__getitem__)
        out.max_burst = out.limit - 1
    if view.rate_samples:
        out.consistent = view.rate_low <= view.rate_high
        out.rate_low = view.rate_low
        out.rate_high = None if math.isinf(view.rate_high) else view.rate_high
        if out.consistent and out.rate_high is not None and out.rate_low > 0:
            # A range wider than +-25 % says too little to judge a rate against.
            if out.rate_high <= out.rate_low * 1.67:
                out.rate = (out.rate_low + out.rate_high) / 2
    return out


def _spells(times: list[float], codes: list[int], gap: float) -> list[tuple[float, float]]:
    denied = [t for t, c in zip(times, codes, strict=True) if c == DENIED]
    spells: list[tuple[float, float]] = []
    start = prev = None
    for t in denied:
        if start is None:
            start = prev = t
        elif t - prev > gap:  # type: ignore[operator]
            spells.append((start, prev))  # type: ignore[arg-type]
            start = prev = t
        else:
            prev = t
    if start is not None:
        spells.append((start, prev))  # type: ignore[arg-type]
    return spells


def _count_between(times: list[float], flags: list[bool], start: float, end: float) -> tuple[int, int]:
    """(flagged, all) events with start < t < end."""
    flagged = total = 0
    for t, flag in zip(times, flags, strict=True):
        if t <= start:
            continue
        if t >= end:
            break
        total += 1
        flagged += flag
    return flagged, total


def _measure(source: str, times: list[float], codes: list[int], tol: Tolerances) -> Measured:
    m = Measured(source=source)
    answered = [(t, c) for t, c in zip(times, codes, strict=True) if c in (ACCEPTED, DENIED)]
    m.requests = len(times)
    m.accepted = sum(1 for _, c in answered if c == ACCEPTED)
    m.throttled = sum(1 for _, c in answered if c == DENIED)
    if not answered:
        return m
    a_times = [t for t, _ in answered]
    a_codes = [c for _, c in answered]
    m.first_request_at = a_times[0]
    first = next((i for i, c in enumerate(a_codes) if c == DENIED), None)
    if first is not None:
        m.first_429_at = a_times[first]
        m.time_to_first_429 = m.first_429_at - m.first_request_at
        m.admitted_before_first_429 = sum(1 for c in a_codes[:first] if c == ACCEPTED)
    accepted_flags = [c == ACCEPTED for c in a_codes]
    for start, end in _spells(a_times, a_codes, tol.spell_gap):
        if end - start <= 0:
            continue
        accepted, offered = _count_between(a_times, accepted_flags, start, end)
        m.spells += 1
        m.throttled_seconds += end - start
        m.accepted_in_spells += accepted
        m.offered_in_spells += offered
    if m.throttled_seconds >= tol.min_throttled:
        m.sustained_rate = m.accepted_in_spells / m.throttled_seconds
        m.offered_rate_when_throttled = m.offered_in_spells / m.throttled_seconds
    return m


def _burst(m: Measured, times: list[float], codes: list[int], rate: float | None) -> None:
    """The bucket content at the first 429, refilling at `rate` (see the module docstring)."""
    if m.first_429_at is None or not rate:
        return
    interval = 1.0 / rate
    tat: float | None = None
    for t, c in zip(times, codes, strict=True):
        if t >= m.first_429_at:
            break
        if c != ACCEPTED:
            continue
        tat = (t if tat is None else max(t, tat)) + interval
    if tat is None:
        m.burst_estimate, m.burst = 0.0, -1
        return
    content = (tat - m.first_429_at) * rate
    m.burst_estimate = round(content, 2)
    # content lies in (MaxBurst, MaxBurst + 1]: the integer below it (rounding half-way inside).
    m.burst = round(content - 0.5)


def _model(m: Measured, times: list[float], codes: list[int], quota: Quota, tol: Tolerances) -> None:
    limiter = GCRA(quota, clock=lambda: 0.0, max_keys=1)
    m.model_quota = f"{quota.per_sec:g}/s burst {quota.max_burst}"
    accepted = throttled = 0
    admitted_before = 0
    spells = _spells(times, codes, tol.spell_gap) if m.spells else []
    in_spells = 0
    spell = 0  # index of the first spell that has not ended before t (times are sorted)
    for t, c in zip(times, codes, strict=True):
        if c not in (ACCEPTED, DENIED):
            continue
        allowed = limiter.take("", now=t).allowed
        while spell < len(spells) and spells[spell][1] <= t:
            spell += 1
        if allowed:
            accepted += 1
            if m.predicted_first_429_at is None:
                admitted_before += 1
            if spell < len(spells) and spells[spell][0] < t:
                in_spells += 1
        else:
            throttled += 1
            if m.predicted_first_429_at is None:
                m.predicted_first_429_at = t
    m.predicted_accepted = accepted
    m.predicted_throttled = throttled
    m.predicted_accepted_in_spells = in_spells if spells else None
    if m.predicted_first_429_at is not None and m.first_request_at is not None:
        m.predicted_time_to_first_429 = m.predicted_first_429_at - m.first_request_at
        m.predicted_admitted_before_first_429 = admitted_before


def evaluate(
    accounting: Accounting,
    *,
    expected: Quota | None = None,
    tolerances: Tolerances | None = None,
    retry_probe: Mapping[str, Any] | None = None,
) -> OracleReport:
    """Judge a run's rate limiting (safe to call while the run goes on)."""
    tol = tolerances or Tolerances()
    view = accounting.headers
    advertised = advertised_quota(view)
    logs = {source: log.sorted() for source, log in sorted(accounting.logs.items())}
    sources = [_measure(source, times, codes, tol) for source, (times, codes) in logs.items()]

    measured_rates = [m.sustained_rate for m in sources if m.sustained_rate]
    measured_rate = measured_rates[0] if len(measured_rates) == 1 else None
    if len(measured_rates) > 1:
        measured_rate = sum(measured_rates) / len(measured_rates)
    reference, origin = _reference(advertised, expected, sources, measured_rate)
    for m in sources:
        times, codes = logs[m.source]
        _burst(m, times, codes, m.sustained_rate or (reference.per_sec if reference else None))
        if reference is not None:
            _model(m, times, codes, reference, tol)
    report = OracleReport(
        advertised=advertised,
        expected=expected,
        reference=reference,
        reference_origin=origin,
        sources=sources,
        verdicts=[],
        tolerances=tol,
        retry_probe=dict(retry_probe) if retry_probe is not None else None,
    )
    report.verdicts = _verdicts(report, view)
    return report


def _reference(
    advertised: Advertised, expected: Quota | None, sources: list[Measured], measured_rate: float | None
) -> tuple[Quota | None, str]:
    quota = advertised.quota()
    if quota is not None:
        return quota, "advertised"
    if expected is not None:
        return expected, "expected"
    if advertised.max_burst is not None and measured_rate:
        return Quota(per_sec=measured_rate, max_burst=advertised.max_burst), "advertised burst, measured rate"
    bursts = [m for m in sources if m.first_429_at is not None]
    if measured_rate and bursts:
        # No headers at all: a GCRA fitted to the observation (its burst from the first 429).
        return _fitted(bursts[0], measured_rate), "measured"
    return None, "none"


def _fitted(m: Measured, rate: float) -> Quota:
    burst = max(0, (m.admitted_before_first_429 or 1) - 1 - round(rate * (m.time_to_first_429 or 0.0)))
    return Quota(per_sec=rate, max_burst=burst)


# -- verdicts -----------------------------------------------------------------------------
def _verdicts(report: OracleReport, view: HeaderView) -> list[Verdict]:
    adv = report.advertised
    answered = view.answered
    throttled = view.throttled
    out: list[Verdict] = []

    def add(name: str, status: str, message: str, expected: Any = None, observed: Any = None) -> None:
        out.append(Verdict(name, status, message, expected, observed))

    limited = bool(view.with_headers or view.partial or throttled)
    if not answered:
        add("limiter_active", SKIPPED, "no answers yet")
        return out
    if not limited:
        if report.expected is not None:
            add(
                "limiter_active",
                FAILED,
                f"no X-Ratelimit-* header and no 429 in {answered} answers, expected {report.expected.per_sec:g}/s "
                f"burst {report.expected.max_burst}",
            )
        else:
            add(
                "limiter_active",
                SKIPPED,
                f"no rate limiting observed in {answered} answers (no headers, no 429)",
            )
        return out
    add("limiter_active", PASSED, f"{view.with_headers} answers with X-Ratelimit-* headers, {throttled} 429s")

    # headers present on every answer, as real Mattermost adds them before the handler runs
    missing = answered - view.with_headers
    if missing:
        add(
            "headers_present",
            FAILED,
            f"{missing} of {answered} answers lack the X-Ratelimit-Limit/Remaining/Reset triple"
            + (f" ({view.partial} partial)" if view.partial else ""),
            expected=answered,
            observed=view.with_headers,
        )
    else:
        add("headers_present", PASSED, f"all {answered} answers carry the triple")

    if adv.limit is not None:
        if len(adv.limits_seen) > 1:
            add("limit_header", FAILED, f"X-Ratelimit-Limit changes during the run: {adv.limits_seen}")
        elif report.expected is not None and adv.limit != report.expected.limit:
            add(
                "limit_header",
                FAILED,
                f"X-Ratelimit-Limit {adv.limit}, expected MaxBurst+1 = {report.expected.limit}",
                expected=report.expected.limit,
                observed=adv.limit,
            )
        else:
            add(
                "limit_header",
                PASSED,
                f"X-Ratelimit-Limit {adv.limit} (MaxBurst {adv.max_burst})",
                observed=adv.limit,
            )

    if view.with_headers:
        if view.epoch_resets:
            add(
                "reset_relative",
                FAILED,
                f"X-Ratelimit-Reset is a Unix timestamp in {view.epoch_resets} answers (must be seconds until full)",
                observed=view.epoch_resets,
            )
        else:
            add("reset_relative", PASSED, "X-Ratelimit-Reset counts seconds until the bucket is full")

    if view.throttled_with_headers or view.rate_samples:
        problems = []
        if view.throttled_remaining_positive:
            problems.append(f"{view.throttled_remaining_positive} 429s advertise Remaining > 0")
        if not adv.consistent:
            problems.append(
                f"no single refill rate explains the (Remaining, Reset) pairs "
                f"(needs >= {adv.rate_low:.3g}/s and <= {adv.rate_high:.3g}/s)"
            )
        if problems:
            add("remaining_header", FAILED, "; ".join(problems))
        else:
            add("remaining_header", PASSED, "Remaining and Reset agree with one GCRA bucket")

    if throttled:
        wrong = []
        if view.throttled_wrong_type:
            kinds = ", ".join(sorted(k or "(none)" for k in view.denial_types))
            wrong.append(f"{view.throttled_wrong_type} 429s are not text/plain (Content-Type {kinds})")
        if view.throttled_wrong_body:
            wrong.append(f"{view.throttled_wrong_body} 429 bodies are not 'limit exceeded'")
        if wrong:
            add("denial_body", FAILED, "; ".join(wrong))
        else:
            add("denial_body", PASSED, "429s are text/plain 'limit exceeded'")
        if view.throttled_without_retry_after or view.throttled_bad_retry_after:
            parts = []
            if view.throttled_without_retry_after:
                parts.append(f"{view.throttled_without_retry_after} of {throttled} 429s carry no Retry-After")
            if view.throttled_bad_retry_after:
                parts.append(
                    f"{view.throttled_bad_retry_after} Retry-After values exceed Reset or are negative"
                )
            add("retry_after_header", FAILED, "; ".join(parts))
        else:
            add(
                "retry_after_header",
                PASSED,
                f"every 429 carries Retry-After ({sorted(view.retry_after_values)})",
            )

    _model_verdicts(report, add)
    _measured_verdicts(report, add)

    probe = report.retry_probe
    if probe:
        status = probe.get("status", SKIPPED)
        add("retry_after_honoured", status, str(probe.get("message", "")), observed=probe.get("retry_after"))
    return out


def _model_verdicts(report: OracleReport, add: Any) -> None:
    tol = report.tolerances
    if report.reference is None:
        add(
            "model",
            SKIPPED,
            "no quota known (headers say nothing, no --expect quota, no throttling measured)",
        )
        return
    for m in report.sources:
        label = f"[{m.source}]" if len(report.sources) > 1 else ""
        predicted, observed = m.predicted_throttled or 0, m.throttled
        # A few 429s' worth of disagreement is timing at the edges, not a different limiter.
        slack = max(3, tol.burst)
        if predicted > slack and observed == 0:
            add(
                "throttles_when_over" + label,
                FAILED,
                f"the model with {m.model_quota} predicts {predicted} 429s, the server sent none",
                expected=predicted,
                observed=observed,
            )
        elif observed > slack and predicted == 0:
            add(
                "throttles_when_over" + label,
                FAILED,
                f"{observed} 429s although the model with {m.model_quota} admits every request",
                expected=predicted,
                observed=observed,
            )
        else:
            add(
                "throttles_when_over" + label,
                PASSED,
                f"{observed} 429s, model with {m.model_quota} predicts {predicted}",
                expected=predicted,
                observed=observed,
            )
        if m.first_429_at is not None and m.predicted_first_429_at is not None:
            delta = m.first_429_at - m.predicted_first_429_at
            status = PASSED if abs(delta) <= tol.onset else FAILED
            add(
                "first_429_onset" + label,
                status,
                f"first 429 after {m.time_to_first_429:.2f} s ({m.admitted_before_first_429} admitted), "
                f"model: {m.predicted_time_to_first_429:.2f} s ({m.predicted_admitted_before_first_429} admitted)",
                expected=round(m.predicted_time_to_first_429 or 0.0, 3),
                observed=round(m.time_to_first_429 or 0.0, 3),
            )
        if m.predicted_accepted_in_spells is not None and m.throttled_seconds >= tol.min_throttled:
            want, got = m.predicted_accepted_in_spells, m.accepted_in_spells
            allowed = max(tol.burst, tol.rate * want)
            add(
                "accepted_vs_model" + label,
                PASSED if abs(got - want) <= allowed else FAILED,
                f"{got} requests admitted while throttled ({m.throttled_seconds:.1f} s), model admits {want}",
                expected=want,
                observed=got,
            )


def _measured_verdicts(report: OracleReport, add: Any) -> None:
    tol = report.tolerances
    adv = report.advertised
    want_burst = (
        adv.max_burst
        if adv.max_burst is not None
        else (report.expected.max_burst if report.expected else None)
    )
    want_rate = adv.rate if adv.rate else (report.expected.per_sec if report.expected else None)
    origin = "advertised" if adv.rate else "expected"
    for m in report.sources:
        label = f"[{m.source}]" if len(report.sources) > 1 else ""
        if m.burst is not None and want_burst is not None:
            ok = abs(m.burst - want_burst) <= tol.burst
            add(
                "burst" + label,
                PASSED if ok else FAILED,
                f"burst admitted {m.burst} (bucket {m.burst_estimate} at the first 429), Limit-1 = {want_burst}",
                expected=want_burst,
                observed=m.burst,
            )
            enough = (
                m.admitted_before_first_429 is not None
                and m.admitted_before_first_429 >= want_burst - tol.burst
            )
            add(
                "first_429_after_burst" + label,
                PASSED if enough else FAILED,
                f"{m.admitted_before_first_429} requests admitted before the first 429, burst {want_burst}",
                expected=want_burst,
                observed=m.admitted_before_first_429,
            )
        if m.sustained_rate is None:
            if m.throttled:
                add(
                    "sustained_rate" + label,
                    SKIPPED,
                    f"throttled for {m.throttled_seconds:.1f} s only (needs {tol.min_throttled:g} s)",
                )
            continue
        if want_rate is None:
            add(
                "sustained_rate" + label,
                SKIPPED,
                f"{m.sustained_rate:.2f}/s accepted while throttled; the headers do not reveal a refill rate",
                observed=round(m.sustained_rate, 3),
            )
            continue
        deviation = abs(m.sustained_rate - want_rate) / want_rate
        add(
            "sustained_rate" + label,
            PASSED if deviation <= tol.rate else FAILED,
            f"{m.sustained_rate:.2f}/s accepted while throttled ({m.throttled_seconds:.1f} s), "
            f"{origin} {want_rate:.2f}/s ({deviation * 100:.1f} % off)",
            expected=round(want_rate, 3),
            observed=round(m.sustained_rate, 3),
        )
