"""A fault-injecting HTTP/1.1 proxy on 127.0.0.1 for the chaos tests (tests/suite/test_chaos.py).

It sits between the suite and a `mmv3 serve` upstream and forwards one request at a time per
client connection (keep-alive kept), so that faults can be decided per request:

- `latency`: a fraction of the answers are held back by a delay drawn from a range (spikes);
- `reset`: a fraction of the requests get their connection reset (RST) instead of being forwarded;
- `truncate`: a fraction of the answers are cut in the middle of the body, then the connection closed;
- `blackhole`: every request from now on is read and never answered (the connection is held open).

Faults switch at runtime (`set_faults`), every decision comes from one RNG seeded at creation
(the same seed gives the same sequence of decisions), and `retarget` points the proxy at another
upstream, for a server restarted on another port. `stats` counts what was done.

Enough HTTP for the suite and the reference server: request bodies by Content-Length, answers by
Content-Length, chunked or close-delimited; a 101 answer turns the connection into a plain pipe.
"""

from __future__ import annotations

import asyncio
import random
import socket
import struct
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from urllib.parse import urlsplit

MAX_HEAD = 65536
NO_BODY_STATUSES = (204, 304)


@dataclass(frozen=True)
class Faults:
    latency_ratio: float = 0.0  # fraction of answers delayed
    latency: tuple[float, float] = (0.0, 0.0)  # the delay, seconds, uniform in this range
    reset_ratio: float = 0.0  # fraction of requests whose connection is reset
    truncate_ratio: float = 0.0  # fraction of answers cut short
    # "close": the body is cut and the connection closed (the Content-Length says more was due);
    # "relabel": the cut body goes out with a Content-Length that matches it, and the connection stays.
    truncate_mode: str = "close"
    blackhole: bool = False  # no answer at all from now on


@dataclass
class Stats:
    requests: int = 0  # requests read from clients
    forwarded: int = 0  # answers passed back whole
    delayed: int = 0
    reset: int = 0
    truncated: int = 0
    held: int = 0  # requests swallowed by the black hole
    upstream_failed: int = 0  # the upstream refused or dropped the connection
    events: list[str] = field(default_factory=list)  # "reset POST /api/v3/users/login" ...


class UpstreamGone(Exception):
    pass


class ChaosProxy:
    """The proxy, running on an event loop in a thread of its own."""

    def __init__(self, upstream: str, *, seed: int = 14) -> None:
        self._upstream = _host_port(upstream)
        self._faults = Faults()
        self._seed = seed
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self.stats = Stats()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="chaos-proxy", daemon=True)
        self._server: asyncio.base_events.Server | None = None
        self._released: asyncio.Event | None = None
        self._clients: set[asyncio.StreamWriter] = set()
        self.port = 0

    # -- control (from the test's thread) -----------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ChaosProxy:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._listen(), self._loop).result(timeout=10)
        return self

    def stop(self) -> None:
        async def close() -> None:
            assert self._server is not None and self._released is not None
            self._released.set()  # let the held connections go
            self._server.close()
            for writer in list(self._clients):
                writer.transport.abort()  # idle keep-alive connections end too
            others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            if others:
                await asyncio.wait(others, timeout=5)

        if self._thread.is_alive():
            asyncio.run_coroutine_threadsafe(close(), self._loop).result(timeout=10)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
        self._loop.close()

    def set_faults(self, **changes: object) -> Faults:
        """Switch faults on or off (the fields of `Faults`); unnamed fields keep their value.

        The RNG starts again from the seed: the n-th request after a switch meets the same fate
        in every run, whatever came before it."""
        with self._lock:
            self._faults = replace(self._faults, **changes)  # type: ignore[arg-type]
            self._rng = random.Random(self._seed)
            return self._faults

    def close_listener(self) -> None:
        """Stop accepting connections (new ones are refused) and drop the open ones."""

        async def close() -> None:
            assert self._server is not None
            self._server.close()
            for writer in list(self._clients):
                _reset(writer)

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(timeout=10)

    def retarget(self, upstream: str) -> None:
        """New connections go to `upstream` from now on (open ones keep theirs until they fail)."""
        with self._lock:
            self._upstream = _host_port(upstream)

    def wait_for(self, requests: int, timeout: float) -> bool:
        """Block until the proxy has read `requests` requests in all, or `timeout` passed."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while self.stats.requests < requests:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._changed.wait(left)
        return True

    # -- the proxy (on the loop) --------------------------------------------------------------
    async def _listen(self) -> None:
        self._released = asyncio.Event()
        self._server = await asyncio.start_server(self._serve_client, "127.0.0.1", 0, backlog=256)
        self.port = self._server.sockets[0].getsockname()[1]

    def _decide(self, line: str) -> tuple[str, float, str]:
        """What to do with the next request: forward | delay | reset | truncate | hold."""
        with self._changed:
            self.stats.requests += 1
            self._changed.notify_all()
            faults, rng = self._faults, self._rng
            # Draw every number every time: the sequence of decisions depends on the seed only.
            draws = rng.random(), rng.random(), rng.random(), rng.uniform(*faults.latency)
            if faults.blackhole:
                action = "hold"
            elif draws[0] < faults.reset_ratio:
                action = "reset"
            elif draws[1] < faults.truncate_ratio:
                action = "truncate"
            elif draws[2] < faults.latency_ratio:
                action = "delay"
            else:
                action = "forward"
            if action != "forward":
                self.stats.events.append(f"{action} {line}")
            return action, draws[3], faults.truncate_mode

    def _count(self, what: str) -> None:
        with self._lock:
            setattr(self.stats, what, getattr(self.stats, what) + 1)

    async def _serve_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        self._clients.add(writer)
        try:
            while True:
                head = await _read_head(reader)
                if head is None:
                    return
                request = head + await _read_request_body(reader, head)
                line = head.split(b"\r\n", 1)[0].decode("latin-1")
                action, delay, mode = self._decide(" ".join(line.split(" ")[:2]))
                if action == "hold":
                    self._count("held")
                    assert self._released is not None
                    await self._released.wait()
                    return
                if action == "reset":
                    self._count("reset")
                    _reset(writer)
                    return
                try:
                    if upstream is not None and upstream[0].at_eof():
                        upstream[1].close()  # the server closed it while idle: as a client would, reconnect
                        upstream = None
                    if upstream is None:
                        upstream = await self._connect()
                    upstream[1].write(request)
                    await upstream[1].drain()
                    answer_head, body, keep = await _read_answer(upstream[0], line.startswith("HEAD "))
                except (OSError, asyncio.IncompleteReadError, UpstreamGone):
                    # The server went away with this request: so does the client's connection.
                    self._count("upstream_failed")
                    return
                status = _status(answer_head)
                if status == 101:
                    writer.write(answer_head + body)
                    await writer.drain()
                    await _pipe_both(reader, writer, *upstream)
                    return
                if action == "delay":
                    self._count("delayed")
                    await asyncio.sleep(delay)
                if action == "truncate" and len(body) >= 2 and _header(answer_head, b"content-length"):
                    self._count("truncated")
                    cut = body[: len(body) // 2]
                    if mode == "relabel":
                        writer.write(_relabel(answer_head, len(cut)) + cut)
                        await writer.drain()
                        continue
                    writer.write(answer_head + cut)
                    await writer.drain()
                    return
                writer.write(answer_head + body)
                await writer.drain()
                self._count("forwarded")
                if not keep or b"connection: close" in head.lower():
                    return
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
            return
        finally:
            self._clients.discard(writer)
            for stream in (writer, upstream[1] if upstream else None):
                if stream is not None:
                    stream.close()

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        with self._lock:
            host, port = self._upstream
        return await asyncio.open_connection(host, port)


# -- HTTP framing ---------------------------------------------------------------------------------
async def _read_head(reader: asyncio.StreamReader) -> bytes | None:
    """The request or status line and headers, through the blank line; None at a clean EOF."""
    try:
        return await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if not exc.partial:
            return None
        raise


def _header(head: bytes, name: bytes) -> bytes | None:
    for line in head.split(b"\r\n")[1:]:
        key, sep, value = line.partition(b":")
        if sep and key.strip().lower() == name:
            return value.strip()
    return None


async def _read_request_body(reader: asyncio.StreamReader, head: bytes) -> bytes:
    if (_header(head, b"transfer-encoding") or b"").lower() == b"chunked":
        return await _read_chunked(reader)
    length = int(_header(head, b"content-length") or 0)
    return await reader.readexactly(length) if length else b""


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    """A chunked body, raw (sizes, chunks and trailers as they came)."""
    out = b""
    while True:
        size_line = await reader.readuntil(b"\r\n")
        out += size_line
        size = int(size_line.split(b";", 1)[0].strip(), 16)
        if size == 0:
            while True:  # trailers, through the blank line
                trailer = await reader.readuntil(b"\r\n")
                out += trailer
                if trailer == b"\r\n":
                    return out
        out += await reader.readexactly(size + 2)


def _status(head: bytes) -> int:
    try:
        return int(head.split(b" ", 2)[1])
    except (IndexError, ValueError):
        return 0


async def _read_answer(reader: asyncio.StreamReader, head_request: bool) -> tuple[bytes, bytes, bool]:
    """(status line and headers, body as framed, whether the connection may be kept)."""
    head = await _read_head(reader)
    if head is None:
        raise UpstreamGone("the upstream closed the connection without answering")
    status = _status(head)
    keep = (_header(head, b"connection") or b"").lower() != b"close"
    if head_request or status == 101 or 100 <= status < 200 or status in NO_BODY_STATUSES:
        return head, b"", keep
    if (_header(head, b"transfer-encoding") or b"").lower() == b"chunked":
        return head, await _read_chunked(reader), keep
    length = _header(head, b"content-length")
    if length is not None:
        return head, await reader.readexactly(int(length)), keep
    return head, await reader.read(), False  # close-delimited


def _relabel(head: bytes, length: int) -> bytes:
    lines = head.split(b"\r\n")
    for i, line in enumerate(lines):
        if line.lower().startswith(b"content-length:"):
            lines[i] = b"Content-Length: %d" % length
    return b"\r\n".join(lines)


async def _pipe_both(
    client_reader: asyncio.StreamReader,
    client_writer: asyncio.StreamWriter,
    up_reader: asyncio.StreamReader,
    up_writer: asyncio.StreamWriter,
) -> None:
    async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        try:
            while chunk := await source.read(65536):
                sink.write(chunk)
                await sink.drain()
        except OSError:
            pass
        finally:
            sink.close()

    await asyncio.gather(pipe(client_reader, up_writer), pipe(up_reader, client_writer))


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with an RST, as a dropped connection looks to the client."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


def _host_port(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    assert parts.hostname == "127.0.0.1", f"the chaos proxy forwards to 127.0.0.1 only, not {url}"
    return parts.hostname, parts.port or 80


@contextmanager
def chaos_proxy(upstream: str, *, seed: int = 14) -> Iterator[ChaosProxy]:
    """A proxy in front of `upstream` (an http://127.0.0.1:PORT URL), faults off; stopped on exit."""
    proxy = ChaosProxy(upstream, seed=seed).start()
    try:
        yield proxy
    finally:
        proxy.stop()
