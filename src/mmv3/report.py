"""`mmv3 report`: a run's Allure results as ONE self-contained HTML file, with the trend of earlier runs.

The file is built by the Allure 3 CLI (`allure awesome --single-file`, a Node.js program) that mmv3
does not ship: `INSTALL_COMMAND` (or `tox -e report-tools`) puts it under `.mmv3/allure/`.
Allure 2 (`allure-commandline`) is not used: its single-file mode drops the history directory that
its trend needs, where Allure 3 keeps the history in one file of its own.

History: `<reports>/history/<target>.jsonl`, one file per target (the run's `target` in run.json,
made a file name), Allure 3's format, one line per generated report, so that a trend never mixes
servers. Each generation reads it (the "Status dynamics" trend, each test's earlier outcomes) and appends the run
it shows, keeping the newest `HISTORY_LIMIT`. A run whose report is built again replaces its own line,
so a run is never counted twice in the trend.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from mmv3 import exitcodes, paths

ALLURE_VERSION = "3.18.0"
LOCAL_PREFIX = Path(".mmv3") / "allure"  # git-ignored, relative to the working directory
INSTALL_COMMAND = f"npm install --prefix {LOCAL_PREFIX} allure@{ALLURE_VERSION}"
INSTALL_HINT = f"install it with `{INSTALL_COMMAND}` (needs Node.js 20+) or `tox -e report-tools`"
ALLURE_ENV = "MMV3_ALLURE"

REPORTS_DIR = Path("reports")
RUN_FILE = "run.json"
RESULTS_DIR = "allure-results"
REPORT_FILE = "report.html"
HISTORY_DIR = Path("history")
HISTORY_LIMIT = 10  # each point holds every test's outcome: ~1 MB per 500 tests inside the HTML
TIMEOUT = 180.0

# Allure's HTML template loads Google Analytics; a report opened from disk must not phone home.
_ANALYTICS = re.compile(
    r'<script async src="https://www\.googletagmanager\.com/gtag/js\?id=[\w-]+"></script>\s*'
    r"<script>\s*window\.dataLayer[^<]*</script>"
)
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


class ReportError(Exception):
    """A report could not be built; the message is one line, `exit_code` the command's status."""

    exit_code = exitcodes.INTERNAL


class AllureMissing(ReportError):
    exit_code = exitcodes.TOOL_MISSING


class NoResults(ReportError):
    exit_code = exitcodes.USAGE


class GenerationFailed(ReportError):
    exit_code = exitcodes.INTERNAL


@dataclass(frozen=True)
class Report:
    path: Path
    results: int  # Allure test results in the run
    earlier_runs: int  # runs in the trend besides this one


def add_report_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "run",
        nargs="?",
        metavar="RUN_DIR",
        help="run directory (default: the newest under --reports holding run.json, else --reports "
        "itself when it holds allure-results/ from a plain `pytest conformance`)",
    )
    parser.add_argument(
        "--reports",
        metavar="DIR",
        help="where the runs and the history live (default: reports, or RUN_DIR's parent when it holds run.json)",
    )
    parser.add_argument(
        "--allure",
        metavar="PATH",
        help=f"the Allure 3 CLI (default: ${ALLURE_ENV}, `allure` on PATH, then {LOCAL_PREFIX}/)",
    )
    parser.add_argument(
        "--history-limit",
        type=int,
        default=HISTORY_LIMIT,
        metavar="N",
        help=f"runs kept for the trend (default {HISTORY_LIMIT}; 0 keeps no history)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=TIMEOUT,
        metavar="SECONDS",
        help=f"longest the Allure CLI may take (default {TIMEOUT:g})",
    )


def run_report_command(args: argparse.Namespace) -> int:
    if args.history_limit < 0 or args.timeout <= 0:
        print("mmv3 report: --history-limit must be 0 or more and --timeout above 0", file=sys.stderr)
        return exitcodes.USAGE
    run_dir: Path | None = None
    started = time.time()
    try:
        run_dir = Path(args.run) if args.run else find_run_dir(Path(args.reports or REPORTS_DIR))
        report = generate(
            run_dir,
            args.reports,
            allure=args.allure,
            history_limit=args.history_limit,
            timeout=args.timeout,
        )
    except ReportError as exc:
        print(f"mmv3 report: {exc}", file=sys.stderr)
        if run_dir is not None:
            record_report_step(run_dir, started, exc.exit_code, message=str(exc))
        return exc.exit_code
    record_report_step(run_dir, started, exitcodes.OK, output=report.path)
    trend = f"trend over {report.earlier_runs} earlier run{'s' if report.earlier_runs != 1 else ''}"
    print(f"mmv3 report: {report.path} ({report.results} results, {trend})")
    return exitcodes.OK


def record_report_step(
    run_dir: Path, started: float, exit_code: int, *, output: Path | None = None, message: str = ""
) -> None:
    """Note the report step in the run's run.json (a run made by `mmv3 check`; else nothing)."""
    run_file = run_dir / RUN_FILE
    try:
        body = json.loads(run_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    if not isinstance(body, dict):
        return
    finished = time.time()
    body["report"] = {
        "name": "report",
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(finished)),
        "exit_code": exit_code,
        "verdict": exitcodes.DESCRIPTIONS.get(exit_code),
        "message": message,
        "seconds": round(finished - started, 1),
    }
    if output is not None:
        body["report"]["output"] = str(output)
    with contextlib.suppress(OSError):
        run_file.write_text(json.dumps(body, indent=1), encoding="utf-8")


def build_report(
    run_dir: str | Path,
    reports_root: str | Path | None = None,
    *,
    allure: str | Path | None = None,
    history_limit: int = HISTORY_LIMIT,
    timeout: float = TIMEOUT,
) -> Path:
    """Write `<run_dir>/report.html`; raises a ReportError (AllureMissing when the CLI is absent)."""
    return generate(run_dir, reports_root, allure=allure, history_limit=history_limit, timeout=timeout).path


def find_run_dir(reports_root: str | Path = REPORTS_DIR) -> Path:
    """The newest run under `reports_root` (run ids sort by time), else the root of a plain suite run."""
    root = Path(reports_root)
    if root.is_dir():
        runs = sorted(child for child in root.iterdir() if (child / RUN_FILE).is_file())
        if runs:
            return runs[-1]
        if (root / RESULTS_DIR).is_dir():
            return root
    raise NoResults(f"no run under {root}/: run `mmv3 check` or `pytest conformance` first, or give RUN_DIR")


def reports_root_of(run_dir: Path) -> Path:
    """Where the history of `run_dir` lives when not told: the directory of the runs."""
    return run_dir.parent if (run_dir / RUN_FILE).is_file() else run_dir


def history_file(reports_root: Path, run_dir: Path) -> Path:
    """The history of the run's target: `<reports_root>/history/<target>.jsonl`."""
    target = ""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        target = str(json.loads((run_dir / RUN_FILE).read_text(encoding="utf-8")).get("target") or "")
    if not target:
        target = _environment(run_dir / RESULTS_DIR).get("Target", "")
        target = re.sub(r"\s*\(https?://127\.0\.0\.1:\d+\)$", "", target)  # an embedded server's port
    slug = re.sub(r"[^a-z0-9]+", "-", target.lower()).strip("-")[:100] or "unknown-target"
    return reports_root / HISTORY_DIR / f"{slug}.jsonl"


def _environment(results_dir: Path) -> dict[str, str]:
    """The `key=value` lines of Allure's environment.properties (escapes undone)."""
    values: dict[str, str] = {}
    with contextlib.suppress(OSError):
        for line in (results_dir / "environment.properties").read_text(encoding="utf-8").splitlines():
            key, sep, value = line.partition("=")
            if sep:
                values[key.replace("\\ ", " ")] = value
    return values


def report_name(run_dir: Path) -> str:
    """`mmv3 <run id>`: also the key of the run's line in the history."""
    run_id = ""
    try:
        run_id = str(json.loads((run_dir / RUN_FILE).read_text(encoding="utf-8")).get("run_id") or "")
    except (OSError, ValueError, AttributeError):
        pass
    if not run_id and (run_dir / RUN_FILE).is_file():
        run_id = run_dir.name
    if not run_id:  # a plain suite run: its results' time tells one run from the next
        newest = max((p.stat().st_mtime for p in (run_dir / RESULTS_DIR).glob("*-result.json")), default=0)
        run_id = time.strftime("%Y%m%d-%H%M%S", time.gmtime(newest))
    return f"mmv3 {run_id}"


def find_allure(explicit: str | Path | None = None) -> Path:
    """The Allure 3 CLI: `explicit`, else $MMV3_ALLURE, else PATH, else a project-local npm install."""
    chosen = explicit or os.environ.get(ALLURE_ENV)
    if chosen:
        where = str(chosen)
        path = Path(shutil.which(where) or where)
        problem = _unusable(path)
        if problem:
            origin = "--allure" if explicit else ALLURE_ENV
            raise AllureMissing(f"{origin} {where}: {problem}; {INSTALL_HINT}")
        return path
    candidates = [shutil.which("allure")]
    for base in (Path.cwd(), paths.REPO_ROOT):
        candidates += [
            base / LOCAL_PREFIX / "node_modules" / ".bin" / "allure",
            base / "node_modules" / ".bin" / "allure",
        ]
    problems = []
    seen: set[Path] = set()
    for candidate in candidates:
        if not candidate or not Path(candidate).exists() or Path(candidate).resolve() in seen:
            continue
        path = Path(candidate)
        seen.add(path.resolve())
        problem = _unusable(path)
        if not problem:
            return path
        problems.append(f"{path}: {problem}")
    found = f" ({'; '.join(problems)})" if problems else ""
    raise AllureMissing(f"the Allure 3 CLI is not installed{found}; {INSTALL_HINT}")


def allure_version(path: Path) -> str | None:
    """The CLI's version, from its npm package.json when it has one (running node costs seconds)."""
    real = path.resolve()
    for folder in list(real.parents)[:4]:
        manifest = folder / "package.json"
        if manifest.is_file():
            try:
                data = json.loads(manifest.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            if isinstance(data, dict) and data.get("name") in ("allure", "allure-commandline"):
                return str(data.get("version", ""))
    try:
        done = subprocess.run(
            [str(path), "--version"], capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL
        )
    except (OSError, subprocess.SubprocessError):
        return None
    lines = done.stdout.strip().splitlines()
    return lines[-1].strip() if done.returncode == 0 and lines else None


def _unusable(path: Path) -> str | None:
    """Why `path` cannot build the report, or None."""
    if not path.is_file():
        return "no such file"
    if not os.access(path, os.X_OK):
        return "not executable"
    if _needs_node(path) and not shutil.which("node"):
        return "Node.js (`node`) is not installed"
    version = allure_version(path)
    if version is None:
        return "does not run"
    if not version.split(".", 1)[0].isdigit() or int(version.split(".", 1)[0]) < 3:
        return f"is Allure {version}, the report needs Allure 3"
    return None


def _needs_node(path: Path) -> bool:
    try:
        with open(path, "rb") as handle:
            first = handle.readline(256).split()
    except OSError:
        return False
    return bool(first) and first[0].startswith(b"#!") and first[-1].endswith(b"node")


def generate(
    run_dir: str | Path,
    reports_root: str | Path | None = None,
    *,
    allure: str | Path | None = None,
    history_limit: int = HISTORY_LIMIT,
    timeout: float = TIMEOUT,
) -> Report:
    """Build `<run_dir>/report.html` from `<run_dir>/allure-results`, with the history under
    `<reports_root>/history/`; what was written."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise NoResults(f"{run_dir} is not a directory")
    results_dir = run_dir / RESULTS_DIR
    results = sum(1 for _ in results_dir.glob("*-result.json")) if results_dir.is_dir() else 0
    if not results:
        raise NoResults(f"no Allure results in {results_dir}: run `mmv3 check` or `pytest conformance` first")
    root = Path(reports_root) if reports_root else reports_root_of(run_dir)
    executable = find_allure(allure)
    name = report_name(run_dir)
    history = history_file(root, run_dir).resolve()
    earlier = forget_run(history, name) if history_limit else 0
    target = run_dir / REPORT_FILE
    with tempfile.TemporaryDirectory(prefix="mmv3-report-") as scratch:
        work = Path(scratch)
        config: dict[str, object] = {"name": name}
        if history_limit:
            config.update(historyPath=str(history), historyLimit=history_limit)
        (work / "allurerc.json").write_text(json.dumps(config), encoding="utf-8")
        output = work / "report"
        command = [
            str(executable),
            "awesome",
            str(results_dir.resolve()),
            "--single-file",
            "--output",
            str(output),
            "--config",
            str(work / "allurerc.json"),
            "--cwd",
            str(work),
        ]
        _run_allure(command, work, timeout)
        produced = output / "index.html"
        if not produced.is_file():
            raise GenerationFailed(f"the Allure CLI wrote no {produced.name}")
        html = _ANALYTICS.sub("", produced.read_text(encoding="utf-8"))
        partial = target.with_name(f".{REPORT_FILE}.partial")
        partial.write_text(html, encoding="utf-8")
        os.replace(partial, target)
    return Report(target, results, min(earlier, history_limit))


def _run_allure(command: list[str], cwd: Path, timeout: float) -> None:
    env = {**os.environ, "NO_COLOR": "1", "FORCE_COLOR": "0"}
    try:
        done = subprocess.run(
            command,
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            errors="replace",
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        raise GenerationFailed(f"the Allure CLI did not finish within {timeout:g} s") from None
    except OSError as exc:
        raise AllureMissing(f"{command[0]} does not start ({exc.strerror}); {INSTALL_HINT}") from None
    if done.returncode != 0:
        said = [line.strip() for line in (done.stderr + done.stdout).splitlines() if line.strip()]
        last = _ANSI.sub("", said[-1])[:300] if said else "no output"
        raise GenerationFailed(f"the Allure CLI failed (exit {done.returncode}): {last}")


def forget_run(history: Path, name: str) -> int:
    """Drop `name`'s own line (its report is being built again) and any unreadable line (an
    interrupted write would stop Allure); the number of runs left."""
    try:
        lines = history.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return 0
    except OSError as exc:
        raise GenerationFailed(f"cannot read the history {history}: {exc.strerror}") from None
    kept = []
    for line in lines:
        if not line.strip():
            continue
        try:
            point = json.loads(line)
        except ValueError:
            continue
        if isinstance(point, dict) and point.get("name") != name:
            kept.append(line)
    if len(kept) != len(lines):
        partial = history.with_name(f".{history.name}.partial")
        partial.write_text("".join(line + "\n" for line in kept), encoding="utf-8")
        os.replace(partial, history)
    return len(kept)
