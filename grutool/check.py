"""`check`: pass/fail conditions on a checkpoint's GRU cells, for CI pipelines.

Each condition the caller asks for becomes one `Check` with a plain-language detail; the
report passes only when every check does. A file without any GRU cell fails on its own,
since no other condition means anything then.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from .cells import CANONICAL_NAMES, modules_difference
from .progress import steps
from .stats import gate_stats, looks_untrained
from .wording import counted

if TYPE_CHECKING:
    from .checkpoint import Checkpoint
    from .progress import Progress

# Cells named in a detail line before it is cut short: the line is read in a CI log.
MAX_NAMED = 3


@dataclass
class Check:
    name: str
    ok: bool
    detail: str

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "ok": self.ok, "detail": self.detail}


@dataclass
class CheckReport:
    path: str
    checks: list[Check] = field(default_factory=list)
    # What recognition noticed about the file (an assumed layout, a half cell, …).
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.checks)

    @property
    def failed(self) -> list[Check]:
        return [check for check in self.checks if not check.ok]

    def failure(self) -> str | None:
        """The one-line message of a failed report ("<path>: 2 of 4 checks failed: units,
        trained"), None when every check passed."""
        failed = self.failed
        if not failed:
            return None
        if any(check.name == "found" for check in failed):
            return f"{self.path}: {failed[0].detail}"
        return (f"{self.path}: {len(failed)} of {len(self.checks)} checks failed: "
                + ", ".join(check.name for check in failed))

    def to_json(self) -> dict[str, Any]:
        data = {"path": self.path, "ok": self.ok, "checks": [c.to_json() for c in self.checks],
                "warnings": list(self.warnings)}
        if not self.ok:
            data["error"] = self.failure()
        return data


def _some(names: list[str]) -> str:
    shown = ", ".join(names[:MAX_NAMED])
    return shown + (f" and {len(names) - MAX_NAMED} more" if len(names) > MAX_NAMED else "")


def check_checkpoint(checkpoint: Checkpoint, *, cells: int | None = None,
                     units: int | None = None, expect_layout: str | None = None,
                     allow_nan: bool = False, trained: bool = False,
                     match: Checkpoint | None = None,
                     progress: Progress | None = None,
                     layout: str | None = None) -> CheckReport:
    """Run the conditions asked for on `checkpoint`; options left at None are not checked.

    `expect_layout` fails unless every cell has that layout; NaN/Inf values are checked
    unless `allow_nan`; `trained` fails on TF's untouched initial gate biases; `match`
    compares the structure with another checkpoint of any format (the rule `verify` uses).
    `progress` wraps the loops that read the cells (see grutool.progress). `layout` is
    grutool 0.1's name for `expect_layout`.
    """
    expect_layout = expect_layout if expect_layout is not None else layout
    report = CheckReport(str(checkpoint.path), warnings=list(checkpoint.warnings))
    found = checkpoint.cells
    if not found:
        report.checks.append(Check("found", False, checkpoint.no_cells_message()))
        return report
    report.checks.append(Check("found", True, counted(len(found), "GRU cell")))
    # The weights are read once, under the caller's progress, and cached for the checks.
    comparable = match is not None and not modules_difference(checkpoint.modules, match.modules)
    for needed, source in ((not allow_nan or trained or comparable, checkpoint),
                           (comparable, match)):
        if needed and source is not None:
            for cell in steps(progress, source.cells, "reading"):
                source.canonical(cell)

    if cells is not None:
        report.checks.append(Check("cells", len(found) == cells,
                                   f"expected {cells}, found {len(found)}"))
    if units is not None:
        wrong = [f"{c.name} has {c.hidden_size}" for c in found if c.hidden_size != units]
        report.checks.append(Check("units", not wrong, f"expected {units} in every cell"
                                   + (f", {_some(wrong)}" if wrong else "")))
    if expect_layout is not None:
        wrong = [f"{c.name} is {c.layout}" for c in found if c.layout != expect_layout]
        report.checks.append(Check("layout", not wrong, f"expected {expect_layout} for every "
                                   "cell" + (f", {_some(wrong)}" if wrong else "")))
    if not allow_nan:
        report.checks.append(_finite_check(checkpoint))
    if trained:
        untrained = [c.name for c in found if looks_untrained(c, checkpoint.canonical(c))]
        detail = ("no cell holds TensorFlow's initial gates bias" if not untrained else
                  f"{_some(untrained)} looks untrained (gates bias still exactly 1.0, "
                  "TensorFlow's initial value)")
        report.checks.append(Check("trained", not untrained, detail))
    if match is not None:
        report.checks.append(_match_check(checkpoint, match))
    return report


def _finite_check(checkpoint: Checkpoint) -> Check:
    bad = [f"{cell.name}/{name} has {stats['nan']} NaN and {stats['inf']} Inf"
           for cell in checkpoint.cells
           for name, stats in gate_stats(checkpoint.canonical(cell)).items()
           if stats["nan"] or stats["inf"]]
    return Check("finite", not bad, _some(bad) if bad else "no NaN or Inf in any cell")


def _match_check(checkpoint: Checkpoint, other: Checkpoint) -> Check:
    """The same structure as `other` (the rule `verify` and `diff` use), then the same array
    shapes cell by cell."""
    difference = modules_difference(checkpoint.modules, other.modules)
    if difference:
        return Check("match", False, difference)
    ours = checkpoint.cells
    differences = []
    for a, b in zip(ours, other.cells, strict=True):
        weights_a, weights_b = checkpoint.canonical(a), other.canonical(b)
        # An absent bias means zero on either side, so only arrays both have are compared.
        for name in CANONICAL_NAMES:
            if name in weights_a and name in weights_b:
                shape_a, shape_b = np.shape(weights_a[name]), np.shape(weights_b[name])
                if shape_a != shape_b:
                    differences.append(f"{a.name}/{name} is {list(shape_a)} and "
                                       f"{b.name}/{name} {list(shape_b)}")
    if differences:
        return Check("match", False, _some(differences))
    return Check("match", True, f"same structure, {counted(len(ours), 'cell')} and shapes as "
                                f"{other.path}")


