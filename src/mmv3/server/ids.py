"""Identifiers as Mattermost makes them: 26 characters of its base32 alphabet."""

from __future__ import annotations

import secrets
import time

# Mattermost encodes 16 random bytes with this alphabet and drops the padding.
_ALPHABET = "ybndrfg8ejkmcpqxot1uwisza345h769"
# base32 of 16 bytes is the 128 bits plus two zero bits, read 5 bits a character; taking them 10
# bits (two characters) at a time from one integer is several times faster than base64.b32encode,
# which is pure Python before 3.12 and runs on every insert.
_PAIRS = [a + b for a in _ALPHABET for b in _ALPHABET]
_SHIFTS = tuple(range(120, -1, -10))


def new_id() -> str:
    bits = int.from_bytes(secrets.token_bytes(16), "big") << 2
    return "".join([_PAIRS[(bits >> shift) & 1023] for shift in _SHIFTS])


def is_valid_id(value: object) -> bool:
    return isinstance(value, str) and len(value) == 26 and value.isalnum()


def now_ms() -> int:
    return int(time.time() * 1000)
