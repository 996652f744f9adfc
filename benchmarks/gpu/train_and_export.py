"""Train for a wall-clock budget on the best device here, export the model, measure it (see the .sh beside it).

    python -m benchmarks.gpu.train_and_export --out OUT --budget-s 480 [--config C] [--data DIR|ARCHIVE]
        [--batch-size B] [--lr LR] [--compile] [key=value ...]

On CUDA: bf16-mixed precision, batch ``--batch-size`` (default 512) with the LR scaled by the square root
of the batch ratio (unless ``--lr``), optional ``torch.compile``. On CPU (the dry run): the config's
batch and precision. Writes under OUT:

* ``model.ckpt``: the exported EMA weights (``molgen.load_model``), with the run's record in ``meta``;
* ``gpu_train.json``: device, steps, wall time, molecules/s of training, the loss at the end, and the
  quality of ``--num`` molecules sampled at 20 steps from the exported file (as
  :mod:`benchmarks.learning` measures it);
* ``run.log``: the training log (the last lines also go to stdout).

The budget covers everything: preparing or unpacking the data, training, export, evaluation. Training
gets ``budget − reserve`` seconds (reserve: 25 % of the budget, at least 20 s and at most 120 s).
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import shutil
import tarfile
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DEFAULT_CONFIG = REPO / "configs" / "qm9_heavy_flow.yaml"


def _data(arg: Path | None, work: Path) -> Path:
    """A prepared QM9 folder (with train/), from a folder, a tar archive of one, or the committed sample."""
    if arg is None:
        from molgen.data.qm9 import prepare_qm9

        out = work / "qm9_sample_heavy"
        prepare_qm9(out, source=REPO / "data" / "qm9" / "qm9_sample.csv", workers=0, vocab="qm9_heavy")
        return out
    if arg.is_dir():
        return arg
    with tarfile.open(arg) as tar:
        tar.extractall(work / "data", filter="data")
    found = [p.parent for p in (work / "data").glob("**/train/index.json")]
    if not found:
        raise SystemExit(f"{arg}: no prepared train/ cache inside")
    return found[0].parent


def main(argv: list[str] | None = None) -> dict:
    t_start = time.perf_counter()
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--budget-s", type=float, default=480.0)
    ap.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    ap.add_argument("--data", type=Path, default=None, help="prepared QM9 folder or .tar.xz (default: the sample)")
    ap.add_argument("--batch-size", type=int, default=512, help="graphs per step on CUDA")
    ap.add_argument("--lr", type=float, default=None)
    ap.add_argument("--compile", action="store_true", help="torch.compile the denoiser (CUDA)")
    ap.add_argument("--num", type=int, default=None, help="molecules to evaluate (default 1000 on CUDA, 50 on CPU)")
    ap.add_argument("--resume-from", type=Path, default=None, help="a run's last.ckpt to continue from")
    ap.add_argument("overrides", nargs="*", help="config overrides key=value")
    args = ap.parse_args(argv)

    import torch

    from benchmarks.learning import evaluate
    from molgen.config import load_config
    from molgen.training.train import train

    args.out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="molgen_gpu_"))
    cuda = torch.cuda.is_available()
    data = _data(args.data, work)
    cfg = load_config(args.config, args.overrides)
    base_batch, base_lr = cfg.data.batch_size, cfg.optim.lr
    cfg.data.train, cfg.data.val = data / "train", None
    cfg.out_dir = work / "run"
    cfg.train.val_num_samples = 0
    cfg.train.checkpoint_every_n_steps = 1000
    cfg.trainer.log_every_n_steps = 50
    if cuda:
        cfg.trainer.accelerator, cfg.trainer.devices, cfg.trainer.precision = "gpu", 1, "bf16-mixed"
        cfg.data.batch_size = args.batch_size
        cfg.optim.lr = args.lr or base_lr * math.sqrt(args.batch_size / base_batch)
        cfg.train.compile = args.compile
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    else:
        cfg.trainer.accelerator, cfg.trainer.devices = "cpu", 1
        if args.lr:
            cfg.optim.lr = args.lr
    reserve = min(120.0, max(20.0, 0.25 * args.budget_s))
    train_s = args.budget_s - reserve - (time.perf_counter() - t_start)
    if train_s <= 5:
        raise SystemExit(f"budget {args.budget_s:.0f} s leaves no time to train (reserve {reserve:.0f} s)")
    cfg.train.max_time_s = train_s
    cfg.train.max_steps = 10**8
    if args.resume_from:
        (cfg.out_dir / "checkpoints").mkdir(parents=True, exist_ok=True)
        shutil.copy(args.resume_from, cfg.out_dir / "checkpoints" / "last.ckpt")
    t0 = time.perf_counter()
    run = train(cfg, resume=args.resume_from is not None)
    wall = time.perf_counter() - t0
    ckpt = torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    steps = int(ckpt["global_step"])
    model = args.out / "model.ckpt"
    shutil.copy(run / "model.ckpt", model)
    for log in run.glob("logs/metrics*.csv"):
        shutil.copy(log, args.out / "metrics.csv")
    num = args.num or (1000 if cuda else 50)
    quality = evaluate(model, num, 20, 500 if cuda else 50, data / "train_smiles.txt"
                       if (data / "train_smiles.txt").is_file() else None, work)
    result = {
        "device": torch.cuda.get_device_name(0) if cuda else platform.processor() or platform.machine(),
        "cuda": cuda, "torch": torch.__version__, "config": str(args.config), "overrides": args.overrides,
        "batch_size": cfg.data.batch_size, "lr": cfg.optim.lr, "precision": cfg.trainer.precision,
        "compile": bool(cfg.train.compile), "data": str(args.data) if args.data else "committed QM9 sample",
        "budget_s": args.budget_s, "train_wall_s": round(wall, 1), "steps": steps,
        "steps_per_s": round(steps / wall, 3), "molecules_per_s": round(steps * cfg.data.batch_size / wall, 1),
        "quality": quality, "total_wall_s": round(time.perf_counter() - t_start, 1),
        "model_file": str(model),
    }
    (args.out / "gpu_train.json").write_text(json.dumps(result, indent=2) + "\n")
    if cuda:  # to continue the run elsewhere (--resume-from)
        shutil.copy(run / "checkpoints" / "last.ckpt", args.out / "last.ckpt")
    print(json.dumps({k: result[k] for k in ("device", "steps", "steps_per_s", "total_wall_s")}))
    shutil.rmtree(work, ignore_errors=True)
    return result


if __name__ == "__main__":
    main()
