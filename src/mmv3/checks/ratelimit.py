"""ratelimit: the X-Ratelimit-* headers and what the limiter does, against the GCRA model.

Per operation: the headers are on the answer, integers, Limit the same everywhere, Remaining
at most Limit - 1, Reset a number of seconds (not an epoch).

Server-wide (on GET /general/ping, serial, in a bucket of their own): one unpaced burst until
the first 429 shows Remaining counting down by one per request, the 429 itself (text/plain
`limit exceeded`, Retry-After, no request id), the bucket the limiter enforces against the one
the headers advertise, Reset agreeing with the refill Remaining shows, recovery after waiting
Retry-After, and the sustained rate the server accepts compared with what GCRA predicts for
the quota that Limit and Reset advertise.

No advertised number is taken on trust, and no verdict rests on how fast this machine sends:
the bucket is measured by counting admitted requests, and the refill rate is bounded from the
Remaining sequence by causality alone (the server handled a request after it was sent and
before its answer came), so a slow client only widens the bounds. The (Remaining, Reset) pairs
are read by the load tests' rate-limit oracle (`mmv3.load.oracle.advertised_quota`).

The checks send `X-Forwarded-For` with an address of the benchmarking range (198.18.0.0/15):
Mattermost 4.7+ keys its limiter by that header, so they get a fresh bucket without touching
the one the rest of the run is paced on. Where the server ignores it, they wait for the
shared bucket to refill first.
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mmv3.checks import Probe, Skip, check, describe, on_upgrade
from mmv3.load.accounting import Accounting
from mmv3.load.oracle import Advertised, advertised_quota
from mmv3.ratelimit import (
    DENIED_BODY,
    GCRA,
    LIMIT_HEADER,
    REMAINING_HEADER,
    RESET_HEADER,
    Observed,
    Quota,
    looks_like_epoch,
)

if TYPE_CHECKING:
    from mmv3.catalog import Operation
    from mmv3.client import Response

PING = ("GET", "/api/v3/general/ping")
MAX_BURST_SECONDS = 15.0
MAX_SUSTAINED_SECONDS = 12.0
MAX_REFILL_WAIT = 30.0


def _is_ping(op: Operation) -> bool:
    return (op.method, op.template) == PING


def _require_limiting(probe: Probe) -> None:
    if probe.ratelimit == "off":
        raise Skip("rate limiting is not expected on this target (--mm-ratelimit off)")
    if probe.ratelimit == "auto" and not probe.limited:
        raise Skip(
            "the target sends no X-Ratelimit-* headers: rate limiting looks off "
            "(--mm-ratelimit on makes that a failure)"
        )


def header_problems(response: Response, limit: int | None) -> list[str]:
    """The X-Ratelimit-* triple of one answer: present, integers, within bounds, Reset in seconds."""
    raw = {name.lower(): value for name, value in response.header_items}
    missing = [h for h in (LIMIT_HEADER, REMAINING_HEADER, RESET_HEADER) if h.lower() not in raw]
    if missing:
        return [f"{', '.join(missing)} missing on {describe(response)}"]
    problems = []
    for name in (LIMIT_HEADER, REMAINING_HEADER, RESET_HEADER):
        try:
            int(raw[name.lower()].strip())
        except ValueError:
            problems.append(f"{name} is not an integer: {raw[name.lower()]!r}")
    if problems:
        return problems
    seen = response.ratelimit
    assert seen.limit is not None and seen.remaining is not None and seen.reset is not None
    if limit is not None and seen.limit != limit:
        problems.append(f"X-Ratelimit-Limit is {seen.limit} here but {limit} elsewhere")
    if not 0 <= seen.remaining <= seen.limit - 1:
        problems.append(f"X-Ratelimit-Remaining {seen.remaining} is outside 0..Limit-1 ({seen.limit - 1})")
    if looks_like_epoch(seen.reset):
        problems.append(
            f"X-Ratelimit-Reset {seen.reset} is a Unix timestamp, not seconds until the bucket is full"
        )
    elif seen.reset < 0:
        problems.append(f"X-Ratelimit-Reset {seen.reset} is negative")
    return problems


@check("ratelimit", severity="normal")
def headers_present(op: Operation, probe: Probe) -> list[str]:
    """The answer carries X-Ratelimit-Limit/Remaining/Reset as integers within bounds."""
    _require_limiting(probe)
    response = probe.success(op)
    if response.status == 101:
        return on_upgrade(response, LIMIT_HEADER, REMAINING_HEADER, RESET_HEADER)
    return header_problems(response, probe.limit)


# ------------------------------------------------------------------------------- the burst
@dataclass
class Sample:
    sent: float
    status: int
    observed: Observed
    content_type: str
    body: bytes
    request_id: str | None
    problems: list[str]
    received: float = 0.0  # when the answer was in: the server handled it between sent and this


@dataclass
class Burst:
    """One unpaced run of requests into a fresh bucket, until the first 429 (and one after
    waiting its Retry-After)."""

    key: str
    samples: list[Sample] = field(default_factory=list)
    fresh: bool = True
    notes: list[str] = field(default_factory=list)
    recovery: Sample | None = None
    waited: float = 0.0

    @property
    def accepted(self) -> list[Sample]:
        out = []
        for sample in self.samples:
            if sample.status == 429:
                break
            out.append(sample)
        return out

    @property
    def denied(self) -> Sample | None:
        return next((s for s in self.samples if s.status == 429), None)

    @property
    def limit(self) -> int | None:
        return next((s.observed.limit for s in self.samples if s.observed.limit is not None), None)

    def duration_to_denial(self) -> float:
        denied = self.denied
        if denied is None or not self.samples:
            return 0.0
        return max(denied.sent - self.samples[0].sent, 1e-6)

    def measured_rate(self) -> float | None:
        """GCRA accepts Limit at once plus one per interval: rate ~ (accepted - Limit) / time."""
        limit, accepted, duration = self.limit, len(self.accepted), self.duration_to_denial()
        if limit is None or self.denied is None or accepted <= limit:
            return None
        return (accepted - limit) / duration


@dataclass(frozen=True)
class RateRange:
    """The refill rates (requests per second) that explain what was seen; `high` may be inf."""

    low: float
    high: float

    @property
    def bounded(self) -> bool:
        return math.isfinite(self.high)

    def __str__(self) -> str:
        if not self.bounded:
            return f"at least {self.low:.1f}/s"
        return f"{self.low:.1f}..{self.high:.1f}/s"


def refill_from_remaining(samples: list[Sample]) -> RateRange | None:
    """The refill rate the Remaining sequence of consecutive admitted answers shows.

    From the first to the last of `samples` the bucket gained G = R_last - R_first + steps slots,
    give or take one (Remaining is truncated to whole slots). The server handled the two requests
    no further apart than last.received - first.sent and no closer than last.sent - first.received,
    so the rate lies in [(G - 1) / longest, (G + 1) / shortest] whatever the machine's speed.
    """
    if len(samples) < 2 or any(s.observed.remaining is None or s.status == 429 for s in samples):
        return None
    first, last = samples[0], samples[-1]
    gained = last.observed.remaining - first.observed.remaining + len(samples) - 1  # type: ignore[operator]
    longest = last.received - first.sent
    shortest = last.sent - first.received
    if longest <= 0:
        return None
    high = (gained + 1) / shortest if shortest > 0 else math.inf
    return RateRange(max(0.0, gained - 1) / longest, high)


def countdown_samples(burst: Burst) -> list[Sample]:
    """The admitted answers from the last that found the bucket full down to the first that
    reads Remaining 0: before it the refill may have been capped by the full bucket, after it
    the headers say nothing more about the refill."""
    accepted = burst.accepted
    zero = next((i for i, s in enumerate(accepted) if s.observed.remaining == 0), None)
    part = accepted if zero is None else accepted[: zero + 1]
    limit = burst.limit
    full = [i for i, s in enumerate(part) if limit is not None and (s.observed.remaining or 0) >= limit - 1]
    return part[full[-1] :] if full else part


def refill_after_denial(burst: Burst) -> float | None:
    """A lower bound of the refill rate from the answer after waiting Retry-After: at the 429
    the bucket held less than one slot, so the Remaining R of the next answer took more than R
    slots of refill, in no longer than from sending the 429'd request to that answer (a full
    bucket caps R, which only lowers the bound)."""
    denied, recovery = burst.denied, burst.recovery
    if denied is None or recovery is None or recovery.status == 429 or recovery.observed.remaining is None:
        return None
    span = recovery.received - denied.sent
    return recovery.observed.remaining / span if span > 0 else None


def advertised(samples: list[Sample]) -> Advertised:
    """What the X-Ratelimit-* headers of `samples` advertise, read by the load oracle."""
    accounting = Accounting("burst")
    for sample in samples:
        seen = sample.observed
        accounting.record(
            sent=sample.sent,
            elapsed_ms=max(0.0, sample.received - sample.sent) * 1000,
            status=sample.status,
            limit=seen.limit,
            remaining=seen.remaining,
            reset=seen.reset,
            retry_after=seen.retry_after,
            content_type=sample.content_type,
            body=sample.body,
        )
    return advertised_quota(accounting.headers)


def reset_range(adv: Advertised) -> RateRange | None:
    if adv.rate_low is None:
        return None
    return RateRange(adv.rate_low, adv.rate_high if adv.rate_high is not None else math.inf)


def _address(rng: random.Random) -> str:
    return f"198.{18 + rng.randrange(2)}.{rng.randrange(256)}.{1 + rng.randrange(254)}"


def _send(client: Any, headers: dict[str, str]) -> Sample:
    sent = time.monotonic()
    response = client.get("general/ping", auth=False, headers=headers, pace=False)
    return Sample(
        sent,
        response.status,
        response.ratelimit,
        response.content_type or "",
        response.content,
        response.request_id,
        header_problems(response, None),
        time.monotonic(),
    )


def run_burst(probe: Probe) -> Burst:
    client = probe.raw_client()
    rng = random.Random()
    key = _address(rng)
    headers = {"X-Forwarded-For": key}
    burst = Burst(key)
    first = _send(client, headers)
    limit = first.observed.limit
    if limit is None:
        burst.samples.append(first)
        return burst
    if first.observed.remaining is not None and first.observed.remaining < limit - 2:
        # Not a fresh bucket: the server does not key by X-Forwarded-For. Let it refill.
        burst.fresh = False
        wait = min(float(first.observed.reset or 1), MAX_REFILL_WAIT)
        burst.notes.append(
            f"X-Forwarded-For is not a limiter key here; waited {wait:.0f} s for the shared bucket"
        )
        time.sleep(wait)
        first = _send(client, headers)
    burst.samples.append(first)
    deadline = time.monotonic() + MAX_BURST_SECONDS
    cap = 3 * limit + 20
    while len(burst.samples) < cap and time.monotonic() < deadline:
        sample = _send(client, headers)
        burst.samples.append(sample)
        if sample.status == 429:
            break
    denied = burst.denied
    if denied is not None:
        retry = denied.observed.retry_after
        wait = float(retry) if retry is not None and 0 < retry <= MAX_REFILL_WAIT else 1.0
        # Waiting Retry-After is the behaviour under test, not a stand-in for synchronisation.
        time.sleep(wait)
        burst.waited = wait
        burst.recovery = _send(client, headers)
    return burst


def _burst(probe: Probe) -> Burst:
    _require_limiting(probe)
    return probe.once("ratelimit.burst", lambda: run_burst(probe))


@check("ratelimit", applies=_is_ping, severity="critical", server_wide=True)
def exceeding(op: Operation, probe: Probe) -> list[str]:
    """Exceeding the limit yields 429 `text/plain` `limit exceeded` with Retry-After and the
    X-Ratelimit-* headers, and no request id."""
    burst = _burst(probe)
    denied = burst.denied
    accepted = burst.accepted
    if denied is None:
        floor = min(
            (s.observed.remaining for s in accepted if s.observed.remaining is not None), default=None
        )
        if floor == 0:
            return [
                f"{len(accepted)} requests in a row were accepted, Remaining reached 0, and none was "
                "answered 429: the limit is not enforced"
            ]
        limit = burst.limit
        rates = reset_range(advertised(burst.samples))
        if limit is not None and rates is not None and rates.bounded and accepted:
            # Limit plus the most that the refill Reset advertises could give back meanwhile.
            span = accepted[-1].received - accepted[0].sent
            most = limit + math.floor(rates.high * span) + 1
            if len(accepted) > most:
                return [
                    f"{len(accepted)} requests in {span:.2f} s were all admitted without a 429; Limit "
                    f"{limit} and the refill Reset advertises ({rates}) admit at most {most}"
                ]
        raise Skip(
            f"this client could not exceed the limit ({len(burst.samples)} requests, Remaining never "
            f"below {floor})"
        )
    problems = []
    if not denied.content_type.lower().startswith("text/plain"):
        problems.append(f"429 Content-Type is {denied.content_type or 'missing'}, not text/plain")
    if denied.body.decode("utf-8", errors="replace").strip() != DENIED_BODY.strip():
        problems.append(f"429 body is {denied.body[:60]!r}, not {DENIED_BODY!r}")
    retry = denied.observed.retry_after
    if retry is None:
        problems.append("429 carries no Retry-After (integer seconds)")
    elif looks_like_epoch(retry) or retry < 0:
        problems.append(f"429 Retry-After {retry} is not a number of seconds")
    if denied.request_id:
        problems.append("429 carries an X-Request-Id (the limiter answers before any handler)")
    problems += [f"429: {p}" for p in denied.problems]
    return problems


@check("ratelimit", applies=_is_ping, severity="normal", server_wide=True)
def countdown(op: Operation, probe: Probe) -> list[str]:
    """Within a burst, Limit stays constant and Remaining counts down by one per request (less
    what the refill rate gives back), reaching 0 before the 429."""
    burst = _burst(probe)
    accepted = burst.accepted
    problems: list[str] = []
    for sample in burst.samples:
        problems += sample.problems
    if problems:
        return sorted(set(problems))[:5]
    limits = {s.observed.limit for s in burst.samples}
    if len(limits) > 1:
        return [f"X-Ratelimit-Limit changed within one burst: {sorted(limits)}"]
    limit = burst.limit or 0
    remaining = [s.observed.remaining for s in accepted if s.observed.remaining is not None]
    if burst.fresh and remaining and remaining[0] != limit - 1:
        problems.append(
            f"the first request into a fresh bucket left Remaining {remaining[0]}, expected {limit - 1}"
        )
    if burst.denied is None:
        raise Skip("no 429 in the burst (see ratelimit.exceeding)")
    refill = refill_from_remaining(countdown_samples(burst))
    # The most the bucket can have refilled per second, by the Remaining sequence as a whole.
    rate = refill.high if refill is not None and refill.bounded else math.inf
    steps = list(zip(accepted, accepted[1:], strict=False))
    for before, after in steps:
        gained = after.observed.remaining - (before.observed.remaining - 1)
        # The server handled the two requests at most this far apart (a slow client or server
        # can put the whole gap after the first was sent, or before the second answer came).
        gap = after.received - before.sent
        allowed = math.ceil(rate * gap) + 1 if math.isfinite(rate) else gained
        if gained < 0:
            problems.append(
                f"Remaining fell from {before.observed.remaining} to {after.observed.remaining} in one request"
            )
            break
        if gained > allowed:
            problems.append(
                f"Remaining went from {before.observed.remaining} to {after.observed.remaining}: more than "
                f"the refill rate ({rate:.1f}/s measured) gives back in {gap:.3f} s"
            )
            break
    exact = sum(1 for b, a in steps if a.observed.remaining == b.observed.remaining - 1)
    span = accepted[-1].sent - accepted[0].sent if len(accepted) > 1 else 0.0
    sending = len(steps) / span if span > 0 else float("inf")
    # Between two requests the bucket refills rate/sending of a request on average, so about
    # (1 - rate/sending) of the steps must show a plain decrement; allow half of that.
    expected = max(0.0, 1.0 - rate / sending) if sending and math.isfinite(rate) else 0.0
    if steps and exact < 0.5 * expected * len(steps):
        problems.append(
            f"Remaining decreased by one in only {exact} of {len(steps)} back-to-back requests "
            f"(sent at {sending:.0f}/s, refill {rate:.0f}/s)"
        )
    return problems


@check("ratelimit", applies=_is_ping, severity="critical", server_wide=True)
def bucket(op: Operation, probe: Probe) -> list[str]:
    """The bucket the limiter enforces is the one the headers advertise: from a full bucket the
    first 429 comes after Limit - 1 (+-1) admitted requests plus the refill, never right after
    an answer that still advertised Remaining above 1, and once Remaining reads 0 no more are
    admitted than the refill Remaining showed can give back."""
    burst = _burst(probe)
    limit, accepted, denied = burst.limit, burst.accepted, burst.denied
    if limit is None or denied is None:
        raise Skip("no 429 in the burst (see ratelimit.exceeding)")
    problems = []
    countdown_part = countdown_samples(burst)
    refill = refill_from_remaining(countdown_part)
    probe.record("ratelimit.limit", limit)
    if refill is not None:
        probe.record("ratelimit.refill_range", [refill.low, refill.high if refill.bounded else None])
    if burst.fresh and len(accepted) < limit - 1:
        problems.append(
            f"only {len(accepted)} requests were admitted into a fresh bucket advertising Limit {limit} "
            f"(a full bucket admits at least {limit - 1})"
        )
    last = accepted[-1].observed.remaining if accepted else None
    if burst.fresh and last is not None and last > 1:
        problems.append(
            f"the 429 came right after an answer that still advertised Remaining {last} "
            f"(after {len(accepted)} admitted requests, Limit {limit})"
        )
    # The admitted answers after the countdown (which ends at the first Remaining 0, if any).
    end = next((i for i, s in enumerate(accepted) if countdown_part and s is countdown_part[-1]), -1)
    after = accepted[end + 1 :] if countdown_part else []
    if countdown_part and countdown_part[-1].observed.remaining == 0 and refill is not None:
        if refill.bounded:
            # The server handled these between the Remaining-0 request and the 429.
            span = denied.received - countdown_part[-1].sent
            most = math.floor(refill.high * span) + 2
            if len(after) > most:
                problems.append(
                    f"{len(after)} more requests were admitted after Remaining read 0 (in {span:.3f} s); "
                    f"the refill Remaining showed ({refill}) gives back at most {most}: the limiter "
                    f"enforces a larger bucket than Limit {limit} advertises"
                )
        else:
            probe.note("the count-down was too short to bound the refill rate")
    return problems


@check("ratelimit", applies=_is_ping, severity="normal", server_wide=True)
def reset_seconds(op: Operation, probe: Probe) -> list[str]:
    """X-Ratelimit-Reset is seconds until the bucket is full (not an epoch), one refill rate
    explains every (Remaining, Reset) pair, and it is the refill Remaining shows."""
    burst = _burst(probe)
    for sample in burst.samples:
        reset = sample.observed.reset
        if reset is not None and looks_like_epoch(reset):
            return [f"X-Ratelimit-Reset {reset} is a Unix timestamp, not a number of seconds"]
    if burst.denied is None:
        raise Skip("no 429 in the burst (see ratelimit.exceeding)")
    adv = advertised(burst.samples)
    if not adv.consistent:
        return [
            f"no single refill rate explains the (Remaining, Reset) pairs: they need at least "
            f"{adv.rate_low:.3g}/s and at most {adv.rate_high:.3g}/s"
        ]
    by_reset = reset_range(adv)
    by_remaining = refill_from_remaining(countdown_samples(burst))
    recovered = refill_after_denial(burst)
    if recovered is not None:
        by_remaining = RateRange(
            max(recovered, by_remaining.low if by_remaining else 0.0),
            by_remaining.high if by_remaining else math.inf,
        )
    if by_reset is None or by_remaining is None:
        raise Skip("the burst was too short to read a refill rate from the headers")
    probe.note(f"refill by Reset {by_reset}, by the Remaining sequence {by_remaining}")
    slack = 1.1  # Reset is whole seconds; the bounds are exact otherwise
    if by_remaining.low > by_reset.high * slack:
        return [
            f"Reset advertises a refill of {by_reset}, but Remaining showed the bucket refilling at "
            f"{by_remaining}"
        ]
    if by_remaining.high * slack < by_reset.low:
        return [
            f"Reset advertises a refill of {by_reset}, but Remaining showed the bucket refilling at "
            f"only {by_remaining}"
        ]
    return []


@check("ratelimit", applies=_is_ping, severity="normal", server_wide=True)
def recovery(op: Operation, probe: Probe) -> list[str]:
    """After a 429, waiting Retry-After seconds is enough for the next request to be accepted."""
    burst = _burst(probe)
    if burst.denied is None or burst.recovery is None:
        raise Skip("no 429 in the burst (see ratelimit.exceeding)")
    if burst.recovery.status == 429:
        return [f"still 429 after waiting Retry-After ({burst.waited:g} s)"]
    if burst.recovery.status != 200:
        return [f"after waiting Retry-After the server answered {burst.recovery.status}"]
    return []


@check("ratelimit", applies=_is_ping, severity="normal", server_wide=True)
def sustained_rate(op: Operation, probe: Probe) -> list[str]:
    """The burst and the sustained rate the server accepts match what GCRA predicts for the quota
    Limit and Reset advertise."""
    burst = _burst(probe)
    limit, rate = burst.limit, burst.measured_rate()
    if limit is None or rate is None or burst.denied is None:
        raise Skip("no 429 in the burst (see ratelimit.exceeding)")
    problems = []
    # Advertised: Limit = burst + 1, and Reset at exhaustion = ceil(Limit x interval).
    reset = burst.accepted[-1].observed.reset if burst.accepted else None
    low = limit / reset if reset else None
    high = limit / (reset - 1) if reset and reset > 1 else None
    span = burst.duration_to_denial()
    accepted = len(burst.accepted)
    if high is not None and accepted > limit + math.ceil(high * span) + 2:
        problems.append(
            f"{accepted} requests were accepted in {span:.2f} s; Limit {limit} and Reset {reset} allow "
            f"at most {limit + math.ceil(high * span)}"
        )
    sustained = measure_sustained(probe, rate, limit)
    probe.note(
        f"burst: {accepted} accepted in {span:.2f} s before the 429 (Limit {limit}, Reset {reset} s); "
        f"steady: {sustained.accepted} of {len(sustained.sent)} accepted, {sustained.rate:.1f}/s sustained"
    )
    if sustained.rate > 0:
        probe.record("ratelimit.steady_rate", sustained.rate)
    if sustained.rate <= 0:
        # No steady phase: either the limiter let everything through, or this client could not
        # send faster than the limit (a busy machine). Only the first is the server's fault.
        sent = sustained.sent
        sending = (len(sent) - 1) / (sent[-1] - sent[0]) if len(sent) > 1 and sent[-1] > sent[0] else 0.0
        if high is not None and sending > high * 1.25:
            problems.append(
                f"no 429 in {len(sent)} requests at {sending:.1f}/s, above what Limit {limit} and Reset "
                f"{reset} advertise (at most {high:.1f}/s)"
            )
        else:
            probe.note(
                f"the client sent only {sending:.1f}/s: too slow to empty the bucket, steady rate not measured"
            )
        return problems
    lo_rate = (low or 0) * 0.8
    hi_rate = high * 1.25 if high is not None else None
    if sustained.rate < lo_rate or (hi_rate is not None and sustained.rate > hi_rate):
        window = f"{low:.1f}..{high:.1f}/s" if high is not None else f"at least {low:.1f}/s"
        problems.append(
            f"sustained accepted rate {sustained.rate:.1f}/s is outside what Limit {limit} and Reset "
            f"{reset} advertise ({window})"
        )
    if sustained.rate > 0:
        # The whole run (initial burst included) against GCRA at the measured steady rate.
        predicted = sustained.predicted(Quota(per_sec=sustained.rate, max_burst=limit - 1))
        if abs(predicted - sustained.accepted) > max(3, 0.15 * predicted):
            problems.append(
                f"the limiter accepted {sustained.accepted} of {len(sustained.sent)} steady requests; GCRA at "
                f"{sustained.rate:.1f}/s with burst {limit - 1} predicts {predicted}"
            )
    return problems


@dataclass
class Sustained:
    sent: list[float]
    accepted_at: list[float]
    window: float
    rate_hint: float
    first_denied: float | None = None

    @property
    def accepted(self) -> int:
        return len(self.accepted_at)

    @property
    def rate(self) -> float:
        """Requests accepted per second once the initial burst is spent (after the first 429)."""
        if self.first_denied is None:
            return 0.0
        steady = [t for t in self.accepted_at if t > self.first_denied]
        if len(steady) < 2 or steady[-1] <= steady[0]:
            return 0.0
        return (len(steady) - 1) / (steady[-1] - steady[0])

    def predicted(self, quota: Quota) -> int:
        model = GCRA(quota)
        start = self.sent[0] if self.sent else 0.0
        return sum(1 for t in self.sent if model.take("k", now=t - start + 1000.0).allowed)


def measure_sustained(probe: Probe, rate: float, limit: int) -> Sustained:
    """Steady traffic into a fresh bucket, faster than the limit: first the burst is spent, then
    the limiter's own pace shows for a short window."""
    client = probe.raw_client()
    headers = {"X-Forwarded-For": _address(random.Random())}
    # Fast enough to spend a large burst within about two seconds, at least twice the rate.
    pace = min(max(2.0 * rate, rate + limit / 2.0, 5.0), 400.0)
    window = min(max(1.5, 20.0 / max(rate, 1.0)), 5.0)  # about 20 steady acceptances, at most 5 s
    give_up = time.monotonic() + MAX_SUSTAINED_SECONDS  # a client too slow to empty the bucket
    sent: list[float] = []
    accepted: list[float] = []
    first_denied: float | None = None
    start = time.monotonic()
    n = 0
    while True:
        target = start + n / pace
        now = time.monotonic()
        if (first_denied is not None and target - first_denied > window) or target > give_up:
            break
        if target > now:
            time.sleep(target - now)  # pacing the load generator, not waiting for a result
        t = time.monotonic()
        response = client.get("general/ping", auth=False, headers=headers, pace=False)
        sent.append(t)
        if response.status != 429:
            accepted.append(t)
        elif first_denied is None:
            first_denied = t
        n += 1
    return Sustained(sent, accepted, window, rate, first_denied)


CHECKS = [headers_present, exceeding, countdown, bucket, reset_seconds, recovery, sustained_rate]
