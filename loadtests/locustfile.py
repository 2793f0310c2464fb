"""mmv3 load tests of a Mattermost API v3 server (Locust).

    locust -f loadtests/locustfile.py                       # web UI against `mmv3 serve` started on the fly
    locust -f loadtests/locustfile.py --host http://127.0.0.1:8065 --headless -u 20 -r 20 -t 60s Poster
    locust -f loadtests/locustfile.py,loadtests/shapes.py --headless   # StepShape: below/at/above the limit
    locust -f loadtests/locustfile.py --master --headless --expect-workers 2 ... Poster   # and on each machine:
    locust -f loadtests/locustfile.py --worker --master-host MASTER

Scenarios (LoginStorm, Poster, Mixed) are in scenarios.py; `locust -f loadtests/locustfile.py --help`
lists the --mmv3-* options. The modules below wire themselves in through Locust's events; the
order matters only for init: options first (it creates the run state the others use).
"""

# isort: off
import options  # noqa: F401  (--mmv3-* options, settings, default --run-time)
import embedded_server  # noqa: F401  (mmv3 serve when no --host)
import provisioning  # noqa: F401  (accounts, teams, channels at test_start; worker slices)
import tracking  # noqa: F401  (429 accounting, worker reports, request budget)
import workers  # noqa: F401  (the master waits for its workers and notes the ones it loses)
import reporting  # noqa: F401  (oracle, summary.json, plots, Allure, thresholds, exit code)
import webui  # noqa: F401  (the "Rate limit" tab)
from scenarios import LoginStorm, Mixed, Poster
# isort: on

__all__ = ["LoginStorm", "Mixed", "Poster"]
