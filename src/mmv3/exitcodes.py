"""The exit codes of the `mmv3` command, one contract for every subcommand (README: "Exit codes").

CI systems gate on these numbers, so they never change meaning. The conformance suite run alone
(`pytest conformance`) keeps pytest's codes plus its preflight codes 10-15 (`mmv3.suite.preflight`);
`mmv3 check` folds those into the coarser classes below.
"""

from __future__ import annotations

OK = 0  # every check passed (known deviations included), no threshold breached
CONFORMANCE_FAILED = 1  # at least one conformance check failed or an expected failure passed
USAGE = 2  # bad command line, options file, thresholds or expectations file
THRESHOLDS_BREACHED = 3  # the load run breached a threshold (same code as `locust ... --mmv3-thresholds`)
UNREACHABLE = 4  # the target did not answer: refused, reset, timed out, unknown host
NOT_V3 = 5  # the target answers, but not as a Mattermost v3 server (HTML, garbage, v3 disabled: 501)
CREDENTIALS = 6  # login refused, the admin is no system admin, or the test data could not be created
TOOL_MISSING = 7  # a tool the job needs is not installed (the Allure CLI for `mmv3 report`, Locust)
INTERNAL = 8  # mmv3 itself failed (a crash of pytest or Locust, the embedded server did not start)
NOTHING_JUDGED = (
    9  # every selected check skipped, or the load run sent nothing / judged nothing / lost workers
)
INTERRUPTED = 130  # Ctrl-C

DESCRIPTIONS = {
    OK: "all good",
    CONFORMANCE_FAILED: "conformance failures (a check failed, or a known deviation passed)",
    USAGE: "bad usage",
    THRESHOLDS_BREACHED: "load thresholds breached",
    UNREACHABLE: "target unreachable",
    NOT_V3: "target does not speak Mattermost API v3",
    CREDENTIALS: "credentials rejected or provisioning failed",
    TOOL_MISSING: "a required tool is not installed",
    INTERNAL: "mmv3 internal failure",
    NOTHING_JUDGED: "nothing was judged (every check skipped, or an empty or broken load run)",
    INTERRUPTED: "interrupted",
}
