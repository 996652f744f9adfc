"""Pipeline fixtures: a tiny trained model (a few steps on the committed QM9 sample) and workflow files."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import ROOT, TINY_MODEL


@pytest.fixture(scope="session")
def tiny_checkpoint(qm9_prepared, tmp_path_factory) -> Path:
    """An exported model file trained for 4 steps (its molecules are poor; the pipeline does not care)."""
    from molgen.config import load_config
    from molgen.training.train import train

    out = tmp_path_factory.mktemp("tiny_model")
    cfg = load_config(ROOT / "configs" / "qm9_flow.yaml", [
        f"data.train={qm9_prepared / 'train'}", "data.val=null", f"out_dir={out / 'run'}", "data.batch_size=16",
        "train.max_steps=4", "train.val_num_samples=0", "optim.warmup_steps=2", "trainer.accelerator=cpu",
        "trainer.devices=1", "trainer.log_every_n_steps=1", *TINY_MODEL,
    ])
    run = train(cfg)
    return run / "model.ckpt"
