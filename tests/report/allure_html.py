"""Reading what an Allure 3 single-file report embeds: every data file is a `d("name","base64")` call."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any

_EMBEDDED = re.compile(r'd\("([^"]+)","([A-Za-z0-9+/=]*)"\)')


def embedded_files(report: Path) -> dict[str, bytes]:
    return {name: base64.b64decode(value) for name, value in _EMBEDDED.findall(report.read_text("utf-8"))}


def trend_points(report: Path) -> list[str]:
    """The names of the points of the "Status dynamics" chart, oldest first (the run itself: "current")."""
    charts: dict[str, Any] = json.loads(embedded_files(report)["widgets/charts.json"])
    (dynamics,) = [c for c in charts["general"].values() if c["type"] == "statusDynamics"]
    return [point["name"] for point in dynamics["data"]]
