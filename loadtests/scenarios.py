"""The v3 load scenarios: LoginStorm, Poster and Mixed (FastHttpUser).

Pick them with Locust's class selection (`locust -f loadtests/locustfile.py Poster`, or
`--class-picker` in the web UI) or with tags (`--tags login`, `--tags post`, `--tags read`).

Every request goes through `V3User.call`, which files a 429 under its own request type
"throttled" (a success for Locust, unless --mmv3-throttled-as-failure), remembers Retry-After,
spends the run's request budget and, in the open model, measures latency from the scheduled
send time. The request names in Locust's statistics are the catalogue's route templates.

Mixed, one task per step of a chat session (weights, out of 16):
  6  read a posts page     GET  /teams/{team_id}/channels/{channel_id}/posts/page/0/60
  4  load the channels     GET  /teams/{team_id}/channels/
  3  view a channel        POST /teams/{team_id}/channels/view (also the caller's active channel)
  2  post a message        POST /teams/{team_id}/channels/{channel_id}/posts/create
  1  refresh statuses      POST /users/status/ids
v3 has no route to set one's own status: the 4.9 web app refreshes the statuses it shows with
/users/status/ids, and the server marks the caller online as a side effect of posting and viewing.
"""

from __future__ import annotations

import random
import time
from typing import Any

import gevent
from locust import tag, task
from locust.contrib.fasthttp import FastHttpUser
from locust.exception import StopUser
from mmv3.catalog import load_catalog
from mmv3.load.accounting import THROTTLED, WARMUP, as_int
from mmv3.load.messages import realistic_messages

import state as run_state

_CATALOG = load_catalog()
LOGIN = _CATALOG.get("POST", "/api/v3/users/login")
LOGOUT = _CATALOG.get("POST", "/api/v3/users/logout")
CHANNELS = _CATALOG.get("GET", "/api/v3/teams/{team_id}/channels/")
VIEW = _CATALOG.get("POST", "/api/v3/teams/{team_id}/channels/view")
POST = _CATALOG.get("POST", "/api/v3/teams/{team_id}/channels/{channel_id}/posts/create")
PAGE = _CATALOG.get("GET", "/api/v3/teams/{team_id}/channels/{channel_id}/posts/page/{offset}/{limit}")
STATUSES = _CATALOG.get("POST", "/api/v3/users/status/ids")
PAGE_SIZE = 60

# One bank per process, seeded: the same messages for every run with the same seed.
_MESSAGES: list[str] = []


def messages(seed: int) -> list[str]:
    if not _MESSAGES:
        _MESSAGES.extend(realistic_messages(500, seed=seed))
    return _MESSAGES


class V3User(FastHttpUser):
    abstract = True
    default_wait: tuple[float, float] = (0.5, 1.5)  # closed-model think time, seconds

    def on_start(self) -> None:
        # Locust logs a StopUser raised here as an error: a user that cannot start stops at its first task.
        self.disabled = False
        self.run = run_state.current(self.environment)
        picked = self.run.next_account()
        if picked is None:
            self.disabled = True
            return
        self.account, self.team = picked
        self.token: str | None = None
        self.auth_headers: dict[str, str] = {}
        self.backoff = 0.0
        self.intended: float | None = None
        self.skip = False
        self.rng = random.Random()
        team_id = self.team["id"]
        self.channels = [
            {
                "id": c["id"],
                "post": POST.path(team_id=team_id, channel_id=c["id"]),
                "page": PAGE.path(team_id=team_id, channel_id=c["id"], offset=0, limit=PAGE_SIZE),
            }
            for c in self.team["channels"]
        ]
        self.channels_path = CHANNELS.path(team_id=team_id)
        self.view_path = VIEW.path(team_id=team_id)
        self.messages = messages(self.run.settings.seed)
        try:
            self.start_session()
        except StopUser:  # the request budget ran out
            self.disabled = True
            return
        if self.run.schedule is not None:
            # Open model: the first task waits for its slot too (Locust runs it right after on_start).
            gevent.sleep(self.wait_time())

    def start_session(self) -> None:
        """What a user does once before its tasks (log in): its requests are warm-up."""

    def active(self) -> bool:
        """Whether a task may run now: False while the open-model schedule is paused; a user that
        could not start stops here."""
        if self.disabled:
            raise StopUser()
        return not self.skip

    # -- pacing ------------------------------------------------------------------------------
    def wait_time(self) -> float:
        schedule = self.run.schedule
        now = time.time()
        if schedule is not None:
            slot = schedule.next_slot(now)
            if slot is None:  # the schedule is paused (a step of rate 0)
                self.skip = True
                return 0.25
            self.skip = False
            self.intended = slot
            return max(0.0, slot - now)
        low, high = self.run.settings.wait or self.default_wait
        pause = self.rng.uniform(low, high)
        if self.backoff:
            pause, self.backoff = max(pause, self.backoff), 0.0
        return pause

    # -- requests ------------------------------------------------------------------------------
    def call(self, op: Any, path: str, *, json: Any = None, auth: bool = True, warmup: bool = False) -> Any:
        """Send one request named after its catalogue route; the response (status 0 = no answer).
        A `warmup` request is counted under the request type "warmup" (a 429 still as "throttled"),
        outside the latency thresholds, and in the summary's warm-up section."""
        run = self.run
        if run.budget is not None:
            if run.budget <= 0:
                raise StopUser()
            run.spend()
        intended, self.intended = self.intended, None
        with self.client.request(
            op.method,
            path,
            name=op.template,
            json=json,
            headers=self.auth_headers if auth else None,
            catch_response=True,
            context=_WARMUP_CONTEXT if warmup else {},
        ) as response:
            if warmup:
                response.request_meta["request_type"] = WARMUP
            if response.status_code == 429:
                meta = response.request_meta
                meta["request_type"] = THROTTLED
                if run.settings.throttled_as_failure:
                    response.failure("429 throttled")
                else:
                    response.success()
                if run.settings.honour_retry_after:
                    retry = _retry_after(response.headers)
                    self.backoff = float(retry) if retry is not None and 0 <= retry <= 60 else 1.0
            if intended is not None:
                # Open model: latency counts from the scheduled send time.
                lag = response.request_meta["start_time"] - intended
                if lag > 0:
                    response.request_meta["response_time"] += lag * 1000
        return response

    def login(self, warmup: bool = False) -> bool:
        account = self.account
        response = self.call(
            LOGIN,
            LOGIN.template,
            json={"login_id": account.username, "password": account.password},
            auth=False,
            warmup=warmup,
        )
        token = response.headers.get("Token") if response.status_code == 200 and response.headers else None
        if not token:
            return False
        self.token = token
        self.auth_headers = {"Authorization": f"Bearer {token}"}
        return True

    def ensure_login(self, warmup: bool = False) -> None:
        while self.token is None:
            if self.login(warmup):
                return
            gevent.sleep(self.backoff or 1.0)
            self.backoff = 0.0

    def forget_session(self, response: Any) -> None:
        if response.status_code == 401:
            self.token = None
            self.auth_headers = {}

    def post_message(self) -> None:
        channel = self.rng.choice(self.channels)
        body = {"channel_id": channel["id"], "message": self.rng.choice(self.messages)}
        self.forget_session(self.call(POST, channel["post"], json=body))


# Marks a request event as warm-up for the accounting (tracking.py).
_WARMUP_CONTEXT = {"mmv3_warmup": True}


def _retry_after(headers: Any) -> int | None:
    if not headers:
        return None
    value = headers.get("Retry-After")
    if isinstance(value, list):
        value = max((as_int(v) or 0) for v in value)
    return as_int(value)


class LoginStorm(V3User):
    """Users logging in and out, again and again (POST /users/login, /users/logout)."""

    default_wait = (0.1, 0.5)

    @tag("login")
    @task
    def login_logout(self) -> None:
        if not self.active():
            return
        if self.login():
            self.call(LOGOUT, LOGOUT.template)
            self.token = None
            self.auth_headers = {}


class Poster(V3User):
    """Logged-in users posting chat messages of realistic lengths into their team's channels."""

    default_wait = (0.05, 0.2)

    def start_session(self) -> None:
        self.ensure_login(warmup=True)

    @tag("post")
    @task
    def post(self) -> None:
        if not self.active():
            return
        self.ensure_login()
        self.post_message()


class Mixed(V3User):
    """A chat session: read, switch channels, post, refresh statuses (weights in the module docstring)."""

    default_wait = (1.0, 3.0)

    def start_session(self) -> None:
        self.ensure_login(warmup=True)
        self.current = self.rng.choice(self.channels)
        members = self.run.population.accounts if self.run.population else []
        self.status_ids = [a.id for a in members if a.team == self.account.team and a.id][:20]

    def ready(self) -> bool:
        if not self.active():
            return False
        self.ensure_login()
        return True

    @tag("read")
    @task(6)
    def read_posts(self) -> None:
        if self.ready():
            self.forget_session(self.call(PAGE, self.current["page"]))

    @tag("read")
    @task(4)
    def load_channels(self) -> None:
        if self.ready():
            self.forget_session(self.call(CHANNELS, self.channels_path))

    @tag("read")
    @task(3)
    def view_channel(self) -> None:
        if self.ready():
            previous, self.current = self.current, self.rng.choice(self.channels)
            body = {"channel_id": self.current["id"], "prev_channel_id": previous["id"]}
            self.forget_session(self.call(VIEW, self.view_path, json=body))

    @tag("post")
    @task(2)
    def post(self) -> None:
        if self.ready():
            self.post_message()

    @tag("read")
    @task(1)
    def statuses(self) -> None:
        if self.ready() and self.status_ids:
            self.forget_session(self.call(STATUSES, STATUSES.template, json=self.status_ids))
