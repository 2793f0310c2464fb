"""Run both real clients' days against a live real Mattermost 4.9 and against `mmv3 serve`; diff.

    MMV3_REAL_BOT_PASSWORD=... MMV3_REAL_OTHER_PASSWORD=... \\
        python tests/realclients/compare.py http://127.0.0.1:8068 sysadmin user2 [--record]

The real server's BOT must be a system admin (it makes a fresh team), OTHER a regular user.
`mmv3 serve` is started on a free port with accounts of its own. Prints each step that differs
(the real line, then the mmv3 serve one) and a count per client; exits 1 when anything differs.
With --record the real transcripts are also written to tests/realclients/real-4.9/, where
tests/realclients/test_real_clients.py compares `mmv3 serve`'s days with them.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from tests.realclients.serve import (  # noqa: E402
    BOT,
    OTHER,
    PASSWORDS,
    RECORDED,
    day_command,
    differences,
    mmv3_serve,
    run_day,
)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("url")
    parser.add_argument("bot")
    parser.add_argument("other")
    parser.add_argument(
        "--record", action="store_true", help="write the real transcripts to " + str(RECORDED)
    )
    args = parser.parse_args()
    real_passwords = {
        "MMV3_BOT_PASSWORD": os.environ.get("MMV3_REAL_BOT_PASSWORD", ""),
        "MMV3_OTHER_PASSWORD": os.environ.get("MMV3_REAL_OTHER_PASSWORD", ""),
    }
    total = 0
    with mmv3_serve() as served:
        for client in ("js", "python"):
            _, theirs, err_real = run_day(day_command(client, args.url, args.bot, args.other), real_passwords)
            _, ours, err_ours = run_day(day_command(client, served, BOT, OTHER), PASSWORDS)
            diff = differences(theirs, ours)
            if len(theirs) != len(ours):
                diff.append(
                    ({"steps": len(theirs), "stderr": err_real}, {"steps": len(ours), "stderr": err_ours})
                )
            ok = sum(1 for s in theirs if s["ok"])
            print(f"{client}: {len(theirs)} steps against real ({ok} ok), {len(diff)} differ from mmv3 serve")
            for a, b in diff:
                print("  real: " + json.dumps(a, ensure_ascii=False))
                print("  mmv3: " + json.dumps(b, ensure_ascii=False))
            total += len(diff)
            if args.record and theirs:
                RECORDED.mkdir(exist_ok=True)
                lines = "".join(json.dumps(s, ensure_ascii=False, sort_keys=True) + "\n" for s in theirs)
                (RECORDED / f"{client}.jsonl").write_text(lines, encoding="utf-8")
    return 1 if total else 0


if __name__ == "__main__":
    sys.exit(main())
