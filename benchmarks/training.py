"""Training throughput: molecules/s of full training steps (forward, loss, backward, optimiser, EMA).

    python -m benchmarks.training --config configs/qm9_flow.yaml --data runs/data/qm9/train --out train.json

Runs the LightningModule's own loss on real batches from a prepared cache, outside the Trainer, so
the figure is the model + process cost (no logging or checkpointing).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import time
from pathlib import Path

import torch


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", type=Path, default=Path(__file__).resolve().parents[1] / "configs" / "qm9_flow.yaml")
    ap.add_argument("--data", type=Path, required=True, help="prepared training cache (e.g. runs/data/qm9/train)")
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--subnormal-rbf", action="store_true", help="keep the subnormal floats of the distance "
                    "basis (the behaviour before molgen.models.layers.RBF_ZERO_EXPONENT), for a side-by-side ratio")
    ap.add_argument("overrides", nargs="*", help="config overrides key=value")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)

    from molgen.config import config_to_dict, load_config
    from molgen.data.datamodule import MoleculeDataModule
    from molgen.training.module import MolgenModule

    torch.set_num_threads(args.threads)
    if args.subnormal_rbf:
        import molgen.models.layers as layers

        layers.RBF_ZERO_EXPONENT = float("inf")
    cfg = load_config(args.config, [f"data.train={args.data.resolve()}", *args.overrides])
    dm = MoleculeDataModule(cfg.data.train, None, cfg.data.batch_size, cfg.data.max_atoms, seed=cfg.seed)
    module = MolgenModule(config_to_dict(cfg), dm.stats, dm.vocab.to_dict()).to(args.device)
    opt = torch.optim.AdamW(module.model.parameters(), lr=cfg.optim.lr)
    batches = iter(dm.train_dataloader())
    times, graphs = [], []
    for i in range(args.warmup + args.steps):
        batch = next(batches).to(args.device)
        t0 = time.perf_counter()
        loss = module._losses(batch, module.model)["loss"]
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        if module.ema is not None:
            module.ema.update_parameters(module.model)
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        if i >= args.warmup:
            times.append(time.perf_counter() - t0)
            graphs.append(int(batch.num_graphs))
    result = {
        "config": str(args.config), "overrides": args.overrides, "device": args.device, "threads": args.threads,
        "subnormal_rbf": args.subnormal_rbf,
        "params": sum(p.numel() for p in module.model.parameters()),
        "batch_graphs": cfg.data.batch_size, "steps": args.steps,
        "seconds_per_step_median": round(statistics.median(times), 4),
        "molecules_per_s": round(sum(graphs) / sum(times), 2),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "load_average_1min": round(os.getloadavg()[0], 2),
        "cpu_count": os.cpu_count(),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
