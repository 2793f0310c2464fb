"""JUnit XML of a load run, for CI systems that read JUnit (the conformance suite's comes from pytest).

One test suite, `mmv3-load`: a test case per threshold (class `load.thresholds`) and per
rate-limit oracle verdict (class `load.ratelimit-oracle`); a breach is a <failure>, a verdict
with nothing to measure is <skipped>, and a run that never produced a summary is one <error>.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

SUITE = "mmv3-load"


def _case(suite: ET.Element, classname: str, name: str, status: str, message: str) -> None:
    case = ET.SubElement(suite, "testcase", classname=classname, name=name, time="0")
    if status == "failed":
        ET.SubElement(case, "failure", message=message, type="threshold").text = message
    elif status == "skipped":
        ET.SubElement(case, "skipped", message=message)
    elif message:
        ET.SubElement(case, "system-out").text = message


def load_suite(summary: dict[str, Any] | None, seconds: float, error: str | None = None) -> ET.Element:
    suite = ET.Element("testsuite", name=SUITE, time=f"{seconds:.1f}")
    if summary is None or error:
        case = ET.SubElement(suite, "testcase", classname="load", name="load run", time=f"{seconds:.1f}")
        ET.SubElement(case, "error", message=error or "no summary").text = error or "no summary"
    if summary is not None:
        thresholds = (summary.get("thresholds") or {}).get("outcomes", [])
        for outcome in thresholds:
            _case(suite, "load.thresholds", outcome["name"], outcome["status"], outcome.get("message", ""))
        for verdict in (summary.get("oracle") or {}).get("verdicts", []):
            _case(
                suite, "load.ratelimit-oracle", verdict["name"], verdict["status"], verdict.get("message", "")
            )
    cases = suite.findall("testcase")
    suite.set("tests", str(len(cases)))
    suite.set("failures", str(sum(1 for c in cases if c.find("failure") is not None)))
    suite.set("errors", str(sum(1 for c in cases if c.find("error") is not None)))
    suite.set("skipped", str(sum(1 for c in cases if c.find("skipped") is not None)))
    return suite


def write_load(path: Path, summary: dict[str, Any] | None, seconds: float, error: str | None = None) -> Path:
    root = ET.Element("testsuites")
    root.append(load_suite(summary, seconds, error))
    ET.indent(root)
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)
    return path
