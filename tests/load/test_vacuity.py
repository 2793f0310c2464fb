"""A load run that tested nothing fails: the decision (mmv3.load.vacuity) on synthetic runs, and
single-process Locust runs that sent nothing or had nothing to judge, each with its one line and
its exit code. (Lost workers: tests/load/test_distributed_run.py.)"""

from __future__ import annotations

from mmv3.load.accounting import Accounting
from mmv3.load.oracle import evaluate
from mmv3.load.thresholds import RunStats, Thresholds, check
from mmv3.load.vacuity import (
    EXIT_EMPTY,
    EXIT_NOTHING_JUDGED,
    EXIT_PROVISIONING,
    EXIT_WORKERS,
    exit_code,
    problems,
)
from mmv3.ratelimit import Quota
from mmv3.server import running_server
from tests.load.locust_runs import locust
from tests.load.synthetic import poisson_times, replay

RATELIMIT_ONLY = "ratelimit:\n  burst_within: 2\n  oracle: all\n"


def run_stats(answered: int, failures: int = 0, throttled: int = 0) -> RunStats:
    return RunStats([], {}, answered, failures, throttled, accepted_rps=1.0, offered_rps=1.0)


def test_the_codes_are_distinct_and_clear_of_locust_and_the_breach() -> None:
    codes = {EXIT_PROVISIONING, EXIT_EMPTY, EXIT_NOTHING_JUDGED, EXIT_WORKERS}
    assert len(codes) == 4 and not codes & {0, 1, 2, 3}


def test_a_run_that_sent_nothing_is_empty_whatever_else() -> None:
    oracle = evaluate(Accounting(source="h"), expected=Quota(10, 100))
    found = problems(
        sent=0, seconds=30, expected=Quota(10, 100), oracle=oracle, thresholds_file=None, outcomes=[]
    )
    assert [p.code for p in found] == [EXIT_EMPTY]
    assert (
        found[0].line
        == "mmv3 empty run: no request was sent in 30 s (no user got to run: check -u, the workers, the log)"
    )
    assert exit_code(found, 0) == EXIT_EMPTY


def test_expect_with_nothing_answered_is_nothing_judged() -> None:
    """Requests were sent but none answered: --mmv3-expect gets no verdict, and it says so."""
    oracle = evaluate(Accounting(source="h"), expected=Quota(10, 100))
    found = problems(
        sent=50, seconds=30, expected=Quota(10, 100), oracle=oracle, thresholds_file=None, outcomes=[]
    )
    assert [p.code for p in found] == [EXIT_NOTHING_JUDGED]
    assert "--mmv3-expect 10/100 asked for a verdict" in found[0].line
    assert "no answers" in found[0].line


def test_thresholds_that_all_skipped_judged_nothing() -> None:
    unlimited = evaluate(replay(poisson_times(20, 5), None))  # answers, but no limiter
    outcomes = check(
        Thresholds.from_data({"ratelimit": {"burst_within": 2, "oracle": "all"}}), run_stats(100), unlimited
    )
    assert outcomes and all(o.status == "skipped" for o in outcomes)
    found = problems(
        sent=100, seconds=5, expected=None, oracle=unlimited, thresholds_file="t.yaml", outcomes=outcomes
    )
    assert [p.code for p in found] == [EXIT_NOTHING_JUDGED]
    assert found[0].line.startswith("mmv3 nothing judged: every threshold of t.yaml was skipped")
    # one judged threshold is a verdict: the run is not vacuous
    judged = check(
        Thresholds.from_data({"failure_ratio": 0.01, "ratelimit": {"oracle": "all"}}),
        run_stats(100),
        unlimited,
    )
    assert (
        problems(
            sent=100, seconds=5, expected=None, oracle=unlimited, thresholds_file="t.yaml", outcomes=judged
        )
        == []
    )


def test_a_judged_run_without_thresholds_or_expect_has_no_problem() -> None:
    limited = evaluate(replay(poisson_times(60, 10), Quota(10, 100)), expected=Quota(10, 100))
    assert (
        problems(
            sent=600, seconds=10, expected=Quota(10, 100), oracle=limited, thresholds_file=None, outcomes=[]
        )
        == []
    )
    assert exit_code([], 3) == 3 and exit_code([], None) is None


def test_lost_workers_come_first() -> None:
    oracle = evaluate(Accounting(source="h"))
    found = problems(
        sent=0,
        seconds=5,
        expected=None,
        oracle=oracle,
        thresholds_file=None,
        outcomes=[],
        worker_problems=["worker w1 went missing (no heartbeat) 4 s into the run"],
    )
    assert [p.code for p in found] == [EXIT_WORKERS, EXIT_EMPTY]
    assert found[0].line == "mmv3 workers: worker w1 went missing (no heartbeat) 4 s into the run"
    assert exit_code(found, 3) == EXIT_WORKERS


def test_ratios_of_nothing_are_not_judged() -> None:
    t = Thresholds.from_data({"failure_ratio": 0.01, "max_throttled_ratio": 0.5})
    assert {o.status for o in check(t, run_stats(0), None)} == {"skipped"}
    # nothing answered, but requests failed: every one of them failed
    (failure, throttled) = check(t, run_stats(0, failures=7), None)
    assert failure.status == "failed" and "1.0000" in failure.message
    assert throttled.status == "skipped"


# --------------------------------------------------------------------------- Locust runs
def test_a_run_that_sends_nothing_exits_9(tmp_path) -> None:
    with running_server() as server:
        run = locust(
            tmp_path, "Poster", "-u", "0", "-r", "1", "-t", "3s", "--mmv3-pool-size", "1",
            "--mmv3-expect", "10/100", host=server.url, timeout=60,
        )  # fmt: skip
    assert run.returncode == EXIT_EMPTY, run.describe()
    lines = [line for line in run.stderr.splitlines() if line.startswith("mmv3 ")]
    assert len(lines) == 1 and lines[0].startswith("mmv3 empty run: no request was sent"), lines
    assert run.summary["problems"] == [
        {"exit_code": EXIT_EMPTY, "kind": "empty run", "message": lines[0].split(": ", 1)[1]}
    ]


def test_thresholds_with_nothing_to_judge_exit_10(tmp_path) -> None:
    (tmp_path / "thresholds.yaml").write_text(RATELIMIT_ONLY)
    with running_server() as server:  # no limiter: nothing for the rate-limit thresholds to judge
        run = locust(
            tmp_path, "Poster", "-u", "2", "-r", "2", "-t", "4s", "--mmv3-pool-size", "2",
            "--mmv3-thresholds", "thresholds.yaml", "--mmv3-no-plots", host=server.url, timeout=60,
        )  # fmt: skip
    assert run.returncode == EXIT_NOTHING_JUDGED, run.describe()
    assert run.summary["totals"]["offered"] > 0
    said = run.stderr.splitlines()
    # each threshold has its line (here: skipped, and why), then the one line of the problem
    skipped = [line for line in said if line.startswith("mmv3 threshold ")]
    assert skipped and all(line.startswith("mmv3 threshold skipped: ") for line in skipped), skipped
    assert len(skipped) == len(run.summary["thresholds"]["outcomes"])
    lines = [line for line in said if line.startswith("mmv3 ") and not line.startswith("mmv3 threshold")]
    assert len(lines) == 1 and "every threshold of thresholds.yaml was skipped" in lines[0], lines
