"""Carry a seed plan out through the v3 API of any server, paced by its rate-limit headers.

Every request goes through `mmv3.client.Client`: all identities share one pacer per server, so
the threads together stay under the limit the server advertises and never meet a 429. The
admin creates teams and channels and adds the members; each seeded user logs in and creates
its own posts, reactions, direct and group channels and preferences, as a real user would.
Objects are named `<prefix>-t1`, `<prefix>-c1`, `<prefix>u1`, ... so two seeds never collide.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from mmv3.client import Client, ClientError, ServerTimeout, ServerUnreachable
from mmv3.seeding.plan import ChannelPlan, Plan, PostPlan, UserPlan, image


class SeedError(Exception):
    """The seed cannot go on; `kind` is unreachable, not-v3, credentials, limit or failed."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


class _Stopped(Exception):
    """The deadline passed: the task gives up before its next request."""


@dataclass
class Seeded:
    """What a seed made, by kind, and what it cost."""

    counts: Counter = field(default_factory=Counter)
    requests: int = 0
    elapsed: float = 0.0
    complete: bool = False
    stopped: str = ""  # why the seed stopped early ("--max-time", "interrupted")
    throttled: int = 0  # 429 answers met (0 when pacing works)
    waited: float = 0.0  # seconds spent waiting for the rate limit
    team_names: list[str] = field(default_factory=list)
    accounts: list[tuple[str, str]] = field(default_factory=list, repr=False)  # (username, password)


class ApiSeeder:
    """One seed run against one server: `connect()`, then `run(plan)`."""

    def __init__(
        self,
        base_url: str,
        *,
        prefix: str,
        workers: int = 8,
        timeout: float = 30.0,
        deadline: float | None = None,
        raise_team_limit: bool = False,
        on_progress: Callable[[Seeded], None] | None = None,
    ) -> None:
        self.prefix = prefix
        self.workers = max(1, workers)
        self.deadline = deadline
        self.raise_team_limit = raise_team_limit
        self.on_progress = on_progress
        try:
            self.root = Client(base_url, timeout=timeout)
        except ValueError as exc:
            raise SeedError("usage", f"bad --base-url: {exc}") from None
        self.admin: Client | None = None
        self.result = Seeded()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._started = time.monotonic()
        self.team_ids: list[str] = []
        self.invites: list[str] = []
        self.channel_ids: dict[int, str] = {}
        self.user_ids: list[str] = []
        self.clients: list[Client | None] = []
        self.post_ids: dict[int, str] = {}
        self.flags: dict[int, list[str]] = {}
        self.plan: Plan | None = None
        self.directs_of: dict[int, list[ChannelPlan]] = {}

    # -- requests -----------------------------------------------------------------------
    def call(self, client: Client, method: str, path: str, what: str, **kwargs: Any) -> Any:
        """One request that must succeed: its JSON body (SeedError otherwise)."""
        if self._out_of_time():
            raise _Stopped()
        try:
            response = client.request(method, path, **kwargs)
        except (ServerUnreachable, ServerTimeout) as exc:
            raise SeedError("unreachable", f"{what}: {exc}") from None
        except ClientError as exc:
            raise SeedError("failed", f"{what}: {exc}") from None
        finally:
            with self._lock:
                self.result.requests += 1
        if response.status != 200:
            raise SeedError("failed", f"{what}: {method} /api/v3/{path} answered {response.brief()}")
        try:
            return response.json()
        except ClientError:
            raise SeedError("not-v3", f"{what}: {method} /api/v3/{path} answered 200 without JSON") from None

    def count(self, kind: str, n: int = 1) -> None:
        with self._lock:
            self.result.counts[kind] += n

    # -- set-up -------------------------------------------------------------------------
    def connect(self, login_id: str, password: str) -> str:
        """Ping the server and log the admin in; the server's version. SeedError with one line."""
        base = self.root.base_url
        try:
            response = self.root.get("general/ping", auth=False)
        except ServerTimeout as exc:
            raise SeedError("unreachable", f"{base} did not answer in time ({exc})") from None
        except (ServerUnreachable, ClientError) as exc:
            raise SeedError("unreachable", f"cannot reach {base}: {exc}") from None
        finally:
            self.result.requests += 1
        try:
            body = response.json() if response.status == 200 else None
        except ClientError:
            body = None
        version = body.get("version") if isinstance(body, dict) else None
        if not isinstance(version, str) or not version:
            raise SeedError(
                "not-v3",
                f"{base} does not speak Mattermost API v3: GET /api/v3/general/ping answered {response.brief()}",
            )
        admin = self.root.with_token(None)
        try:
            answer = admin.login(login_id, password, raise_for_error=False)
        except ClientError as exc:
            raise SeedError("unreachable", f"cannot reach {base}: {exc}") from None
        finally:
            self.result.requests += 1
        if answer.status != 200 or not admin.token:
            raise SeedError("credentials", f"login of the admin {login_id!r} was refused: {answer.brief()}")
        user = answer.json()
        if "system_admin" not in str(user.get("roles", "")).split():
            raise SeedError("credentials", f"{login_id!r} is not a system admin (the seed adds members)")
        self.admin = admin
        return version

    def check_team_limit(self, plan: Plan) -> None:
        """Fail early (or raise the limit when asked) if a team would outgrow MaxUsersPerTeam."""
        assert self.admin is not None
        needed = max(plan.team_sizes(), default=0) + 1  # the admin is a member of every team
        config = self.call(self.admin, "GET", "admin/config", "reading the server's config")
        team_settings = config.get("TeamSettings", {}) if isinstance(config, dict) else {}
        limit = int(team_settings.get("MaxUsersPerTeam") or 50)
        if needed <= limit:
            return
        if not self.raise_team_limit:
            raise SeedError(
                "limit",
                f"a team of this profile holds {needed} members but the server's "
                f"TeamSettings.MaxUsersPerTeam is {limit}: raise it, or pass --raise-team-limit "
                "(the seed then saves the server's config with the higher limit)",
            )
        team_settings["MaxUsersPerTeam"] = needed
        self.call(self.admin, "POST", "admin/save_config", "raising MaxUsersPerTeam", json=config)

    def _own_client(self) -> Client:
        """A client for one seeded user: the shared pacer and connections, but secrets of its own.
        (Clones of one client share one set of secrets that every request's error text is
        scrubbed of: with 10^4 users that set would cost every request 10^4 replacements.)"""
        return Client(
            self.root.base_url, timeout=self.root.timeout, pacer=self.root.pacer, session=self.root.session
        )

    # -- running ------------------------------------------------------------------------
    def run(self, plan: Plan) -> Seeded:
        assert self.admin is not None, "connect() first"
        self._started = time.monotonic()
        self.plan = plan
        self.team_ids = [""] * len(plan.teams)
        self.invites = [""] * len(plan.teams)
        self.result.team_names = [""] * len(plan.teams)
        for channel in plan.direct_channels:
            for member in channel.members:
                self.directs_of.setdefault(member, []).append(channel)
        stats = self.root.pacer.stats
        throttled, waited = stats.throttled, stats.waited_seconds
        self.user_ids = [""] * len(plan.users)
        self.clients = [None] * len(plan.users)
        pool = ThreadPoolExecutor(self.workers, thread_name_prefix="mmv3-seed")
        try:
            steps = (
                self._phase(pool, self._team, plan.teams)
                and self._phase(pool, self._channel, plan.team_channels)
                and self._phase(pool, self._user, plan.users)
                and self._phase(pool, lambda c: self._direct(plan, c), plan.direct_channels)
            )
            for batch in plan.posts() if steps else ():
                if not self._phase(pool, lambda post: self._post(plan, post), batch):
                    break
            if not self.result.stopped:
                self._phase(pool, self._preferences, plan.users)
            if not self.result.stopped:
                self.result.complete = True
        except KeyboardInterrupt:
            self._stop.set()
            self.result.stopped = "interrupted"
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
            self.result.elapsed = time.monotonic() - self._started
            stats = self.root.pacer.stats
            self.result.throttled = stats.throttled - throttled
            self.result.waited = stats.waited_seconds - waited
        return self.result

    def _out_of_time(self) -> bool:
        if self.deadline is not None and time.monotonic() >= self.deadline:
            self.result.stopped = self.result.stopped or "--max-time"
            return True
        return False

    def _phase(self, pool: ThreadPoolExecutor, work: Callable[[Any], None], items: Iterable[Any]) -> bool:
        """Run `work` over `items` concurrently; False once the run must stop (deadline)."""
        if self._out_of_time():
            return False
        futures: set[Future] = set()
        for item in items:
            if self._out_of_time():
                break
            futures.add(pool.submit(work, item))
            if len(futures) >= self.workers * 2:  # a sliding window: a slow task holds up no other
                done, futures = wait(futures, return_when=FIRST_COMPLETED)
                self._settle(done, futures)
        done, _ = wait(futures, return_when=FIRST_EXCEPTION)
        self._settle(done, futures - done)
        if self.on_progress:
            self.on_progress(self.result)
        return not self.result.stopped

    def _settle(self, done: set[Future], rest: set[Future]) -> None:
        for future in done:
            error = future.exception()
            if error is not None and not isinstance(error, _Stopped):
                for other in rest:
                    other.cancel()
                wait(rest)
                raise error
        if self.on_progress:
            self.on_progress(self.result)

    # -- one object each ----------------------------------------------------------------
    def _team(self, team: Any) -> None:
        assert self.admin is not None
        body = {
            "name": f"{self.prefix}-{team.name}",
            "display_name": f"{team.display_name}"[:64],
            "type": team.type,
            "allow_open_invite": team.type == "O",
            "description": team.description,
        }
        made = self.call(self.admin, "POST", "teams/create", f"creating team {body['name']}", json=body)
        with self._lock:
            self.team_ids[team.index] = made["id"]
            self.invites[team.index] = made.get("invite_id", "")
            self.result.team_names[team.index] = made["name"]
        self.count("teams")

    def _channel(self, channel: ChannelPlan) -> None:
        assert self.admin is not None
        team_id = self.team_ids[channel.team]
        body = {
            "team_id": team_id,
            "name": f"{self.prefix}-{channel.name}",
            "display_name": channel.display_name,
            "type": channel.type,
            "purpose": channel.purpose,
            "header": channel.header,
        }
        what = f"creating channel {body['name']}"
        made = self.call(self.admin, "POST", f"teams/{team_id}/channels/create", what, json=body)
        self.channel_ids[channel.index] = made["id"]
        self.count("open channels" if channel.type == "O" else "private channels")

    def _user(self, user: UserPlan) -> None:
        assert self.admin is not None
        username = f"{self.prefix}{user.name}"
        password = secrets.token_urlsafe(12) + "aA1!"
        body = {
            "username": username,
            "email": f"{username}@example.com",
            "password": password,
            "first_name": user.first_name,
            "last_name": user.last_name,
            "nickname": user.nickname,
        }
        first = user.teams[0]
        made = self.call(
            self.root,
            "POST",
            "users/create",
            f"creating user {username}",
            json=body,
            auth=False,
            params={"iid": self.invites[first]},
        )
        self.user_ids[user.index] = made["id"]
        self.count("users")
        self.count("team memberships")
        client = self._own_client()
        try:
            answer = client.login(username, password, raise_for_error=False)
        except (ServerUnreachable, ServerTimeout) as exc:
            raise SeedError("unreachable", f"login of {username}: {exc}") from None
        finally:
            with self._lock:
                self.result.requests += 1
        if answer.status != 200 or not client.token:
            raise SeedError("failed", f"the new user {username} cannot log in: {answer.brief()}")
        self.clients[user.index] = client
        with self._lock:
            self.result.accounts.append((username, password))
        for team in user.teams[1:]:
            self.call(
                self.admin,
                "POST",
                f"teams/{self.team_ids[team]}/add_user_to_team",
                f"adding {username} to team {team + 1}",
                json={"user_id": made["id"]},
            )
            self.count("team memberships")
        for channel in user.channels:
            assert self.plan is not None
            team_id = self.team_ids[self.plan.channels[channel].team]
            self.call(
                self.admin,
                "POST",
                f"teams/{team_id}/channels/{self.channel_ids[channel]}/add",
                f"adding {username} to channel {channel + 1}",
                json={"user_id": made["id"]},
            )
            self.count("channel memberships")

    def _direct(self, plan: Plan, channel: ChannelPlan) -> None:
        creator = channel.members[0]
        client = self.clients[creator]
        assert client is not None
        team_id = self.team_ids[plan.users[creator].teams[0]]
        if channel.type == "D":
            made = self.call(
                client,
                "POST",
                f"teams/{team_id}/channels/create_direct",
                f"creating direct channel {channel.index + 1}",
                json={"user_id": self.user_ids[channel.members[1]]},
            )
            self.count("direct channels")
        else:
            made = self.call(
                client,
                "POST",
                f"teams/{team_id}/channels/create_group",
                f"creating group channel {channel.index + 1}",
                json=[self.user_ids[m] for m in channel.members],
            )
            self.count("group channels")
        self.channel_ids[channel.index] = made["id"]

    def _post(self, plan: Plan, post: PostPlan) -> None:
        client = self.clients[post.author]
        assert client is not None
        user = plan.users[post.author]
        channel = plan.channels[post.channel]
        team_id = self.team_ids[channel.team if channel.team >= 0 else user.teams[0]]
        channel_id = self.channel_ids[post.channel]
        body: dict[str, Any] = {
            "channel_id": channel_id,
            "message": post.message.replace("{prefix}", self.prefix),
        }
        if post.root is not None:
            root_id = self.post_ids[post.root]
            body["root_id"] = root_id
            body["parent_id"] = root_id
        if post.file:
            uploaded = self.call(
                client,
                "POST",
                f"teams/{team_id}/files/upload",
                f"uploading the image of post {post.index + 1}",
                data={"channel_id": channel_id},
                files={"files": (f"image{post.index + 1}.png", image(post.index), "image/png")},
            )
            body["file_ids"] = [info["id"] for info in uploaded.get("file_infos", [])]
            self.count("files")
        made = self.call(
            client,
            "POST",
            f"teams/{team_id}/channels/{channel_id}/posts/create",
            f"creating post {post.index + 1}",
            json=body,
        )
        self.post_ids[post.index] = made["id"]
        self.count("replies" if post.root is not None else "root posts")
        for who, emoji in post.reactions:
            reactor = self.clients[who]
            assert reactor is not None
            # v3 routes name a team and the caller must be in it: a direct or group channel has no
            # team of its own, so each member goes through one of theirs.
            via = team_id if channel.team >= 0 else self.team_ids[plan.users[who].teams[0]]
            self.call(
                reactor,
                "POST",
                f"teams/{via}/channels/{channel_id}/posts/{made['id']}/reactions/save",
                f"reacting to post {post.index + 1}",
                json={"user_id": self.user_ids[who], "post_id": made["id"], "emoji_name": emoji},
            )
            self.count("reactions")
        if post.flagged_by is not None:
            with self._lock:
                self.flags.setdefault(post.flagged_by, []).append(made["id"])

    def _preferences(self, user: UserPlan) -> None:
        client = self.clients[user.index]
        if client is None:
            return
        uid = self.user_ids[user.index]
        rows = [
            {"user_id": uid, "category": "display_settings", "name": n, "value": v} for n, v in user.display
        ]
        rows += [
            {"user_id": uid, "category": "favorite_channel", "name": self.channel_ids[c], "value": "true"}
            for c in user.favorites
            if c in self.channel_ids
        ]
        rows += [
            {"user_id": uid, "category": "flagged_post", "name": post_id, "value": "true"}
            for post_id in self.flags.get(user.index, [])
        ]
        for channel in self.directs_of.get(user.index, []):
            if channel.index in self.channel_ids:
                if channel.type == "D":
                    other = next(m for m in channel.members if m != user.index)
                    rows.append(
                        {
                            "user_id": uid,
                            "category": "direct_channel_show",
                            "name": self.user_ids[other],
                            "value": "true",
                        }
                    )
                else:
                    rows.append(
                        {
                            "user_id": uid,
                            "category": "group_channel_show",
                            "name": self.channel_ids[channel.index],
                            "value": "true",
                        }
                    )
        self.call(
            client, "POST", "preferences/save", f"saving the preferences of user {user.index + 1}", json=rows
        )
        self.count("preferences", len(rows))
