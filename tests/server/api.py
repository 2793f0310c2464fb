"""Shared by the reference-server tests: a thin JSON client with the calls most tests need."""

from __future__ import annotations

import http.cookiejar
import json
from typing import Any

import requests

from mmv3.schemas import default_registry

PASSWORD = "Secret-pass-1"


class Api:
    """Plain requests against one server; no cookies kept, no redirects followed."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")
        self.http = requests.Session()
        self.http.trust_env = False  # 127.0.0.1 only: never through a proxy from the environment
        self.http.cookies.set_policy(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        token: str | None = None,
        raw: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> requests.Response:
        sent = dict(headers or {})
        if token:
            sent["Authorization"] = f"Bearer {token}"
        data = raw
        if body is not None:
            data = json.dumps(body).encode()
        if data is not None:
            sent.setdefault("Content-Type", "application/json")
        return self.http.request(
            method, self.url + path, data=data, headers=sent, allow_redirects=False, timeout=30
        )

    def ok(self, method: str, path: str, body: Any = None, *, token: str | None = None) -> Any:
        response = self.call(method, path, body, token=token)
        assert response.status_code == 200, f"{method} {path} → {response.status_code} {response.text[:300]}"
        return response.json()

    def create_user(self, username: str) -> dict:
        body = {"username": username, "email": f"{username}@example.com", "password": PASSWORD}
        return self.ok("POST", "/api/v3/users/create", body)

    def login(self, username: str) -> str:
        response = self.call("POST", "/api/v3/users/login", {"login_id": username, "password": PASSWORD})
        assert response.status_code == 200, response.text
        return response.headers["Token"]

    def create_team(self, token: str, name: str, *, kind: str = "O") -> dict:
        return self.ok(
            "POST", "/api/v3/teams/create", {"name": name, "display_name": name, "type": kind}, token=token
        )

    def create_channel(self, token: str, team_id: str, name: str, *, kind: str = "O") -> dict:
        body = {"team_id": team_id, "name": name, "display_name": name, "type": kind}
        return self.ok("POST", f"/api/v3/teams/{team_id}/channels/create", body, token=token)

    def add_to_team(self, token: str, team_id: str, user_id: str) -> None:
        self.ok("POST", f"/api/v3/teams/{team_id}/add_user_to_team", {"user_id": user_id}, token=token)

    def create_post(self, token: str, team_id: str, channel_id: str, message: str) -> dict:
        path = f"/api/v3/teams/{team_id}/channels/{channel_id}/posts/create"
        return self.ok("POST", path, {"channel_id": channel_id, "message": message}, token=token)


# -- assertions shared by the server tests ------------------------------------------------------
REGISTRY = default_registry()


def conforms(body: object, model: str) -> None:
    issues = REGISTRY.validate(body, model)
    assert not issues, f"{model}: " + "; ".join(str(i) for i in issues)


def ok(response: requests.Response, model: str | None = None) -> Any:
    assert response.status_code == 200, f"{response.status_code} {response.text[:300]}"
    assert response.headers["Content-Type"] == "application/json"
    body = response.json()
    if model:
        conforms(body, model)
    return body


def app_error(response: requests.Response, status: int, error_id: str) -> dict:
    """A JSON AppError with this status and id, whose request_id is the X-Request-Id header."""
    assert response.status_code == status, f"{response.status_code} {response.text[:300]}"
    assert response.headers["Content-Type"] == "application/json"
    body = response.json()
    conforms(body, "AppError")
    assert body["id"] == error_id, body
    assert body["status_code"] == status
    assert body["request_id"] == response.headers["X-Request-Id"]
    return body
