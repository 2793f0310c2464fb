"""A load run that tested nothing must not pass: the run's own failures besides breaches.

A run that sent no request, lost its workers, or left every verdict it was asked for unjudged
would otherwise end like a good one (exit 0, "nothing to judge yet"). Each such problem is one
line on stderr and an exit code of its own (loadtests/README.md, "Thresholds and exit codes");
when several apply, the most fundamental one (first in `ORDER`) names the run.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from mmv3.load.oracle import FAILED, PASSED, OracleReport
from mmv3.load.thresholds import Outcome
from mmv3.ratelimit import Quota

EXIT_PROVISIONING = 6  # the run's accounts could not be provisioned (as `mmv3 check`'s 6)
EXIT_EMPTY = 9  # the run sent no request
EXIT_NOTHING_JUDGED = 10  # --mmv3-expect or the thresholds asked for a verdict, and none was judged
EXIT_WORKERS = 11  # a worker went missing or quit early, or fewer than --expect-workers took part

ORDER = (EXIT_WORKERS, EXIT_EMPTY, EXIT_NOTHING_JUDGED)
KINDS = {EXIT_WORKERS: "workers", EXIT_EMPTY: "empty run", EXIT_NOTHING_JUDGED: "nothing judged"}


@dataclass(frozen=True)
class Problem:
    code: int
    message: str

    @property
    def line(self) -> str:
        """The one line on stderr: `mmv3 empty run: ...`."""
        return f"mmv3 {KINDS[self.code]}: {self.message}"

    def to_dict(self) -> dict[str, object]:
        return {"exit_code": self.code, "kind": KINDS[self.code], "message": self.message}


def judged(verdicts: Iterable[object]) -> list[object]:
    """The verdicts or threshold outcomes that judged something (passed or failed)."""
    return [v for v in verdicts if getattr(v, "status", None) in (PASSED, FAILED)]


def problems(
    *,
    sent: int,
    seconds: float | None,
    expected: Quota | None,
    oracle: OracleReport,
    thresholds_file: str | None,
    outcomes: list[Outcome],
    worker_problems: Iterable[str] = (),
) -> list[Problem]:
    """Everything that makes this run vacuous, most fundamental first."""
    out = [Problem(EXIT_WORKERS, message) for message in worker_problems]
    if sent <= 0:
        lasted = f" in {seconds:.0f} s" if seconds is not None else ""
        out.append(
            Problem(
                EXIT_EMPTY,
                f"no request was sent{lasted} (no user got to run: check -u, the workers, the log)",
            )
        )
        return sorted(out, key=lambda p: ORDER.index(p.code))
    if expected is not None and not judged(oracle.verdicts):
        why = oracle.verdicts[0].message if oracle.verdicts else "no verdicts"
        out.append(
            Problem(
                EXIT_NOTHING_JUDGED,
                f"--mmv3-expect {expected.per_sec:g}/{expected.max_burst} asked for a verdict, "
                f"but the rate-limit oracle had nothing to judge ({why})",
            )
        )
    if thresholds_file and not judged(outcomes):
        why = f" ({outcomes[0].name}: {outcomes[0].message})" if outcomes else ""
        out.append(
            Problem(
                EXIT_NOTHING_JUDGED,
                f"every threshold of {thresholds_file} was skipped, none was judged{why}",
            )
        )
    return sorted(out, key=lambda p: ORDER.index(p.code))


def exit_code(found: list[Problem], otherwise: int | None) -> int | None:
    """The run's exit code: its most fundamental problem's, else `otherwise` (breach or Locust's)."""
    return found[0].code if found else otherwise
