"""The conformance matrix: route x check family, with each check's verdict and reason.

Results arrive one per test (on xdist, from every worker through the test reports) and
are written at the end as reports/conformance-matrix.json and .md, and summarised in the
terminal.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from mmv3.checks import FAMILIES

NOT_RUN = "not run"  # the run ended before the check (target gone, worker died): see its reason
# Ordered from worst to best: a family's cell shows its worst check.
STATUSES = ("failed", "xpassed", "error", "xfailed", NOT_RUN, "passed", "skipped")
SYMBOLS = {
    "failed": "FAIL",
    "xpassed": "XPASS",
    "error": "ERROR",
    "xfailed": "xfail",
    NOT_RUN: "not run",
    "passed": "ok",
    "skipped": "skip",
}
# Statuses that make a run fail.
BAD = frozenset({"failed", "xpassed", "error"})


@dataclass(frozen=True)
class Result:
    route: str  # "POST /api/v3/users/login"
    group: str
    family: str
    check: str  # "auth.no_token"
    status: str  # one of STATUSES
    reason: str = ""
    category: str = ""

    def to_property(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_property(cls, text: str) -> Result:
        return cls(**json.loads(text))


class Matrix:
    def __init__(self) -> None:
        self.results: list[Result] = []

    def add(self, result: Result) -> None:
        self.results.append(result)

    def __len__(self) -> int:
        return len(self.results)

    # -- views ---------------------------------------------------------------------------
    def cells(self) -> dict[str, dict[str, str]]:
        """route -> family -> worst status among the family's checks on that route."""
        worst: dict[str, dict[str, str]] = defaultdict(dict)
        for result in self.results:
            current = worst[result.route].get(result.family)
            if current is None or STATUSES.index(result.status) < STATUSES.index(current):
                worst[result.route][result.family] = result.status
        return dict(worst)

    def counts(self) -> Counter[str]:
        return Counter(result.status for result in self.results)

    def family_counts(self) -> dict[str, Counter[str]]:
        out: dict[str, Counter[str]] = {family: Counter() for family in FAMILIES}
        for result in self.results:
            out.setdefault(result.family, Counter())[result.status] += 1
        return out

    def failures(self) -> list[Result]:
        return sorted(
            (r for r in self.results if r.status in BAD), key=lambda r: (r.family, r.route, r.check)
        )

    # -- writing -------------------------------------------------------------------------
    def as_json(self, environment: dict[str, str]) -> dict[str, Any]:
        routes: dict[str, dict[str, Any]] = {}
        cells = self.cells()
        for result in sorted(self.results, key=lambda r: (r.route, r.check)):
            route = routes.setdefault(result.route, {"group": result.group, "families": {}})
            family = route["families"].setdefault(
                result.family, {"status": cells[result.route][result.family], "checks": []}
            )
            entry = {"check": result.check, "status": result.status}
            if result.reason:
                entry["reason"] = result.reason
            if result.category:
                entry["category"] = result.category
            family["checks"].append(entry)
        return {
            "environment": environment,
            "summary": dict(sorted(self.counts().items())),
            "families": {f: dict(sorted(c.items())) for f, c in self.family_counts().items() if c},
            "routes": routes,
        }

    def as_markdown(self, environment: dict[str, str]) -> str:
        lines = ["# mmv3 conformance matrix", ""]
        for key, value in environment.items():
            lines.append(f"- **{key}**: {value}")
        counts = self.counts()
        lines += ["", "Checks: " + ", ".join(f"{counts[s]} {s}" for s in STATUSES if counts[s]), ""]
        families = [f for f in FAMILIES if any(r.family == f for r in self.results)]
        lines.append("| route | " + " | ".join(families) + " |")
        lines.append("|---|" + "---|" * len(families))
        cells = self.cells()
        for route in sorted(cells):
            row = [SYMBOLS.get(cells[route].get(f, ""), "·") if f in cells[route] else "·" for f in families]
            lines.append(f"| `{route}` | " + " | ".join(row) + " |")
        lines += ["", "`·` = no check of that family applies to the route.", ""]
        notable = [r for r in self.results if r.status != "passed" and r.reason]
        if notable:
            lines += ["## Not passed", "", "| route | check | status | reason |", "|---|---|---|---|"]
            for r in sorted(notable, key=lambda r: (STATUSES.index(r.status), r.route, r.check)):
                reason = r.reason.replace("|", "\\|")
                lines.append(f"| `{r.route}` | {r.check} | {r.status} | {reason} |")
        return "\n".join(lines) + "\n"

    def write(self, directory: Path, environment: dict[str, str]) -> tuple[Path, Path]:
        directory.mkdir(parents=True, exist_ok=True)
        json_path = directory / "conformance-matrix.json"
        md_path = directory / "conformance-matrix.md"
        json_path.write_text(json.dumps(self.as_json(environment), indent=1) + "\n", encoding="utf-8")
        md_path.write_text(self.as_markdown(environment), encoding="utf-8")
        return json_path, md_path

    def _not_applicable_lines(self, family: str, cells: dict[str, dict[str, str]]) -> list[str]:
        """Routes on which every check of `family` skipped neither conform nor fail: say how many
        and why (the commonest reasons), so that `179/187 routes conform` is not read as 8 failing."""
        skipped = {route for route, worst in cells.items() if worst.get(family) == "skipped"}
        if not skipped:
            return []
        routes_by_reason: dict[str, set[str]] = defaultdict(set)
        for r in self.results:
            if r.family == family and r.route in skipped and r.status == "skipped":
                routes_by_reason[r.reason or "not applicable"].add(r.route)
        common = sorted(routes_by_reason.items(), key=lambda item: (-len(item[1]), item[0]))
        shown = "; ".join(
            f"{len(routes)} × {reason if len(reason) <= 100 else reason[:99] + '…'}"
            for reason, routes in common[:3]
        )
        more = f"; {len(common) - 3} more reason(s) in the matrix" if len(common) > 3 else ""
        plural = "route" if len(skipped) == 1 else "routes"
        return [f"{'':9} {len(skipped)} {plural} not applicable (every check skipped): {shown}{more}"]

    def summary_lines(self, limit: int = 25) -> list[str]:
        """A compact terminal summary: one line per family, then the failures."""
        lines = []
        cells = self.cells()
        for family, counts in self.family_counts().items():
            if not counts:
                continue
            routes = sum(1 for route in cells.values() if family in route)
            clean = sum(1 for route in cells.values() if route.get(family) in ("passed", "xfailed"))
            parts = ", ".join(f"{counts[s]} {s}" for s in STATUSES if counts[s])
            lines.append(f"{family:<9} {clean:>3}/{routes:<3} routes conform   checks: {parts}")
            lines += self._not_applicable_lines(family, cells)
        failures = self.failures()
        for result in failures[:limit]:
            reason = result.reason if len(result.reason) <= 160 else result.reason[:159] + "…"
            lines.append(f"  {SYMBOLS[result.status]:<5} {result.check:<24} {result.route}: {reason}")
        if len(failures) > limit:
            lines.append(f"  ... and {len(failures) - limit} more (see the matrix in the reports directory)")
        return lines
