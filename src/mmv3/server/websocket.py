"""WebSocket transport (RFC 6455) over a connection the HTTP server has handed over after a 101.

Just what a Mattermost client needs: the handshake key, masked client frames in (text or binary,
fragmented or not, at most `max_message` bytes), unmasked text frames out, ping/pong and the
close handshake. No extensions, no subprotocols.
"""

from __future__ import annotations

import base64
import hashlib
import socket
import struct
import threading
from typing import BinaryIO

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
MAX_MESSAGE = 8 * 1024  # model.SOCKET_MAX_MESSAGE_SIZE_KB, Mattermost's read limit

OP_CONTINUATION, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
CLOSE_NORMAL, CLOSE_PROTOCOL_ERROR, CLOSE_TOO_BIG = 1000, 1002, 1009
_STARTING, _CONTINUING = (OP_TEXT, OP_BINARY), (OP_CONTINUATION,)  # data opcodes before/inside a message


def accept_key(key: str) -> str:
    """Sec-WebSocket-Accept for a client's Sec-WebSocket-Key."""
    return base64.b64encode(hashlib.sha1((key + GUID).encode(), usedforsecurity=False).digest()).decode()


class _Gone(Exception):
    """The peer hung up or broke the protocol; the connection is finished."""


class WebSocket:
    """One server-side WebSocket connection; `receive` and `send_text` may run on different threads."""

    def __init__(self, sock: socket.socket, rfile: BinaryIO, max_message: int = MAX_MESSAGE) -> None:
        self.sock = sock
        self.rfile = rfile  # buffered: it may already hold bytes the client sent after the handshake
        self.max_message = max_message
        self._send_lock = threading.Lock()
        self.closed = False

    # -- reading ---------------------------------------------------------------------------
    def _read(self, size: int) -> bytes:
        data = self.rfile.read(size) if size else b""
        if len(data) != size:
            raise _Gone
        return data

    def _frame(self) -> tuple[bool, int, bytes]:
        first, second = self._read(2)
        fin, opcode = bool(first & 0x80), first & 0x0F
        if first & 0x70 or not second & 0x80:  # reserved bits without an extension; unmasked client frame
            self.close(CLOSE_PROTOCOL_ERROR)
            raise _Gone
        length = second & 0x7F
        if length == 126:
            (length,) = struct.unpack(">H", self._read(2))
        elif length == 127:
            (length,) = struct.unpack(">Q", self._read(8))
        if length > self.max_message:
            self.close(CLOSE_TOO_BIG)
            raise _Gone
        mask = self._read(4)
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(self._read(length)))
        return fin, opcode, payload

    def receive(self) -> bytes | None:
        """The next whole data message, or None once the connection is over (closed or broken)."""
        message = bytearray()
        started = False
        try:
            while True:
                fin, opcode, payload = self._frame()
                if opcode == OP_PING:
                    self._send(OP_PONG, payload)
                elif opcode == OP_PONG:
                    continue
                elif opcode == OP_CLOSE:
                    self.close(struct.unpack(">H", payload[:2])[0] if len(payload) >= 2 else CLOSE_NORMAL)
                    return None
                elif opcode in (_CONTINUING if started else _STARTING):
                    started = True
                    message += payload
                    if len(message) > self.max_message:
                        self.close(CLOSE_TOO_BIG)
                        return None
                    if fin:
                        return bytes(message)
                else:
                    self.close(CLOSE_PROTOCOL_ERROR)
                    return None
        except (_Gone, OSError):
            self.closed = True
            return None

    # -- writing ---------------------------------------------------------------------------
    def _send(self, opcode: int, payload: bytes) -> None:
        length = len(payload)
        if length < 126:
            header = struct.pack(">BB", 0x80 | opcode, length)
        elif length < 1 << 16:
            header = struct.pack(">BBH", 0x80 | opcode, 126, length)
        else:
            header = struct.pack(">BBQ", 0x80 | opcode, 127, length)
        with self._send_lock:
            self.sock.sendall(header + payload)

    def send_text(self, text: str) -> bool:
        """Send one text message; False when the connection is already gone."""
        if self.closed:
            return False
        try:
            self._send(OP_TEXT, text.encode())
            return True
        except OSError:
            self.closed = True
            return False

    def close(self, code: int = CLOSE_NORMAL) -> None:
        """Send a close frame (once); the HTTP server closes the socket when the handler returns."""
        if self.closed:
            return
        self.closed = True
        try:
            self._send(OP_CLOSE, struct.pack(">H", code))
        except OSError:
            pass

    def drop(self) -> None:
        """End the connection without a close frame (what gorilla's Conn.Close does)."""
        self.closed = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
