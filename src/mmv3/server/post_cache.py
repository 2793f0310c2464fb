"""A channel's newest posts and latest post change, kept in memory between writes.

Real 4.9 keeps two LRU caches in its post store (1,000 channels, 15 minutes): a channel's first
page of 30 or 60 posts and the time of its latest post change (the posts etag, which also
answers `since` without a query when nothing changed since). The app drops both when it saves,
edits or deletes a post of that channel. Here the store drops a channel's entries on every
write to a post of that channel (reactions and pins too, which also move a post's update_at),
so a write is seen by the next read. No time limit is needed for that.

Reads fill the cache only when no write to the channel happened while they read (a generation
number per channel), and never inside a transaction, whose writes may still be rolled back.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

CHANNELS = 1000  # as 4.9's LAST_POSTS_CACHE_SIZE
MAX_LIMIT = 200  # first pages cached up to this many posts


class PostCache:
    def __init__(self, size: int = CHANNELS) -> None:
        self._size = size
        self._lock = threading.Lock()
        self._entries: OrderedDict[str, dict[Any, Any]] = OrderedDict()
        self._generation: dict[str, int] = {}
        self._epoch = 0  # bumped when everything is dropped
        self.hits = 0
        self.misses = 0

    def generation(self, channel_id: str) -> tuple[int, int]:
        with self._lock:
            return self._epoch, self._generation.get(channel_id, 0)

    def get(self, channel_id: str, key: Any) -> Any:
        with self._lock:
            entry = self._entries.get(channel_id)
            if entry is None or key not in entry:
                self.misses += 1
                return None
            self._entries.move_to_end(channel_id)
            self.hits += 1
            return entry[key]

    def put(self, channel_id: str, key: Any, value: Any, generation: tuple[int, int]) -> None:
        """Keep `value` unless the channel changed since `generation` was read."""
        with self._lock:
            if (self._epoch, self._generation.get(channel_id, 0)) != generation:
                return
            entry = self._entries.setdefault(channel_id, {})
            entry[key] = value
            self._entries.move_to_end(channel_id)
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)

    def changed(self, channel_id: str | None) -> None:
        """A post of `channel_id` was written (None: of some channel, which one is not known)."""
        with self._lock:
            if channel_id is None:
                self._epoch += 1
                self._entries.clear()
                self._generation.clear()
                return
            self._generation[channel_id] = self._generation.get(channel_id, 0) + 1
            self._entries.pop(channel_id, None)
