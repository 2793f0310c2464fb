"""The test data of a load run: a pool of accounts in one or more teams, and the channels they post in.

Made once per run through the API (on the Locust master), then sliced per worker. Accounts are
either created for the run (`<prefix>u<n>`, joined through the team's invite id, which works on
servers that are not open to sign-up) or read from a CSV file of existing accounts
(`username,password` header; an admin or the first account puts them in the run's team).

A team holds at most `TEAM_CAPACITY` pool accounts: Mattermost's TeamSettings.MaxUsersPerTeam
defaults to 50 and the team's creator is a member too. Joining a team joins its default channels
(town-square, off-topic); `extra_channels` more are created per team and every member is added.

With `team=NAME` the run uses an existing team instead (one `mmv3 seed` filled, so that the load
meets a realistic amount of data): the pool (from the CSV `mmv3 seed --pool-csv` writes) joins it,
and its first `extra_channels` channels the owner is in take the place of new ones.
"""

from __future__ import annotations

import csv
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from faker import Faker

from mmv3.client import Client, ClientError, Response
from mmv3.provision import run_prefix
from mmv3.ratelimit import looks_like_epoch

TEAM_CAPACITY = 45
_RETRIES_ON_429 = 10
_POLL = 0.25  # seconds between pings while waiting for a full bucket
DEFAULT_CHANNELS = ("town-square", "off-topic")


class PopulationError(Exception):
    """The run's accounts, teams or channels could not be made (one line: which step, why)."""


@dataclass
class PoolAccount:
    username: str
    password: str = field(repr=False)
    id: str = ""
    team: int = 0  # index into Population.teams


@dataclass
class Population:
    prefix: str
    teams: list[dict[str, Any]]  # {"id", "name", "channels": [{"id", "name"}]}
    accounts: list[PoolAccount]
    requests: int = 0  # what provisioning cost, in requests
    settle_seconds: float = 0.0  # waited at the end for the rate-limit bucket to be full again

    def slice(self, index: int, count: int) -> Population:
        """The part of the pool for worker `index` of `count` (every worker sees every team)."""
        mine = self.accounts[index::count] if count > 1 else list(self.accounts)
        if not mine and self.accounts:
            mine = [self.accounts[index % len(self.accounts)]]  # more workers than accounts: share
        return Population(self.prefix, self.teams, mine, self.requests, self.settle_seconds)

    def to_data(self) -> dict[str, Any]:
        return {
            "prefix": self.prefix,
            "teams": self.teams,
            "accounts": [[a.username, a.password, a.id, a.team] for a in self.accounts],
            "requests": self.requests,
            "settle_seconds": self.settle_seconds,
        }

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> Population:
        return cls(
            prefix=data["prefix"],
            teams=list(data["teams"]),
            accounts=[PoolAccount(u, p, i, int(t)) for u, p, i, t in data["accounts"]],
            requests=int(data.get("requests", 0)),
            settle_seconds=float(data.get("settle_seconds", 0.0)),
        )

    def secrets(self) -> list[str]:
        return [a.password for a in self.accounts if a.password]


def read_pool_csv(path: str | Path) -> list[tuple[str, str]]:
    """(username, password) pairs from a CSV file with a `username,password` header."""
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
    except OSError as exc:
        raise PopulationError(f"user pool {path}: cannot read ({exc.strerror or exc})") from None
    except csv.Error as exc:
        raise PopulationError(f"user pool {path}: not CSV ({exc})") from None
    pairs = []
    for number, row in enumerate(rows, start=2):
        username = (row.get("username") or row.get("login_id") or "").strip()
        password = row.get("password") or ""
        if not username or not password:
            raise PopulationError(f"user pool {path} line {number}: needs username and password columns")
        pairs.append((username, password))
    if not pairs:
        raise PopulationError(f"user pool {path}: no accounts (expected a username,password header and rows)")
    return pairs


class _Provisioner:
    def __init__(self, base_url: str, *, seed: int, timeout: float) -> None:
        self.root = Client(base_url, timeout=timeout)
        self.faker = Faker()
        self.faker.seed_instance(seed)
        self.requests = 0
        self.last: Response | None = None

    def call(self, client: Client, method: str, path: str, what: str, **kwargs: Any) -> Response:
        for _attempt in range(_RETRIES_ON_429):
            try:
                response = client.request(method, path, **kwargs)
            except ClientError as exc:
                raise PopulationError(f"{what}: {exc}") from None
            self.requests += 1
            self.last = response
            if response.status != 429:
                break
            # Someone else spent the bucket (or the server sends no headers to pace by): wait it out.
            retry = response.ratelimit.retry_after
            time.sleep(retry if retry is not None and 0 < retry <= 60 else 1.0)
        if response.status != 200:
            error = response.app_error
            why = f"{response.status} {error.id}" if error else f"{response.status} {response.text[:80]!r}"
            raise PopulationError(f"{what}: {method} /api/v3/{path} answered {why}")
        return response

    def login(self, username: str, password: str, what: str) -> Client:
        client = self.root.with_token(None)
        try:
            response = client.login(username, password, raise_for_error=False)
        except ClientError as exc:
            raise PopulationError(f"{what}: {exc}") from None
        self.requests += 1
        self.last = response
        if response.status != 200 or not client.token:
            error = response.app_error
            raise PopulationError(
                f"{what}: login of {username!r} answered {response.status} {error.id if error else ''}".strip()
            )
        return client

    def create_user(self, username: str, invite_id: str = "") -> tuple[dict[str, Any], str]:
        password = self.faker.password(length=14)
        body = {
            "username": username,
            "email": f"{username}@example.com",
            "password": password,
            "first_name": self.faker.first_name(),
            "last_name": self.faker.last_name(),
        }
        params = {"iid": invite_id} if invite_id else None
        user = self.call(
            self.root,
            "POST",
            "users/create",
            f"creating account {username}",
            json=body,
            params=params,
            auth=False,
        )
        return user.json(), password

    def settle(self, sleep: Callable[[float], None], deadline: float = 60.0) -> float:
        """Wait until the rate-limit bucket is full again; the seconds waited.

        Reset (seconds until full) says how long; when it is unusable (a timestamp) but Remaining
        is there, pings are sent until Remaining shows a full bucket. Without headers there is
        nothing to go by and the run starts at once."""
        observed = self.last.ratelimit if self.last is not None else None
        if observed is None or observed.limit is None or observed.remaining is None:
            return 0.0
        reset = observed.reset
        if reset is not None and not looks_like_epoch(reset) and reset >= 0:
            waited = float(min(reset, deadline))
            sleep(waited)
            return waited
        waited = 0.0
        while waited < deadline:
            sleep(_POLL)
            waited += _POLL
            try:
                ping = self.root.get("general/ping", auth=False, pace=False)
            except ClientError:
                return waited
            self.requests += 1
            limit, remaining = ping.ratelimit.limit, ping.ratelimit.remaining
            if limit is None or remaining is None or remaining >= limit - 1:
                sleep(_POLL)  # the ping spent a token: give it time to come back
                return waited + _POLL
        return waited


def _existing_team(work: _Provisioner, owner: Client, name: str, extra_channels: int) -> dict[str, Any]:
    """A team made before the run: its default channels and the first `extra_channels` others
    the owner is in (by name), which the pool is added to like new ones."""
    found = work.call(owner, "GET", f"teams/name/{name}", f"looking up team {name!r}").json()
    listed = (
        work.call(owner, "GET", f"teams/{found['id']}/channels/", f"listing the channels of {name}").json()
        or []
    )
    defaults = [{"id": c["id"], "name": c["name"]} for c in listed if c.get("name") in DEFAULT_CHANNELS]
    others = sorted(
        (c for c in listed if c.get("name") not in DEFAULT_CHANNELS and c.get("type") in ("O", "P")),
        key=lambda c: c["name"],
    )
    chosen = [{"id": c["id"], "name": c["name"], "extra": True} for c in others[:extra_channels]]
    return {"id": found["id"], "name": found["name"], "invite_id": "", "channels": defaults + chosen}


def provision(
    base_url: str,
    *,
    size: int,
    admin: tuple[str, str] | None = None,
    pool: Sequence[tuple[str, str]] | None = None,
    extra_channels: int = 1,
    seed: int = 4049,
    prefix: str | None = None,
    team: str | None = None,
    timeout: float = 15.0,
    log: Callable[[str], None] = lambda _message: None,
    sleep: Callable[[float], None] = time.sleep,
) -> Population:
    """Make the run's teams, channels and account pool (PopulationError on any failed step),
    then wait until the server's rate-limit bucket is full, so that the run sees its whole burst."""
    prefix = prefix or run_prefix(random.Random(seed ^ random.SystemRandom().getrandbits(32)))
    existing = team  # the name `team` is the loop variable below
    work = _Provisioner(base_url, seed=seed, timeout=timeout)
    if admin is not None:
        owner = work.login(admin[0], admin[1], "admin login")
    elif pool:
        owner = work.login(pool[0][0], pool[0][1], "first pool account's login")
    else:
        # On a fresh server the first account becomes system admin; on an open one it is a plain
        # user, who may still create teams and administer them.
        name = f"{prefix}owner"
        _, password = work.create_user(name)
        owner = work.login(name, password, "the run owner's login")
    wanted = len(pool) if pool else max(1, size)
    team_count = (wanted + TEAM_CAPACITY - 1) // TEAM_CAPACITY
    teams = []
    if existing:
        team_count = 0  # the existing team holds the whole pool: its seed sized MaxUsersPerTeam
        teams.append(_existing_team(work, owner, existing, extra_channels))
    for number in range(team_count):
        team = work.call(
            owner,
            "POST",
            "teams/create",
            f"creating team {number + 1}",
            json={
                "name": f"{prefix}-team{number + 1}",
                "display_name": f"{prefix} {work.faker.company()}"[:64],
                "type": "O",
                "allow_open_invite": True,
            },
        ).json()
        channels = (
            work.call(owner, "GET", f"teams/{team['id']}/channels/", "listing the team's channels").json()
            or []
        )
        found = [{"id": c["id"], "name": c["name"]} for c in channels if c.get("name") in DEFAULT_CHANNELS]
        for index in range(extra_channels):
            channel = work.call(
                owner,
                "POST",
                f"teams/{team['id']}/channels/create",
                f"creating channel {index + 1} of team {number + 1}",
                json={
                    "team_id": team["id"],
                    "name": f"{prefix}-load{index + 1}",
                    "display_name": f"{prefix} load {index + 1}",
                    "type": "O",
                    "purpose": work.faker.sentence()[:200],
                },
            ).json()
            found.append({"id": channel["id"], "name": channel["name"], "extra": True})
        teams.append(
            {
                "id": team["id"],
                "name": team["name"],
                "invite_id": team.get("invite_id", ""),
                "channels": found,
            }
        )
    log(f"provisioning: {len(teams)} team(s), {len(teams[0]['channels'])} channel(s) each")

    accounts: list[PoolAccount] = []
    for number in range(wanted):
        team_index = 0 if existing else number // TEAM_CAPACITY
        team = teams[team_index]
        if pool:
            username, password = pool[number]
            user = work.call(
                owner, "GET", f"users/name/{username}", f"looking up pool account {username}"
            ).json()
            work.call(
                owner,
                "POST",
                f"teams/{team['id']}/add_user_to_team",
                f"adding {username} to the run's team",
                json={"user_id": user["id"]},
            )
        else:
            username = f"{prefix}u{number + 1}"
            user, password = work.create_user(username, team["invite_id"])
        accounts.append(PoolAccount(username, password, user["id"], team_index))
        for channel in team["channels"]:
            if channel.get("extra"):
                work.call(
                    owner,
                    "POST",
                    f"teams/{team['id']}/channels/{channel['id']}/add",
                    f"adding {username} to channel {channel['name']}",
                    json={"user_id": user["id"]},
                )
    for team in teams:
        team.pop("invite_id", None)
        for channel in team["channels"]:
            channel.pop("extra", None)
    log(
        f"provisioning: {len(accounts)} account(s), {work.requests} requests; waiting for a full rate-limit bucket"
    )
    settled = work.settle(sleep)
    return Population(prefix, teams, accounts, work.requests, settled)
