"""Run both real clients' days against a live real Mattermost 4.9 and against `mmv3 serve`; diff.

    MMV3_REAL_BOT_PASSWORD=... MMV3_REAL_OTHER_PASSWORD=... \\
        python tests/realclients/compare.py http://127.0.0.1:8068 sysadmin user2

The real server's BOT must be a system admin (it makes a fresh team), OTHER a regular user.
`mmv3 serve` is started on a free port with accounts of its own. Prints each step that differs
(the real line, then the mmv3 serve one) and a count per client; exits 1 when anything differs.
"""

from __future__ import annotations

import json
import os
import sys

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from tests.realclients.serve import BOT, OTHER, PASSWORDS, day_command, mmv3_serve, run_day  # noqa: E402


def main() -> int:
    if len(sys.argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    real, real_bot, real_other = sys.argv[1:]
    real_passwords = {
        "MMV3_BOT_PASSWORD": os.environ.get("MMV3_REAL_BOT_PASSWORD", ""),
        "MMV3_OTHER_PASSWORD": os.environ.get("MMV3_REAL_OTHER_PASSWORD", ""),
    }
    differences = 0
    with mmv3_serve() as served:
        for client in ("js", "python"):
            _, theirs, err_real = run_day(day_command(client, real, real_bot, real_other), real_passwords)
            _, ours, err_ours = run_day(day_command(client, served, BOT, OTHER), PASSWORDS)
            diff = [(a, b) for a, b in zip(theirs, ours, strict=False) if a != b]
            if len(theirs) != len(ours):
                diff.append(
                    ({"steps": len(theirs), "stderr": err_real}, {"steps": len(ours), "stderr": err_ours})
                )
            ok = sum(1 for s in theirs if s["ok"])
            print(f"{client}: {len(theirs)} steps against real ({ok} ok), {len(diff)} differ from mmv3 serve")
            for a, b in diff:
                print("  real: " + json.dumps(a, ensure_ascii=False))
                print("  mmv3: " + json.dumps(b, ensure_ascii=False))
            differences += len(diff)
    return 1 if differences else 0


if __name__ == "__main__":
    sys.exit(main())
