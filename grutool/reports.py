"""`check`'s reports for CI systems, built from the same per-file objects `--json` prints.

- GitHub Actions workflow commands: `::error file=…,title=…::message` per failed check or
  unreadable file, `::warning` per recognition warning, `::notice` per file that passed.
  Data is escaped as the runner expects (`%`, CR, LF; in properties also `:` and `,`).
- JUnit XML, the shape Jenkins, GitLab, Azure and the JUnit report actions read:
  `<testsuites>` › one `<testsuite>` per file › one `<testcase>` per check, a failed check
  holding `<failure message type>`, a file that could not be read one `<error>` case.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .batch import Outcome

TITLE = "grutool check"


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def annotation(level: str, message: str, file: str | None = None, title: str = TITLE) -> str:
    """One workflow command line: `::error file=model.ckpt,title=grutool check::message`."""
    properties = ",".join(f"{key}={_escape_property(value)}"
                          for key, value in (("file", file), ("title", title)) if value)
    return f"::{level} {properties}::{_escape_data(message)}"


def github_annotations(outcomes: list[Outcome], quiet: bool = False) -> list[str]:
    """Annotations for a run of `check` over `outcomes`; with `quiet`, none for files that
    passed."""
    lines = []
    for outcome in outcomes:
        report = outcome.report
        checks = report.get("checks")
        if checks is None:  # the file could not be read (or the run failed before checking)
            lines.append(annotation("error", report.get("error") or "failed", outcome.path))
            continue
        for warning in report.get("warnings", []):
            lines.append(annotation("warning", warning, outcome.path))
        failed = [check for check in checks if not check["ok"]]
        for check in failed:
            lines.append(annotation("error", f"{check['name']}: {check['detail']}",
                                    outcome.path, f"{TITLE} {check['name']}"))
        if not failed and not quiet:
            found = next((c["detail"] for c in checks if c["name"] == "found"), "")
            lines.append(annotation("notice", f"{outcome.path}: {found}, all {len(checks)} "
                                    "checks passed", outcome.path))
    return lines


def junit_xml(outcomes: list[Outcome]) -> str:
    """The JUnit XML document of a run of `check` over `outcomes`."""
    suites = ET.Element("testsuites", name=TITLE)
    totals = {"tests": 0, "failures": 0, "errors": 0}
    total_time = 0.0
    for outcome in outcomes:
        counts = _suite(suites, outcome)
        for key in totals:
            totals[key] += counts[key]
        total_time += outcome.seconds
    for key, value in totals.items():
        suites.set(key, str(value))
    suites.set("time", f"{total_time:.3f}")
    ET.indent(suites)
    return ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"


def _suite(parent: ET.Element, outcome: Outcome) -> dict[str, int]:
    report: dict[str, Any] = outcome.report
    suite = ET.SubElement(parent, "testsuite", name=outcome.path)
    checks = report.get("checks")
    if checks is None:
        case = ET.SubElement(suite, "testcase", name="read", classname=outcome.path,
                             file=outcome.path)
        error = ET.SubElement(case, "error", message=report.get("error") or "failed",
                              type="unreadable")
        error.text = report.get("error")
        counts = {"tests": 1, "failures": 0, "errors": 1}
    else:
        for check in checks:
            case = ET.SubElement(suite, "testcase", name=check["name"], classname=outcome.path,
                                 file=outcome.path)
            if not check["ok"]:
                failure = ET.SubElement(case, "failure", message=check["detail"],
                                        type=check["name"])
                failure.text = check["detail"]
        if report.get("warnings"):
            output = ET.SubElement(suite, "system-out")
            output.text = "\n".join(f"warning: {w}" for w in report["warnings"])
        counts = {"tests": len(checks), "errors": 0,
                  "failures": sum(1 for check in checks if not check["ok"])}
    for key, value in counts.items():
        suite.set(key, str(value))
    suite.set("skipped", "0")
    suite.set("time", f"{outcome.seconds:.3f}")
    return counts
