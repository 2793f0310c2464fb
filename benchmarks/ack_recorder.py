"""For benchmarks/kill9_durability.py: writes down every post the server acknowledged.

Load it next to the locustfile: `locust -f loadtests/locustfile.py,benchmarks/ack_recorder.py Poster`
with MMV3_ACK_LOG=FILE. Each answer to `POST …/posts/create` adds one line, written through at once:
`ack <post id> <epoch>` for a 200 with a post id in its body, `5xx <status> <epoch>` for a server
error, `other <status> <epoch>` for anything else (0 = no answer: refused or reset connection).
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

from locust import events
from scenarios import POST

_LOG = open(os.environ["MMV3_ACK_LOG"], "a", buffering=1, encoding="utf-8")  # noqa: SIM115 (the run's lifetime)


@events.request.add_listener
def note(name: str, response: Any = None, **_kwargs: Any) -> None:
    if name != POST.template:
        return
    status = getattr(response, "status_code", 0) or 0
    now = time.time()
    if status == 200:
        try:
            post_id = json.loads(response.content)["id"]
        except (ValueError, KeyError, TypeError):
            _LOG.write(f"other 200-without-id {now:.6f}\n")
            return
        _LOG.write(f"ack {post_id} {now:.6f}\n")
    elif status >= 500:
        _LOG.write(f"5xx {status} {now:.6f}\n")
    else:
        _LOG.write(f"other {status} {now:.6f}\n")
