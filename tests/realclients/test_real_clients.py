"""Real v3 clients that nobody here wrote drive `mmv3 serve` through a bot's day.

npm `mattermost@3.4.0` (the official JavaScript client, tests/realclients/day.js) and PyPI
`mattermost-bot` 1.0.20 (tests/realclients/day_bot.py) run as subprocesses (the bot framework
never enters this process) against `mmv3 serve` started on a free port. Every step must succeed,
and every line of the transcript must equal the line the same script printed against a live real
4.9 (tests/realclients/real-4.9/, taken with `compare.py --record`), apart from the known gaps
below. Without the clients installed the tests are skipped with the install command as the
reason; `.ci/run` installs them and sets MMV3_REQUIRE_TOOLS=1, so there a missing client fails.
"""

from __future__ import annotations

import json
import shutil

import pytest

from tests.browser import missing_tool
from tests.realclients.serve import (
    BOT,
    CLIENTS,
    OTHER,
    PASSWORDS,
    day_command,
    differences,
    mmv3_serve,
    recorded,
    run_day,
)

pytestmark = pytest.mark.slow

NPM_INSTALL = (
    "npm install --prefix .mmv3/clients --no-audit --no-fund mattermost@3.4.0 babel-runtime@6.26.0 ws@8.18.0"
)
PIP_INSTALL = "pip install --no-deps --target .mmv3/clients/python mattermost-bot==1.0.20 six==1.17.0"
# Steps whose line against `mmv3 serve` differs from real 4.9's, with the reason. The test asserts
# they still differ: once one is fixed it must leave this list.
KNOWN_GAPS: dict[str, dict[str, str]] = {"js": {}, "python": {}}


@pytest.fixture
def serve():
    with mmv3_serve() as url:
        yield url


def day(client: str, base: str) -> list[dict]:
    code, steps, stderr = run_day(day_command(client, base, BOT, OTHER), PASSWORDS)
    assert code == 0, stderr
    assert steps, stderr
    return steps


def assert_day(steps: list[dict], expected: set[str], gaps: dict[str, str] | None = None) -> None:
    gaps = gaps or {}
    failed = [s for s in steps if s["ok"] is False and s["step"] not in gaps]
    assert not failed, "\n".join(json.dumps(s) for s in failed)
    ran = {s["step"] for s in steps if s["ok"]}
    assert expected <= ran, f"steps missing from the transcript: {sorted(expected - ran)}"


def assert_as_real(client: str, steps: list[dict]) -> None:
    """Every line as real 4.9 printed it, except the known gaps, which must still differ."""
    real = recorded(client)
    assert [s["step"] for s in steps] == [s["step"] for s in real]
    diff = differences(real, steps)
    unexpected = [(a, b) for a, b in diff if a["step"] not in KNOWN_GAPS[client]]
    assert not unexpected, "\n".join(f"real: {json.dumps(a)}\nmmv3: {json.dumps(b)}" for a, b in unexpected)
    fixed = set(KNOWN_GAPS[client]) - {a["step"] for a, _ in diff}
    assert not fixed, f"these steps now match real 4.9: remove them from KNOWN_GAPS: {sorted(fixed)}"


def require_node_client() -> None:
    if (
        shutil.which("node") is None
        or not (CLIENTS / "node_modules" / "mattermost" / "lib" / "client.js").exists()
    ):
        missing_tool(f"Node.js and npm `mattermost@3.4.0` are needed: `{NPM_INSTALL}`")


def test_official_javascript_client_day(serve):
    require_node_client()
    steps = day("js", serve)
    assert_day(
        steps,
        {
            "login",
            "team.create",
            "channel.create",
            "post.create",
            "file.upload",
            "post.with_file",
            "hook.incoming.create",
            "command.execute",
            "preferences.save",
            "preferences.category",
            "websocket.hello",
            "websocket.posted",
            "websocket.typing",
            "websocket.get_statuses",
            "logout",
        },
    )
    events = next(s for s in steps if s["step"] == "websocket.events")["summary"]["events"]
    assert {"hello", "posted", "post_edited", "preferences_changed", "typing"} <= set(events)
    assert_as_real("js", steps)


def test_mattermost_bot_framework_day(serve):
    if not (CLIENTS / "python" / "mattermost_bot" / "mattermost.py").exists():
        missing_tool(f"PyPI `mattermost-bot` 1.0.20 is needed: `{PIP_INSTALL}`")
    steps = day("python", serve)
    assert_day(
        steps,
        {
            "login",
            "channel.create",
            "post.create",
            "post.react",
            "hook.incoming.create",
            "command.execute",
            "preferences.save",
            "websocket.posted",
            "bot.reply",
        },
        KNOWN_GAPS["python"],
    )
    posted = next(s for s in steps if s["step"] == "websocket.posted")["summary"]
    assert posted["mentions_bot"] is True
    assert_as_real("python", steps)


def test_a_server_that_sends_no_login_token_fails_the_day():
    """The day's verdict can fail: with login's Token header gone, the client's later calls fail."""
    require_node_client()
    with mmv3_serve(faults=("headers-no-login-token",)) as url:
        steps = day("js", url)
    with pytest.raises(AssertionError, match="401"):
        assert_day(steps, {"login"})
    assert next(s for s in steps if s["step"] == "login")["summary"]["token_header"] is False
    with pytest.raises(AssertionError):  # the day stops early: fewer steps than real 4.9's
        assert_as_real("js", steps)


def test_a_line_unlike_real_49_fails_and_a_fixed_gap_must_leave_the_list(monkeypatch):
    changed = recorded("js")
    posted = next(s for s in changed if s["step"] == "websocket.posted")
    posted["summary"] = {**posted["summary"], "data": posted["summary"]["data"][:-1]}  # one key fewer
    with pytest.raises(AssertionError, match="real: .*websocket.posted"):
        assert_as_real("js", changed)
    monkeypatch.setitem(KNOWN_GAPS, "python", {"hook.incoming.post": "a gap that is no longer one"})
    with pytest.raises(AssertionError, match="remove them from KNOWN_GAPS"):
        assert_as_real("python", recorded("python"))
