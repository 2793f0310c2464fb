"""`mmv3 report` without a browser: finding the run and the Allure CLI, one-line failures with their
exit codes, what is handed to Allure (results, history, limit), and the history across real
generations."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import pytest

from mmv3 import exitcodes, paths
from mmv3.load.allure_results import Result, write_results
from mmv3.report import (
    INSTALL_COMMAND,
    AllureMissing,
    NoResults,
    add_report_arguments,
    build_report,
    find_allure,
    find_run_dir,
    history_file,
    run_report_command,
)
from tests.browser import missing_tool
from tests.report.allure_html import trend_points

GTAG = (
    '<script async src="https://www.googletagmanager.com/gtag/js?id=G-LNDJ3J7WT0"></script>\n'
    "    <script>\n        window.dataLayer = window.dataLayer || [];\n"
    "        function gtag(){dataLayer.push(arguments);}\n        gtag('js', new Date());\n"
    "        gtag('config', 'G-LNDJ3J7WT0', {\n          \"report\": \"awesome\"\n        });\n    </script>"
)

# Stands in for `allure awesome`: records what it was given, behaves as $FAKE_ALLURE says.
FAKE_ALLURE = """#!{python}
import json, os, pathlib, sys, time
args = sys.argv[1:]
if args == ["--version"]:
    print(os.environ.get("FAKE_ALLURE_VERSION", "3.18.0"))
    sys.exit(0)
mode = os.environ.get("FAKE_ALLURE", "ok")
if mode == "fail":
    print("\\x1b[31mError: cannot read results\\x1b[0m", file=sys.stderr)
    sys.exit(3)
if mode == "hang":
    time.sleep(60)
out = pathlib.Path(args[args.index("--output") + 1])
config = json.loads(pathlib.Path(args[args.index("--config") + 1]).read_text())
history = config.get("historyPath")
seen = pathlib.Path(history).read_text().splitlines() if history and os.path.exists(history) else []
if mode == "silent":
    sys.exit(0)
out.mkdir(parents=True)
record = json.dumps({{"argv": args, "config": config, "history": seen}})
(out / "index.html").write_text("<html><body>" + {gtag!r} + "<pre>" + record + "</pre></body></html>")
"""


def _parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_report_arguments(parser)
    return parser.parse_args(list(argv))


def _run(tmp_path: Path, name: str, *, results: int = 2, run_json: bool = True) -> Path:
    run = tmp_path / "reports" / name
    outcomes = [Result(f"check {i}", "passed", "ok", "threshold") for i in range(results)]
    if outcomes:
        write_results(run / "allure-results", outcomes, run=name, start_ms=1, stop_ms=2)
    else:
        (run / "allure-results").mkdir(parents=True)
    if run_json:
        (run / "run.json").write_text(json.dumps({"run_id": name, "target": "http://127.0.0.1:1"}))
    return run


@pytest.fixture
def fake_allure(tmp_path, monkeypatch) -> Path:
    script = tmp_path / "bin" / "allure"
    script.parent.mkdir()
    script.write_text(FAKE_ALLURE.format(python=sys.executable, gtag=GTAG))
    script.chmod(0o755)
    monkeypatch.delenv("MMV3_ALLURE", raising=False)
    return script


@pytest.fixture
def no_allure(tmp_path, monkeypatch) -> None:
    """No Allure anywhere: not on PATH, not under the working directory nor the checkout."""
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.delenv("MMV3_ALLURE", raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(paths, "REPO_ROOT", tmp_path)


def _one_line(text: str) -> str:
    assert text.endswith("\n") and text.count("\n") == 1, repr(text)
    assert "Traceback" not in text
    return text.strip()


def test_without_the_allure_cli_one_line_says_how_to_install_it(tmp_path, no_allure, capsys) -> None:
    run = _run(tmp_path, "20261127-010000")
    assert run_report_command(_parse(str(run))) == exitcodes.TOOL_MISSING == 7
    out, err = capsys.readouterr()
    line = _one_line(err)
    assert out == "" and line.startswith("mmv3 report: the Allure 3 CLI is not installed")
    assert f"`{INSTALL_COMMAND}`" in line and "tox -e report-tools" in line
    assert not (run / "report.html").exists()
    # run.json records the report step and how it ended (issue #15, item 10)
    step = json.loads((run / "run.json").read_text())["report"]
    assert step["exit_code"] == exitcodes.TOOL_MISSING and "not installed" in step["message"]
    assert step["started"] and step["finished"] and "output" not in step


def test_build_report_raises_the_dedicated_exception(tmp_path, no_allure) -> None:
    run = _run(tmp_path, "20261127-010000")
    with pytest.raises(AllureMissing) as caught:
        build_report(run, tmp_path / "reports")
    assert INSTALL_COMMAND in str(caught.value) and "\n" not in str(caught.value)
    assert caught.value.exit_code == exitcodes.TOOL_MISSING


def test_an_allure_2_on_path_is_not_taken(tmp_path, fake_allure, monkeypatch) -> None:
    monkeypatch.setenv("FAKE_ALLURE_VERSION", "2.46.1")
    monkeypatch.setenv("PATH", f"{fake_allure.parent}{os.pathsep}{tmp_path / 'nothing'}")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(paths, "REPO_ROOT", tmp_path)
    with pytest.raises(AllureMissing, match=r"is Allure 2\.46\.1, the report needs Allure 3"):
        find_allure()
    monkeypatch.setenv("FAKE_ALLURE_VERSION", "3.18.0")
    assert find_allure() == fake_allure


def test_a_wrong_allure_option_is_one_line(tmp_path, capsys) -> None:
    run = _run(tmp_path, "20261127-010000")
    code = run_report_command(_parse(str(run), "--allure", str(tmp_path / "no-such-allure")))
    assert code == exitcodes.TOOL_MISSING
    assert "--allure" in _one_line(capsys.readouterr().err)


def test_no_results_is_a_usage_error(tmp_path, no_allure, monkeypatch, capsys) -> None:
    empty = _run(tmp_path, "20261127-010000", results=0)
    assert run_report_command(_parse(str(empty))) == exitcodes.USAGE
    assert "no Allure results in" in _one_line(capsys.readouterr().err)
    # nothing under the default reports/ of the working directory either
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    assert run_report_command(_parse()) == exitcodes.USAGE
    assert "no run under reports/" in _one_line(capsys.readouterr().err)
    with pytest.raises(NoResults):
        build_report(tmp_path / "missing")


def test_bad_numbers_are_usage_errors(capsys) -> None:
    assert run_report_command(_parse("--history-limit", "-1")) == exitcodes.USAGE
    assert run_report_command(_parse("--timeout", "0")) == exitcodes.USAGE
    assert len(capsys.readouterr().err.splitlines()) == 2


def test_the_newest_run_is_found(tmp_path) -> None:
    reports = tmp_path / "reports"
    with pytest.raises(NoResults):
        find_run_dir(reports)
    older, newer = _run(tmp_path, "20261127-010000"), _run(tmp_path, "20261127-020000")
    _run(tmp_path, "20261127-030000", run_json=False)  # not a run: no run.json
    (reports / "history").mkdir()
    assert find_run_dir(reports) == newer
    (newer / "run.json").unlink()
    assert find_run_dir(reports) == older


def test_a_plain_suite_run_uses_the_reports_directory(tmp_path) -> None:
    reports = tmp_path / "reports"
    write_results(
        reports / "allure-results", [Result("a", "passed", "", "threshold")], run="r", start_ms=1, stop_ms=2
    )
    assert find_run_dir(reports) == reports


def test_what_allure_is_given_and_the_report_written(tmp_path, fake_allure, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    run = _run(tmp_path, "20261127-010000", results=3)
    code = run_report_command(_parse("--allure", str(fake_allure), "--history-limit", "4"))
    out, err = capsys.readouterr()
    assert code == exitcodes.OK, err
    report = run / "report.html"
    assert (
        _one_line(out)
        == f"mmv3 report: {Path('reports/20261127-010000/report.html')} (3 results, trend over 0 earlier runs)"
    )
    html = report.read_text()
    assert "googletagmanager" not in html and "dataLayer" not in html  # opened from disk, it calls no one
    record = json.loads(html.split("<pre>")[1].split("</pre>")[0])
    argv = record["argv"]
    assert argv[:2] == ["awesome", str((run / "allure-results").resolve())] and "--single-file" in argv
    history = (tmp_path / "reports" / "history" / "http-127-0-0-1-1.jsonl").resolve()  # the run's target
    assert record["config"] == {
        "name": "mmv3 20261127-010000",
        "historyPath": str(history),
        "historyLimit": 4,
    }
    assert not list(run.glob(".*partial"))
    step = json.loads((run / "run.json").read_text())["report"]
    assert step["exit_code"] == exitcodes.OK and step["output"] == str(
        Path("reports/20261127-010000/report.html")
    )
    assert step["started"] <= step["finished"]


def test_a_run_built_again_replaces_its_own_history_point(tmp_path, fake_allure) -> None:
    run = _run(tmp_path, "20261127-020000")
    history = tmp_path / "reports" / "history" / "http-127-0-0-1-1.jsonl"
    history.parent.mkdir(parents=True)
    earlier = json.dumps({"uuid": "1", "name": "mmv3 20261127-010000", "timestamp": 1})
    itself = json.dumps({"uuid": "2", "name": "mmv3 20261127-020000", "timestamp": 2})
    history.write_text(f"{earlier}\n{itself}\n{{truncated\n")
    build_report(run, allure=fake_allure)
    record = json.loads((run / "report.html").read_text().split("<pre>")[1].split("</pre>")[0])
    assert record["history"] == [earlier]  # the run's old point and the broken line are gone


def test_each_target_has_a_history_of_its_own(tmp_path, fake_allure) -> None:
    """Runs against two servers share a reports directory, never a trend."""
    first = _run(tmp_path, "20261127-010000")
    other = _run(tmp_path, "20261127-020000")
    (other / "run.json").write_text(
        json.dumps({"run_id": "20261127-020000", "target": "http://mm.example:8065"})
    )
    bare = _run(tmp_path, "20261127-030000", run_json=False)  # a plain suite run: its environment names it
    (bare / "allure-results" / "environment.properties").write_text(
        "Target=embedded mmv3 reference server (http://127.0.0.1:41234)\nSeed=1\n"
    )
    reports = tmp_path / "reports"
    assert history_file(reports, first) == reports / "history" / "http-127-0-0-1-1.jsonl"
    assert history_file(reports, other) == reports / "history" / "http-mm-example-8065.jsonl"
    assert history_file(reports, bare) == reports / "history" / "embedded-mmv3-reference-server.jsonl"
    build_report(first, allure=fake_allure)
    build_report(other, allure=fake_allure)
    record = json.loads((other / "report.html").read_text().split("<pre>")[1].split("</pre>")[0])
    assert record["config"]["historyPath"] == str(history_file(reports, other).resolve())


def test_history_limit_0_keeps_no_history(tmp_path, fake_allure) -> None:
    run = _run(tmp_path, "20261127-010000")
    build_report(run, allure=fake_allure, history_limit=0)
    record = json.loads((run / "report.html").read_text().split("<pre>")[1].split("</pre>")[0])
    assert record["config"] == {"name": "mmv3 20261127-010000"}


@pytest.mark.parametrize(
    ("mode", "timeout", "message"),
    [
        ("fail", 30, "the Allure CLI failed (exit 3): Error: cannot read results"),
        ("hang", 1, "the Allure CLI did not finish within 1 s"),
        ("silent", 30, "the Allure CLI wrote no index.html"),
    ],
)
def test_allure_failures_are_one_line(
    tmp_path, fake_allure, monkeypatch, capsys, mode, timeout, message
) -> None:
    monkeypatch.setenv("FAKE_ALLURE", mode)
    run = _run(tmp_path, "20261127-010000")
    previous = run / "report.html"
    previous.write_text("the report of the run's last successful build")
    code = run_report_command(_parse(str(run), "--allure", str(fake_allure), "--timeout", str(timeout)))
    assert code == exitcodes.INTERNAL
    assert _one_line(capsys.readouterr().err) == f"mmv3 report: {message}"
    assert previous.read_text() == "the report of the run's last successful build"


def _allure_cli() -> Path:
    try:
        return find_allure()
    except AllureMissing as exc:
        missing_tool(str(exc))


@pytest.mark.slow
def test_history_is_kept_and_fed_to_the_next_report(tmp_path) -> None:
    """Real Allure: each report's trend shows the runs before it, at most --history-limit of them."""
    allure = _allure_cli()
    reports = tmp_path / "reports"
    names = [f"20261127-0{i}0000" for i in range(1, 4)]
    for name in names:
        build_report(_run(tmp_path, name), reports, allure=allure, history_limit=2)
    points = [trend_points(reports / name / "report.html") for name in names]
    assert points == [
        ["current"],
        ["mmv3 20261127-010000", "current"],
        ["mmv3 20261127-010000", "mmv3 20261127-020000", "current"],
    ]
    lines = (reports / "history" / "http-127-0-0-1-1.jsonl").read_text().splitlines()
    assert [json.loads(line)["name"] for line in lines] == ["mmv3 20261127-020000", "mmv3 20261127-030000"]
    # building the newest run again does not count it twice
    build_report(reports / names[-1], reports, allure=allure, history_limit=2)
    assert trend_points(reports / names[-1] / "report.html") == ["mmv3 20261127-020000", "current"]
