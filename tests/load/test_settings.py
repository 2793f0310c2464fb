"""The --mmv3-* options: defaults, parsing, one-line errors."""

from __future__ import annotations

import argparse
import re

import pytest

from mmv3.load.settings import OPTIONS, Settings, SettingsError, Step, parse_steps, parse_wait
from mmv3.ratelimit import Quota


def namespace(**values) -> argparse.Namespace:
    """Locust's parsed options with `values` given by the flag's key (mmv3_run_name="r1")."""
    ns = argparse.Namespace(**{o.dest: o.default for o in OPTIONS})
    dests = {o.key: o.dest for o in OPTIONS}
    for key, value in values.items():
        setattr(ns, dests[key], value)
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


# Locust's web UI (2.x, its bundled JavaScript) camel-cases the keys of its template
# arguments, labels a custom option from its camel-cased key and snake-cases the form back
# when a run starts; these are those three functions.
def _camel(key: str) -> str:
    return re.sub(r"_([a-z0-9])", lambda m: m.group(1).upper(), key)


def _snake(key: str) -> str:
    return key if key[0] == key[0].upper() else re.sub(r"([a-z0-9])([A-Z0-9])", r"\1_\2", key).lower()


def _label(key: str) -> str:
    spaced = re.sub(r"([a-z0-9])([A-Z0-9])", r"\1 \2", _camel(key))
    return spaced[0].upper() + spaced[1:]


def _web_ui_problems(dest: str) -> list[str]:
    problems = []
    if _snake(_camel(dest)) != dest:
        problems.append(f"the form sends {dest} back as {_snake(_camel(dest))}")
    if not re.fullmatch(r"[A-Z][a-z]+( [A-Z][a-z]+)*", _label(dest)):
        problems.append(f"{dest} is labelled {_label(dest)!r}")
    return problems


def test_the_web_ui_labels_every_option_in_words_and_gets_its_value_back() -> None:
    # The check itself catches the flag-derived names the options had: "Mmv 3Max Requests".
    assert _web_ui_problems("mmv3_max_requests") == [
        "the form sends mmv3_max_requests back as mmv_3max_requests",
        "mmv3_max_requests is labelled 'Mmv 3Max Requests'",
    ]
    shown = [o for o in OPTIONS if o.per_run and not o.secret]
    assert len(shown) > 20
    assert [p for o in shown for p in _web_ui_problems(o.dest)] == []
    assert _label(next(o.dest for o in OPTIONS if o.flag == "--mmv3-max-requests")) == "Max Requests"
    assert len({o.dest for o in OPTIONS}) == len(OPTIONS)
    # The help follows the label in parentheses: no parentheses of its own, and it says something.
    assert [o.flag for o in OPTIONS if "(" in o.help or ")" in o.help or len(o.help) < 20] == []
    # loadtests/README.md names each option's field in its options table
    from tests.load.locust_runs import REPO

    rows = {
        line.split("`")[1].split()[0]: line
        for line in (REPO / "loadtests" / "README.md").read_text().splitlines()
        if line.startswith("| `--mmv3-")
    }
    assert [o.flag for o in shown if not rows[o.flag].endswith(f"| {_label(o.dest)} |")] == []


def test_no_option_name_collides_with_one_of_locusts_own() -> None:
    """A dest Locust already has would be hidden from the form (and clash on the command line)."""
    import json
    import subprocess
    import sys

    code = (
        "import json; from locust.argument_parser import get_parser;"
        "print(json.dumps(sorted({a.dest for a in get_parser()._actions})))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    locusts = set(json.loads(done.stdout))
    assert {"host", "run_time", "num_users"} <= locusts  # read the right parser
    assert sorted(locusts & {o.dest for o in OPTIONS}) == []
