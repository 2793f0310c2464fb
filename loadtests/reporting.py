"""The end of a run: Retry-After probe, oracle, reports/load/<run>/ (summary.json, timeline.csv,
locust_stats.csv, PNG plots), Allure results, thresholds and the exit code.

Headless runs are reported when Locust quits (the master has the workers' last reports by
then); runs driven from the web UI when they stop. Exit codes: 3 = a threshold was breached
(one line per breach on stderr); 9, 10, 11 = the run tested nothing or lost workers (one line
each, mmv3.load.vacuity); 6 = provisioning failed; with a thresholds file a run without breach
exits 0, otherwise Locust's own rule applies (1 when any request failed).
"""

from __future__ import annotations

import csv
import json
import sys
import time
from pathlib import Path
from typing import Any

from locust import events
from locust.stats import PERCENTILES_TO_REPORT, StatsCSV, StatsEntry
from mmv3 import redact
from mmv3.load import plots, vacuity
from mmv3.load.accounting import THROTTLED, WARMUP
from mmv3.load.allure_results import Result, write_results
from mmv3.load.arrivals import Lateness
from mmv3.load.oracle import OracleReport, evaluate
from mmv3.load.probe import retry_after_probe
from mmv3.load.thresholds import (
    AGGREGATED_COVERS,
    EXIT_BREACH,
    EntryStats,
    RunStats,
    breach_lines,
    check,
    outcome_lines,
    tally,
)

import workers

from state import RunState, current, logger

SUMMARY = "summary.json"
TIMELINE = "timeline.csv"
LOCUST_STATS = "locust_stats.csv"
_PERCENTILES = {"p50": 0.50, "p90": 0.90, "p95": 0.95, "p99": 0.99}


def _headless(environment: Any) -> bool:
    return bool(getattr(environment.parsed_options, "headless", False))


@events.test_stop.add_listener
def report_when_stopped(environment: Any, **_kwargs: Any) -> None:
    state = current(environment)
    if not state.is_worker and not _headless(environment):
        finalize(environment, "stopped")


@events.quitting.add_listener
def report_when_quitting(environment: Any, **_kwargs: Any) -> None:
    state = current(environment)
    if not state.is_worker:
        finalize(environment, "quit")


def lateness(state: RunState) -> Lateness | None:
    if state.is_master:
        if not state.lateness_by_worker:
            return None
        total = Lateness()
        for data in state.lateness_by_worker.values():
            total.merge(data)
        return total
    return state.schedule.lateness if state.schedule is not None else None


def run_stats(environment: Any, state: RunState) -> RunStats:
    stats = environment.runner.stats
    entries = []
    for entry in stats.entries.values():
        percentiles = {
            key: (entry.get_response_time_percentile(value) if entry.num_requests else None)
            for key, value in _PERCENTILES.items()
        }
        entries.append(
            EntryStats(entry.method or "", entry.name, entry.num_requests, entry.num_failures, percentiles)
        )
    totals = state.accounting.totals()
    throttled_as_failure = state.settings.throttled_as_failure
    failures = stats.total.num_failures - (totals["throttled"] if throttled_as_failure else 0)
    return RunStats(
        entries=entries,
        aggregated={key: totals.get(f"{key}_accepted_ms") for key in ("p50", "p95", "p99")},
        answered=stats.total.num_requests - totals["unanswered"],
        failures=max(0, failures),
        throttled=totals["throttled"],
        accepted_rps=totals["accepted_rps"],
        offered_rps=totals["offered_rps"],
        throttled_is_failure=throttled_as_failure,
    )


def _figures(entry: Any) -> dict[str, Any]:
    done = entry.num_requests > 0
    return {
        "requests": entry.num_requests,
        **{
            f"{key}_ms": entry.get_response_time_percentile(value) if done else None
            for key, value in _PERCENTILES.items()
        },
    }


def latency_figures(environment: Any, state: RunState) -> dict[str, Any]:
    """Which requests each latency figure covers. "accepted" is what the thresholds call
    Aggregated; "all_requests" is Locust's own Aggregated row; 429s and warm-up apart."""
    stats = environment.runner.stats
    totals = state.accounting.totals()

    def rows(method: str) -> dict[str, Any]:
        combined = StatsEntry(stats, method, method, use_response_times_cache=False)
        for entry in stats.entries.values():
            if entry.method == method:
                combined.extend(entry)
        return _figures(combined)

    return {
        "accepted": {
            "covers": f"{AGGREGATED_COVERS}; failures included (the thresholds' Aggregated)",
            "requests": totals["accepted"] - state.accounting.warmup.accepted,
            **{f"{key}_ms": totals.get(f"{key}_accepted_ms") for key in ("p50", "p95", "p99")},
        },
        "throttled": {"covers": "429 answers (Locust rows 'throttled')", **rows(THROTTLED)},
        "warmup": {"covers": "each user's first login (Locust rows 'warmup')", **rows(WARMUP)},
        "all_requests": {
            "covers": "every request Locust timed: accepted, 429s, warm-up, failures (Locust's Aggregated row)",
            **_figures(stats.total),
        },
    }


def finalize(environment: Any, reason: str) -> dict[str, Any] | None:
    """Write the run's reports once per run; returns the summary."""
    state = current(environment)
    if state.run_number == 0 or state.finalized_run == state.run_number:
        return None
    state.finalized_run = state.run_number
    state.stopped_at = time.time()
    settings = state.settings
    if state.failure:
        logger.error("no report: %s", state.failure)
        return None

    oracle = evaluate(state.accounting, expected=settings.expected, tolerances=settings.tolerances)
    limited = oracle.advertised.with_headers or state.accounting.headers.throttled
    if settings.probe and limited and environment.host:
        logger.info("Retry-After probe (a burst of pings until a 429, then wait Retry-After)")
        state.retry_probe = retry_after_probe(environment.host, limit=oracle.advertised.limit)
        oracle = evaluate(
            state.accounting,
            expected=settings.expected,
            tolerances=settings.tolerances,
            retry_probe=state.retry_probe,
        )
    stats = run_stats(environment, state)
    scenarios = sorted(u.__name__ for u in environment.user_classes)
    thresholds = state.thresholds.for_scenarios(scenarios) if state.thresholds is not None else None
    outcomes = check(thresholds, stats, oracle) if thresholds is not None else []
    workers.last_look(environment)
    problems = vacuity.problems(
        sent=max(environment.runner.stats.total.num_requests, state.accounting.totals()["offered"]),
        seconds=(state.stopped_at - state.started_at) if state.started_at else None,
        expected=settings.expected,
        oracle=oracle,
        thresholds_file=settings.thresholds if state.thresholds is not None else None,
        outcomes=outcomes,
        worker_problems=list(state.worker_problems.values()),
    )

    run_dir = settings.run_dir
    run_dir.mkdir(parents=True, exist_ok=True)
    timeline = state.accounting.timeline()
    files = [
        _write_timeline(run_dir / TIMELINE, timeline),
        _write_locust_stats(environment, run_dir / LOCUST_STATS),
    ]
    if settings.plots and timeline:
        files += plots.write_plots(
            timeline,
            run_dir,
            advertised_rate=oracle.advertised.rate
            or (settings.expected.per_sec if settings.expected else None),
            limit=oracle.advertised.limit,
            first_429_after=oracle.first_429_after,
        )
    summary = _summary(environment, state, reason, oracle, stats, outcomes, files)
    summary["problems"] = [p.to_dict() for p in problems]
    summary_path = run_dir / SUMMARY
    text = json.dumps(summary, indent=1, default=str)
    summary_path.write_text(redact.literal(text, _secrets(state)), encoding="utf-8")
    files.append(summary_path)
    state.last_report = summary

    if settings.allure_dir is not None:
        _allure(settings.allure_dir, state, oracle, outcomes, files, environment.host or "")
    _console(state, summary, oracle, outcomes, summary_path)
    for problem in problems:
        print(problem.line, file=sys.stderr, flush=True)
    # None: Locust's own rule (1 when a request failed); each run of the web UI decides anew.
    breach = None
    if state.thresholds is not None:
        breach = EXIT_BREACH if any(o.breached for o in outcomes) else 0
    environment.process_exit_code = vacuity.exit_code(problems, breach)
    return summary


def _secrets(state: RunState) -> list[str]:
    secrets = state.population.secrets() if state.population else []
    if state.settings.admin:
        secrets.append(state.settings.admin[1])
    return secrets


def _write_timeline(path: Path, rows: list[dict[str, Any]]) -> Path:
    columns = list(rows[0]) if rows else ["second", "t", "offered", "accepted", "throttled"]
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    return path


def _write_locust_stats(environment: Any, path: Path) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        StatsCSV(environment, PERCENTILES_TO_REPORT).requests_csv(csv.writer(handle))
    return path


def _summary(
    environment: Any,
    state: RunState,
    reason: str,
    oracle: OracleReport,
    stats: RunStats,
    outcomes: list[Any],
    files: list[Path],
) -> dict[str, Any]:
    totals = state.accounting.totals()
    population = state.population
    late = lateness(state)
    locust_total = environment.runner.stats.total
    return {
        "run": state.settings.run_name,
        "target": redact.url(environment.host or ""),
        "reason": reason,
        "started": _iso(state.started_at),
        "finished": _iso(state.stopped_at),
        "started_epoch": state.started_at,
        "finished_epoch": state.stopped_at,
        "settings": state.settings.public(),
        "provisioning": None
        if population is None
        else {
            "prefix": population.prefix,
            "accounts": len(population.accounts),
            "teams": len(population.teams),
            "channels_per_team": len(population.teams[0]["channels"]) if population.teams else 0,
            "requests": population.requests,
            "settle_seconds": population.settle_seconds,
        },
        "totals": {
            **totals,
            "goodput_rps": totals["accepted_rps"],
            "failure_ratio": round(stats.failure_ratio, 6),
            "throttled_ratio": round(stats.throttled_ratio, 6),
        },
        # what each latency figure covers: Locust's Aggregated row is not the thresholds' one
        "latency": latency_figures(environment, state),
        "requests_by_name": state.accounting.name_counts(),
        # A scenario's warm-up requests (each user's first login): in the totals and the oracle,
        # outside the latency figures and thresholds.
        "warmup": state.accounting.warmup_totals(),
        "locust": {
            "requests": locust_total.num_requests,
            "failures": locust_total.num_failures,
            "throttled_rows": sum(e.requests for e in stats.entries if e.method == THROTTLED),
        },
        "arrivals": late.to_dict() if late is not None else None,
        "workers": [dict(w, requests=state.offered_by_worker.get(w["worker"], 0)) for w in state.distribution]
        or None,
        "oracle": oracle.to_dict(),
        "thresholds": None
        if state.thresholds is None
        else {
            "file": state.settings.thresholds,
            "scenarios": sorted(u.__name__ for u in environment.user_classes),
            "outcomes": [{"name": o.name, "status": o.status, "message": o.message} for o in outcomes],
            "breaches": breach_lines(outcomes),
        },
        "files": sorted(p.name for p in files),
    }


def _iso(epoch: float | None) -> str | None:
    return None if epoch is None else time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(epoch))


def _allure(
    directory: Path,
    state: RunState,
    oracle: OracleReport,
    outcomes: list[Any],
    files: list[Path],
    target: str,
) -> None:
    results = [
        Result(
            v.name,
            v.status,
            v.message,
            "rate-limit oracle",
            {"expected": str(v.expected), "observed": str(v.observed)},
        )
        for v in oracle.verdicts
    ]
    results += [Result(o.name, o.status, o.message, "threshold") for o in outcomes]
    start_ms = int((state.started_at or time.time()) * 1000)
    stop_ms = int((state.stopped_at or time.time()) * 1000)
    write_results(
        directory,
        results,
        run=state.settings.run_name,
        attachments=files,
        start_ms=start_ms,
        stop_ms=stop_ms,
        target=redact.url(target),
    )


def _console(
    state: RunState, summary: dict[str, Any], oracle: OracleReport, outcomes: list[Any], path: Path
) -> None:
    totals = summary["totals"]
    logger.info(
        "offered %.2f req/s, accepted (goodput) %.2f req/s, throttled %.2f req/s "
        "(%d accepted, %d throttled, %d unanswered)",
        totals["offered_rps"],
        totals["accepted_rps"],
        totals["throttled_rps"],
        totals["accepted"],
        totals["throttled"],
        totals["unanswered"],
    )
    for m in oracle.sources:
        if m.first_429_at is None:
            continue
        logger.info(
            "[%s] first 429 after %.2f s (%d admitted), burst %s, sustained accepted rate %s",
            m.source,
            m.time_to_first_429 or 0.0,
            m.admitted_before_first_429 or 0,
            m.burst,
            f"{m.sustained_rate:.2f}/s" if m.sustained_rate is not None else "n/a",
        )
    warm = summary.get("warmup")
    if warm and warm["offered"]:
        logger.info(
            "warm-up (not judged by the thresholds): %d request(s), %d answered, p50 %s ms, p95 %s ms, max %s ms",
            warm["offered"],
            warm["accepted"],
            warm["p50_ms"],
            warm["p95_ms"],
            warm["max_ms"],
        )
    late = summary.get("arrivals")
    if late and late.get("late"):
        logger.warning(
            "the generator missed its schedule for %d of %d requests (max lag %.2f s)",
            late["late"],
            late["slots"],
            late["max_lag_s"],
        )
    latency = summary["latency"]
    accepted, every, throttled = latency["accepted"], latency["all_requests"], latency["throttled"]
    logger.info(
        "latency p95: accepted requests %s ms (%d, 429s and warm-up excluded: the thresholds' Aggregated); "
        "Locust's Aggregated row %s ms (all %d requests, of which %d 429s at p95 %s ms)",
        _ms(accepted["p95_ms"]),
        accepted["requests"],
        _ms(every["p95_ms"]),
        every["requests"],
        throttled["requests"],
        _ms(throttled["p95_ms"]),
    )
    logger.info("rate-limit oracle: %s", oracle.summary())
    logger.info("report %s", path)
    # one line per threshold, passed ones too, each with the value measured
    for line in outcome_lines(outcomes):
        print(f"mmv3 {line}", file=sys.stderr, flush=True)
    if state.thresholds is not None:
        print(
            f"mmv3 thresholds: {tally(outcomes)} ({state.settings.thresholds})", file=sys.stderr, flush=True
        )


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:g}"
