"""bcrypt for account passwords: the system's libxcrypt where it is there, else the bcrypt package.

Both write and read the same `$2a$` hashes (Mattermost's). libxcrypt's bcrypt is the faster of
the two on this kind of machine (about 62 ms against 75 ms of CPU per cost-10 check), and logins
are bound by it: with two cores that is the difference between ~26 and ~32 logins/s at most.
ctypes lets go of the interpreter during the call, as the bcrypt package does.

libxcrypt is used only for what it reads exactly as the package does: hashes of the bcrypt family
and passwords of at most 72 bytes without NUL (bcrypt's own limits); the rest goes to the package.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import hmac
import os

import bcrypt

_CRYPT_DATA_SIZE = 32768  # sizeof(struct crypt_data) in libxcrypt
_PREFIXES = (b"$2a$", b"$2b$", b"$2y$")


def _load_libxcrypt() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("crypt")
    if not name:
        return None
    try:
        lib = ctypes.CDLL(name)
        lib.crypt_r.restype = ctypes.c_char_p
        lib.crypt_r.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_void_p]
        lib.crypt_gensalt_rn.restype = ctypes.c_char_p
        lib.crypt_gensalt_rn.argtypes = [
            ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_int,
        ]  # fmt: skip
    except (OSError, AttributeError):  # not libxcrypt (an old glibc libcrypt has no gensalt)
        return None
    # Only if it really does $2a$ and agrees with the package on a known hash.
    known = bcrypt.hashpw(b"mmv3", bcrypt.gensalt(rounds=4, prefix=b"2a"))
    data = ctypes.create_string_buffer(_CRYPT_DATA_SIZE)
    if lib.crypt_r(b"mmv3", known, data) != known:
        return None
    return lib


# MMV3_BCRYPT=package keeps to the bcrypt package (to compare the two side by side).
_LIB = None if os.environ.get("MMV3_BCRYPT") == "package" else _load_libxcrypt()
BACKEND = "libxcrypt" if _LIB is not None else "bcrypt package"


def _fits(password: bytes) -> bool:
    return len(password) <= 72 and b"\0" not in password


def hashpw(password: bytes, cost: int) -> str:
    if _LIB is not None and _fits(password):
        salt = ctypes.create_string_buffer(64)
        if _LIB.crypt_gensalt_rn(b"$2a$", cost, None, 0, salt, len(salt)):
            data = ctypes.create_string_buffer(_CRYPT_DATA_SIZE)
            hashed = _LIB.crypt_r(password, salt.value, data)
            if hashed and hashed.startswith(b"$2a$"):
                return hashed.decode()
    return bcrypt.hashpw(password, bcrypt.gensalt(rounds=cost, prefix=b"2a")).decode()


def checkpw(password: bytes, stored: bytes) -> bool:
    """True when `password` matches `stored`; raises ValueError for a hash that is no bcrypt hash."""
    if _LIB is not None and _fits(password) and stored.startswith(_PREFIXES) and len(stored) == 60:
        data = ctypes.create_string_buffer(_CRYPT_DATA_SIZE)
        hashed = _LIB.crypt_r(password, stored, data)
        return bool(hashed) and hmac.compare_digest(hashed, stored)
    return bcrypt.checkpw(password, stored)
