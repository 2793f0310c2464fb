"""When does a session take the target for gone? Three requests in a row without an answer, then
an unanswered GET /general/ping; a route slow by design (x-mmv3-slow) never counts."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from mmv3.catalog import load_catalog
from mmv3.client import Exchange, ServerUnreachable
from mmv3.suite.session import PING, ConformanceSession, Facts, new_recorder

BASE = "http://127.0.0.1:9"


class _Root:
    def __init__(self, alive: bool) -> None:
        self.alive = alive
        self.pings: list[str] = []

    def request(self, method: str, path: str, **kwargs: object) -> object:
        self.pings.append(f"{method} {path}")
        if not self.alive:
            raise ServerUnreachable(BASE + path, "connection refused", method=method)
        return object()


class _World:
    base_url = BASE

    def __init__(self, alive: bool) -> None:
        self.root = _Root(alive)
        self.recorder = new_recorder()

    def secrets(self) -> list[str]:
        return []


def _session(alive: bool) -> ConformanceSession:
    facts = Facts(BASE, "4.9.0", "off", False, None, False, {})
    return ConformanceSession(_World(alive), facts, timeout=(2.0, 2.0))  # type: ignore[arg-type]


def _exchange(path: str, answered: bool, method: str = "GET") -> Exchange:
    error = None if answered else f"no answer from the server within 2 s for {method} {BASE}{path}"
    return Exchange(
        method,
        BASE + path,
        [],
        None,
        datetime.now(timezone.utc),
        0.1,
        status=200 if answered else None,
        error=error,
    )


SILENT = [_exchange("/api/v3/users/me", False), _exchange("/api/v3/teams/all", False)]


@pytest.mark.parametrize("alive", [True, False])
def test_three_unanswered_requests_ask_the_ping(alive):
    session = _session(alive)
    session._count_unanswered(SILENT)
    assert session.world.root.pings == [] and not session.target_gone  # two are not three
    session._count_unanswered([_exchange("/api/v3/users/logout", False, "POST")])
    assert session.world.root.pings == [f"GET {PING}"]
    if alive:
        assert not session.target_gone
        assert any("but GET /api/v3/general/ping did" in note for note in session._notes)
        session._count_unanswered(SILENT)  # counting starts again from zero
        assert len(session.world.root.pings) == 1
    else:
        assert session.gone == (
            "3 requests in a row got no answer (GET /api/v3/users/me, GET /api/v3/teams/all, "
            "POST /api/v3/users/logout: no answer from the server within 2 s), "
            "nor did GET /api/v3/general/ping (cannot reach the server: connection refused)"
        )


def test_an_answer_in_between_starts_the_count_again():
    session = _session(alive=False)
    session._count_unanswered([*SILENT, _exchange("/api/v3/users/me", True), *SILENT])
    assert not session.target_gone and session.world.root.pings == []


def test_a_route_slow_by_design_never_counts():
    recycle = load_catalog().get("GET", "/api/v3/admin/recycle_db_conn")
    assert recycle.slow_timeout and recycle.slow_reason, "the catalogue marks recycle_db_conn slow"
    session = _session(alive=False)
    session._count_unanswered([_exchange(recycle.template, False)] * 5)
    assert not session.target_gone and session.world.root.pings == []
    # Neither is it an answer: the requests around it still add up.
    session._count_unanswered([*SILENT, _exchange(recycle.template, False), SILENT[0]])
    assert session.target_gone


def test_a_slow_route_gets_its_own_timeout():
    session = _session(alive=True)
    assert session._timeout_for("GET", "/api/v3/admin/recycle_db_conn") == (2.0, 90.0)
    assert session._timeout_for("GET", "/api/v3/users/me") is None
    session.slow_timeout = 5.0  # --mm-slow-timeout
    assert session._timeout_for("GET", "/api/v3/admin/recycle_db_conn") == (2.0, 5.0)
