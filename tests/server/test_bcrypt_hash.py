"""Account passwords hash the same way through libxcrypt and through the bcrypt package."""

from __future__ import annotations

import bcrypt
import pytest

from mmv3.server import bcrypt_hash


def test_each_backend_reads_the_other_s_hashes():
    ours = bcrypt_hash.hashpw("Pässwörd-1".encode(), 4)
    assert ours.startswith("$2a$04$") and len(ours) == 60
    assert bcrypt.checkpw("Pässwörd-1".encode(), ours.encode())
    theirs = bcrypt.hashpw(b"Password-2", bcrypt.gensalt(rounds=4, prefix=b"2a"))
    assert bcrypt_hash.checkpw(b"Password-2", theirs)
    assert not bcrypt_hash.checkpw(b"Password-3", theirs)
    assert not bcrypt_hash.checkpw("Pässwörd-2".encode(), ours.encode())


def test_what_libxcrypt_would_read_differently_goes_to_the_package():
    long_password = b"x" * 100  # bcrypt's 72-byte limit: the package refuses it
    with pytest.raises(ValueError):
        bcrypt_hash.hashpw(long_password, 4)
    with pytest.raises(ValueError):
        bcrypt_hash.checkpw(b"pw", b"gaxDyoamrjlO6")  # a DES hash libxcrypt would happily compare


def test_the_backend_is_named():
    assert bcrypt_hash.BACKEND in ("libxcrypt", "bcrypt package")
