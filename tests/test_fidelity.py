"""The reference server answers the recorded Mattermost 4.9 corpus as the real server did.

The whole corpus is replayed once (in recording order, all groups, ids remapped) against a fresh
in-process reference server with the corpus server's rate limit (10/s, burst 100, by address);
each group's test then judges its own entries. `pytest tests/test_fidelity.py -k users -s`
prints the users group's mismatches: the to-do list for its handlers.

Groups outside the core (files, commands, hooks, …) are replayed too, because core entries need
objects they create, but their verdicts are expected failures until their handlers exist.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mmv3 import fidelity
from mmv3.ratelimit import HeldClock
from mmv3.server.runner import running_server

EXCEPTIONS_FILE = Path(__file__).with_name("fidelity_exceptions.yaml")


@pytest.fixture(scope="module")
def corpus() -> list[fidelity.CorpusEntry]:
    return fidelity.load_corpus()


@pytest.fixture(scope="module")
def report(corpus: list[fidelity.CorpusEntry]) -> fidelity.ReplayReport:
    clock = HeldClock()  # the rate-limit burst replays with the limiter's time held still
    with running_server(rate_limit="10/100", bcrypt_cost=4, limiter_clock=clock) as server:
        return fidelity.replay(server.url, corpus, limiter_clock=clock)


@pytest.fixture(scope="module")
def exceptions() -> list[fidelity.KnownException]:
    return fidelity.load_exceptions(EXCEPTIONS_FILE)


def test_state_before_the_recording_is_seeded(report: fidelity.ReplayReport) -> None:
    assert not report.seed_problems, "seeding sysadmin/user2/loadtest-team failed: " + "; ".join(
        report.seed_problems
    )


@pytest.mark.parametrize("group", fidelity.GROUPS)
def test_group_answers_as_real_4_9(
    report: fidelity.ReplayReport, exceptions: list[fidelity.KnownException], group: str
) -> None:
    results = report.for_group(group)
    assert results, f"the corpus has no {group}.har entries"
    verdict = fidelity.judge(results, exceptions)
    print(
        f"\n{group}: {verdict.percent:.1f} % of {len(results)} entries match real 4.9"
        f" ({len(verdict.excepted)} listed exceptions, replay {report.seconds:.1f} s)"
    )
    table = fidelity.mismatch_table(verdict.unexpected, width=0)
    if table:
        print(table)
    problems = []
    if verdict.unexpected:
        problems.append(
            f"{len(verdict.unexpected)} {group} entries differ from real 4.9 (-s prints the table)"
        )
    if verdict.stale:
        problems.append(
            "stale entries in fidelity_exceptions.yaml (they match now, delete them): "
            + "; ".join(str(x) for x in verdict.stale)
        )
    assert not problems, "\n".join(problems)


def test_every_exception_names_corpus_entries(
    corpus: list[fidelity.CorpusEntry], exceptions: list[fidelity.KnownException]
) -> None:
    # An exception that covers nothing (a typo in route, case or note) could never go stale.
    orphans = [str(x) for x in exceptions if not any(x.covers(entry) for entry in corpus)]
    assert not orphans, "exceptions matching no corpus entry: " + "; ".join(orphans)
    keys = [(x.route, x.case, x.note) for x in exceptions]
    assert len(keys) == len(set(keys)), "the same route/case/note is listed twice"


# -- the engine itself, without a server --------------------------------------------------------
def _entry(**overrides: object) -> fidelity.CorpusEntry:
    fields: dict[str, object] = {
        "group": "users",
        "index": 0,
        "started_ms": 0.0,
        "duration_ms": 1.0,
        "method": "GET",
        "target": "/api/v3/users/me",
        "route": "/api/v3/users/me",
        "case": "ok",
        "note": None,
        "request_headers": (),
        "body_mime": "",
        "body_text": None,
        "multipart": None,
        "status": 401,
        "response_headers": (("Content-Type", "application/json"), ("X-Request-Id", "r"), ("Expires", "0")),
        "response_mime": "application/json",
        "response_text": '{"id":"api.context.session_expired.app_error","message":"m","detailed_error":"",'
        '"request_id":"r","status_code":401}',
        "response_base64": False,
    }
    fields.update(overrides)
    return fidelity.CorpusEntry(**fields)  # type: ignore[arg-type]


def _answer(status: int, body: bytes, *headers: tuple[str, str]) -> fidelity.Answer:
    return fidelity.Answer(status, [("Content-Type", "application/json"), *headers], body)


def test_compare_accepts_the_same_answer_and_names_each_difference() -> None:
    entry = _entry()
    same = _answer(401, entry.response_text.encode(), ("X-Request-Id", "x"), ("Expires", "0"))
    assert fidelity.compare(entry, same) == []
    other = fidelity.Answer(
        200,
        [("Content-Type", "text/plain; charset=utf-8"), ("Set-Cookie", "MMAUTHTOKEN=; Path=/")],
        b'{"id":"api.context.permissions.app_error"}',
    )
    aspects = {d.aspect for d in fidelity.compare(entry, other)}
    assert aspects == {"status", "content-type", "headers", "cookies", "error-id"}


def test_compare_checks_body_shape_without_a_schema() -> None:
    entry = _entry(status=200, response_text='{"user_id":"abc","extra":1}', response_headers=())
    assert fidelity.compare(entry, _answer(200, b'{"user_id":"x","extra":2}')) == []
    differences = fidelity.compare(entry, _answer(200, b'{"user_id":"x"}'))
    assert [d.aspect for d in differences] == ["body"]
    assert fidelity.compare(entry, _answer(200, b"[]"))[0].real == "object"


def test_remapper_learns_ids_from_parallel_bodies_and_rewrites_requests() -> None:
    remap = fidelity.Remapper()
    real_a, ours_a = "a" * 26, "b" * 26
    real_t, ours_t = "c" * 26, "d" * 26
    remap.learn({"id": real_a, "team": {"invite_id": real_t}}, {"id": ours_a, "team": {"invite_id": ours_t}})
    assert remap.target(f"/api/v3/users/{real_a}/get?x={real_t}") == f"/api/v3/users/{ours_a}/get?x={ours_t}"
    assert remap.value({"user_ids": [real_a, "z" * 26]}) == {"user_ids": [ours_a, "z" * 26]}
    # first sighting wins, and no two recorded ids map to one of ours
    remap.learn({"id": real_a}, {"id": "e" * 26})
    remap.learn({"id": "f" * 26}, {"id": ours_a})
    assert remap.forward == {real_a: ours_a, real_t: ours_t}


def test_remapper_pairs_listed_objects_by_name_not_position() -> None:
    remap = fidelity.Remapper()
    real = {
        "1" * 26: {"id": "1" * 26, "username": "other"},
        "2" * 26: {"id": "2" * 26, "username": "cap49bx1"},
    }
    ours = {"9" * 26: {"id": "9" * 26, "username": "cap49bx1"}}
    remap.learn(real, ours)
    assert remap.forward == {"2" * 26: "9" * 26}


def test_remapper_pairs_unnamed_objects_by_the_entry_that_created_them() -> None:
    remap = fidelity.Remapper()
    remap.add_window((1000.0, 1010.0), (5000.0, 5004.0))
    remap.add_window((2000.0, 2010.0), (6000.0, 6004.0))
    real = [
        {"id": "1" * 26, "create_at": 1005},
        {"id": "2" * 26, "create_at": 2003},
        {"id": "3" * 26, "create_at": 7},
    ]
    ours = [{"id": "8" * 26, "create_at": 6002}, {"id": "9" * 26, "create_at": 5001}]
    remap.learn(real, ours)
    assert remap.forward == {"1" * 26: "9" * 26, "2" * 26: "8" * 26}


def test_judge_reports_unexpected_mismatches_and_stale_exceptions() -> None:
    entry = _entry()
    listed = fidelity.KnownException("GET /api/v3/users/me", "ok", None, "real 4.9 is broken here")
    mismatch = fidelity.EntryResult(entry, [fidelity.Difference("status", "401", "403")])
    assert fidelity.judge([mismatch], [listed]).ok
    assert not fidelity.judge([mismatch], []).ok
    stale = fidelity.judge([fidelity.EntryResult(entry)], [listed])
    assert stale.stale == [listed] and not stale.ok
