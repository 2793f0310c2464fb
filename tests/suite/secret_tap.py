"""A WSGI tap in front of a reference server that notes every secret crossing it (passwords and
tokens in bodies, Authorization headers, Token headers, MMAUTHTOKEN cookies), so that a test can
then look for each of them in what a run wrote."""

from __future__ import annotations

import io
import json
import secrets
from typing import Any

import requests

from mmv3.redact import SECRET_KEYS
from mmv3.server.app import ReferenceServer


class SecretTap:
    """WSGI middleware noting every secret value in requests and answers."""

    def __init__(self, app: ReferenceServer) -> None:
        self.app = app
        self.store = app.store  # RunningServer closes it on stop
        self.seen: set[str] = set()

    def __call__(self, environ: dict, start_response: Any) -> Any:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        self._from_body(body)
        auth = environ.get("HTTP_AUTHORIZATION", "")
        if " " in auth:
            self.seen.add(auth.split(" ", 1)[1])
        for part in environ.get("HTTP_COOKIE", "").split(";"):
            name, _, value = part.strip().partition("=")
            if name == "MMAUTHTOKEN" and value:
                self.seen.add(value)

        def tapped(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            for name, value in headers:
                if name.lower() == "token":
                    self.seen.add(value)
                elif name.lower() == "set-cookie" and value.startswith("MMAUTHTOKEN="):
                    token = value.split(";", 1)[0].split("=", 1)[1]
                    if token:
                        self.seen.add(token)
            return start_response(status, headers, exc_info)

        return self.app(environ, tapped)

    def _from_body(self, body: bytes) -> None:
        try:
            value = json.loads(body)
        except ValueError:
            return
        todo = [value]
        while todo:
            item = todo.pop()
            if isinstance(item, dict):
                for key, inner in item.items():
                    # (A config's secrets come back masked as asterisks: no secret.)
                    if key.lower() in SECRET_KEYS and isinstance(inner, str) and inner.strip("*"):
                        self.seen.add(inner)
                    todo.append(inner)
            elif isinstance(item, list):
                todo += item


def create_account(url: str, name: str) -> tuple[str, str]:
    password = secrets.token_urlsafe(12)
    body = {"username": name, "email": f"{name}@example.com", "password": password}
    answer = requests.post(f"{url}/api/v3/users/create", json=body, timeout=10)
    assert answer.status_code == 200, answer.text
    return name, password
