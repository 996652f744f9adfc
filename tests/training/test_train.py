"""Training end to end on the QM9 sample: smoke run, model file, exact resume after SIGKILL, DDP."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from lightning.pytorch.callbacks import Callback
from rdkit import Chem

from molgen.config import load_config
from molgen.errors import MolgenError
from molgen.training import load_model
from molgen.training.train import train
from tests.conftest import ROOT, TINY_MODEL, run_cli


def _cfg(qm9_prepared: Path, out: Path, *extra: str):
    overrides = [
        f"data.train={qm9_prepared / 'train'}", f"data.val={qm9_prepared / 'val'}", f"out_dir={out}",
        "data.batch_size=16", "train.val_num_samples=4", "train.val_sample_steps=3",
        "optim.warmup_steps=2", "trainer.log_every_n_steps=1", "trainer.accelerator=cpu", "trainer.devices=1",
        *TINY_MODEL, *extra,
    ]
    return load_config(ROOT / "configs" / "qm9_flow.yaml", overrides)


class RecordBatches(Callback):
    """Records the molecules of every training batch, in order."""

    def __init__(self) -> None:
        self.seen: list[list[str]] = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self.seen.append(list(batch.smiles))


def test_smoke_train_then_sample(qm9_prepared, tmp_path):
    cfg = _cfg(qm9_prepared, tmp_path / "run", "train.max_steps=16", "train.checkpoint_every_n_steps=8")
    run = train(cfg)
    assert (run / "config.yaml").is_file() and (run / "checkpoints" / "last.ckpt").is_file()
    metrics = (run / "logs" / "metrics.csv").read_text()
    assert "train/loss" in metrics and "val/loss" in metrics and "val/sample_mol_stable" in metrics
    # both file kinds load with weights_only=True and carry config + statistics
    for path in (run / "model.ckpt", run / "checkpoints" / "last.ckpt"):
        gm = load_model(path)
        assert gm.vocab.name == "qm9" and gm.stats["num_atoms"]["hist"]
    torch.load(run / "model.ckpt", weights_only=True)

    out = tmp_path / "gen" / "mols.sdf"
    code = run_cli(["sample", "-c", str(run / "model.ckpt"), "--num", "6", "--steps", "3", "--batch-size", "4",
                    "--option", "discrete_stochasticity=0.5", "--out", str(out)])
    assert code == 0
    # the --option reached the sampler's process (its config is written into the summary)
    assert json.loads(out.with_suffix(".json").read_text())["process"]["discrete_stochasticity"] == 0.5
    assert run_cli(["sample", "-c", str(tmp_path / "missing.ckpt"), "--out", str(out)]) == 2
    mols = [m for m in Chem.SDMolSupplier(str(out), sanitize=False, removeHs=False)]
    assert len(mols) == 6 and all(m is not None and m.GetNumConformers() == 1 for m in mols)

    # `molgen train --resume RUN key=value`: the override reaches the resumed run (max_steps 16 -> 20)
    assert "decay_steps: 16" in (run / "config.yaml").read_text()  # the cosine horizon, fixed at the start
    assert run_cli(["train", "--resume", str(run), "train.max_steps=20"]) == 0
    assert "max_steps: 20" in (run / "config.yaml").read_text()
    assert "decay_steps: 16" in (run / "config.yaml").read_text()  # kept: the schedule does not restart
    last_lr = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)["lr_schedulers"][0]["_last_lr"]
    assert abs(last_lr[0] - 0.05 * cfg.optim.lr) < 1e-12  # past the horizon: the floor, min_lr_ratio × lr
    assert torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == 20
    assert run_cli(["train", "--resume", str(run), str(ROOT / "configs" / "qm9_flow.yaml")]) == 2
    # a run directory copied elsewhere resumes from, and saves to, its own last.ckpt (not last-v1.ckpt)
    import shutil

    copy = tmp_path / "copied_run"
    shutil.copytree(run, copy)
    assert run_cli(["train", "--resume", str(copy), "train.max_steps=24"]) == 0
    assert torch.load(copy / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == 24
    assert not list((copy / "checkpoints").glob("last-v*.ckpt"))
    summary = json.loads(out.with_suffix(".json").read_text())
    assert summary["num"] == 6 and summary["molecules_per_s"] > 0


def test_sampling_is_seeded(qm9_prepared, tmp_path):
    from molgen.sampling.generate import generate

    cfg = _cfg(qm9_prepared, tmp_path / "run", "train.max_steps=2", "train.val_num_samples=0")
    run = train(cfg)
    a = generate(run / "model.ckpt", 5, 4, tmp_path / "a.sdf", batch_size=3, seed=7)
    b = generate(run / "model.ckpt", 5, 4, tmp_path / "b.sdf", batch_size=3, seed=7)
    c = generate(run / "model.ckpt", 5, 4, tmp_path / "c.sdf", batch_size=3, seed=8)
    assert a["written"] == 5
    assert (tmp_path / "a.sdf").read_text() == (tmp_path / "b.sdf").read_text()
    assert (tmp_path / "a.sdf").read_text() != (tmp_path / "c.sdf").read_text()


KILL_SCRIPT = textwrap.dedent(
    """
    import os, signal, sys
    from lightning.pytorch.callbacks import Callback
    from molgen.config import load_config
    from molgen.training.train import train

    class Kill(Callback):
        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            if trainer.global_step == int(sys.argv[2]):
                os.kill(os.getpid(), signal.SIGKILL)

    cfg = load_config(sys.argv[1], sys.argv[3:])
    train(cfg, extra_callbacks=[Kill()])
    """
)


def test_resume_after_sigkill_is_exact(qm9_prepared, tmp_path):
    """Killed at step 7 with a checkpoint at step 5, resumed to step 10: same batches, same weights."""
    common = ["train.max_steps=10", "train.checkpoint_every_n_steps=5", "train.val_num_samples=0",
              "optim.ema_decay=0.9"]
    ref_rec = RecordBatches()
    ref = train(_cfg(qm9_prepared, tmp_path / "ref", *common), extra_callbacks=[ref_rec])

    killed = tmp_path / "killed"
    overrides = [
        f"data.train={qm9_prepared / 'train'}", f"data.val={qm9_prepared / 'val'}", f"out_dir={killed}",
        "data.batch_size=16", "optim.warmup_steps=2", "trainer.log_every_n_steps=1", "trainer.accelerator=cpu",
        "trainer.devices=1", *TINY_MODEL, *common,
    ]
    script = tmp_path / "kill.py"
    script.write_text(KILL_SCRIPT)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, str(script), str(ROOT / "configs" / "qm9_flow.yaml"), "7", *overrides],
                          env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == -9, proc.stderr[-2000:]
    assert (killed / "checkpoints" / "last.ckpt").is_file()
    assert torch.load(killed / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == 5

    res_rec = RecordBatches()
    cfg = load_config(killed / "config.yaml")
    train(cfg, resume=True, extra_callbacks=[res_rec])
    assert res_rec.seen == ref_rec.seen[5:10]  # the data order continues where the checkpoint left it
    from molgen.analysis.training import load_training_log

    log = load_training_log(killed)  # the killed segment's log is kept, not overwritten
    assert (killed / "logs" / "metrics.resumed-0.csv").is_file()
    assert log["step"].min() < 5 and log["step"].max() >= 9

    a = torch.load(ref / "checkpoints" / "last.ckpt", weights_only=True)
    b = torch.load(killed / "checkpoints" / "last.ckpt", weights_only=True)
    assert a["global_step"] == b["global_step"] == 10
    for key, value in a["state_dict"].items():  # model and EMA weights
        torch.testing.assert_close(b["state_dict"][key], value, rtol=1e-5, atol=1e-6, msg=key)
    opt_a, opt_b = a["optimizer_states"][0]["state"], b["optimizer_states"][0]["state"]
    for k in opt_a:
        torch.testing.assert_close(opt_b[k]["exp_avg"], opt_a[k]["exp_avg"], rtol=1e-5, atol=1e-7)


def test_ddp_two_cpu_processes(qm9_prepared, tmp_path):
    """Two gloo processes train a few steps; each rank sees half of the batches."""
    run = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "molgen.cli", "train", str(ROOT / "configs" / "qm9_flow.yaml"),
           f"data.train={qm9_prepared / 'train'}", "data.val=null", f"out_dir={run}", "data.batch_size=8",
           "train.max_steps=3", "train.val_num_samples=0", "trainer.accelerator=cpu", "trainer.devices=2",
           "trainer.strategy=ddp", *TINY_MODEL]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ckpt = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)
    assert ckpt["global_step"] == 3
    assert (run / "model.ckpt").is_file()


def test_pocket_run_resumed_equals_uninterrupted(tmp_path):
    """A pocket model (with its fragment / dropped-pocket augmentations) trained 6 steps at once, and
    3 steps then resumed to 6: the same weights."""
    import csv

    from molgen.chem.vocab import DRUG_HEAVY
    from molgen.data.complexes import prepare_complexes

    pb = ROOT / "data" / "complexes" / "posebusters" / "1S3V"
    thrombin = ROOT / "data" / "complexes" / "fep" / "thrombin_core"
    index = tmp_path / "index.csv"
    with open(index, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["protein", "ligand", "record"])
        w.writerow([pb / "1s3v_protein_one_lig_removed.pdb", pb / "1s3v_ligand.sdf", 0])
        for k in range(3):
            w.writerow([thrombin / "thrombin_core_protein.pdb", thrombin / "thrombin_core_ligands.sdf", k])
    cache = tmp_path / "cache"
    prepare_complexes(index, cache, DRUG_HEAVY, cutoff=6.0, ca_only=False, limit=None)

    def cfg(out: Path, steps: int):
        return load_config(ROOT / "configs" / "pocket_flow.yaml", [
            f"data.train={cache}", "data.extra_train=[]", f"out_dir={out}", "data.batch_size=2",
            f"train.max_steps={steps}",
            "optim.warmup_steps=1", "optim.schedule=constant", "train.checkpoint_every_n_steps=3",
            "trainer.log_every_n_steps=1", "trainer.accelerator=cpu", "trainer.devices=1", *TINY_MODEL,
        ])

    ref = train(cfg(tmp_path / "ref", 6))
    part = train(cfg(tmp_path / "part", 3))
    train(cfg(part, 6), resume=True)
    a = torch.load(ref / "checkpoints" / "last.ckpt", weights_only=True)
    b = torch.load(part / "checkpoints" / "last.ckpt", weights_only=True)
    assert a["global_step"] == b["global_step"] == 6
    for key, value in a["state_dict"].items():  # model and EMA weights (tolerance as for QM9 above)
        torch.testing.assert_close(b["state_dict"][key], value, rtol=1e-5, atol=1e-6, msg=key)


def test_lr_schedule_is_decided_by_the_config_not_the_step_limit(qm9_prepared, tmp_path):
    """Cosine over ``optim.decay_steps`` whatever ``max_steps`` a resumed run gets; ``constant`` stays at lr;
    ``cooldown`` is constant to ``decay_start``, then 1 - sqrt(fraction) (a quarter of the way: 1/2)."""
    from molgen.chem.vocab import QM9
    from molgen.config import config_to_dict
    from molgen.training.module import MolgenModule

    stats = json.loads((qm9_prepared / "train" / "stats.json").read_text())
    for schedule, expected in (("cosine", {0: 0.1, 9: 1.0, 10: 1.0, 55: 0.05 + 0.95 * 0.5, 100: 0.05, 500: 0.05}),
                               ("constant", {0: 0.1, 9: 1.0, 55: 1.0, 500: 1.0}),
                               ("cooldown", {0: 0.1, 9: 1.0, 200: 1.0, 300: 1.0, 325: 0.05 + 0.95 * 0.5,
                                             400: 0.05, 900: 0.05})):
        cfg = _cfg(qm9_prepared, tmp_path / schedule, f"optim.schedule={schedule}", "optim.warmup_steps=10",
                   "optim.decay_steps=100", "optim.decay_start=300", "train.max_steps=1000")
        module = MolgenModule(config_to_dict(cfg), stats, QM9.to_dict())
        sched = module.configure_optimizers()["lr_scheduler"]["scheduler"]
        for step, factor in expected.items():
            assert abs(sched.lr_lambdas[0](step) - factor) < 1e-12, (schedule, step)


def test_init_from_starts_a_new_run_from_a_model_file(qm9_prepared, tmp_path):
    """train.init_from: the new run starts at the given weights (one Adam step away after one step,
    against O(1) differences from a fresh init) and records it in init_from.json."""
    first = train(_cfg(qm9_prepared, tmp_path / "a", "train.max_steps=2", "train.val_num_samples=0"))
    src = torch.load(first / "model.ckpt", weights_only=True)["state_dict"]
    second = train(_cfg(qm9_prepared, tmp_path / "b", "train.max_steps=1", "train.val_num_samples=0", "seed=7",
                        "optim.lr=1e-4", f"train.init_from={first / 'model.ckpt'}"))
    info = json.loads((second / "init_from.json").read_text())
    assert info["copied"] == len(src) and not info["embedding_widened"]
    got = torch.load(second / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    key = "model.embed.0.weight"
    assert (got[key] - src["embed.0.weight"]).abs().max() < 5e-4  # one Adam step of lr 1e-4 (+ warm-up)
    fresh = train(_cfg(qm9_prepared, tmp_path / "c", "train.max_steps=1", "train.val_num_samples=0", "seed=7"))
    other = torch.load(fresh / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"][key]
    assert (other - src["embed.0.weight"]).abs().max() > 0.05


def test_bad_inputs_leave_no_run_directory(qm9_prepared, tmp_path):
    """A missing dataset or init_from file is a MolgenError naming it, raised before the run directory exists
    (a rerun with the path fixed must not find a half-made run)."""
    with pytest.raises(MolgenError, match="not a prepared dataset") as err:
        train(_cfg(qm9_prepared, tmp_path / "a", f"data.train={tmp_path / 'nowhere'}"))
    assert "nowhere" in str(err.value) and not (tmp_path / "a").exists()
    with pytest.raises(MolgenError) as err:
        train(_cfg(qm9_prepared, tmp_path / "b", f"train.init_from={tmp_path / 'none.ckpt'}"))
    assert "none.ckpt" in str(err.value) and not (tmp_path / "b").exists()
    with pytest.raises(MolgenError, match="unknown loss weight") as err:
        train(_cfg(qm9_prepared, tmp_path / "c", "process.loss_weights.geomx=1.0"))
    assert "geomx" in str(err.value) and not (tmp_path / "c").exists()


def test_datamodule_from_config_gives_the_batches_train_sees(qm9_prepared, tmp_path):
    """Benchmarks score a model on `datamodule_from_config(cfg)`'s batches: they are the training batches of
    a run of the same config, in the same order."""
    from molgen.training.train import datamodule_from_config

    rec = RecordBatches()
    cfg = _cfg(qm9_prepared, tmp_path / "run", "train.max_steps=3", "train.val_num_samples=0")
    train(cfg, extra_callbacks=[rec])
    dm = datamodule_from_config(_cfg(qm9_prepared, tmp_path / "other"))
    dm.setup("fit")
    it = iter(dm.train_dataloader())
    assert [list(next(it).smiles) for _ in range(3)] == rec.seen[:3]
    with pytest.raises(MolgenError, match="data.vocab is 'drug_heavy'"):
        datamodule_from_config(_cfg(qm9_prepared, tmp_path / "x", "data.vocab=drug_heavy"))
