"""The test data of a conformance run: accounts, a team, channels, posts, ... made through the API.

`World.provision()` logs the given accounts in and creates what the checks need, with a per-run
prefix (so runs never collide) and Faker data from a seed (so runs are reproducible apart from
the prefix). A world is plain data plus one `Client` per account: `snapshot()` / `restore()`
carry it to other processes (xdist workers) so one provisioning serves the whole run.

Roles the checks speak of:
- `admin`    the system admin (optional on a real server);
- `owner`    whoever administers the run's team (the admin when there is one, else `user`);
- `user`     the regular user the suite was given, a member of the team and its open channel;
- `member`   a plain team member made for the run (no admin rights anywhere, not in the private
             channel) -- the caller of "regular user is refused" checks;
- `outsider` an account in no team of the run -- the caller of "non-member is refused" checks;
- `anon`     no token at all.
Throwaway objects for destructive routes (a session to log out, a channel to delete, ...)
come from the `make_*` factories, named by the recipes in `mmv3.recipes`.
"""

from __future__ import annotations

import random
import string
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from faker import Faker

from mmv3.client import Client, ClientError, HarRecorder, Response, ServerTimeout, ServerUnreachable

ROLES = ("anon", "admin", "owner", "user", "member", "outsider")
NO_BODY: Any = object()


class ProvisioningError(Exception):
    """The test data could not be made (one-line message saying which step and why)."""


class MissingRole(LookupError):
    """A role the run does not have (e.g. no admin credentials were given)."""


@dataclass(frozen=True)
class Call:
    """One planned request, in terms of the world: who sends it, where, with what."""

    method: str
    path: str  # server-relative: /api/v3/... or a site-root path
    role: str = "user"
    token: str | None = None  # a raw token instead of the role's (garbage, revoked, ...)
    cookie: bool = False  # send the token as the MMAUTHTOKEN cookie instead of a header
    json: Any = NO_BODY
    data: Any = None  # raw body (str/bytes) or form fields
    files: Any = None
    query: Mapping[str, str] | None = None
    headers: Mapping[str, str] | None = None
    label: str = ""  # what this request is for, in reports


@dataclass
class Account:
    role: str
    username: str
    email: str
    password: str = field(repr=False)
    id: str = ""
    token: str = field(default="", repr=False)
    client: Client | None = field(default=None, repr=False, compare=False)

    def ref(self) -> dict[str, Any]:
        return {"id": self.id, "username": self.username, "email": self.email, "password": self.password}

    def data(self) -> dict[str, str]:
        return {k: getattr(self, k) for k in ("role", "username", "email", "password", "id", "token")}


def sign_in(client: Client, login_id: str, password: str, device_id: str | None = None) -> Response:
    """Log `client` in. The session token comes from the `Token` header, or -- from a server that
    forgets that header -- from the MMAUTHTOKEN cookie, so that the run goes on and the headers
    family reports the missing header instead of the whole run stopping."""
    response = client.login(login_id, password, device_id=device_id, raise_for_error=False)
    if response.status == 200 and not client.token:
        cookie = response.cookies.get("MMAUTHTOKEN")
        if cookie is not None and cookie.value:
            try:
                user_id = response.json().get("id")
            except Exception:  # noqa: BLE001 - a body that is no user: no user id
                user_id = None
            client.set_token(cookie.value, user_id if isinstance(user_id, str) else None)
    return response


def run_prefix(rng: random.Random | None = None) -> str:
    """`mm` + 6 random letters/digits: unique per run, valid in user, team and channel names."""
    rng = rng or random.SystemRandom()
    return "mm" + "".join(rng.choice(string.ascii_lowercase + string.digits) for _ in range(6))


class World:
    def __init__(
        self,
        base_url: str,
        *,
        prefix: str,
        seed: int,
        timeout: float | tuple[float, float] = 10.0,
        recorder: Any = None,
    ) -> None:
        self.base_url = base_url
        self.prefix = prefix
        self.seed = seed
        self.faker = Faker()
        self.faker.seed_instance(seed)
        self.recorder = recorder if recorder is not None else HarRecorder()
        self.root = Client(base_url, timeout=timeout, recorder=self.recorder)
        self.accounts: dict[str, Account] = {}
        self.objects: dict[str, dict[str, Any]] = {}  # team, closed_team, open_channel, ...
        self.started_ms = int(time.time() * 1000)
        self.created: list[tuple[str, str]] = []  # (kind, id) for the clean-up
        self._counter = 0

    # -- identities ------------------------------------------------------------------------
    def account(self, role: str) -> Account:
        if role == "owner":
            role = "admin" if "admin" in self.accounts else "user"
        account = self.accounts.get(role)
        if account is None:
            raise MissingRole(role)
        return account

    def has(self, role: str) -> bool:
        try:
            self.account(role)
        except MissingRole:
            return False
        return True

    def client(self, role: str) -> Client:
        if role == "anon":
            return self.root
        client = self.account(role).client
        assert client is not None
        return client

    def add_account(self, role: str, user: Mapping[str, Any], password: str, client: Client) -> Account:
        account = Account(
            role=role,
            username=str(user.get("username", "")),
            email=str(user.get("email", "")),
            password=password,
            id=str(user.get("id", "")),
            token=client.token or "",
            client=client,
        )
        self.accounts[role] = account
        return account

    def login(self, role: str, login_id: str, password: str) -> Account:
        client = self.root.with_token(None)
        response = sign_in(client, login_id, password)
        if response.status != 200 or not client.token:
            raise ProvisioningError(f"login of the {role} {login_id!r} failed: {response.brief()}")
        return self.add_account(role, response.json(), password, client)

    # -- sending -----------------------------------------------------------------------------
    def send(self, call: Call, *, timeout: float | tuple[float, float] | None = None) -> Response:
        """Send a planned call (ClientError for transport failures); `timeout` overrides the world's."""
        client = self.root if call.role == "anon" else self.client(call.role)
        token: str | bool = True if call.role != "anon" else False
        if call.token is not None:
            client, token = self.root, call.token
        headers = dict(call.headers or {})
        if call.cookie:
            raw = token if isinstance(token, str) else (client.token or "")
            headers["Cookie"] = f"MMAUTHTOKEN={raw}"
            token = False
        kwargs: dict[str, Any] = {"headers": headers, "auth": token, "params": call.query}
        if call.json is not NO_BODY:
            kwargs["json"] = call.json
        if call.data is not None:
            kwargs["data"] = call.data
        if call.files is not None:
            kwargs["files"] = call.files
        # Call paths are server-relative (/api/v3/… or a site-root route such as /login/sso/saml).
        return client.request(call.method, call.path, root=True, timeout=timeout, **kwargs)

    def api(self, role: str, method: str, path: str, body: Any = NO_BODY, **kwargs: Any) -> Response:
        """A provisioning request that must succeed (ProvisioningError otherwise)."""
        try:
            response = self.send(Call(method, f"/api/v3/{path.lstrip('/')}", role=role, json=body, **kwargs))
        except ClientError as exc:
            raise ProvisioningError(f"{method} /api/v3/{path}: {exc}") from None
        if response.status != 200:
            raise ProvisioningError(f"{method} /api/v3/{path} as {role} answered {response.brief()}")
        return response

    # -- references ----------------------------------------------------------------------
    def ref(self, dotted: str, extra: Mapping[str, Any] | None = None) -> Any:
        """`team.id`, `member.username`, `fresh.id`, `now`, ... -> the value in this world."""
        head, _, rest = dotted.partition(".")
        if extra and head in extra:
            value: Any = extra[head]
        elif head in ("admin", "owner", "user", "member", "outsider"):
            value = self.account(head).ref()
        elif head == "now":
            value = int(time.time() * 1000)
        elif head == "started":
            value = self.started_ms
        elif head == "prefix":
            value = self.prefix
        elif head in self.objects:
            value = self.objects[head]
        else:
            raise KeyError(f"unknown reference {dotted!r}")
        for part in rest.split(".") if rest else ():
            value = value[part] if isinstance(value, Mapping) else getattr(value, part)
        return value

    def fill(self, template: Any, extra: Mapping[str, Any] | None = None) -> Any:
        """Replace `{ref}` placeholders in strings (recursively); a whole-string placeholder keeps
        the referenced value's type."""
        if isinstance(template, str):
            if template.startswith("{") and template.endswith("}") and template.count("{") == 1:
                return self.ref(template[1:-1], extra)
            if "{" in template:
                return _FORMAT.vformat(template, (), _Refs(self, extra))
            return template
        if isinstance(template, Mapping):
            return {key: self.fill(value, extra) for key, value in template.items()}
        if isinstance(template, list):
            return [self.fill(value, extra) for value in template]
        return template

    def name(self, kind: str) -> str:
        """A fresh lower-case name for an object of this run: `<prefix>-<kind><n>`."""
        self._counter += 1
        return f"{self.prefix}-{kind}{self._counter}"

    # -- provisioning ------------------------------------------------------------------
    def provision(self, *, team_name: str | None = None) -> None:
        """Create the run's team, accounts, channels, posts and preferences (accounts `user` and,
        optionally, `admin` must be logged in already)."""
        if "user" not in self.accounts:
            raise ProvisioningError("the regular user is not logged in")
        owner = "admin" if "admin" in self.accounts else "user"
        fake = self.faker
        if team_name:
            team = self._existing_team(team_name)
        else:
            team = self.api(
                owner,
                "POST",
                "teams/create",
                {
                    "name": f"{self.prefix}-team",
                    "display_name": f"{self.prefix} {fake.company()}"[:64],
                    "type": "O",
                    "allow_open_invite": True,
                    "description": fake.sentence(),
                },
            ).json()
            self.created.append(("team", team["id"]))
            if owner == "admin":
                self.api(
                    "admin",
                    "POST",
                    f"teams/{team['id']}/add_user_to_team",
                    {"user_id": self.account("user").id},
                )
        self.objects["team"] = team
        closed = self.api(
            owner,
            "POST",
            "teams/create",
            {"name": f"{self.prefix}-closed", "display_name": f"{self.prefix} closed", "type": "I"},
        ).json()
        self.created.append(("team", closed["id"]))
        self.objects["closed_team"] = closed

        # Accounts made through invites work on servers that are not open to sign-up.
        self._make_account("member", invite_id=team.get("invite_id", ""))
        self._make_account("outsider", invite_id=closed.get("invite_id", ""))

        tid = team["id"]
        self.objects["open_channel"] = self._channel(owner, tid, "open", "O")
        self.objects["private_channel"] = self._channel(owner, tid, "private", "P")
        for role in ("user", "member"):
            if role != owner and self.has(role):
                self.api(role, "POST", f"teams/{tid}/channels/{self.objects['open_channel']['id']}/join")
        ocid, pcid = self.objects["open_channel"]["id"], self.objects["private_channel"]["id"]
        word = f"{self.prefix}zebra"
        self.objects["search_word"] = {"value": word}
        root = self.post("user", ocid, f"{fake.sentence()} {word} #{self.prefix}tag")
        self.objects["root_post"] = root
        self.objects["reply_post"] = self.post(owner, ocid, fake.sentence(), root_id=root["id"])
        self.objects["private_post"] = self.post(owner, pcid, fake.sentence())
        self.objects["member_post"] = (
            self.post("member", ocid, fake.sentence()) if self.has("member") else root
        )
        user_id = self.account("user").id
        preference = {
            "user_id": user_id,
            "category": "display_settings",
            "name": "use_military_time",
            "value": "true",
        }
        self.api("user", "POST", "preferences/save", [preference])
        self.objects["preference"] = preference

    def _existing_team(self, name: str) -> dict:
        owner = "admin" if "admin" in self.accounts else "user"
        response = self.send(Call("GET", f"/api/v3/teams/name/{name}", role=owner))
        if response.status != 200:
            raise ProvisioningError(f"team {name!r} cannot be read by the {owner}: {response.brief()}")
        team = response.json()
        if owner == "admin":
            members = self.send(
                Call("GET", f"/api/v3/teams/{team['id']}/members/{self.account('user').id}", role="admin")
            )
            if members.status != 200:
                self.api(
                    "admin",
                    "POST",
                    f"teams/{team['id']}/add_user_to_team",
                    {"user_id": self.account("user").id},
                )
        if not team.get("invite_id"):
            # Only a team admin sees the invite id; the accounts of the run need it.
            raise ProvisioningError(f"team {name!r}: the {owner} is not its admin (no invite id visible)")
        return team

    def _make_account(self, role: str, *, invite_id: str) -> Account | None:
        fake = self.faker
        username = f"{self.prefix}{role}"
        password = fake.password(length=14)
        body = {
            "username": username,
            "email": f"{username}@example.com",
            "password": password,
            "first_name": fake.first_name(),
            "last_name": fake.last_name(),
            "nickname": fake.user_name()[:22],
        }
        response = self.send(
            Call("POST", "/api/v3/users/create", role="anon", json=body, query={"iid": invite_id})
        )
        if response.status != 200:
            raise ProvisioningError(f"creating the {role} account failed: {response.brief()}")
        user = response.json()
        self.created.append(("user", user["id"]))
        client = self.root.with_token(None)
        login = sign_in(client, username, password)
        if login.status != 200:
            raise ProvisioningError(f"the new {role} account cannot log in: {login.brief()}")
        return self.add_account(role, user, password, client)

    def _channel(self, role: str, team_id: str, kind: str, type_: str) -> dict:
        body = {
            "team_id": team_id,
            "name": f"{self.prefix}-{kind}",
            "display_name": f"{self.prefix} {kind}",
            "type": type_,
            "purpose": self.faker.sentence()[:200],
            "header": self.faker.sentence()[:200],
        }
        channel = self.api(role, "POST", f"teams/{team_id}/channels/create", body).json()
        self.created.append(("channel", channel["id"]))
        return channel

    def post(self, role: str, channel_id: str, message: str, **extra: Any) -> dict:
        team_id = self.objects["team"]["id"]
        body = {"channel_id": channel_id, "message": message, **extra}
        return self.api(role, "POST", f"teams/{team_id}/channels/{channel_id}/posts/create", body).json()

    # -- throwaway objects for destructive routes ---------------------------------------------
    def make_user(self, *, join_team: bool = True) -> dict[str, Any]:
        """A fresh account (logged in): {"user": ..., "password": ..., "token": ...}."""
        fake = self.faker
        username = self.name("u").replace("-", "")
        password = fake.password(length=14)
        invite = (self.objects["team"] if join_team else self.objects["closed_team"]).get("invite_id", "")
        body = {"username": username, "email": f"{username}@example.com", "password": password}
        response = self.send(
            Call("POST", "/api/v3/users/create", role="anon", json=body, query={"iid": invite})
        )
        if response.status != 200:
            raise ProvisioningError(f"creating a throwaway account failed: {response.brief()}")
        user = response.json()
        self.created.append(("user", user["id"]))
        client = self.root.with_token(None)
        sign_in(client, username, password)
        return {
            "user": user,
            "id": user["id"],
            "username": username,
            "email": f"{username}@example.com",
            "password": password,
            "token": client.token or "",
            "client": client,
        }

    def make_session(self, role: str = "user") -> dict[str, Any]:
        """A second session of an account: {"token": ..., "id": <session id>}."""
        account = self.account(role)
        client = self.root.with_token(None)
        # The sessions list hides tokens, and other xdist workers log the same account in at the
        # same time: a device id of its own is what tells this session apart.
        device = f"mmv3:{self.name('dev')}"
        response = sign_in(client, account.username, account.password, device_id=device)
        if response.status != 200 or not client.token:
            raise ProvisioningError(f"a second login of the {role} failed: {response.brief()}")
        session_id = ""
        sessions = self.send(Call("GET", f"/api/v3/users/{account.id}/sessions", token=client.token))
        if sessions.status == 200:
            listed = sessions.json() or []
            mine = [s for s in listed if s.get("token") == client.token or s.get("device_id") == device]
            if mine:
                session_id = mine[0].get("id", "")
            else:  # a server that records no device id: the newest session is the best guess
                session_id = next((s.get("id", "") for s in listed if _newest(s, listed)), "")
        return {"token": client.token, "id": session_id, "client": client}

    def make_channel(self, role: str = "owner", type_: str = "O") -> dict[str, Any]:
        team_id = self.objects["team"]["id"]
        kind = "ch" if type_ == "O" else "pch"
        body = {
            "team_id": team_id,
            "name": self.name(kind),
            "display_name": f"{self.prefix} {kind}",
            "type": type_,
        }
        channel = self.api(role, "POST", f"teams/{team_id}/channels/create", body).json()
        self.created.append(("channel", channel["id"]))
        return channel

    def make_post(self, role: str = "user", channel: str = "open_channel") -> dict[str, Any]:
        return self.post(role, self.objects[channel]["id"], self.faker.sentence())

    # -- carrying a world across processes ----------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        return {
            "base_url": self.base_url,
            "prefix": self.prefix,
            "seed": self.seed,
            "started_ms": self.started_ms,
            "accounts": {role: account.data() for role, account in self.accounts.items()},
            "objects": self.objects,
        }

    @classmethod
    def restore(
        cls,
        data: Mapping[str, Any],
        *,
        timeout: float | tuple[float, float] = 10.0,
        recorder: Any = None,
        worker: str = "",
    ) -> World:
        # Each process gets its own Faker stream so that names made there never collide.
        seed = int(data["seed"]) + sum(map(ord, worker))
        world = cls(data["base_url"], prefix=data["prefix"], seed=seed, timeout=timeout, recorder=recorder)
        world.started_ms = int(data["started_ms"])
        world._counter = 1000 * (1 + sum(map(ord, worker))) if worker else 0
        world.objects = dict(data["objects"])
        for role, values in data["accounts"].items():
            client = world.root.with_token(values["token"] or None, values["id"] or None)
            world.accounts[role] = Account(client=client, **values)
        return world

    def secrets(self) -> list[str]:
        """Every password and token of the run (reports must show none of them)."""
        values = []
        for account in self.accounts.values():
            values += [account.password, account.token]
        return [v for v in values if v]

    # -- clean-up -------------------------------------------------------------------------
    def clean_up(self) -> list[str]:
        """Delete what the API lets us delete (channels; accounts are deactivated by the admin).
        v3 cannot delete teams, posts of deleted channels stay. Returns what could not be removed."""
        left: list[str] = []
        team_id = self.objects.get("team", {}).get("id", "")
        todo = list(reversed(self.created))
        for n, (kind, ident) in enumerate(todo):
            try:
                if kind == "channel" and team_id:
                    response = self.send(
                        Call("POST", f"/api/v3/teams/{team_id}/channels/{ident}/delete", role="owner")
                    )
                elif kind == "user" and self.has("admin"):
                    response = self.send(
                        Call(
                            "POST",
                            "/api/v3/users/update_active",
                            role="admin",
                            json={"user_id": ident, "active": "false"},
                        )
                    )
                else:
                    left.append(f"{kind} {ident}")
                    continue
            except (ServerUnreachable, ServerTimeout):
                # The target no longer answers: asking again for each object would only wait out
                # one timeout after another (a run ended by a dead target must end in bounded time).
                left += [f"{k} {i}" for k, i in todo[n:]]
                break
            except (ClientError, MissingRole):
                left.append(f"{kind} {ident}")
                continue
            if response.status != 200:
                left.append(f"{kind} {ident}")
        return left


def _newest(session: Mapping[str, Any], sessions: list) -> bool:
    return session.get("create_at", 0) == max((s.get("create_at", 0) for s in sessions), default=0)


class _Refs(dict):
    def __init__(self, world: World, extra: Mapping[str, Any] | None) -> None:
        super().__init__()
        self._world, self._extra = world, extra

    def __missing__(self, key: str) -> Any:
        return self._world.ref(key, self._extra)


class _Formatter(string.Formatter):
    def get_field(self, field_name: str, args: Any, kwargs: Any) -> tuple[Any, str]:
        # Dotted references are looked up whole, not as attribute chains.
        return kwargs[field_name], field_name


_FORMAT = _Formatter()
