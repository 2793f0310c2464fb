"""The benchmark's baseline: a bare FastHttpUser posting the same requests as the Poster scenario
(same accounts, channels and messages), with no 429 accounting, no catch_response, no budget.

Load it next to the locustfile: `locust -f loadtests/locustfile.py,benchmarks/bare_poster.py Poster BarePoster`.
Its requests are named "bare <route>" and marked untracked, so the accounting skips them.
"""

from __future__ import annotations

import random
from typing import Any

import state as run_state
from locust import constant, task
from locust.contrib.fasthttp import FastHttpUser
from scenarios import LOGIN, POST, messages


class BarePoster(FastHttpUser):
    wait_time = constant(0)

    def context(self) -> dict[str, Any]:
        return {"mmv3_untracked": True}

    def on_start(self) -> None:
        run = run_state.current(self.environment)
        account, team = run.next_account()
        body = {"login_id": account.username, "password": account.password}
        response = self.client.post(LOGIN.template, json=body, name="bare " + LOGIN.template)
        self.headers = {"Authorization": f"Bearer {response.headers.get('Token')}"}
        self.targets = [
            (c["id"], POST.path(team_id=team["id"], channel_id=c["id"])) for c in team["channels"]
        ]
        self.messages = messages(run.settings.seed)
        self.rng = random.Random()

    @task
    def post(self) -> None:
        channel_id, path = self.rng.choice(self.targets)
        body = {"channel_id": channel_id, "message": self.rng.choice(self.messages)}
        self.client.post(path, json=body, headers=self.headers, name="bare " + POST.template)
