"""A conformance run in which every selected check skipped judged nothing, and must not exit 0.

`--families ratelimit` against a server that does not rate-limit, or only admin checks without
an admin, would otherwise pass with nothing tested. The plugin feeds every test report to a
`Tally`; at the end of the session (controlling process only) a run that judged nothing exits
`preflight.ExitCode.NOTHING_JUDGED` with one line saying why (the commonest skip reasons).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from mmv3.suite.preflight import ExitCode

LINE_PREFIX = "mmv3 nothing judged: "


class Tally:
    """Which tests judged something (passed, failed, a known deviation) and why the others skipped."""

    def __init__(self) -> None:
        self.judged = 0
        self.skipped: Counter[str] = Counter()

    def add(self, report: Any) -> None:
        if hasattr(report, "wasxfail") or (report.when == "call" and report.outcome in ("passed", "failed")):
            self.judged += 1
        elif report.outcome == "failed":
            self.judged += 1  # an error in setup or teardown fails the run anyway
        elif report.outcome == "skipped":
            self.skipped[_reason(report.longrepr)] += 1

    def nothing_judged(self) -> str | None:
        """The one line of a run in which every selected test skipped; None when anything was judged."""
        if self.judged or not self.skipped:
            return None
        total = sum(self.skipped.values())
        reasons = "; ".join(f"{count} × {reason}" for reason, count in self.skipped.most_common(3))
        more = f"; {len(self.skipped) - 3} more reasons" if len(self.skipped) > 3 else ""
        what = "the 1 selected check was" if total == 1 else f"all {total} selected checks were"
        return f"{LINE_PREFIX}{what} skipped ({reasons}{more})"


def _reason(longrepr: Any) -> str:
    text = longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr or "")
    return " ".join(str(text).removeprefix("Skipped: ").split())[:160] or "no reason given"


def exit_status(tally: Tally, exitstatus: int) -> tuple[int, str | None]:
    """The session's exit status (NOTHING_JUDGED instead of 0 when nothing was judged) and its
    line; the tally starts afresh for another session in this process."""
    line = tally.nothing_judged() if int(exitstatus) == 0 else None
    tally.__init__()  # type: ignore[misc]
    return (int(ExitCode.NOTHING_JUDGED), line) if line else (int(exitstatus), None)
