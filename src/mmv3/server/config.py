"""Mattermost settings the reference server's behaviour depends on.

The settings are kept in Mattermost's own config.json shape (sections of PascalCase keys),
seeded from the config the corpus server ran with, so `/admin/config` answers the real shape
and a user's config file can be passed as it is.
"""

from __future__ import annotations

import copy
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mmv3.ratelimit import Quota
from mmv3.versions import REFERENCE_BUILD_MARK

_DEFAULTS = Path(__file__).parent / "data" / "default_config.json"


class ConfigError(Exception):
    """An unreadable or ill-formed config file (one-line message)."""


class Config:
    """A thread-safe nested settings dict with dotted access: cfg["ServiceSettings.EnableAPIv3"]."""

    def __init__(self, data: dict[str, Any] | None = None) -> None:
        self._data = json.loads(_DEFAULTS.read_text())
        self._lock = threading.Lock()
        self.generation = 0  # bumped on every change; caches keyed on it (e.g. X-Version-Id)
        if data:
            self.merge(data)

    @classmethod
    def from_file(cls, path: str | Path) -> Config:
        try:
            data = json.loads(Path(path).read_text())
        except OSError as exc:
            raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
        except ValueError as exc:
            raise ConfigError(f"config file {path} is not valid JSON: {exc}") from None
        if not isinstance(data, dict):
            raise ConfigError(f"config file {path} must hold a JSON object of settings sections")
        return cls(data)

    def __getitem__(self, dotted: str) -> Any:
        section, _, key = dotted.partition(".")
        return self._data[section][key]

    def get(self, dotted: str, default: Any = None) -> Any:
        try:
            return self[dotted]
        except KeyError:
            return default

    def __setitem__(self, dotted: str, value: Any) -> None:
        section, _, key = dotted.partition(".")
        with self._lock:
            self._data.setdefault(section, {})[key] = value
            self.generation += 1

    def merge(self, data: dict[str, Any]) -> None:
        with self._lock:
            for section, values in data.items():
                if isinstance(values, dict) and isinstance(self._data.get(section), dict):
                    self._data[section].update(values)
                else:
                    self._data[section] = values
            self.generation += 1

    def replace(self, data: dict[str, Any]) -> None:
        """`/admin/save_config`: take a whole config (secrets sent back masked are kept)."""
        with self._lock:
            new = copy.deepcopy(data)
            for section, values in new.items():
                old = self._data.get(section)
                if isinstance(values, dict) and isinstance(old, dict):
                    for key, value in values.items():
                        if value == "*" * 32 and key in old:
                            values[key] = old[key]
            self._data = new
            self.generation += 1

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return copy.deepcopy(self._data)

    def set_rate_limit(self, quota: Quota | None) -> None:
        """Switch the limiter on with `quota`, or off with None (PerSec kept an int, as Go decodes it)."""
        if quota is None:
            self["RateLimitSettings.Enable"] = False
            return
        rate = int(quota.per_sec) if float(quota.per_sec).is_integer() else quota.per_sec
        self.merge({"RateLimitSettings": {"Enable": True, "PerSec": rate, "MaxBurst": quota.max_burst}})

    @property
    def quota(self) -> Quota | None:
        """The rate-limit quota when RateLimitSettings.Enable, else None."""
        if not self.get("RateLimitSettings.Enable"):
            return None
        return Quota(float(self["RateLimitSettings.PerSec"]), int(self["RateLimitSettings.MaxBurst"]))


@dataclass
class ServerOptions:
    """How this process runs, as opposed to what Mattermost settings say."""

    db: str = ".mmv3/mmv3.db"
    data_dir: str | None = None  # files, emoji, logs; defaults beside the database
    bcrypt_cost: int = 10
    faults: frozenset[str] = field(default_factory=frozenset)
    limiter_clock: Callable[[], float] = time.monotonic  # the rate limiter's time (tests hold it)
    build_number: str = "4.9.0-rc3" + REFERENCE_BUILD_MARK  # tells mmv3 serve from a real 4.9.0-rc3
    version: str = "4.9.0"
