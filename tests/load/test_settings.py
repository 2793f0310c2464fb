"""The --mmv3-* options: defaults, parsing, one-line errors."""

from __future__ import annotations

import argparse

import pytest

from mmv3.load.settings import OPTIONS, Settings, SettingsError, Step, parse_steps, parse_wait
from mmv3.ratelimit import Quota


def namespace(**values) -> argparse.Namespace:
    ns = argparse.Namespace(**{o.dest: o.default for o in OPTIONS})
    for key, value in values.items():
        setattr(ns, key, value)
    return ns


def test_defaults() -> None:
    s = Settings.from_namespace(namespace(mmv3_run_name="r1"))
    assert s.admin is None and s.expected is None and s.pool_size == 20
    assert s.honour_retry_after and not s.throttled_as_failure and s.probe and s.plots
    assert s.step_rate == 10.0 and s.steps[0] == Step(0.5, 10.0)
    assert str(s.run_dir) == "reports/load/r1"
    assert str(s.allure_dir) == "reports/allure-results"
    assert s.serve_args == ("--rate-limit", "10/100")


def test_every_option_has_an_environment_variable() -> None:
    assert all(o.env.startswith("MMV3_") for o in OPTIONS)
    assert len({o.env for o in OPTIONS}) == len(OPTIONS)
    assert [o.flag for o in OPTIONS if o.secret] == ["--mmv3-admin-password"]


def test_values_are_parsed() -> None:
    s = Settings.from_namespace(
        namespace(
            mmv3_admin="root",
            mmv3_admin_password="pw",
            mmv3_expect="20/40",
            mmv3_allure_dir="none",
            mmv3_wait="0.5-2",
            mmv3_rate_tolerance=2.5,
            mmv3_throttled_as_failure="true",
            mmv3_retry_after="ignore",
        )
    )
    assert s.admin == ("root", "pw") and s.expected == Quota(20, 40)
    assert s.allure_dir is None and s.wait == (0.5, 2.0) and s.step_rate == 20.0
    assert s.tolerances.rate == pytest.approx(0.025)
    assert s.throttled_as_failure and not s.honour_retry_after
    assert "pw" not in repr(s.public())


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"mmv3_admin": "root"}, "go together"),
        ({"mmv3_expect": "fast"}, "--mmv3-expect"),
        ({"mmv3_pool_size": 0}, "--mmv3-pool-size"),
        ({"mmv3_arrival_rate": -1.0}, "--mmv3-arrival-rate"),
        ({"mmv3_steps": "2 for 10"}, "FACTORxSECONDS"),
        ({"mmv3_wait": "2-1"}, "MIN must not exceed MAX"),
        ({"mmv3_run_name": "../x"}, "--mmv3-run-name"),
    ],
)
def test_bad_values_give_one_line(values, message) -> None:
    with pytest.raises(SettingsError) as info:
        Settings.from_namespace(namespace(**values))
    assert message in str(info.value) and "\n" not in str(info.value)


def test_steps_and_wait() -> None:
    assert parse_steps("0.5x10, 1x5s,3*2") == (Step(0.5, 10), Step(1, 5), Step(3, 2))
    assert parse_wait("1") == (1.0, 1.0)
    with pytest.raises(SettingsError):
        parse_steps("1x0")


def test_the_library_never_loads_locust() -> None:
    """mmv3.load is what pytest imports: it must not pull in Locust (gevent monkey-patching)."""
    import subprocess
    import sys

    modules = ", ".join(
        f"mmv3.load.{m}"
        for m in (
            "accounting",
            "oracle",
            "thresholds",
            "plots",
            "allure_results",
            "population",
            "probe",
            "settings",
        )
    )
    code = f"import sys, {modules}; print(sorted(m for m in ('locust', 'gevent') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_the_readme_documents_every_option() -> None:
    from tests.load.locust_runs import REPO

    readme = (REPO / "loadtests" / "README.md").read_text()
    missing = [o.flag for o in OPTIONS if f"`{o.flag}" not in readme or f"`{o.env}`" not in readme]
    assert not missing


def test_a_worker_neither_reads_nor_checks_master_only_options() -> None:
    """The master checks them and sends its options with every spawn message: a worker whose
    environment holds only the exported password (the master has --mmv3-admin) must start."""
    shell = namespace(mmv3_admin_password="exported", mmv3_thresholds="only-on-the-master.yaml")
    with pytest.raises(SettingsError, match="go together"):
        Settings.from_namespace(shell)
    worker = Settings.from_namespace(shell, worker=True)
    assert worker.admin is None and worker.thresholds == ""
    master_only = {o.flag for o in OPTIONS if o.master_only}
    assert {"--mmv3-admin", "--mmv3-admin-password", "--mmv3-thresholds", "--mmv3-expect"} <= master_only
    # what the users of a worker use is still read there
    assert not master_only & {
        "--mmv3-wait",
        "--mmv3-retry-after",
        "--mmv3-seed",
        "--mmv3-throttled-as-failure",
    }
    assert Settings.from_namespace(namespace(mmv3_wait="1-2"), worker=True).wait == (1.0, 2.0)
