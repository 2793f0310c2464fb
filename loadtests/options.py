"""mmv3's options on Locust's own command line (each also read from its environment variable),
parsed into the process's RunState when Locust initialises."""

from __future__ import annotations

import sys
from typing import Any

from locust import events
from mmv3.load.settings import DEFAULT_RUN_TIME, OPTIONS, Settings, SettingsError
from mmv3.load.thresholds import Thresholds, ThresholdsError

from state import RunState, logger


@events.init_command_line_parser.add_listener
def add_options(parser: Any, **_kwargs: Any) -> None:
    for option in OPTIONS:
        kwargs: dict[str, Any] = {
            "dest": option.dest,  # the web UI's form labels the field from it ("Max Requests")
            "env_var": option.env,
            "default": option.default,
            "help": f"{option.help} [env {option.env}]",
            "include_in_web_ui": option.per_run and not option.secret,
        }
        if option.flag_only:
            parser.add_argument(option.flag, action="store_true", **kwargs)
        else:
            parser.add_argument(option.flag, type=option.type, choices=option.choices, **kwargs)


def _fail(message: str) -> None:
    sys.stderr.write(f"mmv3: {message}\n")
    sys.exit(2)


def load(options: Any, *, worker: bool = False) -> tuple[Settings, Thresholds | None]:
    """The settings and thresholds from Locust's options (SettingsError / ThresholdsError). A
    worker reads no master-only option (the admin, the thresholds file, the reports...): the
    master checks those, and its options replace the worker's with every spawn message."""
    settings = Settings.from_namespace(options, worker=worker)
    if worker or not settings.thresholds:
        return settings, None
    return settings, Thresholds.load(settings.thresholds)


@events.init.add_listener
def read_settings(environment: Any, **_kwargs: Any) -> None:
    options = environment.parsed_options
    try:
        settings, thresholds = load(options, worker=bool(getattr(options, "worker", False)))
    except (SettingsError, ThresholdsError) as exc:
        _fail(str(exc))
    state = RunState(environment, settings)
    state.thresholds = thresholds
    environment.mmv3 = state
    if state.is_worker:
        return
    if options is not None and not options.run_time:
        # Every run is bounded: without --run-time, this default applies.
        options.run_time = DEFAULT_RUN_TIME
        logger.info("no --run-time given, the run stops after %d s", DEFAULT_RUN_TIME)
