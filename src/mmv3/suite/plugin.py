"""The pytest side of the conformance suite (loaded by conformance/conftest.py).

Before any test: options, the embedded reference server when no --base-url is given, the
preflight (reachable, speaks v3, credentials, rate limiting) and one provisioning of the test
data, all in the controlling process; xdist workers receive the result. Each test then runs one
check on one catalogue operation through `conformance.verify(check, operation)`, which turns
the check's verdict into a pytest outcome, applies the known deviations, labels and attaches
the exchanges for Allure, and files the result in the conformance matrix.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest

from mmv3 import versions
from mmv3.catalog import load_catalog
from mmv3.checks import FAMILIES, Check, all_checks
from mmv3.client import Client, ClientError, Pacer, read_state, share_for_target, write_state
from mmv3.provision import ProvisioningError, World, run_prefix
from mmv3.suite import (
    allure_results,
    corpus_recorder,
    expectations,
    judged,
    options,
    preflight,
    profile,
    progress,
    stopping,
)
from mmv3.suite.matrix import Matrix, Result
from mmv3.suite.session import ConformanceSession, Facts, new_recorder

STATE = pytest.StashKey[dict]()
PROPERTY = "mmv3"
MEASURED = "mmv3_measured"  # figures the checks measured about the target, for its profile
# Families that send few requests of their own (invariants: a few comparisons send one or two).
CHEAP_FIRST = ("schema", "security", "ratelimit", "invariants")
SHOWN_EXCHANGES = 10  # per end, for checks that send hundreds (the rate-limit bursts)


# ---------------------------------------------------------------------------- options, markers
def pytest_addoption(parser: pytest.Parser) -> None:
    options.add_options(parser)


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    for family in FAMILIES:
        config.addinivalue_line("markers", f"{family}: mmv3 conformance checks of the {family} family")
    _CONFIG[:] = [config]
    # Registered for the whole session, not as this conftest's hook: session-scoped fixtures
    # (pytest-base-url's) are set up under the session node, which a conftest hook never sees.
    config.pluginmanager.import_plugin("mmv3.suite.fixture_names")
    state: dict[str, Any] = {"matrix": Matrix(), "embedded": None, "session": None}
    config.stash[STATE] = state
    if hasattr(config, "workerinput"):
        state["shared"] = json.loads(config.workerinput["mmv3"])
        state["settings"] = None
        return
    settings = options.resolve(config)
    state["settings"] = settings
    try:
        # `auto` is chosen by the target's version, after preflight (_choose_expectations).
        state["expect"] = expectations.load(None if settings.expect == expectations.AUTO else settings.expect)
    except expectations.ExpectationsError as exc:
        raise pytest.UsageError(f"--mm-expect: {exc}") from None
    reports = settings.reports
    if config.option.collectonly:
        return
    if getattr(config.option, "allure_report_dir", "unset") is None:
        # Our default directory holds the last run only (pass --alluredir to keep history).
        config.option.allure_report_dir = str(reports / "allure-results")
        config.option.clean_alluredir = True
    if getattr(config.option, "xmlpath", "unset") is None:
        config.option.xmlpath = str(reports / "junit.xml")
    if getattr(config.option, "maxworkerrestart", "unset") is None:
        # A dead worker ends the run, its checks filed as not run (exit 3): a replacement worker
        # can re-run or lose work units under the load-scope scheduler (seen hanging, xdist 3.8).
        config.option.maxworkerrestart = "0"


def pytest_report_header(config: pytest.Config) -> list[str]:
    settings = config.stash[STATE].get("settings")
    if settings is None:
        return []
    target = (
        settings.base_url or f"embedded reference server (rate limit {settings.embedded_rate_limit or 'off'})"
    )
    return [f"mmv3 target: {target}"]


# ---------------------------------------------------------------------------- preflight
@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    config = session.config
    state = config.stash[STATE]
    if state.get("settings") is None or config.option.collectonly:
        return
    try:
        state["shared"] = _prepare_target(config, state)
    except preflight.PreflightError as exc:
        _release_target(state)
        pytest.exit(f"mmv3 preflight: {exc}", returncode=int(exc.code))
    counts = _requests_here(state)
    _PROGRESS.start(CONTROLLER, counts["paced"], counts["raw"], _target_rate(state))
    gc.freeze()  # see pytest_collection_finish


def pytest_collection_finish(session: pytest.Session) -> None:
    _PROGRESS.expect(item.nodeid for item in session.items)
    # The catalogue, schemas and thousands of test items live until the end: keep the garbage
    # collector from walking them again in every full collection, and in pytest's five at exit.
    gc.freeze()


@pytest.hookimpl(trylast=True)
def pytest_keyboard_interrupt(excinfo: Any) -> None:
    """A preflight exit is already one line on stderr; keep the terminal from repeating it."""
    if "mmv3 preflight:" in str(getattr(excinfo, "value", "")) and _CONFIG:
        reporter = _CONFIG[0].pluginmanager.get_plugin("terminalreporter")
        if reporter is not None and hasattr(reporter, "_keyboardinterrupt_memo"):
            reporter._keyboardinterrupt_memo = None


_CONFIG: list[pytest.Config] = []  # the running config, for the hook above (which gets none)


def _prepare_target(config: pytest.Config, state: dict[str, Any]) -> dict[str, Any]:
    settings: options.Settings = state["settings"]
    timeout = (settings.connect_timeout, settings.timeout)
    prefix = run_prefix()
    base_url, user, password = settings.base_url, settings.user, settings.password
    admin, admin_password = settings.admin, settings.admin_password
    ratelimit = settings.ratelimit
    if settings.embedded:
        from mmv3.suite import embedded  # loads the reference server: only when it is wanted

        target = embedded.start(
            rate_limit=settings.embedded_rate_limit,
            faults=settings.embedded_faults,
            prefix=prefix,
            timeout=settings.timeout,
        )
        state["embedded"] = target
        base_url, user, password = target.url, target.user, target.password
        admin, admin_password = target.admin, target.admin_password
        if ratelimit == "auto":
            ratelimit = "on" if settings.embedded_rate_limit else "off"
    assert base_url and user and password
    try:
        client = Client(base_url, timeout=timeout)
    except ValueError as exc:
        raise preflight.PreflightError(preflight.ExitCode.NOT_V3, str(exc)) from None
    facts = preflight.check_server(client)
    world = World(
        client.base_url,
        prefix=prefix,
        seed=settings.seed,
        timeout=timeout,
        recorder=new_recorder(recording=bool(settings.record)),
    )
    preflight.log_in_accounts(world, {"user": (user, password), "admin": (admin, admin_password)})
    try:
        world.provision(team_name=settings.team)
    except ProvisioningError as exc:
        hint = " (pass --mm-team NAME to work in an existing team)" if "teams/create" in str(exc) else ""
        raise preflight.PreflightError(
            preflight.ExitCode.PROVISIONING, f"provisioning failed: {exc}{hint}"
        ) from None
    except ClientError as exc:
        raise preflight.PreflightError(
            preflight.ExitCode.UNREACHABLE, f"provisioning failed: {exc}"
        ) from None
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        # A server that answers, but not with what v3 answers: one line, not a traceback.
        raise preflight.PreflightError(
            preflight.ExitCode.PROVISIONING,
            f"provisioning failed on an unexpected answer ({type(exc).__name__}: {exc})",
        ) from None
    environment = facts.as_environment()
    if settings.embedded:
        environment["Target"] = f"embedded mmv3 reference server ({base_url})"
        if settings.embedded_faults:
            environment["Faults"] = ", ".join(settings.embedded_faults)
    environment["Run prefix"] = prefix
    environment["Seed"] = str(settings.seed)
    profile_version, environment["Version profile"] = _version_profile(settings, facts.version, facts.build)
    expect, environment["Known deviations"] = _choose_expectations(settings, profile_version, facts.build)
    if expect != settings.expect:
        try:
            state["expect"] = expectations.load(expect)
        except expectations.ExpectationsError as exc:
            raise pytest.UsageError(f"--mm-expect auto: {exc}") from None
    shared_facts = Facts(
        base_url=client.base_url,
        version=facts.version,
        profile_version=profile_version,
        ratelimit=ratelimit,
        limited=facts.ratelimited,
        limit=facts.limit,
        strict=settings.strict,
        environment=environment,
    )
    state["world"] = world
    state["stop"] = stopping.StopFile.create()
    record = str(Path(settings.record).resolve()) if settings.record else None
    if record:
        corpus_recorder.CorpusRecorder(record).add(
            world.recorder.entries(0), check=corpus_recorder.PROVISIONING
        )
    pacer_file = None
    if getattr(config.option, "numprocesses", None):
        # xdist workers pace through one shared mirror of the server's bucket, seeded with what
        # preflight and provisioning learnt (see mmv3.client._shared_pacing).
        handle, pacer_file = tempfile.mkstemp(prefix="mmv3-pacer-")
        os.close(handle)
        write_state(client.pacer, Path(pacer_file))
        state["pacer_file"] = pacer_file
    detected = profile.TargetProfile(
        version=facts.version,
        build=facts.build,
        licensed=facts.licensed,
        rate_limited=facts.ratelimited,
        limit=facts.limit,
    )
    return {
        "profile": detected.to_dict(),
        "pacer_file": pacer_file,
        "facts": asdict(shared_facts),
        "world": world.snapshot(),
        "timeout": list(timeout),
        "slow_timeout": settings.slow_timeout,
        "stop_file": str(state["stop"].path),
        "expect": expect,
        "no_ratelimit_tests": settings.no_ratelimit_tests,
        "record": record,
    }


def _version_profile(
    settings: options.Settings, reported: str, build: str | None = None
) -> tuple[str | None, str]:
    """The version whose profile the run applies (--mm-version, else the build X-Version-Id names
    when it is one of the releases that report `reported` -- 3.10.3 reports 3.10.0 -- else the
    reported one), and its line for the report. A reported version that is not a version number
    applies no profile."""
    chosen, origin = (settings.version, "--mm-version") if settings.version else (reported, "reported")
    if not settings.version and build:
        with contextlib.suppress(versions.VersionError):
            tags, rule = load_catalog().profile(reported).facts.tags_for(reported)
            exact = versions.text(versions.parse(build))
            if rule == "reported by" and exact in tags and exact != versions.text(versions.parse(reported)):
                chosen, origin = exact, f"build {build} of reported {reported}"
    try:
        profile = load_catalog().profile(chosen)
    except versions.VersionError:
        return None, f"none: the reported version {reported!r} is not a version number (pass --mm-version)"
    served = len(load_catalog().served_by(profile.version))
    return profile.version, f"{profile.describe()}; {origin}; {served} of {len(load_catalog())} routes served"


def _choose_expectations(
    settings: options.Settings, version: str | None, build: str | None
) -> tuple[str | None, str]:
    """The known-deviations file in force and its line for the report (`auto` resolved here)."""
    if settings.expect != expectations.AUTO:
        return settings.expect, settings.expect or "none"
    if settings.embedded:
        return None, "none (auto: the embedded reference server has no known deviations)"
    if versions.is_reference_build(build):
        return None, f"none (auto: build {build} is mmv3's reference server, which has no known deviations)"
    path, reason = expectations.choose(version)
    return (str(path) if path else None), f"{path if path else 'none'} (auto: {reason})"


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """xdist: hand the prepared target to each worker."""
    shared = node.config.stash[STATE].get("shared")
    if shared is not None:
        node.workerinput["mmv3"] = json.dumps(shared)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """xdist: `--dist load` (what -n implies), with the server-wide rate-limit checks as one unit
    of work on one worker (mmv3.suite.scheduling). Other --dist modes are left as asked."""
    if getattr(config.option, "dist", "no") not in ("load", "loadgroup"):
        return None
    from mmv3.suite.scheduling import ConformanceScheduling

    return ConformanceScheduling(config, log)


def _requests_here(state: dict[str, Any]) -> dict[str, int]:
    """Requests this process sent to the target: `paced` through the run's pacer (the bucket the
    run is limited by), `raw` by the rate-limit checks (a bucket of their own), and 429s."""
    counts = {"paced": 0, "raw": 0, "paced_throttled": 0, "raw_throttled": 0}
    shared = state.get("shared")
    if shared is None:
        return counts
    paced = Pacer.for_target(shared["facts"]["base_url"]).stats
    counts["paced"], counts["paced_throttled"] = paced.granted, paced.throttled
    session = state.get("session")
    if session is not None and session.raw_pacer is not None:
        counts["raw"] = session.raw_pacer.stats.granted
        counts["raw_throttled"] = session.raw_pacer.stats.throttled
    return counts


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    """xdist: add up what each worker sent, for the environment of the report."""
    counts = json.loads(getattr(node, "workeroutput", {}).get("mmv3_requests", "{}"))
    totals = node.config.stash[STATE].setdefault("worker_requests", {})
    for key, value in counts.items():
        totals[key] = totals.get(key, 0) + int(value)


def _corpus(config: pytest.Config) -> corpus_recorder.CorpusRecorder | None:
    """This process's side of --mm-record (None when the run records nothing)."""
    state = config.stash[STATE]
    record = (state.get("shared") or {}).get("record")
    if not record:
        return None
    if state.get("corpus") is None:
        worker = getattr(config, "workerinput", {}).get("workerid", "main")
        state["corpus"] = corpus_recorder.CorpusRecorder(record, part=worker)
    return state["corpus"]


def _session(config: pytest.Config) -> ConformanceSession:
    state = config.stash[STATE]
    if state.get("session") is None:
        shared = state.get("shared")
        if shared is None:
            pytest.skip("no target was prepared (collect-only run)")
        timeout = tuple(shared["timeout"])
        world = state.get("world")
        if world is None:
            if shared.get("pacer_file"):
                share_for_target(shared["facts"]["base_url"], shared["pacer_file"])
            worker = getattr(config, "workerinput", {}).get("workerid", "")
            recorder = new_recorder(recording=bool(shared.get("record")))
            world = World.restore(shared["world"], timeout=timeout, recorder=recorder, worker=worker)
        if "expect" not in state:
            state["expect"] = expectations.load(shared.get("expect"))
        state["session"] = ConformanceSession(
            world, Facts(**shared["facts"]), timeout=timeout, slow_timeout=shared.get("slow_timeout")
        )
    return state["session"]


# ---------------------------------------------------------------------------- collection
def operation_id(operation: Any) -> str:
    return f"{operation.method} {operation.template}"


def cases(check: Check) -> pytest.MarkDecorator:
    """Parametrise a test over the catalogue operations `check` applies to (ids `GET /api/v3/...`),
    as the target's version has them (auth levels, Etags: `Catalog.as_of`); the test modules are
    collected after preflight, so the version profile is known here."""
    operations = check.operations(_versioned_catalog().operations)
    return pytest.mark.parametrize("operation", operations, ids=[operation_id(op) for op in operations])


def _versioned_catalog() -> Any:
    shared = _CONFIG[0].stash[STATE].get("shared") if _CONFIG else None
    version = (shared or {}).get("facts", {}).get("profile_version")
    return load_catalog().as_of(version)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Against a rate-limited server the run is bound by the bucket, not by the checks' own work.
    # First the server-wide rate-limit checks, one after another on one worker (see
    # mmv3.suite.scheduling): they spend a bucket of their own, so the other workers' paced
    # requests go on meanwhile. Then the families that mostly re-read one success answer per
    # route, so that their work hides in the waits for the bucket instead of trailing after the
    # last paced request. The sort is stable: within a rank, collection order stays.
    _deselect_unserved(config, items)
    checks = {(c.family, c.name): c for c in all_checks()}
    rank: dict[int, int] = {}
    for item in items:
        callspec = getattr(item, "callspec", None)
        operation = callspec.params.get("operation") if callspec else None
        family = next((f for f in FAMILIES if item.get_closest_marker(f)), None)
        if operation is None or family is None:
            continue
        name = item.originalname if hasattr(item, "originalname") else item.name
        check = checks.get((family, name.removeprefix("test_")))
        severity = check.severity if check else "normal"
        for mark in allure_results.label_marks(
            group=operation.group, route=operation_id(operation), family=family, severity=severity
        ):
            item.add_marker(mark)
        if family == "ratelimit" and check is not None and check.server_wide:
            rank[id(item)] = -1
        else:
            rank[id(item)] = CHEAP_FIRST.index(family) if family in CHEAP_FIRST else len(CHEAP_FIRST)
    items.sort(key=lambda item: rank.get(id(item), 0))


def _deselect_unserved(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Routes the target's version does not register (schemas/versions.json) are not collected: its
    answer there is the catch-all 404, which says nothing about the route's contract."""
    shared = config.stash[STATE].get("shared")
    version = (shared or {}).get("facts", {}).get("profile_version")
    if version is None:
        return
    unserved = {op.key for op in load_catalog().not_served_by(version)}
    if not unserved:
        return
    keep, drop = [], []
    for item in items:
        callspec = getattr(item, "callspec", None)
        operation = callspec.params.get("operation") if callspec else None
        (drop if operation is not None and operation_id(operation) in unserved else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


# ---------------------------------------------------------------------------- running a check
class Conformance:
    """The `conformance` fixture: runs one check on one operation as the current test."""

    def __init__(self, request: pytest.FixtureRequest) -> None:
        self.request = request
        self.config = request.config

    def verify(self, check: Check, operation: Any) -> None:
        state = self.config.stash[STATE]
        shared = state.get("shared") or {}
        route = operation_id(operation)
        if check.family == "ratelimit" and shared.get("no_ratelimit_tests"):
            self._record(operation, check, "skipped", "--mm-no-ratelimit-tests")
            pytest.skip("--mm-no-ratelimit-tests")
        session = _session(self.config)
        # Once the target is gone (seen here, or by another worker and announced by the
        # controller), the remaining checks are reported as not run, not sent to a dead server.
        if session.target_gone or stopping.StopFile.read(shared.get("stop_file")):
            self._record(operation, check, stopping.NOT_RUN, stopping.GONE_REASON)
            pytest.skip(stopping.GONE_REASON)
        try:
            outcome = session.run(check, operation)
        except Exception as exc:
            self._record(operation, check, "error", f"the check itself failed: {type(exc).__name__}: {exc}")
            raise
        finally:
            if session.gone and not state.get("gone_announced"):
                # The controller ends the run (exit 10 and one line); this report carries the why.
                state["gone_announced"] = True
                self.request.node.user_properties.append((stopping.GONE_PROPERTY, session.gone))
        corpus = _corpus(self.config)
        if corpus is not None and outcome.entries:
            burst = check.family == "ratelimit" and check.server_wide
            corpus.add(outcome.entries, check=check.id, burst=burst, route=route, group=operation.group)
        if outcome.entries:
            entries = outcome.entries
            if len(entries) > 2 * SHOWN_EXCHANGES:
                outcome.notes.append(
                    f"{len(entries)} exchanges; the first and last {SHOWN_EXCHANGES} are attached"
                )
                entries = entries[:SHOWN_EXCHANGES] + entries[-SHOWN_EXCHANGES:]
            allure_results.attach_entries(entries)
        if outcome.notes:
            _attach_text("notes", "\n".join(outcome.notes))
        if outcome.measured:
            self.request.node.user_properties.append((MEASURED, json.dumps(outcome.measured)))
        deviation = state["expect"].find(route, check.id)
        if outcome.status == "skipped":
            self._record(operation, check, "skipped", outcome.message)
            pytest.skip(outcome.message or "not applicable")
        if outcome.status == "failed":
            message = f"[{outcome.category}] {check.id} {route}: {outcome.message}"
            if deviation is not None:
                self._record(
                    operation, check, "xfailed", f"{deviation.reason} ({outcome.message})", outcome.category
                )
                pytest.xfail(f"known deviation: {deviation.reason}")
            self._record(operation, check, "failed", outcome.message, outcome.category)
            pytest.fail(message, pytrace=False)
        if deviation is not None and not deviation.may_pass:
            reason = f"expected to fail ({deviation.reason}) but passed: remove it from the expectations"
            self._record(operation, check, "xpassed", reason, "deviation gone")
            pytest.fail(f"[deviation gone] {check.id} {route}: {reason}", pytrace=False)
        self._record(operation, check, "passed", outcome.message)

    def _record(self, operation: Any, check: Check, status: str, reason: str, category: str = "") -> None:
        result = Result(
            route=operation_id(operation),
            group=operation.group,
            family=check.family,
            check=check.id,
            status=status,
            reason=reason,
            category=category,
        )
        self.request.node.user_properties.append((PROPERTY, result.to_property()))


def _attach_text(name: str, text: str) -> None:
    import allure

    allure.attach(text, name=name, attachment_type=allure.attachment_type.TEXT)


@pytest.fixture
def conformance(request: pytest.FixtureRequest) -> Conformance:
    return Conformance(request)


# ---------------------------------------------------------------------------- results
def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    _TALLY.add(report)
    _REPORTED.add(report.nodeid)
    _note_progress(report)
    if report.when != "call":
        return
    for name, value in report.user_properties:
        if name == PROPERTY:
            _MATRIX_SINK.append(Result.from_property(value))
        elif name == stopping.GONE_PROPERTY and _CONFIG:
            state = _CONFIG[0].stash[STATE]
            if not state.get("gone") and not hasattr(_CONFIG[0], "workerinput"):
                state["gone"] = value
                if state.get("stop") is not None:
                    state["stop"].announce(value)  # the workers skip what is left
        elif name == MEASURED:
            _MEASURED_SINK.update(json.loads(value))


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_node_collection_finished(node: Any, ids: list[str]) -> None:
    """xdist: the controller's list of every test, to tell at the end which ones never ran."""
    _COLLECTED.update(ids)
    _PROGRESS.expect(ids)


# ---------------------------------------------------------------------------- progress
CONTROLLER = "controller"


def _target_rate(state: dict[str, Any]) -> float:
    """The refill rate this process's pacer has learnt of the target (0: unknown or unlimited)."""
    shared = state.get("shared")
    if shared is None:
        return 0.0
    pacer = Pacer.for_target(shared["facts"]["base_url"])
    return pacer.rate if pacer.limited else 0.0


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: Any) -> Any:
    """Each report carries what its process has sent so far: under xdist, how the controller
    learns the workers' request counts while the run goes on."""
    report = yield
    state = item.config.stash[STATE]
    if state.get("shared") is not None:
        process = getattr(item.config, "workerinput", {}).get("workerid", CONTROLLER)
        counts = _requests_here(state)
        setattr(
            report,
            progress.REQUESTS_ATTRIBUTE,
            {"process": process, "paced": counts["paced"], "raw": counts["raw"], "rate": _target_rate(state)},
        )
    return report


def _note_progress(report: pytest.TestReport) -> None:
    """Controller: count the report, then print a line and update the state file when due."""
    if not _CONFIG or hasattr(_CONFIG[0], "workerinput"):
        return
    sent = getattr(report, progress.REQUESTS_ATTRIBUTE, None)
    if isinstance(sent, dict):
        _PROGRESS.requests(str(sent["process"]), int(sent["paced"]), int(sent["raw"]), float(sent["rate"]))
    finished = _PROGRESS.add(report.nodeid, report.when, report.outcome, hasattr(report, "wasxfail"))
    if finished:
        _show_progress(_CONFIG[0])


def _show_progress(config: pytest.Config, final: bool = False) -> None:
    settings = config.stash[STATE].get("settings")
    if settings is None:
        return
    now = time.monotonic()
    if settings.progress_file and (final or now - _SHOWN["file"] >= 0.5):
        _SHOWN["file"] = now
        progress.write_state(Path(settings.progress_file), _PROGRESS.state())
    if not settings.progress or config.get_verbosity() < 0 or final:
        return
    if now - _SHOWN["line"] >= settings.progress:
        _SHOWN["line"] = now
        reporter = config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            if getattr(getattr(reporter, "_tw", None), "width_of_current_line", 0):
                reporter.write("\n")  # after pytest's progress dots, on a line of its own
            reporter.write_line(_PROGRESS.line())


_PROGRESS = progress.Progress()
_SHOWN = {"file": float("-inf"), "line": time.monotonic()}  # the first line after one interval


@pytest.hookimpl(optionalhook=True)
def pytest_handlecrashitem(crashitem: str, report: Any, sched: Any) -> None:
    """xdist: a worker died while running `crashitem` (xdist reports it failed and goes on)."""
    worker = getattr(getattr(getattr(report, "node", None), "gateway", None), "id", "?")
    if _CONFIG:
        _CONFIG[0].stash[STATE].setdefault("crashed", []).append((worker, crashitem))


# Results arrive through reports (which carry no config); one run per process.
_MATRIX_SINK: list[Result] = []
_TALLY = judged.Tally()  # did any test judge something? (a run of skips only must not pass)
_REPORTED: set[str] = set()  # node ids that sent any report
_COLLECTED: set[str] = set()  # node ids the xdist workers collected (controller only)
_MEASURED_SINK: dict[str, Any] = {}


@pytest.hookimpl(tryfirst=True)  # before junitxml writes its file: it must list the unrun tests
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    state = config.stash[STATE]
    if hasattr(config, "workeroutput"):
        config.workeroutput["mmv3_requests"] = json.dumps(_requests_here(state))
    if hasattr(config, "workerinput") or state.get("settings") is None:
        return
    session.exitstatus, state["nothing_judged"] = judged.exit_status(_TALLY, session.exitstatus)
    matrix: Matrix = state["matrix"]
    for result in _MATRIX_SINK:
        matrix.add(result)
    _MATRIX_SINK.clear()
    _account_for_the_unrun(session, state, matrix)
    _show_progress(config, final=True)
    shared = state.get("shared")
    if shared is not None:
        if _judge_profile(state, shared) and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
    if shared is None or not len(matrix):
        return
    settings: options.Settings = state["settings"]
    environment = dict(shared["facts"]["environment"])
    environment["Target profile"] = state["profile"].describe()
    environment["Finished"] = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    # Did pacing keep every request outside the rate-limit checks (which use a pacer and a
    # bucket of their own) clear of a 429, in every process?
    counts = _requests_here(state)
    for key, value in state.get("worker_requests", {}).items():
        counts[key] += value
    environment["Requests sent"] = str(counts["paced"] + counts["raw"])
    environment["Requests sent, paced"] = str(counts["paced"])
    environment["429 answers to paced requests"] = str(counts["paced_throttled"])
    environment["429 answers"] = str(counts["paced_throttled"] + counts["raw_throttled"])
    state["written"] = matrix.write(settings.reports, environment)
    if shared.get("record"):
        summary = corpus_recorder.merge(shared["record"], environment)
        state["recorded"] = (shared["record"], summary["entries"])
    alluredir = getattr(config.option, "allure_report_dir", None)
    if alluredir:
        allure_results.write_environment(Path(alluredir), environment)
        allure_results.write_categories(Path(alluredir))
        allure_results.drop_trivial_containers(Path(alluredir))
    world = state.get("world")
    if world is not None and not settings.embedded:
        if state.get("pacer_file"):
            read_state(world.root.pacer, Path(state["pacer_file"]))  # what the workers left of the bucket
        state["left"] = world.clean_up()


def _account_for_the_unrun(session: pytest.Session, state: dict[str, Any], matrix: Matrix) -> None:
    """File every test that did not run, say why in one line, and set the exit status it calls for:
    10 when the target stopped answering, 3 (pytest's internal error) when a worker died."""
    crashed: list[tuple[str, str]] = state.get("crashed", [])
    gone = state.get("gone")
    for worker, nodeid in crashed:
        result = stopping.result_for(nodeid, stopping.WORKER_DIED.format(worker=worker))
        if result is not None:
            matrix.add(result)
    never = sorted(_COLLECTED - _REPORTED)
    reason = stopping.GONE_REASON if gone else stopping.NEVER_RAN
    for nodeid in never:
        result = stopping.result_for(nodeid, reason)
        if result is not None:
            matrix.add(result)
        _report_not_run(session.config, nodeid, reason)  # so that the JUnit XML lists it too
    not_run = sum(1 for r in matrix.results if r.status == stopping.NOT_RUN)
    if gone:
        shared = state.get("shared") or {}
        target = shared.get("facts", {}).get("base_url", "?")
        session.exitstatus = int(preflight.ExitCode.UNREACHABLE)
        state["verdict"] = (
            f"mmv3: the target {target} stopped answering: {gone}; {not_run} checks did not run"
        )
    elif crashed or never:
        died = ", ".join(f"worker {w} died while running {n}" for w, n in crashed) or "a worker died"
        session.exitstatus = int(pytest.ExitCode.INTERNAL_ERROR)
        state["verdict"] = (
            f"mmv3: {died}; {not_run} checks did not run (the matrix lists them as '{stopping.NOT_RUN}')"
        )


def _report_not_run(config: pytest.Config, nodeid: str, reason: str) -> None:
    path = nodeid.partition("::")[0]
    report = pytest.TestReport(
        nodeid=nodeid,
        location=(path, None, nodeid.partition("::")[2]),
        keywords={},
        outcome="skipped",
        longrepr=(path, 0, reason),
        when="call",
    )
    config.hook.pytest_runtest_logreport(report=report)


def _judge_profile(state: dict[str, Any], shared: dict[str, Any]) -> list[str]:
    """This run's target profile (what preflight detected plus what the rate-limit checks
    measured) against the recorded one and --mm-ratelimit on/off; written to target-profile.json.
    The differences, which fail the run."""
    settings: options.Settings = state["settings"]
    detected = profile.TargetProfile.from_dict(shared.get("profile") or {})
    if detected.rate_limited:
        detected.limit = _MEASURED_SINK.get("ratelimit.limit", detected.limit)
        detected.rate = profile.measured_rate(_MEASURED_SINK)
    state["profile"] = detected
    expected = state["expect"].profile if state.get("expect") else None
    differences: list[str] = []
    notes: list[str] = []
    if expected is not None:
        differences, notes = profile.compare(expected, detected)
    wanted = settings.ratelimit
    if wanted in ("on", "off") and detected.rate_limited is not (wanted == "on"):
        found = "on" if detected.rate_limited else "off (no X-Ratelimit-* headers)"
        differences.append(f"rate limiting: --mm-ratelimit {wanted}, found {found}")
    state["profile_differences"], state["profile_notes"] = differences, notes
    body = {
        "profile": detected.to_dict(),
        "ratelimit_option": settings.ratelimit,
        "expected": expected.to_dict() if expected is not None else None,
        "expected_from": state["expect"].source if expected is not None else None,
        "differences": differences,
        "notes": notes,
    }
    settings.reports.mkdir(parents=True, exist_ok=True)
    (settings.reports / profile.PROFILE_FILE).write_text(json.dumps(body, indent=1), encoding="utf-8")
    return differences


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    state = config.stash[STATE]
    if state.get("nothing_judged"):
        terminalreporter.write_line(state["nothing_judged"], red=True, bold=True)
    if state.get("profile") is not None:
        terminalreporter.section("mmv3 target profile")
        terminalreporter.write_line(state["profile"].describe())
        for line in state.get("profile_notes", []):
            terminalreporter.write_line(f"note: {line}")
        for line in state.get("profile_differences", []):
            terminalreporter.write_line(f"DIFFERS: {line}", red=True)
    matrix: Matrix = state.get("matrix") or Matrix()
    if not len(matrix):
        return
    terminalreporter.section("mmv3 conformance matrix")
    environment = ((state.get("shared") or {}).get("facts") or {}).get("environment") or {}
    for key in ("Version profile", "Known deviations"):
        if key in environment:
            terminalreporter.write_line(f"{key.lower()}: {environment[key]}")
    for line in matrix.summary_lines():
        terminalreporter.write_line(line)
    written = state.get("written")
    if written:
        terminalreporter.write_line(f"matrix: {written[0]}  {written[1]}")
    deviations = state["expect"].deviations if state.get("expect") else []
    unused = [d for d in deviations if not any(d.matches(r.route, r.check) for r in matrix.results)]
    if unused:
        terminalreporter.write_line(
            f"{len(unused)} known deviation(s) were not checked in this run (not selected)"
        )
    if state.get("recorded"):
        where, count = state["recorded"]
        terminalreporter.write_line(f"corpus: {count} exchanges recorded under {where}")
    if state.get("left"):
        terminalreporter.write_line(
            f"left on the server: {len(state['left'])} objects (v3 deletes no team; deactivating needs an admin)"
        )
    if state.get("verdict"):
        terminalreporter.write_line(state["verdict"], red=True, bold=True)


def pytest_unconfigure(config: pytest.Config) -> None:
    state = config.stash.get(STATE, None)
    if state is not None:
        _release_target(state)


def _release_target(state: dict[str, Any]) -> None:
    """Stop the embedded server and remove the shared pacing and stop files, if the run made them."""
    stop = state.pop("stop", None)
    if stop is not None:
        stop.remove()
    pacer_file = state.pop("pacer_file", None)
    if pacer_file:
        with contextlib.suppress(OSError):
            os.unlink(pacer_file)
    target = state.get("embedded")
    if target is not None:
        state["embedded"] = None
        target.stop()


__all__ = [
    "conformance",
    "pytest_addoption",
    "pytest_collection_finish",
    "pytest_collection_modifyitems",
    "pytest_configure",
    "pytest_configure_node",
    "pytest_handlecrashitem",
    "pytest_xdist_make_scheduler",
    "pytest_keyboard_interrupt",
    "pytest_report_header",
    "pytest_runtest_logreport",
    "pytest_runtest_makereport",
    "pytest_sessionfinish",
    "pytest_sessionstart",
    "pytest_terminal_summary",
    "pytest_testnodedown",
    "pytest_unconfigure",
    "pytest_xdist_node_collection_finished",
]
