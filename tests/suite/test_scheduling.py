"""Under pytest-xdist the server-wide rate-limit checks run serially, on one worker, before the
rest (mmv3.suite.scheduling), and test names stay as without -n."""

from __future__ import annotations

import json

import pytest

from .conformance_run import run_suite

pytestmark = pytest.mark.slow

SERVER_WIDE = {
    "test_exceeding",
    "test_countdown",
    "test_bucket",
    "test_reset_seconds",
    "test_recovery",
    "test_sustained_rate",
}


def test_server_wide_ratelimit_checks_share_one_worker(tmp_path):
    allure = tmp_path / "allure"
    args = ["-n", "2", "-m", "ratelimit", "-k", "general/ping", "--mm-embedded-rate-limit", "50/20"]
    run = run_suite([*args, "--alluredir", str(allure)], reports=tmp_path / "reports", timeout=300)
    assert run.returncode == 0, run.tail()

    workers: dict[str, str] = {}
    for result_file in allure.glob("*-result.json"):
        result = json.loads(result_file.read_text())
        test = result["name"].partition("[")[0]
        workers[test] = next(label["value"] for label in result["labels"] if label["name"] == "thread")
    assert set(workers) >= SERVER_WIDE | {"test_headers_present"}, sorted(workers)
    assert len({workers[test] for test in SERVER_WIDE}) == 1, f"spread over workers: {workers}"
    # Two workers and a per-route check as well: the other worker was given work.
    assert len(set(workers.values())) == 2, workers

    names = {case.test for case in run.cases}
    assert names >= SERVER_WIDE, names
    assert all("@" not in case.route and case.route for case in run.cases), [c.route for c in run.cases]


@pytest.mark.parametrize(
    ("nodeid", "unit"),
    [
        ("conformance/test_ratelimit.py::test_exceeding[GET /api/v3/general/ping]", "mmv3-serial"),
        (
            "/abs/site-packages/mmv3_conformance/test_ratelimit.py::test_sustained_rate[GET x]",
            "mmv3-serial",
        ),
        ("conformance/test_ratelimit.py::test_headers_present[GET /api/v3/general/ping]", None),
        ("conformance/test_headers.py::test_exceeding[GET /api/v3/general/ping]", None),
        ("conformance/test_schema.py::test_success_body[POST /api/v3/users/login]", None),
        # a route slow by design: all its checks on one worker, its success answer waited for once
        ("conformance/test_schema.py::test_success_body[GET /api/v3/admin/recycle_db_conn]", "mmv3-serial"),
        ("conformance/test_headers.py::test_version_id[GET /api/v3/admin/recycle_db_conn]", "mmv3-serial"),
        # reloading the config: never while a rate-limit burst runs on another worker
        ("conformance/test_headers.py::test_version_id[GET /api/v3/admin/reload_config]", "mmv3-serial"),
        ("conformance/test_schema.py::test_success_body[POST /api/v3/admin/save_config]", "mmv3-serial"),
        ("conformance/test_schema.py::test_success_body[GET /api/v3/admin/config]", None),
    ],
)
def test_units_of_work(nodeid, unit):
    pytest.importorskip("xdist")
    from mmv3.suite.scheduling import serial_routes, serial_test_names, slow_routes, unit_of

    assert serial_test_names() == SERVER_WIDE
    assert slow_routes() == {"GET /api/v3/admin/recycle_db_conn"}
    assert unit_of(nodeid, serial_test_names(), serial_routes()) == (unit or nodeid)
