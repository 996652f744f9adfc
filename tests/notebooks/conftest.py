"""Fixtures of the notebook tests: the small runs of tests/analysis (made once per session)."""

from tests.analysis.runs import pocket_dir, quality_json, quick_dir, runs_base, training_dir  # noqa: F401
