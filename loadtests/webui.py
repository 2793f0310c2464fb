"""The "Rate limit" tab of Locust's web UI: a live chart of offered, accepted and throttled
requests per second with the refill rate and the first 429 (ratelimit_chart.js, inline SVG, no
library), above a table of throttled counts, goodput next to offered load and the rate-limit
oracle's current verdicts (refreshed with Locust's own stats polling).

Also `GET /mmv3/ratelimit` (the table as JSON), `GET /mmv3/ratelimit/series` (what the chart
draws, mmv3.load.live_chart) and `GET /mmv3/ratelimit/timeline.csv`.
"""

from __future__ import annotations

import csv
import io
import json
import time
from pathlib import Path
from typing import Any

from flask import Response, jsonify, request, url_for
from locust import events
from mmv3.load.live_chart import chart_series
from mmv3.load.oracle import OracleReport, evaluate

from state import RunState, current

TAB = "rate-limit"
_REFRESH = 2.0  # seconds an oracle evaluation is reused for
CHART_JS = Path(__file__).with_name("ratelimit_chart.js")


class LiveView:
    def __init__(self, state: RunState) -> None:
        self.state = state
        self._at = 0.0
        self._run = -1
        self._oracle: OracleReport | None = None
        self._value: dict[str, Any] | None = None
        self._series: dict[str, Any] | None = None

    def oracle(self) -> OracleReport:
        """The oracle's view of the run so far (one evaluation serves every view for 2 s)."""
        now = time.time()
        if self._oracle is None or now - self._at >= _REFRESH or self._run != self.state.run_number:
            settings = self.state.settings
            self._oracle = evaluate(
                self.state.accounting,
                expected=settings.expected,
                tolerances=settings.tolerances,
                retry_probe=self.state.retry_probe,
            )
            self._at, self._run = now, self.state.run_number
            self._value = self._series = None
        return self._oracle

    def running(self) -> bool:
        return str(self.state.environment.runner.state) in ("spawning", "running", "cleanup", "stopping")

    def series(self) -> dict[str, Any]:
        oracle = self.oracle()
        if self._series is None:
            state = self.state
            self._series = {
                "run": state.settings.run_name,
                "state": str(state.environment.runner.state),
                **chart_series(
                    state.accounting,
                    oracle,
                    now=time.time() if self.running() else None,
                    expected=state.settings.expected,
                ),
            }
        return self._series

    def data(self) -> dict[str, Any]:
        oracle = self.oracle()
        if self._value is not None:
            return self._value
        now = time.time()
        state = self.state
        accounting = state.accounting
        totals = accounting.totals()
        recent = accounting.recent(now)
        adv = oracle.advertised
        first = next((m for m in oracle.sources if m.first_429_at is not None), None)
        rows = [
            ("test state", str(state.environment.runner.state)),
            ("offered (last 10 s)", f"{recent['offered_rps']:.2f} req/s"),
            ("accepted = goodput (last 10 s)", f"{recent['accepted_rps']:.2f} req/s"),
            ("throttled (last 10 s)", f"{recent['throttled_rps']:.2f} req/s"),
            ("throttled (429) in total", str(totals["throttled"])),
            ("accepted in total", str(totals["accepted"])),
            ("advertised Limit", "—" if adv.limit is None else f"{adv.limit} (burst {adv.max_burst})"),
            ("advertised refill rate", "—" if not adv.rate else f"{adv.rate:.2f}/s"),
        ]
        if first is not None:
            rows += [
                (
                    "first 429 after",
                    f"{first.time_to_first_429:.2f} s ({first.admitted_before_first_429} admitted)",
                ),
                ("burst admitted", "—" if first.burst is None else str(first.burst)),
            ]
        if oracle.sustained_rate is not None:
            rows.append(("sustained accepted rate", f"{oracle.sustained_rate:.2f}/s"))
        rows.append(("oracle verdict", oracle.summary()))
        rows += [(f"  {v.name}", f"{v.status}: {v.message}") for v in oracle.verdicts]
        self._value = {
            "run": state.settings.run_name,
            "state": str(state.environment.runner.state),
            "totals": totals,
            "recent": recent,
            "passed": oracle.passed,
            "verdict": oracle.summary(),
            "oracle": oracle.to_dict(),
            "rows": [{"metric": metric, "value": value} for metric, value in rows],
        }
        return self._value


@events.init.add_listener
def extend_web_ui(environment: Any, web_ui: Any = None, **_kwargs: Any) -> None:
    if web_ui is None:
        return
    view = LiveView(current(environment))
    web_ui.template_args["extended_tabs"] = [{"title": "Rate limit", "key": TAB}]
    web_ui.template_args["extended_tables"] = [
        {
            "key": TAB,
            "structure": [{"key": "metric", "title": "Rate limit"}, {"key": "value", "title": "Value"}],
        }
    ]
    web_ui.template_args["extended_csv_files"] = [
        {"href": "/mmv3/ratelimit/timeline.csv", "title": "Download the rate-limit timeline (per second) CSV"}
    ]

    @web_ui.app.after_request
    def add_rate_limit(response: Response) -> Response:
        if not request.path.endswith("/stats/requests") or response.status_code != 200:
            return response
        data = response.get_json(silent=True)
        if isinstance(data, dict):
            if view.state.provisioning and data.get("state") in ("ready", "stopped"):
                # A run was started but Locust has not said so yet (test_start provisions): on
                # "ready" the UI would go back to its start form and stop polling for good.
                data["state"] = "spawning"
            data["extended_stats"] = [{"key": TAB, "data": view.data()["rows"]}]
            response.set_data(json.dumps(data))
        return response

    @web_ui.app.after_request
    def add_chart_script(response: Response) -> Response:
        # Locust's page is a React bundle with no slot for a tab's own content: the chart's
        # script finds the tab's table and draws above it.
        page_view = (request.endpoint or "").rsplit(".", 1)[-1] == "index"  # Locust's blueprint "locust"
        if not page_view or response.mimetype != "text/html" or response.direct_passthrough:
            return response
        page = response.get_data(as_text=True)
        if "</body>" in page:
            tag = f'<script src="{url_for("rate_limit_chart_js")}"></script>'
            response.set_data(page.replace("</body>", f"  {tag}\n  </body>", 1))
        return response

    @web_ui.app.route("/mmv3/ratelimit")
    def rate_limit_json() -> Response:
        return jsonify(view.data())

    @web_ui.app.route("/mmv3/ratelimit/series")
    def rate_limit_series() -> Response:
        return jsonify(view.series())

    @web_ui.app.route("/mmv3/ratelimit/chart.js")
    def rate_limit_chart_js() -> Response:
        return Response(CHART_JS.read_text(encoding="utf-8"), mimetype="text/javascript")

    @web_ui.app.route("/mmv3/ratelimit/timeline.csv")
    def rate_limit_csv() -> Response:
        rows = view.state.accounting.timeline()
        out = io.StringIO()
        if rows:
            writer = csv.DictWriter(out, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        return Response(
            out.getvalue(),
            mimetype="text/csv",
            headers={"Content-Disposition": "attachment;filename=ratelimit_timeline.csv"},
        )
