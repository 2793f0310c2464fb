"""Browser error answers: the signed `/error?…` destinations, and the SAML routes that use them."""

from __future__ import annotations

import base64
from urllib.parse import parse_qs, urlsplit

import requests

from mmv3.server import running_server, signing
from mmv3.server.weberrors import go_html_escape, go_js_escape

SAML_MESSAGE = "SAML 2.0 is not configured or supported on this server."


# -- the signing key -------------------------------------------------------------------------
def test_public_point_matches_the_rfc_6979_p256_vector() -> None:
    private = 0xC9AFA9D845BA75166B5C215767B1D6934E50C3DB36E89B127B8A622B120F6721
    assert signing.public_point(private) == (
        0x60FED4BA255A9D31C961EB74C6356D68C049B8923B61FA6CE669622E60F29FB6,
        0x7903FE1008B8BC99A41AE9E95628BC64F2F1B20C2D7E9F5177A3C294D4462299,
    )


def test_signatures_verify_and_tampering_shows() -> None:
    key = signing.SigningKey(0x1234567890ABCDEF)
    signature = key.sign(b"/error?message=x")
    assert signature[0] == 0x30  # DER SEQUENCE of r and s
    assert signing.verify(key.public, b"/error?message=x", signature)
    assert not signing.verify(key.public, b"/error?message=y", signature)
    assert not signing.verify(signing.SigningKey(7).public, b"/error?message=x", signature)
    assert key.public_base64.startswith("MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE")  # P-256 SubjectPublicKeyInfo


def test_go_escapers() -> None:
    assert go_js_escape("/error?a=b&c='d'<x>") == "/error?a\\u003Db\\u0026c\\u003D\\'d\\'\\x3Cx\\x3E"
    assert go_html_escape("a&b<c>\"d'") == "a&amp;b&lt;c&gt;&#34;d&#39;"


# -- SAML -------------------------------------------------------------------------------------
def _assert_signed_destination(server, location: str, public_key: str) -> None:
    assert parse_qs(urlsplit(location).query)["message"] == [SAML_MESSAGE]
    signed, _, signature = location.rpartition("&s=")
    key = signing.key_for(server.app.store)
    assert key.public_base64 == public_key  # what clients are told to verify with
    assert signing.verify(key.public, signed.encode(), base64.urlsafe_b64decode(signature))


def test_saml_login_redirects_to_the_signed_error_page() -> None:
    with running_server() as server:
        public_key = requests.get(f"{server.url}/api/v3/general/client_props", timeout=30).json()[
            "AsymmetricSigningPublicKey"
        ]
        get = requests.get(
            f"{server.url}/login/sso/saml?action=login&redirect_to=%2F", allow_redirects=False, timeout=30
        )
        assert get.status_code == 302
        location = get.headers["Location"]
        assert location.startswith(
            "/error?message=SAML+2.0+is+not+configured+or+supported+on+this+server.&s="
        )
        assert get.headers["Content-Type"] == "text/html; charset=utf-8"
        assert get.text == f'<a href="{go_html_escape(location)}">Found</a>.\n\n'
        assert get.headers["X-Frame-Options"] == "SAMEORIGIN"
        assert get.headers["Content-Security-Policy"] == "frame-ancestors 'self'"
        _assert_signed_destination(server, location, public_key)
        post = requests.post(
            f"{server.url}/login/sso/saml", data={"SAMLResponse": "PHNhbWxwOlJlc3BvbnNlLz4=", "RelayState": ""},
            allow_redirects=False, timeout=30,
        )  # fmt: skip
        assert post.status_code == 302 and post.content == b""
        assert "Content-Type" not in post.headers  # Go's Redirect writes no body for a POST
        _assert_signed_destination(server, post.headers["Location"], public_key)


def test_saml_routes_ignore_api_v3_being_disabled() -> None:
    with running_server(config={"ServiceSettings": {"EnableAPIv3": False}}) as server:
        response = requests.get(f"{server.url}/login/sso/saml", allow_redirects=False, timeout=30)
        assert response.status_code == 302


def test_the_signing_key_is_kept_with_the_database(tmp_path) -> None:
    keys = []
    for _ in range(2):
        with running_server(db=str(tmp_path / "mmv3.db")) as server:
            props = requests.get(f"{server.url}/api/v3/general/client_props", timeout=30).json()
            keys.append(props["AsymmetricSigningPublicKey"])
    assert keys[0] == keys[1]
    with running_server() as other:
        fresh = requests.get(f"{other.url}/api/v3/general/client_props", timeout=30).json()
    assert fresh["AsymmetricSigningPublicKey"] != keys[0]
