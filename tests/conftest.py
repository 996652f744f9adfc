"""Shared fixtures: the committed samples, prepared once per test session."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"

torch.set_num_threads(min(2, torch.get_num_threads()))


@pytest.fixture(scope="session")
def qm9_prepared(tmp_path_factory) -> Path:
    """The committed QM9 sample (data/qm9/qm9_sample.csv) prepared into train/val/test caches."""
    from molgen.data.qm9 import prepare_qm9

    out = tmp_path_factory.mktemp("qm9_sample")
    prepare_qm9(out, source=DATA / "qm9" / "qm9_sample.csv", seed=0)
    return out


TINY_MODEL = ["model.hidden=32", "model.num_layers=2", "model.edge_dim=8", "model.num_rbf=8"]


def run_cli(args: list[str]) -> int:
    """Run ``molgen ARGS`` in-process; returns the exit code."""
    from molgen.cli import main

    try:
        main(args)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0
