"""Identifiers as Mattermost makes them: 26 characters of its base32 alphabet."""

from __future__ import annotations

import base64
import secrets
import time

# Mattermost encodes 16 random bytes with this alphabet and drops the padding.
_ALPHABET = "ybndrfg8ejkmcpqxot1uwisza345h769"
_TABLE = bytes.maketrans(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", _ALPHABET.encode())


def new_id() -> str:
    return base64.b32encode(secrets.token_bytes(16)).translate(_TABLE).decode()[:26]


def is_valid_id(value: object) -> bool:
    return isinstance(value, str) and len(value) == 26 and value.isalnum()


def now_ms() -> int:
    return int(time.time() * 1000)
