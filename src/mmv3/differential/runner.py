"""`mmv3 diff`: the generated cases against a live target and a fresh `mmv3 serve`, compared.

Both servers get the same run: the accounts log in (the fresh serve makes them first, with the
target's user names and passwords of its own), the run's team, channels and posts are made on
each, then every case is sent to the target and to serve in turn, each answer normalised
(`shape.observe`) and compared (`shape.compare`). A websocket sequence follows: the user
listens while another account posts, types and reacts; the events' names, data keys and
broadcast keys are compared. Each difference is one line on stdout; the JSON report goes to
`reports/`. Requests are paced by the client library from the X-Ratelimit-* headers.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mmv3 import exitcodes
from mmv3.catalog import CatalogError, load_catalog
from mmv3.client import Client, ClientError, ServerTimeout, ServerUnreachable
from mmv3.differential.cases import Case, generate
from mmv3.differential.known import known_reason
from mmv3.differential.shape import Observation, compare, keys, observe
from mmv3.provision import Call, MissingRole, ProvisioningError, World, run_prefix
from mmv3.recipes import SetupFailed, build, prepare

# The fresh serve's settings: a default 4.9 apart from an open server, as the targets are set up.
SERVE_CONFIG = {"TeamSettings": {"EnableOpenServer": True}}
_PREFLIGHT_EXITS = {
    10: exitcodes.UNREACHABLE, 11: exitcodes.UNREACHABLE, 12: exitcodes.NOT_V3, 13: exitcodes.CREDENTIALS,
    14: exitcodes.CREDENTIALS, 15: exitcodes.INTERNAL,
}  # fmt: skip
WEBSOCKET_WAIT = 3.0  # seconds a websocket sequence waits for its events (a bounded poll)


class DiffError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


class TargetGone(DiffError):
    def __init__(self, side: str, exc: ClientError) -> None:
        super().__init__(exitcodes.UNREACHABLE, f"the {side} stopped answering: {exc}")


@dataclass
class Side:
    name: str  # "real" or "serve"
    world: World
    requests: int = 0
    unanswered: int = 0


@dataclass
class Difference:
    route: str
    case: str
    differs: list[str]
    real: dict[str, Any] | None = None
    serve: dict[str, Any] | None = None
    known: str | None = None  # why serve differs on purpose (mmv3.differential.known)

    def line(self) -> str:
        return f"{self.route} [{self.case}]: {'; '.join(self.differs)}"


@dataclass
class Outcome:
    cases: int = 0
    compared: int = 0
    skipped: list[dict[str, str]] = field(default_factory=list)
    differences: list[Difference] = field(default_factory=list)
    known: list[Difference] = field(default_factory=list)

    def add(self, difference: Difference) -> None:
        difference.known = known_reason(difference.route, difference.case)
        (self.known if difference.known else self.differences).append(difference)


# -- the two servers --------------------------------------------------------------------------------
def _connect(name: str, base_url: str, user: str, password: str, admin: str, admin_password: str,
             prefix: str, seed: int, timeout: float) -> Side:  # fmt: skip
    from mmv3.suite import preflight

    try:
        client = Client(base_url, timeout=timeout)
    except ValueError as exc:
        raise DiffError(exitcodes.USAGE, f"--base-url: {exc}") from None
    try:
        preflight.check_server(client)
        world = World(client.base_url, prefix=prefix, seed=seed, timeout=timeout)
        preflight.log_in_accounts(world, {"user": (user, password), "admin": (admin, admin_password)})
        world.provision()
    except preflight.PreflightError as exc:
        raise DiffError(_PREFLIGHT_EXITS.get(int(exc.code), exitcodes.INTERNAL), f"{name}: {exc}") from None
    except ProvisioningError as exc:
        raise DiffError(exitcodes.CREDENTIALS, f"{name}: provisioning failed: {exc}") from None
    except ClientError as exc:
        raise DiffError(exitcodes.UNREACHABLE, f"{name}: {exc}") from None
    return Side(name, world)


@contextlib.contextmanager
def fresh_serve(user: str, admin: str, faults: tuple[str, ...]) -> Iterator[tuple[str, str, str]]:
    """A fresh reference server with the target's account names: (url, user password, admin password)."""
    from mmv3.server import running_server
    from mmv3.server.faults import UnknownFault

    with contextlib.ExitStack() as stack:
        try:
            server = stack.enter_context(running_server(faults=faults, config=SERVE_CONFIG))
        except UnknownFault as exc:
            raise DiffError(exitcodes.USAGE, str(exc)) from None
        try:
            passwords = {}
            with Client(server.url, timeout=30) as client:
                for name in (admin, user):  # the first account made is the system admin
                    if not name:
                        continue
                    secret = secrets.token_urlsafe(12)
                    body = {"username": name, "email": f"{name}@example.com", "password": secret}
                    response = client.post("users/create", json=body, auth=False)
                    if response.status != 200:
                        raise DiffError(
                            exitcodes.INTERNAL, f"the fresh mmv3 serve refused the account {name!r}"
                        )
                    passwords[name] = secret
            yield server.url, passwords[user], passwords.get(admin, "")
        except ClientError as exc:
            raise DiffError(exitcodes.INTERNAL, f"the fresh mmv3 serve does not answer: {exc}") from None


def mirror_settings(real: Side, serve_url: str, admin: str, admin_password: str, timeout: float) -> str:
    """Give the fresh serve the target's settings (admin/config → admin/save_config), so both
    answer by the same switches (outgoing hooks, open server, limits…). Returns what was done."""
    if not real.world.has("admin") or not admin_password:
        return "not mirrored (no --admin): the fresh serve runs with default settings"
    try:
        response = real.world.send(Call("GET", "/api/v3/admin/config", role="admin"))
        if response.status != 200:
            return f"not mirrored: the target's admin/config answered {response.status}"
        config = response.json()
        with Client(serve_url, timeout=timeout) as client:
            client.login(admin, admin_password)
            saved = client.post("admin/save_config", json=config)
    except (ServerUnreachable, ServerTimeout) as exc:
        raise TargetGone("target", exc) from None
    except ClientError as exc:
        return f"not mirrored: {exc}"
    if saved.status != 200:
        return f"not mirrored: the fresh serve refused the target's config ({saved.status})"
    return "mirrored from the target's admin/config"


# -- sending ----------------------------------------------------------------------------------------
def _observe_case(side: Side, case: Case, catalog_method: str, template: str) -> Observation | str:
    """The normalised answer, or a string saying why the case does not apply on this side."""
    world = side.world
    try:
        extra = prepare(world, case.request)
        call = build(world, catalog_method, template, case.request, extra,
                     default_role=case.default_role, label=case.key)  # fmt: skip
    except MissingRole as exc:
        return f"no {exc.args[0]} account"
    except (SetupFailed, ProvisioningError, KeyError) as exc:
        return f"setup failed: {exc}"
    except (ServerUnreachable, ServerTimeout) as exc:
        raise TargetGone(side.name, exc) from None
    except ClientError as exc:
        return f"setup failed: {exc}"
    if case.transform is not None:
        call = case.transform(call)
        if call is None:
            return "does not apply"
    side.requests += 1
    try:
        response = world.send(call)
    except ServerTimeout:
        side.unanswered += 1
        if side.unanswered >= 3:
            raise DiffError(
                exitcodes.UNREACHABLE, f"the {side.name} stopped answering (3 timeouts)"
            ) from None
        return Observation(0, "", [], None, None, {"no answer": "timeout"})
    except ServerUnreachable as exc:
        raise TargetGone(side.name, exc) from None
    except MissingRole as exc:
        return f"no {exc.args[0]} account"
    side.unanswered = 0
    return observe(response.status, response.header_items, response.content)


def run_cases(
    real: Side, serve: Side, cases: list[Case], outcome: Outcome, *, progress: bool = False
) -> None:
    for n, case in enumerate(cases, 1):
        method, template = case.route.split(" ", 1)
        outcome.cases += 1
        a = _observe_case(real, case, method, template)
        b = _observe_case(serve, case, method, template)
        if isinstance(a, str) or isinstance(b, str):
            if a == b or (isinstance(a, str) and isinstance(b, str)):
                outcome.skipped.append({"route": case.route, "case": case.name, "why": str(a)})
                continue
            why = f"real: {a if isinstance(a, str) else a.status}, serve: {b if isinstance(b, str) else b.status}"
            outcome.add(Difference(case.route, case.name, [f"applies on one side only ({why})"]))
            continue
        outcome.compared += 1
        differs = compare(a, b)
        if differs:
            outcome.add(Difference(case.route, case.name, differs, a.to_json(), b.to_json()))
        if progress and n % 100 == 0:
            print(f"  {n}/{len(cases)} cases, {len(outcome.differences)} differences", file=sys.stderr)


# -- websocket sequences ----------------------------------------------------------------------------
def _events(side: Side) -> list[dict[str, Any]] | str:
    """Listen as the user while the member posts, edits, reacts and the user types: the events."""
    try:
        import websocket as wsclient
    except ImportError:
        return "websocket-client is not installed"
    world = side.world
    url = world.base_url.replace("http://", "ws://").replace("https://", "wss://") + "/api/v3/users/websocket"
    token = world.account("user").token
    team, channel = world.objects["team"]["id"], world.objects["open_channel"]["id"]
    actor = "member" if world.has("member") else "user"
    seen: list[dict[str, Any]] = []
    try:
        conn = wsclient.create_connection(
            url, timeout=WEBSOCKET_WAIT, header=[f"Authorization: Bearer {token}"]
        )
    except Exception as exc:  # noqa: BLE001 - any failure to connect is the observation
        return f"no websocket: {type(exc).__name__}"
    try:
        # The connection is registered once its `hello` is out: act only after it (events sent
        # before would be missed on either server).
        hello_by = time.monotonic() + WEBSOCKET_WAIT
        while time.monotonic() < hello_by:
            seen.append(json.loads(conn.recv()))
            if seen[-1].get("event") == "hello":
                break
        post = world.api(
            actor,
            "POST",
            f"teams/{team}/channels/{channel}/posts/create",
            {"channel_id": channel, "message": f"@{world.account('user').username} diff"},
        ).json()
        world.api(
            actor, "POST", f"teams/{team}/channels/{channel}/posts/update", {**post, "message": "diff edited"}
        )
        conn.send(json.dumps({"seq": 1, "action": "user_typing", "data": {"channel_id": channel}}))
        conn.send(json.dumps({"seq": 2, "action": "get_statuses"}))
        deadline = time.monotonic() + WEBSOCKET_WAIT
        while time.monotonic() < deadline:
            try:
                message = json.loads(conn.recv())
            except Exception:  # noqa: BLE001 - the wait is over (timeout) or the socket closed
                break
            seen.append(message)
            if message.get("seq_reply") == 2 and any(m.get("event") == "post_edited" for m in seen):
                break
    except ProvisioningError as exc:
        return f"setup failed: {exc}"
    except Exception as exc:  # noqa: BLE001 - no hello in time, or the socket closed early
        return f"websocket failed before the sequence: {type(exc).__name__}"
    finally:
        conn.close()
    return seen


def _event_summary(message: dict[str, Any]) -> str:
    if "seq_reply" in message:
        return f"reply {message.get('status')} data={keys(message.get('data'))}"
    return (
        f"{message.get('event')} data={keys(message.get('data'))} broadcast={keys(message.get('broadcast'))}"
    )


def run_websocket(real: Side, serve: Side, outcome: Outcome) -> None:
    outcome.cases += 1
    a, b = _events(real), _events(serve)
    if isinstance(a, str) or isinstance(b, str):
        if a == b:
            outcome.skipped.append({"route": "websocket", "case": "events", "why": str(a)})
        else:
            outcome.add(
                Difference(
                    "websocket",
                    "events",
                    [
                        f"real: {a if isinstance(a, str) else 'events'}, serve: {b if isinstance(b, str) else 'events'}"
                    ],
                )
            )
        return
    outcome.compared += 1
    # Statuses come and go with other users of a shared server: compare the set of kinds seen.
    left = sorted({_event_summary(m) for m in a if m.get("event") != "status_change"})
    right = sorted({_event_summary(m) for m in b if m.get("event") != "status_change"})
    if left != right:
        only_real = [e for e in left if e not in right]
        only_serve = [e for e in right if e not in left]
        outcome.add(
            Difference(
                "websocket", "events", [f"only real {only_real or '[]'}, only serve {only_serve or '[]'}"]
            )
        )


# -- the command ------------------------------------------------------------------------------------
def add_diff_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--base-url", required=True, metavar="URL", help="the live Mattermost to compare with"
    )
    parser.add_argument(
        "--user", required=True, metavar="NAME", help="a regular user (password: MMV3_PASSWORD)"
    )
    parser.add_argument("--admin", metavar="NAME", help="a system admin (password: MMV3_ADMIN_PASSWORD)")
    parser.add_argument(
        "--only", default="", metavar="TEXT", help="only routes whose 'METHOD /template' contains TEXT"
    )
    parser.add_argument(
        "--fuzz", type=int, default=0, metavar="N", help="N seeded mutations per JSON object body (default 0)"
    )
    parser.add_argument("--no-websocket", action="store_true", help="skip the websocket sequence")
    parser.add_argument(
        "--serve-fault",
        action="append",
        default=[],
        metavar="NAME",
        help="start the fresh serve with this fault switch (repeatable; proves the runner)",
    )
    parser.add_argument("--report", metavar="FILE", help="the JSON report (default reports/diff-<time>.json)")
    parser.add_argument("--timeout", type=float, default=30.0, metavar="S", help="per request (default 30)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the generated names (default 1)")
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")  # fmt: skip


def _cases_or_usage(cases: list[Case], only: str) -> None:
    if not cases:
        raise DiffError(exitcodes.USAGE, f"--only {only!r} matches no route with a recipe")


def diff(args: argparse.Namespace) -> tuple[Outcome, dict[str, Any]]:
    password = os.environ.get("MMV3_PASSWORD", "")
    admin_password = os.environ.get("MMV3_ADMIN_PASSWORD", "") if args.admin else ""
    if not password:
        raise DiffError(exitcodes.USAGE, "set MMV3_PASSWORD to the password of --user")
    if args.admin and not admin_password:
        raise DiffError(exitcodes.USAGE, "set MMV3_ADMIN_PASSWORD to the password of --admin")
    try:
        catalog = load_catalog()
    except CatalogError as exc:
        raise DiffError(exitcodes.INTERNAL, str(exc)) from None
    cases = generate(catalog, args.only, args.fuzz)
    _cases_or_usage(cases, args.only)
    prefix = run_prefix()
    real = _connect("target", args.base_url, args.user, password, args.admin or "", admin_password,
                    prefix, args.seed, args.timeout)  # fmt: skip
    outcome = Outcome()
    started = time.time()
    with fresh_serve(args.user, args.admin or "", tuple(args.serve_fault)) as (url, spw, sapw):
        settings = mirror_settings(real, url, args.admin or "", sapw, args.timeout)
        serve = _connect(
            "mmv3 serve", url, args.user, spw, args.admin or "", sapw, prefix, args.seed, args.timeout
        )
        run_cases(real, serve, cases, outcome, progress=not args.quiet)
        if not args.no_websocket and not args.only:
            run_websocket(real, serve, outcome)
        real.world.clean_up()
    summary = {
        "target": real.world.base_url,
        "serve_faults": list(args.serve_fault),
        "serve_settings": settings,
        "only": args.only,
        "seconds": round(time.time() - started, 1),
        "requests": {"real": real.requests, "serve": serve.requests},
        "cases": outcome.cases,
        "compared": outcome.compared,
        "skipped": len(outcome.skipped),
        "differences": len(outcome.differences),
        "known": len(outcome.known),
    }
    return outcome, summary


def write_report(path: Path, outcome: Outcome, summary: dict[str, Any]) -> None:
    report = {
        "summary": summary,
        "differences": [d.__dict__ for d in outcome.differences],
        "known": [d.__dict__ for d in outcome.known],
        "skipped": outcome.skipped,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n")


def run_diff_command(args: argparse.Namespace) -> int:
    try:
        outcome, summary = diff(args)
    except DiffError as exc:
        print(f"mmv3 diff: {exc}", file=sys.stderr)
        return exc.code
    path = Path(args.report) if args.report else Path("reports") / time.strftime("diff-%Y%m%d-%H%M%S.json")
    write_report(path, outcome, summary)
    for difference in outcome.differences:
        print(difference.line())
    print(
        f"{summary['cases']} cases ({summary['requests']['real']} requests to the target, "
        f"{summary['requests']['serve']} to mmv3 serve), {summary['compared']} compared, "
        f"{summary['skipped']} skipped, {summary['differences']} differences "
        f"({summary['known']} more known and listed in the report); report: {path}"
    )
    return exitcodes.CONFORMANCE_FAILED if outcome.differences else exitcodes.OK
