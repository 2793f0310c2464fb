"""mmv3.provision against targets that misbehave (127.0.0.1 only)."""

from __future__ import annotations

import time

from fakeserver import silent_server

from mmv3.client import Pacer
from mmv3.provision import World

TIMEOUT = 0.5


def test_clean_up_of_a_silent_target_waits_out_one_timeout_not_one_per_object():
    with silent_server() as url:
        world = World(url, prefix="mmtest01", seed=1, timeout=TIMEOUT)
        world.root.pacer = Pacer()  # no pacing state shared with other tests of this target
        world.add_account(
            "user", {"username": "someone", "id": "u1"}, "a-password", world.root.with_token("t")
        )
        world.objects["team"] = {"id": "team1"}
        world.created = [("channel", f"channel{n}") for n in range(5)]
        started = time.monotonic()
        left = world.clean_up()
        seconds = time.monotonic() - started
    assert sorted(left) == [f"channel channel{n}" for n in range(5)]
    assert seconds < 3 * TIMEOUT, f"{seconds:.1f} s: the clean-up kept asking a target that does not answer"
