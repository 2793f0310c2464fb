"""The server's asymmetric signing key (Mattermost's `AsymmetricSigningKey`): ECDSA P-256 with SHA-256.

Real Mattermost signs the `/error?…` destinations it sends browsers to, so the web app can tell
its own error pages from forged links, and publishes the public key in the client configuration
(`AsymmetricSigningPublicKey`). The key is made once per database and kept in the `system` table.
Plain Python integers do the curve arithmetic: signatures are rare (error pages only).
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
import weakref
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mmv3.server.store import Store

# NIST P-256 (secp256r1), FIPS 186-4 D.1.2.3.
_P = 0xFFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFF
_A = _P - 3
_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
_G = (
    0x6B17D1F2E12C4247F8BCE6E563A440F277037D812DEB33A0F4A13945D898C296,
    0x4FE342E2FE1A7F9B8EE7EB4A7C0F9E162BCE33576B315ECECBB6406837BF51F5,
)
# SubjectPublicKeyInfo header for an uncompressed P-256 point (id-ecPublicKey, prime256v1).
_SPKI_PREFIX = bytes.fromhex("3059301306072a8648ce3d020106082a8648ce3d030107034200")
_SYSTEM_KEY = "AsymmetricSigningKey"

Point = tuple[int, int] | None


def _add(p: Point, q: Point) -> Point:
    if p is None:
        return q
    if q is None:
        return p
    if p[0] == q[0] and (p[1] + q[1]) % _P == 0:
        return None
    if p == q:
        slope = (3 * p[0] * p[0] + _A) * pow(2 * p[1], -1, _P)
    else:
        slope = (q[1] - p[1]) * pow(q[0] - p[0], -1, _P)
    x = (slope * slope - p[0] - q[0]) % _P
    return x, (slope * (p[0] - x) - p[1]) % _P


def _multiply(k: int, point: Point) -> Point:
    result: Point = None
    while k:
        if k & 1:
            result = _add(result, point)
        point = _add(point, point)
        k >>= 1
    return result


def public_point(private: int) -> tuple[int, int]:
    point = _multiply(private, _G)
    assert point is not None
    return point


def _der_int(value: int) -> bytes:
    raw = value.to_bytes((value.bit_length() + 8) // 8, "big")  # a leading zero keeps it positive
    return b"\x02" + bytes([len(raw)]) + raw


def sign(private: int, message: bytes) -> bytes:
    """A DER-encoded ECDSA signature of SHA-256(message), as Go's `ecdsa.PrivateKey.Sign`."""
    z = int.from_bytes(hashlib.sha256(message).digest(), "big")
    while True:
        k = secrets.randbelow(_N - 1) + 1
        r = public_point(k)[0] % _N
        s = pow(k, -1, _N) * (z + r * private) % _N
        if r and s:
            body = _der_int(r) + _der_int(s)
            return b"\x30" + bytes([len(body)]) + body


def verify(public: tuple[int, int], message: bytes, signature: bytes) -> bool:
    """Check a DER signature made by `sign` (used by the tests and by anyone holding the public key)."""
    try:
        if signature[0] != 0x30 or signature[2] != 0x02:
            return False
        r_len = signature[3]
        r = int.from_bytes(signature[4 : 4 + r_len], "big")
        s_len = signature[5 + r_len]
        s = int.from_bytes(signature[6 + r_len : 6 + r_len + s_len], "big")
    except IndexError:
        return False
    if not (0 < r < _N and 0 < s < _N):
        return False
    z = int.from_bytes(hashlib.sha256(message).digest(), "big")
    w = pow(s, -1, _N)
    point = _add(_multiply(z * w % _N, _G), _multiply(r * w % _N, public))
    return point is not None and point[0] % _N == r


def public_key_base64(public: tuple[int, int]) -> str:
    """The public key as the client configuration shows it: base64 of its DER SubjectPublicKeyInfo."""
    der = _SPKI_PREFIX + b"\x04" + public[0].to_bytes(32, "big") + public[1].to_bytes(32, "big")
    return base64.b64encode(der).decode()


class SigningKey:
    def __init__(self, private: int) -> None:
        self.private = private
        self.public = public_point(private)

    def sign(self, message: bytes) -> bytes:
        return sign(self.private, message)

    @property
    def public_base64(self) -> str:
        return public_key_base64(self.public)


_keys: weakref.WeakKeyDictionary[Store, SigningKey] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def key_for(store: Store) -> SigningKey:
    """The database's signing key, made and stored on first use."""
    with _lock:
        key = _keys.get(store)
    if key is not None:
        return key
    with store.transaction():  # not under _lock: callers may already hold the store's lock
        doc = store.get("system", _SYSTEM_KEY)
        if doc is None or not isinstance(doc.get("d"), str):
            doc = {"name": _SYSTEM_KEY, "d": format(secrets.randbelow(_N - 1) + 1, "x")}
            store.put("system", _SYSTEM_KEY, doc)
    with _lock:
        return _keys.setdefault(store, SigningKey(int(doc["d"], 16)))
