"""`mmv3 seed` against an embedded `mmv3 serve` (127.0.0.1 only) with a tiny profile."""

from __future__ import annotations

import csv
import sys
import threading
import time
import types
from collections import Counter
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from fakeserver import dead_url, silent_server

from mmv3 import exitcodes
from mmv3.cli import main
from mmv3.client import _pacing as pacing
from mmv3.seeding import plan as seed_plan
from mmv3.seeding.profiles import PROFILES, resolve
from mmv3.server import running_server
from mmv3.server.accounts_on_start import Account, ensure

PASSWORD = "Seed-Admin-Pass-1"
TINY = ["--teams", "3", "--channels-per-team", "3", "--users", "6", "--posts", "120"]


@contextmanager
def server(**kwargs):
    with running_server(**kwargs) as running:
        ensure(running.app, [Account("admin", "sysadmin", PASSWORD)])
        yield running


@pytest.fixture(autouse=True)
def _own_pacer(monkeypatch):
    """Each test gets fresh pacers: no pacing state carried over from another test's server."""
    monkeypatch.setattr(pacing, "_REGISTRY", {})
    monkeypatch.setenv("MMV3_ADMIN_PASSWORD", PASSWORD)


def seed(url: str, *extra: str) -> int:
    return main(["seed", "--base-url", url, "--admin", "sysadmin", "--workers", "4", *extra])


def dump(store, prefix: str) -> dict:
    """The seeded data with ids replaced by names and the prefix removed: comparable across runs."""
    users = {u["id"]: u["username"].removeprefix(prefix) for u in store.all("users")}
    channels = {c["id"]: c for c in store.all("channels")}

    def channel_key(channel_id: str) -> str:
        channel = channels[channel_id]
        if channel["type"] in ("D", "G"):
            names = sorted(users[m["user_id"]] for m in store.find("channel_members", channel_id=channel_id))
            return channel["type"] + ":" + ",".join(names)
        return channel["name"].removeprefix(prefix + "-")

    mine = [p for p in store.all("posts") if not p.get("type")]
    messages = {p["id"]: p["message"].replace(prefix, "<p>") for p in mine}
    return {
        "posts": sorted(
            (
                channel_key(p["channel_id"]),
                users[p["user_id"]],
                messages[p["id"]],
                messages.get(p.get("root_id") or "", ""),
                len(p.get("file_ids") or []),
            )
            for p in mine
        ),
        "reactions": sorted(
            (users[r["user_id"]], r["emoji_name"], messages[r["post_id"]]) for r in store.all("reactions")
        ),
        "members": sorted(
            (channel_key(m["channel_id"]), users[m["user_id"]])
            for m in store.all("channel_members")
            if channels[m["channel_id"]]["name"].startswith(prefix)
            or channels[m["channel_id"]]["type"] in "DG"
        ),
        "preferences": sorted(
            (users[p["user_id"]], p["category"], p["value"])
            for p in store.all("preferences")
            if users.get(p["user_id"], "").startswith("u")
        ),
    }


def test_tiny_seed_makes_what_the_plan_says_paced_without_a_429(capsys):
    profile = resolve("small", teams=3, channels_per_team=3, users=6, posts=120)
    plan = seed_plan.build(profile, 4049)
    posts = [post for batch in plan.posts() for post in batch]
    with server(rate_limit="40/20") as running:
        code = seed(running.url, *TINY, "--prefix", "mmtiny", "--seed", "4049")
        out, err = capsys.readouterr()
        store = running.app.store
        seeded = dump(store, "mmtiny")
        users = {u["username"]: u for u in store.all("users")}
        teams = {t["name"]: t for t in store.all("teams")}
        channels = {c["id"]: c for c in store.all("channels")}
        team_members = {(m["team_id"], m["user_id"]) for m in store.all("team_members") if not m["delete_at"]}
    assert code == exitcodes.OK, err
    assert "complete" in out and "429 answers met 0" in out, out
    assert PASSWORD not in out + err
    # teams and memberships: every user in the teams and channels the plan gave it
    assert {"mmtiny-t1", "mmtiny-t2", "mmtiny-t3"} <= set(teams)
    for user in plan.users:
        uid = users[f"mmtiny{user.name}"]["id"]
        for team in user.teams:
            assert (teams[f"mmtiny-t{team + 1}"]["id"], uid) in team_members
        for channel in user.channels:
            assert (f"c{channel + 1}", user.name) in seeded["members"]
    kinds = Counter(c["type"] for c in channels.values() if c["name"].startswith("mmtiny-"))
    planned = Counter(c.type for c in plan.team_channels)
    assert kinds == planned
    assert sum(1 for c in channels.values() if c["type"] == "D") == profile.direct_channels
    assert sum(1 for c in channels.values() if c["type"] == "G") == profile.group_channels
    # posts: as many as asked, each reply in its root's channel, authors members of the channel
    assert len(seeded["posts"]) == profile.posts == len(posts)
    replies = [p for p in posts if p.root is not None]
    assert replies, "the tiny plan has no thread: the thread check would prove nothing"
    by_message = {p[2]: p for p in seeded["posts"]}
    for reply in replies:
        root = posts[reply.root]
        row = by_message[reply.message.replace("{prefix}", "<p>")]
        assert row[3] == root.message.replace("{prefix}", "<p>")
        assert row[0] == by_message[root.message.replace("{prefix}", "<p>")][0]
    for channel, author, *_ in seeded["posts"]:
        if not channel.startswith(("D:", "G:")):
            assert (channel, author) in seeded["members"]
    assert len(seeded["reactions"]) == sum(len(p.reactions) for p in posts) > 0
    flagged = [p for p in seeded["preferences"] if p[1] == "flagged_post"]
    assert len(flagged) == sum(1 for p in posts if p.flagged_by is not None)


def test_same_seed_same_data_other_seed_other_data(capsys):
    dumps = []
    for number, seed_value in enumerate(("7", "7", "8")):
        with server() as running:
            prefix = f"mmrepro{number}"
            assert seed(running.url, *TINY, "--prefix", prefix, "--seed", seed_value) == 0
            dumps.append(dump(running.app.store, prefix))
    capsys.readouterr()
    assert dumps[0] == dumps[1]
    assert dumps[0]["posts"] != dumps[2]["posts"]


def test_two_seeds_into_one_server_do_not_collide(capsys):
    with server() as running:
        assert seed(running.url, *TINY) == 0
        assert seed(running.url, *TINY) == 0
        out = capsys.readouterr().out
        teams = [t["name"] for t in running.app.store.all("teams")]
    assert len(teams) == 6 and out.count("complete") == 2


def test_pool_csv_holds_the_accounts_and_no_password_is_printed(tmp_path, capsys):
    pool = tmp_path / "pool.csv"
    with server() as running:
        assert seed(running.url, *TINY, "--pool-csv", str(pool)) == 0
    out, err = capsys.readouterr()
    rows = list(csv.DictReader(pool.open()))
    assert len(rows) == 6 and all(row["password"] for row in rows)
    for row in rows:
        assert row["password"] not in out + err


def test_max_time_bounds_the_run_and_says_it_is_partial(capsys):
    with server(rate_limit="20/10") as running:
        started = time.monotonic()
        code = seed(running.url, "--profile", "small", "--max-time", "2s")
        seconds = time.monotonic() - started
    out = capsys.readouterr().out
    assert code == exitcodes.OK
    assert "partial (stopped by --max-time)" in out
    assert seconds < 6, f"{seconds:.1f} s for a 2 s bound"


def test_a_team_over_max_users_per_team_is_refused_up_front_or_raised_when_asked(capsys):
    config = {"TeamSettings": {"MaxUsersPerTeam": 5}}
    counts = ["--teams", "1", "--channels-per-team", "2", "--users", "6", "--posts", "10"]
    with server(config=config) as running:
        assert seed(running.url, *counts) == exitcodes.USAGE
        err = capsys.readouterr().err.strip()
        assert "MaxUsersPerTeam is 5" in err and len(err.splitlines()) == 1
        assert seed(running.url, *counts, "--raise-team-limit") == exitcodes.OK


# -- bad inputs: one line, a documented exit code -------------------------------------------------


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert "Traceback" not in err
    return err


def test_dead_server_is_unreachable(capsys):
    assert seed(dead_url()) == exitcodes.UNREACHABLE
    assert "cannot reach" in one_line_error(capsys)


def test_silent_server_times_out(capsys):
    with silent_server() as url:
        started = time.monotonic()
        assert seed(url, "--timeout", "0.5") == exitcodes.UNREACHABLE
        assert time.monotonic() - started < 5
    assert "did not answer in time" in one_line_error(capsys)


def test_bad_url_is_usage(capsys):
    assert seed("not a url") == exitcodes.USAGE
    assert "--base-url" in one_line_error(capsys)


@contextmanager
def html_server():
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            body = b"<html>hello</html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_port}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_a_server_that_is_no_v3_server(capsys):
    with html_server() as url:
        assert seed(url) == exitcodes.NOT_V3
    assert "does not speak Mattermost API v3" in one_line_error(capsys)


def test_bad_credentials_and_a_missing_password(capsys, monkeypatch):
    with server() as running:
        monkeypatch.setenv("MMV3_ADMIN_PASSWORD", "wrong-password")
        assert seed(running.url) == exitcodes.CREDENTIALS
        err = one_line_error(capsys)
        assert "was refused" in err and "wrong-password" not in err
        monkeypatch.delenv("MMV3_ADMIN_PASSWORD")
        assert seed(running.url) == exitcodes.USAGE
        assert "MMV3_ADMIN_PASSWORD" in one_line_error(capsys)


def test_a_regular_user_is_no_admin(capsys, monkeypatch):
    with server() as running:
        ensure(running.app, [Account("user", "plain", "Plain-Pass-1")])
        monkeypatch.setenv("MMV3_ADMIN_PASSWORD", "Plain-Pass-1")
        assert main(["seed", "--base-url", running.url, "--admin", "plain"]) == exitcodes.CREDENTIALS
    assert "not a system admin" in one_line_error(capsys)


@pytest.mark.parametrize(
    "argv",
    [
        ["--posts", "-1"],
        ["--users", "0"],
        ["--max-time", "soon"],
        ["--prefix", "Bad-Prefix"],
        [],  # no --base-url and no --fast
    ],
)
def test_bad_counts_and_options_are_usage(argv, capsys):
    target = ["--base-url", "http://127.0.0.1:9", "--admin", "sysadmin"] if argv else []
    assert main(["seed", *target, *argv]) == exitcodes.USAGE
    one_line_error(capsys)


# -- the fast path: mmv3.server.bulk.fill (built on another branch), a stand-in here ---------------


def test_fast_path_calls_bulk_fill_with_the_profile(monkeypatch, tmp_path, capsys):
    calls = []

    def fill(database, *, teams, users, channels_per_team, posts, seed=4049, progress=None):
        calls.append((database, teams, users, channels_per_team, posts, seed))
        progress(posts, posts)
        return {"teams": teams, "users": users, "posts": posts}

    monkeypatch.setitem(sys.modules, "mmv3.server.bulk", types.SimpleNamespace(fill=fill))
    db = tmp_path / "serve.db"
    assert main(["seed", "--fast", str(db), "--profile", "medium", "--seed", "5"]) == exitcodes.OK
    medium = PROFILES["medium"]
    assert calls == [(Path(db), medium.teams, medium.users, medium.channels_per_team, medium.posts, 5)]
    assert "posts 100000" in capsys.readouterr().out


def test_fast_path_max_time_stops_at_the_next_progress_report(monkeypatch, tmp_path, capsys):
    from mmv3.seeding import cli as seed_cli

    now = [100.0]
    monkeypatch.setattr(seed_cli.time, "monotonic", lambda: now[0])

    def fill(database, *, teams, users, channels_per_team, posts, seed=4049, progress=None):
        for done in range(1000):
            now[0] += 0.01  # the fill's time passes on the clock the command reads
            progress(done, posts)
        raise AssertionError("the fill was not stopped")

    monkeypatch.setitem(sys.modules, "mmv3.server.bulk", types.SimpleNamespace(fill=fill))
    assert main(["seed", "--fast", str(tmp_path / "x.db"), "--max-time", "1s"]) == exitcodes.OK
    assert "stopped by --max-time" in capsys.readouterr().err


def test_fast_path_without_the_bulk_module_is_one_line(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "mmv3.server.bulk", None)  # import raises ImportError
    assert main(["seed", "--fast", str(tmp_path / "x.db")]) == exitcodes.INTERNAL
    assert "mmv3.server.bulk" in one_line_error(capsys)


def test_fast_path_into_a_missing_folder_is_usage(tmp_path, capsys):
    assert main(["seed", "--fast", str(tmp_path / "nope" / "x.db")]) == exitcodes.USAGE
    assert "does not exist" in one_line_error(capsys)


# -- the plan: proportions as documented ----------------------------------------------------------


def test_plan_proportions_follow_the_cited_generators():
    plan = seed_plan.build(resolve("small", posts=20_000), 1)
    posts = [p for batch in plan.posts() for p in batch]
    assert len(posts) == 20_000
    replies = sum(p.root is not None for p in posts) / len(posts)
    assert 0.25 < replies < 0.32  # sampledata: 1 in 10 roots starts a thread of mean 4 replies
    assert 0.007 < sum(p.file for p in posts) / len(posts) < 0.013  # UploadImageChance 0.01
    index = {p.index: p for p in posts}
    for post in posts:
        if post.root is not None:
            root = index[post.root]
            assert root.root is None and root.channel == post.channel
            assert root.index // plan.batch < post.index // plan.batch


# -- load runs from a seeded state: --mmv3-team with the accounts of --pool-csv ---------------------


def test_a_load_population_in_a_seeded_team_uses_its_accounts_and_channels(tmp_path, capsys):
    from mmv3.load.population import provision, read_pool_csv

    pool = tmp_path / "pool.csv"
    with server() as running:
        assert seed(running.url, *TINY, "--prefix", "mmload", "--pool-csv", str(pool)) == 0
        capsys.readouterr()
        before = running.app.store.count("teams")
        population = provision(
            running.url,
            size=0,
            admin=("sysadmin", PASSWORD),
            pool=read_pool_csv(pool),
            extra_channels=2,
            team="mmload-t1",
            sleep=lambda _seconds: None,
        )
        after = running.app.store.count("teams")
        members = {(m["channel_id"], m["user_id"]) for m in running.app.store.all("channel_members")}
    assert after == before, "the run made a team of its own"
    [team] = population.teams
    assert team["name"] == "mmload-t1"
    seeded = [c for c in team["channels"] if c["name"].startswith("mmload-")]
    assert [c["name"] for c in seeded] == ["mmload-c1", "mmload-c2"]
    assert len(population.accounts) == 6
    for account in population.accounts:
        assert account.team == 0
        for channel in seeded:
            assert (channel["id"], account.id) in members


def test_the_team_option_needs_the_pool_csv():
    from mmv3.load.settings import Settings, SettingsError

    with pytest.raises(SettingsError, match="--mmv3-team needs --mmv3-pool-csv"):
        Settings.from_namespace(types.SimpleNamespace(existing_team="mmload-t1"))


def test_progress_is_one_line_per_interval_when_not_a_terminal(monkeypatch):
    import io

    from mmv3.seeding import cli as seed_cli

    now = [100.0]
    monkeypatch.setattr(seed_cli.time, "monotonic", lambda: now[0])
    stream = io.StringIO()
    progress = seed_cli.Progress(PROFILES["small"], stream, every=10)
    result = types.SimpleNamespace(
        counts=Counter({"users": 40, "root posts": 300, "replies": 200}), requests=900
    )
    for _second in range(30):  # 30 s of reports, one per second
        now[0] += 1
        progress(result)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 3 and "\r" not in stream.getvalue()
    assert lines[0] == "seed: users 40/40, posts 500/1000 (50%), 900 requests, 90.0 req/s, 10s"
