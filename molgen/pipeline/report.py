"""The report step: ``report.json`` (the run's summary) and a self-contained ``report.html``.

It reads only what the run wrote (``manifest.json``, each step's table, each validate step's
``metrics.json``, each dock step's ``summary.json``), so it can be rebuilt from a finished run
directory at any time: ``write_report(RUN_DIR)``. The work is done by :mod:`molgen.analysis.report`.
"""

from __future__ import annotations

from pathlib import Path


def build_report(run_dir: str | Path) -> dict:
    """The report's content (what ``report.json`` holds)."""
    from molgen.analysis.report import build_summary
    from molgen.analysis.run import load_run

    return build_summary(load_run(run_dir))


def write_report(run_dir: str | Path) -> Path:
    """Write ``RUN_DIR/report.json`` and ``RUN_DIR/report.html``; returns the HTML path."""
    from molgen.analysis.report import write_run_report

    return write_run_report(run_dir)
