"""Fixtures of the analysis tests: small real runs made once per session (see runs.py)."""

from tests.analysis.runs import pocket_dir, quality_json, quick_dir, runs_base, training_dir  # noqa: F401
