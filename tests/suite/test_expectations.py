"""Known deviations: an expected failure is reported as such, and an expected failure that passes
fails the run (strict), so CI gates on regressions both ways."""

from __future__ import annotations

import pytest

from .conformance_run import run_suite

pytestmark = pytest.mark.slow

TEST = "conformance/test_auth.py::test_no_token[GET /api/v3/users/me]"
EXPECT = """\
target: a pretend deviation
deviations:
  - route: GET /api/v3/users/me
    check: auth.no_token
    reason: pretend the route answers without a session
"""


def _statuses(run) -> list[str]:
    return [
        c["status"]
        for route in run.matrix()["routes"].values()
        for f in route["families"].values()
        for c in f["checks"]
    ]


def test_an_expected_failure_that_passes_fails_the_run(tmp_path):
    expect = tmp_path / "expect.yaml"
    expect.write_text(EXPECT)
    run = run_suite(["--mm-expect", str(expect)], reports=tmp_path / "reports", tests=[TEST], timeout=300)
    assert run.returncode == 1, run.tail()
    assert _statuses(run) == ["xpassed"]
    assert "[deviation gone]" in run.failures[0].message


def test_an_expected_failure_is_reported_as_expected(tmp_path):
    expect = tmp_path / "expect.yaml"
    expect.write_text(EXPECT)
    args = ["--mm-expect", str(expect), "--mm-embedded-fault", "auth-no-token-accepted"]
    run = run_suite(args, reports=tmp_path / "reports", tests=[TEST], timeout=300)
    assert run.returncode == 0, run.tail()
    assert _statuses(run) == ["xfailed"]
    assert [c.outcome for c in run.cases] == ["xfailed"]


def test_a_deviation_that_may_pass_does_not_fail_the_run_when_it_passes(tmp_path):
    """`may_pass: true`: the deviation shows only under some settings (4.9's regen_token 500 needs
    outgoing webhooks on), so a pass is a pass, and a failure is still expected."""
    expect = tmp_path / "expect.yaml"
    expect.write_text(EXPECT + "    may_pass: true\n")
    run = run_suite(["--mm-expect", str(expect)], reports=tmp_path / "reports", tests=[TEST], timeout=300)
    assert run.returncode == 0, run.tail()
    assert _statuses(run) == ["passed"]


def test_a_malformed_expectations_file_is_a_usage_error(tmp_path):
    expect = tmp_path / "expect.yaml"
    expect.write_text("deviations:\n  - {route: 'GET /x', check: auth}\n")
    run = run_suite(["--mm-expect", str(expect)], reports=tmp_path / "reports", tests=[TEST], timeout=300)
    assert run.returncode == 4, run.tail()
    assert "lacks reason" in run.stderr and "Traceback" not in run.stderr + run.stdout


def test_the_shipped_49_deviations_are_what_the_corpus_recorded():
    """Each deviation listed for real 4.9 is backed by a recorded exchange of a real 4.9: the
    refused probe answered 200, or the bad input was not answered with a 4xx."""
    import json

    from mmv3.paths import corpus_dir
    from mmv3.suite.expectations import bundled, load

    answers: dict[tuple[str, str], list[int]] = {}
    for har in corpus_dir().glob("*.har"):
        for entry in json.loads(har.read_text())["log"]["entries"]:
            key = (f"{entry['request']['method']} {entry['_route']}", entry["_case"])
            answers.setdefault(key, []).append(entry["response"]["status"])
    for deviation in load(bundled()).deviations:
        if deviation.check == "auth.regular_user_refused":
            seen = answers.get((deviation.route, "forbidden"), [])
            assert 200 in seen, f"{deviation.route}: the corpus shows no accepted forbidden call ({seen})"
        elif deviation.check == "errors.bad_input":
            seen = answers.get((deviation.route, "bad_input"), [])
            assert any(not 400 <= s < 500 for s in seen), (
                f"{deviation.route}: every recorded bad input got a 4xx"
            )
        else:
            pytest.fail(f"no corpus rule for {deviation.check}")


def test_every_recorded_4_9_hole_is_a_shipped_deviation():
    """The other direction: each place where the reference server knowingly differs from real 4.9
    on a refused caller or a bad input (tests/fidelity_exceptions.yaml) is a deviation a real 4.9
    shows the suite, so the shipped file must list it."""
    from pathlib import Path

    import yaml

    from mmv3.suite.expectations import bundled, load

    shipped = load(bundled())
    checks = {"forbidden": "auth.regular_user_refused", "bad_input": "errors.bad_input"}
    exceptions = yaml.safe_load((Path(__file__).parent.parent / "fidelity_exceptions.yaml").read_text())
    missing = [
        f"{e['route']} {checks[e['case']]}"
        for e in exceptions
        if e["case"] in checks and shipped.find(e["route"], checks[e["case"]]) is None
    ]
    assert not missing, missing
