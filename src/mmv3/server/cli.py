"""`mmv3 serve`: arguments and the foreground run."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading

from mmv3.ratelimit import Quota


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8065, help="port (default 8065; 0 picks a free one)")
    parser.add_argument(
        "--db", default=".mmv3/mmv3.db", help="SQLite file, or :memory: (default .mmv3/mmv3.db)"
    )
    limit = parser.add_mutually_exclusive_group()
    limit.add_argument(
        "--rate-limit", metavar="PERSEC/BURST", help="enable the rate limiter (default 10/100)"
    )
    limit.add_argument("--no-rate-limit", action="store_true", help="disable the rate limiter")
    parser.add_argument(
        "--vary-by",
        default="remote-addr",
        metavar="remote-addr|header:NAME",
        help="rate-limit key (default: the client address)",
    )
    parser.add_argument(
        "--fault", action="append", default=[], metavar="NAME", help="break one rule (repeatable)"
    )
    parser.add_argument("--list-faults", action="store_true", help="list the fault switches and exit")
    parser.add_argument("--config", metavar="FILE", help="a Mattermost config.json to start from")
    parser.add_argument("--bcrypt-cost", type=int, default=10, help="bcrypt cost for passwords (default 10)")
    accounts = parser.add_argument_group(
        "accounts", "made on start when missing (the admin also made system admin), for mmv3 check and Locust"
    )
    accounts.add_argument(
        "--admin", metavar="NAME", help="a system admin, password from --admin-password-env"
    )
    accounts.add_argument("--user", metavar="NAME", help="a regular user, password from --password-env")
    accounts.add_argument(
        "--admin-password-env", metavar="VAR", default="MMV3_ADMIN_PASSWORD",
        help="variable holding the admin's password (default MMV3_ADMIN_PASSWORD, as mmv3 check)",
    )  # fmt: skip
    accounts.add_argument(
        "--password-env", metavar="VAR", default="MMV3_PASSWORD",
        help="variable holding the user's password (default MMV3_PASSWORD, as mmv3 check)",
    )  # fmt: skip


def _fail(message: str) -> int:
    print(f"mmv3 serve: {message}", file=sys.stderr)
    return 2


def _accounts(args: argparse.Namespace) -> list:
    """The accounts asked for, with their passwords from the environment (ValueError if missing)."""
    from mmv3.server.accounts_on_start import Account

    wanted = []
    for role, name, variable in (
        ("admin", args.admin, args.admin_password_env),
        ("user", args.user, args.password_env),
    ):
        if name:
            password = os.environ.get(variable, "")
            if not password:
                raise ValueError(f"--{role} {name} needs its password in the environment variable {variable}")
            wanted.append(Account(role, name, password))
    return wanted


def run_serve_command(args: argparse.Namespace) -> int:
    from mmv3.server.faults import UnknownFault, check_names, describe

    if args.list_faults:
        print(describe())
        return 0
    from mmv3.server.accounts_on_start import AccountError, ensure
    from mmv3.server.app import ReferenceServer
    from mmv3.server.config import Config, ConfigError, ServerOptions
    from mmv3.server.runner import RunningServer
    from mmv3.server.store import StoreError

    try:
        faults = check_names(args.fault)
        config = Config.from_file(args.config) if args.config else Config()
        if args.no_rate_limit:
            config.set_rate_limit(None)
        elif args.rate_limit:
            config.set_rate_limit(Quota.parse(args.rate_limit))
        else:
            config["RateLimitSettings.Enable"] = True
        vary_header = None
        if args.vary_by.startswith("header:") and len(args.vary_by) > 7:
            vary_header = args.vary_by[7:]
            config["RateLimitSettings.VaryByRemoteAddr"] = False
        elif args.vary_by != "remote-addr":
            return _fail(f"--vary-by must be remote-addr or header:NAME, got {args.vary_by!r}")
        if not 4 <= args.bcrypt_cost <= 31:
            return _fail("--bcrypt-cost must be between 4 and 31")
        accounts = _accounts(args)
        options = ServerOptions(db=args.db, bcrypt_cost=args.bcrypt_cost, faults=faults)
        app = ReferenceServer(config, options, vary_by_header=vary_header)
        made = ensure(app, accounts)
        server = RunningServer(app, args.host, args.port)
    except (UnknownFault, ValueError, ConfigError, StoreError, AccountError) as exc:
        return _fail(str(exc))
    except OSError as exc:
        return _fail(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}")

    def stop(signum: int, frame: object) -> None:
        threading.Thread(target=server.httpd.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    quota = config.quota
    limit = f"rate limit {quota.per_sec:g}/s burst {quota.max_burst}" if quota else "no rate limit"
    extra = f", faults: {', '.join(sorted(faults))}" if faults else ""
    for line in made:
        print(f"mmv3 serve: {line}", flush=True)
    print(
        f"mmv3 reference server (Mattermost 4.9 API v3) listening on {server.url} ({limit}{extra})",
        flush=True,
    )
    try:
        server.serve_forever()
    finally:
        server.httpd.server_close()
        app.store.close()
    print("mmv3 serve: stopped", flush=True)
    return 0
